// Sending to a mailbox (docs/mailbox.md, "Senders" and "Confirmations").
//
// A mailbox is a Unix datagram socket, so any program that can sendto() a
// datagram can send: the original design's Python `socket.sendto(b'a0',
// 'tests')` keeps working. These helpers add clear errors and, for
// ConfirmedSender, the mailbox's answer that the message is stored.
//
// Errors (all name the socket path):
//   kNotFound         no file at the path (ENOENT): no mailbox was ever started there
//   kIOError          ECONNREFUSED: a socket file is there but no mailbox is bound
//                     to it (it stopped); EACCES: the socket's mode refuses you;
//                     EAGAIN: the mailbox's buffer stayed full past the retry time;
//                     sys_errno() gives the errno
//   kInvalidArgument  the path is not a socket, or is too long for sockaddr_un
//   kTooLarge         the datagram is larger than the kernel or the mailbox allows
//   kDenied           (confirmed sends) the socket file is owned by a uid this
//                     sender does not trust (see ConfirmedSender), and nothing
//                     was sent. (A mailbox that does not admit your uid does
//                     not answer at all: that is kTimedOut.)
//   kIOError          (confirmed sends, in a Confirmation) ECONNRESET/ECONNREFUSED:
//                     the mailbox restarted before it answered (a new socket
//                     file, a refused send, or its "no channel here" notice):
//                     the message may or may not have been stored
//   kTimedOut         (confirmed sends) no answer in time: the message may or
//                     may not have been stored (also what a sender whose uid
//                     the mailbox does not admit gets)
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mq/status.h"

namespace mq {

struct SendOptions {
  // How long to keep retrying while the mailbox's socket buffer is full
  // (EAGAIN). Zero: fail at once with the EAGAIN error.
  std::chrono::milliseconds retry_for{0};
};

// Sends one datagram to the mailbox at socket_path. OK means the kernel took
// it into the mailbox's socket buffer, not that it is stored: use
// ConfirmedSender for that.
Status Send(const std::string& socket_path, std::string_view payload, const SendOptions& options = {});

// A reusable unconfirmed sender: one socket, connected to the mailbox, for
// many sends (mq::Send makes a socket per call). Not thread-safe.
class Sender {
 public:
  static Result<std::unique_ptr<Sender>> Open(const std::string& socket_path, const SendOptions& options);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // As mq::Send. After the mailbox restarts, the next Send reconnects.
  Status Send(std::string_view payload);
  // Batched: sends the payloads in order, one datagram each, as many per
  // system call as the kernel takes (sendmmsg, up to kBatchMax a call), for
  // messages that are ready together. OK: all were taken into the mailbox's
  // socket buffer. On an error (the same as Send's), the first *sent (if
  // given) were taken and the rest were not sent; *sent is set either way.
  Status SendBatch(std::span<const std::string_view> payloads, size_t* sent = nullptr);
  static constexpr size_t kBatchMax = 64;
  const std::string& socket_path() const { return path_; }

