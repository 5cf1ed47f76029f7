// Helpers shared by mqtool's subcommands: output encodings (escaped text,
// base64, JSON strings), strict number parsing, command-line parsing on
// Boost.Program_options, turning an mq::Status into a ToolError, writing to
// stdout that stops quietly on a closed pipe, and progress on stderr that
// shows only when stderr is a terminal.
//
// Everything here either returns a value or throws UsageError/ToolError
// (command.h): the tool is the one place exceptions are allowed.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "command.h"
#include "mq/status.h"

namespace mqtool {

// ---- Encodings --------------------------------------------------------------

// A payload as one printable line: bytes 0x20..0x7e stay as they are except
// '\\'; \n, \r, \t and '\\' become \n, \r, \t and \\; every other byte becomes
// \xHH (lowercase hex). The result never contains a newline, and
// UnescapePayload(EscapePayload(p)) == p.
std::string EscapePayload(std::string_view payload);
// The inverse of EscapePayload (also accepts \0 and \"). Throws UsageError
// naming the position of a malformed escape.
std::string UnescapePayload(std::string_view text);

// Standard base64 (RFC 4648, with '=' padding, no line breaks).
std::string Base64Encode(std::string_view bytes);
// Decodes standard base64 (padding required, no whitespace). Returns false on
// any malformed input and leaves *out unspecified.
bool Base64Decode(std::string_view text, std::string* out);

// A JSON string literal, quotes included: '"' and '\\' escaped, control
// characters as \n, \t, \r, \b, \f or \u00XX. Bytes >= 0x80 are copied as they
// are (callers pass UTF-8 text such as paths; payloads go through base64).
std::string JsonString(std::string_view s);

// ---- Numbers ---------------------------------------------------------------

// Parses a sequence number strictly: decimal digits only (no sign, no spaces,
// no suffix), 1..2^64-1. `option` names it in the UsageError, e.g.
// "--from: '12x' is not a sequence number (expected 1 to 18446744073709551615)".
uint64_t ParseSeq(std::string_view text, std::string_view option);
// Parses an unsigned decimal strictly, 0..max. Throws UsageError naming `option`.
uint64_t ParseUnsigned(std::string_view text, std::string_view option, uint64_t max = UINT64_MAX);

// ---- Command line ----------------------------------------------------------

namespace po = boost::program_options;

// Parses args against `options`, taking the positional arguments named in
// `positional` (each once, in order; e.g. {"queue"}). Boost's errors (unknown
// option, missing value, too many arguments) become a UsageError. Returns
// false without notifying when --help was given, after printing
// "usage: mqtool <usage>\n<summary>\n\n<options>" to stdout; the caller then
// returns kExitOk. `options` should include a "help" switch (AddHelp does it).
bool ParseArgs(const std::vector<std::string>& args, const po::options_description& options,
               const std::vector<std::string>& positional, const std::string& usage,
               const std::string& summary, po::variables_map* vm);
// Adds "help,h" to an options description.
void AddHelp(po::options_description* options);
// The value of a required positional/option: UsageError "missing QUEUE" if absent.
std::string Required(const po::variables_map& vm, const std::string& name, const std::string& shown);

// ---- Errors ----------------------------------------------------------------

// A ToolError for a failed Status. Store messages already start with the
// file's path; when this one does not, "<file>: " is put in front. `what_to_do`
// (if given) is appended as a sentence. main prints "mqtool: " before it.
ToolError StatusError(const mq::Status& s, const std::string& file, std::string_view what_to_do = {});
// Throws StatusError(s, file, what_to_do) unless s is OK.
void ThrowIfError(const mq::Status& s, const std::string& file, std::string_view what_to_do = {});

// ---- Output ----------------------------------------------------------------

// Buffered writes to stdout (or any FILE*) that notice a closed pipe: once a
// write fails with EPIPE, closed() turns true, every later Write is dropped,
// and the command should stop and return kExitOk (docs/mqtool.md: "a reader
// that stops reading is not an error"). Any other write error (a full disk)
// throws ToolError naming the output.
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

// ---- Progress --------------------------------------------------------------

// "\r<label>: 42% (420 MB of 1000 MB)" on stderr, at most ten times a second,
// only when stderr is a terminal; Done() clears the line. Silent in pipes and
// files, so scripts and tests see nothing.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  ~Progress();
  void Update(uint64_t done);
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
