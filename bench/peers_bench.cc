// mq against Redis Streams, the local durable queue users reach for instead
// (issue 21; docs/benchmarks.md, "Peers: Redis Streams"). The same workloads,
// in one run, each Redis figure from a redis-server of its own (a Unix socket
// in a scratch directory, AOF on, appendfsync matched to mq's sync policy:
// always <-> sync=always, everysec <-> sync=batch (10 ms), no <-> sync=none).
//
//   peer-confirmed/SYSTEM/size=S/depth=D   8 sender processes for a few seconds, D messages in flight each,
//                                          each answered once durable (mq: sync=always; D=1 SendConfirmed,
//                                          else SendAsyncBatch of what the window D has room for, packed
//                                          into one datagram once the mailbox offers packs; mq-unpacked:
//                                          the same with ConfirmedSenderOptions::pack off, one datagram a
//                                          message; redis: appendfsync always, XADD pipelined D deep). Rate
//                                          of answers; p50/p99 latency from send to answer (measured by the
//                                          senders)
//   peer-producer/SYSTEM/size=S/sync=P     one producer process for a few seconds, durable as sync=P
//                                          promises (mq: Sender::Send, one sendto a message, counted until
//                                          the mailbox has stored all; mq-batch: Sender::SendBatch, up to 64
//                                          messages a sendmmsg; redis: XADD pipelined 64 deep, counted until
//                                          the last reply)
//   peer-consumer/SYSTEM/size=S/sync=P     draining n messages from a filled queue (mq: Mailbox::Receive of
//                                          any message, which consumes it; mq-ackbatch: Mailbox::Take of
//                                          up to 64, then Mailbox::AckBatch of them, one sync under
//                                          sync=always; redis: XREADGROUP COUNT 64 and
//                                          XACK of what was read, sent with the next XREADGROUP); one run
//                                          each (the fill of 10^6 takes longer than the drain)
//
// Every figure carries the load average at its end (counter load1): other
// work on the machine moves these figures, so compare ratios within a run.
// Without redis-server or hiredis the Redis rows are skipped with the reason.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "forked_child.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "mq/store.h"
#include "redis_peer.h"

namespace mq::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t Ns(Clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }

double Load1() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  f >> l;
  return l;
}

// A child's result file: "ERR why", or its elapsed ns, its message count and
// then its latencies (ns), one a line.
void WriteResult(const std::string& out, const std::string& err, int64_t elapsed, uint64_t count,
                 const std::vector<int64_t>& lat) {
  std::ofstream f(out);
  if (!err.empty()) {
    f << "ERR " << err << "\n";
  } else {
    f << elapsed << "\n" << count << "\n";
    for (int64_t l : lat) f << l << "\n";
  }
  f.close();
  ::_exit(err.empty() && f ? 0 : 2);
}

// Reads the children's files: the longest elapsed, the summed count, all the
// latencies. "" or the first child's error.
std::string ReadResults(const std::vector<std::string>& files, double* elapsed_s, uint64_t* count,
                        std::vector<int64_t>* lat) {
  *elapsed_s = 0;
  *count = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream f(files[i]);
    std::string first;
    if (!std::getline(f, first)) return "child " + std::to_string(i) + " wrote nothing";
    if (first.rfind("ERR ", 0) == 0) return "child " + std::to_string(i) + ": " + first.substr(4);
    uint64_t c = 0;
    f >> c;
    *count += c;
    *elapsed_s = std::max(*elapsed_s, static_cast<double>(std::stoll(first)) / 1e9);
    int64_t l;
    while (f >> l) lat->push_back(l);
  }
  return "";
}

void Report(benchmark::State& state, double elapsed_s, uint64_t count, std::vector<int64_t>* lat) {
  state.SetIterationTime(elapsed_s);
  state.SetItemsProcessed(static_cast<int64_t>(count));
  if (!lat->empty()) {
    std::sort(lat->begin(), lat->end());
    auto pct = [&](double p) {
      return static_cast<double>((*lat)[static_cast<size_t>(p * static_cast<double>(lat->size() - 1))]) / 1e3;
    };
    state.counters["p50_us"] = Value(pct(0.50));
    state.counters["p99_us"] = Value(pct(0.99));
  }
  state.counters["n"] = Value(static_cast<double>(count));
  state.counters["load1"] = Value(Load1());
}

bool SkipRedis(benchmark::State& state) {
  const std::string why = RedisMissing();
  if (why.empty()) return false;
  state.SkipWithError(("Redis not measured: " + why).c_str());
  return true;
}

const char* RedisFsync(SyncPolicy p) {
  return p == SyncPolicy::kAlways ? "always" : p == SyncPolicy::kBatch ? "everysec" : "no";
}

