// A queue's directory renamed away after Store::Open, and another directory
// (or a symlink to one) put at its old path by someone who can write the
// parent: the store holds its directory open and names every file relative
// to it (docs/design.md, "Files in a shared directory"), so its later
// appends, syncs, compaction, recovery cut and close act on the original
// directory's files only, and the swapped-in directory is left exactly as it
// was planted.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mq/env.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

namespace fs = std::filesystem;

// Every entry of `dir`: its type and content (a symlink: its target; a
// regular file: its size and a hash of its bytes; anything else: "other").
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_symlink()) {
      out[name] = "link -> " + fs::read_symlink(e.path()).string();
    } else if (e.is_regular_file()) {
      const std::string bytes = test::ReadFileOrDie(e.path().string());
      out[name] = "file of " + std::to_string(bytes.size()) + " bytes, hash " +
                  std::to_string(std::hash<std::string>{}(bytes));
    } else {
      out[name] = "other";
    }
  }
  return out;
}

std::vector<std::string> Pending(const std::string& path) {
  std::unique_ptr<Store> s;
  StoreOptions o;
  o.create_if_missing = false;
  Status st = Store::Open(path, o).MoveTo(&s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<std::string> got;
  if (!st.ok()) return got;
  EXPECT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
    got.emplace_back(v.payload);
    return true;
  }).ok());
  EXPECT_TRUE(s->Close().ok());
  return got;
}

enum class Swap { kDirectory, kSymlinkToDirectory };

class StoreDirSwapTest : public ::testing::TestWithParam<Swap> {
 protected:
  void SetUp() override {
    spool_ = root_.File("spool");
    moved_ = root_.File("moved");
    ASSERT_EQ(::mkdir(spool_.c_str(), 0755), 0);
    victim_ = root_.File("victim");
    test::WriteFileOrDie(victim_, "root's secret\n");
  }

  // Builds the directory that takes the old path: another queue named like
  // ours (with its lock and index), and links planted under the names the
  // store creates later (compaction's temporary, a recovery cut's side file).
  void PlantSwappedIn(const std::string& dir) {
    ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
    {
      std::unique_ptr<Store> other;
      ASSERT_TRUE(Store::Open(dir + "/q", StoreOptions{}).MoveTo(&other).ok());
      uint64_t seq = 0;
      ASSERT_TRUE(other->Append("the other queue's message").MoveTo(&seq).ok());
      ASSERT_TRUE(other->Close().ok());
    }
    for (const char* name : {"q.compact", "q.cut-118", "q.cut-120"})
      ASSERT_EQ(::symlink(victim_.c_str(), (dir + "/" + name).c_str()), 0);
  }

  // Opens spool/q, stores "one" and "two", then swaps the directory.
  void OpenAndSwap() {
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    o.auto_compact = false;
    Status st = Store::Open(spool_ + "/q", o).MoveTo(&s_);
    ASSERT_TRUE(st.ok()) << st.ToString();
    uint64_t seq = 0;
    ASSERT_TRUE(s_->Append("one").MoveTo(&seq).ok());
    ASSERT_TRUE(s_->Append("two").MoveTo(&seq).ok());
    ASSERT_TRUE(s_->Sync().ok());

    // Someone with write access to the parent swaps the directory.
    ASSERT_EQ(::rename(spool_.c_str(), moved_.c_str()), 0);
    if (GetParam() == Swap::kDirectory) {
      PlantSwappedIn(spool_);
    } else {
      const std::string elsewhere = root_.File("elsewhere");
      PlantSwappedIn(elsewhere);
      ASSERT_EQ(::symlink(elsewhere.c_str(), spool_.c_str()), 0);
    }
    planted_ = Snapshot(spool_ + "/");
  }

  // Consumes seq 1 and compacts: a temporary, a rename, a directory sync.
  void ConsumeAndCompact(uint64_t kept) {
    Status st = s_->Consume(1);
    ASSERT_TRUE(st.ok()) << st.ToString();
    CompactionResult cr;
    st = s_->Compact().MoveTo(&cr);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(cr.messages_kept, kept);
    EXPECT_EQ(cr.messages_dropped, 1u);
    EXPECT_EQ(Snapshot(moved_).count("q.compact"), 0u) << "compaction's temporary left behind";
  }

