// Fuzz targets: the confirmation datagram (docs/mailbox.md, "Confirmations:
// the reply datagram") as mailbox/src/reply_format.h parses it, and as a
// mq::ConfirmedSender matches the answers it reads to its messages.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "fuzz_targets.h"
#include "mq/sender.h"
#include "pack_format.h"
#include "reply_format.h"

namespace mq::fuzz {
namespace {

// What a sender must report for an answer with this code.
Status::Code StatusCodeFor(reply::Code c) {
  switch (c) {
    case reply::Code::kOk: return Status::Code::kOk;
    case reply::Code::kTooLarge: return Status::Code::kTooLarge;
    case reply::Code::kNotAdmitted: return Status::Code::kDenied;
    case reply::Code::kStoreError: return Status::Code::kIOError;
    case reply::Code::kNoChannel: return Status::Code::kIOError;  // every message in flight, at once
  }
  return Status::Code::kIOError;
}

// A datagram socket standing in for a mailbox, bound once per process.
struct FakeMailbox {
  std::string path;
  int fd = -1;
  FakeMailbox() {
    path = ScratchDir() + "/mailbox.sock";
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket()");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    FUZZ_CHECK(path.size() < sizeof(a.sun_path), "scratch path too long for a socket: " + path);
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    FUZZ_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0, "bind " + path);
  }
  void Drain() {
    char buf[256];
    while (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
    }
  }
};

}  // namespace

// The input is the whole datagram. Decode accepts exactly 16 bytes with the
// magic, version 1 and a known code, and Encode gives back those bytes (with
// bytes 6 and 7 as the valid pack offer they hold, or zero). DecodeBatch
// accepts what is a run of those. As a packed datagram, Unpack takes it only
// whole, as Pack would write it.
int Reply(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // A batched datagram is accepted exactly when it is 1 to kMaxBatch
  // answers that each decode alone, and then gives those answers.
  std::vector<reply::Answer> batch;
  const bool batch_ok = reply::DecodeBatch(in, &batch);
  bool each_ok = size > 0 && size % reply::kSize == 0 && size / reply::kSize <= reply::kMaxBatch;
  std::vector<reply::Answer> each;
  for (size_t i = 0; each_ok && i < size; i += reply::kSize) {
    reply::Answer a;
    each_ok = reply::Decode(in.substr(i, reply::kSize), &a.code, &a.seq);
    each.push_back(a);
  }
  FUZZ_CHECK(batch_ok == each_ok, "DecodeBatch disagrees with Decode of each 16-byte answer");
  FUZZ_CHECK(batch_ok || batch.empty(), "DecodeBatch refused a datagram but kept answers of it");
  for (size_t i = 0; batch_ok && i < each.size(); ++i) {
    FUZZ_CHECK(batch.size() == each.size() && batch[i].code == each[i].code && batch[i].seq == each[i].seq,
               "DecodeBatch answer " + std::to_string(i) + " differs from Decode's");
    FUZZ_CHECK(batch[i].pack_offer == reply::PackOffer(in.substr(i * reply::kSize, reply::kSize)),
               "DecodeBatch answer " + std::to_string(i) + ": pack offer differs from PackOffer's");
  }

  // The same bytes as a packed datagram (pack_format.h): taken only whole,
  // and then exactly what Pack writes for its entries.
  std::vector<std::string_view> entries = {"before"};
  const pack::Unpacked u = pack::Unpack(in, size, &entries);
  if (u == pack::Unpacked::kOk) {
    FUZZ_CHECK(entries.size() >= 2 && entries.size() <= 1 + pack::kMaxMessages, "Unpack: entry count out of range");
    std::string again;
    pack::Pack(std::span(entries).subspan(1), &again);
    FUZZ_CHECK(again == in, "Pack(Unpack(x)) differs from x");
  } else {
    FUZZ_CHECK(entries.size() == 1, "Unpack refused a datagram but appended entries of it");
    FUZZ_CHECK(u == pack::Unpacked::kMalformed, "Unpack of a whole datagram said it was cut short");
  }

  reply::Code code;
  uint64_t seq = 0;
  if (!reply::Decode(in, &code, &seq)) return 0;
  FUZZ_CHECK(size == reply::kSize, "Decode accepted a datagram of " + std::to_string(size) + " bytes");
  FUZZ_CHECK(std::memcmp(data, reply::kMagic, 4) == 0 && data[4] == reply::kVersion, "Decode: magic or version");
  FUZZ_CHECK(static_cast<uint8_t>(code) <= static_cast<uint8_t>(reply::Code::kNoChannel), "Decode: unknown code");
  // Bytes 6 and 7 are the pack offer: kept when valid, else zero.
  const size_t offer = reply::PackOffer(in);
  uint8_t log2 = 0;
  while (offer != 0 && (size_t{1} << log2) < offer) ++log2;
  FUZZ_CHECK(offer == 0 || (log2 >= reply::kMinPackLog2 && log2 <= reply::kMaxPackLog2 && data[7] == log2 &&
                            (data[6] & reply::kFlagPackOffer) != 0),
             "PackOffer: not the offer bytes 6 and 7 say");
  char out[reply::kSize];
  reply::Encode(code, seq, out, log2);
  std::string expect(in);
  expect[6] = static_cast<char>(offer != 0 ? reply::kFlagPackOffer : 0);
  expect[7] = static_cast<char>(log2);
  FUZZ_CHECK(std::string_view(out, reply::kSize) == expect, "Encode(Decode(x)) differs from x");
  return 0;
}

