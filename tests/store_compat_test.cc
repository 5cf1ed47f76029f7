// Compatibility with the original design, both ways (docs/log-format.md, "The
// original format, and telling formats apart"):
//  - a queue file the original design wrote opens as-is, its messages get
//    sequence numbers by position, and appending keeps it valid;
//  - every log mq writes stays readable by the original reader: its
//    iter_queue yields exactly the messages mq holds pending, in arrival
//    order. Checked with a C++ port here and with tests/seed_reader.py.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

std::string Le32(int32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
  return s;
}

// What the original design's enqueue writes: struct.pack('ii', 0, len) + payload.
std::string SeedRecord(std::string_view payload, int32_t used = 0) {
  return Le32(used) + Le32(static_cast<int32_t>(payload.size())) + std::string(payload);
}

// The original design's queue file after a0 a1 a2 b0 b1 b2 arrived and b1 was
// consumed (markused wrote 1 over its used flag).
std::string SeedQueueFile() {
  std::string f;
  for (const char* p : {"a0", "a1", "a2", "b0", "b1", "b2"}) f += SeedRecord(p, std::string_view(p) == "b1");
  return f;
}

// The original design's iter_queue, step for step (see tests/seed_reader.py):
// read 8 bytes, stop on a short read; if used != 0 skip size bytes; else read
// size bytes, stop on a short read, yield them.
std::vector<std::string> SeedIterQueue(const std::string& file) {
  std::vector<std::string> out;
  int64_t pos = 0;
  const auto end = static_cast<int64_t>(file.size());
  for (;;) {
    if (end - pos < 8) break;
    int32_t used = 0, size = 0;
    std::memcpy(&used, file.data() + pos, 4);
    std::memcpy(&size, file.data() + pos + 4, 4);
    pos += 8;
    if (used != 0) {
      pos += size;  // seek(size, 1): may move past the end; the next read is short
      if (pos < 0) break;
      continue;
    }
    if (size < 0 || end - pos < size) break;
    out.emplace_back(file.substr(static_cast<size_t>(pos), static_cast<size_t>(size)));
    pos += size;
  }
  return out;
}

