// ReadCache (store/src/engine/read_cache.h): the windows of log bytes behind reads.
// What it hands out must always equal the file's bytes; appended bytes fed to
// it spare a reader that keeps up a pread each; a lagging reader keeps its
// own window; reads alternating between two places keep a window each; a
// window grows for a walk repeated from its start, never past its bound.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "mem_file.h"
#include "mq/env.h"
#include "engine/read_cache.h"

namespace mq {
namespace {

using test::MemFile;  // counts reads

std::string Chunk(int i, size_t n) { return std::string(n, static_cast<char>('a' + i % 26)); }

// What the store does on an append: write the bytes at the end, then offer
// them to the cache. Returns the new end.
uint64_t AppendChunk(MemFile* f, ReadCache* c, uint64_t end, const std::string& s) {
  EXPECT_TRUE(f->Write(end, s.data(), s.size()).ok());
  c->Append(end, s.data(), s.size());
  return end + s.size();
}

TEST(ReadCache, AppendedBytesAreServedWithoutReadingTheFile) {
  MemFile f;
  ReadCache c(4096);
  uint64_t end = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string s = Chunk(i, 100);
    end = AppendChunk(&f, &c, end, s);
    const char* p = nullptr;
    ASSERT_TRUE(c.Read(&f, end, end - 100, 100, &p).ok());
    EXPECT_EQ(std::string(p, 100), s);
  }
  EXPECT_EQ(f.reads, 0);
}

TEST(ReadCache, ALaggingReaderKeepsItsWindowAndSeesTheFileBytes) {
  MemFile f;
  ReadCache c(1000);
  uint64_t end = 0;
  for (int i = 0; i < 50; ++i) end = AppendChunk(&f, &c, end, Chunk(i, 100));  // 5,000 bytes: five windows
  // The reader is at the start: one read fills a window from there ...
  const char* p = nullptr;
  ASSERT_TRUE(c.Read(&f, end, 0, 100, &p).ok());
  EXPECT_EQ(std::string(p, 100), Chunk(0, 100));
  const int after_first = f.reads;
  EXPECT_EQ(after_first, 1);
  // ... and appends that do not continue that window leave it alone.
  end = AppendChunk(&f, &c, end, Chunk(50, 100));
  for (int i = 1; i < 10; ++i) {
    ASSERT_TRUE(c.Read(&f, end, static_cast<uint64_t>(i) * 100, 100, &p).ok());
    EXPECT_EQ(std::string(p, 100), Chunk(i, 100));
  }
  EXPECT_EQ(f.reads, after_first);
}

TEST(ReadCache, AWindowThatFillsUpDropsItsOldestBytesAndStaysCorrect) {
  MemFile f;
  ReadCache c(1000);
  uint64_t end = 0;
  for (int i = 0; i < 40; ++i) end = AppendChunk(&f, &c, end, Chunk(i, 70));
  for (int i = 0; i < 40; ++i) {
    const char* p = nullptr;
    ASSERT_TRUE(c.Read(&f, end, static_cast<uint64_t>(i) * 70, 70, &p).ok());
    EXPECT_EQ(std::string(p, 70), Chunk(i, 70)) << i;
  }
}

TEST(ReadCache, ReadsThatAlternateBetweenTwoPlacesReadEachPlaceOnce) {
  // A selective receive walks the old, unmatched messages at the front and
  // then takes a new one far behind them, again and again.
  MemFile f;
  const std::string all(100000, 'x');
  ASSERT_TRUE(f.Write(0, all.data(), all.size()).ok());
  ReadCache c(4096);
  const char* p = nullptr;
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(c.Read(&f, all.size(), 0, 100, &p).ok());
    ASSERT_TRUE(c.Read(&f, all.size(), 90000 + static_cast<uint64_t>(round) * 10, 10, &p).ok());
  }
  EXPECT_EQ(f.reads, 2);
}

