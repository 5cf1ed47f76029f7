// Reference benchmarks shared by several bench binaries, so each scenario's
// figure and its references run side by side in one binary.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>

namespace mq::bench {

// write() of a 64-byte message's 92 framed bytes, then fdatasync: the cost of
// one durable append on this disk.
void DiskFdatasyncSmall(benchmark::State& state);

// The same, timed one call at a time (register with UseManualTime): counters
// p50_us and p99_us give the distribution, for latency targets stated in
// fdatasync medians.
void DiskFdatasyncLatency(benchmark::State& state);

// SQLite as a queue (sqlite_queue.h): one INSERT transaction per call of
// `batch` messages. sync: 0 synchronous=OFF, 1 NORMAL, 2 FULL.
void SqliteAppend(benchmark::State& state, size_t size, size_t batch, int sync);

// write(2) of all n bytes (retrying short writes).
bool WriteAll(int fd, const char* p, size_t n);

}  // namespace mq::bench
