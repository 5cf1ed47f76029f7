// The POSIX Env: pread/pwrite/fdatasync on file descriptors.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>

#include "mq/env.h"

namespace mq {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd, bool writable) : path_(std::move(path)), fd_(fd), writable_(writable) {}
  ~PosixFile() override {
    if (map_ != nullptr) ::munmap(map_, map_len_);
    ::close(fd_);
  }

  Status Read(uint64_t offset, size_t n, char* dst, size_t* got) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        *got = done;
        return Status::FromErrno(path_ + ": read at offset " + std::to_string(offset + done));
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    *got = done;
    return Status::OK();
  }

  Status Write(uint64_t offset, const char* src, size_t n) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pwrite(fd_, src + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(path_ + ": write at offset " + std::to_string(offset + done));
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status Overwrite(uint64_t offset, const char* src, size_t n) override {
    if (!writable_ || n > 64) return Write(offset, src, n);
    // Touching a mapped page past the end of the file raises SIGBUS, and
    // another process may have cut the file: look at its size first.
    // lseek(SEEK_END) reads just the size, cheaper than an fstat (and both
    // far cheaper than a pwrite into ext4); the file position it moves is
    // never used (every read and write is positional).
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) return Write(offset, src, n);
    const uint64_t size = static_cast<uint64_t>(end);
    if (offset + n > size) return Write(offset, src, n);
    if (offset + n > map_len_) {
      // Map well past the end, so that a growing log is rarely remapped;
      // only bytes below the file's size are ever touched.
      size_t len = std::max<size_t>(size_t{1} << 26, static_cast<size_t>(size) * 2);
      void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
      if (p == MAP_FAILED) return Write(offset, src, n);
      if (map_ != nullptr) ::munmap(map_, map_len_);
      map_ = static_cast<char*>(p);
      map_len_ = len;
    }
    std::memcpy(map_ + offset, src, n);
    return Status::OK();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Status::FromErrno(path_ + ": fdatasync");
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      return Status::FromErrno(path_ + ": truncate to " + std::to_string(size));
    return Status::OK();
  }

  Status Size(uint64_t* size) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(path_ + ": fstat");
    *size = static_cast<uint64_t>(st.st_size);
    return Status::OK();
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
  bool writable_;
  char* map_ = nullptr;  // MAP_SHARED from offset 0, for Overwrite
  size_t map_len_ = 0;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }  // closing drops the flock

 private:
  int fd_;
};

pid_t ReadPid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  return static_cast<pid_t>(std::strtol(buf, nullptr, 10));
}

class PosixEnv final : public Env {
 public:
  Status OpenFile(const std::string& path, OpenMode mode, mode_t perms,
                  std::unique_ptr<File>* out) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kReadOnly: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreateNew: flags |= O_RDWR | O_CREAT | O_EXCL; break;
      case OpenMode::kCreateOrTruncate: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
    }
    int fd = ::open(path.c_str(), flags, perms);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) return Status::NotFound(path + ": no such file");
      return Status::IOError(path + ": open", err);
    }
    if (mode == OpenMode::kCreateNew || mode == OpenMode::kCreateOrTruncate) {
      // Permissions independent of the umask.
      if (::fchmod(fd, perms) != 0) {
        int err = errno;
        ::close(fd);
        return Status::IOError(path + ": chmod", err);
      }
    }
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": is a directory, not a queue file");
    }
    out->reset(new PosixFile(path, fd, mode != OpenMode::kReadOnly));
    return Status::OK();
  }

  Status Stat(const std::string& path, FileInfo* info) override {
    struct stat st;
    *info = FileInfo{};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::OK();
      return Status::FromErrno(path + ": stat");
    }
    info->exists = true;
    info->is_regular = S_ISREG(st.st_mode);
    info->is_directory = S_ISDIR(st.st_mode);
    info->size = static_cast<uint64_t>(st.st_size);
    info->device = st.st_dev;
    info->inode = st.st_ino;
    info->mode = st.st_mode;
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(dir + ": open directory for fsync");
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::IOError(dir + ": fsync directory", err);
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return Status::FromErrno("rename " + from + " to " + to);
    return Status::OK();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return Status::OK();
      return Status::FromErrno(path + ": unlink");
    }
    return Status::OK();
  }

  Status LockFile(const std::string& path, mode_t perms, std::unique_ptr<FileLock>* lock,
                  pid_t* holder_pid) override {
    *holder_pid = 0;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, perms);
    if (fd < 0) return Status::FromErrno(path + ": open lock file");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err == EWOULDBLOCK) {
        *holder_pid = ReadPid(fd);
        ::close(fd);
        return Status::Busy(path + ": held by pid " + std::to_string(*holder_pid));
      }
      ::close(fd);
      return Status::IOError(path + ": flock", err);
    }
    char buf[32];
    int n = std::snprintf(buf, sizeof(buf), "%d\n", static_cast<int>(::getpid()));
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, buf, static_cast<size_t>(n), 0) != n) {
      int err = errno;
      ::close(fd);
      return Status::IOError(path + ": write pid", err);
    }
    lock->reset(new PosixLock(fd));
    return Status::OK();
  }

  pid_t LockHolder(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    pid_t pid = 0;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) pid = ReadPid(fd);
    ::close(fd);  // drops our shared lock if we got it
    return pid;
  }

  std::string BootId() override {
    char buf[64] = {};
    int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "unknown";
    ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n <= 0) return "unknown";
    std::string s(buf, static_cast<size_t>(n));
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  uint64_t NowMicros() override {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string BaseName(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace mq
