#include "format/record.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"
#include "format/log_format.h"

namespace mq::log {

// The header's checksum covers bytes 0..51 with the session stamp (48..51)
// read as zero: the stamp is rewritten in place by every open, and a torn
// rewrite must leave a valid header (a torn stamp is only a stamp no index
// names, which causes a rebuild). A log with stamp 0 has the checksum that
// mq before the stamp wrote.
static uint32_t HeaderCrc(const char* rec) {
  char copy[kRecordHeaderSize + kHeaderCrcOffset];
  std::memcpy(copy, rec, sizeof(copy));
  std::memset(copy + kRecordHeaderSize + kHeaderSessionOffset, 0, 4);
  return crc32c::Value(copy, sizeof(copy));
}

void EncodeHeader(const Header& h, std::string* dst) {
  char rec[kHeaderRecordSize] = {};
  EncodeFixed32(rec, static_cast<uint32_t>(kHeaderKind));
  EncodeFixed32(rec + 4, kHeaderPayloadSize);
  char* p = rec + kRecordHeaderSize;
  std::memcpy(p, kHeaderMagic, sizeof(kHeaderMagic));
  EncodeFixed32(p + kHeaderVersionOffset, h.version);
  EncodeFixed32(p + kHeaderFlagsOffset, h.flags);
  EncodeFixed64(p + kHeaderLogIdOffset, h.log_id);
  EncodeFixed64(p + kHeaderSeqFloorOffset, h.seq_floor);
  EncodeFixed64(p + kHeaderCreatedOffset, h.created_micros);
  EncodeFixed32(p + kHeaderSessionOffset, h.session);
  EncodeFixed32(p + kHeaderCrcOffset, crc32c::Mask(HeaderCrc(rec)));
  dst->append(rec, sizeof(rec));
}

Status DecodeHeader(const char* rec, size_t n, const std::string& path, Header* h) {
  if (n < kHeaderRecordSize)
    return Status::Corruption(path + ": offset 0: file header is cut short (" + std::to_string(n) +
                              " of " + std::to_string(kHeaderRecordSize) + " bytes)");
  if (DecodeInt32(rec) != kHeaderKind || DecodeFixed32(rec + 4) != kHeaderPayloadSize)
    return Status::NotALog(path + ": offset 0: no mq file header");
  const char* p = rec + kRecordHeaderSize;
  if (std::memcmp(p, kHeaderMagic, sizeof(kHeaderMagic)) != 0)
    return Status::Corruption(path + ": offset 8: file header magic is damaged");
  uint32_t want = crc32c::Unmask(DecodeFixed32(p + kHeaderCrcOffset));
  if (HeaderCrc(rec) != want)
    return Status::Corruption(path + ": offset 0: file header checksum mismatch");
  h->version = DecodeFixed32(p + kHeaderVersionOffset);
  h->flags = DecodeFixed32(p + kHeaderFlagsOffset);
  h->log_id = DecodeFixed64(p + kHeaderLogIdOffset);
  h->seq_floor = DecodeFixed64(p + kHeaderSeqFloorOffset);
  h->created_micros = DecodeFixed64(p + kHeaderCreatedOffset);
  h->session = DecodeFixed32(p + kHeaderSessionOffset);
  if (h->version > kFormatVersion)
    return Status::Unsupported(path + ": written in log format version " + std::to_string(h->version) +
                               "; this mq reads versions up to " + std::to_string(kFormatVersion) +
                               ": open it with a newer mq");
  if (h->version == 0)
    return Status::Corruption(path + ": offset 16: file header has format version 0");
  if (h->flags != 0)
    return Status::Unsupported(path + ": file header has flags 0x" + std::to_string(h->flags) +
                               " that this mq does not know: open it with a newer mq");
  return Status::OK();
}

Status WriteHeaderSession(File* file, const Header& h, bool sync) {
  std::string rec;
  EncodeHeader(h, &rec);
  constexpr uint32_t from = kRecordHeaderSize + kHeaderSessionOffset;
  static_assert(from + 4 <= kRecordHeaderSize + kHeaderCrcOffset, "the stamp is rewritten alone: it ends before the checksum field");
  MQ_RETURN_IF_ERROR(file->Write(from, rec.data() + from, 4));
  return sync ? file->Sync() : Status::OK();
}

uint32_t FramedCrc(const char* meta, const char* msg_size_field, size_t payload_len) {
  assert(msg_size_field == meta + kMetaRecordSize + 4);  // the message record follows its meta record
  uint32_t c = crc32c::Value(meta, kMetaCrcOffset);
  return crc32c::Extend(c, msg_size_field, 4 + payload_len);
}

size_t EncodeFramed(char* dst, uint64_t seq, std::string_view payload) {
  if (!payload.empty()) std::memcpy(dst + kFramedOverhead, payload.data(), payload.size());
  EncodeFramedHeader(dst, seq, payload);
  return kFramedOverhead + payload.size();
}

void EncodeFramedHeader(char* dst, uint64_t seq, std::string_view payload) {
  assert(payload.size() <= kMaxPayload);  // the size field is an int32
  EncodeFixed32(dst, static_cast<uint32_t>(kMetaKind));
  EncodeFixed32(dst + 4, kMetaPayloadSize);
  EncodeFixed64(dst + kMetaSeqOffset, seq);
  char* msg = dst + kMetaRecordSize;
  EncodeFixed32(msg, static_cast<uint32_t>(kPending));
  EncodeFixed32(msg + 4, static_cast<uint32_t>(payload.size()));
  // FramedCrc's sum, with the payload read where it is (it need not follow
  // the header in memory).
  uint32_t c = crc32c::Value(dst, kMetaCrcOffset);
  c = crc32c::Extend(c, msg + 4, 4);
  c = crc32c::Extend(c, payload.data(), payload.size());
  EncodeFixed32(dst + kMetaCrcOffset, crc32c::Mask(c));
}

uint32_t KeyRecordCrc(const char* rec, uint32_t size) {
  assert(size >= 4);  // the size counts the checksum itself
  return crc32c::Value(rec, kRecordHeaderSize + size - 4);
}

void AppendKeyRecord(std::string* dst, std::string_view spec) {
  assert(!spec.empty() && spec.size() <= kMaxKeySpec);  // what LogScanner accepts
  const size_t old = dst->size();
  const uint32_t size = static_cast<uint32_t>(spec.size()) + 4;
  dst->resize(old + kRecordHeaderSize + size);
  char* rec = dst->data() + old;
  EncodeFixed32(rec, static_cast<uint32_t>(kKeyKind));
  EncodeFixed32(rec + 4, size);
  std::memcpy(rec + kRecordHeaderSize, spec.data(), spec.size());
  EncodeFixed32(rec + kRecordHeaderSize + spec.size(), crc32c::Mask(KeyRecordCrc(rec, size)));
}

void EncodeSyncMark(char* dst, uint64_t durable) {
  EncodeFixed32(dst, static_cast<uint32_t>(kSyncKind));
  EncodeFixed32(dst + 4, kSyncPayloadSize);
  EncodeFixed64(dst + kSyncDurableOffset, durable);
  EncodeFixed32(dst + kSyncCrcOffset, crc32c::Mask(crc32c::Value(dst, kSyncCrcOffset)));
}

bool DecodeSyncMark(const char* rec, uint64_t at, uint64_t* durable) {
  if (DecodeInt32(rec) != kSyncKind || DecodeFixed32(rec + 4) != kSyncPayloadSize) return false;
  if (crc32c::Value(rec, kSyncCrcOffset) != crc32c::Unmask(DecodeFixed32(rec + kSyncCrcOffset))) return false;
  const uint64_t d = DecodeFixed64(rec + kSyncDurableOffset);
  if (d > at) return false;  // nothing after the mark was synced before it was written
  *durable = d;
  return true;
}

void AppendFramed(std::string* dst, uint64_t seq, std::string_view payload) {
  size_t old = dst->size();
  dst->resize(old + kFramedOverhead + payload.size());
  EncodeFramed(dst->data() + old, seq, payload);
}

}  // namespace mq::log

