// Confirmed sends (docs/mailbox.md, "Confirmations"). The sender binds a
// reply socket under the abstract prefix "\0mq-reply/" and connects it to
// the mailbox, so only the mailbox can answer it (and the kernel does not
// hold answers back by the receive-queue length limit). Answers arrive in
// send order; the i-th answer is about the i-th message in flight.
//
// When the answers can no longer be matched (a timeout, the mailbox
// restarted), every message in flight is reported with an error and the
// reply socket is replaced, so a late answer can never be taken for another
// message's.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <thread>

#include "mq/sender.h"
#include "reply_format.h"
#include "unix_socket.h"

namespace mq {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Longest single wait, so a restarted mailbox is noticed promptly.
constexpr milliseconds kSlice{50};

milliseconds Left(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  return d.count() > 0 ? d : milliseconds(0);
}

Status StatusFor(reply::Code code, const std::string& path) {
  switch (code) {
    case reply::Code::kOk:
      return Status::OK();
    case reply::Code::kTooLarge:
      return Status::TooLarge(path + ": the mailbox refused the message: larger than its maximum message size");
    case reply::Code::kNotAdmitted:
      return Status::Denied(path + ": the mailbox refused the message: this uid is not admitted");
    case reply::Code::kStoreError:
      return Status::IOError(path + ": the mailbox could not store the message (see the mailbox's log)", EIO);
  }
  return Status::IOError(path + ": unknown answer from the mailbox", EPROTO);
}

}  // namespace

Status ConfirmedSender::Open(const std::string& socket_path, const ConfirmedSenderOptions& options,
                             std::unique_ptr<ConfirmedSender>* out) {
  if (options.window == 0) return Status::InvalidArgument("ConfirmedSender: window must be at least 1");
  std::unique_ptr<ConfirmedSender> s(new ConfirmedSender(socket_path, options));
  MQ_RETURN_IF_ERROR(s->Bind());
  MQ_RETURN_IF_ERROR(s->Connect());
  *out = std::move(s);
  return Status::OK();
}

ConfirmedSender::~ConfirmedSender() {
  if (fd_ >= 0) ::close(fd_);
}

Status ConfirmedSender::Bind() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  sndbuf_ = 0;
  connected_ = false;
  std::random_device rd;
  for (int attempt = 0; attempt < 8; ++attempt) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::FromErrno("ConfirmedSender: socket()");
    uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
    // Under the batch prefix: the mailbox may answer several messages in
    // one datagram.
    std::string name(reply::kBatchPrefix);
    name += std::to_string(::getpid()) + "/" + hex;
    sockaddr_un addr;
    socklen_t len = 0;
    Status s = unix_socket::MakeAddress(name, &addr, &len);
    if (s.ok() && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0) {
      fd_ = fd;
      reply_name_ = name.substr(1);
      return Status::OK();
    }
    const int err = errno;
    ::close(fd);
    if (!s.ok()) return s;
    if (err != EADDRINUSE) return Status::IOError("ConfirmedSender: binding reply socket @" + name.substr(1), err);
  }
  return Status::IOError("ConfirmedSender: no free reply socket name", EADDRINUSE);
}

Status ConfirmedSender::Connect() {
  sockaddr_un addr;
  socklen_t len = 0;
  MQ_RETURN_IF_ERROR(unix_socket::MakeAddress(path_, &addr, &len));
  const Clock::time_point deadline = Clock::now() + options_.connect_retry;
  while (true) {
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0) break;
    const int err = errno;
    if ((err == ENOENT || err == ECONNREFUSED) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::min<milliseconds>(milliseconds(10), Left(deadline)));
      continue;
    }
    return unix_socket::PeerError(path_, err);
  }
  connected_ = true;
  if (!unix_socket::SocketIdentity(path_, &peer_dev_, &peer_ino_)) peer_dev_ = peer_ino_ = 0;
  // A send blocks while the mailbox's queue is full; bound that wait.
  timeval tv{};
  const auto ms = std::max<int64_t>(1, options_.reply_timeout.count());
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return Status::OK();
}

bool ConfirmedSender::MailboxReplaced() {
  uint64_t dev = 0, ino = 0;
  // A missing file is not proof: a mailbox that is closing unlinks its
  // socket before it sends its last answers. A different socket is.
  if (!unix_socket::SocketIdentity(path_, &dev, &ino)) return false;
  return dev != peer_dev_ || ino != peer_ino_;
}

void ConfirmedSender::FailInFlight(const Status& why) {
  for (const InFlight& f : in_flight_) ready_.push_back(Confirmation{f.ticket, 0, why});
  in_flight_.clear();
  // Any answer still on its way belongs to the messages just failed: never
  // read it. The next send binds and connects a fresh reply socket.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  sndbuf_ = 0;
  connected_ = false;
}

void ConfirmedSender::ExpireOld() {
  if (in_flight_.empty()) return;
  if (Clock::now() - in_flight_.front().sent < options_.reply_timeout) return;
  FailInFlight(Status::TimedOut(path_ + ": no answer from the mailbox within " +
                                std::to_string(options_.reply_timeout.count()) +
                                " ms; the message may or may not have been stored"));
}

size_t ConfirmedSender::DrainReplies() {
  char buf[reply::kSize * reply::kMaxBatch];
  std::vector<reply::Answer> answers;
  size_t datagrams = 0;
  while (!in_flight_.empty()) {
    // MSG_TRUNC: the datagram's real length, so a longer one is ignored,
    // never read cut short.
    ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) break;
    ++datagrams;
    answers.clear();
    if (static_cast<size_t>(n) > sizeof(buf) ||
        !reply::DecodeBatch(std::string_view(buf, static_cast<size_t>(n)), &answers))
      continue;
    for (const reply::Answer& a : answers) {
      if (in_flight_.empty()) break;  // more answers than messages: not ours to match
      InFlight f = in_flight_.front();
      in_flight_.pop_front();
      ready_.push_back(Confirmation{f.ticket, a.seq, StatusFor(a.code, path_)});
    }
  }
  return datagrams;
}

