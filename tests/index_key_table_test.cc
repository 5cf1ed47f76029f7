// The index's key table, "kblocks" (store/src/index/index_keys.cc; docs/design.md,
// "The index"): per key, blocks of at most kKeyBlockItems items in seq order,
// each block's seq at most its first item's and above every item of the
// key's previous block. Driven through Index::Write and Index::Read against a
// model, and the blocks checked as LMDB stores them.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "util/coding.h"
#include "index/index.h"
#include "test_util.h"

namespace mq {
namespace {

using Model = std::map<std::string, std::map<uint64_t, uint64_t>>;  // key -> seq -> msg_offset

Loc LocFor(uint64_t seq) { return Loc{seq * 100, static_cast<uint32_t>(seq % 50), true, false}; }

class IndexKeyTableTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenIndex(); }

  void OpenIndex() {
    idx_.reset();
    Status s = Index::Open(path_, false, 0600, &idx_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // One transaction: `fn` gets the write.
  template <typename Fn>
  void InTxn(Fn fn) {
    Index::Write w(idx_.get());
    ASSERT_TRUE(w.Begin().ok());
    fn(&w);
    Status s = w.Commit();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  static void Put(Index::Write* w, Model* m, const std::string& key, uint64_t seq) {
    ASSERT_TRUE(w->Put(seq, LocFor(seq), key, true, true).ok());
    (*m)[key][seq] = LocFor(seq).msg_offset;
  }

  // A run of new items of one key through PutKeyRun, as the index writer does
  // (which knows its runs newer than the table: `newer`).
  static void PutRun(Index::Write* w, Model* m, const std::string& key, const std::vector<uint64_t>& seqs,
                     bool newer = false) {
    std::string items(seqs.size() * kKeyItemSize, '\0');
    for (size_t i = 0; i < seqs.size(); ++i) {
      ASSERT_TRUE(w->PutSeq(seqs[i], LocFor(seqs[i]), key, true, true).ok());
      EncodeKeyItem(seqs[i], LocFor(seqs[i]), key, items.data() + i * kKeyItemSize);
      (*m)[key][seqs[i]] = LocFor(seqs[i]).msg_offset;
    }
    ASSERT_TRUE(w->PutKeyRun(key, items.data(), seqs.size(), newer).ok());
  }

  static void Delete(Index::Write* w, Model* m, uint64_t seq) {
    bool found = false;
    ASSERT_TRUE(w->Delete(seq, &found).ok());
    bool in_model = false;
    for (auto& [key, items] : *m) in_model |= items.erase(seq) > 0;
    EXPECT_EQ(found, in_model) << seq;
  }

  // What a walk of `key` from `from` returns: seq -> msg_offset.
  std::map<uint64_t, uint64_t> Walk(const std::string& key, uint64_t from) {
    std::map<uint64_t, uint64_t> out;
    Index::Read r(idx_.get());
    EXPECT_TRUE(r.Begin().ok());
    EXPECT_TRUE(r.SeekKey(key, from).ok());
    uint64_t prev = 0;
    while (r.Valid()) {
      EXPECT_GT(r.seq(), prev) << key;
      EXPECT_EQ(r.key(), key);
      prev = r.seq();
      out[r.seq()] = r.loc().msg_offset;
      EXPECT_EQ(r.loc().size, LocFor(r.seq()).size);
      EXPECT_TRUE(r.NextKey().ok());
    }
    return out;
  }

  // Every key of the model walked from every `step`-th seq (and past the end).
  void ExpectWalksMatch(const Model& m, uint64_t max_seq, uint64_t step) {
    for (const auto& [key, items] : m) {
      for (uint64_t from = 0; from <= max_seq + 1; from += step) {
        std::map<uint64_t, uint64_t> want(items.lower_bound(from), items.end());
        ASSERT_EQ(Walk(key, from), want) << key << " from " << from;
      }
    }
  }

  // The key table as LMDB holds it, checked block by block: key -> seqs.
  std::map<std::string, std::vector<uint64_t>> Blocks() {
    idx_.reset();  // one environment per file and process
    std::map<std::string, std::vector<uint64_t>> out;
    MDB_env* env = nullptr;
    EXPECT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 8);
    EXPECT_EQ(mdb_env_open(env, path_.c_str(), MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
    MDB_txn* txn = nullptr;
    EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
    MDB_dbi dbi;
    EXPECT_EQ(mdb_dbi_open(txn, "kblocks", 0, &dbi), 0);
    MDB_cursor* c = nullptr;
    EXPECT_EQ(mdb_cursor_open(txn, dbi, &c), 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      const char* kp = static_cast<const char*>(k.mv_data);
      const size_t len = (static_cast<uint8_t>(kp[0]) << 8) | static_cast<uint8_t>(kp[1]);
      EXPECT_EQ(k.mv_size, 2 + len + 8);
      const std::string key(kp + 2, len);
      const uint64_t block_seq = DecodeBigEndian64(kp + 2 + len);
      const size_t n = v.mv_size / kKeyItemSize;
      EXPECT_EQ(v.mv_size % kKeyItemSize, 0u);
      EXPECT_GE(n, 1u) << "an empty block of " << key;
      EXPECT_LE(n, kKeyBlockItems) << key;
      std::vector<uint64_t>& seqs = out[key];
      if (!seqs.empty()) {
        EXPECT_LT(seqs.back(), block_seq) << key << ": blocks overlap";
      }
      for (size_t i = 0; i < n; ++i) {
        const uint64_t seq = DecodeBigEndian64(static_cast<const char*>(v.mv_data) + i * kKeyItemSize);
        if (i == 0) {
          EXPECT_LE(block_seq, seq) << key << ": a block's seq above its first item";
        }
        if (!seqs.empty()) {
          EXPECT_LT(seqs.back(), seq) << key;
        }
        seqs.push_back(seq);
      }
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    OpenIndex();
    return out;
  }

  static std::map<std::string, std::vector<uint64_t>> SeqsOf(const Model& m) {
    std::map<std::string, std::vector<uint64_t>> out;
    for (const auto& [key, items] : m)
      for (const auto& [seq, off] : items) out[key].push_back(seq);
    for (auto it = out.begin(); it != out.end();) it = it->second.empty() ? out.erase(it) : std::next(it);
    return out;
  }

  test::TempDir dir_;
  std::string path_ = dir_.File("q.idx");
  std::unique_ptr<Index> idx_;
};

TEST_F(IndexKeyTableTest, RunsOfOneKeyFillItsLastBlockThenNewOnesAndWalkFromAnySeq) {
  Model m;
  uint64_t seq = 0;
  // Runs of 1, 5, 40, 63, 64, 65, 200 items per key, over several
  // transactions, for keys that are prefixes of one another (a key's blocks
  // must not mix with its neighbours'), said to be newer or not.
  for (bool newer : {false, true}) {
    for (size_t run : {1, 5, 40, 63, 64, 65, 200}) {
      InTxn([&](Index::Write* w) {
        for (const std::string key : {"a", "ab", "b", ""}) {
          std::vector<uint64_t> seqs;
          for (size_t i = 0; i < run; ++i) seqs.push_back(++seq);
          PutRun(w, &m, key, seqs, newer);
        }
      });
    }
  }
  ExpectWalksMatch(m, seq, 7);
  const auto blocks = Blocks();
  EXPECT_EQ(blocks, SeqsOf(m));
}

TEST_F(IndexKeyTableTest, ItemsOlderThanAKeysLastOneGoWhereTheyBelongAndFullBlocksSplit) {
  Model m;
  InTxn([&](Index::Write* w) {
    for (uint64_t s = 2; s <= 400; s += 2) Put(w, &m, "k", s);  // even seqs first
  });
  InTxn([&](Index::Write* w) {
    for (int s = 399; s >= 1; s -= 2) Put(w, &m, "k", static_cast<uint64_t>(s));  // then the odd ones, newest first
    Put(w, &m, "k", 100);                                      // one it has: its location again
  });
  ExpectWalksMatch(m, 401, 3);
  EXPECT_EQ(Blocks(), SeqsOf(m));
}

TEST_F(IndexKeyTableTest, DeletesRemoveExactlyTheirItemsAndAKeyWithNoneLeftHasNoBlocks) {
  Model m;
  InTxn([&](Index::Write* w) {
    for (uint64_t s = 1; s <= 1000; ++s) Put(w, &m, s % 3 == 0 ? "gone" : "k" + std::to_string(s % 4), s);
  });
  InTxn([&](Index::Write* w) {
    for (uint64_t s = 3; s <= 1000; s += 3) Delete(w, &m, s);    // every item of "gone"
    for (uint64_t s = 1; s <= 200; ++s) Delete(w, &m, s);        // the oldest of every key
    for (uint64_t s = 500; s <= 1000; s += 7) Delete(w, &m, s);  // scattered
    Delete(w, &m, 5000);                                          // never there
  });
  ExpectWalksMatch(m, 1000, 5);
  const auto blocks = Blocks();
  EXPECT_EQ(blocks.count("gone"), 0u);
  EXPECT_EQ(blocks, SeqsOf(m));
}

TEST_F(IndexKeyTableTest, RandomPutsInsertsAndDeletesAgreeWithAModel) {
  std::mt19937_64 rng(7);
  Model m;
  uint64_t next = 1;
  std::vector<uint64_t> live;
  for (int txn = 0; txn < 30; ++txn) {
    InTxn([&](Index::Write* w) {
      const int ops = 1 + static_cast<int>(rng() % 400);
      for (int op = 0; op < ops; ++op) {
        const uint64_t r = rng() % 10;
        if (r < 6) {  // new, through the buffered path
          Put(w, &m, "k" + std::to_string(rng() % 5), next);
          live.push_back(next++);
        } else if (r < 7) {  // a run, as the index writer writes it
          std::vector<uint64_t> seqs;
          for (uint64_t i = 0, n = 1 + rng() % 150; i < n; ++i) {
            seqs.push_back(next);
            live.push_back(next++);
          }
          PutRun(w, &m, "k" + std::to_string(rng() % 5), seqs);
        } else if (!live.empty()) {  // delete one
          const size_t i = rng() % live.size();
          Delete(w, &m, live[i]);
          live[i] = live.back();
          live.pop_back();
        }
      }
    });
  }
  ExpectWalksMatch(m, next, next / 150 + 1);
  EXPECT_EQ(Blocks(), SeqsOf(m));
}

}  // namespace
}  // namespace mq
