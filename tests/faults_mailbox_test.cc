// Faults and bad input under a running mailbox (docs/reliability.md, "Faults
// under a running mailbox"): its queue file replaced or truncated by another
// process, its index deleted, a flood from a uid it does not admit, a
// datagram of exactly its maximum size and one byte more, and a socket path
// it may not create. Each test states what the mailbox does and checks that
// no message it confirmed is lost.
//
// The tests that need another uid fork a child that switches to `nobody`
// (CI runs as root); as another user they are skipped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "mailbox_testing.h"
#include "test_util.h"
#include "mq/inspect.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::AsNobody;
using test::kNobody;

// Every payload the queue at `path` holds pending, in order (a mailbox
// without a socket drains it).
std::vector<std::string> PendingPayloads(const std::string& queue) {
  LogSummary sum;
  std::vector<std::string> out;
  Status s = ScanLog(
      queue, {},
      [&](const LogMessage& r) {
        if (!r.consumed) out.emplace_back(r.payload);
        return true;
      }).MoveTo(&sum);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(sum.damage.empty()) << queue << ": " << sum.damage.front().reason;
  return out;
}

class FaultsMailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opt_ = test::OptionsIn(dir_);
    opt_.store.sync = SyncPolicy::kAlways;
  }
  std::unique_ptr<ConfirmedSender> Sender() {
    std::unique_ptr<ConfirmedSender> cs;
    Status s = ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return cs;
  }
  // Sends each payload confirmed; returns those confirmed as stored.
  std::vector<std::string> SendAll(ConfirmedSender* cs, const std::string& prefix, int n) {
    std::vector<std::string> confirmed;
    for (int i = 0; i < n; ++i) {
      uint64_t seq = 0;
      std::string p = prefix + std::to_string(i);
      if (cs->SendConfirmed(p, seconds(10)).MoveTo(&seq).ok()) confirmed.push_back(p);
    }
    return confirmed;
  }
  test::TempDir dir_;
  MailboxOptions opt_;
};

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// ---- the queue file changed by another process ----

TEST_F(FaultsMailboxTest, QueueFileReplacedUnderARunningMailboxStopsItAndLosesNoConfirmedMessage) {
  auto mb = test::OpenMailboxOrDie(opt_);
  auto cs = Sender();
  ASSERT_EQ(SendAll(cs.get(), "before-", 5).size(), 5u);
  // Another process puts a different queue file in its place (keeping a
  // link to the old one, so the test can look at it).
  const std::string old_link = dir_.File("queue.old"), other = dir_.File("other");
  ASSERT_EQ(::link(opt_.queue_path.c_str(), old_link.c_str()), 0) << std::strerror(errno);
  {
    StoreOptions so;
    std::unique_ptr<Store> st;
    ASSERT_TRUE(Store::Open(other, so).MoveTo(&st).ok());
    uint64_t seq;
    ASSERT_TRUE(st->Append("other-0").MoveTo(&seq).ok());
    ASSERT_TRUE(st->Close().ok());
  }
  const std::string replacement = test::ReadFileOrDie(other);
  ASSERT_EQ(::rename(other.c_str(), opt_.queue_path.c_str()), 0);

  const std::vector<std::string> after = SendAll(cs.get(), "after-", 5);
  // The mailbox notices: it stops confirming, says why, and never writes
  // into the file that took its queue's name.
  EXPECT_TRUE(after.empty()) << after.size() << " messages confirmed into a queue file no longer at its path";
  Status is = mb->ingest_status();
  EXPECT_FALSE(is.ok());
  EXPECT_NE(is.message().find("replaced"), std::string::npos) << is.ToString();
  (void)mb->Close();
  mb.reset();
  EXPECT_EQ(test::ReadFileOrDie(opt_.queue_path), replacement) << "the mailbox wrote into the replacement";

  // Everything confirmed is where the mailbox said: before the swap in the
  // old file, after it (nothing) at the path.
  const std::vector<std::string> old_pending = PendingPayloads(old_link);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Contains(old_pending, "before-" + std::to_string(i)));
  const std::vector<std::string> now = PendingPayloads(opt_.queue_path);
  for (const std::string& p : after) EXPECT_TRUE(Contains(now, p)) << p << " was confirmed and is lost";

  // A restarted mailbox serves the replacement.
  auto again = test::OpenMailboxOrDie(opt_);
  EXPECT_EQ(test::ReceivePayloads(again.get(), Pattern::Any(), 1), std::vector<std::string>{"other-0"});
}

