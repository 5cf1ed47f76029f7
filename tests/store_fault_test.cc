// I/O faults (issue 6 item 5, for the store): ENOSPC and EIO on write, on
// fdatasync and on a directory fsync, injected with FaultEnv. And the claims
// FaultEnv itself makes, since the crash tests rest on them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fault_env.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

using test::Fault;
using test::FaultEnv;
using test::PowerLossOptions;

using Pending = std::vector<std::pair<uint64_t, std::string>>;

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------
// FaultEnv's own promises.

class FaultEnvTest : public ::testing::Test {
 protected:
  std::unique_ptr<File> Create(const std::string& path) {
    std::unique_ptr<File> f;
    EXPECT_TRUE(env_.OpenFile(path, OpenMode::kCreateNew, 0600).MoveTo(&f).ok());
    return f;
  }
  void Write(File* f, uint64_t off, const std::string& s) { ASSERT_TRUE(f->Write(off, s.data(), s.size()).ok()); }
  test::TempDir dir_;
  FaultEnv env_;
};

TEST_F(FaultEnvTest, PowerLossKeepsSyncedBytesAndDropsLaterWrites) {
  const std::string p = dir_.File("f");
  {
    auto f = Create(p);
    Write(f.get(), 0, "durable;");
    ASSERT_TRUE(f->Sync().ok());
    ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
    Write(f.get(), 8, "lost");
    Write(f.get(), 0, "X");
  }
  EXPECT_EQ(test::ReadFileOrDie(p), "Xurable;lost");
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(test::ReadFileOrDie(p), "durable;");
}

TEST_F(FaultEnvTest, TornWriteKeepsOnlyAPrefixOfTheFirstUnsyncedWrite) {
  const std::string p = dir_.File("f");
  {
    auto f = Create(p);
    Write(f.get(), 0, "head");
    ASSERT_TRUE(f->Sync().ok());
    ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
    Write(f.get(), 4, "0123456789");
    Write(f.get(), 14, "second write");
  }
  ASSERT_TRUE(env_.SimulatePowerLoss(PowerLossOptions{true, 0.3}).ok());
  EXPECT_EQ(test::ReadFileOrDie(p), "head012");
}

TEST_F(FaultEnvTest, PowerLossRemovesAFileWhoseDirectoryWasNotSynced) {
  const std::string p = dir_.File("f");
  {
    auto f = Create(p);
    Write(f.get(), 0, "synced data, unsynced name");
    ASSERT_TRUE(f->Sync().ok());
  }
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_FALSE(test::FileExists(p));
}

TEST_F(FaultEnvTest, PowerLossUndoesARenameAndARemoveWhoseDirectoryWasNotSynced) {
  const std::string a = dir_.File("a"), b = dir_.File("b"), c = dir_.File("c");
  test::WriteFileOrDie(a, "old a");  // there before FaultEnv looked: durable
  test::WriteFileOrDie(c, "old c");
  {
    auto f = Create(b);
    Write(f.get(), 0, "new b");
    ASSERT_TRUE(f->Sync().ok());
    ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  }
  ASSERT_TRUE(env_.Rename(b, a).ok());
  ASSERT_TRUE(env_.Remove(c).ok());
  EXPECT_EQ(test::ReadFileOrDie(a), "new b");
  EXPECT_FALSE(test::FileExists(c));
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(test::ReadFileOrDie(a), "old a");
  EXPECT_EQ(test::ReadFileOrDie(b), "new b");
  EXPECT_EQ(test::ReadFileOrDie(c), "old c");
}

