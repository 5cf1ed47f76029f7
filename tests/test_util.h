// Shared helpers for tests: temporary directories and whole-file access.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace mq::test {

// The uid (and gid) the attack tests switch to: CI runs as root, and an
// attacker is "another local user".
constexpr uid_t kNobody = 65534;

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
