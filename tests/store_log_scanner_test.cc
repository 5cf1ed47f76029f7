// LogScanner (store/src/format/log_scanner.h) on in-memory logs: every record kind of
// docs/log-format.md read back, and every way a record can be cut or damaged
// reported as the right problem at the right offset, with the scan position
// left on the last good record. The store's own tests reach the scanner only
// through Store::Open on real files; these drive it directly.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/coding.h"
#include "format/log_format.h"
#include "format/log_scanner.h"
#include "mem_file.h"
#include "format/record.h"

namespace mq::log {
namespace {

using test::MemFile;

// A payload of n bytes made from `seed`, so that neighbours differ.
std::string Payload(const std::string& seed, size_t n) {
  std::string s;
  while (s.size() < n) s += seed;
  s.resize(n);
  return s;
}

// A bare record of the original format: [used][size][payload].
void AppendLegacy(std::string* dst, int32_t used, std::string_view payload) {
  PutFixed32(dst, static_cast<uint32_t>(used));
  PutFixed32(dst, static_cast<uint32_t>(payload.size()));
  dst->append(payload);
}

std::string HeaderRecord() {
  Header h;
  h.version = kFormatVersion;
  h.log_id = 42;
  std::string s;
  EncodeHeader(h, &s);
  return s;
}

class LogScannerTest : public ::testing::Test {
 protected:
  // A framed log: the file header, then whatever the test appends.
  void StartFramed() { file_.data = HeaderRecord(); }
  uint64_t Framed(uint64_t seq, std::string_view payload) {
    const uint64_t at = file_.data.size();
    AppendFramed(&file_.data, seq, payload);
    return at;
  }
  // Scans [from, end of file) like the store's open does.
  void Start(uint64_t from, bool framed_only, uint64_t prev_seq = 0, size_t chunk = 1 << 20,
             uint64_t max_payload = kMaxPayload) {
    scanner_ = std::make_unique<LogScanner>(&file_, file_.data.size(), max_payload, chunk);
    scanner_->Reset(from, prev_seq, framed_only);
  }
  void StartAfterHeader(size_t chunk = 1 << 20) { Start(kHeaderRecordSize, true, 0, chunk); }
  // The payloads Next returns until it stops.
  std::vector<std::string> ReadAll() {
    std::vector<std::string> got;
    ScannedMessage m;
    while (scanner_->Next(&m)) got.emplace_back(m.payload);
    return got;
  }
  ScanProblem::Kind Kind() const { return scanner_->problem().kind; }
  uint64_t ProblemOffset() const { return scanner_->problem().offset; }
  const std::string& Reason() const { return scanner_->problem().reason; }

