// Encoding and checking of single records (docs/log-format.md: "File header",
// "Meta records", "Checksums").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mq/env.h"
#include "mq/status.h"

namespace mq::log {

struct Header {
  uint32_t version = 0;
  uint32_t flags = 0;
  uint64_t log_id = 0;
  uint64_t seq_floor = 1;  // the lowest sequence number the log may assign next
  uint64_t created_micros = 0;
  // Raised by one (and synced) by every writable open; the index records it
  // (docs/design.md, "When the index is trusted"). 0 in logs of older mq.
  uint32_t session = 0;
};

// Appends the 56-byte header record.
void EncodeHeader(const Header& h, std::string* dst);

// Rewrites only the header's session stamp (record bytes 48..51, outside the
// header's checksum) and, if `sync`, syncs the log.
Status WriteHeaderSession(File* file, const Header& h, bool sync = true);

// Checks the header record at p[0, n) (n >= kHeaderRecordSize) and decodes it.
// Errors name `path`: kCorruption for a bad checksum or magic, kUnsupported for
// a newer version or unknown flags.
Status DecodeHeader(const char* p, size_t n, const std::string& path, Header* h);

// The checksum of a framed message: over the meta record's first 16 bytes
// (kind, size, seq) and the message record from its size field to the end of
// its payload. The message's used flag is not covered: consuming rewrites it.
uint32_t FramedCrc(const char* meta, const char* msg_size_field, size_t payload_len);

// Appends [meta record][message record] for one pending message.
void AppendFramed(std::string* dst, uint64_t seq, std::string_view payload);

// Writes the same framing into dst, which must have kFramedOverhead +
// payload.size() bytes. Returns bytes written.
size_t EncodeFramed(char* dst, uint64_t seq, std::string_view payload);
// The kFramedOverhead bytes before the payload of EncodeFramed's record
// (checksum included), without copying the payload: a gathered write
// (File::WriteV) sends the payload from where it is.
void EncodeFramedHeader(char* dst, uint64_t seq, std::string_view payload);

// Appends a key extractor record holding `spec` (1 to kMaxKeySpec bytes, as
// KeyExtractor::ToString writes it); docs/log-format.md, "Key extractor records".
void AppendKeyRecord(std::string* dst, std::string_view spec);

// The checksum of a key extractor record `rec` whose size field says `size`:
// over its bytes 0 .. 8 + size - 4 (everything before the checksum).
uint32_t KeyRecordCrc(const char* rec, uint32_t size);

// Writes a sync mark (docs/log-format.md, "Sync marks") saying that every byte
// before `durable` was synced, into dst (kSyncRecordSize bytes).
void EncodeSyncMark(char* dst, uint64_t durable);

// Checks the sync mark at rec (kSyncRecordSize readable bytes) found at log
// offset `at`: kind, size, checksum, and durable <= at. Fills *durable.
bool DecodeSyncMark(const char* rec, uint64_t at, uint64_t* durable);

}  // namespace mq::log

namespace mq::log {

// What a file is, from its first bytes (docs/log-format.md, "Telling formats apart").
enum class FileKind { kEmpty, kFramed, kLegacy };

// Reads the start of `file` (size bytes long). kFramed fills *h. Errors:
// kNotALog, kCorruption (damaged or cut header), kUnsupported (newer version).
Status DetectFormat(File* file, uint64_t size, Header* h, FileKind* kind);

}  // namespace mq::log
