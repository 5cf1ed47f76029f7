#include "references.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "bench_util.h"
#include "format/log_format.h"
#include "sqlite_queue.h"

namespace mq::bench {

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void DiskFdatasyncSmall(benchmark::State& state) {
  ScratchDir dir;
  int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    FailedErrno(state, "open");
    return;
  }
  std::string rec(64 + log::kFramedOverhead, 'x');
  for (auto _ : state) {
    if (!WriteAll(fd, rec.data(), rec.size()) || ::fdatasync(fd) != 0) {
      FailedErrno(state, "write+fdatasync");
      break;
    }
  }
  ::close(fd);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 64));
}

void DiskFdatasyncLatency(benchmark::State& state) {
  ScratchDir dir;
  int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    FailedErrno(state, "open");
    return;
  }
  std::string rec(64 + log::kFramedOverhead, 'x');
  std::vector<double> lat;
  for (auto _ : state) {
    const auto a = std::chrono::steady_clock::now();
    if (!WriteAll(fd, rec.data(), rec.size()) || ::fdatasync(fd) != 0) {
      FailedErrno(state, "write+fdatasync");
      break;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    state.SetIterationTime(s);
    lat.push_back(s);
  }
  ::close(fd);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (lat.empty()) return;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[static_cast<size_t>(p * static_cast<double>(lat.size() - 1))] * 1e6; };
  state.counters["p50_us"] = Value(pct(0.5));
  state.counters["p99_us"] = Value(pct(0.99));
}

void SqliteAppend(benchmark::State& state, size_t size, size_t batch, int sync) {
  ScratchDir dir;
  SqliteQueue q;
  SqliteSync ss = sync == 0 ? SqliteSync::kOff : sync == 2 ? SqliteSync::kFull : SqliteSync::kNormal;
  std::string e = q.Open(dir.File("q.db"), ss);
  if (!e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  constexpr size_t kPool = 4096;
  std::vector<std::string> keys, payloads;
  std::vector<std::string_view> kv, pv;
  for (size_t i = 0; i < kPool; ++i) {
    keys.push_back(TagKey(i, 1024));
    payloads.push_back(MakePayload(size, keys.back(), i));
  }
  kv.assign(keys.begin(), keys.end());
  pv.assign(payloads.begin(), payloads.end());
  size_t i = 0;
  int64_t seq = 0;
  for (auto _ : state) {
    if (batch == 1) {
      e = q.Append(kv[i], pv[i], &seq);
      i = (i + 1) % kPool;
    } else {
      if (i + batch > kPool) i = 0;
      e = q.AppendBatch(std::span<const std::string_view>(kv.data() + i, batch),
                        std::span<const std::string_view>(pv.data() + i, batch));
      i += batch;
    }
    if (!e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
  }
  const int64_t msgs = static_cast<int64_t>(state.iterations() * batch);
  state.SetItemsProcessed(msgs);
  state.SetBytesProcessed(msgs * static_cast<int64_t>(size));
}

}  // namespace mq::bench
