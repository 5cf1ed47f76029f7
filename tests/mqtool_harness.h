// Runs the real mqtool binary (MQTOOL_PATH, set by tests/CMakeLists.txt) and
// builds small known queues for its tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mq::test {

struct ToolRun {
  int exit_code = -1;  // -1 if it did not exit normally (a signal: see signal)
  int signal = 0;
  std::string out, err;
};

struct RunOptions {
  uid_t as_user = 0;          // nonzero: setgid/setuid to this id in the child before exec
  size_t close_stdout_after = 0;  // nonzero: close the read end of stdout after this many bytes
  std::string cwd;            // run in this directory
  // Standard descriptors of the child, for the closed-fd tests: each of
  // these closes that fd before exec (out/err are then not captured).
  bool close_stdin = false, close_stdout = false, close_stderr = false;
  std::string stdout_path;    // nonempty: fd 1 is this file opened for writing (e.g. /dev/full)
  int stdin_fd = -1;          // >= 0: fd 0 is a dup of this fd
  int stdout_fd = -1;         // >= 0: fd 1 is a dup of this fd (e.g. a pipe whose reader closed)
};

// Runs `mqtool args...`, stdin from /dev/null, and waits for it (at most 30 s,
// then it is killed and the test fails).
ToolRun RunTool(const std::vector<std::string>& args, const RunOptions& options = {});

// A queue in the current format: appends `payloads` (seqs 1..n), consumes
// `consumed`, closes cleanly. `key` is a key extractor spec ("none" if empty).
void MakeQueue(const std::string& path, const std::vector<std::string>& payloads,
               const std::vector<uint64_t>& consumed = {}, const std::string& key = "");

// The bytes of a queue file written by the original design: bare records
// [int32 used][int32 size][payload], used 1 for consumed.
std::string LegacyBytes(const std::vector<std::pair<bool, std::string>>& records);

// Every regular file in `dir` with its size and a hash of its bytes (short
// enough to print when a comparison fails), except lock files (*.lock and
// LMDB's *-lock, whose bytes readers may touch).
std::map<std::string, std::string> Snapshot(const std::string& dir);

// `text` with every occurrence of `from` replaced by `to` (to put a
// placeholder where a temporary path appears in output).
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to);

}  // namespace mq::test
