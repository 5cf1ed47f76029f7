// Unconfirmed sends: mq::Send and mq::Sender (docs/mailbox.md, "Senders").
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "mq/sender.h"
#include "unix_socket.h"

namespace mq {

Result<std::unique_ptr<Sender>> Sender::Open(const std::string& socket_path, const SendOptions& options) {
  std::unique_ptr<Sender> s(new Sender(socket_path, options));
  MQ_RETURN_IF_ERROR(s->Connect());
  return s;
}

Sender::~Sender() {
  if (fd_ >= 0) ::close(fd_);
}

Status Sender::Connect() {
  sockaddr_un addr;
  socklen_t len = 0;
  MQ_RETURN_IF_ERROR(unix_socket::MakeAddress(path_, &addr, &len));
  if (fd_ < 0) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Status::FromErrno("socket()");
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) return unix_socket::PeerError(path_, errno);
  return Status::OK();
}

Status Sender::RetryOrFail(int err, bool* reconnected, std::chrono::steady_clock::time_point deadline) {
  if (err == EINTR) return Status::OK();
  if (err == ECONNREFUSED && !*reconnected) {
    // The mailbox we were connected to is gone; a restarted one may be
    // bound at the path now.
    *reconnected = true;
    return Connect();
  }
  if (err == EAGAIN || err == ENOBUFS) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() > 0) {
      pollfd p{fd_, POLLOUT, 0};
      (void)::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
      return Status::OK();
    }
  }
  return unix_socket::PeerError(path_, err);
}

Status Sender::Send(std::string_view payload) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + options_.retry_for;
  unix_socket::EnsureSendBuffer(fd_, payload.size(), &sndbuf_);
  bool reconnected = false;
  while (true) {
    ssize_t n = ::send(fd_, payload.data(), payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return Status::OK();
    const int err = errno;
    MQ_RETURN_IF_ERROR(RetryOrFail(err, &reconnected, deadline));
  }
}

Status Sender::SendBatch(std::span<const std::string_view> payloads, size_t* sent) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + options_.retry_for;
  size_t done = 0;
  if (sent != nullptr) *sent = 0;
  size_t largest = 0;
  for (std::string_view p : payloads) largest = std::max(largest, p.size());
  unix_socket::EnsureSendBuffer(fd_, largest, &sndbuf_);
  mmsghdr hdrs[kBatchMax];
  iovec iovs[kBatchMax];
  bool reconnected = false;
  while (done < payloads.size()) {
    const size_t k = std::min(kBatchMax, payloads.size() - done);
    for (size_t i = 0; i < k; ++i) {
      iovs[i] = iovec{const_cast<char*>(payloads[done + i].data()), payloads[done + i].size()};
      hdrs[i] = mmsghdr{};
      hdrs[i].msg_hdr.msg_iov = &iovs[i];
      hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::sendmmsg(fd_, hdrs, static_cast<unsigned>(k), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      if (sent != nullptr) *sent = done;
      continue;
    }
    // Nothing of this call went: the same handling as Send's.
    const int err = n == 0 ? EAGAIN : errno;
    MQ_RETURN_IF_ERROR(RetryOrFail(err, &reconnected, deadline));
  }
  return Status::OK();
}

Status Send(const std::string& socket_path, std::string_view payload, const SendOptions& options) {
  MQ_ASSIGN_OR_RETURN(std::unique_ptr<Sender> s, Sender::Open(socket_path, options));
  return s->Send(payload);
}

}  // namespace mq
