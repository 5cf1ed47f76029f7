// mqbridge against JetStream alone (issue 19, docs/bridge.md): in one run,
// each on a nats-server of its own (JetStream, file storage, on 127.0.0.1,
// in a scratch directory):
//   bridge-e2e/jetstream   the reference: a nats.c client publishing with
//                          js_PublishMsgAsync (window 256, the bridge's
//                          default; the same Nats-Msg-Id and Mq-Id headers),
//                          to a stream made as the bridge makes it (file
//                          storage, replicas 1, subjects mq.>, 2 min
//                          duplicate window), and, on a second connection, a
//                          durable pull consumer (explicit ack, max ack
//                          pending 1024, fetches of 64) acking each message;
//   bridge-e2e/mqbridge    the same count through two mqbridge processes: a
//                          ConfirmedSender (window 256) to A's proxy socket,
//                          A's bridge publishes, B's bridge delivers with a
//                          confirmed send into the actor's mailbox, which
//                          this process takes from (Take, AckBatch of up to 64);
//   bridge-e2e/mqbridge-A  only A's half through mqbridge: the sender, A's
//                          bridge, the stream, read by the reference's consumer;
//   bridge-e2e/mqbridge-B  only B's half: the reference's publisher fills
//                          the stream, B's bridge delivers into the mailbox;
//                          the two halves say where the time goes;
//   bridge-e2e/mailbox     the bare local mailbox: the same sender straight
//                          into the actor's mailbox, the same receiver.
// The rows with an actor mailbox run twice, `actor_sync=batch` (the store's
// default: a group commit every 10 ms, which a confirmed send waits for) and
// `actor_sync=always`. A's proxy mailbox is the bridge's own (batch).
// bridge-latency rows: the same paths, one message at a time (the next sent
// once the last was received), for the latency of an unloaded path.
// Each row: messages/s from the first send to the last message received,
// p50/p99 of each message's send-to-receive time, and, on the mqbridge and
// mailbox rows, `vs_jetstream`: their rate over the jetstream row's of the
// same size in this run. Skipped, saying so, when nats-server is missing.
#include <fcntl.h>
#include <nats/nats.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "nats_fixture.h"

extern char** environ;

namespace mq::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kWindow = 256;
constexpr auto kDeadline = std::chrono::seconds(60);  // per run: a stuck run is reported, not waited out

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

double Load1() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  f >> l;
  return l;
}

// `size` bytes: the send time (ns, 8 bytes) then filler.
std::string Stamped(size_t size, uint64_t i) {
  std::string key = std::to_string(i);  // (not "m" + ...: GCC 12's -Wrestrict false positive)
  std::string p = MakePayload(size, key, i);
  const int64_t t = NowNs();
  std::memcpy(p.data(), &t, sizeof t);
  return p;
}
int64_t StampOf(const char* data, size_t n) {
  int64_t t = 0;
  if (n >= sizeof t) std::memcpy(&t, data, sizeof t);
  return t;
}

// One message at a time (the latency rows): the sender of message i waits
// until i messages were received. `received` is counted by the receiver.
struct Pace {
  bool on = false;
  std::atomic<uint64_t> received{0};
  // Waits (up to the deadline) until message i may go; false: timed out.
  bool Wait(uint64_t i, Clock::time_point deadline) const {
    while (on && received.load() < i) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    return true;
  }
};

// The jetstream row's rate per size, for the others' ratio.
std::map<size_t, double>& JetStreamRate() {
  static std::map<size_t, double> m;
  return m;
}

