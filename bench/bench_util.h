// Helpers shared by the mq benchmarks: scratch directories on the disk under
// test, deterministic payloads, error handling inside a benchmark, and the
// --mq_quick flag that bench/run passes for its short mode.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mq/status.h"

namespace mq::bench {

// A fresh directory under $MQ_BENCH_DIR (bench/run points it into its build
// directory, on the disk being measured), else $TMPDIR, else /tmp. Removed
// with its contents on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Removes a file if it exists (no error if it does not).
void RemoveFile(const std::string& path);
// Copies a file byte for byte and fdatasyncs the copy (used to restore a
// prepared log between runs).
bool CopyFile(const std::string& from, const std::string& to);
uint64_t FileSize(const std::string& path);

// A payload of exactly `size` bytes that starts with `key` followed by ':'
// (cut if size is smaller) and continues with bytes derived from `salt`.
std::string MakePayload(size_t size, std::string_view key, uint64_t salt);

// "k0042" style keys: the tag of message i among `distinct` tags.
std::string TagKey(uint64_t i, uint64_t distinct);

// Marks the benchmark failed with the status text. Returns true if s is not OK,
// so callers write: if (Failed(state, s)) return;
bool Failed(benchmark::State& state, const mq::Status& s);
bool FailedErrno(benchmark::State& state, const std::string& what);

// Flags of our own, removed from argv before Google Benchmark sees it.
struct Flags {
  bool quick = false;     // --mq_quick: smaller sizes and backlogs
  double min_time = 0;    // --mq_min_time=S: overrides the benchmarks' own minimum time (for profiling)
  double MinTime(double dflt) const { return min_time > 0 ? min_time : dflt; }
};
Flags ParseFlags(int* argc, char** argv);

// Standard main for each bench binary: parse our flags, let `register_all`
// register the benchmarks, then run them.
int RunMain(int argc, char** argv, void (*register_all)(const Flags&));

// A counter reported as a plain number (not a rate) in the JSON output.
inline benchmark::Counter Value(double v) { return benchmark::Counter(v); }

}  // namespace mq::bench
