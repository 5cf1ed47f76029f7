// Monitors: one watcher thread polls pidfds and delivers DOWN messages by
// confirmed send (mq/monitor.h).
#include "mq/monitor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "link_keeper.h"
#include "mq/sender.h"

namespace mq::supervisor {
namespace {

// The kernel's struct pidfd_info as of Linux 6.15 (PIDFD_INFO_SIZE_VER0,
// 64 bytes; Debian 12's headers predate it). The kernel accepts any size
// from VER0 and fills what it knows.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;  // a wait status, valid with kInfoExit
};
static_assert(sizeof(PidfdInfo) == 64);
constexpr uint64_t kInfoExit = 1ull << 3;  // PIDFD_INFO_EXIT
constexpr unsigned long kGetInfo = _IOWR(0xFF, 11, PidfdInfo);  // PIDFD_GET_INFO

ExitReason FromWaitStatus(int status) {
  if (WIFEXITED(status)) return ExitReason::Exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return ExitReason::Signal(WTERMSIG(status));
  return ExitReason{};
}

}  // namespace

std::string ExitMessage(uint64_t ref, pid_t pid, const std::string& name, const ExitReason& reason) {
  return "EXIT" + DownMessage(ref, pid, name, reason).substr(4);
}

std::string DownMessage(uint64_t ref, pid_t pid, const std::string& name, const ExitReason& reason) {
  return "DOWN ref=" + std::to_string(ref) + " pid=" + std::to_string(pid) + " name=" + (name.empty() ? "-" : name) +
         " reason=" + reason.ToString();
}

ExitReason ReasonOf(int pidfd, bool* known) {
  *known = true;
  siginfo_t si{};
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0) {
    if (si.si_code == CLD_EXITED) return ExitReason::Exit(si.si_status);
    if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) return ExitReason::Signal(si.si_status);
  }
  PidfdInfo info{};
  info.mask = kInfoExit;
  if (::ioctl(pidfd, kGetInfo, &info) == 0 && (info.mask & kInfoExit) != 0) return FromWaitStatus(info.exit_code);
  *known = false;
  return ExitReason{};
}

struct Monitors::Impl {
  struct Watch {
    int pidfd = -1;  // -1: noproc, to deliver at once
    pid_t pid = 0;
    std::string path, name;
    bool awaiting_reap = false;  // exited, status not available until reaped
    bool link = false;           // a link: EXIT (trap) or SIGTERM to this process, not DOWN
    bool trap_exit = false;
  };

  std::mutex mu;
  std::map<uint64_t, Watch> watches;
  std::vector<int> to_close;  // pidfds of demonitored watches (closed by the watcher)
  uint64_t next_ref = 1;
  bool stop = false;
  int wake = -1;
  std::thread thread;
  std::atomic<uint64_t> undelivered{0};
  std::unique_ptr<LinkKeeper> keeper;  // guarded by mu; forked by Start

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake, &one, sizeof(one));
  }

  void Deliver(uint64_t ref, const Watch& w, const ExitReason& reason) {
    if (w.link && !w.trap_exit) {
      (void)::kill(::getpid(), SIGTERM);  // a linked process ended and this one does not trap exits
      return;
    }
    const std::string payload = w.link ? ExitMessage(ref, w.pid, w.name, reason) : DownMessage(ref, w.pid, w.name, reason);
    ConfirmedSenderOptions o;
    o.reply_timeout = std::chrono::seconds(5);
    auto s = ConfirmedSender::Open(w.path, o);
    if (!s.ok() || !(*s)->SendConfirmed(payload, std::chrono::seconds(5)).ok())
      undelivered.fetch_add(1);
  }

  void Loop() {
    std::vector<pollfd> fds;
    std::vector<uint64_t> refs;
    while (true) {
      std::vector<std::pair<uint64_t, Watch>> fire;
      std::vector<ExitReason> reasons;
      {
        std::lock_guard<std::mutex> g(mu);
        for (int fd : to_close) ::close(fd);
        to_close.clear();
        if (stop) break;
        // Already-gone pids fire now.
        for (auto it = watches.begin(); it != watches.end();) {
          if (it->second.pidfd < 0) {
            fire.emplace_back(it->first, it->second);
            reasons.push_back(ExitReason{ExitReason::Kind::kNoProc});
            it = watches.erase(it);
          } else {
            ++it;
          }
        }
        fds.assign(1, pollfd{wake, POLLIN, 0});
        refs.assign(1, 0);
        for (auto& [ref, w] : watches) {
          // After exit, wait for the reap (POLLHUP) only: POLLIN would stay set.
          fds.push_back(pollfd{w.pidfd, static_cast<short>(w.awaiting_reap ? 0 : POLLIN), 0});
          refs.push_back(ref);
        }
      }
      for (size_t i = 0; i < fire.size(); ++i) Deliver(fire[i].first, fire[i].second, reasons[i]);
      if (!fire.empty()) continue;
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
      if (fds[0].revents & POLLIN) {
        uint64_t v;
        (void)!::read(wake, &v, sizeof(v));
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        bool known = false;
        ExitReason reason = ReasonOf(fds[i].fd, &known);
        const bool reaped = (fds[i].revents & POLLHUP) != 0;
        std::lock_guard<std::mutex> g(mu);
        auto it = watches.find(refs[i]);
        if (it == watches.end()) continue;  // demonitored meanwhile
        if (!known && !reaped) {
          it->second.awaiting_reap = true;
          continue;
        }
        fire.emplace_back(it->first, it->second);
        reasons.push_back(reason);
        to_close.push_back(it->second.pidfd);
        watches.erase(it);
      }
      for (size_t i = 0; i < fire.size(); ++i) Deliver(fire[i].first, fire[i].second, reasons[i]);
    }
  }
};

