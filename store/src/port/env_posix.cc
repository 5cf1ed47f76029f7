// The POSIX Env: pread/pwrite/fdatasync on file descriptors.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <vector>

#include "port/sigbus_guard.h"
#include "mq/env.h"

namespace mq {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd, bool writable) : path_(std::move(path)), fd_(fd), writable_(writable) {}
  ~PosixFile() override {
    Unmap();
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

  Status WriteV(uint64_t offset, const iovec* pieces, size_t n) override {
    // pwritev takes at most IOV_MAX pieces, and may write fewer bytes than
    // asked: go on from where it stopped.
    std::vector<iovec> left(pieces, pieces + n);
    size_t at = 0;
    while (at < left.size()) {
      const int cnt = static_cast<int>(std::min<size_t>(left.size() - at, IOV_MAX));
      ssize_t r = ::pwritev(fd_, left.data() + at, cnt, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(path_ + ": write at offset " + std::to_string(offset));
      }
      if (r == 0) return Status::IOError(path_ + ": write at offset " + std::to_string(offset) + " wrote nothing", EIO);
      offset += static_cast<uint64_t>(r);
      size_t done = static_cast<size_t>(r);
      while (at < left.size() && done >= left[at].iov_len) done -= left[at++].iov_len;
      if (at < left.size()) {
        left[at].iov_base = static_cast<char*>(left[at].iov_base) + done;
        left[at].iov_len -= done;
      }
    }
    return Status::OK();
  }

  Status Overwrite(uint64_t offset, const char* src, size_t n) override {
    if (!writable_ || n > 64) return Write(offset, src, n);
    // Touching a mapped page wholly past the end of the file raises SIGBUS,
    // and another process may have cut the file. A guarded mapping
    // (sigbus_guard.h) survives that touch and says so afterwards; an unguarded
    // one is used only after lseek(SEEK_END) has confirmed the file's size
    // (it reads just the size; the file position it moves is never used).
    if (offset + n > map_len_ && !Remap(offset + n)) return Write(offset, src, n);
    if (guard_ < 0) {
      const off_t end = ::lseek(fd_, 0, SEEK_END);
      if (end < 0 || offset + n > static_cast<uint64_t>(end)) return Write(offset, src, n);
    }
    std::memcpy(map_ + offset, src, n);
    if (guard_ >= 0 && sigbus_guard::TakeFault(guard_)) {
      // The file was cut below this page: what was stored went to a private
      // page. Drop the mapping and write as if there had been none.
      Cut();
      return Write(offset, src, n);
    }
    return Status::OK();
  }

  void PrepareOverwrite(uint64_t offset, size_t n) override {
#ifdef MADV_POPULATE_WRITE
    // Only pages the file holds: a page past its end fails the call (EFAULT,
    // never SIGBUS), and so does one another process cut; either way the
    // flag writes fault the pages in themselves, as without this.
    if (map_ == nullptr || guard_ < 0 || no_populate_ || n == 0) return;
    const uint64_t lo = std::max(offset & ~(kPage - 1), populated_to_);
    const uint64_t hi = std::min<uint64_t>((offset + n + kPage - 1) & ~(kPage - 1), map_len_);
    if (lo >= hi) return;
    if (::madvise(map_ + lo, hi - lo, MADV_POPULATE_WRITE) == 0) {
      populated_to_ = hi;
    } else if (errno == EINVAL) {
      no_populate_ = true;  // a kernel before 5.14
    }
#else
    (void)offset;
    (void)n;
#endif
  }

  const char* MapForRead(uint64_t size) override {
    // Only a guarded mapping: an unguarded one would need a size check
    // before every touch.
    if (cut_ || size == 0) return nullptr;
    if (size > map_len_ && !Remap(size)) return nullptr;
    return guard_ >= 0 ? map_ : nullptr;
  }

  bool TakeMapFault() override {
    if (cut_) {
      const bool first = !cut_reported_;
      cut_reported_ = true;
      return first;
    }
    if (guard_ < 0 || !sigbus_guard::TakeFault(guard_)) return false;
    Cut();
    cut_reported_ = true;
    return true;
  }

  Status Sync() override {
    // A signal may interrupt a sync on FUSE or NFS (EINTR: nothing failed,
    // the request did not finish); it is asked again.
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return Status::FromErrno(path_ + ": fdatasync");
    }
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      return Status::FromErrno(path_ + ": truncate to " + std::to_string(size));
    populated_to_ = std::min<uint64_t>(populated_to_, size & ~(kPage - 1));
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(path_ + ": fstat");
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  // Maps the file well past `need`, so that a growing log is rarely
  // remapped (only bytes the log has written are ever touched).
  bool Remap(uint64_t need) {
    const size_t len = std::max<size_t>(size_t{1} << 26, static_cast<size_t>(need) * 2);
    void* p = ::mmap(nullptr, len, writable_ ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return false;
    Unmap();
    map_ = static_cast<char*>(p);
    map_len_ = len;
    guard_ = sigbus_guard::Register(map_, map_len_);
    return true;
  }

  // A touch found a page cut from the file: no more mapped reads (pages
  // between the cut and what the store wrote may still be missing). Flag
  // writes map the file again when they next need it.
  void Cut() {
    Unmap();
    cut_ = true;
  }

  void Unmap() {
    if (map_ == nullptr) return;
    sigbus_guard::Unregister(guard_);
    ::munmap(map_, map_len_);
    map_ = nullptr;
    map_len_ = 0;
    guard_ = -1;
    populated_to_ = 0;
  }

  std::string path_;
  int fd_;
  bool writable_;
  char* map_ = nullptr;  // MAP_SHARED from offset 0, for Overwrite
  size_t map_len_ = 0;
  int guard_ = -1;  // sigbus_guard slot of the mapping; -1: unguarded
  bool cut_ = false;           // a touch found the file cut: no mapped reads
  bool cut_reported_ = false;  // TakeMapFault has said so
  // The page size, for madvise's page-aligned ranges.
  inline static const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t populated_to_ = 0;  // PrepareOverwrite mapped the pages below this
  bool no_populate_ = false;   // the kernel has no MADV_POPULATE_WRITE
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

class PosixDirectory final : public Directory {
 public:
  PosixDirectory(std::string path, int fd, bool readable)
      : path_(std::move(path)), fd_(fd), readable_(readable) {}
  ~PosixDirectory() override { ::close(fd_); }

  int native_handle() const override { return fd_; }
  const std::string& path() const override { return path_; }

  Result<std::unique_ptr<File>> OpenFile(const std::string& name, OpenMode mode, mode_t perms) override {
    MQ_RETURN_IF_ERROR(CheckPlainName(name));
    const std::string path = PathOf(name);
    // O_NOFOLLOW everywhere: in a directory another user can write, a name
    // may be a planted symlink to a file of ours (docs/design.md, "Files in
    // a shared directory"). O_NONBLOCK keeps a planted FIFO from hanging the
    // open; the regular-file check below refuses it.
    int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    switch (mode) {
      case OpenMode::kReadOnly: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreateNew: flags |= O_RDWR | O_CREAT | O_EXCL; break;
      case OpenMode::kCreateOrTruncate: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
    }
    int fd = ::openat(fd_, name.c_str(), flags, perms);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) return Status::NotFound(path + ": no such file");
      if (err == ELOOP)
        return Status::InvalidArgument(path + ": is a symbolic link; mq opens only regular files by their real "
                                              "name (give the link's target, or remove the link if you did not make it)");
      return Status::IOError(path + ": open", err);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return Status::IOError(path + ": fstat", err);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": is a directory, not a queue file");
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": is not a regular file (a device, FIFO or socket); give the path of "
                                            "a queue file");
    }
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) (void)::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (mode == OpenMode::kCreateNew || mode == OpenMode::kCreateOrTruncate) {
      // Permissions independent of the umask.
      if (::fchmod(fd, perms) != 0) {
        int err = errno;
        ::close(fd);
        return Status::IOError(path + ": chmod", err);
      }
    }
    return std::unique_ptr<File>(new PosixFile(path, fd, mode != OpenMode::kReadOnly));
  }

  Result<FileInfo> Stat(const std::string& name) override {
    MQ_RETURN_IF_ERROR(CheckPlainName(name));
    FileInfo info;
    const std::string path = PathOf(name);
    // AT_SYMLINK_NOFOLLOW: a symlink is reported as what it is (not
    // regular), never as the file it points to.
    struct stat st;
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return info;
      return Status::FromErrno(path + ": stat");
    }
    info.exists = true;
    info.is_regular = S_ISREG(st.st_mode);
    info.is_directory = S_ISDIR(st.st_mode);
    info.is_symlink = S_ISLNK(st.st_mode);
    info.size = static_cast<uint64_t>(st.st_size);
    info.device = st.st_dev;
    info.inode = st.st_ino;
    info.mode = st.st_mode;
    info.ctime_ns = static_cast<uint64_t>(st.st_ctim.tv_sec) * 1000000000u + static_cast<uint64_t>(st.st_ctim.tv_nsec);
    return info;
  }

  Status Sync() override {
    // fsync needs a descriptor opened for reading, as the path-based sync
    // before the handle did.
    if (!readable_)
      return Status::IOError(path_ + ": fsync directory: no read permission on the directory", EACCES);
    if (::fsync(fd_) != 0) return Status::FromErrno(path_ + ": fsync directory");
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    MQ_RETURN_IF_ERROR(CheckPlainName(from));
    MQ_RETURN_IF_ERROR(CheckPlainName(to));
    if (::renameat(fd_, from.c_str(), fd_, to.c_str()) != 0)
      return Status::FromErrno("rename " + PathOf(from) + " to " + PathOf(to));
    return Status::OK();
  }

  Status Remove(const std::string& name) override {
    MQ_RETURN_IF_ERROR(CheckPlainName(name));
    const std::string path = PathOf(name);
    if (::unlinkat(fd_, name.c_str(), 0) != 0) {
      if (errno == ENOENT) return Status::OK();
      return Status::FromErrno(path + ": unlink");
    }
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& name, mode_t perms, pid_t* holder_pid) override {
    *holder_pid = 0;
    MQ_RETURN_IF_ERROR(CheckPlainName(name));
    const std::string path = PathOf(name);
    // Another process may unlink a lock file it created and then found no
    // use for (a refused open, store_open.cc): a lock is ours only if, once
    // held, the name still leads to the locked inode. Otherwise try again.
    for (int attempt = 0; attempt < 100; ++attempt) {
      int fd = ::openat(fd_, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, perms);
      if (fd < 0) {
        if (errno == ELOOP)
          return Status::IOError(path + ": the writer lock is a symbolic link, which mq never follows; someone "
                                        "with write access to the directory planted it: remove it",
                                 ELOOP);
        return Status::FromErrno(path + ": open lock file");
      }
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        return Status::IOError(path + ": fstat lock file", err);
      }
      if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        ::close(fd);
        return Status::IOError(path + ": the writer lock is not a regular file with one name (a FIFO, device or "
                                      "hard link planted in the directory?); remove it",
                               EINVAL);
      }
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
      struct stat now;
      if (::fstatat(fd_, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
          now.st_ino != st.st_ino) {
        ::close(fd);  // unlinked (or replaced) before we locked it
        continue;
      }
      char buf[32];
      int n = std::snprintf(buf, sizeof(buf), "%d\n", static_cast<int>(::getpid()));
      // The pid over the old one, then cut only what is left of a longer
      // one: no truncate to 0 and block reallocation at every open (about
      // 1 ms on ext4, on each restart of a supervised actor).
      if (::pwrite(fd, buf, static_cast<size_t>(n), 0) != n ||
          (now.st_size > n && ::ftruncate(fd, static_cast<off_t>(n)) != 0)) {
        int err = errno;
        ::close(fd);
        return Status::IOError(path + ": write pid", err);
      }
      return std::unique_ptr<FileLock>(new PosixLock(fd));
    }
    return Status::Busy(path + ": the lock file keeps being replaced; another process is opening the queue");
  }

  pid_t LockHolder(const std::string& name) override {
    if (!CheckPlainName(name).ok()) return 0;
    int fd = ::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    pid_t pid = 0;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_SH | LOCK_NB) != 0 &&
        errno == EWOULDBLOCK)
      pid = ReadPid(fd);
    ::close(fd);  // drops our shared lock if we got it
    return pid;
  }

 private:
  std::string path_;
  int fd_;
  bool readable_;  // false: an O_PATH handle (a directory we may search but not read)
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& dir) override {
    // Symlinks are followed at this one open (env.h says why); from here on
    // the directory is reached only through its descriptor.
    bool readable = true;
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == EACCES) {
      // Search permission is enough for the *at calls (a read-only look at
      // a queue in a directory we may not list); only Sync needs more.
      fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      readable = false;
    }
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT) return Status::NotFound(dir + ": no such directory");
      return Status::IOError(dir + ": open directory", err);
    }
    return std::unique_ptr<Directory>(new PosixDirectory(dir, fd, readable));
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

std::string Directory::PathOf(const std::string& name) const {
  const std::string& dir = path();
  if (dir == ".") return name;
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Status CheckPlainName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    return Status::InvalidArgument("\"" + name + "\": not a plain file name (a file of a queue is named relative "
                                   "to the queue's directory, without '/')");
  return Status::OK();
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
