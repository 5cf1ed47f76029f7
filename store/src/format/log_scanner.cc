#include "format/log_scanner.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"
#include "format/log_format.h"
#include "mq/key_extractor.h"
#include "format/record.h"

namespace mq::log {
namespace {
std::string Hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof(b), "0x%08x", v);
  return b;
}
}  // namespace

LogScanner::LogScanner(File* file, uint64_t limit, uint64_t max_payload, size_t chunk)
    : file_(file), limit_(limit), max_payload_(max_payload), chunk_(chunk) {
  assert(file != nullptr);
  assert(chunk > 0);
}

void LogScanner::Reset(uint64_t offset, uint64_t prev_seq, bool framed_only) {
  pos_ = offset;
  prev_seq_ = prev_seq;
  framed_only_ = framed_only;
  problem_ = ScanProblem{};
}

bool LogScanner::Ensure(uint64_t off, size_t n) {
  if (off + n > limit_) return false;
  if (off >= buf_off_ && off + n <= buf_off_ + buf_len_) return true;
  size_t want = std::max(n, chunk_);
  want = static_cast<size_t>(std::min<uint64_t>(want, limit_ - off));
  if (buf_.size() < want) buf_.resize(want);
  size_t got = 0;
  Status s = file_->Read(off, want, buf_.data(), &got);
  buf_off_ = off;
  buf_len_ = got;
  if (!s.ok()) {
    io_ = s;
    buf_len_ = 0;
    return false;
  }
  assert(got <= want);
  return got >= n;
}

bool LogScanner::Fail(ScanProblem::Kind kind, uint64_t offset, std::string reason) {
  assert(kind != ScanProblem::Kind::kNone);
  assert(offset == pos_);  // a problem is found where the scan stands, which stays on it
  problem_.kind = kind;
  problem_.offset = offset;
  problem_.reason = std::move(reason);
  return false;
}

bool LogScanner::ValidFramedAt(uint64_t off, uint64_t min_seq, ScannedMessage* m) {
  if (!Ensure(off, kFramedOverhead)) return false;
  const char* p = At(off);
  if (DecodeInt32(p) != kMetaKind || DecodeFixed32(p + 4) != kMetaPayloadSize) return false;
  int32_t size = DecodeInt32(p + kMetaRecordSize + 4);
  if (size < 0 || static_cast<uint64_t>(size) > max_payload_) return false;
  if (!Ensure(off, kFramedOverhead + static_cast<size_t>(size))) return false;
  p = At(off);
  uint32_t want = crc32c::Unmask(DecodeFixed32(p + kMetaCrcOffset));
  if (FramedCrc(p, p + kMetaRecordSize + 4, static_cast<size_t>(size)) != want) return false;
  uint64_t seq = DecodeFixed64(p + kMetaSeqOffset);
  if (seq <= min_seq) return false;
  m->seq = seq;
  m->start = off;
  m->msg_offset = off + kMetaRecordSize;
  m->end = off + kFramedOverhead + static_cast<uint64_t>(size);
  m->framed = true;
  m->used = DecodeInt32(p + kMetaRecordSize);
  m->payload = std::string_view(p + kFramedOverhead, static_cast<size_t>(size));
  assert(m->end <= limit_);
  return true;
}

bool LogScanner::TakeKeyRecord() {
  const uint64_t at = pos_;
  assert(DecodeInt32(At(at)) == kKeyKind);  // Next saw the kind; the header is readable
  const int32_t size = DecodeInt32(At(at) + 4);
  if (size < 5 || static_cast<uint32_t>(size) > kMaxKeySpec + 4)
    return Fail(ScanProblem::Kind::kCorrupt, at,
                "key extractor record has size " + std::to_string(size) + " (expected 5 to " +
                    std::to_string(kMaxKeySpec + 4) + ")");
  const uint64_t total = kRecordHeaderSize + static_cast<uint64_t>(size);
  if (!Ensure(at, static_cast<size_t>(total))) {
    if (!io_.ok()) return false;
    return Fail(ScanProblem::Kind::kIncomplete, at,
                "key extractor record cut short (" + std::to_string(limit_ - at) + " of " + std::to_string(total) +
                    " bytes)");
  }
  const char* p = At(at);
  const uint32_t want = crc32c::Unmask(DecodeFixed32(p + total - 4));
  if (KeyRecordCrc(p, static_cast<uint32_t>(size)) != want)
    return Fail(ScanProblem::Kind::kCorrupt, at, "checksum mismatch in key extractor record");
  const std::string_view spec(p + kRecordHeaderSize, static_cast<size_t>(size) - 4);
  if (!KeyExtractor::Parse(spec).ok())
    return Fail(ScanProblem::Kind::kCorrupt, at,
                "key extractor record holds '" + std::string(spec) +
                    "', which is not a key extractor this mq knows (none, first:N, until:C)");
  key_seen_ = true;
  key_spec_.assign(p + kRecordHeaderSize, static_cast<size_t>(size) - 4);
  key_offset_ = at;
  framed_only_ = true;
  pos_ = at + total;
  return true;
}