MailboxOptions MailboxAt(const ScratchDir& dir, SyncPolicy sync, bool socket) {
  MailboxOptions o;
  if (socket) o.socket_path = dir.File("s");
  o.queue_path = dir.File("q");
  o.store.sync = sync;
  o.store.batch_interval = std::chrono::milliseconds(10);
  return o;
}

// ---- confirmed sends: 8 senders, `depth` in flight each, fsync before the answer ----

void MqSenderBody(const std::string& path, const std::string& out, const std::string& payload, double seconds,
                  size_t depth, bool pack) {
  ConfirmedSenderOptions co;
  co.connect_retry = std::chrono::milliseconds(5000);
  co.window = depth;
  co.pack = pack;
  const std::vector<std::string_view> views(depth, std::string_view(payload));
  std::unique_ptr<ConfirmedSender> cs;
  std::vector<int64_t> lat;
  lat.reserve(1 << 20);
  auto fail = [&](const std::string& what, const Status& st) { WriteResult(out, what + ": " + st.ToString(), 0, 0, lat); };
  if (Status st = ConfirmedSender::Open(path, co).MoveTo(&cs); !st.ok()) fail("open", st);
  std::vector<Clock::time_point> sent;
  sent.reserve(1 << 20);
  std::vector<Confirmation> confs;
  auto record = [&](Clock::time_point now) {
    for (const Confirmation& c : confs) {
      if (!c.status.ok()) fail("confirmation " + std::to_string(c.ticket), c.status);
      lat.push_back(Ns(now - sent[c.ticket]));
    }
    confs.clear();
  };
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  auto now = t0;
  while (now < end) {
    const auto a = Clock::now();
    if (depth == 1) {
      uint64_t seq = 0;
      if (Status st = cs->SendConfirmed(payload, std::chrono::milliseconds(10000)).MoveTo(&seq); !st.ok())
        fail("SendConfirmed", st);
      now = Clock::now();
      lat.push_back(Ns(now - a));
    } else {
      // As many as the window has room for, in one call (Redis's client
      // likewise writes the commands queued since its last read in one
      // write): packed into one datagram once the mailbox offers packs.
      const size_t room = std::max<size_t>(1, depth - std::min(depth, cs->in_flight()));
      uint64_t first = 0;
      size_t n = 0;
      if (Status st = cs->SendAsyncBatch(std::span(views.data(), room), &n).MoveTo(&first); !st.ok())
        fail("SendAsyncBatch", st);
      if (sent.size() < first + n) sent.resize(first + n);
      for (size_t i = 0; i < n; ++i) sent[first + i] = a;
      (void)cs->Collect(std::chrono::milliseconds(0), &confs);
      now = Clock::now();
      record(now);
    }
  }
  if (depth > 1) {
    if (Status st = cs->Flush(&confs); !st.ok()) fail("Flush", st);
    now = Clock::now();
    record(now);
  }
  WriteResult(out, "", Ns(now - t0), lat.size(), lat);
}