  MemFile file_;
  std::unique_ptr<LogScanner> scanner_;
};

TEST_F(LogScannerTest, AnEmptyRangeEndsAtOnceWithNoProblem) {
  Start(0, false);
  ScannedMessage m;
  EXPECT_FALSE(scanner_->Next(&m));
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
  EXPECT_TRUE(scanner_->io_status().ok());
  EXPECT_EQ(scanner_->position(), 0u);
}

TEST_F(LogScannerTest, AHeaderOnlyLogHasNoMessagesAndNoProblem) {
  StartFramed();
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
  EXPECT_EQ(scanner_->position(), kHeaderRecordSize);
}

TEST_F(LogScannerTest, OneFramedMessageReadsBackWithItsSeqOffsetsAndFlag) {
  StartFramed();
  Framed(7, "hello");
  StartAfterHeader();
  ScannedMessage m;
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.seq, 7u);
  EXPECT_TRUE(m.framed);
  EXPECT_EQ(m.used, kPending);
  EXPECT_EQ(m.start, kHeaderRecordSize);
  EXPECT_EQ(m.msg_offset, kHeaderRecordSize + kMetaRecordSize);
  EXPECT_EQ(m.end, kHeaderRecordSize + kFramedOverhead + 5);
  EXPECT_EQ(m.payload, "hello");
  EXPECT_EQ(scanner_->position(), m.end);
  EXPECT_EQ(scanner_->prev_seq(), 7u);
  EXPECT_FALSE(scanner_->Next(&m));
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
}

TEST_F(LogScannerTest, MessagesOfManySizesReadBackInOrderWhateverTheReadChunk) {
  StartFramed();
  std::vector<std::string> want;
  for (size_t n : {0, 1, 7, 8, 19, 20, 27, 28, 29, 100, 4095, 4096, 4097, 70000}) {
    want.push_back(Payload(std::to_string(n) + ".", n));
    Framed(want.size(), want.back());
  }
  // A chunk smaller than one record, one that splits records anywhere, and
  // one larger than the whole log.
  for (size_t chunk : {1, 13, 4096, 1 << 20}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    StartAfterHeader(chunk);
    EXPECT_EQ(ReadAll(), want);
    EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
    EXPECT_EQ(scanner_->position(), file_.data.size());
    EXPECT_EQ(scanner_->prev_seq(), want.size());
  }
}

TEST_F(LogScannerTest, EachMessageReportsWhereItStartsAndEndsAndThePositionFollows) {
  StartFramed();
  std::vector<uint64_t> starts;
  for (int i = 1; i <= 20; ++i) starts.push_back(Framed(i, Payload("p", static_cast<size_t>(i * 3))));
  StartAfterHeader(64);
  ScannedMessage m;
  for (size_t i = 0; i < starts.size(); ++i) {
    ASSERT_TRUE(scanner_->Next(&m)) << i;
    EXPECT_EQ(m.start, starts[i]);
    const uint64_t next = i + 1 < starts.size() ? starts[i + 1] : file_.data.size();
    EXPECT_EQ(m.end, next);
    EXPECT_EQ(scanner_->position(), next);
  }
}

TEST_F(LogScannerTest, EveryCutInsideTheLastMessageIsIncompleteAtItsStartAndKeepsTheOnesBefore) {
  StartFramed();
  Framed(1, "first");
  const uint64_t last = Framed(2, Payload("second", 40));
  const std::string whole = file_.data;
  for (uint64_t cut = last + 1; cut < whole.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    file_.data = whole.substr(0, cut);
    StartAfterHeader();
    EXPECT_EQ(ReadAll(), std::vector<std::string>{"first"});
    EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete) << Reason();
    EXPECT_EQ(ProblemOffset(), last);
    EXPECT_EQ(scanner_->position(), last);
    EXPECT_EQ(scanner_->prev_seq(), 1u);
  }
}

TEST_F(LogScannerTest, ATornRecordHeaderSaysHowManyOfItsEightBytesArePresent) {
  StartFramed();
  const uint64_t at = Framed(1, "x");
  file_.data.resize(at + 3);
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "record header cut short (3 of 8 bytes)");
}

TEST_F(LogScannerTest, APayloadByteChangedIsACorruptChecksumAtTheMessageStart) {
  StartFramed();
  Framed(1, "one");
  const uint64_t at = Framed(2, "two");
  Framed(3, "three");
  file_.data[at + kFramedOverhead + 1] ^= 0x20;
  StartAfterHeader();
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "checksum mismatch in framed message");
  EXPECT_EQ(scanner_->position(), at);
}

TEST_F(LogScannerTest, AChangedSequenceNumberFailsTheChecksum) {
  StartFramed();
  const uint64_t at = Framed(1, "one");
  EncodeFixed64(file_.data.data() + at + kMetaSeqOffset, 9);
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(Reason(), "checksum mismatch in framed message");
}

TEST_F(LogScannerTest, ASequenceNumberThatDoesNotRiseIsCorrupt) {
  StartFramed();
  Framed(5, "five");
  const uint64_t at = Framed(5, "five again");
  StartAfterHeader();
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"five"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "sequence number 5 does not follow 5");
}

TEST_F(LogScannerTest, AScanResumedAfterASeqRefusesThatSeqAgain) {
  StartFramed();
  const uint64_t at = Framed(3, "three");
  Start(at, true, /*prev_seq=*/3);
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  Start(at, true, /*prev_seq=*/2);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"three"});
}

TEST_F(LogScannerTest, AFramedMessageWithABadUsedFlagIsReturnedWithTheFlagAsStored) {
  // The used flag is outside the checksum (consuming rewrites it): a flag
  // neither 0 nor 1 is the caller's to count, not a break in the log.
  StartFramed();
  const uint64_t at = Framed(1, "one");
  Framed(2, "two");
  EncodeFixed32(file_.data.data() + at + kMetaRecordSize, 7);
  StartAfterHeader();
  ScannedMessage m;
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.used, 7);
  EXPECT_EQ(m.payload, "one");
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.used, kPending);
}

