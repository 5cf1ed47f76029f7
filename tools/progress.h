// Progress of a long scan on stderr, shown only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mqtool {

// The size of the file at `path`, or 0 if it cannot be read (for Progress).
uint64_t FileSizeOrZero(const std::string& path);

// "\r<label>: 42% (420 MB of 1000 MB)" on stderr, at most ten times a second,
// only when stderr is a terminal; Done() clears the line. Silent in pipes and
// files, so scripts and tests see nothing.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  ~Progress();
  void Update(uint64_t done);
  // "\r<label>: <text>" for work whose progress cannot be counted.
  void Show(std::string_view text);
  void Done();
  bool enabled() const { return enabled_; }

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace mqtool
