// Confirmed sends (docs/mailbox.md, "Confirmations"). The sender opens the
// mailbox's socket file, checks who owns it, connects a fresh socket to it
// through that open file and only then binds the socket under the abstract
// prefix "\0mq-reply/chan/", so only the mailbox can ever send to it. Its
// answers come through an answer channel instead: one end of a socketpair,
// passed to the mailbox with the first message (SCM_RIGHTS), so what this
// sender leaves unread is charged to that channel, not to the mailbox
// socket that carries everyone's answers ("Answer channels"). Every answer is
// read with the sending process's credentials and dropped unless they are
// of a trusted uid. Answers arrive in send order; the i-th answer is about
// the i-th message in flight.
//
// When the answers can no longer be matched (a timeout, the mailbox
// restarted), every message in flight is reported with an error and the
// reply socket is replaced, so a late answer can never be taken for another
// message's.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include "mq/sender.h"
#include "pack_format.h"
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
    case reply::Code::kNoChannel:
      break;  // not an answer to a message (DrainFrom)
  }
  return Status::IOError(path + ": unknown answer from the mailbox", EPROTO);
}

}  // namespace

Result<std::unique_ptr<ConfirmedSender>> ConfirmedSender::Open(const std::string& socket_path,
                                                               const ConfirmedSenderOptions& options) {
  if (options.window == 0) return Status::InvalidArgument("ConfirmedSender: window must be at least 1");
  std::unique_ptr<ConfirmedSender> s(new ConfirmedSender(socket_path, options));
  MQ_RETURN_IF_ERROR(s->Reach());
  return s;
}

ConfirmedSender::~ConfirmedSender() { CloseSockets(); }