void Confirmed(benchmark::State& state, bool redis, bool pack, size_t size, size_t depth, int senders,
               double seconds) {
  if (redis && SkipRedis(state)) return;
  for (auto _ : state) {
    ScratchDir dir;
    std::unique_ptr<RedisServer> server;
    if (redis) {
      if (std::string e = RedisServer::Start(dir.path(), "always", &server); !e.empty()) {
        state.SkipWithError(e.c_str());
        break;
      }
    }
    const std::string target = redis ? server->socket_path() : dir.File("s");
    std::vector<std::unique_ptr<ForkedChild>> kids;
    std::vector<std::string> files;
    for (int i = 0; i < senders; ++i) {
      files.push_back(dir.File("lat." + std::to_string(i)));
      const std::string out = files.back();
      const std::string payload = MakePayload(size, TagKey(static_cast<uint64_t>(i), 1000), static_cast<uint64_t>(i));
      kids.push_back(std::make_unique<ForkedChild>([=] {
        if (redis) {
          std::vector<int64_t> lat;
          lat.reserve(1 << 20);
          int64_t elapsed = 0;
          const std::string e = RedisXaddFor(target, payload, depth, seconds, &lat, &elapsed);
          WriteResult(out, e, elapsed, lat.size(), lat);
        }
        MqSenderBody(target, out, payload, seconds, depth, pack);
      }));
    }
    std::unique_ptr<Mailbox> mb;
    if (!redis && Failed(state, Mailbox::Open(MailboxAt(dir, SyncPolicy::kAlways, true)).MoveTo(&mb))) break;
    for (auto& k : kids) k->Go();
    for (auto& k : kids) k->Wait();
    if (mb) (void)mb->Close();
    double elapsed = 0;
    uint64_t count = 0;
    std::vector<int64_t> lat;
    if (std::string e = ReadResults(files, &elapsed, &count, &lat); !e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
    Report(state, elapsed, count, &lat);
  }
}

// ---- one producer, durable as the sync policy promises ----

void Producer(benchmark::State& state, const std::string& system, size_t size, SyncPolicy sync, double seconds) {
  const bool redis = system == "redis";
  if (redis && SkipRedis(state)) return;
  for (auto _ : state) {
    ScratchDir dir;
    std::unique_ptr<RedisServer> server;
    if (redis) {
      if (std::string e = RedisServer::Start(dir.path(), RedisFsync(sync), &server); !e.empty()) {
        state.SkipWithError(e.c_str());
        break;
      }
    }
    const std::string target = redis ? server->socket_path() : dir.File("s");
    const std::string out = dir.File("out");
    const std::string payload = MakePayload(size, "k0001", 1);
    const bool batch = system == "mq-batch";
    ForkedChild kid([=] {
      std::vector<int64_t> none;
      if (redis) {
        std::vector<int64_t> lat;
        lat.reserve(1 << 22);
        int64_t elapsed = 0;
        const std::string e = RedisXaddFor(target, payload, 64, seconds, &lat, &elapsed);
        WriteResult(out, e, elapsed, lat.size(), none);
      }
      SendOptions so;
      so.retry_for = std::chrono::milliseconds(10000);
      std::unique_ptr<Sender> s;
      if (Status st = Sender::Open(target, so).MoveTo(&s); !st.ok()) WriteResult(out, st.ToString(), 0, 0, none);
      const std::vector<std::string_view> views(64, std::string_view(payload));
      const auto t0 = Clock::now();
      const auto end = t0 + std::chrono::duration<double>(seconds);
      uint64_t n = 0;
      while (Clock::now() < end) {
        if (batch) {
          size_t sent = 0;
          if (Status st = s->SendBatch(views, &sent); !st.ok()) WriteResult(out, st.ToString(), 0, 0, none);
          n += sent;
        } else {
          for (int i = 0; i < 64; ++i)
            if (Status st = s->Send(payload); !st.ok()) WriteResult(out, st.ToString(), 0, 0, none);
          n += 64;
        }
      }
      WriteResult(out, "", Ns(Clock::now() - t0), n, none);
    });
    std::unique_ptr<Mailbox> mb;
    if (!redis && Failed(state, Mailbox::Open(MailboxAt(dir, sync, true)).MoveTo(&mb))) break;
    const auto t0 = Clock::now();
    kid.Go();
    kid.Wait();
    double elapsed = 0;
    uint64_t count = 0;
    std::vector<int64_t> lat;
    if (std::string e = ReadResults({out}, &elapsed, &count, &lat); !e.empty()) {
      state.SkipWithError(e.c_str());
      break;
    }
    if (mb) {  // counted until the mailbox has stored every message sent
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (mb->Stats().stored < count && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      const uint64_t stored = mb->Stats().stored;
      elapsed = static_cast<double>(Ns(Clock::now() - t0)) / 1e9;
      (void)mb->Close();
      if (stored != count) {
        state.SkipWithError(("stored " + std::to_string(stored) + " of " + std::to_string(count)).c_str());
        break;
      }
    }
    Report(state, elapsed, count, &lat);
  }
}

// ---- the consumer side: draining n messages ----

void Consumer(benchmark::State& state, bool redis, bool ack_batch, size_t size, SyncPolicy sync, uint64_t n) {
  if (redis && SkipRedis(state)) return;
  const std::string payload = MakePayload(size, "k0001", 1);
  for (auto _ : state) {
    ScratchDir dir;
    int64_t elapsed = 0;
    if (redis) {
      std::unique_ptr<RedisServer> server;
      std::string e = RedisServer::Start(dir.path(), RedisFsync(sync), &server);
      if (e.empty()) e = RedisFillStream(server->socket_path(), payload, n);
      if (e.empty()) e = RedisDrainGroup(server->socket_path(), n, size, 64, &elapsed);
      if (!e.empty()) {
        state.SkipWithError(e.c_str());
        break;
      }
    } else {
      {  // the backlog, appended straight to the store (not timed)
        StoreOptions so;
        so.sync = SyncPolicy::kNone;
        std::unique_ptr<Store> s;
        if (Failed(state, Store::Open(dir.File("q"), so).MoveTo(&s))) break;
        const std::vector<std::string_view> views(4096, std::string_view(payload));
        Status st;
        for (uint64_t done = 0; done < n && st.ok(); done += 4096)
          st = s->AppendBatch(std::span(views.data(), std::min<uint64_t>(4096, n - done))).status();
        if (st.ok()) st = s->Close();
        if (Failed(state, st)) break;
      }
      std::unique_ptr<Mailbox> mb;
      if (Failed(state, Mailbox::Open(MailboxAt(dir, sync, false)).MoveTo(&mb))) break;
      Message m;
      Status st;
      const auto t0 = Clock::now();
      std::vector<uint64_t> taken;
      for (uint64_t i = 0; i < n && st.ok();) {
        if (!ack_batch) {
          st = mb->Receive(Pattern::Any(), Mailbox::kPoll, &m);
          ++i;
        } else {  // as XREADGROUP COUNT 64 + XACK: take up to 64, acknowledge them with one sync
          taken.clear();
          while (taken.size() < 64 && i < n && st.ok()) {
            st = mb->Take(Pattern::Any(), Mailbox::kPoll, &m);
            if (st.ok()) taken.push_back(m.seq);
            ++i;
          }
          if (st.ok()) st = mb->AckBatch(taken);
        }
        if (st.ok() && m.payload.size() != size) st = Status::Corruption("a message of the wrong size");
      }
      if (st.ok()) st = mb->Close();  // the last consumes made durable as the policy promises
      elapsed = Ns(Clock::now() - t0);
      if (Failed(state, st)) break;
    }
    std::vector<int64_t> none;
    Report(state, static_cast<double>(elapsed) / 1e9, n, &none);
  }
}

void RegisterAll(const Flags& f) {
  benchmark::AddCustomContext("mq_redis_version", RedisVersion());
  benchmark::AddCustomContext("mq_hiredis_version", HiredisVersion());
  // How many datagrams a Unix socket holds queued (plus one): what one
  // sendmmsg can carry to the mailbox at most (docs/mailbox.md, "Batched sends").
  std::ifstream qlen("/proc/sys/net/unix/max_dgram_qlen");
  std::string q = "unknown";
  qlen >> q;
  benchmark::AddCustomContext("mq_unix_max_dgram_qlen", q);
  const std::vector<size_t> sizes = f.quick ? std::vector<size_t>{64} : std::vector<size_t>{64, 1024, 16384};
  const int reps = f.quick ? 1 : 3;
  const double secs = f.quick ? 1.0 : 2.0;
  auto reg = [&](const std::string& name, auto fn) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)
        ->UseManualTime()
        ->Iterations(1)
        ->Repetitions(reps)
        ->Unit(benchmark::kMillisecond);
  };
  const std::vector<std::pair<SyncPolicy, const char*>> syncs = {
      {SyncPolicy::kAlways, "always"}, {SyncPolicy::kBatch, "batch"}, {SyncPolicy::kNone, "none"}};
  for (size_t size : sizes) {
    const std::string s = "/size=" + std::to_string(size);
    for (size_t depth : {size_t{1}, size_t{8}, size_t{64}}) {
      const std::string d = "/depth=" + std::to_string(depth);
      for (const char* system : {"mq", "mq-unpacked", "redis"}) {
        if (depth == 1 && std::string(system) == "mq-unpacked") continue;  // depth 1 never packs
        const bool redis = std::string(system) == "redis", pack = std::string(system) == "mq";
        reg(std::string("peer-confirmed/") + system + s + d,
            [=](benchmark::State& st) { Confirmed(st, redis, pack, size, depth, 8, secs); });
      }
    }
    for (const auto& [sync, sname] : syncs)
      for (const char* system : {"mq", "mq-batch", "redis"})
        reg(std::string("peer-producer/") + system + s + "/sync=" + sname,
            [=, sync = sync](benchmark::State& st) { Producer(st, system, size, sync, secs); });
    // 10^6 messages of 64 B; fewer of the larger sizes (at most 512 MiB a
    // queue), and 5000 with sync=always, where mq's Receive syncs each consume
    // (some 400 a second on this disk): the rate is per message either way.
    const uint64_t most = std::min<uint64_t>(f.quick ? 100000 : 1000000, (uint64_t{512} << 20) / size);
    for (const auto& [sync, sname] : syncs) {
      const uint64_t n = sync == SyncPolicy::kAlways ? std::min<uint64_t>(most, f.quick ? 1000 : 5000) : most;
      for (const char* system : {"mq", "mq-ackbatch", "redis"}) {
        const bool redis = std::string(system) == "redis", ack_batch = std::string(system) == "mq-ackbatch";
        reg(std::string("peer-consumer/") + system + s + "/sync=" + sname,
            [=, sync = sync](benchmark::State& st) { Consumer(st, redis, ack_batch, size, sync, n); })
            ->Repetitions(1);
      }
    }
  }
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
