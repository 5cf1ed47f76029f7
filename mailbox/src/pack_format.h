// Packed datagrams: several messages of one confirming sender in one
// datagram (docs/mailbox.md, "Packed sends"). A sender bound under kPrefix
// sends only packed datagrams, and binds there only after its mailbox's
// answers offered them (reply_format.h, the pack offer), so a mailbox that
// does not know packs never gets one.
//
// A packed datagram, little-endian:
//   0  4  magic "mqPK"
//   then 1 to kMaxMessages entries back to back, each
//      4  the message's length L
//      L  the message
//   and nothing after the last entry.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reply_format.h"

namespace mq::pack {

// Under the channel prefix: such a sender also passes an answer channel.
constexpr std::string_view kPrefix("\0mq-reply/chan/pack/", 20);
constexpr char kMagic[4] = {'m', 'q', 'P', 'K'};
constexpr size_t kHeader = 4;       // the magic
constexpr size_t kEntryHeader = 4;  // an entry's length
// One message packed alone is this much longer than the message.
constexpr size_t kOverhead = kHeader + kEntryHeader;
// At most one answer datagram's worth (reply::kMaxBatch).
constexpr size_t kMaxMessages = reply::kMaxBatch;

// `path` is the address's sun_path bytes (as long as the address says).
inline bool IsPackAddress(std::string_view path) { return path.substr(0, kPrefix.size()) == kPrefix; }

// The packed datagram of `messages` (1 to kMaxMessages) in *out.
void Pack(std::span<const std::string_view> messages, std::string* out);

enum class Unpacked {
  kOk,          // *out holds the entries, in order
  kOneTooLarge, // cut short (larger than the receive buffer), and one entry
                // whose length says so: one message too large to take
  kMalformed,   // anything else: nothing appended
};
// `data`: the bytes received; `real_len`: the datagram's real length (larger
// than data.size() if it was cut short). Appends views into `data`.
Unpacked Unpack(std::string_view data, size_t real_len, std::vector<std::string_view>* out);

}  // namespace mq::pack
