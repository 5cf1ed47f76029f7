// Shared helpers for tests: temporary directories and whole-file access.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace mq::test {

// The uid (and gid) the attack tests switch to: CI runs as root, and an
// attacker is "another local user".
constexpr uid_t kNobody = 65534;

// Whether this test is built with AddressSanitizer or ThreadSanitizer (GCC
// defines __SANITIZE_*; clang answers __has_feature): tortures size
// themselves down under them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// The threads of this process (entries of /proc/self/task).
size_t ThreadCount();
// Polls cond every 2 ms until it holds (true) or `limit` has passed (false).
bool PollUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit);

// Forks a child that switches to uid/gid nobody and runs fn; returns the
// child's pid (wait for it with WaitExitCode).
pid_t ForkAsNobody(const std::function<int()>& fn);
// Waits for a child; its exit code, or -1 if it did not exit normally.
int WaitExitCode(pid_t pid);
// ForkAsNobody, then WaitExitCode: fn's exit code (100: the switch failed).
int AsNobody(const std::function<int()>& fn);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFileOrDie(const std::string& path);

// A file's bytes, or its absence: CopyOfFile takes them, PutBack puts the
// file back as it was (removed if it did not exist).
struct FileCopy {
  bool exists = false;
  std::string bytes;
};
FileCopy CopyOfFile(const std::string& path);
void PutBack(const std::string& path, const FileCopy& c);

// The little-endian bytes of v, for building log records by hand.
std::string Le32(uint32_t v);
std::string Le64(uint64_t v);
void WriteFileOrDie(const std::string& path, const std::string& bytes);
bool FileExists(const std::string& path);

// Like TempDir, but on tmpfs (/dev/shm) when that is writable. For loops that
// open a store hundreds of times: there the fsyncs would dominate the run
// time, and what such loops test (bytes in, messages out) does not depend on
// the file system. Durability is the crash tests' business (fault_env.h).
class FastTempDir {
 public:
  FastTempDir();
  ~FastTempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Removes everything inside, keeping the directory.
  void Clear() const;

 private:
  std::string path_;
};

}  // namespace mq::test