// A walk keeps a Span of the window it reads from and reads record after
// record through it without asking the cache. That is safe only while the
// window's bytes stay where they are: once the cache replaces, moves or grows
// a window, every span taken before must stop serving (its epoch is stale).
TEST(ReadCache, ASpanServesItsWindowUntilTheCacheMovesThatWindow) {
  MemFile f;
  ReadCache c(1000);
  uint64_t end = 0;
  for (int i = 0; i < 30; ++i) end = AppendChunk(&f, &c, end, Chunk(i, 100));  // 3,000 bytes
  ReadCache::Span span;
  const char* p = nullptr;
  ASSERT_TRUE(c.ReadSpan(&f, end, 0, 100, &span, &p).ok());
  EXPECT_EQ(span.off, 0u);
  ASSERT_GE(span.len, 100u);
  // Every chunk the span covers is served by it, equal to the file's bytes.
  for (uint64_t off = 0; off + 100 <= span.off + span.len; off += 100) {
    const char* q = span.At(off, 100, c.epoch());
    ASSERT_NE(q, nullptr) << off;
    EXPECT_EQ(std::string(q, 100), f.data.substr(off, 100));
  }
  // Nothing past its end, and nothing before its start.
  EXPECT_EQ(span.At(span.off + span.len - 50, 100, c.epoch()), nullptr);
  // A read elsewhere replaces a window; then the next reads a third place,
  // evicting the window the span was taken from: the span must stop serving.
  ASSERT_TRUE(c.Read(&f, end, 2000, 100, &p).ok());
  ASSERT_TRUE(c.Read(&f, end, 1000, 100, &p).ok());
  EXPECT_EQ(span.At(0, 100, c.epoch()), nullptr);
  // A fresh span; then appends that fill its window make the cache move the
  // window's bytes: the span is stale again.
  ASSERT_TRUE(c.ReadSpan(&f, end, 2000, 100, &span, &p).ok());
  ASSERT_NE(span.At(2000, 100, c.epoch()), nullptr);
  for (int i = 30; i < 45; ++i) end = AppendChunk(&f, &c, end, Chunk(i, 100));
  EXPECT_EQ(span.At(2000, 100, c.epoch()), nullptr);
  // Whatever the cache hands out afterwards still equals the file.
  for (uint64_t off = 0; off + 100 <= end; off += 100) {
    ASSERT_TRUE(c.ReadSpan(&f, end, off, 100, &span, &p).ok());
    EXPECT_EQ(std::string(p, 100), f.data.substr(off, 100)) << off;
  }
}

// A walk that runs off the end of its window reads on into that same window,
// so the other window keeps what it holds (say, the newest messages a
// receiver will want next) and costs no second read.
TEST(ReadCache, AWalkRunningOffItsWindowReadsOnIntoItAndKeepsTheOtherWindow) {
  MemFile f;
  std::string all;
  for (int i = 0; i < 100; ++i) all += Chunk(i, 100);  // 10,000 bytes
  ASSERT_TRUE(f.Write(0, all.data(), all.size()).ok());
  ReadCache c(1000);
  const char* p = nullptr;
  ASSERT_TRUE(c.Read(&f, all.size(), 9000, 100, &p).ok());  // the other place
  ReadCache::Span span;
  for (uint64_t off = 0; off + 100 <= 5000; off += 100) {  // a walk over five windows' worth
    const char* q = span.At(off, 100, c.epoch());
    if (q == nullptr) {
      ASSERT_TRUE(c.ReadSpan(&f, all.size(), off, 100, &span, &q).ok());
    }
    ASSERT_EQ(std::string(q, 100), all.substr(off, 100)) << off;
  }
  EXPECT_EQ(f.reads, 6);  // the other place once, the walk once per window
  ASSERT_TRUE(c.Read(&f, all.size(), 9500, 100, &p).ok());
  EXPECT_EQ(std::string(p, 100), all.substr(9500, 100));
  EXPECT_EQ(f.reads, 6) << "the walk evicted the other window";
}

// Reads [from, to) in 100-byte records the way a walk does: through one span,
// asking the cache only when the span does not hold the next record. Checks
// every record against the file.
void WalkRange(MemFile* f, ReadCache* c, uint64_t from, uint64_t to) {
  ReadCache::Span span;
  for (uint64_t off = from; off + 100 <= to; off += 100) {
    const char* q = span.At(off, 100, c->epoch());
    if (q == nullptr) {
      ASSERT_TRUE(c->ReadSpan(f, f->data.size(), off, 100, &span, &q).ok()) << off;
    }
    ASSERT_EQ(std::string(q, 100), f->data.substr(off, 100)) << off;
  }
}

MemFile FileOfChunks(int chunks) {
  MemFile f;
  std::string all;
  for (int i = 0; i < chunks; ++i) all += Chunk(i, 100);
  EXPECT_TRUE(f.Write(0, all.data(), all.size()).ok());
  return f;
}

