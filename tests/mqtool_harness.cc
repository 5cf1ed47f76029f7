#include "mqtool_harness.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>

#include "mq/store.h"
#include "test_util.h"

#ifndef MQTOOL_PATH
#error "MQTOOL_PATH must name the mqtool binary (tests/CMakeLists.txt sets it)"
#endif

namespace mq::test {

ToolRun RunTool(const std::vector<std::string>& args, const RunOptions& options) {
  ToolRun r;
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return r;
  }
  std::vector<std::string> argv_s = {MQTOOL_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(options.stdin_fd >= 0 ? options.stdin_fd : devnull, 0);
    if (options.stdout_fd >= 0) {
      ::dup2(options.stdout_fd, 1);
    } else if (!options.stdout_path.empty()) {
      int f = ::open(options.stdout_path.c_str(), O_WRONLY);
      if (f < 0) ::_exit(124);
      ::dup2(f, 1);
      if (f > 2) ::close(f);
    } else {
      ::dup2(out[1], 1);
    }
    ::dup2(err[1], 2);
    if (devnull > 2) ::close(devnull);
    if (options.close_stdin) ::close(0);
    if (options.close_stdout) ::close(1);
    if (options.close_stderr) ::close(2);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(126);
    if (options.as_user != 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(options.as_user) != 0 || ::setuid(options.as_user) != 0)
        ::_exit(125);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << "mqtool did not finish within 30 s";
      break;
    }
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
      if (got <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
      if (i == 0 && options.close_stdout_after != 0 && r.out.size() >= options.close_stdout_after) {
        ::close(out[0]);
        out[0] = -1;
        out_open = false;
      }
    }
  }
  if (out[0] >= 0) ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

void MakeQueue(const std::string& path, const std::vector<std::string>& payloads,
               const std::vector<uint64_t>& consumed, const std::string& key) {
  StoreOptions opt;
  opt.sync = SyncPolicy::kNone;
  opt.auto_compact = false;
  if (!key.empty()) {
    auto k = KeyExtractor::Parse(key);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    opt.key = k.value();
  }
  std::unique_ptr<Store> s;
  Status st = Store::Open(path, opt).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (const auto& p : payloads) {
    uint64_t seq = 0;
    st = s->Append(p).MoveTo(&seq);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  for (uint64_t seq : consumed) {
    st = s->Consume(seq);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  st = s->Close();
  ASSERT_TRUE(st.ok()) << st.ToString();
}

std::string LegacyBytes(const std::vector<std::pair<bool, std::string>>& records) {
  std::string b;
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  for (const auto& [used, payload] : records) {
    put32(used ? 1 : 0);
    put32(static_cast<uint32_t>(payload.size()));
    b += payload;
  }
  return b;
}

std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string name = e.path().filename().string();
    if (name.ends_with(".lock") || name.ends_with("-lock")) continue;
    std::string bytes = ReadFileOrDie(e.path().string());
    m[name] = std::to_string(bytes.size()) + " bytes, hash " + std::to_string(std::hash<std::string>{}(bytes));
  }
  return m;
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size()))
    text.replace(p, from.size(), to);
  return text;
}

}  // namespace mq::test
