#include "test_util.h"

#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace mq::test {

size_t ThreadCount() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

bool PollUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

pid_t ForkAsNobody(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(100);
    ::_exit(fn());
  }
  return pid;
}

int WaitExitCode(pid_t pid) {
  if (pid <= 0) return -1;
  // Bounded: a child still running after 60 s is a failure, killed and
  // reaped, never a test that hangs until ctest's timeout.
  int st = 0;
  for (int i = 0; i < 6000; ++i) {
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (r < 0) return -1;
    ::usleep(10000);
  }
  ADD_FAILURE() << "process " << pid << " still running after 60 s: killed";
  ::kill(pid, SIGKILL);
  (void)::waitpid(pid, &st, 0);
  return -1;
}

int AsNobody(const std::function<int()>& fn) { return WaitExitCode(ForkAsNobody(fn)); }

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/mqtest-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) ADD_FAILURE() << "mkdtemp failed";
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

FastTempDir::FastTempDir() {
  const char* env = std::getenv("TMPDIR");
  std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : env != nullptr ? env : "/tmp";
  std::string tmpl = base + "/mqtest-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp in " << base << " failed";
  path_ = tmpl;
}

FastTempDir::~FastTempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void FastTempDir::Clear() const {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path_, ec)) std::filesystem::remove_all(e.path(), ec);
}

std::string Le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

std::string Le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

FileCopy CopyOfFile(const std::string& path) {
  FileCopy c;
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return c;
  std::stringstream ss;
  ss << in.rdbuf();
  c.exists = true;
  c.bytes = ss.str();
  return c;
}

void PutBack(const std::string& path, const FileCopy& c) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (c.exists) WriteFileOrDie(path, c.bytes);
}

}  // namespace mq::test