TEST_F(FaultsMailboxTest, QueueFileTruncatedUnderARunningMailboxLosesOnlyWhatWasCutAndNothingConfirmedAfter) {
  auto mb = test::OpenMailboxOrDie(opt_);
  auto cs = Sender();
  ASSERT_EQ(SendAll(cs.get(), "before-", 5).size(), 5u);
  // Another process cuts the file in the middle of the third message, 26
  // bytes into its 36 (a sync mark may come before it: log-format.md, "Sync
  // marks"). What it cut is gone: that is damage done outside mq.
  uint64_t third = 0;
  ASSERT_TRUE(ScanLog(opt_.queue_path, {},
                      [&](const LogMessage& r) {
                        if (r.payload == "before-2") third = r.start;
                        return true;
                      })
                  .ok());
  ASSERT_NE(third, 0u);
  const uint64_t cut = third + (36 - 10);
  ASSERT_EQ(::truncate(opt_.queue_path.c_str(), static_cast<off_t>(cut)), 0);
  // The mailbox does not notice at run time: it appends where it left off,
  // past the cut, and what it confirms there is kept.
  const std::vector<std::string> after = SendAll(cs.get(), "after-", 5);
  EXPECT_EQ(after.size(), 5u);
  ASSERT_TRUE(mb->Close().ok());
  mb.reset();
  const std::vector<std::string> intact = {"before-0", "before-1", "after-0", "after-1",
                                           "after-2",  "after-3",  "after-4"};

  // The log shows the cut as damage, from the cut to the first message after it.
  LogSummary sum;
  std::vector<std::string> pending;
  ASSERT_TRUE(ScanLog(opt_.queue_path, {},
                      [&](const LogMessage& r) {
                        if (!r.consumed) pending.emplace_back(r.payload);
                        return true;
                      }).MoveTo(&sum)
                  .ok());
  ASSERT_EQ(sum.damage.size(), 1u);
  EXPECT_EQ(sum.damage[0].offset, cut - (36 - 10));
  EXPECT_FALSE(sum.damage[0].tail);
  EXPECT_EQ(pending, intact);

  // A restarted mailbox (its index trusted) delivers exactly the intact
  // messages: the damaged ones fail their checksums and are never delivered.
  MailboxOptions o = opt_;
  o.socket_path.clear();
  {
    auto again = test::OpenMailboxOrDie(o);
    EXPECT_EQ(again->store()->open_report().index_action, mq::IndexAction::kTrusted);
    std::vector<std::string> got;
    Message m;
    while (got.size() <= intact.size() && again->Take(Pattern::Any(), Mailbox::kPoll, &m).ok())
      got.push_back(m.payload);  // taken, not consumed: all pending again after Close
    EXPECT_EQ(got, intact);
    ASSERT_TRUE(again->Close().ok());
  }
  // Without its index, opening scans the log, finds damage in the middle and
  // refuses, naming salvage; salvage keeps every intact message and moves the
  // damaged bytes to a side file.
  ASSERT_EQ(::unlink(IndexPathFor(opt_.queue_path).c_str()), 0);
  std::unique_ptr<Mailbox> refused;
  Status s = Mailbox::Open(o).MoveTo(&refused);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("salvage"), std::string::npos) << s.ToString();
  o.store.recovery = RecoveryMode::kSalvage;
  auto salvaged = test::OpenMailboxOrDie(o);
  ASSERT_NE(salvaged, nullptr);
  EXPECT_EQ(salvaged->store()->open_report().damaged_regions, 1u);
  EXPECT_EQ(test::ReceivePayloads(salvaged.get(), Pattern::Any(), intact.size()), intact);
  Message m;
  EXPECT_TRUE(salvaged->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
}