StoreOptions Opts(RecoveryMode mode = RecoveryMode::kTolerateTornTail) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.recovery = mode;
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& path, const StoreOptions& opt = Opts()) {
  std::unique_ptr<Store> s;
  Status st = Store::Open(path, opt).MoveTo(&s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

std::map<uint64_t, std::string> Pending(Store* s) {
  std::map<uint64_t, std::string> out;
  Status st = s->ScanPending(0, [&](const MessageView& v) {
    out.emplace(v.seq, std::string(v.payload));
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

std::vector<std::string> Values(const std::map<uint64_t, std::string>& m) {
  std::vector<std::string> v;
  for (const auto& [seq, p] : m) v.push_back(p);
  return v;
}

class StoreCompatTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }
  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreCompatTest, OriginalQueueFileForTheArticleWorkloadIsTheSixtyBytesOfTheSpec) {
  const std::string f = SeedQueueFile();
  ASSERT_EQ(f.size(), 60u);
  // docs/log-format.md, "Worked example", second hexdump.
  const unsigned char spec[60] = {
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x61, 0x30, 0x00, 0x00, 0x00, 0x00, 0x02,
      0x00, 0x00, 0x00, 0x61, 0x31, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x61, 0x32,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x62, 0x30, 0x01, 0x00, 0x00, 0x00, 0x02,
      0x00, 0x00, 0x00, 0x62, 0x31, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x62, 0x32};
  EXPECT_EQ(f, std::string(reinterpret_cast<const char*>(spec), sizeof(spec)));
  EXPECT_EQ(SeedIterQueue(f), (std::vector<std::string>{"a0", "a1", "a2", "b0", "b2"}));
}

TEST_F(StoreCompatTest, OriginalQueueFileOpensAsIsWithSequenceNumbersByPosition) {
  const std::string original = SeedQueueFile();
  test::WriteFileOrDie(path_, original);
  {
    auto s = OpenOrDie(path_);
    EXPECT_TRUE(s->open_report().legacy);
    EXPECT_EQ(s->Stats().format_version, 0u);
    EXPECT_EQ(Pending(s.get()),
              (std::map<uint64_t, std::string>{{1, "a0"}, {2, "a1"}, {3, "a2"}, {4, "b0"}, {6, "b2"}}));
    Message m;
    EXPECT_TRUE(s->Get(5, &m).IsNotFound()) << "b1 is seq 5 and consumed";
    ASSERT_TRUE(s->Get(6, &m).ok());
    EXPECT_EQ(m.offset, 50u);
    EXPECT_EQ(s->last_seq(), 6u);
    EXPECT_EQ(s->Stats().consumed, 1u);
    ASSERT_TRUE(s->Close().ok());
  }
  EXPECT_EQ(test::ReadFileOrDie(path_), original) << "opening and closing wrote nothing into the log";
  std::filesystem::remove(path_ + ".idx");
  auto s = OpenOrDie(path_);
  EXPECT_EQ(s->open_report().index_action, mq::IndexAction::kRebuilt) << mq::DescribeIndexAction(s->open_report());
  EXPECT_EQ(Values(Pending(s.get())), (std::vector<std::string>{"a0", "a1", "a2", "b0", "b2"}));
}

TEST_F(StoreCompatTest, AppendingToAnOriginalQueueFileKeepsItValidForBothReaders) {
  const std::string original = SeedQueueFile();
  test::WriteFileOrDie(path_, original);
  {
    auto s = OpenOrDie(path_);
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("c0").MoveTo(&seq).ok());
    EXPECT_EQ(seq, 7u);
    std::vector<std::string_view> batch = {"c1", "", "c3"};
    ASSERT_TRUE(s->AppendBatch(batch).MoveTo(&seq).ok());
    EXPECT_EQ(seq, 8u);
    ASSERT_TRUE(s->Consume(2).ok());  // a1, a record without frame
    ASSERT_TRUE(s->Consume(8).ok());  // c1, a framed one
    ASSERT_TRUE(s->Close().ok());
  }
  std::string now = test::ReadFileOrDie(path_);
  EXPECT_EQ(now.size(), 60u + 4 * 28u + 6u) << "no header is added to an original file";
  std::string expect_prefix = original;
  expect_prefix[10] = 1;  // a1's used flag
  EXPECT_EQ(now.substr(0, 60), expect_prefix);
  const std::vector<std::string> pending = {"a0", "a2", "b0", "b2", "c0", "", "c3"};
  EXPECT_EQ(SeedIterQueue(now), pending);
  for (bool drop_index : {false, true}) {
    SCOPED_TRACE(drop_index ? "index rebuilt" : "index kept");
    if (drop_index) std::filesystem::remove(path_ + ".idx");
    auto s = OpenOrDie(path_);
    EXPECT_EQ(Pending(s.get()), (std::map<uint64_t, std::string>{
                                    {1, "a0"}, {3, "a2"}, {4, "b0"}, {6, "b2"}, {7, "c0"}, {9, ""}, {10, "c3"}}));
    EXPECT_TRUE(s->Consume(8).IsNotFound());
    ASSERT_TRUE(s->Close().ok());
  }
}

TEST_F(StoreCompatTest, CompactingAnOriginalQueueFileFramesItsMessagesAndKeepsTheirSequenceNumbers) {
  test::WriteFileOrDie(path_, SeedQueueFile());
  auto s = OpenOrDie(path_);
  CompactionResult r;
  ASSERT_TRUE(s->Compact().MoveTo(&r).ok());
  EXPECT_EQ(r.messages_kept, 5u);
  EXPECT_EQ(r.messages_dropped, 1u);
  EXPECT_EQ(s->Stats().format_version, 1u);
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append("c0").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 7u);
  ASSERT_TRUE(s->Close().ok());
  const std::string now = test::ReadFileOrDie(path_);
  EXPECT_EQ(now.size(), 56u + 6u * 30u);
  EXPECT_EQ(SeedIterQueue(now), (std::vector<std::string>{"a0", "a1", "a2", "b0", "b2", "c0"}));
  std::filesystem::remove(path_ + ".idx");
  s = OpenOrDie(path_);
  EXPECT_EQ(Pending(s.get()), (std::map<uint64_t, std::string>{
                                  {1, "a0"}, {2, "a1"}, {3, "a2"}, {4, "b0"}, {6, "b2"}, {7, "c0"}}));
}

TEST_F(StoreCompatTest, TornLastRecordOfAnOriginalQueueFileIsCutLikeAnyTornTail) {
  const std::string original = SeedQueueFile();
  for (size_t cut = 51; cut < 60; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    test::WriteFileOrDie(path_, original.substr(0, cut));
    std::filesystem::remove(path_ + ".idx");
    auto s = OpenOrDie(path_);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(Values(Pending(s.get())), (std::vector<std::string>{"a0", "a1", "a2", "b0"}));
    ASSERT_EQ(s->open_report().side_files.size(), 1u);
    const std::string side = s->open_report().side_files[0];
    EXPECT_EQ(side, path_ + ".cut-50");
    EXPECT_EQ(test::ReadFileOrDie(side), original.substr(50, cut - 50));
    ASSERT_TRUE(s->Close().ok());
    EXPECT_EQ(test::ReadFileOrDie(path_), original.substr(0, 50));
    std::filesystem::remove(side);
  }
}

// ---- Logs the store wrote, read by the original reader ----

struct Scenario {
  std::string name;
  std::string path;
  std::vector<std::string> pending;  // what the store must hold pending, in order
};

std::string Payload(int i) {
  if (i % 10 == 0) return "";
  if (i == 17) {
    std::string big(1u << 20, '\0');
    for (size_t k = 0; k < big.size(); ++k) big[k] = static_cast<char>(k * 7 + 3);
    return big;
  }
  std::string p = "msg-" + std::to_string(i);
  p += std::string("\0\n\xff", 3);
  if (i % 7 == 0) p += std::string("\x6d\x71\x4d\x01\x0c\0\0\0", 8);  // looks like a meta record
  if (i % 9 == 0) p += std::string("\0\0\0\0\x05\0\0\0", 8);          // looks like a message record
  return p;
}

// Appends payloads [from, to) (by Payload) and consumes every third one.
void Workload(Store* s, int from, int to, std::vector<std::string>* pending) {
  std::vector<std::string> batch;
  for (int i = from; i < to; ++i) batch.push_back(Payload(i));
  uint64_t first = 0;
  const size_t half = batch.size() / 2;
  for (size_t k = 0; k < half; ++k) ASSERT_TRUE(s->Append(batch[k]).MoveTo(&first).ok());
  std::vector<std::string_view> views(batch.begin() + static_cast<std::ptrdiff_t>(half), batch.end());
  ASSERT_TRUE(s->AppendBatch(views).MoveTo(&first).ok());
  const uint64_t last = s->last_seq();
  const uint64_t seq0 = last - batch.size() + 1;
  for (size_t k = 0; k < batch.size(); ++k) {
    if (k % 3 == 1) {
      ASSERT_TRUE(s->Consume(seq0 + k).ok());
    } else {
      pending->push_back(batch[k]);
    }
  }
}

std::vector<Scenario> StoreWrittenLogs(const test::TempDir& dir) {
  std::vector<Scenario> out;
  {
    Scenario sc{"appends, batches and consumes, empty and 1 MiB payloads", dir.File("fresh"), {}};
    auto s = OpenOrDie(sc.path);
    Workload(s.get(), 0, 60, &sc.pending);
    EXPECT_TRUE(s->Close().ok());
    out.push_back(sc);
  }
  {
    // Every batch after a sync starts with a sync mark (docs/log-format.md, "Sync marks").
    Scenario sc{"under sync=always (sync marks), compacted, more appends", dir.File("synced"), {}};
    StoreOptions always = Opts();
    always.sync = SyncPolicy::kAlways;
    auto s = OpenOrDie(sc.path, always);
    Workload(s.get(), 0, 30, &sc.pending);
    CompactionResult r;
    EXPECT_TRUE(s->Compact().MoveTo(&r).ok());
    Workload(s.get(), 30, 50, &sc.pending);
    EXPECT_TRUE(s->Close().ok());
    out.push_back(sc);
  }
  {
    Scenario sc{"after compaction and more appends", dir.File("compacted"), {}};
    auto s = OpenOrDie(sc.path);
    Workload(s.get(), 0, 40, &sc.pending);
    CompactionResult r;
    EXPECT_TRUE(s->Compact().MoveTo(&r).ok());
    Workload(s.get(), 40, 60, &sc.pending);
    EXPECT_TRUE(s->Close().ok());
    out.push_back(sc);
  }
  {
    Scenario sc{"an original queue file with mq appends", dir.File("legacy"), {"a0", "a2", "b0", "b2"}};
    test::WriteFileOrDie(sc.path, SeedQueueFile());
    auto s = OpenOrDie(sc.path);
    EXPECT_TRUE(s->Consume(2).ok());
    Workload(s.get(), 1, 30, &sc.pending);
    EXPECT_TRUE(s->Close().ok());
    out.push_back(sc);
  }
  {
    Scenario sc{"after a torn tail was cut", dir.File("torn"), {}};
    auto s = OpenOrDie(sc.path);
    Workload(s.get(), 1, 12, &sc.pending);
    uint64_t seq = 0;
    EXPECT_TRUE(s->Append("this one is torn").MoveTo(&seq).ok());
    EXPECT_TRUE(s->Close().ok());
    std::filesystem::resize_file(sc.path, std::filesystem::file_size(sc.path) - 5);
    s = OpenOrDie(sc.path);
    EXPECT_EQ(s->open_report().side_files.size(), 1u);
    EXPECT_TRUE(s->Close().ok());
    out.push_back(sc);
  }
  {
    Scenario sc{"after salvage dropped a damaged message", dir.File("salvaged"), {}};
    auto s = OpenOrDie(sc.path);
    Workload(s.get(), 1, 9, &sc.pending);  // pending seqs: 1 3 4 6 7
    Message m;
    EXPECT_TRUE(s->Get(4, &m).ok());
    EXPECT_TRUE(s->Close().ok());
    std::string b = test::ReadFileOrDie(sc.path);
    b[m.offset + 9] ^= 0x55;  // a payload byte of seq 4 (Payload(4))
    test::WriteFileOrDie(sc.path, b);
    std::filesystem::remove(sc.path + ".idx");
    s = OpenOrDie(sc.path, Opts(RecoveryMode::kSalvage));
    EXPECT_EQ(s->open_report().damaged_regions, 1u);
    EXPECT_TRUE(s->Close().ok());
    sc.pending.erase(sc.pending.begin() + 2);
    out.push_back(sc);
  }
  // The store itself must agree with the model the scenarios keep.
  for (const Scenario& sc : out) {
    auto s = OpenOrDie(sc.path);
    EXPECT_EQ(Values(Pending(s.get())), sc.pending) << sc.name;
  }
  return out;
}

TEST_F(StoreCompatTest, OriginalReaderCppPortSeesExactlyThePendingMessagesOfLogsTheStoreWrote) {
  for (const Scenario& sc : StoreWrittenLogs(dir_)) {
    SCOPED_TRACE(sc.name);
    std::vector<std::string> got = SeedIterQueue(test::ReadFileOrDie(sc.path));
    ASSERT_EQ(got.size(), sc.pending.size());
    EXPECT_TRUE(got == sc.pending);
  }
}

#ifdef MQ_PYTHON3
std::string Hex(std::string_view s) {
  static const char kDigits[] = "0123456789abcdef";
  std::string h;
  for (unsigned char c : s) {
    h.push_back(kDigits[c >> 4]);
    h.push_back(kDigits[c & 15]);
  }
  return h;
}

TEST_F(StoreCompatTest, OriginalReaderPythonPortSeesExactlyThePendingMessagesOfLogsTheStoreWrote) {
  for (const Scenario& sc : StoreWrittenLogs(dir_)) {
    SCOPED_TRACE(sc.name);
    std::string cmd = std::string("'") + MQ_PYTHON3 + "' '" + MQ_SEED_READER_PY + "' '" + sc.path + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr) << cmd;
    std::string out;
    char buf[1 << 16];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    int rc = ::pclose(p);
    ASSERT_EQ(rc, 0) << cmd;
    std::string want;
    for (const std::string& m : sc.pending) want += Hex(m) + "\n";
    ASSERT_EQ(out.size(), want.size());
    EXPECT_TRUE(out == want) << "seed_reader.py printed other messages than the store holds pending";
  }
}
#endif

}  // namespace
}  // namespace mq
