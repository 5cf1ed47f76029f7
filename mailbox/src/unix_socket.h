// Small helpers around AF_UNIX datagram sockets shared by the mailbox and
// the senders: addresses, errno -> Status for a peer, receive buffers, an
// owning fd.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mq/status.h"

namespace mq::unix_socket {

// Fills *addr for `name`: a filesystem path, or an abstract name if it
// starts with NUL. kInvalidArgument if empty or longer than sun_path.
Status MakeAddress(std::string_view name, sockaddr_un* addr, socklen_t* len);

// A Status for errno `err` from connecting or sending to the mailbox socket
// at `path` (see mq/sender.h for the codes), saying what to do.
Status PeerError(const std::string& path, int err);

// The identity of the socket file at path. False if missing or not a socket.
bool SocketIdentity(const std::string& path, uint64_t* dev, uint64_t* ino);

// Binds `fd` at the file path `addr` so that the socket file appears with
// exactly `mode`: the mode is set on the socket (fchmod) before bind, and
// the bind runs on a short-lived thread with its own umask of 0
// (unshare(CLONE_FS)), so neither the process umask nor a path lookup after
// bind (which could follow a symlink planted there) decides it. Where
// unshare is refused (some sandboxes), the bind keeps the process umask,
// which can only remove bits, and the missing bits are added through a
// descriptor opened on the socket file with O_NOFOLLOW: the file is never
// wider than `mode`, and nothing but the socket file itself is changed.
// Returns 0 or the errno of the step that failed (*step names it).
int BindWithMode(int fd, const sockaddr_un& addr, socklen_t len, mode_t mode, const char** step);

// How many datagrams a Unix datagram socket can hold queued at most: the
// kernel refuses a send once more than net.unix.max_dgram_qlen are queued,
// so that plus one (read from /proc/sys/net/unix/max_dgram_qlen; 1025 if it
// cannot be read).
size_t MaxQueuedDatagrams();

// Raises SO_SNDBUF so one datagram of `bytes` fits (best effort). *known
// caches the buffer size between calls (0: not known yet), so the common
// case costs no system call.
void EnsureSendBuffer(int fd, size_t bytes, size_t* known);

// Sends `bytes` as one datagram on `sock` with descriptor `fd` attached
// (SCM_RIGHTS), or none if fd < 0; MSG_NOSIGNAL. Returns what sendmsg
// returns (errno set on -1). The caller still owns fd.
ssize_t SendWithFd(int sock, std::string_view bytes, int fd);

// Points one recvmmsg entry at `buf` (`len` bytes), `*from` for the
// sender's address and `*control` for its ancillary data, ready to read.
void PrepareReceive(mmsghdr* m, iovec* iov, char* buf, size_t len, sockaddr_un* from, std::vector<char>* control);

// Closes the descriptor it owns.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.Release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int Release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void Reset();

 private:
  int fd_ = -1;
};

}  // namespace mq::unix_socket
