// LinkKeeper: a forked process that notifies this process's links when it
// ends (link_keeper.h).
#include "link_keeper.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "mq/monitor.h"
#include "mq/sender.h"
#include "unix_socket.h"

namespace mq::supervisor {
namespace {

struct Peer {
  int pidfd = -1;
  std::string notify, name;
};

// One message: "A <ref> <name>\n<notify>" with the peer's pidfd, "R <ref>", or "Q".
Status SendRecord(int sock, const std::string& rec, int fd) {
  if (unix_socket::SendWithFd(sock, rec, fd) < 0) return Status::FromErrno("link keeper: sendmsg");
  return Status::OK();
}

void Notify(const std::map<uint64_t, Peer>& peers, pid_t owner, const ExitReason& reason) {
  for (const auto& [ref, p] : peers) {
    if (p.notify.empty()) {
      (void)::syscall(SYS_pidfd_send_signal, p.pidfd, SIGTERM, nullptr, 0);
      continue;
    }
    std::unique_ptr<ConfirmedSender> s;
    ConfirmedSenderOptions o;
    o.reply_timeout = std::chrono::seconds(5);
    uint64_t seq = 0;
    if (ConfirmedSender::Open(p.notify, o).MoveTo(&s).ok())
      (void)s->SendConfirmed(ExitMessage(ref, owner, p.name, reason), std::chrono::seconds(5)).MoveTo(&seq);
  }
}

// `owner_fd`: the owner's pidfd, opened by the owner before the fork (so
// that the owner cannot have ended, and been reaped, before it is held).
[[noreturn]] void KeeperMain(int sock, int owner_fd, pid_t owner) {
  // Only the socketpair and the owner's pidfd are kept: a copy of the
  // owner's sockets here would keep them alive after the owner.
  const int lo = std::min(sock, owner_fd), hi = std::max(sock, owner_fd);
  if (lo > 3) (void)::syscall(SYS_close_range, 3u, static_cast<unsigned>(lo - 1), 0u);
  if (hi > lo + 1) (void)::syscall(SYS_close_range, static_cast<unsigned>(lo + 1), static_cast<unsigned>(hi - 1), 0u);
  (void)::syscall(SYS_close_range, static_cast<unsigned>(hi + 1), ~0u, 0u);
  std::map<uint64_t, Peer> peers;
  std::vector<char> buf(8192);
  for (;;) {
    std::vector<pollfd> fds{{sock, POLLIN, 0}};
    std::vector<uint64_t> refs{0};
    for (const auto& [ref, p] : peers) {
      fds.push_back({p.pidfd, POLLIN, 0});
      refs.push_back(ref);
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;  // a linked process ended: its link is gone
      ::close(peers[refs[i]].pidfd);
      peers.erase(refs[i]);
    }
    if (fds[0].revents == 0) continue;
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // End of file without "Q": the owner is ending. Wait for its exit and,
      // for its status, its reap (up to 2 s), then notify.
      pollfd p{owner_fd, POLLIN, 0};
      (void)::poll(&p, 1, -1);
      p.events = POLLHUP;
      (void)::poll(&p, 1, 2000);
      bool known = false;
      Notify(peers, owner, ReasonOf(owner_fd, &known));
      ::_exit(0);
    }
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    const std::string rec(buf.data(), static_cast<size_t>(n));
    if (rec == "Q") ::_exit(0);
    const uint64_t ref = std::strtoull(rec.c_str() + 2, nullptr, 10);
    if (rec[0] == 'A' && fd >= 0) {
      const size_t sp = rec.find(' ', 2), nl = rec.find('\n');
      Peer p;
      p.pidfd = fd;
      p.name = rec.substr(sp + 1, nl - sp - 1);
      p.notify = rec.substr(nl + 1);
      peers[ref] = p;
    } else if (rec[0] == 'R') {
      auto it = peers.find(ref);
      if (it != peers.end()) {
        ::close(it->second.pidfd);
        peers.erase(it);
      }
      if (fd >= 0) ::close(fd);
    }
  }
}

}  // namespace

Result<LinkKeeper*> LinkKeeper::Start() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return Status::FromErrno("link keeper: socketpair");
  const pid_t owner = ::getpid();
  const long owner_fd = ::syscall(SYS_pidfd_open, owner, 0);
  if (owner_fd < 0) {
    Status s = Status::FromErrno("link keeper: pidfd_open of this process");
    ::close(sv[0]);
    ::close(sv[1]);
    return s;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    Status s = Status::FromErrno("link keeper: fork");
    ::close(sv[0]);
    ::close(sv[1]);
    ::close(static_cast<int>(owner_fd));
    return s;
  }
  if (pid == 0) {
    ::close(sv[0]);
    KeeperMain(sv[1], static_cast<int>(owner_fd), owner);
  }
  ::close(sv[1]);
  ::close(static_cast<int>(owner_fd));
  return new LinkKeeper(sv[0], pid);
}

LinkKeeper::~LinkKeeper() {
  (void)SendRecord(sock_, "Q", -1);
  ::close(sock_);
  int st;
  (void)::waitpid(pid_, &st, 0);
}

Status LinkKeeper::Add(uint64_t ref, int peer_pidfd, const std::string& peer_notify, const std::string& name) {
  return SendRecord(sock_, "A " + std::to_string(ref) + " " + (name.empty() ? "-" : name) + "\n" + peer_notify,
                    peer_pidfd);
}

Status LinkKeeper::Remove(uint64_t ref) { return SendRecord(sock_, "R " + std::to_string(ref), -1); }

}  // namespace mq::supervisor