// A selective receive walks the same backlog from its front again and again.
// The walk that began at the start of its window and ran off its end grows
// that window (up to its bound), so every later walk reads nothing.
TEST(ReadCache, AWalkFromItsWindowsStartGrowsItAndTheSameWalkAgainReadsNothing) {
  MemFile f = FileOfChunks(60);  // 6,000 bytes: six windows of 1,000
  ReadCache c(1000, 8000);
  WalkRange(&f, &c, 0, 6000);
  const int first = f.reads;
  EXPECT_LE(first, 4) << "growing doubles the window: 1,000, 2,000, 4,000, then the rest";
  for (int round = 0; round < 5; ++round) WalkRange(&f, &c, 0, 6000);
  EXPECT_EQ(f.reads, first);
  // Without room to grow, the same walk reads the file again (all but the
  // last window, which the other window still holds).
  MemFile g = FileOfChunks(60);
  ReadCache fixed(1000);
  WalkRange(&g, &fixed, 0, 6000);
  const int once = g.reads;
  WalkRange(&g, &fixed, 0, 6000);
  EXPECT_EQ(g.reads - once, once - 1);
}

// Past its bound the grown window keeps what it holds, and the walk slides
// through the other window; the two never hold more than bound + window.
TEST(ReadCache, AGrownWindowStopsAtItsBoundAndTheWalkGoesOnInTheOtherWindow) {
  MemFile f = FileOfChunks(200);  // 20,000 bytes
  ReadCache c(1000, 8000);
  WalkRange(&f, &c, 0, 20000);
  EXPECT_LE(c.bytes_held(), 8000u + 1000u);
  const int first = f.reads;
  WalkRange(&f, &c, 0, 20000);
  EXPECT_EQ(f.reads - first, 12) << "only the 12,000 bytes past the bound are read again, a window at a time";
  EXPECT_LE(c.bytes_held(), 8000u + 1000u);
}

// Each window may grow in turn; when one grows, the other gives back what it
// grew, so together they never hold more than the bound plus a window.
TEST(ReadCache, TheWindowsNeverHoldMoreThanTheBoundPlusOneWindow) {
  MemFile f = FileOfChunks(200);
  ReadCache c(1000, 8000);
  const char* p = nullptr;
  WalkRange(&f, &c, 0, 8000);                           // window A grows to 8,000
  ASSERT_TRUE(c.Read(&f, 20000, 15000, 100, &p).ok());  // B at 15,000
  ASSERT_TRUE(c.Read(&f, 20000, 9000, 100, &p).ok());   // A, least recently used, moves to 9,000
  WalkRange(&f, &c, 15000, 20000);                      // B grows
  EXPECT_LE(c.bytes_held(), 8000u + 1000u);
  WalkRange(&f, &c, 15000, 20000);
  EXPECT_EQ(f.reads, 4 + 1 + 1 + 3) << "B grew to hold the walk: 1,000, 2,000, 4,000, then 5,000 (the file's end)";
}

// However large the bound a caller gives, a window grows only as far as the
// file, and its offsets never overflow.
TEST(ReadCache, AnUnboundedWindowGrowsOnlyAsFarAsTheFile) {
  MemFile f = FileOfChunks(60);
  ReadCache c(1000, SIZE_MAX);
  WalkRange(&f, &c, 100, 6000);  // a window that does not start at 0
  const int first = f.reads;
  WalkRange(&f, &c, 100, 6000);
  EXPECT_EQ(f.reads, first);
  EXPECT_LE(c.bytes_held(), 6000u + 1000u);
}

// A walk that began deep inside its window (a drain in order: each receive
// starts where the last one ended) slides the window on: growing it would
// only keep bytes no walk reads again.
TEST(ReadCache, AWalkThatBeganDeepInItsWindowSlidesItInsteadOfGrowingIt) {
  MemFile f = FileOfChunks(100);
  ReadCache c(1000, 8000);
  WalkRange(&f, &c, 0, 100);  // a window at 0
  // Each walk starts 700 bytes into the window the last one slid to.
  for (uint64_t from = 700; from + 1000 <= 10000; from += 1000) WalkRange(&f, &c, from, from + 1000);
  EXPECT_LE(c.bytes_held(), 2000u);
  EXPECT_EQ(f.reads, 10) << "one read at 0, then one slide per walk";
}

// Appends that continue a grown window do not push its oldest bytes out (as
// they do a window of ordinary size): the next walk from the front still
// reads nothing it has read before, and every byte served equals the file.
TEST(ReadCache, AppendsLeaveAGrownWindowWhole) {
  MemFile f = FileOfChunks(40);
  ReadCache c(1000, 8000);
  WalkRange(&f, &c, 0, 4000);
  WalkRange(&f, &c, 0, 4000);
  const int grown = f.reads;
  uint64_t end = f.data.size();
  for (int i = 40; i < 60; ++i) end = AppendChunk(&f, &c, end, Chunk(i, 100));
  WalkRange(&f, &c, 0, 4000);
  EXPECT_EQ(f.reads, grown);
  WalkRange(&f, &c, 0, end);  // on through the appended bytes
}

}  // namespace
}  // namespace mq