// Input: byte 0 says how many messages the sender sends (1 + b % 8); then
// datagrams, each a length byte (b % 81) and that many bytes, which the fake
// mailbox sends to the sender's reply socket. Whatever they are, the sender
// reports confirmations in send order, the i-th answer of the decodable
// datagrams (each holding one or more) settles the i-th message with the
// status its code means, undecodable datagrams are ignored, and the rest stay
// in flight.
int ConfirmedReplies(const uint8_t* data, size_t size) {
  static FakeMailbox mailbox;
  if (size == 0) return 0;
  mailbox.Drain();
  const size_t n = 1 + data[0] % 8;

  ConfirmedSenderOptions o;
  o.window = 8;
  o.reply_timeout = std::chrono::seconds(30);  // never reached: nothing here waits
  std::unique_ptr<ConfirmedSender> cs;
  Status s = ConfirmedSender::Open(mailbox.path, o).MoveTo(&cs);
  FUZZ_CHECK(s.ok(), "ConfirmedSender::Open: " + s.ToString());
  for (size_t i = 0; i < n; ++i) {
    uint64_t ticket = 0;
    s = cs->SendAsync("m" + std::to_string(i)).MoveTo(&ticket);
    FUZZ_CHECK(s.ok() && ticket == i, "SendAsync: " + s.ToString());
  }
  sockaddr_un from{};
  socklen_t from_len = 0;
  for (size_t i = 0; i < n; ++i) {
    char buf[64];
    from_len = sizeof(from);
    ssize_t got = ::recvfrom(mailbox.fd, buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                             &from_len);
    FUZZ_CHECK(got >= 0, "the fake mailbox did not get message " + std::to_string(i));
  }
  FUZZ_CHECK(from_len > sizeof(sa_family_t) && from.sun_path[0] == '\0' &&
                 std::string(from.sun_path + 1, from_len - sizeof(sa_family_t) - 1) == cs->reply_name(),
             "the sender did not send from its reply address");

  std::vector<reply::Answer> decodable;
  size_t pos = 1;
  for (int k = 0; k < 16 && pos < size; ++k) {
    const size_t len = std::min<size_t>(data[pos] % 81, size - pos - 1);
    const char* d = reinterpret_cast<const char*>(data + pos + 1);
    pos += 1 + len;
    if (::sendto(mailbox.fd, d, len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len) !=
        static_cast<ssize_t>(len))
      break;
    // The sender's reply socket takes batched answers: each datagram that is
    // 1 to kMaxBatch valid answers settles that many messages.
    (void)reply::DecodeBatch(std::string_view(d, len), &decodable);
  }

  std::vector<Confirmation> out;
  s = cs->Collect(std::chrono::milliseconds(0), &out);
  // The answers settle messages in order until every message is settled, or
  // until a "no channel here" notice: that reports every message still in
  // flight at once (kIOError) and nothing after it is read.
  size_t settled = 0;
  bool noticed = false;
  while (settled < n && settled < decodable.size() && !noticed) {
    if (decodable[settled].code == reply::Code::kNoChannel)
      noticed = true;
    else
      ++settled;
  }
  const size_t reported = noticed ? n : settled;
  FUZZ_CHECK(s.ok() || (s.IsTimedOut() && reported == 0), "Collect: " + s.ToString());
  FUZZ_CHECK(out.size() == reported, "Collect gave " + std::to_string(out.size()) + " confirmations for " +
                                         std::to_string(settled) + " decodable answers" +
                                         (noticed ? " and a no-channel notice" : ""));
  for (size_t i = 0; i < out.size(); ++i) {
    FUZZ_CHECK(out[i].ticket == i, "confirmations out of send order");
    const reply::Code code = i < settled ? decodable[i].code : reply::Code::kNoChannel;
    FUZZ_CHECK(out[i].status.code() == StatusCodeFor(code),
               "answer " + std::to_string(i) + " reported as " + out[i].status.ToString());
    if (code == reply::Code::kOk)
      FUZZ_CHECK(out[i].seq == decodable[i].seq, "a confirmation carries another sequence number");
  }
  FUZZ_CHECK(cs->in_flight() == n - reported, "messages in flight after the answers");
  return 0;
}

}  // namespace mq::fuzz
