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
//   6  2  reserved, zero
//   8  8  seq: the message's sequence number (0 unless code is kOk)
constexpr char kMagic[4] = {'m', 'q', 'C', 'F'};
constexpr uint8_t kVersion = 1;
constexpr size_t kSize = 16;

enum class Code : uint8_t {
  kOk = 0,           // stored; durable as the mailbox's sync policy promises
  kTooLarge = 1,     // larger than the mailbox's maximum: not stored
  kNotAdmitted = 2,  // the sender's uid is not admitted: not stored
  kStoreError = 3,   // the append or its sync failed: not stored (or not durable)
};

void Encode(Code code, uint64_t seq, char out[kSize]);
// False if `data` is not a reply of this version.
bool Decode(std::string_view data, Code* code, uint64_t* seq);

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
};
// Appends the answers of a batched datagram to *out. False, and nothing
// appended, unless `data` is 1 to kMaxBatch answers that all decode.
bool DecodeBatch(std::string_view data, std::vector<Answer>* out);

}  // namespace mq::reply
