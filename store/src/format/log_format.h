// Constants of the on-disk log. The byte-level specification, with a worked
// hexdump, is docs/log-format.md; each constant names the section it implements.
#pragma once

#include <cstdint>

namespace mq::log {

// "Records": every record is [int32 LE used][int32 LE size][size bytes].
constexpr uint32_t kRecordHeaderSize = 8;

// "Message records": used flag values of a message record.
constexpr int32_t kPending = 0;
constexpr int32_t kConsumed = 1;

// "Frame records": our additions are records whose used flag is neither 0 nor
// 1, so the original reader skips them. The flag value names the kind; its
// bytes read "mqH\1" and "mqM\1" in a hexdump.
constexpr int32_t kHeaderKind = 0x0148716d;
constexpr int32_t kMetaKind = 0x014d716d;
// "Key extractor records": "mqK\1".
constexpr int32_t kKeyKind = 0x014b716d;
// "Sync marks": "mqS\1". [kSyncKind][12][u64 durable][u32 masked crc32c]:
// every byte of the log before `durable` was synced before this was written.
constexpr int32_t kSyncKind = 0x0153716d;
constexpr uint32_t kSyncPayloadSize = 12;
constexpr uint32_t kSyncRecordSize = kRecordHeaderSize + kSyncPayloadSize;  // 20
constexpr uint32_t kSyncDurableOffset = 8;  // within the record
constexpr uint32_t kSyncCrcOffset = 16;     // within the record

// "File header": at offset 0 of every log this version creates.
constexpr char kHeaderMagic[8] = {'m', 'q', '-', 'l', 'o', 'g', '\0', '\0'};
constexpr uint32_t kHeaderPayloadSize = 48;
constexpr uint32_t kHeaderRecordSize = kRecordHeaderSize + kHeaderPayloadSize;
constexpr uint32_t kHeaderVersionOffset = 8;    // within the payload
constexpr uint32_t kHeaderFlagsOffset = 12;
constexpr uint32_t kHeaderLogIdOffset = 16;
constexpr uint32_t kHeaderSeqFloorOffset = 24;
constexpr uint32_t kHeaderCreatedOffset = 32;
constexpr uint32_t kHeaderSessionOffset = 40;  // "File header": the open stamp
constexpr uint32_t kHeaderCrcOffset = 44;

// "Format versions": 1 is this one. A header with a higher version is refused.
constexpr uint32_t kFormatVersion = 1;

// "Meta records": [kMetaKind][12][u64 seq][u32 masked crc32c], followed
// immediately by the message record it describes.
constexpr uint32_t kMetaPayloadSize = 12;
constexpr uint32_t kMetaRecordSize = kRecordHeaderSize + kMetaPayloadSize;  // 20
constexpr uint32_t kMetaSeqOffset = 8;   // within the record
constexpr uint32_t kMetaCrcOffset = 16;  // within the record
// A framed message costs this many bytes beyond its payload.
constexpr uint32_t kFramedOverhead = kMetaRecordSize + kRecordHeaderSize;  // 28

// "Limits": a payload is at most this many bytes (the size field is an int32).
constexpr uint32_t kMaxPayload = 0x7fffffffu - kFramedOverhead;

// "Key extractor records": [kKeyKind][size][spec bytes][u32 masked crc32c];
// size = spec length + 4, the spec 1 to kMaxKeySpec bytes.
constexpr uint32_t kMaxKeySpec = 255;

// The layout docs/log-format.md draws, checked where it is compiled.
static_assert(kHeaderRecordSize == 56 && kHeaderPayloadSize == sizeof(kHeaderMagic) + 40);
static_assert(kHeaderSessionOffset + 4 == kHeaderCrcOffset && kHeaderCrcOffset + 4 == kHeaderPayloadSize,
              "the header ends with the session stamp, then the checksum");
static_assert(kMetaSeqOffset == kRecordHeaderSize && kMetaCrcOffset == kMetaSeqOffset + 8 &&
                  kMetaRecordSize == kMetaCrcOffset + 4,
              "a meta record is [kind][size][u64 seq][u32 crc]");
static_assert(kFramedOverhead == 28);
static_assert(kPending != kConsumed && kHeaderKind != kMetaKind && kMetaKind != kKeyKind && kKeyKind != kHeaderKind);
static_assert(kSyncKind != kHeaderKind && kSyncKind != kMetaKind && kSyncKind != kKeyKind);
static_assert(kSyncDurableOffset == kRecordHeaderSize && kSyncCrcOffset == kSyncDurableOffset + 8 &&
                  kSyncRecordSize == kSyncCrcOffset + 4,
              "a sync mark is [kind][size][u64 durable][u32 crc]");
static_assert(kHeaderKind > kConsumed && kMetaKind > kConsumed && kKeyKind > kConsumed && kSyncKind > kConsumed,
              "frame record kinds are used flags the original reader skips");

}  // namespace mq::log
