// A queue in a directory another user can write (0777, not sticky): that
// user (a child switched to nobody) plants symlinks under the names the
// store and mqtool use, pointing at a file of root's. Every operation by
// root then fails with an error naming the link, or works around it; none
// writes through the link, and root's file keeps every byte
// (docs/design.md, "Files in a shared directory").
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "mq/store.h"
#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

class FileTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as nobody";
    ASSERT_EQ(::chmod(shared_.path().c_str(), 0777), 0);  // anyone may write, not sticky
    ASSERT_EQ(::chmod(private_.path().c_str(), 0755), 0);
    q_ = shared_.File("Q");
    secret_ = private_.File("secret");
    SetSecret("root's secret: do not overwrite\n");
  }
  void SetSecret(const std::string& bytes) {
    WriteFileOrDie(secret_, bytes);
    ASSERT_EQ(::chmod(secret_.c_str(), 0600), 0);
    secret_bytes_ = bytes;
  }
  // As nobody: `name` in the shared directory becomes a symlink to the
  // secret (replacing whatever root had there: the directory allows it).
  void Plant(const std::string& name) {
    const std::string link = shared_.File(name);
    const std::string target = secret_;
    ASSERT_EQ(AsNobody([&] {
                (void)::unlink(link.c_str());
                return ::symlink(target.c_str(), link.c_str()) == 0 ? 0 : 1;
              }),
              0)
        << "nobody could not plant " << link;
  }
  void ExpectSecretUnchanged() {
    EXPECT_EQ(ReadFileOrDie(secret_), secret_bytes_) << "root wrote through a planted link";
    struct stat st;
    ASSERT_EQ(::lstat(secret_.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
  }
  Status OpenQ(std::unique_ptr<Store>* st, RecoveryMode mode = RecoveryMode::kTolerateTornTail) {
    StoreOptions o;
    o.recovery = mode;
    return Store::Open(q_, o).MoveTo(st);
  }
  void MakeQ(int n) {
    std::unique_ptr<Store> st;
    ASSERT_TRUE(OpenQ(&st).ok());
    for (int i = 0; i < n; ++i) {
      uint64_t seq;
      ASSERT_TRUE(st->Append("m" + std::to_string(i)).MoveTo(&seq).ok());
    }
    ASSERT_TRUE(st->Close().ok());
  }

  TempDir shared_, private_;
  std::string q_, secret_, secret_bytes_;
};

TEST_F(FileTrustTest, PlantedLockSymlinkIsRefusedByNameAndNotWrittenThrough) {
  MakeQ(2);
  Plant("Q.lock");
  std::unique_ptr<Store> st;
  Status s = OpenQ(&st);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("Q.lock"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("symbolic link"), std::string::npos) << s.ToString();
  ExpectSecretUnchanged();
}

TEST_F(FileTrustTest, PlantedCompactionTempSymlinkIsReplacedNotWrittenThrough) {
  MakeQ(3);
  std::unique_ptr<Store> st;
  ASSERT_TRUE(OpenQ(&st).ok());
  ASSERT_TRUE(st->Consume(1).ok());
  Plant("Q.compact");  // after the open, which removes a leftover temp file
  CompactionResult r;
  ASSERT_TRUE(st->Compact().MoveTo(&r).ok());
  EXPECT_EQ(r.messages_kept, 2u);
  ASSERT_TRUE(st->Close().ok());
  ExpectSecretUnchanged();
  struct stat qs;
  ASSERT_EQ(::lstat(q_.c_str(), &qs), 0);
  EXPECT_TRUE(S_ISREG(qs.st_mode)) << "the queue became a symlink";
  EXPECT_EQ(qs.st_uid, 0u);
  ASSERT_TRUE(OpenQ(&st).ok());
  Message m;
  ASSERT_TRUE(st->FirstPending(&m).ok());
  EXPECT_EQ(m.seq, 2u);
}

TEST_F(FileTrustTest, PlantedIndexSymlinkIsRefusedByNameAndNotWrittenThrough) {
  SetSecret("");  // LMDB would write its meta pages into an empty file
  MakeQ(2);
  Plant("Q.idx");
  std::unique_ptr<Store> st;
  Status s = OpenQ(&st);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("Q.idx"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("symbolic link"), std::string::npos) << s.ToString();
  ExpectSecretUnchanged();
}

TEST_F(FileTrustTest, PlantedIndexLockSymlinkIsRefusedByNameAndNotWrittenThrough) {
  MakeQ(2);
  Plant("Q.idx-lock");
  std::unique_ptr<Store> st;
  Status s = OpenQ(&st);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("Q.idx-lock"), std::string::npos) << s.ToString();
  ExpectSecretUnchanged();
}

