// SpawnChild: clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD), everything
// prepared before the clone so that the child only makes raw system calls
// (mq/run.h, spawn.h).
#include "spawn.h"
#include "command_path.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
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

// The child's side of the spawn. It runs on its own stack, with every
// signal blocked, and (kShareMemory) in the supervisor's memory while the
// supervisor's thread waits (CLONE_VFORK), so it makes raw system calls only:
// no libc wrapper that a sanitizer intercepts, nothing that allocates or
// locks (errno is the waiting thread's own). Reports {stage, errno} on
// err_fd: 0 exec (or what precedes it), 1 setrlimit.
struct ChildArgs {
  const char* path;
  char** argv;
  char** envp;
  const char* cwd;
  int socket_fd;
  int err_fd;
  pid_t parent;
  uint64_t nofile;
};

// The kernel's struct sigaction for rt_sigaction (not glibc's).
struct KernelSigaction {
  unsigned long handler;
  unsigned long flags;
  unsigned long restorer;
  uint64_t mask;
};

// A raw system call for the child: -errno on failure. (No sanitizer
// instrumentation: with CLONE_VM it would write the supervisor's shadow
// memory from the child's stack.)
__attribute__((no_sanitize("address", "thread"))) long Sys(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long r = ::syscall(n, a, b, c, d);
  return r == -1 ? -static_cast<long>(errno) : r;
}

#if defined(__SANITIZE_THREAD__)
#define MQ_SPAWN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MQ_SPAWN_TSAN 1
#endif
#endif
#ifdef MQ_SPAWN_TSAN
// TSan's clone interceptor treats every clone as a fork (it resets its own
// state in the child), which would corrupt the supervisor's state if the
// memory were shared: under TSan the child gets a copy.
constexpr bool kShareMemory = false;
#else
constexpr bool kShareMemory = true;
#endif

__attribute__((no_sanitize("address", "thread"))) int ChildMain(void* p) {
  const ChildArgs& a = *static_cast<const ChildArgs*>(p);
  KernelSigaction dfl{};  // SIG_DFL, no flags
  for (long s = 1; s <= 64; ++s)
    if (s != SIGKILL && s != SIGSTOP) (void)Sys(SYS_rt_sigaction, s, reinterpret_cast<long>(&dfl), 0, 8);
  (void)Sys(SYS_setpgid, 0, 0);
  long err = Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (err >= 0 && Sys(SYS_getppid) != a.parent) Sys(SYS_exit, 127);  // the supervisor is already gone
  if (err >= 0 && a.socket_fd >= 0)
    err = a.socket_fd == kChildSocketFd ? Sys(SYS_fcntl, kChildSocketFd, F_SETFD, 0)
                                        : Sys(SYS_dup3, a.socket_fd, kChildSocketFd, 0);
  if (err >= 0 && a.cwd != nullptr) err = Sys(SYS_chdir, reinterpret_cast<long>(a.cwd));
  int stage = 0;
  if (err >= 0 && a.nofile != 0) {
    struct rlimit rl {};
    err = Sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&rl));
    if (err >= 0) {
      rl.rlim_cur = a.nofile;
      if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < a.nofile) rl.rlim_max = a.nofile;
      err = Sys(SYS_prlimit64, 0, RLIMIT_NOFILE, reinterpret_cast<long>(&rl), 0);
      if (err < 0) stage = 1;
    }
  }
  if (err >= 0) {
    const uint64_t none = 0;  // every signal unblocked, as a fresh process has them
    (void)Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, 8);
    err = Sys(SYS_execve, reinterpret_cast<long>(a.path), reinterpret_cast<long>(a.argv),
              reinterpret_cast<long>(a.envp));
  }
  const int report[2] = {stage, static_cast<int>(-err)};
  (void)Sys(SYS_write, a.err_fd, reinterpret_cast<long>(report), sizeof(report));
  Sys(SYS_exit, 127);
  return 127;
}

// The child's stack: with CLONE_VM it must not run on the waiting thread's.
constexpr size_t kChildStack = 64 * 1024;

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
  ChildArgs child_args{path.c_str(), argv.data(), envp.data(), child.cwd.empty() ? nullptr : child.cwd.c_str(),
                 socket_fd,     pipefd[1],   ::getpid(),  child.nofile};
  void* stack = ::mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    const int e = errno;
    for (int fd : pipefd) ::close(fd);
    return Status::IOError("child " + child.name + ": the child's stack (mmap)", e);
  }
  // Every signal blocked around the clone (the child unblocks them just
  // before its exec), so that no handler of the supervisor's runs in it.
  const uint64_t all = ~uint64_t{0};
  uint64_t old = 0;
  (void)::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
  // CLONE_VFORK: this thread waits until the child has exec'd or exited.
  // CLONE_VM (kShareMemory): no copy of the supervisor's page tables.
  int pidfd = -1;
  const int flags = CLONE_VFORK | CLONE_PIDFD | SIGCHLD | (kShareMemory ? CLONE_VM : 0);
  const int pid = ::clone(ChildMain, static_cast<char*>(stack) + kChildStack, flags, &child_args, &pidfd);
  const int clone_errno = errno;
  (void)::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, 8);
  ::munmap(stack, kChildStack);
  ::close(pipefd[1]);
  if (pid < 0) {
    ::close(pipefd[0]);
    return Status::IOError("child " + child.name + ": clone", clone_errno);
  }
  int report[2] = {0, 0};
  ssize_t n;
  do n = ::read(pipefd[0], report, sizeof(report));
  while (n < 0 && errno == EINTR);
  ::close(pipefd[0]);
  if (n == static_cast<ssize_t>(sizeof(report))) {
    siginfo_t si{};
    (void)::waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED);
    ::close(pidfd);
    if (report[0] == 1) {
      struct rlimit rl{};
      (void)::getrlimit(RLIMIT_NOFILE, &rl);
      return Status::IOError("child " + child.name + ": cannot set RLIMIT_NOFILE to nofile = " +
                                 std::to_string(child.nofile) + " (the supervisor's hard limit is " +
                                 (rl.rlim_max == RLIM_INFINITY ? std::string("unlimited") : std::to_string(rl.rlim_max)) +
                                 "; raising it needs CAP_SYS_RESOURCE)",
                             report[1]);
    }
    return Status::IOError("child " + child.name + ": cannot run '" + path + "'" +
                               (child.cwd.empty() ? "" : " in " + child.cwd),
                           report[1]);
  }
  Spawned s;
  s.pid = static_cast<pid_t>(pid);
  s.pidfd = pidfd;
  (void)::fcntl(pidfd, F_SETFD, FD_CLOEXEC);  // CLONE_PIDFD sets it; be sure
  return s;
}

}  // namespace mq::supervisor