TEST_F(FaultsMailboxTest, IndexDeletedUnderARunningMailboxIsRebuiltAtRestartWithNothingLost) {
  auto mb = test::OpenMailboxOrDie(opt_);
  auto cs = Sender();
  ASSERT_EQ(SendAll(cs.get(), "a", 20).size(), 20u);
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 5),
            (std::vector<std::string>{"a0", "a1", "a2", "a3", "a4"}));
  const std::string idx = IndexPathFor(opt_.queue_path);
  ASSERT_EQ(::unlink(idx.c_str()), 0);
  (void)::unlink((idx + "-lock").c_str());
  // It keeps working on the index it has open.
  ASSERT_EQ(SendAll(cs.get(), "b", 20).size(), 20u);
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 5),
            (std::vector<std::string>{"a5", "a6", "a7", "a8", "a9"}));
  ASSERT_TRUE(mb->Close().ok());
  mb.reset();

  mb = test::OpenMailboxOrDie(opt_);
  EXPECT_EQ(mb->store()->open_report().index_action, mq::IndexAction::kRebuilt)
      << mq::DescribeIndexAction(mb->store()->open_report());
  std::vector<std::string> want;
  for (int i = 10; i < 20; ++i) want.push_back("a" + std::to_string(i));
  for (int i = 0; i < 20; ++i) want.push_back("b" + std::to_string(i));
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), want.size()), want);
}

// ---- senders ----

class FaultsOtherUidTest : public FaultsMailboxTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as nobody";
    FaultsMailboxTest::SetUp();
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // nobody may reach the socket
  }
};

TEST_F(FaultsOtherUidTest, FloodFromAnUnadmittedUidIsCountedNeverStoredAndDoesNotStopAdmittedSenders) {
  opt_.socket_mode = 0666;
  auto mb = test::OpenMailboxOrDie(opt_);
  constexpr int kFlood = 20000;
  int counts[2];  // [0]: datagrams the kernel took from nobody
  ASSERT_EQ(::pipe(counts), 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, opt_.socket_path.c_str(), sizeof(addr.sun_path) - 1);
  const std::string junk(512, 'n');
  // The flood: nobody sends as fast as the kernel takes, for up to 10 s.
  std::thread flood([&] {
    int rc = AsNobody([&] {
      int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
      if (fd < 0) return 3;
      int sent = 0;
      const auto end = std::chrono::steady_clock::now() + seconds(10);
      while (sent < kFlood && std::chrono::steady_clock::now() < end) {
        if (::sendto(fd, junk.data(), junk.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr),
                     sizeof(addr)) == static_cast<ssize_t>(junk.size()))
          ++sent;
        else if (errno != EAGAIN)
          return 4;
      }
      return ::write(counts[1], &sent, sizeof(sent)) == sizeof(sent) ? 0 : 5;
    });
    EXPECT_EQ(rc, 0);
  });
  // Meanwhile an admitted sender's confirmed messages all get in.
  auto cs = Sender();
  const std::vector<std::string> ok = SendAll(cs.get(), "root-", 200);
  flood.join();
  int sent = 0;
  ASSERT_EQ(::read(counts[0], &sent, sizeof(sent)), static_cast<ssize_t>(sizeof(sent)));
  ::close(counts[0]);
  ::close(counts[1]);
  EXPECT_EQ(ok.size(), 200u);
  EXPECT_GT(sent, 1000) << "the flood did not flood";
  EXPECT_TRUE(test::WaitUntil([&] { return mb->Stats().rejected_not_admitted == static_cast<uint64_t>(sent); },
                              seconds(20)))
      << mb->Stats().rejected_not_admitted << " of " << sent << " refused";
  EXPECT_EQ(mb->Stats().stored, 200u);
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 200), ok);
  ASSERT_TRUE(mb->Close().ok());
  EXPECT_EQ(PendingPayloads(opt_.queue_path).size(), 0u);
}

