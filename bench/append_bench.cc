// Store appends side by side with the bare disk and SQLite (docs/benchmarks.md,
// "Appends"). Names read scenario/system/param=value/...; bench/report.py
// parses them.
//
//   append/mq/size=S/batch=B/sync=P/keyed=K   Store::Append (B=1) or AppendBatch of B
//   append/sqlite/size=S/batch=B/sync=P       one INSERT transaction per call
//   disk/write/size=S                          write() of the same framed bytes, 1 MiB buffers
//   disk/write+fdatasync/size=S                the same, 64 MiB then one fdatasync
//   disk/writev-pool/size=S/batch=B            pwritev of B of the append's own pool payloads, each after a
//                                              28-byte header (constant, no checksum): the bare write of the
//                                              same source memory in the same pieces as append/mq's batch
//                                              (bench/analysis.md, "Large messages at disk speed")
//   disk/fdatasync-small                       write() of a 64-byte message's 92 bytes + fdatasync
//
// Items are messages; bytes are payload bytes.
#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "format/log_format.h"
#include "mq/store.h"
#include "references.h"

namespace mq::bench {
namespace {

enum SyncArg { kNone = 0, kBatch1 = 1, kBatch10 = 2, kAlways = 3 };
const char* SyncName(int s) {
  switch (s) {
    case kNone: return "none";
    case kBatch1: return "batch1ms";
    case kBatch10: return "batch10ms";
    default: return "always";
  }
}

constexpr size_t kPool = 4096;  // distinct payloads cycled through
constexpr uint64_t kTags = 1024;

struct Pool {
  std::vector<std::string> payloads;
  std::vector<std::string> keys;
  std::vector<std::string_view> pv, kv;
  explicit Pool(size_t size) {
    for (size_t i = 0; i < kPool; ++i) {
      keys.push_back(TagKey(i, kTags));
      payloads.push_back(MakePayload(size, keys.back(), i));
    }
    for (size_t i = 0; i < kPool; ++i) {
      pv.push_back(payloads[i]);
      kv.push_back(keys[i]);
    }
  }
};

void StoreAppend(benchmark::State& state, size_t size, size_t batch, int sync, bool keyed) {
  ScratchDir dir;
  StoreOptions o;
  o.sync = sync == kAlways ? SyncPolicy::kAlways : sync == kNone ? SyncPolicy::kNone : SyncPolicy::kBatch;
  o.batch_interval = std::chrono::milliseconds(sync == kBatch1 ? 1 : 10);
  o.key = keyed ? KeyExtractor::UntilDelimiter(':') : KeyExtractor::None();
  o.auto_compact = false;
  std::unique_ptr<Store> store;
  if (Failed(state, Store::Open(dir.File("q"), o).MoveTo(&store))) return;
  Pool pool(size);
  size_t i = 0;
  uint64_t seq = 0;
  benchmark::IterationCount n = 0;
  for (auto _ : state) {
    Status s;
    if (batch == 1) {
      s = store->Append(pool.pv[i]).MoveTo(&seq);
      i = (i + 1) % kPool;
    } else {
      if (i + batch > kPool) i = 0;
      s = store->AppendBatch(std::span<const std::string_view>(pool.pv.data() + i, batch)).MoveTo(&seq);
      i += batch;
    }
    if (Failed(state, s)) break;
    // Stats() waits for the index write in flight: the timed run includes
    // the index work of every message handed to the index writer thread.
    if (++n == state.max_iterations) (void)store->Stats();
  }
  const int64_t msgs = static_cast<int64_t>(state.iterations() * batch);
  state.SetItemsProcessed(msgs);
  state.SetBytesProcessed(msgs * static_cast<int64_t>(size));
  state.counters["syncs"] = Value(static_cast<double>(store->Stats().syncs));
  (void)store->Close();
}

// A 1 MiB-ish buffer holding whole framed messages of `size` payload bytes.
std::string FramedBuffer(size_t size, size_t* msgs) {
  const size_t framed = size + log::kFramedOverhead;
  *msgs = std::max<size_t>(1, (1u << 20) / framed);
  return std::string(*msgs * framed, 'x');
}

void DiskWrite(benchmark::State& state, size_t size) {
  ScratchDir dir;
  int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    FailedErrno(state, "open");
    return;
  }
  size_t per = 0;
  std::string buf = FramedBuffer(size, &per);
  uint64_t written = 0;
  for (auto _ : state) {
    if (!WriteAll(fd, buf.data(), buf.size())) {
      FailedErrno(state, "write");
      break;
    }
    written += buf.size();
    if (written >= (4ull << 30)) {  // keep the scratch file bounded
      state.PauseTiming();
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) FailedErrno(state, "truncate");
      written = 0;
      state.ResumeTiming();
    }
  }
  ::close(fd);
  const int64_t msgs = static_cast<int64_t>(state.iterations() * per);
  state.SetItemsProcessed(msgs);
  state.SetBytesProcessed(msgs * static_cast<int64_t>(size));
}

