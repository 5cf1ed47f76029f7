#include "delivered_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <vector>

namespace mq::bridge {

Status SyncDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(path + ": cannot open the directory to sync it");
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError(path + ": fsync of the directory", e);
  return Status::OK();
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno != EEXIST) return Status::FromErrno(path + ": cannot create the directory");
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Status::InvalidArgument(path + ": exists and is not a directory; give the bridge a state directory");
    return Status::OK();
  }
  const size_t slash = path.find_last_of('/');
  return SyncDir(slash == 0 ? "/" : path.substr(0, slash));
}

Result<std::unique_ptr<DeliveredLog>> DeliveredLog::Open(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno(dir + ": cannot open the bridge's state directory");
  // A compaction cut short by a crash: its unfinished copy (the record
  // itself is still the old, whole file).
  if (::unlinkat(dfd, (name + ".new").c_str(), 0) != 0 && errno != ENOENT) {
    const int ue = errno;
    ::close(dfd);
    return Status::IOError(path + ".new: cannot remove an unfinished compaction", ue);
  }
  int fd = ::openat(dfd, name.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  bool created = false;
  if (fd < 0 && errno == ENOENT) {
    fd = ::openat(dfd, name.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    created = fd >= 0;
  }
  const int e = errno;
  if (fd >= 0 && created && ::fsync(dfd) != 0) {
    const int se = errno;
    ::close(fd);
    ::close(dfd);
    return Status::IOError(dir + ": fsync of the directory after creating " + name, se);
  }
  ::close(dfd);
  if (fd < 0) return Status::IOError(path + ": cannot open the delivery record", e);
  std::unique_ptr<DeliveredLog> log(new DeliveredLog(fd, dir, name));
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(path + ": fstat");
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file; move it away");
  const uint64_t whole = static_cast<uint64_t>(st.st_size) / 8 * 8;
  std::vector<unsigned char> buf(1 << 16);
  for (uint64_t off = 0; off < whole;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), whole - off));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
    if (n <= 0) return Status::IOError(path + ": read at offset " + std::to_string(off), n < 0 ? errno : EIO);
    for (ssize_t i = 0; i + 8 <= n; i += 8) {
      uint64_t v = 0;
      for (int b = 7; b >= 0; --b) v = v << 8 | buf[static_cast<size_t>(i + b)];
      if (v & kFloorBit) log->floor_ = std::max(log->floor_, v & ~kFloorBit);
      else log->seen_.insert(v);
    }
    off += static_cast<uint64_t>(n) / 8 * 8;
  }
  std::erase_if(log->seen_, [&](uint64_t v) { return v <= log->floor_; });
  // A torn last record was never synced, so its message was never acked:
  // cut it (JetStream delivers that message again).
  if (whole != static_cast<uint64_t>(st.st_size) && ::ftruncate(fd, static_cast<off_t>(whole)) != 0)
    return Status::FromErrno(path + ": cannot cut the torn record at offset " + std::to_string(whole));
  return log;
}

DeliveredLog::~DeliveredLog() { ::close(fd_); }

namespace {
void Put(std::vector<unsigned char>* buf, uint64_t v) {
  for (int b = 0; b < 8; ++b) buf->push_back(static_cast<unsigned char>(v >> (8 * b)));
}
Status WriteAll(int fd, const std::vector<unsigned char>& buf, const std::string& what) {
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError(what, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}
}  // namespace

Status DeliveredLog::Compact(uint64_t floor) {
  if (floor <= floor_) return Status::OK();
  std::vector<unsigned char> buf;
  Put(&buf, floor | kFloorBit);
  for (uint64_t v : seen_)
    if (v > floor) Put(&buf, v);
  const std::string tmp = name_ + ".new";
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno(dir_ + ": cannot open the bridge's state directory");
  const int fd = ::openat(dfd, tmp.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    ::close(dfd);
    return Status::IOError(dir_ + "/" + tmp + ": cannot create the compacted delivery record", e);
  }
  Status s = WriteAll(fd, buf, dir_ + "/" + tmp + ": write of the compacted delivery record");
  if (s.ok() && ::fdatasync(fd) != 0) s = Status::FromErrno(dir_ + "/" + tmp + ": fdatasync");
  if (s.ok() && ::renameat(dfd, tmp.c_str(), dfd, name_.c_str()) != 0)
    s = Status::FromErrno(dir_ + "/" + tmp + ": rename over " + name_);
  if (!s.ok()) {  // the old record is still the record, whole
    ::close(fd);
    (void)::unlinkat(dfd, tmp.c_str(), 0);
    ::close(dfd);
    return s;
  }
  // Renamed: the new file is the record from here on, whatever follows.
  if (::fsync(dfd) != 0) s = Status::FromErrno(dir_ + ": fsync of the directory after compacting " + name_);
  ::close(dfd);
  ::close(fd_);
  fd_ = fd;
  floor_ = floor;
  std::erase_if(seen_, [&](uint64_t v) { return v <= floor; });
  return s;
}

Status DeliveredLog::Record(std::span<const uint64_t> stream_seqs) {
  if (stream_seqs.empty()) return Status::OK();
  std::vector<unsigned char> buf;
  buf.reserve(stream_seqs.size() * 8);
  for (uint64_t v : stream_seqs) Put(&buf, v);
  if (Status s = WriteAll(fd_, buf, path_ + ": append to the delivery record"); !s.ok()) return s;
  if (::fdatasync(fd_) != 0) return Status::FromErrno(path_ + ": fdatasync of the delivery record");
  for (uint64_t v : stream_seqs) seen_.insert(v);
  return Status::OK();
}

}  // namespace mq::bridge
