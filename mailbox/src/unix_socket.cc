#include "unix_socket.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace mq::unix_socket {

Status MakeAddress(std::string_view name, sockaddr_un* addr, socklen_t* len) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  const bool abstract = !name.empty() && name[0] == '\0';
  // A path needs room for its terminating NUL; an abstract name does not.
  const size_t room = sizeof(addr->sun_path) - (abstract ? 0 : 1);
  if (name.empty()) return Status::InvalidArgument("socket path is empty");
  if (name.size() > room)
    return Status::InvalidArgument("socket path '" + std::string(name) + "' is " + std::to_string(name.size()) +
                                   " bytes; a Unix socket path can have at most " + std::to_string(room) +
                                   ". Use a shorter path (e.g. a relative one, or a directory nearer /)");
  std::memcpy(addr->sun_path, name.data(), name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
  return Status::OK();
}

int BindWithMode(int fd, const sockaddr_un& addr, socklen_t len, mode_t mode, const char** step) {
  *step = "chmod of the socket before bind";
  if (::fchmod(fd, mode) != 0) return errno;
  // The bind creates the file with the socket's mode minus the umask of the
  // thread that binds: a thread of our own, with its own umask of 0.
  int err = 0;
  bool own_umask = false;
  std::thread binder([&] {
    if (::unshare(CLONE_FS) == 0) {
      own_umask = true;
      ::umask(0);
    }
    err = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0 ? 0 : errno;
  });
  binder.join();
  *step = "binding the mailbox socket";
  if (err != 0) return err;
  if (own_umask) return 0;
  // No private umask: the file is mode minus the process umask (narrower,
  // never wider). Add what the umask took away, on the file itself.
  *step = "setting the socket file's mode";
  const int file = ::open(addr.sun_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (file < 0) return errno;
  struct stat st;
  int rc = ::fstat(file, &st);
  if (rc == 0 && !S_ISSOCK(st.st_mode)) {
    rc = -1;
    errno = ENOTSOCK;  // replaced by something else since the bind
  }
  if (rc == 0 && (st.st_mode & 07777) != mode) {
    const std::string via = "/proc/self/fd/" + std::to_string(file);
    rc = ::chmod(via.c_str(), mode);  // the inode opened above, not a path walked again
  }
  const int e = rc == 0 ? 0 : errno;
  ::close(file);
  return e;
}

namespace {
std::string ReadProcValue(const char* file) {
  std::ifstream in(file);
  std::string v;
  in >> v;
  return v.empty() ? "?" : v;
}
}  // namespace

Status PeerError(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return Status::NotFound(path + ": no such socket; is the mailbox running, and is this its socket path?");
    case ECONNREFUSED: {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        return Status::InvalidArgument(path + ": not a socket (a mailbox's socket path was expected)");
      return Status::IOError(path + ": no mailbox is bound to this socket (it stopped or crashed); start the mailbox "
                                    "and send again",
                             err);
    }
    case EACCES:
    case EPERM:
      return Status::IOError(path + ": permission denied; the socket's mode (0600 by default) or a directory on "
                                    "the path refuses this user",
                             err);
    case EAGAIN:
      return Status::IOError(path + ": the mailbox's socket buffer is full (it is not draining); retry later or "
                                    "give the send a retry time",
                             err);
    case EMSGSIZE:
      return Status::TooLarge(path + ": the datagram is larger than the kernel allows for one Unix datagram "
                                     "(about twice /proc/sys/net/core/wmem_max = " +
                              ReadProcValue("/proc/sys/net/core/wmem_max") + " bytes); send a smaller message");
    case EPIPE:
      return Status::IOError(path + ": the mailbox is closing; send again once it is restarted", err);
    case ENOTSOCK:
      return Status::InvalidArgument(path + ": not a socket (a mailbox's socket path was expected)");
    default:
      return Status::IOError(path + ": sending to the mailbox failed", err);
  }
}

bool SocketIdentity(const std::string& path, uint64_t* dev, uint64_t* ino) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return true;
}

ssize_t SendWithFd(int sock, std::string_view bytes, int fd) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (fd >= 0) {
    m.msg_control = control;
    m.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return ::sendmsg(sock, &m, MSG_NOSIGNAL);
}

void PrepareReceive(mmsghdr* m, iovec* iov, char* buf, size_t len, sockaddr_un* from, std::vector<char>* control) {
  *iov = iovec{buf, len};
  msghdr& h = m->msg_hdr;
  h = msghdr{};
  h.msg_name = from;
  h.msg_namelen = sizeof(sockaddr_un);
  h.msg_iov = iov;
  h.msg_iovlen = 1;
  h.msg_control = control->data();
  h.msg_controllen = control->size();
  m->msg_len = 0;
}

size_t MaxQueuedDatagrams() {
  const int fd = ::open("/proc/sys/net/unix/max_dgram_qlen", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1025;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  const long v = n > 0 ? std::strtol(buf, nullptr, 10) : -1;
  return v >= 0 && v < (1L << 30) ? static_cast<size_t>(v) + 1 : 1025;
}

void EnsureSendBuffer(int fd, size_t bytes, size_t* known) {
  // The kernel needs some room beyond the payload for the skb itself.
  const size_t want = bytes + 4096;
  if (*known >= want) return;
  int cur = 0;
  socklen_t len = sizeof(cur);
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) != 0) return;
  if (static_cast<size_t>(cur) < want) {
    int v = want > (1u << 30) ? (1 << 30) : static_cast<int>(want);
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    len = sizeof(cur);
    if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) != 0) return;
  }
  // Linux reports twice what was asked for, of which half is for payload.
  *known = static_cast<size_t>(cur) / 2;
}

void Fd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace mq::unix_socket
