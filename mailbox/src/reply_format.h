// The confirmation datagram a mailbox sends to a confirming sender. The
// byte-level description is docs/mailbox.md, "Confirmations: the reply
// datagram"; each constant here names the field it implements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mq::reply {

// "Who gets a reply": senders bound in the abstract namespace under this
// prefix (the leading NUL marks an abstract address).
constexpr std::string_view kAddressPrefix("\0mq-reply/", 10);

// "The reply datagram": 16 bytes, little-endian.
//   0  4  magic "mqCF"
//   4  1  version (1)
//   5  1  code (Code below)
//   6  1  flags: bit 0 "the pack offer" (below); the other bits zero
//   7  1  with the offer: log2 of the largest packed datagram the mailbox
//          takes (kMinPackLog2..kMaxPackLog2); else zero
//   8  8  seq: the message's sequence number (0 unless code is kOk)
// Readers of version 1 that predate the offer ignore bytes 6 and 7.
constexpr char kMagic[4] = {'m', 'q', 'C', 'F'};
constexpr uint8_t kVersion = 1;
constexpr size_t kSize = 16;

enum class Code : uint8_t {
  kOk = 0,           // stored; durable as the mailbox's sync policy promises
  kTooLarge = 1,     // larger than the mailbox's maximum: not stored
  kNotAdmitted = 2,  // the sender's uid is not admitted: not stored
  kStoreError = 3,   // the append or its sync failed: not stored (or not durable)
  // "No channel here" (docs/mailbox.md, "After a restart: the no-channel
  // notice"): not an answer to any message. A mailbox sends it, alone in its
  // datagram and from its own socket, to a channel address it holds no answer
  // channel for (it was restarted, or closed the channel); seq is 0. The
  // sender's messages in flight will get no answers: it reports them at once
  // ("may or may not have been stored") and reconnects with a fresh channel.
  kNoChannel = 4,
};

// "Packed sends": a mailbox that takes packed datagrams (pack_format.h)
// says so in its answers, with the size it takes.
constexpr uint8_t kFlagPackOffer = 0x01;
constexpr uint8_t kMinPackLog2 = 6;   // 64 bytes
constexpr uint8_t kMaxPackLog2 = 30;  // 1 GiB

// pack_log2: 0 (no offer) or kMinPackLog2..kMaxPackLog2.
void Encode(Code code, uint64_t seq, char out[kSize], uint8_t pack_log2 = 0);
// False if `data` is not a reply of this version.
bool Decode(std::string_view data, Code* code, uint64_t* seq);
// The largest packed datagram a valid reply offers, in bytes; 0 if it
// offers none (no flag, or a size out of range).
size_t PackOffer(std::string_view reply);

// "Batched answers": a sender bound under this longer prefix takes datagrams
// of 1 to kMaxBatch answers back to back, each one 16 bytes as above, in the
// order of its messages. Others get one answer per datagram.
constexpr std::string_view kBatchPrefix("\0mq-reply/batch/", 16);
constexpr size_t kMaxBatch = 64;
// "Answer channels": a sender bound under this prefix passes, with a
// message (SCM_RIGHTS), one end of a socketpair; the mailbox sends that
// address's answers through it (batched, as above) and never from its own
// socket. Until a channel has come, the address gets no answers at all.
constexpr std::string_view kChannelPrefix("\0mq-reply/chan/", 15);
// `path` is the address's sun_path bytes (as long as the address says).
inline bool IsChannelAddress(std::string_view path) {
  return path.substr(0, kChannelPrefix.size()) == kChannelPrefix;
}
inline bool IsBatchAddress(std::string_view path) {
  return path.substr(0, kBatchPrefix.size()) == kBatchPrefix || IsChannelAddress(path);
}

struct Answer {
  Code code = Code::kOk;
  uint64_t seq = 0;
  size_t pack_offer = 0;  // PackOffer of this answer
};
// Appends the answers of a batched datagram to *out. False, and nothing
// appended, unless `data` is 1 to kMaxBatch answers that all decode.
bool DecodeBatch(std::string_view data, std::vector<Answer>* out);

}  // namespace mq::reply
