// Shared helpers for tests: temporary directories and whole-file access.
#pragma once

#include <string>

namespace mq::test {

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