// `system`: "jetstream" records its rate for the others' ratio; nullptr
// (the one-at-a-time latency rows) neither records nor compares.
void Report(benchmark::State& state, const char* system, size_t size, double secs, uint64_t n, std::vector<int64_t>* lat) {
  state.SetIterationTime(secs);
  state.SetItemsProcessed(static_cast<int64_t>(n));
  std::sort(lat->begin(), lat->end());
  auto pct = [&](double p) {
    return lat->empty() ? 0.0 : static_cast<double>((*lat)[static_cast<size_t>(p * static_cast<double>(lat->size() - 1))]) / 1e3;
  };
  state.counters["p50_us"] = Value(pct(0.50));
  state.counters["p99_us"] = Value(pct(0.99));
  state.counters["n"] = Value(static_cast<double>(n));
  state.counters["load1"] = Value(Load1());
  const double rate = secs > 0 ? static_cast<double>(n) / secs : 0;
  if (system == nullptr) {
    // latency rows: no ratio
  } else if (std::strcmp(system, "jetstream") == 0) {
    JetStreamRate()[size] = rate;
  } else if (auto it = JetStreamRate().find(size); it != JetStreamRate().end() && it->second > 0) {
    state.counters["vs_jetstream"] = Value(rate / it->second);
  }
}

bool StartServer(benchmark::State& state, test::NatsServer* server) {
  std::string why;
  if (test::NatsServer::Binary().empty()) {
    state.SkipWithError("nats-server is not installed (apt install nats-server): JetStream and mqbridge not measured");
    return false;
  }
  if (!server->Start(&why)) {
    state.SkipWithError(("nats-server: " + why).c_str());
    return false;
  }
  return true;
}

std::string NatsText(const char* what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  return std::string(what) + ": " + natsStatus_GetText(s) + (jerr != 0 ? " (JetStream error " + std::to_string(jerr) + ")" : "");
}

// ---------------------------------------------------------------- JetStream alone

// One connection and its JetStream context.
struct NatsClient {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  ~NatsClient() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Close(nc), natsConnection_Destroy(nc);
  }
  std::string Connect(const std::string& url) {
    natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
    if (s != NATS_OK) return NatsText("connect", s);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = static_cast<int64_t>(kWindow);  // the bridge's window
    if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK) return NatsText("jetstream context", s);
    return "";
  }
};

// The stream as the bridge creates it (bridge/src/nats_link.cc).
std::string AddStream(const std::string& url) {
  NatsClient c;
  if (std::string e = c.Connect(url); !e.empty()) return e;
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = "MQ";
  const char* subjects[] = {"mq.>"};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = 1;
  sc.Duplicates = int64_t{120000} * 1000000;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* si = nullptr;
  const natsStatus s = js_AddStream(&si, c.js, &sc, nullptr, &jerr);
  if (si != nullptr) jsStreamInfo_Destroy(si);
  return s == NATS_OK ? "" : NatsText("add stream", s, jerr);
}

// Publishes n stamped messages as the bridge does (async, window 256, the
// same headers and subject), then waits for every PubAck. "" or what failed.
std::string Publish(const std::string& url, size_t size, uint64_t n, const Pace* pace = nullptr) {
  NatsClient c;
  if (std::string e = c.Connect(url); !e.empty()) return e;
  static std::atomic<uint64_t> calls{0};  // a Msg-Id of its own each call: none is taken for a duplicate
  const std::string prefix = "A/" + std::to_string(++calls) + "/";
  const auto deadline = Clock::now() + kDeadline;
  for (uint64_t i = 0; i < n; ++i) {
    if (pace != nullptr && !pace->Wait(i, deadline)) return "message " + std::to_string(i) + " was not received within 60 s";
    const std::string p = Stamped(size, i);
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, "mq.B.orders.A", nullptr, p.data(), static_cast<int>(p.size()));
    const std::string id = prefix + std::to_string(i + 1);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Mq-Id", id.c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    if (s == NATS_OK) s = js_PublishMsgAsync(c.js, &msg, &po);
    if (s != NATS_OK) {
      if (msg != nullptr) natsMsg_Destroy(msg);
      return NatsText("publish", s);
    }
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30000;
  if (const natsStatus s = js_PublishAsyncComplete(c.js, &po); s != NATS_OK) return NatsText("publish complete", s);
  return "";
}