void ConfirmedSender::CloseSockets() {
  for (int* fd : {&fd_, &answers_fd_, &channel_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

bool ConfirmedSender::TrustedUid(uint32_t uid) const {
  return uid == 0 || uid == ::geteuid() || (options_.expected_uid.has_value() && uid == *options_.expected_uid);
}

namespace {

std::string TrustedList(const ConfirmedSenderOptions& o) {
  std::string s = "root, uid " + std::to_string(::geteuid()) + " (this process)";
  if (o.expected_uid.has_value()) s += " and uid " + std::to_string(*o.expected_uid) + " (expected_uid)";
  return s;
}

// Connects `fd` to the socket file open as `file` (an O_PATH descriptor),
// so the file connected to is the file that was checked. Without /proc,
// connects by path and checks that the path still names that file.
int ConnectThrough(int fd, int file, const std::string& path, const struct stat& checked) {
  const std::string via = "/proc/self/fd/" + std::to_string(file);
  sockaddr_un addr;
  socklen_t len = 0;
  if (unix_socket::MakeAddress(via, &addr, &len).ok() &&
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0)
    return 0;
  if (errno != ENOENT || ::access("/proc/self/fd", X_OK) == 0) return errno;
  if (!unix_socket::MakeAddress(path, &addr, &len).ok()) return EINVAL;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return errno;
  struct stat now;
  if (::stat(path.c_str(), &now) != 0 || now.st_dev != checked.st_dev || now.st_ino != checked.st_ino)
    return ECONNREFUSED;  // replaced meanwhile: like a mailbox that is not up yet
  return 0;
}

}  // namespace

Status ConfirmedSender::Reach() {
  CloseSockets();
  sndbuf_ = 0;
  connected_ = false;
  packing_ = false;
  reply_name_.clear();
  sockaddr_un addr;
  socklen_t len = 0;
  MQ_RETURN_IF_ERROR(unix_socket::MakeAddress(path_, &addr, &len));  // the path fits sockaddr_un
  const Clock::time_point deadline = Clock::now() + options_.connect_retry;
  unix_socket::Fd sock;
  struct stat st {};
  while (true) {
    int err = 0;
    unix_socket::Fd file(::open(path_.c_str(), O_PATH | O_CLOEXEC));
    if (file.get() < 0) {
      err = errno;
    } else {
      if (::fstat(file.get(), &st) != 0) return Status::FromErrno(path_ + ": fstat");
      if (!S_ISSOCK(st.st_mode))
        return Status::InvalidArgument(path_ + ": not a socket (a mailbox's socket path was expected)");
      if (!TrustedUid(st.st_uid))
        return Status::Denied(path_ + ": the socket file is owned by uid " + std::to_string(st.st_uid) +
                              ", but a confirming sender expects its mailbox to run as " + TrustedList(options_) +
                              "; nothing was sent. If uid " + std::to_string(st.st_uid) +
                              " runs this mailbox, allow it (ConfirmedSenderOptions::expected_uid, mqtool send "
                              "--expect-uid " +
                              std::to_string(st.st_uid) + ")");
      sock = unix_socket::Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (sock.get() < 0) return Status::FromErrno("ConfirmedSender: socket()");
      err = ConnectThrough(sock.get(), file.get(), path_, st);
      if (err == 0) break;
    }
    if ((err == ENOENT || err == ECONNREFUSED) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::min<milliseconds>(milliseconds(10), Left(deadline)));
      continue;
    }
    return unix_socket::PeerError(path_, err);
  }
  // Bound only now that it is connected: nobody but the mailbox can send to
  // the name, from the moment it exists.
  std::random_device rd;
  for (int attempt = 0;; ++attempt) {
    uint64_t r = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
    // Under the channel prefix: the answers come through the channel
    // passed with the first message, several in one datagram. Under the
    // pack prefix (inside it) once this mailbox's answers offered packs.
    const bool pack = options_.pack && pack_offer_ > 0;
    std::string name(pack ? pack::kPrefix : reply::kChannelPrefix);
    name += std::to_string(::getpid()) + "/" + hex;
    sockaddr_un reply;
    socklen_t reply_len = 0;
    MQ_RETURN_IF_ERROR(unix_socket::MakeAddress(name, &reply, &reply_len));
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&reply), reply_len) == 0) {
      reply_name_ = name.substr(1);
      packing_ = pack;
      break;
    }
    const int err = errno;
    if (err != EADDRINUSE || attempt >= 8)
      return Status::IOError("ConfirmedSender: binding reply socket @" + name.substr(1), err);
  }
  // The answer channel: answers come to pair[0]; pair[1] goes to the mailbox
  // with the first message. The pair has no name: only the process holding
  // pair[1] can send to pair[0].
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0)
    return Status::FromErrno("ConfirmedSender: socketpair() for the answer channel");
  unix_socket::Fd answers(pair[0]);
  unix_socket::Fd channel(pair[1]);
  // Every answer then carries the sending process's credentials, on the
  // channel and on the named socket alike (a mailbox that does not know
  // channels answers to the name; see DrainReplies).
  const int one = 1;
  if (::setsockopt(answers.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0 ||
      ::setsockopt(sock.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
    return Status::FromErrno("ConfirmedSender: setsockopt(SO_PASSCRED)");
  // Nothing can be queued at the name yet (it is new and the socket
  // connected); should anything be, it predates this connection: drop it.
  char junk[1];
  while (::recv(sock.get(), junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) >= 0) ++dropped_answers_;
  fd_ = sock.Release();
  answers_fd_ = answers.Release();
  channel_fd_ = channel.Release();
  connected_ = true;
  peer_dev_ = st.st_dev;
  peer_ino_ = st.st_ino;
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

void ConfirmedSender::Settle(const InFlight& f, Confirmation c) {
  if (f.sync) {
    sync_answer_ = std::move(c);
  } else {
    ready_.push_back(std::move(c));
  }
}

void ConfirmedSender::FailInFlight(const Status& why) {
  for (const InFlight& f : in_flight_) Settle(f, Confirmation{f.ticket, 0, why});
  in_flight_.clear();
  // Any answer still on its way belongs to the messages just failed: never
  // read it. The next send binds and connects a fresh reply socket and
  // passes a fresh channel.
  CloseSockets();
  sndbuf_ = 0;
  connected_ = false;
  // The next connection may reach another mailbox: no packs until its
  // answers offer them.
  pack_offer_ = 0;
}

void ConfirmedSender::ExpireOld() {
  if (in_flight_.empty()) return;
  if (Clock::now() - in_flight_.front().sent < options_.reply_timeout) return;
  FailInFlight(Status::TimedOut(path_ + ": no answer from the mailbox within " +
                                std::to_string(options_.reply_timeout.count()) +
                                " ms; the message may or may not have been stored"));
}

size_t ConfirmedSender::DrainReplies() {
  // A mailbox of this version answers through the channel only; one that
  // does not know channels (an older version, another implementation)
  // closes the channel and answers to the name. Only that one mailbox can
  // send to either, so the answers come from one of them, in order.
  size_t n = DrainFrom(answers_fd_);
  if (fd_ >= 0) n += DrainFrom(fd_);
  return n;
}

size_t ConfirmedSender::DrainFrom(int fd) {
  if (fd < 0) return 0;
  char buf[reply::kSize * reply::kMaxBatch];
  // Room for the credentials and for descriptors nobody asked for (closed).
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(16 * sizeof(int))];
  std::vector<reply::Answer> answers;
  size_t datagrams = 0;
  bool no_channel = false;
  while (!in_flight_.empty()) {
    iovec iov{buf, sizeof(buf)};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    // MSG_TRUNC: the datagram's real length, so a longer one is ignored,
    // never read cut short.
    ssize_t n = ::recvmsg(fd, &m, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (n < 0) break;
    ++datagrams;
    bool trusted = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        trusted = TrustedUid(cred.uid);
      } else if (c->cmsg_type == SCM_RIGHTS) {
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int passed;
          std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          ::close(passed);
        }
      }
    }
    answers.clear();
    if (!trusted || static_cast<size_t>(n) > sizeof(buf) ||
        !reply::DecodeBatch(std::string_view(buf, static_cast<size_t>(n)), &answers)) {
      ++dropped_answers_;
      continue;
    }
    for (const reply::Answer& a : answers) {
      if (in_flight_.empty()) break;  // more answers than messages: not ours to match
      if (a.code == reply::Code::kNoChannel) {
        no_channel = true;
        break;
      }
      if (a.pack_offer > 0) pack_offer_ = a.pack_offer;
      InFlight f = in_flight_.front();
      in_flight_.pop_front();
      Settle(f, Confirmation{f.ticket, a.seq, StatusFor(a.code, path_)});
    }
    if (no_channel) break;
  }
  if (no_channel) {
    // "No channel here", from the mailbox (it came on a socket only the
    // mailbox can send to, with trusted credentials): the process that held
    // this sender's channel is gone (a supervised actor restarted on the same
    // socket) or closed it, so nothing in flight will be answered. Answers
    // the old channel still holds come first; the rest are reported now
    // instead of after reply_timeout, and the next send reconnects with a
    // fresh channel.
    if (fd != answers_fd_) DrainFrom(answers_fd_);
    // With nothing left in flight, FailInFlight only closes the sockets.
    FailInFlight(Status::IOError(path_ + ": the mailbox was restarted (it holds no answer channel for this "
                                         "sender) before it answered; the message may or may not have been stored",
                                 ECONNRESET));
  }
  return datagrams;
}

