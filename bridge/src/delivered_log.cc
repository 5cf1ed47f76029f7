#include "delivered_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <vector>

namespace mq::bridge {

namespace {
// `s` (an Env error) with what the record was doing in front, errno kept.
Status Wrap(const Status& s, const std::string& what) {
  return Status::IOError(what + ": " + s.message(), s.sys_errno() != 0 ? s.sys_errno() : EIO);
}
}  // namespace

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

Result<std::unique_ptr<DeliveredLog>> DeliveredLog::Open(const std::string& dir, const std::string& name, Env* env) {
  auto d = env->OpenDirectory(dir);
  if (!d.ok()) return Wrap(d.status(), dir + ": cannot open the bridge's state directory");
  std::unique_ptr<Directory> dfd = *std::move(d);
  const std::string path = dfd->PathOf(name);
  // A compaction cut short by a crash: its unfinished copy (the record
  // itself is still the old, whole file).
  if (Status s = dfd->Remove(name + ".new"); !s.ok())
    return Wrap(s, path + ".new: cannot remove an unfinished compaction");
  auto st = dfd->Stat(name);
  if (!st.ok()) return st.status();
  std::unique_ptr<File> file;
  if (st->exists) {
    if (!st->is_regular) return Status::InvalidArgument(path + ": not a regular file; move it away");
    auto f = dfd->OpenFile(name, OpenMode::kReadWrite, 0600);
    if (!f.ok()) return Wrap(f.status(), path + ": cannot open the delivery record");
    file = *std::move(f);
  } else {
    auto f = dfd->OpenFile(name, OpenMode::kCreateNew, 0600);
    if (!f.ok()) return Wrap(f.status(), path + ": cannot create the delivery record");
    file = *std::move(f);
    if (Status s = dfd->Sync(); !s.ok())
      return Wrap(s, dir + ": fsync of the directory after creating " + name);
  }
  auto size = file->Size();
  if (!size.ok()) return size.status();
  std::unique_ptr<DeliveredLog> log(new DeliveredLog(std::move(dfd), std::move(file), name));
  const uint64_t whole = *size / 8 * 8;
  std::vector<char> buf(1 << 16);
  for (uint64_t off = 0; off < whole;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), whole - off));
    size_t got = 0;
    if (Status s = log->file_->Read(off, want, buf.data(), &got); !s.ok()) return s;
    if (got < 8) return Status::IOError(path + ": short read at offset " + std::to_string(off), EIO);
    for (size_t i = 0; i + 8 <= got; i += 8) {
      uint64_t v = 0;
      for (int b = 7; b >= 0; --b) v = v << 8 | static_cast<unsigned char>(buf[i + static_cast<size_t>(b)]);
      if (v & kFloorBit) log->floor_ = std::max(log->floor_, v & ~kFloorBit);
      else if (v != 0) log->seen_.insert(v);  // 0 is no stream sequence: a hole a power cut left
    }
    off += got / 8 * 8;
  }
  std::erase_if(log->seen_, [&](uint64_t v) { return v <= log->floor_; });
  // A torn last record was never synced, so its message was never acked:
  // the next append overwrites it (JetStream delivers that message again).
  log->size_ = whole;
  return log;
}

DeliveredLog::~DeliveredLog() = default;

namespace {
void Put(std::vector<char>* buf, uint64_t v) {
  for (int b = 0; b < 8; ++b) buf->push_back(static_cast<char>(static_cast<unsigned char>(v >> (8 * b))));
}
}  // namespace

// The ordering (docs/design.md, "Every fsync, rename and unlink"): the new
// file's bytes are synced before the rename, and the directory is synced
// after it, before the old file's name is relied on as gone; until the
// rename the old file is the record, whole.
Status DeliveredLog::Compact(uint64_t floor) {
  if (floor <= floor_) return Status::OK();
  std::vector<char> buf;
  Put(&buf, floor | kFloorBit);
  for (uint64_t v : seen_)
    if (v > floor) Put(&buf, v);
  const std::string tmp = name_ + ".new";
  const std::string tmp_path = dir_->PathOf(tmp);
  if (Status s = dir_->Remove(tmp); !s.ok()) return s;  // left by an earlier failed compaction
  auto f = dir_->OpenFile(tmp, OpenMode::kCreateNew, 0600);
  if (!f.ok()) return Wrap(f.status(), tmp_path + ": cannot create the compacted delivery record");
  std::unique_ptr<File> nf = *std::move(f);
  Status s = nf->Write(0, buf.data(), buf.size());
  if (s.ok()) s = nf->Sync();
  if (s.ok()) s = dir_->Rename(tmp, name_);
  if (!s.ok()) {  // the old record is still the record, whole
    nf.reset();
    (void)dir_->Remove(tmp);
    return Wrap(s, tmp_path + ": compaction of the delivery record failed, the old record stays");
  }
  // Renamed: the new file is the record from here on, whatever follows.
  file_ = std::move(nf);
  size_ = buf.size();
  floor_ = floor;
  std::erase_if(seen_, [&](uint64_t v) { return v <= floor; });
  if (Status ds = dir_->Sync(); !ds.ok()) {
    dir_unsynced_ = true;  // Record syncs it before relying on the new file
    return Wrap(ds, dir_->path() + ": fsync of the directory after compacting " + name_);
  }
  return Status::OK();
}

Status DeliveredLog::Record(std::span<const uint64_t> stream_seqs) {
  if (stream_seqs.empty()) return Status::OK();
  // Appends to the compacted file count only once its name is durable: a
  // power loss would otherwise bring back the old file without them.
  if (dir_unsynced_) {
    if (Status s = dir_->Sync(); !s.ok())
      return Wrap(s, dir_->path() + ": fsync of the directory after compacting " + name_);
    dir_unsynced_ = false;
  }
  std::vector<char> buf;
  buf.reserve(stream_seqs.size() * 8);
  for (uint64_t v : stream_seqs) Put(&buf, v);
  // At size_, not appended: after a failed write the next one overwrites
  // what it left, so the records stay aligned.
  if (Status s = file_->Write(size_, buf.data(), buf.size()); !s.ok())
    return Wrap(s, path_ + ": append to the delivery record at offset " + std::to_string(size_));
  if (Status s = file_->Sync(); !s.ok())
    return Wrap(s, path_ + ": fdatasync of the delivery record");
  size_ += buf.size();
  for (uint64_t v : stream_seqs) seen_.insert(v);
  return Status::OK();
}

}  // namespace mq::bridge