// A durable pull consumer as the bridge makes one (bridge/src/inbound.cc):
// fetches of 64, each message acked. Runs until n arrived or the deadline;
// "" or what failed.
std::string Consume(NatsClient* c, uint64_t n, Clock::time_point deadline, std::vector<int64_t>* lat,
                    Pace* pace = nullptr) {
  uint64_t got = 0;
  while (got < n && Clock::now() < deadline) {
    natsMsgList list{};
    jsErrCode fe = static_cast<jsErrCode>(0);
    const natsStatus fs = natsSubscription_Fetch(&list, c->sub, 64, 100, &fe);
    if (fs == NATS_TIMEOUT) continue;
    if (fs != NATS_OK) return NatsText("fetch", fs, fe);
    const int64_t now = NowNs();
    for (int k = 0; k < list.Count; ++k) {
      natsMsg* m = list.Msgs[k];
      lat->push_back(now - StampOf(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))));
      (void)natsMsg_Ack(m, nullptr);
    }
    got += static_cast<uint64_t>(list.Count);
    if (pace != nullptr) pace->received += static_cast<uint64_t>(list.Count);
    natsMsgList_Destroy(&list);
  }
  return got == n ? "" : "received " + std::to_string(got) + " of " + std::to_string(n) + " within 60 s";
}

std::string Subscribe(const std::string& url, NatsClient* c) {
  if (std::string e = c->Connect(url); !e.empty()) return e;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "MQ";
  so.Config.Durable = "bench";
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = int64_t{30000} * 1000000;
  so.Config.MaxAckPending = 1024;
  so.Config.FilterSubject = "mq.B.orders.>";
  so.Config.DeliverPolicy = js_DeliverAll;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const natsStatus s = js_PullSubscribe(&c->sub, c->js, "mq.B.orders.>", "bench", nullptr, &so, &jerr);
  return s == NATS_OK ? "" : NatsText("pull subscribe", s, jerr);
}

// Publisher and consumer on two connections; "" or what failed.
std::string JetStreamRun(const std::string& url, size_t size, uint64_t n, bool paced, double* secs,
                         std::vector<int64_t>* lat) {
  if (std::string e = AddStream(url); !e.empty()) return e;
  NatsClient consumer;
  if (std::string e = Subscribe(url, &consumer); !e.empty()) return e;
  std::string pub_err, sub_err;
  Pace pace;
  pace.on = paced;
  const auto t0 = Clock::now();
  std::thread t([&] { sub_err = Consume(&consumer, n, t0 + kDeadline, lat, &pace); });
  pub_err = Publish(url, size, n, &pace);
  t.join();
  *secs = std::chrono::duration<double>(Clock::now() - t0).count();
  return !pub_err.empty() ? "publisher: " + pub_err : sub_err;
}

void JetStream(benchmark::State& state, bool paced, size_t size, uint64_t n) {
  for (auto _ : state) {
    ScratchDir dir;
    test::NatsServer server(dir.path());
    if (!StartServer(state, &server)) return;
    double secs = 0;
    std::vector<int64_t> lat;
    lat.reserve(n);
    const std::string err = JetStreamRun(server.url(), size, n, paced, &secs, &lat);
    if (!err.empty()) return state.SkipWithError(err.c_str());
    Report(state, paced ? nullptr : "jetstream", size, secs, n, &lat);
  }
}

// ---------------------------------------------------------------- mqbridge and the bare mailbox

