// SpawnChild: clone3 with CLONE_PIDFD, everything prepared before the clone
// so that the child only makes system calls (mq/run.h, spawn.h).
#include "spawn.h"
#include "command_path.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

extern char** environ;

namespace mq::supervisor {
namespace {

constexpr int kChildSocketFd = 3;

bool Replaced(const char* entry) {
  static const char* const kOurs[] = {"MQ_SOCKET_FD=", "MQ_SOCKET=", "MQ_QUEUE=", "MQ_NAME=", "MQ_SUPERVISOR="};
  for (const char* p : kOurs)
    if (std::strncmp(entry, p, std::strlen(p)) == 0) return true;
  return false;
}

std::vector<std::string> Environment(const ChildSpec& c, bool with_socket, const std::string& control) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (Replaced(*e)) continue;
    bool overridden = false;
    for (const auto& [k, v] : c.env) overridden = overridden || std::strncmp(*e, (k + "=").c_str(), k.size() + 1) == 0;
    if (!overridden) env.emplace_back(*e);
  }
  for (const auto& [k, v] : c.env) env.push_back(k + "=" + v);
  env.push_back("MQ_NAME=" + c.name);
  env.push_back("MQ_SUPERVISOR=" + control);
  if (with_socket) {
    env.push_back("MQ_SOCKET_FD=" + std::to_string(kChildSocketFd));
    env.push_back("MQ_SOCKET=" + c.socket);
    if (!c.queue.empty()) env.push_back("MQ_QUEUE=" + c.queue);
  }
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// In the child: system calls only (the parent may have other threads).
[[noreturn]] void Exec(const char* path, char** argv, char** envp, const char* cwd, int socket_fd, int err_fd,
                       pid_t parent) {
  sigset_t all;
  sigemptyset(&all);
  for (int s = 1; s < NSIG; ++s) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    (void)::sigaction(s, &dfl, nullptr);
  }
  (void)::sigprocmask(SIG_SETMASK, &all, nullptr);
  (void)::setpgid(0, 0);
  int err = 0;
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) err = errno;
  if (err == 0 && ::getppid() != parent) ::_exit(127);  // the supervisor is already gone
  if (err == 0 && socket_fd >= 0) {
    if (socket_fd == kChildSocketFd) {
      if (::fcntl(kChildSocketFd, F_SETFD, 0) != 0) err = errno;
    } else if (::dup2(socket_fd, kChildSocketFd) != kChildSocketFd) {
      err = errno;
    }
  }
  if (err == 0 && cwd != nullptr && ::chdir(cwd) != 0) err = errno;
  if (err == 0) {
    ::execve(path, argv, envp);
    err = errno;
  }
  (void)!::write(err_fd, &err, sizeof(err));
  ::_exit(127);
}

}  // namespace

ExitReason ReapChild(int pidfd, bool* reaped) {
  siginfo_t si{};
  *reaped = false;
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0) return ExitReason{};
  *reaped = true;
  if (si.si_code == CLD_EXITED) return ExitReason::Exit(si.si_status);
  return ExitReason::Signal(si.si_status);
}

Result<Spawned> SpawnChild(const ChildSpec& child, int socket_fd, const std::string& control) {
  if (child.command.empty()) return Status::InvalidArgument("child " + child.name + ": no command");
  const std::string path = FindExecutable(child.command[0]).value_or(child.command[0]);
  std::vector<std::string> args = child.command;
  std::vector<std::string> env = Environment(child, socket_fd >= 0, control);
  std::vector<char*> argv = Pointers(args), envp = Pointers(env);
  // The error pipe: close-on-exec, numbered above the child's descriptor 3.
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return Status::FromErrno("child " + child.name + ": pipe");
  for (int& fd : pipefd) {
    const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    fd = high;
  }
  if (pipefd[0] < 0 || pipefd[1] < 0) {
    for (int fd : pipefd)
      if (fd >= 0) ::close(fd);
    return Status::FromErrno("child " + child.name + ": pipe");
  }
  const pid_t parent = ::getpid();
  int pidfd = -1;
  clone_args ca{};
  ca.flags = CLONE_PIDFD;
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  const long pid = ::syscall(SYS_clone3, &ca, sizeof(ca));
  if (pid == 0)
    Exec(path.c_str(), argv.data(), envp.data(), child.cwd.empty() ? nullptr : child.cwd.c_str(), socket_fd,
         pipefd[1], parent);
  const int clone_errno = errno;
  ::close(pipefd[1]);
  if (pid < 0) {
    ::close(pipefd[0]);
    return Status::IOError("child " + child.name + ": clone3", clone_errno);
  }
  int err = 0;
  ssize_t n;
  do n = ::read(pipefd[0], &err, sizeof(err));
  while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  if (n == static_cast<ssize_t>(sizeof(err))) {
    siginfo_t si{};
    (void)::waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED);
    ::close(pidfd);
    return Status::IOError("child " + child.name + ": cannot run '" + path + "'" +
                               (child.cwd.empty() ? "" : " in " + child.cwd),
                           err);
  }
  Spawned s;
  s.pid = static_cast<pid_t>(pid);
  s.pidfd = pidfd;
  (void)::fcntl(pidfd, F_SETFD, FD_CLOEXEC);  // CLONE_PIDFD sets it; be sure
  return s;
}

}  // namespace mq::supervisor