namespace mq::log {

Status DetectFormat(File* file, uint64_t size, Header* h, FileKind* kind) {
  const std::string& path = file->path();
  char buf[kHeaderRecordSize];
  size_t got = 0;
  size_t want = static_cast<size_t>(std::min<uint64_t>(size, sizeof(buf)));
  MQ_RETURN_IF_ERROR(file->Read(0, want, buf, &got));
  if (got == 0) {
    *kind = FileKind::kEmpty;
    return Status::OK();
  }
  assert(got <= want);
  if (got >= 4 && DecodeInt32(buf) == kHeaderKind) {
    if (got < kHeaderRecordSize)
      return Status::Corruption(path + ": offset 0: the file header is cut short (" + std::to_string(got) +
                                " of 56 bytes) and no message follows: its writer stopped while creating it. "
                                "Move the file aside and let mq create the queue again");
    MQ_RETURN_IF_ERROR(DecodeHeader(buf, got, path, h));
    *kind = FileKind::kFramed;
    return Status::OK();
  }
  if (got >= 8) {
    int32_t used = DecodeInt32(buf);
    int32_t rsize = DecodeInt32(buf + 4);
    if ((used == kPending || used == kConsumed) && rsize >= 0 && static_cast<uint64_t>(rsize) + 8 <= size) {
      *h = Header{};
      *kind = FileKind::kLegacy;
      return Status::OK();
    }
    // A used flag of the original format whose size is what is wrong: say so,
    // not that the flag is.
    if (used == kPending || used == kConsumed)
      return Status::NotALog(path + ": not an mq message log: offset 0 holds a record of the original queue format "
                             "(used flag " + std::to_string(used) + ") whose size " + std::to_string(rsize) +
                             (rsize < 0 ? " is negative"
                                        : " is out of range: the file has only " + std::to_string(size - 8) +
                                              " bytes after the record header") +
                             ". Check the path");
  }
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%08x", got >= 4 ? DecodeFixed32(buf) : 0u);
  return Status::NotALog(path + ": not an mq message log: offset 0 holds " +
                         (got >= 4 ? std::string(hex) : std::to_string(got) + " bytes") +
                         ", which is neither an mq file header nor a record of the original queue format. "
                         "Check the path");
}

}  // namespace mq::log