 private:
  Sender(std::string path, SendOptions options) : path_(std::move(path)), options_(options) {}
  Status Connect();
  // After a send that moved nothing (errno `err`): OK to try again (EINTR;
  // ECONNREFUSED, reconnected once; no room yet, waited for up to 100 ms
  // before `deadline`), else the error to return.
  Status RetryOrFail(int err, bool* reconnected, std::chrono::steady_clock::time_point deadline);
  std::string path_;
  SendOptions options_;
  int fd_ = -1;
  size_t sndbuf_ = 0;  // payload room known in the socket's send buffer
};

struct ConfirmedSenderOptions {
  // Messages sent with SendAsync and not yet confirmed, at most.
  size_t window = 64;
  // How long a message may wait for its answer before it and every later one
  // in flight are reported kTimedOut (and the reply socket is replaced, so a
  // late answer is never matched to another message).
  std::chrono::milliseconds reply_timeout{10000};
  // While no mailbox is bound at the path (ENOENT, ECONNREFUSED: e.g. it is
  // restarting), keep retrying the send for this long. Zero: fail at once.
  std::chrono::milliseconds connect_retry{0};
  // The uid the mailbox runs as, if it is neither root nor this process's
  // effective uid. The socket file must be owned by root, by this process's
  // effective uid or by this uid, and every answer must come from a process
  // of one of them; otherwise nothing is sent (kDenied) or the answer is
  // dropped.
  std::optional<uint32_t> expected_uid;
  // Packed sends (docs/mailbox.md, "Packed sends"): once the mailbox's
  // answers offer packs, SendAsyncBatch puts the messages it sends together
  // into one datagram each (up to the size offered and 64 messages), after
  // waiting once for the answers in flight and reconnecting under the pack
  // prefix; an offer that arrives in the middle of a call switches the rest
  // of that call. false: one datagram a message, always.
  bool pack = true;
};

// The answer for one message sent with SendAsync.
struct Confirmation {
  uint64_t ticket = 0;  // SendAsync's ticket: 0, 1, 2, ... per sender
  uint64_t seq = 0;     // the message's sequence number in the queue (if ok)
  Status status;        // OK: stored, and durable as the mailbox's sync policy promises
};

// A sender whose messages are answered by the mailbox with their sequence
// number once durable (like publisher confirms); the mailbox answers only
// senders bound under "\0mq-reply/" (reply_format.h, kAddressPrefix). Not
// thread-safe: use one per thread.
//
// What it checks, so that no other local user can confirm a message for the
// mailbox or stand in for it (docs/mailbox.md, "Who may answer"):
//   - before anything is sent, the socket file at the path must be owned by
//     root, by this process's effective uid or by options.expected_uid;
//     otherwise kDenied naming the owner, and nothing is sent. The file is
//     opened once (O_PATH) and the socket is connected through that open
//     file, so the file checked is the file connected to;
//   - its sending socket is connected to the mailbox first and only then
//     bound, in the abstract namespace, as
//     "\0mq-reply/chan/<pid>/<16 hex digits>" (reply_format.h,
//     kChannelPrefix): the address the mailbox knows this sender by;
//   - the answers come through an answer channel (docs/mailbox.md, "Answer
//     channels"): one end of a socketpair, passed to the mailbox with the
//     first message after each connect. The pair has no name, so only the
//     process the message went to can send to it, and what this sender
//     leaves unread is charged to the channel, not to the mailbox socket
//     that carries the answers of others. (A mailbox that does not know
//     channels answers to the name instead; both are read);
//   - every answer is read with its SCM_CREDENTIALS (SO_PASSCRED): an answer
//     without them, or from a process whose uid is not root, this process's
//     effective uid or options.expected_uid, is dropped and counted
//     (dropped_answers()).
// A sender that never reached its mailbox has confirmed nothing.
class ConfirmedSender {
 public:
  static Result<std::unique_ptr<ConfirmedSender>> Open(const std::string& socket_path,
                                                       const ConfirmedSenderOptions& options);
  ~ConfirmedSender();
  ConfirmedSender(const ConfirmedSender&) = delete;
  ConfirmedSender& operator=(const ConfirmedSender&) = delete;

  // Sends one message and waits up to `timeout` for its answer; returns its
  // sequence number. Answers of earlier SendAsync messages that arrive
  // meanwhile are kept for Collect.
  Result<uint64_t> SendConfirmed(std::string_view payload, std::chrono::milliseconds timeout);

  // Pipelined: sends without waiting for the answer. If `window` messages are
  // already in flight, first waits (up to reply_timeout) for the oldest
  // answer. Returns the message's ticket, which identifies it in Collect's
  // confirmations. An error here means the message was not sent.
  // Tickets count SendAsync's messages only (SendConfirmed takes none).
  Result<uint64_t> SendAsync(std::string_view payload);
  // Pipelined and batched: as SendAsync for each payload in order, with as
  // many messages per system call (sendmmsg) as the window has room for, up
  // to Sender::kBatchMax. Returns the first message's ticket; the others
  // follow it (first + 1, first + 2, ...). An error means that only the first
  // *sent (if given; set either way) were sent, and have tickets; the rest
  // were not sent.
  Result<uint64_t> SendAsyncBatch(std::span<const std::string_view> payloads, size_t* sent = nullptr);
  // Appends to *out the confirmations that have arrived, in send order,
  // waiting up to `timeout` for at least one if none is ready. kTimedOut if
  // none arrived; messages past reply_timeout are reported as kTimedOut
  // confirmations.
  Status Collect(std::chrono::milliseconds timeout, std::vector<Confirmation>* out);
  // Waits until every message in flight is answered (or timed out) and
  // appends all their confirmations to *out.
  Status Flush(std::vector<Confirmation>* out);