// An mqbridge process: posix_spawn (this process has threads), stderr to `log`.
class Bridge {
 public:
  Bridge(const std::string& config, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    std::string bin = MQBRIDGE_PATH, run = "run", cfg = config;
    char* argv[] = {bin.data(), run.data(), cfg.data(), nullptr};
    if (posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Bridge() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (test::WaitPidFor(pid_, 10000) == -1) {
      ::kill(pid_, SIGKILL);
      (void)test::WaitPidFor(pid_, 10000);
    }
  }
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

bool WaitForSocket(const std::string& path) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  struct stat st;
  while (Clock::now() < deadline) {
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Sends n stamped messages to `to` (window 256; "": no sender) while this
// thread takes them from `actor` (nullptr: no receiver). "" or what failed.
std::string SendAndReceive(const std::string& to, Mailbox* actor, size_t size, uint64_t n, double* secs,
                           std::vector<int64_t>* lat, bool paced = false) {
  std::string send_err;
  Pace pace;
  pace.on = paced;
  const auto deadline = Clock::now() + kDeadline;
  const auto t0 = Clock::now();
  std::thread sender([&] {
    if (to.empty()) return;  // no sender here
    ConfirmedSenderOptions o;
    o.window = kWindow;
    o.reply_timeout = std::chrono::milliseconds(30000);
    auto snd = ConfirmedSender::Open(to, o);
    if (!snd.ok()) {
      send_err = snd.status().ToString();
      return;
    }
    std::vector<Confirmation> cs;
    for (uint64_t i = 0; i < n && send_err.empty(); ++i) {
      if (!pace.Wait(i, deadline)) {
        send_err = "message " + std::to_string(i) + " was not received within 60 s";
        break;
      }
      auto t = (*snd)->SendAsync(Stamped(size, i));
      if (!t.ok()) send_err = t.status().ToString();
      if ((*snd)->in_flight() >= kWindow / 2) (void)(*snd)->Collect(std::chrono::milliseconds(0), &cs);
    }
    if (send_err.empty()) (void)(*snd)->Flush(&cs);
    for (const Confirmation& c : cs)
      if (!c.status.ok() && send_err.empty()) send_err = "a send was not confirmed: " + c.status.ToString();
  });
  uint64_t got = 0;
  std::string recv_err;
  std::vector<uint64_t> taken;
  Message m;
  if (actor == nullptr) got = n;  // no receiver here
  while (got < n && Clock::now() < deadline && recv_err.empty()) {
    taken.clear();
    Status st = actor->Take(Pattern::Any(), std::chrono::milliseconds(100), &m);
    while (st.ok()) {
      lat->push_back(NowNs() - StampOf(m.payload.data(), m.payload.size()));
      taken.push_back(m.seq);
      pace.received++;
      if (taken.size() >= 64) break;
      st = actor->Take(Pattern::Any(), Mailbox::kPoll, &m);
    }
    if (!st.ok() && st.code() != Status::Code::kTimedOut) recv_err = st.ToString();
    if (!taken.empty()) {
      if (Status a = actor->AckBatch(taken); !a.ok()) recv_err = a.ToString();
      got += taken.size();
    }
  }
  *secs = std::chrono::duration<double>(Clock::now() - t0).count();
  sender.join();
  if (!send_err.empty()) return "sender: " + send_err;
  if (!recv_err.empty()) return "receiver: " + recv_err;
  if (got != n) return "received " + std::to_string(got) + " of " + std::to_string(n) + " within 60 s";
  return "";
}

// The actor's mailbox on B, with the store's default sync policy (batch: a
// group commit every 10 ms) or sync=always (the confirmer syncs at once).
Result<std::unique_ptr<Mailbox>> OpenActor(const ScratchDir& dir, SyncPolicy sync) {
  MailboxOptions o;
  o.store.sync = sync;
  o.socket_path = dir.File("b-orders.sock");
  o.queue_path = dir.File("b-orders.q");
  return Mailbox::Open(o);
}

// Which halves of the path run through mqbridge: both (mqbridge), only A's
// (its stream read by the plain consumer above), or only B's (the stream
// filled by the plain publisher above).
enum class Half { kBoth, kA, kB };

// `inbound_window`: B's batches in flight (BridgeConfig::inbound_window);
// 0: the default.
void ThroughBridge(benchmark::State& state, Half half, SyncPolicy sync, bool paced, size_t size, uint64_t n,
                   int inbound_window = 0) {
  const char* system = half == Half::kBoth ? "mqbridge" : half == Half::kA ? "mqbridge-A" : "mqbridge-B";
  for (auto _ : state) {
    ScratchDir dir;
    ::mkdir(dir.File("nats").c_str(), 0700);
    test::NatsServer server(dir.File("nats"));
    if (!StartServer(state, &server)) return;
    if (std::string e = AddStream(server.url()); !e.empty()) return state.SkipWithError(e.c_str());
    const std::string common = "urls = [\"" + server.url() + "\"]\nstream = \"MQ\"\n";
    const std::string proxy = dir.File("a-orders.sock");
    {
      std::ofstream a(dir.File("a.toml")), b(dir.File("b.toml"));
      a << "[bridge]\nnode = \"A\"\nstate = \"" << dir.File("a-state") << "\"\n" << common
        << "[[remote]]\nnode = \"B\"\nactor = \"orders\"\nsocket = \"" << proxy << "\"\n";
      b << "[bridge]\nnode = \"B\"\nstate = \"" << dir.File("b-state") << "\"\n" << common;
      if (inbound_window > 0) b << "inbound_window = " << inbound_window << "\n";
      b << "[[local]]\nactor = \"orders\"\nsocket = \"" << dir.File("b-orders.sock") << "\"\n";
    }
    std::unique_ptr<Mailbox> actor;
    NatsClient consumer;
    if (half != Half::kA) {
      auto mb = OpenActor(dir, sync);
      if (!mb.ok()) return state.SkipWithError(mb.status().ToString().c_str());
      actor = *std::move(mb);
    } else if (std::string e = Subscribe(server.url(), &consumer); !e.empty()) {
      return state.SkipWithError(e.c_str());
    }
    std::unique_ptr<Bridge> a, b;
    if (half != Half::kB) a = std::make_unique<Bridge>(dir.File("a.toml"), dir.File("a.log"));
    if (half != Half::kA) b = std::make_unique<Bridge>(dir.File("b.toml"), dir.File("b.log"));
    if ((a && !a->started()) || (b && !b->started())) return state.SkipWithError("mqbridge did not start (" MQBRIDGE_PATH ")");
    if (a && !WaitForSocket(proxy)) return state.SkipWithError(("no proxy socket within 10 s; see " + dir.File("a.log")).c_str());
    // One message through first, untimed: the bridges connected, their
    // consumer made.
    auto run = [&](uint64_t count, double* secs, std::vector<int64_t>* lat) -> std::string {
      if (half == Half::kBoth) return SendAndReceive(proxy, actor.get(), size, count, secs, lat, paced);
      const auto t0 = Clock::now();
      std::string err, other;
      if (half == Half::kA) {
        std::thread t([&] { other = Consume(&consumer, count, t0 + kDeadline, lat); });
        std::vector<int64_t> none;  // the sender's side: only the consumer's arrival times count
        err = SendAndReceive(proxy, nullptr, size, count, secs, &none);
        t.join();
      } else {
        std::thread t([&] { other = Publish(server.url(), size, count); });
        err = SendAndReceive("", actor.get(), size, count, secs, lat);
        t.join();
      }
      *secs = std::chrono::duration<double>(Clock::now() - t0).count();
      return !err.empty() ? err : other;
    };
    {
      double s = 0;
      std::vector<int64_t> l;
      const std::string err = run(1, &s, &l);
      if (!err.empty()) return state.SkipWithError(("warm-up: " + err + "; see the logs in " + dir.path()).c_str());
    }
    double secs = 0;
    std::vector<int64_t> lat;
    lat.reserve(n);
    const std::string err = run(n, &secs, &lat);
    if (!err.empty()) return state.SkipWithError(err.c_str());
    if (actor) (void)actor->Close();
    Report(state, paced ? nullptr : system, size, secs, n, &lat);
  }
}

void BareMailbox(benchmark::State& state, SyncPolicy sync, bool paced, size_t size, uint64_t n) {
  for (auto _ : state) {
    ScratchDir dir;
    auto actor = OpenActor(dir, sync);
    if (!actor.ok()) return state.SkipWithError(actor.status().ToString().c_str());
    double secs = 0;
    std::vector<int64_t> lat;
    lat.reserve(n);
    const std::string err = SendAndReceive(dir.File("b-orders.sock"), actor->get(), size, n, &secs, &lat, paced);
    if (!err.empty()) return state.SkipWithError(err.c_str());
    (void)(*actor)->Close();
    Report(state, paced ? nullptr : "mailbox", size, secs, n, &lat);
  }
}

void RegisterAll(const Flags& f) {
  // The server's version line ("nats-server: v2.9.10"), or "missing".
  std::string server = "missing";
  if (const std::string bin = test::NatsServer::Binary(); !bin.empty()) {
    server = bin;
    if (FILE* pipe = ::popen((bin + " --version 2>&1").c_str(), "r")) {
      char line[128] = {};
      if (std::fgets(line, sizeof line, pipe) != nullptr) server = std::string(line, std::strcspn(line, "\n"));
      ::pclose(pipe);
    }
  }
  benchmark::AddCustomContext("mq_nats_server", server);
  benchmark::AddCustomContext("mq_libnats_version", nats_GetVersion());
  const uint64_t n = f.quick ? 2000 : 10000;
  const uint64_t one_at_a_time = f.quick ? 100 : 300;
  const int reps = f.quick ? 1 : 2;
  auto reg = [&](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)
        ->UseManualTime()
        ->Iterations(1)
        ->Repetitions(reps)
        ->Unit(benchmark::kMillisecond);
  };
  const std::pair<SyncPolicy, const char*> syncs[] = {{SyncPolicy::kBatch, "batch"}, {SyncPolicy::kAlways, "always"}};
  for (size_t size : {size_t{64}, size_t{4096}}) {
    const std::string s = "/size=" + std::to_string(size);
    reg("bridge-e2e/jetstream" + s, [=](benchmark::State& st) { JetStream(st, false, size, n); });
    reg("bridge-e2e/mqbridge-A" + s,
        [=](benchmark::State& st) { ThroughBridge(st, Half::kA, SyncPolicy::kBatch, false, size, n); });
    for (const auto& [sync, sname] : syncs) {
      const std::string a = "/actor_sync=" + std::string(sname);
      reg("bridge-e2e/mqbridge" + s + a,
          [=, sync = sync](benchmark::State& st) { ThroughBridge(st, Half::kBoth, sync, false, size, n); });
      reg("bridge-e2e/mqbridge-B" + s + a,
          [=, sync = sync](benchmark::State& st) { ThroughBridge(st, Half::kB, sync, false, size, n); });
      reg("bridge-e2e/mailbox" + s + a, [=, sync = sync](benchmark::State& st) { BareMailbox(st, sync, false, size, n); });
    }
    // B with one batch in flight (inbound_window = 1, the bridge before
    // its window), beside the default's rows above.
    const std::string a1 = "/actor_sync=batch/inbound_window=1";
    reg("bridge-e2e/mqbridge" + s + a1,
        [=](benchmark::State& st) { ThroughBridge(st, Half::kBoth, SyncPolicy::kBatch, false, size, n, 1); });
    reg("bridge-e2e/mqbridge-B" + s + a1,
        [=](benchmark::State& st) { ThroughBridge(st, Half::kB, SyncPolicy::kBatch, false, size, n, 1); });
  }
  // One message at a time: the latency of an unloaded path (64 B).
  const std::string s = "/size=64";
  reg("bridge-latency/jetstream" + s, [=](benchmark::State& st) { JetStream(st, true, 64, one_at_a_time); });
  for (const auto& [sync, sname] : syncs) {
    const std::string a = "/actor_sync=" + std::string(sname);
    reg("bridge-latency/mqbridge" + s + a,
        [=, sync = sync](benchmark::State& st) { ThroughBridge(st, Half::kBoth, sync, true, 64, one_at_a_time); });
    reg("bridge-latency/mailbox" + s + a,
        [=, sync = sync](benchmark::State& st) { BareMailbox(st, sync, true, 64, one_at_a_time); });
  }
  reg("bridge-latency/mqbridge" + s + "/actor_sync=batch/inbound_window=1",
      [=](benchmark::State& st) { ThroughBridge(st, Half::kBoth, SyncPolicy::kBatch, true, 64, one_at_a_time, 1); });
}

}  // namespace
}  // namespace mq::bench

int main(int argc, char** argv) { return mq::bench::RunMain(argc, argv, mq::bench::RegisterAll); }