TEST_F(FaultEnvTest, ASyncedRenameSurvivesPowerLoss) {
  const std::string a = dir_.File("a"), b = dir_.File("b");
  test::WriteFileOrDie(a, "old a");
  {
    auto f = Create(b);
    Write(f.get(), 0, "new b");
    ASSERT_TRUE(f->Sync().ok());
  }
  ASSERT_TRUE(env_.Rename(b, a).ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_EQ(test::ReadFileOrDie(a), "new b");
  EXPECT_FALSE(test::FileExists(b));
}

TEST_F(FaultEnvTest, CrashFailsTheChosenOperationAndEveryLaterOne) {
  const std::string p = dir_.File("f");
  auto f = Create(p);  // operation 1
  env_.CrashAtOperation(3);
  Write(f.get(), 0, "one");                                   // 2
  EXPECT_FALSE(f->Write(3, "two", 3).ok());                   // 3: the crash
  EXPECT_TRUE(env_.crashed());
  EXPECT_TRUE(Contains(env_.crash_point(), "operation 3: write at offset 3"));
  EXPECT_FALSE(f->Sync().ok());
  char buf[8];
  size_t got = 0;
  Status s = f->Read(0, 3, buf, &got);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_TRUE(Contains(s.message(), "simulated crash"));
  EXPECT_FALSE(env_.Stat(p).ok());
  EXPECT_EQ(env_.operations(), 4u);
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_FALSE(test::FileExists(p));  // never synced, never dir-synced
  EXPECT_FALSE(f->Write(0, "x", 1).ok()) << "a handle from before the power loss must not write";
  EXPECT_EQ(env_.operations(), 1u);
}

TEST_F(FaultEnvTest, BootIdChangesWithEveryPowerLoss) {
  const std::string b0 = env_.BootId();
  EXPECT_EQ(b0, Env::Default()->BootId());
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  const std::string b1 = env_.BootId();
  ASSERT_TRUE(env_.SimulatePowerLoss().ok());
  EXPECT_NE(b1, b0);
  EXPECT_NE(env_.BootId(), b1);
  EXPECT_EQ(env_.power_losses(), 2u);
}

TEST_F(FaultEnvTest, InjectedErrorsCarryTheirErrnoAndNameTheFile) {
  const std::string p = dir_.File("f");
  auto f = Create(p);
  env_.InjectWriteFault(Fault::Nth(ENOSPC, 2));
  Write(f.get(), 0, "first");
  Status s = f->Write(5, "second", 6);
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  EXPECT_TRUE(Contains(s.message(), p)) << s.message();
  EXPECT_TRUE(Contains(s.message(), std::strerror(ENOSPC))) << s.message();
  Write(f.get(), 5, "third");  // not persistent: only the 2nd failed
  env_.InjectSyncFault(Fault::From(EIO));
  EXPECT_EQ(f->Sync().sys_errno(), EIO);
  EXPECT_EQ(f->Sync().sys_errno(), EIO);
  env_.ClearFaults();
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_EQ(env_.injected_failures(), 3u);
  EXPECT_EQ(test::ReadFileOrDie(p), "firstthird");
}

// ---------------------------------------------------------------------------
// The store under faults. Every test runs with sync=always, so an OK append
// or consume is durable, and checks that after a simulated power loss too.

class StoreFaultTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }

  StoreOptions Options() {
    StoreOptions o;
    o.sync = SyncPolicy::kAlways;
    o.auto_compact = false;
    o.key = KeyExtractor::UntilDelimiter(':');
    o.env = &env_;
    return o;
  }
  std::unique_ptr<Store> OpenOrDie() {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Options()).MoveTo(&s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  static Pending PendingOf(Store* s) {
    Pending out;
    Status st = s->ScanPending(0, [&](const MessageView& v) {
      out.emplace_back(v.seq, std::string(v.payload));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  // Appends and remembers what was acknowledged.
  void AppendOrDie(Store* s, const std::string& payload) {
    uint64_t seq = 0;
    Status st = s->Append(payload).MoveTo(&seq);
    ASSERT_TRUE(st.ok()) << st.ToString();
    acked_.emplace_back(seq, payload);
  }
  // The error an injected fault must surface as: an I/O error with the
  // fault's errno, naming `file`.
  void ExpectFault(const Status& st, int err, const std::string& file) {
    EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
    EXPECT_EQ(st.sys_errno(), err) << st.ToString();
    EXPECT_TRUE(Contains(st.message(), file)) << st.ToString();
  }
  // Loses power, reopens, and returns what is pending.
  Pending PendingAfterPowerLoss() {
    EXPECT_TRUE(env_.SimulatePowerLoss().ok());
    auto s = OpenOrDie();
    if (s == nullptr) return {};
    return PendingOf(s.get());
  }

  test::TempDir dir_;
  FaultEnv env_;
  std::string path_;
  Pending acked_;
};

std::string ErrnoName(const ::testing::TestParamInfo<int>& info) {
  return info.param == ENOSPC ? "ENOSPC" : info.param == EIO ? "EIO" : std::to_string(info.param);
}

TEST_P(StoreFaultTest, AFailedAppendWriteNamesTheLogAndLosesNothingAndAppendsResumeWhenSpaceReturns) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  AppendOrDie(s.get(), "b:1");
  AppendOrDie(s.get(), "a:2");
  env_.InjectWriteFault(Fault::From(err));
  uint64_t seq = 0;
  ExpectFault(s->Append("x:lost").MoveTo(&seq), err, path_);
  std::vector<std::string_view> batch = {"x:1", "x:2"};
  ExpectFault(s->AppendBatch(batch).MoveTo(&seq), err, path_);
  // Still deliverable, by every kind of read.
  EXPECT_EQ(PendingOf(s.get()), acked_);
  Message m;
  ASSERT_TRUE(s->FirstByKey("a", &m).ok());
  EXPECT_EQ(m.payload, "a:1");
  ASSERT_TRUE(s->Get(3, &m).ok());
  EXPECT_EQ(m.payload, "a:2");

  env_.ClearFaults();  // space returns
  AppendOrDie(s.get(), "c:1");
  EXPECT_EQ(acked_.back().first, 4u) << "failed appends must not use up sequence numbers";
  ASSERT_TRUE(s->Consume(2).ok());
  acked_.erase(acked_.begin() + 1);
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, AnAppendThatFailsHalfWrittenIsCutOrOverwrittenAndNothingIsLost) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  env_.InjectWriteFault(Fault::Nth(err).HalfWritten());
  uint64_t seq = 0;
  ExpectFault(s->Append("x:a message whose first half reached the file").MoveTo(&seq), err, path_);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  // The half-written bytes lie past the end the store knows: the next open
  // keeps them in a side file and the log is whole again.
  s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  EXPECT_GT(s->open_report().tail_cut_bytes, 0u);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  env_.InjectWriteFault(Fault::Nth(err).HalfWritten());
  ExpectFault(s->Append("y:another message whose first half reached the file").MoveTo(&seq), err, path_);
  AppendOrDie(s.get(), "z:a longer message that covers every byte the failed append left behind");
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().tail_cut_bytes, 0u) << "the next append overwrote the half-written bytes";
  EXPECT_EQ(PendingOf(s.get()), acked_);
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, AFailedFdatasyncFailsTheAppendAndRefusesWritesUntilReopen) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  AppendOrDie(s.get(), "b:1");
  env_.InjectSyncFault(Fault::Nth(err));
  uint64_t seq = 0;
  Status st = s->Append("c:unconfirmed").MoveTo(&seq);
  ExpectFault(st, err, path_);
  EXPECT_TRUE(Contains(st.message(), "reopen")) << st.ToString();

  env_.ClearFaults();  // even with the disk healthy again, this Store object refuses writes
  Status again = s->Append("d:refused").MoveTo(&seq);
  EXPECT_EQ(again.code(), Status::Code::kIOError);
  EXPECT_TRUE(Contains(again.message(), "fdatasync failed")) << again.ToString();
  EXPECT_FALSE(s->Consume(1).ok());
  CompactionResult r;
  EXPECT_FALSE(s->Compact().MoveTo(&r).ok());
  EXPECT_FALSE(s->Sync().ok());
  // Reads go on.
  Message m;
  ASSERT_TRUE(s->Get(1, &m).ok());
  EXPECT_EQ(m.payload, "a:1");
  ASSERT_TRUE(s->FirstByKey("b", &m).ok());
  EXPECT_EQ(m.seq, 2u);
  EXPECT_FALSE(s->Close().ok()) << "closing must report that the log is not known to be durable";
  s.reset();

  s = OpenOrDie();  // the reopen reads the log from disk and accepts writes again
  ASSERT_NE(s, nullptr);
  Pending now = PendingOf(s.get());
  ASSERT_GE(now.size(), 2u);
  EXPECT_EQ(Pending(now.begin(), now.begin() + 2), acked_);
  AppendOrDie(s.get(), "e:1");
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  Pending after = PendingAfterPowerLoss();
  for (const auto& a : acked_) EXPECT_NE(std::find(after.begin(), after.end(), a), after.end()) << a.second;
}