Status ConfirmedSender::ReadReplies(milliseconds wait) {
  if (answers_fd_ < 0 || in_flight_.empty()) return Status::OK();
  // Read first, poll only if nothing was waiting: answers usually are, and
  // a pipelining sender calls this once per message.
  if (DrainReplies() > 0) return Status::OK();
  if (wait.count() > 0) {
    pollfd p[2] = {{answers_fd_, POLLIN, 0}, {fd_, POLLIN, 0}};
    int r = ::poll(p, 2, static_cast<int>(std::min<milliseconds>(wait, kSlice).count()));
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
  if (fd_ < 0 || !connected_) MQ_RETURN_IF_ERROR(Reach());
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Bound under the pack prefix, every datagram is packed: this one alone.
    std::string_view dgram = payload;
    if (packing_) {
      pack::Pack(std::span(&payload, 1), &pack_buf_);
      dgram = pack_buf_;
    }
    unix_socket::EnsureSendBuffer(fd_, dgram.size(), &sndbuf_);
    ssize_t n = 0;
    if (channel_fd_ >= 0) {
      // The first message carries the answer channel.
      n = unix_socket::SendWithFd(fd_, dgram, channel_fd_);
      if (n >= 0) {
        ::close(channel_fd_);  // the mailbox holds it now
        channel_fd_ = -1;
      }
    } else {
      n = ::send(fd_, dgram.data(), dgram.size(), MSG_NOSIGNAL);
    }
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
      MQ_RETURN_IF_ERROR(Reach());
      continue;
    }
    if (err == EAGAIN) return unix_socket::PeerError(path_, EAGAIN);
    return unix_socket::PeerError(path_, err);
  }
  return unix_socket::PeerError(path_, ECONNREFUSED);
}

