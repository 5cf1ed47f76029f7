// What an idle, nearly empty store costs on disk (issue 23, "Idle cost";
// docs/mailbox.md, "Descriptors and idle cost"). An open and a close make
// as few LMDB write transactions as the trust protocol allows: each one
// copies the pages it changes and leaves the old ones on LMDB's free list
// (reusable two transactions later), and the file keeps its high-water mark.
// The transactions are counted by LMDB's own last transaction id.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

// LMDB's id of the last committed write transaction of the index at `path`
// (the store closed), read through LMDB itself.
size_t LastTxnId(const std::string& path) {
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != 0) return 0;
  size_t id = 0;
  MDB_envinfo info;
  if (mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY, 0600) == 0 && mdb_env_info(env, &info) == 0)
    id = info.me_last_txnid;
  mdb_env_close(env);
  return id;
}

long long FileBytes(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

StoreOptions Options() {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.auto_compact = false;
  return o;
}

std::unique_ptr<Store> Open(const std::string& q) {
  std::unique_ptr<Store> st;
  const Status s = Store::Open(q, Options()).MoveTo(&st);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return st;
}

// A new store's open: one transaction creates the index's tables, and one
// (the in-use mark, the scan and the key extractor's record together)
// writes its meta. Before, five: the tables, the mark, the scan, the record,
// and the close's (four at the end of the open).
TEST(StoreIdleDiskTest, OpeningANewStoreMakesTwoIndexWriteTransactions) {
  test::TempDir dir;
  const std::string q = dir.File("q");
  auto st = Open(q);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(LastTxnId(q + ".idx"), 2u);
  ASSERT_TRUE(st->Close().ok());
  EXPECT_EQ(LastTxnId(q + ".idx"), 3u);  // and the close's clean meta
}

// A reopen of an idle store whose index is trusted: the tables' handles are
// taken in a read transaction, the in-use mark is the scan's commit, and the
// close writes the clean meta. Before, four.
TEST(StoreIdleDiskTest, AReopenAndCloseOfAnIdleStoreMakeTwoIndexWriteTransactions) {
  test::TempDir dir;
  const std::string q = dir.File("q");
  for (int i = 0; i < 2; ++i) {
    auto st = Open(q);
    ASSERT_NE(st, nullptr);
    ASSERT_TRUE(st->Append("m" + std::to_string(i)).ok());
    ASSERT_TRUE(st->Close().ok());
  }
  const size_t before = LastTxnId(q + ".idx");
  ASSERT_GT(before, 0u);
  for (int i = 0; i < 3; ++i) {
    auto st = Open(q);
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->open_report().index_action, IndexAction::kTrusted);
    ASSERT_TRUE(st->Close().ok());
    EXPECT_EQ(LastTxnId(q + ".idx"), before + 2 * (i + 1)) << "reopen " << i;
  }
}

// What those transactions leave on disk: an open, idle new store's index is
// six 4 KiB pages (LMDB's floor is four: two meta pages, the main table's
// root and the meta table's leaf; the second transaction's copy of the root
// leaves the first on the free list, which takes a page of its own). Before,
// eleven. Many reopens stay at three transactions' worth of pages.
TEST(StoreIdleDiskTest, AnOpenIdleNewStoresIndexIsSixPages) {
  test::TempDir dir;
  const std::string q = dir.File("q");
  auto st = Open(q);
  ASSERT_NE(st, nullptr);
  EXPECT_LE(FileBytes(q + ".idx"), 6 * 4096);
  ASSERT_TRUE(st->Close().ok());
  for (int i = 0; i < 20; ++i) {
    auto again = Open(q);
    ASSERT_NE(again, nullptr);
    ASSERT_TRUE(again->Close().ok());
  }
  EXPECT_LE(FileBytes(q + ".idx"), 12 * 4096);
}

}  // namespace
}  // namespace mq