Status ConfirmedSender::ReadReplies(milliseconds wait) {
  if (fd_ < 0 || in_flight_.empty()) return Status::OK();
  // Read first, poll only if nothing was waiting: answers usually are, and
  // a pipelining sender calls this once per message.
  if (DrainReplies() > 0) return Status::OK();
  if (wait.count() > 0) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<milliseconds>(wait, kSlice).count()));
    if (r < 0 && errno != EINTR) return Status::FromErrno("ConfirmedSender: poll");
    if (r > 0) {
      DrainReplies();
      return Status::OK();
    }
  }
  // Looking at the socket file is a path lookup: do it at most once per
  // slice, not on every SendAsync that finds no answer waiting.
  const Clock::time_point now = Clock::now();
  if (now - replaced_checked_ < kSlice) return Status::OK();
  replaced_checked_ = now;
  if (MailboxReplaced())
    FailInFlight(Status::IOError(path_ + ": the mailbox was restarted before it answered; the message may or may "
                                         "not have been stored",
                                 ECONNRESET));
  return Status::OK();
}

Status ConfirmedSender::SendOne(std::string_view payload) {
  if (fd_ < 0) MQ_RETURN_IF_ERROR(Bind());
  if (!connected_) MQ_RETURN_IF_ERROR(Connect());
  unix_socket::EnsureSendBuffer(fd_, payload.size(), &sndbuf_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    ssize_t n = ::send(fd_, payload.data(), payload.size(), MSG_NOSIGNAL);
    if (n >= 0) return Status::OK();
    const int err = errno;
    if (err == EINTR) {
      --attempt;
      continue;
    }
    if (err == ECONNREFUSED || err == EPIPE || err == ENOTCONN) {
      // The mailbox we were connected to is gone (the kernel also dropped
      // any answers it had queued for us): what was in flight is unknown.
      // The socket is done with either way: after a refused send the kernel
      // disconnects it, and every later send on it would fail at once
      // (ENOTCONN), so a retry or the next send binds and connects anew.
      FailInFlight(Status::IOError(path_ + ": the mailbox stopped before it answered; the message may or may not "
                                           "have been stored",
                                   err));
      if (attempt > 0) return unix_socket::PeerError(path_, err);
      MQ_RETURN_IF_ERROR(Bind());
      MQ_RETURN_IF_ERROR(Connect());
      continue;
    }
    if (err == EAGAIN) return unix_socket::PeerError(path_, EAGAIN);
    return unix_socket::PeerError(path_, err);
  }
  return unix_socket::PeerError(path_, ECONNREFUSED);
}

Status ConfirmedSender::SendAsync(std::string_view payload, uint64_t* ticket) {
  while (in_flight_.size() >= options_.window) {
    MQ_RETURN_IF_ERROR(ReadReplies(options_.reply_timeout));
    ExpireOld();
  }
  // Keep the answers moving even if the caller never waits for them.
  if (!in_flight_.empty()) MQ_RETURN_IF_ERROR(ReadReplies(milliseconds(0)));
  MQ_RETURN_IF_ERROR(SendOne(payload));
  const uint64_t t = next_ticket_++;
  in_flight_.push_back(InFlight{t, Clock::now()});
  if (ticket != nullptr) *ticket = t;
  return Status::OK();
}

Status ConfirmedSender::Collect(milliseconds timeout, std::vector<Confirmation>* out) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (ready_.empty() && !in_flight_.empty()) {
    MQ_RETURN_IF_ERROR(ReadReplies(Left(deadline)));
    ExpireOld();
    if (!ready_.empty() || Clock::now() >= deadline) break;
  }
  if (ready_.empty()) {
    if (in_flight_.empty()) return Status::OK();
    return Status::TimedOut(path_ + ": no answer from the mailbox within " + std::to_string(timeout.count()) +
                            " ms");
  }
  out->insert(out->end(), ready_.begin(), ready_.end());
  ready_.clear();
  return Status::OK();
}

Status ConfirmedSender::Flush(std::vector<Confirmation>* out) {
  while (!in_flight_.empty()) {
    MQ_RETURN_IF_ERROR(ReadReplies(options_.reply_timeout));
    ExpireOld();
  }
  out->insert(out->end(), ready_.begin(), ready_.end());
  ready_.clear();
  return Status::OK();
}

Status ConfirmedSender::SendConfirmed(std::string_view payload, milliseconds timeout, uint64_t* seq) {
  uint64_t ticket = 0;
  MQ_RETURN_IF_ERROR(SendAsync(payload, &ticket));
  const Clock::time_point deadline = Clock::now() + timeout;
  while (true) {
    auto it = std::find_if(ready_.begin(), ready_.end(), [&](const Confirmation& c) { return c.ticket == ticket; });
    if (it != ready_.end()) {
      Confirmation c = *it;
      ready_.erase(it);
      if (c.status.ok() && seq != nullptr) *seq = c.seq;
      return c.status;
    }
    if (Clock::now() >= deadline) {
      FailInFlight(Status::TimedOut(path_ + ": no answer from the mailbox in time; the message may or may not have "
                                            "been stored"));
      continue;  // our own ticket is now in ready_ with that status
    }
    MQ_RETURN_IF_ERROR(ReadReplies(Left(deadline)));
    ExpireOld();
  }
}

}  // namespace mq