TEST_F(FileTrustTest, ReadOnlyToolsDoNotWriteThroughAPlantedIndexLock) {
  MakeQ(2);
  Plant("Q.idx-lock");
  for (const char* cmd : {"stat", "dump", "check"}) {
    ToolRun r = RunTool({cmd, q_});
    EXPECT_EQ(r.signal, 0) << cmd;
    ExpectSecretUnchanged();
  }
}

TEST_F(FileTrustTest, QueueThatIsASymlinkIsRefusedByNameAndNotWrittenThrough) {
  // The secret is a queue of root's: opening through the link would append to it.
  {
    ASSERT_EQ(::unlink(secret_.c_str()), 0);
    std::unique_ptr<Store> st;
    StoreOptions o;
    o.file_mode = 0600;
    ASSERT_TRUE(Store::Open(secret_, o).MoveTo(&st).ok());
    uint64_t seq;
    ASSERT_TRUE(st->Append("root's message").MoveTo(&seq).ok());
    ASSERT_TRUE(st->Close().ok());
    secret_bytes_ = ReadFileOrDie(secret_);
  }
  Plant("Q");
  std::unique_ptr<Store> st;
  Status s = OpenQ(&st);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find(q_ + ": is a symbolic link"), std::string::npos) << s.ToString();
  ToolRun r = RunTool({"recv", q_});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  ExpectSecretUnchanged();
}

TEST_F(FileTrustTest, EveryMqtoolCommandRefusesASymlinkedQueueByName) {
  ASSERT_EQ(::unlink(secret_.c_str()), 0);
  MakeQueue(secret_, {"root's message"});
  secret_bytes_ = ReadFileOrDie(secret_);
  Plant("Q");
  for (const char* cmd : {"recv", "dump", "stat", "check", "compact", "recover"}) {
    ToolRun r = RunTool({cmd, q_});
    EXPECT_EQ(r.exit_code, 3) << cmd << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(q_ + ": is a symbolic link"), std::string::npos) << cmd << ": " << r.err;
    ExpectSecretUnchanged();
  }
}

TEST_F(FileTrustTest, PlantedSideFileNameIsSkippedNotWrittenThrough) {
  MakeQ(2);
  const uint64_t size = ReadFileOrDie(q_).size();
  {
    std::string bytes = ReadFileOrDie(q_);
    WriteFileOrDie(q_, bytes + std::string(7, '\x5a'));  // a torn tail at `size`
  }
  Plant("Q.cut-" + std::to_string(size));
  std::unique_ptr<Store> st;
  ASSERT_TRUE(OpenQ(&st).ok());
  EXPECT_EQ(st->open_report().side_files.size(), 1u);
  ASSERT_TRUE(st->Close().ok());
  ExpectSecretUnchanged();
}

TEST_F(FileTrustTest, PlantedSalvageSideFileIsSkippedNotWrittenThrough) {
  MakeQ(2);
  {
    std::string bytes = ReadFileOrDie(q_);
    bytes[20] ^= 0x55;  // the header's log id: its checksum fails
    WriteFileOrDie(q_, bytes);
  }
  Plant("Q.damaged-0");
  Plant("Q.compact");
  std::unique_ptr<Store> st;
  ASSERT_TRUE(OpenQ(&st, RecoveryMode::kSalvage).ok());
  ASSERT_TRUE(st->Close().ok());
  ExpectSecretUnchanged();
}

}  // namespace
}  // namespace mq::test