TEST_F(LogScannerTest, AConsumedFramedMessageIsReturnedAsConsumed) {
  StartFramed();
  const uint64_t at = Framed(1, "one");
  EncodeFixed32(file_.data.data() + at + kMetaRecordSize, static_cast<uint32_t>(kConsumed));
  StartAfterHeader();
  ScannedMessage m;
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.used, kConsumed);
}

TEST_F(LogScannerTest, AnUnknownRecordKindIsCorruptAndNamedInHex) {
  StartFramed();
  const uint64_t at = file_.data.size();
  AppendLegacy(&file_.data, 0x12345678, "zz");
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "unknown record kind 0x12345678");
}

TEST_F(LogScannerTest, AFileHeaderWhereAMessageBelongsIsCorrupt) {
  StartFramed();
  Framed(1, "one");
  const uint64_t at = file_.data.size();
  file_.data += HeaderRecord();
  StartAfterHeader();
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "file header record where a message was expected");
}

TEST_F(LogScannerTest, AMetaRecordWithAnotherSizeIsCorrupt) {
  StartFramed();
  const uint64_t at = Framed(1, "one");
  EncodeFixed32(file_.data.data() + at + 4, kMetaPayloadSize + 1);
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(Reason(), "meta record has size 13 (expected 12)");
}

TEST_F(LogScannerTest, AFramedSizeLargerThanTheFileIsIncomplete) {
  StartFramed();
  const uint64_t at = Framed(1, "one");
  EncodeFixed32(file_.data.data() + at + kMetaRecordSize + 4, 1000);
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "framed message cut short (31 of 1028 bytes)");
}

TEST_F(LogScannerTest, AFramedSizeAboveTheLimitIsIncompleteIfItRunsPastTheEndAndCorruptIfNot) {
  StartFramed();
  const uint64_t at = Framed(1, Payload("x", 100));
  Framed(2, Payload("y", 2000));
  // Larger than the scanner accepts and than the rest of the file: what a torn write looks like.
  EncodeFixed32(file_.data.data() + at + kMetaRecordSize + 4, 5000);
  Start(kHeaderRecordSize, true, 0, 1 << 20, /*max_payload=*/1000);
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete) << Reason();
  // Larger than accepted, yet inside the file: damage.
  EncodeFixed32(file_.data.data() + at + kMetaRecordSize + 4, 1500);
  Start(kHeaderRecordSize, true, 0, 1 << 20, /*max_payload=*/1000);
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt) << Reason();
  EXPECT_EQ(Reason(), "message size 1500 is out of range (largest accepted 1000)");
  // A negative size is damage wherever the file ends.
  EncodeFixed32(file_.data.data() + at + kMetaRecordSize + 4, 0xfffffff0u);
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt) << Reason();
}

TEST_F(LogScannerTest, TheLegacyHeaderlessFormatReadsBackWithSeqsCountedFromPrevSeq) {
  AppendLegacy(&file_.data, kPending, "a");
  AppendLegacy(&file_.data, kConsumed, "bb");
  AppendLegacy(&file_.data, kPending, "");
  Start(0, false, /*prev_seq=*/10);
  ScannedMessage m;
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.seq, 11u);
  EXPECT_FALSE(m.framed);
  EXPECT_EQ(m.start, 0u);
  EXPECT_EQ(m.msg_offset, 0u);
  EXPECT_EQ(m.end, kRecordHeaderSize + 1);
  EXPECT_EQ(m.payload, "a");
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.seq, 12u);
  EXPECT_EQ(m.used, kConsumed);
  EXPECT_EQ(m.payload, "bb");
  ASSERT_TRUE(scanner_->Next(&m));
  EXPECT_EQ(m.seq, 13u);
  EXPECT_EQ(m.payload, "");
  EXPECT_FALSE(scanner_->Next(&m));
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
  EXPECT_FALSE(scanner_->framed_only());
}

