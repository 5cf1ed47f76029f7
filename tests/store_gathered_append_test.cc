// Gathered appends (docs/design.md, "Append"): a batch of large messages is
// written with one File::WriteV from the caller's buffers, each payload a
// piece of its own, instead of being copied into one framed buffer first.
// The bytes on disk must be exactly what the copying path writes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fault_env.h"
#include "mq/inspect.h"
#include "mq/store.h"
#include "test_util.h"
#include "util/crc32c.h"

namespace mq {
namespace {

std::string Payload(size_t n, char c) {
  std::string p(n, c);
  for (size_t i = 0; i < n; i += 97) p[i] = static_cast<char>('a' + i % 26);
  return p;
}

// Sizes of the writes FaultEnv saw to the log (FaultEnv has no WriteV of its
// own, so a gathered write reaches it as File's default: piece by piece).
struct LogWrites {
  std::vector<uint64_t> sizes;
  void Watch(test::FaultEnv* env, const std::string& log) {
    env->SetObserver([this, log](uint64_t, const std::string& what) {
      if (what.rfind("write at offset ", 0) != 0) return;
      const size_t of = what.find(" of ");
      const size_t to = what.find(" bytes to ");
      if (of == std::string::npos || to == std::string::npos || what.substr(to + 10) != log) return;
      sizes.push_back(std::stoull(what.substr(of + 4, to - of - 4)));
    });
  }
};

std::unique_ptr<Store> OpenWith(Env* env, const std::string& path, SyncPolicy sync) {
  StoreOptions o;
  o.env = env;
  o.sync = sync;
  o.auto_compact = false;
  std::unique_ptr<Store> s;
  Status st = Store::Open(path, o).MoveTo(&s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

TEST(StoreGatheredAppend, LargeMessagesReachTheFileAsPiecesNotCopiedIntoOneBuffer) {
  test::TempDir dir;
  test::FaultEnv env;
  const std::string p = dir.File("q");
  auto s = OpenWith(&env, p, SyncPolicy::kNone);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> msgs;
  for (int i = 0; i < 8; ++i) msgs.push_back(Payload(16384, static_cast<char>('A' + i)));
  std::vector<std::string_view> views(msgs.begin(), msgs.end());
  LogWrites w;
  w.Watch(&env, p);
  uint64_t first = 0;
  ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
  env.SetObserver(nullptr);
  // Header, payload, header, payload ...: every payload written from where
  // the caller holds it. The copying path makes one write of 8 x 16412 bytes.
  ASSERT_EQ(w.sizes.size(), 16u);
  for (size_t i = 0; i < w.sizes.size(); ++i) EXPECT_EQ(w.sizes[i], i % 2 == 0 ? 28u : 16384u) << "write " << i;
  ASSERT_TRUE(s->Close().ok());
}

TEST(StoreGatheredAppend, SmallMessagesAreFramedInOneBufferAndWrittenOnce) {
  test::TempDir dir;
  test::FaultEnv env;
  const std::string p = dir.File("q");
  auto s = OpenWith(&env, p, SyncPolicy::kNone);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> msgs(64, std::string(100, 'x'));
  std::vector<std::string_view> views(msgs.begin(), msgs.end());
  LogWrites w;
  w.Watch(&env, p);
  uint64_t first = 0;
  ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
  env.SetObserver(nullptr);
  ASSERT_EQ(w.sizes.size(), 1u);
  EXPECT_EQ(w.sizes[0], 64u * (100 + 28));
  ASSERT_TRUE(s->Close().ok());
}

// Mixed sizes (an empty one too) behind a sync mark, through the real
// pwritev: every record scans as intact, in order, with its own bytes.
TEST(StoreGatheredAppend, GatheredBatchesScanAsIntactFramedRecordsAfterASyncMark) {
  test::TempDir dir;
  const std::string p = dir.File("q");
  std::vector<std::string> all;
  {
    auto s = OpenWith(nullptr, p, SyncPolicy::kBatch);
    ASSERT_NE(s, nullptr);
    uint64_t seq = 0;
    all.push_back("before the sync");
    ASSERT_TRUE(s->Append(all.back()).MoveTo(&seq).ok());
    ASSERT_TRUE(s->Sync().ok());  // the next batch starts with a sync mark
    std::vector<std::string> batch{Payload(16384, 'a'), "", Payload(5000, 'b'), Payload(3, 'c'),
                                   Payload(70000, 'd'), Payload(4096, 'e')};
    for (int round = 0; round < 3; ++round) {
      std::vector<std::string_view> views(batch.begin(), batch.end());
      ASSERT_TRUE(s->AppendBatch(views).MoveTo(&seq).ok());
      all.insert(all.end(), batch.begin(), batch.end());
      ASSERT_TRUE(s->Sync().ok());
    }
    ASSERT_TRUE(s->Close().ok());
  }
  std::vector<std::string> seen;
  std::vector<uint64_t> seqs;
  LogSummary sum;
  ASSERT_TRUE(ScanLog(p, InspectOptions{}, [&](const LogMessage& m) {
                seen.emplace_back(m.payload);
                seqs.push_back(m.seq);
                EXPECT_TRUE(m.framed);
                return true;
              }).MoveTo(&sum).ok());
  EXPECT_TRUE(sum.damage.empty()) << sum.damage.front().reason << " at " << sum.damage.front().offset;
  ASSERT_EQ(seen.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(seen[i], all[i]) << "message " << i;
    if (i > 0) {
      EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
    }
  }
  // And the store reads them back after a reopen.
  auto s = OpenWith(nullptr, p, SyncPolicy::kNone);
  ASSERT_NE(s, nullptr);
  for (size_t i = 0; i < all.size(); ++i) {
    Message m;
    ASSERT_TRUE(s->ConsumeFirst(&m).ok()) << i;
    EXPECT_EQ(m.payload, all[i]) << "message " << i;
  }
}

// More pieces than one pwritev takes (IOV_MAX, 1024 on Linux): the file
// writes them all, in order.
TEST(StoreGatheredAppend, PosixWriteVWritesMorePiecesThanIovMaxInOrder) {
  test::TempDir dir;
  std::unique_ptr<Directory> d;
  ASSERT_TRUE(Env::Default()->OpenDirectory(dir.path()).MoveTo(&d).ok());
  std::unique_ptr<File> f;
  ASSERT_TRUE(d->OpenFile("v", OpenMode::kCreateNew, 0600).MoveTo(&f).ok());
  std::vector<std::string> pieces;
  std::string want;
  for (int i = 0; i < 3000; ++i) {
    pieces.push_back(std::string(static_cast<size_t>(1 + i % 7), static_cast<char>('a' + i % 26)));
    want += pieces.back();
  }
  std::vector<iovec> iov;
  for (std::string& s : pieces) iov.push_back(iovec{s.data(), s.size()});
  ASSERT_TRUE(f->Write(0, "head", 4).ok());
  Status st = f->WriteV(4, iov.data(), iov.size());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(test::ReadFileOrDie(dir.File("v")), "head" + want);
}

// The checksum runs long inputs as three interleaved streams joined by a
// shift table (store/src/util/crc32c.cc): it must equal CRC-32C computed a
// bit at a time, for every length, alignment and split.
uint32_t BitwiseCrc32c(const char* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= static_cast<uint8_t>(p[i]);
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
  }
  return ~c;
}

TEST(StoreGatheredAppend, Crc32cOfLongInputsEqualsTheBitwiseDefinition) {
  std::string data(40000, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& ch : data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ch = static_cast<char>(x);
  }
  for (size_t len : std::vector<size_t>{0, 1, 7, 8, 1535, 1536, 1537, 3071, 3072, 4700, 16384, 16412, 39990})
    for (size_t off : std::vector<size_t>{0, 1, 3}) {
      EXPECT_EQ(crc32c::Value(data.data() + off, len), BitwiseCrc32c(data.data() + off, len))
          << "length " << len << " at offset " << off;
      for (size_t split : std::vector<size_t>{1, 700, 1536, 5000}) {
        if (split > len) continue;
        EXPECT_EQ(crc32c::Extend(crc32c::Value(data.data() + off, split), data.data() + off + split, len - split),
                  BitwiseCrc32c(data.data() + off, len))
            << "length " << len << " split at " << split;
      }
    }
}

}  // namespace
}  // namespace mq