bool LogScanner::TakeSyncMark() {
  const uint64_t at = pos_;
  assert(DecodeInt32(At(at)) == kSyncKind);  // Next saw the kind; the header is readable
  const int32_t size = DecodeInt32(At(at) + 4);
  if (size != static_cast<int32_t>(kSyncPayloadSize))
    return Fail(ScanProblem::Kind::kCorrupt, at, "sync mark has size " + std::to_string(size) + " (expected 12)");
  if (!Ensure(at, kSyncRecordSize)) {
    if (!io_.ok()) return false;
    return Fail(ScanProblem::Kind::kIncomplete, at,
                "sync mark cut short (" + std::to_string(limit_ - at) + " of 20 bytes)");
  }
  uint64_t d = 0;
  if (!DecodeSyncMark(At(at), at, &d)) {
    const char* p = At(at);
    if (crc32c::Value(p, kSyncCrcOffset) != crc32c::Unmask(DecodeFixed32(p + kSyncCrcOffset)))
      return Fail(ScanProblem::Kind::kCorrupt, at, "checksum mismatch in sync mark");
    return Fail(ScanProblem::Kind::kCorrupt, at,
                "sync mark names offset " + std::to_string(DecodeFixed64(p + kSyncDurableOffset)) +
                    ", after itself");
  }
  durable_ = std::max(durable_, d);
  ++sync_marks_;
  framed_only_ = true;
  pos_ = at + kSyncRecordSize;
  return true;
}

bool LogScanner::DurableMarkAfter(uint64_t from, uint64_t offset, uint64_t* durable) {
  char pattern[8];
  EncodeFixed32(pattern, static_cast<uint32_t>(kSyncKind));
  EncodeFixed32(pattern + 4, kSyncPayloadSize);
  return FindRecord(from, kSyncRecordSize, pattern, [&](uint64_t cand) {
    uint64_t d = 0;
    if (cand + kSyncRecordSize > limit_ || !Ensure(cand, kSyncRecordSize) || !DecodeSyncMark(At(cand), cand, &d) ||
        d <= offset)
      return false;
    *durable = d;
    return true;
  });
}

bool LogScanner::Next(ScannedMessage* m) {
  problem_ = ScanProblem{};
  for (;;) {  // key extractor records and sync marks are not messages: pass over them
    if (pos_ >= limit_) return false;
    if (!Ensure(pos_, kRecordHeaderSize)) break;
    const int32_t kind = DecodeInt32(At(pos_));
    if (kind == kKeyKind) {
      if (!TakeKeyRecord()) return false;
    } else if (kind == kSyncKind) {
      if (!TakeSyncMark()) return false;
    } else {
      break;
    }
  }
  const uint64_t at = pos_;
  if (!Ensure(at, kRecordHeaderSize)) {
    if (!io_.ok()) return false;
    return Fail(ScanProblem::Kind::kIncomplete, at,
                "record header cut short (" + std::to_string(limit_ - at) + " of 8 bytes)");
  }
  const char* p = At(at);
  const int32_t used = DecodeInt32(p);
  const int32_t size = DecodeInt32(p + 4);

  if (used == kMetaKind) {
    if (size != static_cast<int32_t>(kMetaPayloadSize))
      return Fail(ScanProblem::Kind::kCorrupt, at,
                  "meta record has size " + std::to_string(size) + " (expected 12)");
    if (!Ensure(at, kFramedOverhead)) {
      if (!io_.ok()) return false;
      return Fail(ScanProblem::Kind::kIncomplete, at, "framed message cut short");
    }
    p = At(at);
    int32_t msize = DecodeInt32(p + kMetaRecordSize + 4);
    if (msize < 0 || static_cast<uint64_t>(msize) > max_payload_) {
      if (msize >= 0 && at + kFramedOverhead + static_cast<uint64_t>(msize) > limit_)
        return Fail(ScanProblem::Kind::kIncomplete, at,
                    "message size " + std::to_string(msize) + " is out of range (largest accepted " +
                        std::to_string(max_payload_) + ") and runs past the end of the log");
      return Fail(ScanProblem::Kind::kCorrupt, at,
                  "message size " + std::to_string(msize) + " is out of range (largest accepted " +
                      std::to_string(max_payload_) + ")");
    }
    if (!Ensure(at, kFramedOverhead + static_cast<size_t>(msize))) {
      if (!io_.ok()) return false;
      return Fail(ScanProblem::Kind::kIncomplete, at,
                  "framed message cut short (" + std::to_string(limit_ - at) + " of " +
                      std::to_string(kFramedOverhead + static_cast<uint64_t>(msize)) + " bytes)");
    }
    p = At(at);
    uint32_t want = crc32c::Unmask(DecodeFixed32(p + kMetaCrcOffset));
    if (FramedCrc(p, p + kMetaRecordSize + 4, static_cast<size_t>(msize)) != want)
      return Fail(ScanProblem::Kind::kCorrupt, at, "checksum mismatch in framed message");
    uint64_t seq = DecodeFixed64(p + kMetaSeqOffset);
    if (seq <= prev_seq_)
      return Fail(ScanProblem::Kind::kCorrupt, at,
                  "sequence number " + std::to_string(seq) + " does not follow " + std::to_string(prev_seq_));
    m->seq = seq;
    m->start = at;
    m->msg_offset = at + kMetaRecordSize;
    m->end = at + kFramedOverhead + static_cast<uint64_t>(msize);
    m->framed = true;
    m->used = DecodeInt32(p + kMetaRecordSize);
    m->payload = std::string_view(p + kFramedOverhead, static_cast<size_t>(msize));
    framed_only_ = true;
  } else if (used == kPending || used == kConsumed) {
    if (framed_only_)
      return Fail(ScanProblem::Kind::kCorrupt, at, "message record without its meta record");
    if (size < 0)
      return Fail(ScanProblem::Kind::kCorrupt, at, "record size " + std::to_string(size) + " is negative");
    uint64_t total = kRecordHeaderSize + static_cast<uint64_t>(size);
    if (at + total > limit_)
      return Fail(ScanProblem::Kind::kIncomplete, at,
                  static_cast<uint64_t>(size) > max_payload_
                      ? "message size " + std::to_string(size) + " is out of range (largest accepted " +
                            std::to_string(max_payload_) + ") and runs past the end of the log"
                      : "record cut short (" + std::to_string(limit_ - at) + " of " + std::to_string(total) +
                            " bytes)");
    if (static_cast<uint64_t>(size) > max_payload_)
      return Fail(ScanProblem::Kind::kCorrupt, at,
                  "message size " + std::to_string(size) + " is out of range (largest accepted " +
                      std::to_string(max_payload_) + ")");
    if (!Ensure(at, static_cast<size_t>(total))) return false;  // only an I/O error gets here
    p = At(at);
    m->seq = prev_seq_ + 1;
    m->start = at;
    m->msg_offset = at;
    m->end = at + total;
    m->framed = false;
    m->used = used;
    m->payload = std::string_view(p + kRecordHeaderSize, static_cast<size_t>(size));
  } else if (used == kHeaderKind) {
    return Fail(ScanProblem::Kind::kCorrupt, at, "file header record where a message was expected");
  } else {
    return Fail(ScanProblem::Kind::kCorrupt, at,
                "unknown record kind " + Hex32(static_cast<uint32_t>(used)));
  }
  // Every message moves the scan forward, within the range.
  assert(m->start == at && m->end > at && m->end <= limit_);
  prev_seq_ = m->seq;
  pos_ = m->end;
  return true;
}

