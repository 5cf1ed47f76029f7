// Kill torture (docs/reliability.md, "Kill torture"; ctest label `torture`).
//
// Three sender processes (torture_helper sender) send confirmed messages,
// pipelined, as fast as they are confirmed, to a mailbox process
// (torture_helper actor) running sync=always with a small compaction
// threshold, whose actor receives every message and writes it down with one
// write() per delivery (a kill can cut that write: torture_delivered.h).
// The mailbox process is killed with SIGKILL at random moments and started
// again, many times:
//   - after a random pause of 5 to 150 ms;
//   - right after it starts a compaction (inotify sees QUEUE.compact created);
//   - within 20 ms of its start (while it recovers and opens the queue).
// A kill landed during a compaction when QUEUE.compact is still there after
// it (the store removes a leftover one at its next open). Compaction is
// online (issue 24): such a kill counts as one with traffic when the log
// grew after the compaction started (appends went on during its copy).
//
// Then the senders stop, the last mailbox process is killed too, and the test
// drains what is left in the queue itself. It checks, from the senders'
// records and the delivery file:
//   - every confirmed message was delivered (take + ack: at least once;
//     auto-consume: exactly once, except a message consumed by a process
//     killed before it wrote the delivery down: at most one per process that
//     delivered in between, and it lies between their deliveries);
//   - nothing was delivered that was never sent, and no payload is corrupt;
//   - a message has one sequence number wherever it is seen (never stored
//     twice), the one its confirmation gave;
//   - each sender's messages keep their order, and each process delivers in
//     sequence order; in take + ack a duplicate is only the last delivery of
//     a killed process, delivered again first by the next one;
//   - every sender comes back from every restart: no more sends fail than
//     one per kill and sender.
// Duplicates and unconfirmed messages lost (datagrams still in the killed
// process's socket buffer) are counted and printed.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "loop_filesystem.h"
#include "mailbox_testing.h"
#include "mq/inspect.h"
#include "mq/mailbox.h"
#include "test_util.h"
#include "torture_delivered.h"
#include "torture_payload.h"

namespace mq {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kSenders = 3;
// Compaction whenever 32 KiB are consumed and they are 0.5% of the log, so
// it runs every few hundred messages even behind a large backlog.
constexpr uint64_t kCompactMinBytes = 32 << 10;
constexpr const char* kCompactRatio = "0.005";
// The whole kill loop must finish in this time.
constexpr auto kLoopLimit = std::chrono::seconds(150);

int KillsPerRun() {
  const char* e = std::getenv("MQ_TORTURE_KILLS");
  int n = e != nullptr ? std::atoi(e) : 0;
  return n > 0 ? n : 60;
}

// The wait status of pid, or -1 if it did not end within `limit` (it is then
// killed and reaped).
int Reap(pid_t pid, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  int st = 0;
  while (true) {
    pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) return st;
    if (w < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
}

std::string Describe(int st) {
  if (st == -1) return "did not end in time";
  if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("ended by signal ") + strsignal(WTERMSIG(st));
  return "status " + std::to_string(st);
}

// Watches the queue's directory for QUEUE.compact being created (a
// compaction starting) and renamed away (one finishing).
class CompactionWatch {
 public:
  // `log`: the queue's log, whose size is noted at each start seen.
  CompactionWatch(const std::string& dir, std::string name, std::string log)
      : name_(std::move(name)), log_(std::move(log)) {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    EXPECT_GE(fd_, 0) << "inotify_init1: " << std::strerror(errno);
    if (fd_ >= 0) {
      EXPECT_GE(::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_FROM), 0);
    }
  }
  ~CompactionWatch() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Reads events for up to `wait`; returns at the first compaction start if
  // `until_start`. True if a start was seen.
  bool Poll(milliseconds wait, bool until_start) {
    const auto deadline = Clock::now() + wait;
    bool seen = false;
    while (true) {
      seen = Drain() || seen;
      if (seen && until_start) return true;
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return seen;
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left));
    }
  }
  uint64_t started() const { return started_; }
  uint64_t finished() const { return finished_; }
  // The log's size when the last start was seen (read after its event).
  uint64_t log_size_at_start() const { return log_size_at_start_; }
  uint64_t LogSize() const {
    struct stat st;
    return ::stat(log_.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }

 private:
  bool Drain() {
    bool start = false;
    alignas(inotify_event) char buf[8192];
    while (true) {
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) return start;
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        if (e->len > 0 && name_ == e->name) {
          if (e->mask & IN_CREATE) {
            ++started_;
            start = true;
            log_size_at_start_ = LogSize();
          }
          if (e->mask & IN_MOVED_FROM) ++finished_;
        }
        p += sizeof(inotify_event) + e->len;
      }
    }
  }
  std::string name_;
  std::string log_;
  int fd_ = -1;
  uint64_t started_ = 0, finished_ = 0;
  uint64_t log_size_at_start_ = 0;
};