  size_t in_flight() const { return in_flight_.size(); }
  const std::string& socket_path() const { return path_; }
  // The abstract address the mailbox knows this sender by (without the
  // leading NUL; its answers come through the channel passed from it);
  // empty while the sender is not connected.
  const std::string& reply_name() const { return reply_name_; }
  // Datagrams read from the reply socket and not taken as answers: without
  // credentials, from a process of an untrusted uid, or not a valid answer.
  uint64_t dropped_answers() const { return dropped_answers_; }
  // Bound under the pack prefix: this connection's datagrams are packed.
  bool packing() const { return packing_; }

 private:
  struct InFlight {
    uint64_t ticket;  // SendAsync's ticket; unused for SendConfirmed's message
    std::chrono::steady_clock::time_point sent;
    bool sync = false;  // SendConfirmed's message: its answer goes to sync_answer_
  };
  ConfirmedSender(std::string path, ConfirmedSenderOptions options)
      : path_(std::move(path)), options_(options) {}
  // Opens, checks and connects the socket file, then binds and connects a
  // fresh reply socket (see the class comment).
  Status Reach();
  void CloseSockets();  // fd_, answers_fd_ and channel_fd_
  bool TrustedUid(uint32_t uid) const;
  void Settle(const InFlight& f, Confirmation c);
  Status SendOne(std::string_view payload);
  // Once the answers offered packs: waits for those in flight and drops the
  // connection, so that the next send reconnects under the pack prefix.
  Status SwitchToPacks();
  // How many of payloads (at least 1) go in the next packed datagram.
  size_t PackCount(std::span<const std::string_view> payloads) const;
  // Sends the first 1..payloads.size() payloads (one sendmmsg, or SendOne
  // when it must pass the channel or handle an error); *n: how many went.
  Status SendSome(std::span<const std::string_view> payloads, size_t* n);
  Status SendTracked(std::string_view payload, bool sync, uint64_t* ticket);
  // Reads answers for up to `wait`; returns after the first batch.
  Status ReadReplies(std::chrono::milliseconds wait);
  size_t DrainReplies();  // reads every answer waiting now; returns datagrams read
  size_t DrainFrom(int fd);  // DrainReplies for one socket
  void FailInFlight(const Status& why);
  void ExpireOld();
  bool MailboxReplaced();

  std::string path_;
  ConfirmedSenderOptions options_;
  std::string reply_name_;
  int fd_ = -1;          // connected to the mailbox; sends
  int answers_fd_ = -1;  // our end of the answer channel; reads answers
  int channel_fd_ = -1;  // the mailbox's end, until a message has carried it
  size_t sndbuf_ = 0;
  bool connected_ = false;
  uint64_t peer_dev_ = 0, peer_ino_ = 0;  // the socket file we connected to
  std::chrono::steady_clock::time_point replaced_checked_{};  // last MailboxReplaced() look
  uint64_t next_ticket_ = 0;
  std::deque<InFlight> in_flight_;
  std::deque<Confirmation> ready_;
  std::optional<Confirmation> sync_answer_;  // SendConfirmed's answer, once it came
  uint64_t dropped_answers_ = 0;
  size_t pack_offer_ = 0;  // the largest packed datagram the answers offered; 0: none
  bool packing_ = false;   // bound under the pack prefix: every datagram is packed
  std::string pack_buf_;   // a packed datagram being sent
};

}  // namespace mq