TEST_F(LogScannerTest, ALegacyRecordCutShortIsIncompleteAndANegativeSizeIsCorrupt) {
  AppendLegacy(&file_.data, kPending, "abc");
  AppendLegacy(&file_.data, kPending, "defgh");
  const std::string whole = file_.data;
  file_.data.resize(whole.size() - 1);
  Start(0, false);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"abc"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete);
  EXPECT_EQ(ProblemOffset(), kRecordHeaderSize + 3);
  EXPECT_EQ(Reason(), "record cut short (12 of 13 bytes)");

  file_.data = whole;
  EncodeFixed32(file_.data.data() + kRecordHeaderSize + 3 + 4, 0x80000000u);
  Start(0, false);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"abc"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(Reason(), "record size -2147483648 is negative");
}

TEST_F(LogScannerTest, ALegacyLogTakesFramedMessagesAndFromThenOnRefusesBareRecords) {
  AppendLegacy(&file_.data, kPending, "old");
  Framed(2, "new");
  const uint64_t bare = file_.data.size();
  AppendLegacy(&file_.data, kPending, "bare");
  Start(0, false);
  EXPECT_EQ(ReadAll(), (std::vector<std::string>{"old", "new"}));
  EXPECT_TRUE(scanner_->framed_only());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), bare);
  EXPECT_EQ(Reason(), "message record without its meta record");
}

TEST_F(LogScannerTest, ABareRecordInAFramedLogIsCorrupt) {
  StartFramed();
  const uint64_t at = file_.data.size();
  AppendLegacy(&file_.data, kPending, "bare");
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), at);
}

TEST_F(LogScannerTest, KeyExtractorRecordsArePassedOverAndTheLastOneIsRemembered) {
  StartFramed();
  AppendKeyRecord(&file_.data, "first:4");
  Framed(1, "one");
  const uint64_t second = file_.data.size();
  AppendKeyRecord(&file_.data, "until::");
  Framed(2, "two");
  StartAfterHeader();
  EXPECT_FALSE(scanner_->key_seen());
  EXPECT_EQ(ReadAll(), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
  EXPECT_TRUE(scanner_->key_seen());
  EXPECT_EQ(scanner_->key_spec(), "until::");
  EXPECT_EQ(scanner_->key_offset(), second);
  EXPECT_EQ(scanner_->position(), file_.data.size());
}

TEST_F(LogScannerTest, AKeyExtractorRecordAtTheEndIsTakenAndTheScanEndsCleanly) {
  StartFramed();
  Framed(1, "one");
  AppendKeyRecord(&file_.data, "none");
  StartAfterHeader();
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
  EXPECT_EQ(scanner_->key_spec(), "none");
  EXPECT_EQ(scanner_->position(), file_.data.size());
}

TEST_F(LogScannerTest, AKeyExtractorRecordMakesALegacyLogFramedOnly) {
  AppendLegacy(&file_.data, kPending, "old");
  AppendKeyRecord(&file_.data, "first:2");
  AppendLegacy(&file_.data, kPending, "bare");
  Start(0, false);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"old"});
  EXPECT_TRUE(scanner_->framed_only());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(Reason(), "message record without its meta record");
}

TEST_F(LogScannerTest, ADamagedKeyExtractorRecordIsCorruptAtItsOffset) {
  StartFramed();
  const uint64_t at = file_.data.size();
  AppendKeyRecord(&file_.data, "first:4");
  Framed(1, "one");
  const std::string whole = file_.data;

  file_.data[at + kRecordHeaderSize + 2] ^= 1;  // a spec byte: the checksum fails
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(ProblemOffset(), at);
  EXPECT_EQ(Reason(), "checksum mismatch in key extractor record");
  EXPECT_FALSE(scanner_->key_seen());

  file_.data = whole;
  EncodeFixed32(file_.data.data() + at + 4, 4);  // no room for a spec
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_EQ(Reason(), "key extractor record has size 4 (expected 5 to 259)");
}

TEST_F(LogScannerTest, AKeyExtractorRecordWithASpecThisMqDoesNotKnowIsCorrupt) {
  StartFramed();
  AppendKeyRecord(&file_.data, "last:3");  // well formed, checksum and all
  StartAfterHeader();
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  EXPECT_FALSE(scanner_->key_seen());
}