TEST_F(FaultsMailboxTest, DatagramOfExactlyTheMaximumIsStoredWholeAndOneByteMoreIsRefusedAndNeverStored) {
  constexpr size_t kMax = 100000;
  opt_.max_message_size = kMax;
  auto mb = test::OpenMailboxOrDie(opt_);
  std::mt19937 rng(7);
  std::string exact(kMax, '\0');
  for (char& c : exact) c = static_cast<char>(rng());
  const std::string over = exact + "!";
  auto cs = Sender();
  uint64_t seq = 0;
  Status s = cs->SendConfirmed(over, seconds(10)).MoveTo(&seq);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge) << s.ToString();
  s = cs->SendConfirmed(exact, seconds(10)).MoveTo(&seq);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(mb->Stats().rejected_too_large, 1u);
  ASSERT_TRUE(mb->Close().ok());
  mb.reset();

  // On disk: one record, the exact payload byte for byte; nothing of the other.
  std::vector<uint64_t> sizes;
  LogSummary sum;
  ASSERT_TRUE(ScanLog(opt_.queue_path, {},
                      [&](const LogMessage& r) {
                        sizes.push_back(r.payload.size());
                        return true;
                      }).MoveTo(&sum)
                  .ok());
  EXPECT_EQ(sizes, std::vector<uint64_t>{kMax});
  mb = test::OpenMailboxOrDie(opt_);
  Message m;
  ASSERT_TRUE(mb->Receive(Pattern::Any(), seconds(5), &m).ok());
  EXPECT_EQ(m.seq, seq);
  EXPECT_TRUE(m.payload == exact) << "the stored payload differs from what was sent";
}

// ---- the socket path ----

TEST_F(FaultsOtherUidTest, SocketPathInADirectoryTheMailboxCannotWriteIsAClearErrorThatLeavesNothing) {
  // nobody owns the queue's directory but may not write the socket's.
  const std::string qdir = dir_.File("q"), sdir = dir_.File("s");
  ASSERT_EQ(::mkdir(qdir.c_str(), 0755), 0);
  ASSERT_EQ(::chown(qdir.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::mkdir(sdir.c_str(), 0755), 0);
  MailboxOptions o = opt_;
  o.queue_path = qdir + "/queue";
  o.socket_path = sdir + "/sock";
  int msg[2];
  ASSERT_EQ(::pipe(msg), 0);
  int rc = AsNobody([&] {
    std::unique_ptr<Mailbox> mb;
    Status s = Mailbox::Open(o).MoveTo(&mb);
    const std::string text = s.ToString() + "|" + std::to_string(s.sys_errno());
    (void)!::write(msg[1], text.data(), text.size());
    return s.ok() ? 1 : 0;
  });
  ::close(msg[1]);
  char buf[4096];
  ssize_t n = ::read(msg[0], buf, sizeof(buf));
  ::close(msg[0]);
  ASSERT_EQ(rc, 0) << "the mailbox opened with a socket in a directory it cannot write";
  const std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  EXPECT_NE(text.find(o.socket_path), std::string::npos) << text;
  EXPECT_NE(text.find("|" + std::to_string(EACCES)), std::string::npos) << text;
  EXPECT_FALSE(test::FileExists(o.socket_path));
  EXPECT_FALSE(test::FileExists(o.queue_path)) << "a refused open created the queue";
}

}  // namespace
}  // namespace mq