Status ConfirmedSender::SendSome(std::span<const std::string_view> payloads, size_t* n) {
  *n = 0;
  if (payloads.empty()) return Status::OK();
  // The first message after a connect carries the answer channel, and every
  // error is SendOne's to handle: one message through SendOne then.
  if (fd_ >= 0 && connected_ && channel_fd_ < 0 && packing_) {
    const size_t k = PackCount(payloads);
    if (k > 1) {
      pack::Pack(payloads.first(k), &pack_buf_);
      unix_socket::EnsureSendBuffer(fd_, pack_buf_.size(), &sndbuf_);
      ssize_t sent;
      do {
        sent = ::send(fd_, pack_buf_.data(), pack_buf_.size(), MSG_NOSIGNAL);
      } while (sent < 0 && errno == EINTR);
      if (sent >= 0) {
        *n = k;
        return Status::OK();
      }
      // Every error is SendOne's to handle.
    }
  } else if (fd_ >= 0 && connected_ && channel_fd_ < 0 && payloads.size() > 1) {
    const size_t k = std::min(Sender::kBatchMax, payloads.size());
    size_t largest = 0;
    mmsghdr hdrs[Sender::kBatchMax];
    iovec iovs[Sender::kBatchMax];
    for (size_t i = 0; i < k; ++i) {
      largest = std::max(largest, payloads[i].size());
      iovs[i] = iovec{const_cast<char*>(payloads[i].data()), payloads[i].size()};
      hdrs[i] = mmsghdr{};
      hdrs[i].msg_hdr.msg_iov = &iovs[i];
      hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    unix_socket::EnsureSendBuffer(fd_, largest, &sndbuf_);
    int sent;
    do {
      sent = ::sendmmsg(fd_, hdrs, static_cast<unsigned>(k), MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent > 0) {
      *n = static_cast<size_t>(sent);
      return Status::OK();
    }
  }
  MQ_RETURN_IF_ERROR(SendOne(payloads[0]));
  *n = 1;
  return Status::OK();
}

size_t ConfirmedSender::PackCount(std::span<const std::string_view> payloads) const {
  size_t k = 0, bytes = pack::kHeader;
  while (k < payloads.size() && k < pack::kMaxMessages) {
    bytes += pack::kEntryHeader + payloads[k].size();
    if (bytes > pack_offer_) break;
    ++k;
  }
  return std::max<size_t>(k, 1);
}

Status ConfirmedSender::SwitchToPacks() {
  if (!options_.pack || pack_offer_ == 0 || packing_ || !connected_ || options_.window < 2) return Status::OK();
  // The answers of what is in flight come to this connection's channel:
  // wait for them (or their timeout, which fails them and forgets the offer).
  while (!in_flight_.empty()) {
    MQ_RETURN_IF_ERROR(ReadReplies(options_.reply_timeout));
    ExpireOld();
  }
  if (pack_offer_ == 0 || !connected_) return Status::OK();
  CloseSockets();  // the next send reconnects under the pack prefix (Reach)
  sndbuf_ = 0;
  connected_ = false;
  return Status::OK();
}

Result<uint64_t> ConfirmedSender::SendAsyncBatch(std::span<const std::string_view> payloads, size_t* sent) {
  if (sent != nullptr) *sent = 0;
  const uint64_t first = next_ticket_;
  size_t done = 0;
  while (done < payloads.size()) {
    // Here, not only at the call's start: the first answer, with the offer,
    // can arrive while a long list is being sent one datagram a message.
    MQ_RETURN_IF_ERROR(SwitchToPacks());
    while (in_flight_.size() >= options_.window) {
      MQ_RETURN_IF_ERROR(ReadReplies(options_.reply_timeout));
      ExpireOld();
    }
    if (!in_flight_.empty()) MQ_RETURN_IF_ERROR(ReadReplies(milliseconds(0)));
    const size_t room = std::min(options_.window - in_flight_.size(), payloads.size() - done);
    size_t n = 0;
    MQ_RETURN_IF_ERROR(SendSome(payloads.subspan(done, room), &n));
    const Clock::time_point now = Clock::now();
    for (size_t i = 0; i < n; ++i) in_flight_.push_back(InFlight{next_ticket_++, now, false});
    done += n;
    if (sent != nullptr) *sent = done;
  }
  return first;
}

Status ConfirmedSender::SendTracked(std::string_view payload, bool sync, uint64_t* ticket) {
  while (in_flight_.size() >= options_.window) {
    MQ_RETURN_IF_ERROR(ReadReplies(options_.reply_timeout));
    ExpireOld();
  }
  // Keep the answers moving even if the caller never waits for them.
  if (!in_flight_.empty()) MQ_RETURN_IF_ERROR(ReadReplies(milliseconds(0)));
  MQ_RETURN_IF_ERROR(SendOne(payload));
  const uint64_t t = sync ? 0 : next_ticket_++;
  in_flight_.push_back(InFlight{t, Clock::now(), sync});
  if (ticket != nullptr) *ticket = t;
  return Status::OK();
}

Result<uint64_t> ConfirmedSender::SendAsync(std::string_view payload) {
  uint64_t ticket = 0;
  MQ_RETURN_IF_ERROR(SendTracked(payload, false, &ticket));
  return ticket;
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

Result<uint64_t> ConfirmedSender::SendConfirmed(std::string_view payload, milliseconds timeout) {
  sync_answer_.reset();
  MQ_RETURN_IF_ERROR(SendTracked(payload, true, nullptr));
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!sync_answer_.has_value()) {
    if (Clock::now() >= deadline) {
      // Sets sync_answer_ (and fails the earlier messages still in flight).
      FailInFlight(Status::TimedOut(path_ + ": no answer from the mailbox in time; the message may or may not have "
                                            "been stored"));
      break;
    }
    MQ_RETURN_IF_ERROR(ReadReplies(Left(deadline)));
    ExpireOld();
  }
  Confirmation c = std::move(*sync_answer_);
  sync_answer_.reset();
  if (!c.status.ok()) return c.status;
  return c.seq;
}

}  // namespace mq
