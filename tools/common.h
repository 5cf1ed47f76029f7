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
#include "mq/inspect.h"
#include "mq/pattern.h"
#include "mq/status.h"
#include "mq/store.h"

namespace mqtool {

// ---- Encodings --------------------------------------------------------------

// A payload as one printable line: bytes 0x20..0x7e stay as they are except
// '\\'; \n, \r, \t and '\\' become \n, \r, \t and \\; every other byte becomes
// \xHH (lowercase hex). The result never contains a newline, and
// UnescapePayload(EscapePayload(p)) == p.
std::string EscapePayload(std::string_view payload);
// The inverse of EscapePayload (also accepts \0 and \"). Throws UsageError
// naming `what` (e.g. "--key", "--match", "payload") and the position of a
// malformed escape. The one escape grammar of mqtool: dump's text output,
// --key, --match and send --escaped all use it.
std::string UnescapePayload(std::string_view text, std::string_view what = "payload");
// "1 message", "2 messages": `n` and `noun` with an 's' unless n == 1.
std::string Plural(uint64_t n, std::string_view noun);

// Standard base64 (RFC 4648, with '=' padding, no line breaks).
std::string Base64Encode(std::string_view bytes);
// Decodes standard base64 (padding required, no whitespace). Returns false on
// any malformed input and leaves *out unspecified.
bool Base64Decode(std::string_view text, std::string* out);

// A JSON string literal, quotes included: '"' and '\\' escaped, control
// characters as \n, \t, \r, \b, \f or \u00XX. Bytes >= 0x80 are copied as they
// are (callers pass UTF-8 text such as paths; payloads go through base64).
std::string JsonString(std::string_view s);

// A --match expression: any, key:K or prefix:P, where K and P use the escapes
// of UnescapePayload (the ones dump's text output writes, \r included).
// Throws UsageError naming --match.
mq::Pattern ParseMatch(std::string_view expr);

// One record of a queue as dump and replay --to - print it (no newline):
// text:  seq=N offset=N state=pending|consumed size=N payload=ESCAPED
// jsonl: {"seq":N,"offset":N,"state":"pending","size":N,"payload_b64":"..."}
std::string RecordText(const mq::LogMessage& r);
std::string RecordJson(const mq::LogMessage& r);

// ---- Numbers ---------------------------------------------------------------

// Parses a sequence number strictly: decimal digits only (no sign, no spaces,
// no suffix), 1..2^64-1. `option` names it in the UsageError, e.g.
// "--from: '12x' is not a sequence number (expected 1 to 18446744073709551615)".
uint64_t ParseSeq(std::string_view text, std::string_view option);
// Parses an unsigned decimal strictly, 0..max. Throws UsageError naming `option`.
uint64_t ParseUnsigned(std::string_view text, std::string_view option, uint64_t max = UINT64_MAX);
// Parses seconds with up to millisecond precision ("5", "0.25"), at most a year.
std::chrono::milliseconds ParseSeconds(const std::string& text, const char* option);

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
// The value of a required positional/option: UsageError "missing QUEUE" if
// absent, "empty QUEUE" if given as "".
std::string Required(const po::variables_map& vm, const std::string& name, const std::string& shown);

// ---- Errors ----------------------------------------------------------------

// A ToolError for a failed Status. Store messages already start with the
// file's path; when this one does not, "<file>: " is put in front. `what_to_do`
// (if given) is appended as a sentence. main prints "mqtool: " before it.
ToolError StatusError(const mq::Status& s, const std::string& file, std::string_view what_to_do = {});
// Throws StatusError(s, file, what_to_do) unless s is OK.
void ThrowIfError(const mq::Status& s, const std::string& file, std::string_view what_to_do = {});

// ---- Queues ----------------------------------------------------------------

// How a writing command (recover, compact) waits for a queue's writer lock.
struct WaitOptions {
  bool wait = false;    // --wait: retry while another process holds the queue
  double timeout = 0;   // --timeout SECONDS with --wait; 0 waits for ever
};
// Adds --wait and --timeout to an options description.
void AddWaitOptions(po::options_description* options);
WaitOptions GetWaitOptions(const po::variables_map& vm);

// Reads the file header and the first message of the log at `path` without
// writing or locking anything, so a writing command can refuse bad input
// (missing, a directory, unreadable, not a log, a future format version, a
// damaged header) before it opens the queue for writing. Throws StatusError.
mq::LogSummary Preflight(const std::string& path);

// Throws at once "<path>: queue in use by pid N ..." (exit 3) if another
// process holds the queue's writer lock and --wait was not given, so a
// writing command fails before doing any work.
void FailIfBusy(const std::string& path, const WaitOptions& wait);

// One line per damaged region of a scanned log, for refusals:
// "<path>: offset N: torn tail of B bytes (reason)" or
// "<path>: offset N: B damaged bytes (reason); intact messages follow at offset M".
std::string DescribeDamage(const std::string& path, const mq::LogDamage& d);

// The key extractor recorded in the queue's index, or none (no index, an
// unreadable one, or none recorded). Writing commands open the queue with it
// so that they keep the key index instead of rebuilding it without keys.
mq::KeyExtractor RecordedKeyExtractor(const std::string& path);

// Opens `path` for writing with `options` (create_if_missing is forced off).
// If another process holds the queue: without --wait throws at once
// "<path>: queue in use by pid N ..." (exit 3); with --wait retries every
// 100 ms until the lock frees or the timeout passes. Other failures throw
// StatusError.
std::unique_ptr<mq::Store> OpenForWriting(const std::string& path, mq::StoreOptions options,
                                          const WaitOptions& wait);

// ---- Standard descriptors --------------------------------------------------

// Called first in main: makes fds 0, 1 and 2 valid (mq/std_fds.h) and
// remembers which were closed. Throws ToolError if /dev/null cannot be opened.
void SetUpStandardFds();
// True if the process started with fd 1 (or fd 0) closed. fd 1 then points at
// /dev/null, and writing "to standard output" would lose the data: an Output
// on stdout refuses its first write (exit 3), and recv refuses before it
// receives anything.
bool StdoutWasClosed();
bool StdinWasClosed();
// Throws ToolError "standard output is closed ...; <what_happens>" if
// StdoutWasClosed().
void FailIfStdoutClosed(std::string_view what_happens);

// ---- Output ----------------------------------------------------------------

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

// ---- Progress --------------------------------------------------------------

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
