// The socket hand-off contract: a process started with MQ_SOCKET_FD=<n> and
// MQ_SOCKET=<path> adopts descriptor n as its mailbox socket, once it has
// checked that n really is a datagram socket bound at <path>.
#include "socket_handoff.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cassert>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "mailbox_impl.h"
#include "mq/mailbox.h"

namespace mq {
namespace socket_handoff {
namespace {

std::string Name(int fd, const std::string& path) {
  return "inherited socket (descriptor " + std::to_string(fd) + ", expected bound at " + path + ")";
}

Status Invalid(int fd, const std::string& path, const std::string& what) {
  return Status::InvalidArgument(Name(fd, path) + ": " + what +
                                 "; the process that started this one must pass the socket it bound at that path");
}

int IntOption(int fd, int opt, int* err) {
  int v = 0;
  socklen_t len = sizeof(v);
  if (::getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) {
    *err = errno;
    return -1;
  }
  *err = 0;
  return v;
}

}  // namespace

Status CheckInherited(int fd, const std::string& path) {
  if (fd < 0) return Invalid(fd, path, "is not a descriptor number");
  if (path.empty() || path[0] == '\0') return Invalid(fd, path, "the socket path must be a file path");
  if (::fcntl(fd, F_GETFD) < 0) return Invalid(fd, path, "is not open (" + std::string(std::strerror(errno)) + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) return Invalid(fd, path, "fstat: " + std::string(std::strerror(errno)));
  if (!S_ISSOCK(st.st_mode)) return Invalid(fd, path, "is not a socket");
  int err = 0;
  const int domain = IntOption(fd, SO_DOMAIN, &err);
  if (err != 0) return Invalid(fd, path, "SO_DOMAIN: " + std::string(std::strerror(err)));
  if (domain != AF_UNIX) return Invalid(fd, path, "is not an AF_UNIX socket (domain " + std::to_string(domain) + ")");
  const int type = IntOption(fd, SO_TYPE, &err);
  if (err != 0) return Invalid(fd, path, "SO_TYPE: " + std::string(std::strerror(err)));
  if (type != SOCK_DGRAM)
    return Invalid(fd, path,
                   std::string("is not a datagram socket (it is ") +
                       (type == SOCK_STREAM ? "SOCK_STREAM" : type == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : "another type") +
                       ")");
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Invalid(fd, path, "getsockname: " + std::string(std::strerror(errno)));
  const size_t off = offsetof(sockaddr_un, sun_path);
  if (len <= off) return Invalid(fd, path, "is not bound to any address");
  // A path name comes back NUL-terminated (the kernel may count the NUL or
  // not); an abstract name starts with NUL.
  std::string bound(addr.sun_path, len - off);
  if (!bound.empty() && bound[0] == '\0') return Invalid(fd, path, "is bound to an abstract name, not a file");
  if (const size_t nul = bound.find('\0'); nul != std::string::npos) bound.resize(nul);
  if (bound != path) return Invalid(fd, path, "is bound to " + bound + ", another path");
  sockaddr_un peer{};
  socklen_t plen = sizeof(peer);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0)
    return Invalid(fd, path, "is connected to a peer (it would receive from that peer only)");
  return Status::OK();
}

Status Prepare(int fd, const std::string& path, int receive_buffer_bytes) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)
    return Status::FromErrno(Name(fd, path) + ": setting close-on-exec");
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
    return Status::FromErrno(Name(fd, path) + ": SO_PASSCRED");
  // Best effort, as for a socket bound here.
  if (receive_buffer_bytes > 0)
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(receive_buffer_bytes));
  int snd = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
  return Status::OK();
}

}  // namespace socket_handoff

Status InheritSocketFromEnvironment(MailboxOptions* o) {
  const char* fd_text = std::getenv("MQ_SOCKET_FD");
  if (fd_text == nullptr) return Status::OK();
  const std::string text = fd_text;
  int fd = -1;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, fd);
  if (text.empty() || ec != std::errc() || p != end || fd < 0)
    return Status::InvalidArgument("MQ_SOCKET_FD='" + text +
                                   "' is not a descriptor number (a decimal integer from 0); fix the environment "
                                   "the supervisor passes, or unset it");
  const char* path = std::getenv("MQ_SOCKET");
  if (path == nullptr || *path == '\0')
    return Status::InvalidArgument("MQ_SOCKET_FD=" + text +
                                   " is set but MQ_SOCKET (the path the socket is bound at) is not; the supervisor "
                                   "must pass both");
  if (o->socket_path.empty()) o->socket_path = path;
  if (o->socket_path != path) return Status::OK();  // this mailbox binds another path itself
  o->inherit_socket = fd;
  if (o->queue_path.empty()) {
    if (const char* q = std::getenv("MQ_QUEUE"); q != nullptr) o->queue_path = q;
  }
  return Status::OK();
}

}  // namespace mq

// ---- Mailbox::Impl's side of it ----
namespace mq {

Status Mailbox::Impl::AdoptSocket() {
  const int fd = opt.inherit_socket;
  // Adopted once, instead of binding: no socket yet.
  assert(!adopted && sock.get() < 0);
  MQ_RETURN_IF_ERROR(socket_handoff::CheckInherited(fd, opt.socket_path));
  unix_socket::Fd ev(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (ev.get() < 0) return Status::FromErrno("mailbox: eventfd for the adopted socket");
  MQ_RETURN_IF_ERROR(socket_handoff::Prepare(fd, opt.socket_path, opt.receive_buffer_bytes));
  wake = std::move(ev);
  sock = unix_socket::Fd(fd);
  adopted = true;
  return PrepareBuffers();  // after `adopted`: it chooses peek, append, discard
}

}  // namespace mq