bool LogScanner::Resync(uint64_t from, uint64_t min_seq, uint64_t* found) {
  // docs/log-format.md, "Resynchronising": a framed message that checks out
  // is only a candidate, since a payload can hold one (a sender controls its
  // bytes). It is taken only with evidence from outside those bytes.
  char pattern[8];
  EncodeFixed32(pattern, static_cast<uint32_t>(kMetaKind));
  EncodeFixed32(pattern + 4, kMetaPayloadSize);
  return FindRecord(from, kFramedOverhead, pattern, [&](uint64_t cand) {
    ScannedMessage m;
    if (!ValidFramedAt(cand, min_seq, &m)) return false;
    assert(cand >= from && m.seq > min_seq);
    if (!ChainContinues(m.end, m.seq)) return false;
    *found = cand;
    return true;
  });
}

bool LogScanner::ChainContinues(uint64_t from, uint64_t seq) {
  // The records after a candidate continue the chain. Read on until
  // the end of the range or a problem; a record there that checks out but
  // does not follow in sequence is a real record after the payload the
  // candidate was found in, so the candidate is not one.
  LogScanner chain(file_, limit_, max_payload_, std::min<size_t>(chunk_, 1 << 16));
  chain.Reset(from, seq, true);
  ScannedMessage m;
  while (chain.Next(&m)) {
  }
  if (!chain.io_status().ok()) {
    io_ = chain.io_status();
    return false;
  }
  const ScanProblem& p = chain.problem();
  if (p.kind != ScanProblem::Kind::kCorrupt) return true;  // the end of the range, or a cut-short record
  return !chain.ValidFramedAt(p.offset, 0, &m);             // framed, checks out, seq not rising: not a chain
}

bool LogScanner::FindRecord(uint64_t from, uint64_t room, const char (&pattern)[8],
                            const std::function<bool(uint64_t)>& accept) {
  uint64_t pos = from;
  while (pos + room <= limit_) {
    size_t span = static_cast<size_t>(std::min<uint64_t>(chunk_, limit_ - pos));
    if (!Ensure(pos, span)) return false;
    const char* base = At(pos);
    const void* hit = memmem(base, span, pattern, sizeof(pattern));
    if (hit == nullptr) {
      if (pos + span >= limit_) return false;
      pos += span - (sizeof(pattern) - 1);
      continue;
    }
    const uint64_t cand = pos + static_cast<uint64_t>(static_cast<const char*>(hit) - base);
    if (accept(cand)) return true;
    if (!io_.ok()) return false;
    pos = cand + 1;
  }
  return false;
}

}  // namespace mq::log