// What a sender wrote at its end (see torture_helper.cc).
struct SenderRecord {
  uint64_t attempted = 0;
  std::vector<char> state;     // by index: 'f' not sent, 'c' confirmed, 'u' unconfirmed, 0 unknown
  std::vector<uint64_t> seq;   // for 'c'
};

bool ReadSenderRecord(const std::string& path, SenderRecord* r, std::string* err) {
  std::istringstream in(test::ReadFileOrDie(path));
  std::string kind;
  if (!(in >> kind >> r->attempted) || kind != "a") return (*err = path + ": no 'a N' line", false);
  r->state.assign(r->attempted, 0);
  r->seq.assign(r->attempted, 0);
  uint64_t i = 0;
  while (in >> kind >> i) {
    if (i >= r->attempted || r->state[i] != 0 || kind.size() != 1)
      return (*err = path + ": bad or repeated entry for " + std::to_string(i), false);
    r->state[i] = kind[0];
    if (kind == "c" && !(in >> r->seq[i])) return (*err = path + ": 'c' without seq", false);
  }
  for (uint64_t j = 0; j < r->attempted; ++j)
    if (r->state[j] == 0) return (*err = path + ": no outcome for message " + std::to_string(j), false);
  return true;
}

using torture::Delivery;
using torture::ProcessRun;

// One kill torture run. `where`: the directory for the queue, the socket
// and the records ("": a temporary directory). `label` names the run in the
// figures line. require_compaction_kill: a compaction must start and at
// least one kill land inside one (a run of a few kills may get neither).
struct KillRun {
  bool ack = true;
  int kills_wanted = 0;
  std::string where;
  std::string label;
  bool require_compaction_kill = true;
};

