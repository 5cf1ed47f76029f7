// Unconfirmed sends: mq::Send and mq::Sender (docs/mailbox.md, "Senders").
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

Status Sender::Send(std::string_view payload) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + options_.retry_for;
  unix_socket::EnsureSendBuffer(fd_, payload.size(), &sndbuf_);
  bool reconnected = false;
  while (true) {
    ssize_t n = ::send(fd_, payload.data(), payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return Status::OK();
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ECONNREFUSED && !reconnected) {
      // The mailbox we were connected to is gone; a restarted one may be
      // bound at the path now.
      reconnected = true;
      MQ_RETURN_IF_ERROR(Connect());
      continue;
    }
    if (err == EAGAIN || err == ENOBUFS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() > 0) {
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
        continue;
      }
    }
    return unix_socket::PeerError(path_, err);
  }
}

Status Send(const std::string& socket_path, std::string_view payload, const SendOptions& options) {
  MQ_ASSIGN_OR_RETURN(std::unique_ptr<Sender> s, Sender::Open(socket_path, options));
  return s->Send(payload);
}

}  // namespace mq
