// The confirmer's outbox: sends answers to confirming senders without ever
// sending one out of order or after a gap (docs/mailbox.md, "When answers go
// missing").
//
// A sender matches answers to its messages by order alone, so an answer may
// be dropped only if every later answer to the same reply socket is dropped
// too. When a sender's receive queue is full (EAGAIN: it has not read its
// answers yet), that answer and every later one for the same address wait in
// a per-address backlog, retried without blocking the answers of others. A
// backlog that cannot move for kGiveUp (longer than any sane reply_timeout:
// the sender has stopped reading) is dropped and its address is closed for
// good; senders bind a fresh random name after a timeout, so a closed address
// is never reused by a sender that still expects answers.
//
// What the backlog cannot do: free answers already queued at an address.
// Those stay charged to the mailbox socket's one send buffer until read, and
// for a reply socket connected to the mailbox the kernel sets no per-receiver
// limit, so a reader that never reads can fill that buffer for everyone.
// Senders that are not admitted are never answered for this reason
// (ingest.cc; docs/design.md, "The mailbox socket: mode and answers").
//
// Answer channels take the mailbox socket out of it: a sender bound under
// reply::kChannelPrefix passes one end of a socketpair with a message, and
// that address's answers go through it, never from the mailbox socket. What
// such a reader leaves unread is charged to its channel's own send buffer
// (kChannelBuffer): a full one is EAGAIN for that address alone, its answers
// wait in its backlog, and past kMaxBacklog they are dropped and counted.
// At most max_channels() channels stay open (the least recently used is
// closed first; they are file descriptors).
//
// A channel address that has passed no channel (its mailbox was restarted
// and the channel died with the old process, or the channel was closed)
// gets no answers, but one "no channel here" notice (reply::Code::kNoChannel)
// from the mailbox socket, so its sender reconnects at once instead of
// waiting for its reply_timeout: at most one per address per kNoticeEvery,
// kMaxNoticesPerSecond in all, and none while the mailbox socket holds more
// than kNoticeOutqLimit bytes unread by anyone (docs/mailbox.md, "After a
// restart: the no-channel notice").
//
// A sender bound under reply::kBatchPrefix gets its answers of one batch
// together, up to reply::kMaxBatch per datagram: one datagram, one wakeup and
// one recv for what would otherwise be as many as it had messages in flight.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "reply_format.h"

namespace mq {

struct PendingReply {
  sockaddr_un addr;
  socklen_t addr_len = 0;
  reply::Code code = reply::Code::kOk;
  uint64_t seq = 0;
  // A descriptor the sender passed with this message (an answer channel), or
  // -1. The outbox takes it over (keeps or closes it) in Send.
  int channel = -1;
  // The pack offer the answer carries (reply::Encode's pack_log2), 0 if none.
  uint8_t pack_log2 = 0;
};

class ReplyOutbox {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kGiveUp{30};
  static constexpr size_t kMaxBacklog = 1 << 16;  // answers waiting for one address
  static constexpr size_t kMaxClosed = 4096;      // addresses remembered as closed
  static constexpr size_t kSendBatch = 64;        // datagrams per sendmmsg
  // SO_SNDBUF of a channel (the kernel doubles it): about 170 datagrams of
  // up to kMaxBatch answers, far more than a sender's window.
  static constexpr int kChannelBuffer = 64 * 1024;
  static constexpr size_t kMaxChannels = 1024;  // fewer if RLIMIT_NOFILE is low
  // The no-channel notice's bounds.
  static constexpr std::chrono::seconds kNoticeEvery{1};
  static constexpr unsigned kMaxNoticesPerSecond = 256;
  static constexpr int kNoticeOutqLimit = 1 << 20;  // bytes (SIOCOUTQ) of the mailbox socket
  static constexpr size_t kMaxNoticed = 1024;        // addresses remembered as noticed

  ReplyOutbox(int fd, std::atomic<uint64_t>* sent, std::atomic<uint64_t>* dropped,
              Clock::duration give_up = kGiveUp);
  ~ReplyOutbox();
  ReplyOutbox(const ReplyOutbox&) = delete;
  ReplyOutbox& operator=(const ReplyOutbox&) = delete;

  // Sends `rs` in order (behind any backlog of the same address).
  void Send(const std::vector<PendingReply>& rs);
  // Moves the backlogs on; drops those stuck for give_up (or all, if `final`).
  void Retry(bool final);
  bool HasBacklog() const { return !backlog_.empty(); }
  size_t channels() const { return channels_.size(); }
  size_t max_channels() const { return max_channels_; }
  uint64_t notices() const { return notices_; }  // no-channel notices sent

 private:
  struct Backlog {
    std::deque<PendingReply> replies;
    Clock::time_point since;  // when its front last moved
  };
  static std::string AddrKey(const PendingReply& r) {
    return std::string(reinterpret_cast<const char*>(&r.addr), r.addr_len);
  }
  static bool Batched(const PendingReply& r);
  static bool ChannelAddress(const PendingReply& r);
  // Keeps r.channel as r's address's channel if it is one end of a
  // socketpair of datagram sockets (else closes it).
  void Install(const PendingReply& r);
  int ChannelFd(const std::string& key);  // -1 if the address has none
  // Sends rs[0..n) (one address; n > 1 only if it is batched) as one
  // datagram now: 1 sent, 0 the queue is full, -1 gone for good.
  int TrySend(const PendingReply* rs, size_t n);
  void Park(std::string key, const PendingReply& r);
  void Close(std::string key, size_t n);  // by value: key may live in backlog_
  // Sends r's address a no-channel notice from the mailbox socket, within
  // the bounds above.
  void NoticeNoChannel(const std::string& key, const PendingReply& r);

  // One datagram of Send: answers sorted_[first, first+count), of the address
  // whose answers are sorted_[group_begin, group_end).
  struct Gram {
    size_t first, count, group_begin, group_end;
  };
  struct Channel {
    int fd;
    uint64_t used;  // use_clock_ at its last use (the LRU order)
  };

  int fd_;
  Clock::duration give_up_;
  std::atomic<uint64_t>* sent_;
  std::atomic<uint64_t>* dropped_;
  std::map<std::string, Backlog> backlog_;
  std::set<std::string> closed_;
  std::deque<std::string> closed_order_;
  std::map<std::string, Channel> channels_;
  uint64_t use_clock_ = 0;
  std::map<std::string, Clock::time_point> noticed_;  // address -> its last notice
  Clock::time_point notice_window_{};                  // start of the current second
  unsigned notices_in_window_ = 0;
  uint64_t notices_ = 0;
  size_t max_channels_ = kMaxChannels;
  // Send's scratch, kept between calls.
  std::vector<PendingReply> sorted_;  // Send's answers, grouped by address
  std::vector<Gram> grams_;          // from the mailbox socket
  std::vector<Gram> channel_grams_;  // through channels
  std::array<std::array<char, reply::kSize * reply::kMaxBatch>, kSendBatch> bytes_;
};

}  // namespace mq