void RunKillTorture(const KillRun& run) {
  const bool ack = run.ack;
  const int kills_wanted = run.kills_wanted;
  test::TempDir tmp;
  const std::string base = run.where.empty() ? tmp.path() : run.where;
  struct {
    const std::string& base;
    std::string File(const std::string& name) const { return base + "/" + name; }
    const std::string& path() const { return base; }
  } dir{base};
  const std::string socket = dir.File("sock"), queue = dir.File("queue"), delivered = dir.File("delivered");
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  const std::vector<std::string> actor_argv = {MQ_TORTURE_HELPER, "actor", socket, queue, ack ? "ack" : "auto",
                                               delivered, std::to_string(kCompactMinBytes), kCompactRatio};
  CompactionWatch watch(dir.path(), "queue.compact", queue);
  pid_t actor = test::SpawnProcess(actor_argv);
  Clock::time_point started = Clock::now();
  ASSERT_GT(actor, 0);
  auto socket_up = [&] {
    for (int n = 0; n < 20000 && !test::FileExists(socket); ++n) std::this_thread::sleep_for(milliseconds(1));
    return test::FileExists(socket);
  };
  ASSERT_TRUE(socket_up()) << "the first mailbox process did not bind its socket";

  std::vector<pid_t> senders;
  for (int k = 0; k < kSenders; ++k)
    senders.push_back(
        test::SpawnProcess({MQ_TORTURE_HELPER, "sender", socket, std::to_string(k), dir.File("sender" + std::to_string(k))}));

  int kills = 0, during_compaction = 0, early = 0;
  // Kills inside a compaction while the log took appends: the log is larger
  // than when that compaction started (and no other started in between).
  int during_compaction_with_traffic = 0;
  auto kill_in_compaction = [&](bool compact_file_left, uint64_t starts_before, uint64_t size_at_start) {
    during_compaction += compact_file_left;
    watch.Poll(milliseconds(0), false);
    if (compact_file_left && watch.started() == starts_before && watch.LogSize() > size_at_start)
      ++during_compaction_with_traffic;
  };
  const auto loop_deadline = Clock::now() + kLoopLimit;
  for (int j = 0; j < kills_wanted; ++j) {
    ASSERT_LT(Clock::now(), loop_deadline) << "only " << kills << " kills in " << kLoopLimit.count() << " s";
    switch (j % 4) {
      case 0:
      case 1:
        watch.Poll(milliseconds(uniform(5, 150)), false);
        break;
      case 2:  // as a compaction starts (or after 2 s without one)
        if (watch.Poll(milliseconds(2000), true) && uniform(0, 1) == 1)
          std::this_thread::sleep_for(std::chrono::microseconds(uniform(0, 2000)));
        break;
      case 3:  // while it recovers and opens the queue
        std::this_thread::sleep_until(started + milliseconds(uniform(0, 20)));
        break;
    }
    int st = 0;
    ASSERT_NE(::waitpid(actor, &st, WNOHANG), actor) << "the mailbox process " << Describe(st) << " on its own";
    const bool is_early = Clock::now() - started <= milliseconds(20);
    watch.Poll(milliseconds(0), false);
    const uint64_t starts_before = watch.started(), size_at_start = watch.log_size_at_start();
    ASSERT_EQ(::kill(actor, SIGKILL), 0);
    st = Reap(actor, std::chrono::seconds(10));
    ASSERT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << Describe(st);
    ++kills;
    early += is_early;
    kill_in_compaction(test::FileExists(queue + ".compact"), starts_before, size_at_start);
    actor = test::SpawnProcess(actor_argv);
    started = Clock::now();
    ASSERT_GT(actor, 0);
  }
  // The last process runs a little, then the senders stop and it is killed too.
  ASSERT_TRUE(socket_up());
  watch.Poll(milliseconds(300), false);
  for (pid_t s : senders) ::kill(s, SIGTERM);
  for (pid_t s : senders) {
    int st = Reap(s, std::chrono::seconds(60));
    EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) << "a sender " << Describe(st);
  }
  {
    int st = 0;
    ASSERT_NE(::waitpid(actor, &st, WNOHANG), actor) << "the mailbox process " << Describe(st) << " on its own";
    watch.Poll(milliseconds(0), false);
    const uint64_t starts_before = watch.started(), size_at_start = watch.log_size_at_start();
    ASSERT_EQ(::kill(actor, SIGKILL), 0);
    st = Reap(actor, std::chrono::seconds(10));
    ASSERT_TRUE(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << Describe(st);
    ++kills;
    kill_in_compaction(test::FileExists(queue + ".compact"), starts_before, size_at_start);
  }
  watch.Poll(milliseconds(0), false);

  // What the senders did.
  std::vector<SenderRecord> rec(kSenders);
  for (int k = 0; k < kSenders; ++k) {
    std::string err;
    ASSERT_TRUE(ReadSenderRecord(dir.File("sender" + std::to_string(k)), &rec[k], &err)) << err;
  }

  // What the mailbox processes delivered, process by process ("#start"). A
  // record cut by a kill (its write() stopped part way) is counted, not
  // taken for corruption; see torture_delivered.h.
  std::vector<ProcessRun> runs;
  {
    std::string err;
    ASSERT_TRUE(torture::ParseDelivered(test::ReadFileOrDie(delivered), kSenders, &runs, &err)) << err;
  }
  uint64_t torn = 0;
  for (const ProcessRun& r : runs) torn += r.torn;
  const size_t actor_runs = runs.size();
  // Then the test drains what is still in the queue (no socket, no kill).
  {
    MailboxOptions o;
    o.queue_path = queue;
    o.store.sync = SyncPolicy::kNone;
    std::unique_ptr<Mailbox> mb;
    Status s = Mailbox::Open(o).MoveTo(&mb);
    ASSERT_TRUE(s.ok()) << s.ToString();
    runs.emplace_back();
    for (int n = 0; n < 10'000'000; ++n) {
      Message m;
      s = mb->Receive(Pattern::Any(), Mailbox::kPoll, &m);
      if (s.IsTimedOut()) break;
      ASSERT_TRUE(s.ok()) << s.ToString();
      Delivery d;
      d.seq = m.seq;
      ASSERT_TRUE(torture::ParsePayload(m.payload, kSenders, &d.k, &d.i))
          << "the queue holds a corrupt payload or one never sent: '" << m.payload << "'";
      runs.back().d.push_back(d);
    }
    ASSERT_TRUE(mb->Close().ok());
    LogSummary sum;
    s = ScanLog(queue, {}, [](const LogMessage&) { return true; }).MoveTo(&sum);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(sum.pending, 0u);
    EXPECT_TRUE(sum.damage.empty()) << sum.damage.front().reason;
  }
  const uint64_t left_in_queue = runs.back().d.size();

  // Take + ack: a record cut by the kill was never acknowledged, so the next
  // process that delivers anything delivers that message first.
  if (ack) {
    for (size_t r = 0; r < actor_runs; ++r) {
      if (!runs[r].torn_seq_known) continue;
      size_t n = r + 1;
      while (n < runs.size() && runs[n].d.empty()) ++n;
      ASSERT_LT(n, runs.size()) << "seq " << runs[r].torn_seq << ", cut by a kill, was never delivered again";
      EXPECT_EQ(runs[n].d.front().seq, runs[r].torn_seq)
          << "the process after a cut record did not deliver that message first";
    }
  }

  // Sequence numbers: one per message, the confirmed one; every process
  // delivers in sequence order.
  std::map<std::pair<int, uint64_t>, uint64_t> seq_of;  // (k, i) -> seq
  std::map<std::pair<int, uint64_t>, int> times;        // deliveries of (k, i)
  uint64_t deliveries = 0, duplicates = 0, prev_last = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    if (!runs[r].d.empty()) {
      // The next process goes on where the last one stopped (take + ack: with
      // the message it had not acknowledged).
      if (ack) {
        ASSERT_GE(runs[r].d.front().seq, prev_last) << "a process delivered a message older than one already done";
      } else {
        ASSERT_GT(runs[r].d.front().seq, prev_last) << "a process delivered a message already consumed";
      }
      prev_last = runs[r].d.back().seq;
    }
    for (size_t n = 0; n < runs[r].d.size(); ++n) {
      const Delivery& d = runs[r].d[n];
      ++deliveries;
      const auto key = std::make_pair(d.k, d.i);
      ASSERT_LT(d.i, rec[d.k].attempted) << "s" << d.k << "-" << d.i << " delivered but never sent";
      ASSERT_NE(rec[d.k].state[d.i], 'f') << "s" << d.k << "-" << d.i << " delivered but its send failed";
      if (rec[d.k].state[d.i] == 'c') {
        ASSERT_EQ(d.seq, rec[d.k].seq[d.i]) << "s" << d.k << "-" << d.i << " delivered with another seq";
      }
      auto [it, fresh] = seq_of.emplace(key, d.seq);
      ASSERT_EQ(it->second, d.seq) << "s" << d.k << "-" << d.i << " stored twice";
      if (n > 0) {
        ASSERT_GT(d.seq, runs[r].d[n - 1].seq) << "a process delivered out of sequence order";
      }
      if (++times[key] > 1) {
        ++duplicates;
        // Only take + ack, and only the last delivery of the process before,
        // delivered again first thing.
        ASSERT_TRUE(ack) << "s" << d.k << "-" << d.i << " delivered twice in auto-consume mode";
        ASSERT_EQ(n, 0u) << "a duplicate that is not the first delivery of a process";
        size_t p = r;
        while (p > 0 && runs[p - 1].d.empty()) --p;
        ASSERT_TRUE(p > 0 && runs[p - 1].d.back().seq == d.seq)
            << "a duplicate that is not the last delivery of the process before";
      }
    }
  }

  // Each sender's order: by index, sequence numbers increase.
  for (int k = 0; k < kSenders; ++k) {
    uint64_t last = 0;
    for (uint64_t i = 0; i < rec[k].attempted; ++i) {
      auto it = seq_of.find({k, i});
      uint64_t s = it != seq_of.end() ? it->second : (rec[k].state[i] == 'c' ? rec[k].seq[i] : 0);
      if (s == 0) continue;
      ASSERT_GT(s, last) << "sender " << k << "'s message " << i << " is out of its order";
      last = s;
    }
  }

  // Confirmed messages never delivered. Take + ack: none. Auto-consume: each
  // lies between the deliveries of two consecutive delivering processes, at
  // most as many as processes ran from the first up to the second.
  uint64_t confirmed = 0, unconfirmed_delivered = 0, unconfirmed_lost = 0, not_sent = 0;
  std::vector<uint64_t> undelivered_confirmed;
  for (int k = 0; k < kSenders; ++k) {
    for (uint64_t i = 0; i < rec[k].attempted; ++i) {
      const bool got = times.count({k, i}) > 0;
      switch (rec[k].state[i]) {
        case 'c':
          ++confirmed;
          if (!got) undelivered_confirmed.push_back(rec[k].seq[i]);
          break;
        case 'u':
          (got ? unconfirmed_delivered : unconfirmed_lost) += 1;
          break;
        case 'f':
          ++not_sent;
          break;
      }
    }
  }
  if (ack) {
    EXPECT_TRUE(undelivered_confirmed.empty())
        << undelivered_confirmed.size() << " confirmed messages were never delivered, e.g. seq "
        << undelivered_confirmed.front();
  } else {
    // Gaps between delivering processes: (last seq before, first seq after, processes that ran).
    // A killed process can lose only the message after its last delivery.
    struct Gap {
      uint64_t after, before;
      int processes, lost = 0;
    };
    std::vector<Gap> gaps;
    uint64_t gap_start = 0;
    int processes = 0;  // processes since the last delivering one, it included
    for (size_t r = 0; r < runs.size(); ++r) {
      if (!runs[r].d.empty()) {
        gaps.push_back(Gap{gap_start, runs[r].d.front().seq, processes});
        gap_start = runs[r].d.back().seq;
        processes = 0;
      }
      if (r < actor_runs) ++processes;
    }
    gaps.push_back(Gap{gap_start, UINT64_MAX, processes});
    for (uint64_t s : undelivered_confirmed) {
      auto g = std::find_if(gaps.begin(), gaps.end(), [&](const Gap& x) { return s > x.after && s < x.before; });
      ASSERT_NE(g, gaps.end()) << "confirmed message seq " << s << " was lost outside any kill window";
      ++g->lost;
      ASSERT_LE(g->lost, g->processes) << "more confirmed messages lost between seq " << g->after << " and "
                                       << g->before << " than processes killed there";
    }
  }

  EXPECT_GE(kills, kills_wanted);
  EXPECT_GT(confirmed, 0u) << "nothing was confirmed: the test proved nothing";
  // A sender comes back from every restart: a send fails only when the
  // mailbox is gone long enough (connect_retry) or dies right after the
  // sender reconnected, at most once per kill and sender. A sender that
  // keeps a dead socket fails every later send at once (seen: 553,863).
  EXPECT_LE(not_sent, static_cast<uint64_t>(kills) * kSenders)
      << "the senders failed " << not_sent << " sends over " << kills << " kills: a sender stopped recovering";
  if (run.require_compaction_kill) {
    EXPECT_GT(watch.started(), 0u) << "no compaction ever started: raise the load or lower the threshold";
    EXPECT_GT(during_compaction, 0) << "no kill landed inside a compaction (" << watch.started() << " started)";
  }
  // Kills inside a compaction while the log took appends: counted and
  // printed; required only in long runs. At the default 60 kills a run gets
  // 0 to 3 of them on a quiet machine (0 in about one run of four, old code
  // or new), so requiring one there failed at random. That appends go on
  // during the copy is asserted deterministically by
  // StoreOnlineCompactionTest.AppendConsumeTakeAndAckFromAnotherThreadFinishWhileTheCopyIsUnderWay,
  // and crashes at every step of a compaction with traffic by
  // StoreCrashTest.EveryCrashPointOfACompactionWithTrafficKeepsAcknowledgedMessagesAndConsumes.
  if (kills_wanted >= 500) {
    EXPECT_GT(during_compaction_with_traffic, 0)
        << "no kill landed inside a compaction while the log took appends (" << during_compaction
        << " kills inside one): appends wait for compaction";
  }
  const std::string losses =
      ack ? std::to_string(undelivered_confirmed.size()) + " confirmed messages never delivered"
          : std::to_string(undelivered_confirmed.size()) +
                " confirmed messages consumed by a process killed before it wrote them down (at most one per kill)";
  std::printf(
      "[ torture ] %s%s: %d kills survived (%d during a compaction, %d of them with appends during it, %d within "
      "20 ms of a start); compactions "
      "started %llu, finished %llu; %llu confirmed, %llu deliveries (%llu left in the queue at the end), "
      "%llu duplicates, %s; %llu delivery records cut by a kill; unconfirmed: %llu delivered, %llu lost in "
      "flight; %llu not sent\n",
      ack ? "take+ack" : "auto-consume", run.label.c_str(), kills, during_compaction, during_compaction_with_traffic, early,
      static_cast<unsigned long long>(watch.started()), static_cast<unsigned long long>(watch.finished()),
      static_cast<unsigned long long>(confirmed), static_cast<unsigned long long>(deliveries),
      static_cast<unsigned long long>(left_in_queue), static_cast<unsigned long long>(duplicates), losses.c_str(), static_cast<unsigned long long>(torn),
      static_cast<unsigned long long>(unconfirmed_delivered), static_cast<unsigned long long>(unconfirmed_lost),
      static_cast<unsigned long long>(not_sent));
  ::testing::Test::RecordProperty("kills", kills);
  ::testing::Test::RecordProperty("kills_during_compaction", during_compaction);
  ::testing::Test::RecordProperty("kills_during_compaction_with_appends", during_compaction_with_traffic);
  ::testing::Test::RecordProperty("confirmed", static_cast<int>(confirmed));
  ::testing::Test::RecordProperty("duplicates", static_cast<int>(duplicates));
  ::testing::Test::RecordProperty("torn_delivery_records", static_cast<int>(torn));
}