// The bare pwritev of a batch of the pool's payloads, each after a header's
// worth of constant bytes, at the end of a growing file: what an append of
// the batch costs without the store (no checksum, no index, no bookkeeping),
// reading the same source memory as StoreAppend does.
void DiskWritevPool(benchmark::State& state, size_t size, size_t batch) {
  ScratchDir dir;
  int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    FailedErrno(state, "open");
    return;
  }
  Pool pool(size);
  const std::string header(log::kFramedOverhead, 'h');
  std::vector<iovec> iov;
  size_t i = 0;
  uint64_t off = 0;
  for (auto _ : state) {
    if (i + batch > kPool) i = 0;
    iov.clear();
    for (size_t k = 0; k < batch; ++k, ++i) {
      iov.push_back(iovec{const_cast<char*>(header.data()), header.size()});
      iov.push_back(iovec{const_cast<char*>(pool.payloads[i].data()), pool.payloads[i].size()});
    }
    size_t at = 0;
    while (at < iov.size()) {  // pwritev takes at most IOV_MAX pieces and may write fewer bytes
      const int cnt = static_cast<int>(std::min<size_t>(iov.size() - at, IOV_MAX));
      const ssize_t r = ::pwritev(fd, iov.data() + at, cnt, static_cast<off_t>(off));
      if (r <= 0) {
        FailedErrno(state, "pwritev");
        break;
      }
      off += static_cast<uint64_t>(r);
      size_t done = static_cast<size_t>(r);
      while (at < iov.size() && done >= iov[at].iov_len) done -= iov[at++].iov_len;
      if (at < iov.size()) {
        iov[at].iov_base = static_cast<char*>(iov[at].iov_base) + done;
        iov[at].iov_len -= done;
      }
    }
    if (off >= (4ull << 30)) {  // keep the scratch file bounded
      state.PauseTiming();
      if (::ftruncate(fd, 0) != 0) FailedErrno(state, "truncate");
      off = 0;
      state.ResumeTiming();
    }
  }
  ::close(fd);
  const int64_t msgs = static_cast<int64_t>(state.iterations() * batch);
  state.SetItemsProcessed(msgs);
  state.SetBytesProcessed(msgs * static_cast<int64_t>(size));
}

void DiskWriteSync(benchmark::State& state, size_t size) {
  ScratchDir dir;
  int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    FailedErrno(state, "open");
    return;
  }
  size_t per = 0;
  std::string buf = FramedBuffer(size, &per);
  const size_t rounds = (64u << 20) / buf.size();
  for (auto _ : state) {
    state.PauseTiming();
    if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) FailedErrno(state, "truncate");
    state.ResumeTiming();
    for (size_t r = 0; r < rounds; ++r)
      if (!WriteAll(fd, buf.data(), buf.size())) FailedErrno(state, "write");
    if (::fdatasync(fd) != 0) FailedErrno(state, "fdatasync");
  }
  ::close(fd);
  const int64_t msgs = static_cast<int64_t>(state.iterations() * rounds * per);
  state.SetItemsProcessed(msgs);
  state.SetBytesProcessed(msgs * static_cast<int64_t>(size));
}

void RegisterAll(const Flags& f) {
  const double min_time = f.MinTime(f.quick ? 0.1 : 0.5);
  std::vector<size_t> sizes = f.quick ? std::vector<size_t>{64} : std::vector<size_t>{16, 64, 1024, 16384};
  std::vector<int> syncs = f.quick ? std::vector<int>{kNone, kBatch10, kAlways}
                                   : std::vector<int>{kNone, kBatch1, kBatch10, kAlways};
  std::vector<size_t> batches{1, 256};
  auto reg = [&](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->MinTime(min_time)->Unit(benchmark::kMicrosecond);
  };
  reg("disk/fdatasync-small", [](benchmark::State& st) { DiskFdatasyncSmall(st); });
  for (size_t size : sizes) {
    std::string sz = "/size=" + std::to_string(size);
    reg("disk/write" + sz, [size](benchmark::State& st) { DiskWrite(st, size); });
    reg("disk/write+fdatasync" + sz, [size](benchmark::State& st) { DiskWriteSync(st, size); });
    if (size >= 1024)
      reg("disk/writev-pool" + sz + "/batch=256", [size](benchmark::State& st) { DiskWritevPool(st, size, 256); });
    for (size_t batch : batches) {
      for (int sync : syncs) {
        std::string tail = sz + "/batch=" + std::to_string(batch) + "/sync=" + SyncName(sync);
        reg("append/mq" + tail + "/keyed=1",
            [=](benchmark::State& st) { StoreAppend(st, size, batch, sync, true); });
        if (sync == kBatch1) continue;  // SQLite has no batch interval: NORMAL stands for batch
        reg("append/sqlite" + tail, [=](benchmark::State& st) {
          SqliteAppend(st, size, batch, sync == kNone ? 0 : sync == kAlways ? 2 : 1);
        });
      }
      if (size == 64)
        reg("append/mq" + sz + "/batch=" + std::to_string(batch) + "/sync=none/keyed=0",
            [=](benchmark::State& st) { StoreAppend(st, size, batch, kNone, false); });
    }
  }
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
