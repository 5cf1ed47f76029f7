// A SIGKILL of the receiving bridge in the middle of its delivery record's
// compaction, on a real nats-server (docs/bridge.md, "Inbound"): B's bridge
// runs under strace, which kills it (inject ...:signal=KILL) at a chosen
// system call of its first compaction:
//   - the first write to the compacted copy `<record>.new` (it exists, empty);
//   - its fdatasync (written, not synced, not renamed);
//   - the directory fsync after the rename (the copy is the record now).
// Its durable consumer is then deleted (a server that lost it: the restart
// replays from the record's floor, so only the record says what was
// delivered), the bridge is started again, plainly, and every message of
// the stream must reach the actor exactly once: none lost, none twice (the
// kill falls after the batch's record was synced, and B runs with one batch in
// flight, so not even the batches a B kill may duplicate elsewhere).
// The record's own crash points, with power
// losses too, are tested without a server in bridge_record_crash_test.
//
// Needs strace (as syscall_order_test does); skips, saying so, without it
// or without nats-server.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "bridge_testing.h"
#include "nats_admin.h"

namespace mq::test {
namespace {

struct KillPoint {
  const char* name;
  const char* syscall;
  bool on_new_file;  // -P the compacted copy; else -P the record's directory
  int when;          // the nth matching call
  bool new_file_left;
};

const KillPoint kPoints[] = {
    {"CopyCreatedNothingWritten", "pwrite64", true, 1, true},
    {"CopyWrittenNotSynced", "fdatasync", true, 1, true},
    // fsyncs of the directory: 1 after creating the record, 2 after the
    // first compaction's rename.
    {"RenamedDirectoryNotSynced", "fsync", false, 2, false},
};

void PrintTo(const KillPoint& k, std::ostream* os) { *os << k.name << " (" << k.syscall << " #" << k.when << ")"; }

std::string Strace() {
  for (const char* p : {"/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

class BridgeCompactionKillTest : public ::testing::TestWithParam<KillPoint> {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
    if (Strace().empty()) GTEST_SKIP() << "strace is not installed (apt install strace): compaction kill test skipped";
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
  }
  // B's bridge under strace, killed at the kill point. Its pid, or -1.
  pid_t StartTraced(const KillPoint& k, const std::string& path, const std::string& log) {
    const std::string strace = Strace(), config = hosts_->b_config();
    const std::string inject = std::string("inject=") + k.syscall + ":signal=KILL:when=" + std::to_string(k.when);
    std::vector<std::string> args = {strace, "-f", "-qq", "-o", "/dev/null", "-P", path,
                                     "-e", std::string("trace=") + k.syscall, "-e", inject,
                                     MQBRIDGE_PATH, "run", config};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();  // nothing but async-signal-safe calls before exec
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) ::dup2(fd, 2);
      ::execv(strace.c_str(), argv.data());
      ::_exit(127);
    }
    return pid;
  }
  TempDir store_;
  NatsServer server_{store_.path()};
  std::unique_ptr<TwoHosts> hosts_;
};

TEST_P(BridgeCompactionKillTest, ASigkillDuringTheRecordsCompactionLosesAndDuplicatesNothing) {
  const KillPoint& k = GetParam();
  // One batch in flight (inbound_window = 1): with more, the batches
  // delivered after the one being compacted would be duplicated by the kill
  // (up to the window, as any B kill may; bridge_window_test), hiding what
  // this test looks at, the compaction's own kill points.
  hosts_ = std::make_unique<TwoHosts>(server_.url(), "record_compact_above = 64\ninbound_window = 1\n");
  ASSERT_TRUE(hosts_->OpenActor().ok());
  hosts_->a().Start();
  ASSERT_TRUE(hosts_->WaitForProxy()) << hosts_->Logs();
  const auto sent = hosts_->Send(4, 150, 30);  // they wait in the stream: B is not running yet
  ASSERT_EQ(sent.size(), 600u) << hosts_->Logs();
  const int64_t created = StreamCreated(server_.url());
  ASSERT_GT(created, 0) << "no stream info for MQ";
  const std::string dir = hosts_->b_state() + "/in";
  const std::string record = dir + "/MQ-" + std::to_string(created) + ".orders.delivered";
  hosts_->StartReceiving();
  const pid_t traced = StartTraced(k, k.on_new_file ? record + ".new" : dir, hosts_->File("b.log"));
  ASSERT_GT(traced, 0);
  const int st = WaitPidFor(traced, 30000);
  if (st == -1) {
    ::kill(traced, SIGKILL);  // strace, and with it the bridge it traces
    (void)WaitPidFor(traced, 10000);
    (void)hosts_->StopReceiving({}, 0, 0);
    FAIL() << "the bridge did not reach " << k.syscall << " #" << k.when << " of its compaction in 30 s\n"
           << hosts_->Logs();
  }
  // strace ends as its tracee did: killed by SIGKILL.
  EXPECT_TRUE((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL))
      << "wait status " << st << "\n" << hosts_->Logs();
  struct stat sb;
  EXPECT_EQ(::stat((record + ".new").c_str(), &sb) == 0, k.new_file_left)
      << "the kill did not fall where " << k.name << " says";
  EXPECT_EQ(::stat(record.c_str(), &sb), 0) << record;
  ASSERT_TRUE(DeleteConsumer(server_.url())) << "B's consumer mqbridge-1-B-orders is not on the server";
  hosts_->b().Start();
  const Received got = hosts_->StopReceiving(sent, 30, 500);
  int lost = 0, twice = 0;
  for (const auto& p : sent) {
    const auto it = got.count.find(p);
    if (it == got.count.end()) ++lost;
    else if (it->second > 1) ++twice;
  }
  EXPECT_EQ(lost, 0) << hosts_->Logs();
  EXPECT_EQ(twice, 0) << hosts_->Logs();
  EXPECT_EQ(got.count.size(), sent.size());
  for (const auto& [sender, order] : got.order)
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "sender " << sender << " out of order";
}

INSTANTIATE_TEST_SUITE_P(KillPoints, BridgeCompactionKillTest, ::testing::ValuesIn(kPoints),
                         [](const ::testing::TestParamInfo<KillPoint>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace mq::test