TEST_F(LogScannerTest, EveryCutInsideAKeyExtractorRecordIsIncompleteAtItsStart) {
  StartFramed();
  Framed(1, "one");
  const uint64_t at = file_.data.size();
  AppendKeyRecord(&file_.data, "first:4");
  const std::string whole = file_.data;
  for (uint64_t cut = at + 1; cut < whole.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    file_.data = whole.substr(0, cut);
    StartAfterHeader();
    EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
    EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete) << Reason();
    EXPECT_EQ(ProblemOffset(), at);
    EXPECT_FALSE(scanner_->key_seen());
  }
}

TEST_F(LogScannerTest, AFileCutBelowTheScanLimitMeanwhileIsIncompleteWhereTheCutIs) {
  // The scanner was sized for the whole file; another process then cut it.
  StartFramed();
  Framed(1, "one");
  const uint64_t last = Framed(2, Payload("two", 300));
  StartAfterHeader(/*chunk=*/16);
  file_.data.resize(last + 100);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  EXPECT_EQ(Kind(), ScanProblem::Kind::kIncomplete) << Reason();
  EXPECT_EQ(ProblemOffset(), last);
  EXPECT_TRUE(scanner_->io_status().ok());
}

TEST_F(LogScannerTest, AReadErrorStopsTheScanAsAnIOErrorNotAsDamage) {
  StartFramed();
  Framed(1, "one");
  const uint64_t at = Framed(2, Payload("two", 500));
  file_.FailReadsFrom(at + 100);
  StartAfterHeader(/*chunk=*/64);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  EXPECT_FALSE(scanner_->io_status().ok());
  EXPECT_EQ(Kind(), ScanProblem::Kind::kNone);
  EXPECT_EQ(scanner_->position(), at);
}

TEST_F(LogScannerTest, ResyncFindsTheNextValidMessageAboveTheGivenSeq) {
  StartFramed();
  Framed(1, "one");
  const uint64_t bad = Framed(2, "two");
  const uint64_t three = Framed(3, "three");
  const uint64_t four = Framed(4, "four");
  file_.data[bad + kFramedOverhead] ^= 1;
  StartAfterHeader(/*chunk=*/16);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  ASSERT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  uint64_t found = 0;
  ASSERT_TRUE(scanner_->Resync(bad + 1, 1, &found));
  EXPECT_EQ(found, three);
  ASSERT_TRUE(scanner_->Resync(bad + 1, 3, &found));
  EXPECT_EQ(found, four);
  EXPECT_FALSE(scanner_->Resync(bad + 1, 4, &found));
}

// Issue 17 item 7: a payload holding a framed record (seq 999) inside a
// message whose size was damaged. The record checks out, but the message
// after the payload does not follow it: resync goes on to that message.
TEST_F(LogScannerTest, ResyncNeverTakesARecordAPayloadHoldsWhenTheChainAfterItBreaks) {
  StartFramed();
  Framed(1, "one");
  std::string inner;
  AppendFramed(&inner, 999, "inner");
  const uint64_t bad = Framed(2, "pre:" + inner);
  const uint64_t three = Framed(3, "three");
  Framed(4, "four");
  EncodeFixed32(&file_.data[bad + kMetaRecordSize + 4], static_cast<uint32_t>(4 + inner.size() + 3));
  StartAfterHeader(/*chunk=*/16);
  EXPECT_EQ(ReadAll(), std::vector<std::string>{"one"});
  ASSERT_EQ(Kind(), ScanProblem::Kind::kCorrupt);
  uint64_t found = 0;
  ASSERT_TRUE(scanner_->Resync(bad + 1, 1, &found));
  EXPECT_EQ(found, three);
}

TEST_F(LogScannerTest, ValidFramedAtChecksAMessageWithoutMovingTheScan) {
  StartFramed();
  const uint64_t one = Framed(1, "one");
  StartAfterHeader();
  ScannedMessage m;
  ASSERT_TRUE(scanner_->ValidFramedAt(one, 0, &m));
  EXPECT_EQ(m.payload, "one");
  EXPECT_EQ(m.seq, 1u);
  EXPECT_FALSE(scanner_->ValidFramedAt(one, 1, &m));      // not above min_seq
  EXPECT_FALSE(scanner_->ValidFramedAt(one + 1, 0, &m));  // not a message start
  EXPECT_EQ(scanner_->position(), kHeaderRecordSize);
}

}  // namespace
}  // namespace mq::log