Monitors::Monitors(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Monitors>> Monitors::Start() {
  auto impl = std::make_unique<Impl>();
  impl->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->wake < 0) return Status::FromErrno("monitors: eventfd");
  // The keeper is forked before this Monitors has a thread of its own (see
  // monitor.h on allocators after fork).
  auto k = LinkKeeper::Start();
  if (!k.ok()) {
    ::close(impl->wake);
    return k.status();
  }
  impl->keeper.reset(*k);
  Impl* p = impl.get();
  std::unique_ptr<Monitors> monitors(new Monitors(std::move(impl)));
  p->thread = std::thread([p] { p->Loop(); });
  return monitors;
}

Monitors::~Monitors() {
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    impl_->stop = true;
  }
  impl_->Wake();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto& [ref, w] : impl_->watches)
    if (w.pidfd >= 0) ::close(w.pidfd);
  ::close(impl_->wake);
  impl_->keeper.reset();  // quits without notifying: links end with the Monitors
}

Result<uint64_t> Monitors::Link(pid_t pid, const LinkOptions& o) {
  if (pid <= 0) return Status::InvalidArgument("link: pid " + std::to_string(pid) + " is not a process id");
  if (o.trap_exit && o.notify_socket.empty())
    return Status::InvalidArgument("link: trap_exit needs notify_socket, the mailbox EXIT messages go to");
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0 && errno == ESRCH) return Status::NotFound("link: pid " + std::to_string(pid) + " is gone (noproc)");
  if (fd < 0) return Status::FromErrno("link: pidfd_open of pid " + std::to_string(pid));
  Impl::Watch w;
  w.pidfd = static_cast<int>(fd);
  w.pid = pid;
  w.path = o.notify_socket;
  w.name = o.name;
  w.link = true;
  w.trap_exit = o.trap_exit;
  uint64_t ref;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    ref = impl_->next_ref++;
    if (Status s = impl_->keeper->Add(ref, w.pidfd, o.peer_notify_socket, o.self_name); !s.ok()) {
      ::close(w.pidfd);
      return s;
    }
    impl_->watches.emplace(ref, std::move(w));
  }
  impl_->Wake();
  return ref;
}

Status Monitors::Unlink(uint64_t ref) {
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    auto it = impl_->watches.find(ref);
    if (it == impl_->watches.end() || !it->second.link)
      return Status::NotFound("unlink: ref " + std::to_string(ref) + " is not a link, or has fired");
    impl_->to_close.push_back(it->second.pidfd);
    impl_->watches.erase(it);
    if (impl_->keeper != nullptr) (void)impl_->keeper->Remove(ref);
  }
  impl_->Wake();
  return Status::OK();
}

Result<uint64_t> Monitors::Monitor(pid_t pid, const std::string& notify_socket, const std::string& name) {
  if (pid <= 0) return Status::InvalidArgument("monitor: pid " + std::to_string(pid) + " is not a process id");
  if (notify_socket.empty()) return Status::InvalidArgument("monitor: the notify socket path is empty");
  Impl::Watch w;
  w.pid = pid;
  w.path = notify_socket;
  w.name = name;
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0 && errno != ESRCH) return Status::FromErrno("monitor: pidfd_open of pid " + std::to_string(pid));
  w.pidfd = fd < 0 ? -1 : static_cast<int>(fd);
  uint64_t ref;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    ref = impl_->next_ref++;
    impl_->watches.emplace(ref, std::move(w));
  }
  impl_->Wake();
  return ref;
}

Status Monitors::Demonitor(uint64_t ref) {
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    auto it = impl_->watches.find(ref);
    if (it == impl_->watches.end())
      return Status::NotFound("demonitor: ref " + std::to_string(ref) + " is unknown or has fired");
    if (it->second.pidfd >= 0) impl_->to_close.push_back(it->second.pidfd);
    impl_->watches.erase(it);
  }
  impl_->Wake();
  return Status::OK();
}

uint64_t Monitors::undelivered() const { return impl_->undelivered.load(); }

}  // namespace mq::supervisor
