// The store's in-memory sets that grow without bound during an online
// compaction (no index write runs until its swap, issue 24): the index tail
// (IndexTail, store/src/engine/index_tail.h) and the hidden set (SeqSet,
// store/src/engine/seq_set.h). They must grow without moving what they hold
// (a std::vector's doubling and a hash set's rehash landed inside single
// appends and consumes, hundreds of milliseconds at millions of entries),
// and must still answer exactly what a plain set would.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <unordered_set>

#include "engine/index_tail.h"
#include "engine/seq_set.h"

namespace mq {
namespace {

TEST(GrowingSets, TailEntryStaysWhereItWasWhileTheTailGrowsByAMillion) {
  IndexTail t;
  t.Reserve(64);  // as an append does: the usual flush size, not the compaction's growth
  const uint64_t kN = 1'000'000;
  t.Add(1, Loc{100, 64, true, false}, false, {});
  IndexTail::Entry* first = t.Find(1);
  ASSERT_NE(first, nullptr);
  for (uint64_t seq = 2; seq <= kN; ++seq) t.Add(seq, Loc{100 + seq * 88, 64, true, false}, false, {});
  t.AddedPending(kN);
  // The same object, not a copy: nothing was moved by the growth.
  EXPECT_EQ(t.Find(1), first);
  EXPECT_EQ(first->seq, 1u);
  ASSERT_NE(t.Find(kN), nullptr);
  EXPECT_EQ(t.Find(kN)->loc.msg_offset, 100 + kN * 88);
  EXPECT_EQ(t.Find(kN + 1), nullptr);
  // Consuming through the chunks still skips the consumed run in one walk.
  for (uint64_t seq = 1; seq <= 5000; ++seq) EXPECT_FALSE(t.MarkConsumed(t.Find(seq)));
  IndexTail::Entries& v = *t.parts()[1];
  EXPECT_EQ(IndexTail::NextLive(v, 0), 5000u);
  EXPECT_EQ(v[IndexTail::NextLive(v, 0)].seq, 5001u);
  EXPECT_EQ(t.pending(), kN - 5000);
}

TEST(GrowingSets, SeqSetAnswersAsAPlainSetUnderRandomInsertsAndErases) {
  std::mt19937_64 rng(24);
  SeqSet s;
  std::set<uint64_t> model;
  for (int round = 0; round < 200'000; ++round) {
    // Dense runs (consumes from the front) and far-apart seqs (takes).
    const uint64_t seq = (rng() % 4 == 0) ? rng() % 10'000'000 : rng() % 5000 + 3000;
    if (rng() % 3 == 0) {
      EXPECT_EQ(s.erase(seq), model.erase(seq)) << "erase " << seq;
    } else {
      EXPECT_EQ(s.insert(seq), model.insert(seq).second) << "insert " << seq;
    }
    EXPECT_EQ(s.size(), model.size());
    EXPECT_EQ(s.empty(), model.empty());
    const uint64_t probe = rng() % 10'000;
    EXPECT_EQ(s.contains(probe), model.count(probe) == 1) << "probe " << probe;
    EXPECT_EQ(s.contains(seq), model.count(seq) == 1) << "seq " << seq;
  }
  for (uint64_t seq = 2900; seq < 8100; ++seq) EXPECT_EQ(s.contains(seq), model.count(seq) == 1) << seq;
  // Emptied, then refilled: nothing of the old contents answers.
  for (uint64_t seq : std::set<uint64_t>(model)) EXPECT_EQ(s.erase(seq), 1u);
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.contains(3000));
  const std::unordered_set<uint64_t> taken = {7, 1023, 1024, 1025, 1ull << 40};
  s.assign(taken);
  EXPECT_EQ(s.size(), taken.size());
  for (uint64_t seq : taken) EXPECT_TRUE(s.contains(seq)) << seq;
  for (uint64_t seq : {6ull, 8ull, 1022ull, 1026ull, (1ull << 40) + 1, (1ull << 40) - 1})
    EXPECT_FALSE(s.contains(seq)) << seq;
}

}  // namespace
}  // namespace mq
