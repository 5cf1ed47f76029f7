// Writing to stdout (or any FILE*) so that a reader that stops reading ends
// the command quietly, and any other write error is an error.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace mqtool {

// Buffered writes to stdout (or any FILE*) that notice a closed pipe: once a
// write fails with EPIPE, closed() turns true, every later Write is dropped,
// and the command should stop and return kExitOk (docs/mqtool.md: "a reader
// that stops reading is not an error"). Any other write error (a full disk)
// throws ToolError naming the output, and so does the first write to stdout
// when the process started with fd 1 closed (StdoutWasClosed).
class Output {
 public:
  explicit Output(std::FILE* f = stdout, std::string name = "standard output")
      : f_(f), name_(std::move(name)) {}
  // Returns false (and writes nothing) once the reader has gone away.
  bool Write(std::string_view bytes);
  bool Line(std::string_view line);  // line + '\n'
  // Flushes; returns false if the reader has gone away.
  bool Flush();
  bool closed() const { return closed_; }

 private:
  void Failed(int err);
  std::FILE* f_;
  std::string name_;
  bool closed_ = false;
};

}  // namespace mqtool