TEST_P(StoreFaultTest, AFailedFdatasyncOnConsumeLeavesTheMessagePendingOrConsumedAndLosesNothingElse) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  AppendOrDie(s.get(), "b:1");
  env_.InjectSyncFault(Fault::Nth(err));
  ExpectFault(s->Consume(1), err, path_);
  env_.ClearFaults();
  EXPECT_FALSE(s->Consume(2).ok()) << "writes are refused after a failed fdatasync";
  Message m;
  ASSERT_TRUE(s->Get(2, &m).ok());
  EXPECT_FALSE(s->Close().ok());
  s.reset();
  Pending after = PendingAfterPowerLoss();
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back(), acked_[1]);
  if (after.size() == 2) {
    EXPECT_EQ(after.front(), acked_[0]);
  }
}

TEST_P(StoreFaultTest, AFailedConsumeWriteLeavesTheMessagePendingAndTheStoreUsable) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  AppendOrDie(s.get(), "a:2");
  env_.InjectWriteFault(Fault::Nth(err));
  ExpectFault(s->Consume(1), err, path_);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  Message m;
  ASSERT_TRUE(s->FirstByKey("a", &m).ok());
  EXPECT_EQ(m.seq, 1u);
  ASSERT_TRUE(s->Consume(1).ok()) << "a write error is not final: the next consume works";
  acked_.erase(acked_.begin());
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, AConsumeFirstWhoseWriteFailsLeavesTheMessagePendingAndOneThatReturnsSurvivesPowerLoss) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  AppendOrDie(s.get(), "a:2");
  env_.InjectWriteFault(Fault::Nth(err));
  Message m;
  ExpectFault(s->ConsumeFirst(&m), err, path_);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  ASSERT_TRUE(s->ConsumeFirst(&m).ok()) << "a write error is not final: the next one works";
  EXPECT_EQ(m.seq, 1u);
  acked_.erase(acked_.begin());
  // The process dies here: under kAlways the consume was durable when it
  // returned, so nothing the store would do at close may be needed.
  env_.CrashNow();
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, ACompactionThatFailsToWriteChangesNothingAndRemovesItsTemporaryFile) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  for (int i = 1; i <= 6; ++i) AppendOrDie(s.get(), "k:" + std::to_string(i));
  for (uint64_t seq : {1, 3, 5}) ASSERT_TRUE(s->Consume(seq).ok());
  acked_ = {acked_[1], acked_[3], acked_[5]};
  const uint64_t bytes = s->Stats().file_bytes;
  env_.InjectWriteFault(Fault::From(err).OnlyPaths(".compact"));
  CompactionResult r;
  ExpectFault(s->Compact().MoveTo(&r), err, path_ + ".compact");
  EXPECT_FALSE(test::FileExists(path_ + ".compact")) << "a failed compaction must not keep holding disk space";
  EXPECT_EQ(s->Stats().file_bytes, bytes);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  AppendOrDie(s.get(), "k:7");
  ASSERT_TRUE(s->Consume(2).ok());
  acked_.erase(acked_.begin());

  env_.ClearFaults();
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(r.messages_dropped, 4u);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, ACompactionWhoseFdatasyncFailsKeepsTheOldLogAndTheStoreUsable) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  for (int i = 1; i <= 4; ++i) AppendOrDie(s.get(), "k:" + std::to_string(i));
  ASSERT_TRUE(s->Consume(2).ok());
  acked_.erase(acked_.begin() + 1);
  env_.InjectSyncFault(Fault::Nth(err).OnlyPaths(".compact"));
  CompactionResult r;
  ExpectFault(s->Compact().MoveTo(&r), err, path_ + ".compact");
  EXPECT_FALSE(test::FileExists(path_ + ".compact"));
  EXPECT_EQ(PendingOf(s.get()), acked_);
  AppendOrDie(s.get(), "k:5");
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, AFailedDirectorySyncAfterCompactionsRenameRefusesWritesUntilReopenAndLosesNothing) {
  const int err = GetParam();
  auto s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  for (int i = 1; i <= 4; ++i) AppendOrDie(s.get(), "k:" + std::to_string(i));
  ASSERT_TRUE(s->Consume(1).ok());
  acked_.erase(acked_.begin());
  env_.InjectSyncDirFault(Fault::Nth(err));
  CompactionResult r;
  Status st = s->Compact().MoveTo(&r);
  ExpectFault(st, err, dir_.path());
  EXPECT_TRUE(Contains(st.message(), "reopen")) << st.ToString();
  env_.ClearFaults();
  // The new log has the name, but its rename is not known to be durable and
  // this Store object still holds the old file: it must not take writes.
  uint64_t seq = 0;
  EXPECT_FALSE(s->Append("k:refused").MoveTo(&seq).ok());
  EXPECT_FALSE(s->Consume(2).ok());
  EXPECT_EQ(PendingOf(s.get()), acked_);
  (void)s->Close();
  s.reset();
  s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(PendingOf(s.get()), acked_);
  AppendOrDie(s.get(), "k:after reopen");
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, CreatingAQueueWithoutSpaceFailsNamingItAndWorksOnceSpaceReturns) {
  const int err = GetParam();
  env_.InjectWriteFault(Fault::From(err));
  std::unique_ptr<Store> s;
  ExpectFault(Store::Open(path_, Options()).MoveTo(&s), err, path_);
  EXPECT_EQ(s, nullptr);
  env_.ClearFaults();
  s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  AppendOrDie(s.get(), "a:1");
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  EXPECT_EQ(PendingAfterPowerLoss(), acked_);
}