class TortureKillTest : public ::testing::TestWithParam<bool> {};

TEST_P(TortureKillTest, ConfirmedMessagesSurviveRepeatedSigkillOfTheMailboxProcess) {
  RunKillTorture(KillRun{GetParam(), KillsPerRun(), "", "", true});
}

INSTANTIATE_TEST_SUITE_P(Modes, TortureKillTest, ::testing::Values(true, false),
                         [](const auto& p) { return std::string(p.param ? "TakeAck" : "AutoConsume"); });

// Issue 17 item 4: the same torture with the queue on a loop-mounted ext4,
// xfs and btrfs image made here (loop_filesystem.h), so that the store's
// files, fsyncs, renames and recovery after each kill go through each of
// them. Skipped, with the reason, where the image cannot be made or mounted.
// Kills per filesystem and mode: MQ_TORTURE_FS_KILLS (default 3, sized for
// CI: a sync on a loop device under load takes tens of ms, so a run confirms
// about a hundred messages and compacts rarely; compactions and kills inside
// one are then counted, and required from 60 kills on).
int KillsPerFilesystem() {
  const char* e = std::getenv("MQ_TORTURE_FS_KILLS");
  const int n = e != nullptr ? std::atoi(e) : 0;
  return n > 0 ? n : 3;
}

class TortureKillOnFilesystemTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(TortureKillOnFilesystemTest, ConfirmedMessagesSurviveRepeatedSigkillOfTheMailboxProcess) {
  const auto& [fstype, ack] = GetParam();
  test::TempDir dir;
  test::LoopFilesystem fs(fstype, dir);
  if (!fs.mounted()) GTEST_SKIP() << "no " << fstype << " filesystem here: " << fs.why();
  const int kills = KillsPerFilesystem();
  RunKillTorture(KillRun{ack, kills, fs.dir(), " on " + fstype, kills >= 60});
}

INSTANTIATE_TEST_SUITE_P(LoopMounted, TortureKillOnFilesystemTest,
                         ::testing::Combine(::testing::Values("ext4", "xfs", "btrfs"), ::testing::Bool()),
                         [](const auto& p) {
                           return std::get<0>(p.param) + (std::get<1>(p.param) ? "_TakeAck" : "_AutoConsume");
                         });

}  // namespace
}  // namespace mq
