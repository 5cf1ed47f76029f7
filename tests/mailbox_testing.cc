#include "mailbox_testing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace mq::test {

using Clock = std::chrono::steady_clock;

std::string VariedPayload(size_t i, char tag) {
  std::string p = tag + std::to_string(i) + ":";
  p.resize(p.size() + (i * 37) % 293, static_cast<char>('a' + i % 26));
  return p;
}

std::vector<std::string> VariedPayloads(size_t n, char tag) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(VariedPayload(i, tag));
  return out;
}

MailboxOptions OptionsIn(const TempDir& dir) {
  MailboxOptions o;
  o.socket_path = dir.File("sock");
  o.queue_path = dir.File("queue");
  o.store.sync = SyncPolicy::kNone;
  return o;
}

std::unique_ptr<Mailbox> OpenMailboxOrDie(const MailboxOptions& options) {
  std::unique_ptr<Mailbox> mb;
  Status s = Mailbox::Open(options).MoveTo(&mb);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return mb;
}

std::vector<std::string> ReceivePayloads(Mailbox* mb, const Pattern& p, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    Message m;
    Status s = mb->Receive(p, std::chrono::seconds(5), &m);
    if (!s.ok()) {
      ADD_FAILURE() << "receive " << i << " of " << p.ToString() << ": " << s.ToString();
      break;
    }
    out.push_back(m.payload);
  }
  return out;
}

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!cond()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const std::string& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

}  // namespace

ProcResult RunProcess(const std::vector<std::string>& argv, const std::string& input,
                      std::chrono::milliseconds limit) {
  ProcResult r;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = -1;
  auto args = Argv(argv);
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ADD_FAILURE() << "spawning " << argv[0] << ": " << std::strerror(rc);
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    return r;
  }
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  const auto deadline = Clock::now() + limit;
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd p[3];
    int n = 0;
    if (out_open) p[n++] = pollfd{out[0], POLLIN, 0};
    if (err_open) p[n++] = pollfd{err[0], POLLIN, 0};
    if (in_fd >= 0) p[n++] = pollfd{in_fd, POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(p, static_cast<nfds_t>(n), static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (p[i].revents == 0) continue;
      if (p[i].fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      ssize_t k = ::read(p[i].fd, buf, sizeof(buf));
      if (k <= 0) {
        (p[i].fd == out[0] ? out_open : err_open) = false;
        continue;
      }
      (p[i].fd == out[0] ? r.out : r.err).append(buf, static_cast<size_t>(k));
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out[0]);
  ::close(err[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (r.timed_out) ADD_FAILURE() << argv[0] << " did not finish in " << limit.count() << " ms; killed";
  return r;
}

pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& stdout_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdout_path.empty())
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  pid_t pid = -1;
  auto args = Argv(argv);
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "spawning " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

int WaitProcess(pid_t pid, std::chrono::milliseconds limit) {
  if (pid <= 0) return -1;
  const auto deadline = Clock::now() + limit;
  int st = 0;
  while (true) {
    pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) {
      ADD_FAILURE() << "pid " << pid << " did not exit in " << limit.count() << " ms; killing it";
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string HelperPath() { return MQ_MAILBOX_HELPER; }
std::string MqtoolPath() {
#ifdef MQ_MQTOOL
  return MQ_MQTOOL;
#else
  return "";
#endif
}

int BindSupervisedSocket(const std::string& path, int type) {
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  int one = 1;
  EXPECT_EQ(::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  return fd;
}

}  // namespace mq::test