TEST_P(StoreFaultTest, ARecoveryThatCannotSaveATornTailLeavesTheLogAsItWas) {
  const int err = GetParam();
  {
    auto s = OpenOrDie();
    ASSERT_NE(s, nullptr);
    AppendOrDie(s.get(), "a:1");
    AppendOrDie(s.get(), "a:2");
    ASSERT_TRUE(s->Close().ok());
  }
  std::string log = test::ReadFileOrDie(path_);
  log.append("\x6d\x71\x4d\x01\x0c\x00\x00\x00torn", 12);  // the start of a meta record, cut short
  test::WriteFileOrDie(path_, log);

  env_.InjectWriteFault(Fault::From(err).OnlyPaths(".cut-"));
  std::unique_ptr<Store> s;
  ExpectFault(Store::Open(path_, Options()).MoveTo(&s), err, path_ + ".cut-");
  EXPECT_EQ(test::ReadFileOrDie(path_), log) << "the torn tail must not be cut before it is saved";

  env_.ClearFaults();
  s = OpenOrDie();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->open_report().tail_cut_bytes, 12u);
  EXPECT_EQ(PendingOf(s.get()), acked_);
}

INSTANTIATE_TEST_SUITE_P(Errno, StoreFaultTest, ::testing::Values(ENOSPC, EIO), ErrnoName);

}  // namespace
}  // namespace mq