  // A torn tail appended to the (original) log, then a rebuild, which cuts
  // it into a side file beside the log.
  void CutTornTail() {
    const std::string junk = "\x07\x07\x07";
    const std::string before = test::ReadFileOrDie(moved_ + "/q");
    test::WriteFileOrDie(moved_ + "/q", before + junk);
    Status st = s_->RebuildIndex();
    ASSERT_TRUE(st.ok()) << st.ToString();
    const std::map<std::string, std::string> kept = Snapshot(moved_);
    const std::string cut_name = "q.cut-" + std::to_string(before.size());
    ASSERT_EQ(kept.count(cut_name), 1u) << "no side file " << cut_name << " in the original directory";
    EXPECT_EQ(test::ReadFileOrDie(moved_ + "/" + cut_name), junk);
    EXPECT_EQ(test::ReadFileOrDie(moved_ + "/q"), before);
  }

  // The swapped-in directory is exactly as planted, and so is the file its
  // links lead to; the other queue still holds its one message.
  void ExpectSwappedInUntouched() {
    EXPECT_EQ(Snapshot(spool_ + "/"), planted_);
    EXPECT_EQ(test::ReadFileOrDie(victim_), "root's secret\n");
    EXPECT_EQ(Pending(spool_ + "/q"), std::vector<std::string>{"the other queue's message"});
  }

  test::TempDir root_;
  std::string spool_, moved_, victim_;
  std::unique_ptr<Store> s_;
  std::map<std::string, std::string> planted_;
};

TEST_P(StoreDirSwapTest, LaterOperationsActOnTheOriginalDirectoryAndNeverTouchTheSwappedInOne) {
  ASSERT_NO_FATAL_FAILURE(OpenAndSwap());
  // Append + sync.
  uint64_t seq = 0;
  Status st = s_->Append("three").MoveTo(&seq);
  ASSERT_TRUE(st.ok()) << st.ToString();
  st = s_->Sync();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_NO_FATAL_FAILURE(ConsumeAndCompact(2));
  ASSERT_NO_FATAL_FAILURE(CutTornTail());
  st = s_->Close();
  ASSERT_TRUE(st.ok()) << st.ToString();

  ASSERT_NO_FATAL_FAILURE(ExpectSwappedInUntouched());
  EXPECT_EQ(Pending(moved_ + "/q"), (std::vector<std::string>{"two", "three"}));
}

// The same, one operation at a time: a compaction alone, and a recovery cut
// alone (neither checks that the log is still in place, as an append does).
TEST_P(StoreDirSwapTest, CompactionAfterTheSwapWritesOnlyTheOriginalDirectory) {
  ASSERT_NO_FATAL_FAILURE(OpenAndSwap());
  ASSERT_NO_FATAL_FAILURE(ConsumeAndCompact(1));
  Status st = s_->Close();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_NO_FATAL_FAILURE(ExpectSwappedInUntouched());
  EXPECT_EQ(Pending(moved_ + "/q"), std::vector<std::string>{"two"});
}

TEST_P(StoreDirSwapTest, RecoveryCutAfterTheSwapWritesOnlyTheOriginalDirectory) {
  ASSERT_NO_FATAL_FAILURE(OpenAndSwap());
  ASSERT_NO_FATAL_FAILURE(CutTornTail());
  Status st = s_->Close();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_NO_FATAL_FAILURE(ExpectSwappedInUntouched());
  EXPECT_EQ(Pending(moved_ + "/q"), (std::vector<std::string>{"one", "two"}));
}

// A Directory names files only by plain names: anything that could leave
// the held directory ('/', "..") is refused before any system call.
TEST(DirectoryHandleTest, NameThatIsNotPlainIsRefusedAndNothingIsCreated) {
  test::TempDir root;
  const std::string dir = root.File("d");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  std::unique_ptr<Directory> d;
  ASSERT_TRUE(Env::Default()->OpenDirectory(dir).MoveTo(&d).ok());
  for (const std::string name : {"../escaped", "sub/x", "/tmp/abs", "..", ".", ""}) {
    SCOPED_TRACE("name \"" + name + "\"");
    EXPECT_EQ(d->OpenFile(name, OpenMode::kCreateNew, 0600).status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(d->Stat(name).status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(d->Remove(name).code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(d->Rename("x", name).code(), Status::Code::kInvalidArgument);
    pid_t holder = 0;
    EXPECT_EQ(d->LockFile(name, 0600, &holder).status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(d->LockHolder(name), 0);
  }
  EXPECT_TRUE(Snapshot(dir).empty());
  EXPECT_EQ(Snapshot(root.path()).size(), 1u) << "something was created beside the directory";
}

INSTANTIATE_TEST_SUITE_P(Swaps, StoreDirSwapTest, ::testing::Values(Swap::kDirectory, Swap::kSymlinkToDirectory),
                         [](const ::testing::TestParamInfo<Swap>& i) {
                           return i.param == Swap::kDirectory ? "AnotherDirectory" : "SymlinkToAnotherDirectory";
                         });

}  // namespace
}  // namespace mq
