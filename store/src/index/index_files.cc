#include "index/index_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "index/index.h"
#include "mq/env.h"

namespace mq {
namespace {

Status OpenError(const std::string& name, int err) {
  if (err == ELOOP)
    return Status::InvalidArgument(name + ": is a symbolic link; mq never follows one for its index (someone "
                                          "with write access to the directory may have planted it): remove it, "
                                          "the index is rebuilt from the log");
  return LmdbStatus(err, name, "open");
}

// openat(dir, name) without following a link; creates the file if `create`.
Status OpenOne(int dir, const std::string& path, const std::string& name, int access, bool create, mode_t mode,
               int* fd) {
  const int base = access | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  *fd = ::openat(dir, name.c_str(), base | (create ? O_CREAT : 0), mode);
  if (*fd < 0) return OpenError(path, errno);
  struct stat st;
  if (::fstat(*fd, &st) != 0) return LmdbStatus(errno, path, "fstat");
  if (!S_ISREG(st.st_mode))
    return Status::InvalidArgument(path + ": is not a regular file; remove it, the index is rebuilt from the log");
  if (st.st_nlink != 1)
    return Status::InvalidArgument(path + ": has " + std::to_string(st.st_nlink) +
                                   " names (hard links); mq writes its index only to a file of its own: remove "
                                   "it, the index is rebuilt from the log");
  return Status::OK();
}

// A 0700 directory that only this process uses; removed with its entries.
class PrivateDir {
 public:
  ~PrivateDir() {
    if (fd_ >= 0) {
      (void)::unlinkat(fd_, "idx", 0);
      (void)::unlinkat(fd_, "idx-lock", 0);
      ::close(fd_);
    }
    if (!path_.empty()) (void)::rmdir(path_.c_str());
  }
  Status Make(const std::string& near) {
    // mkdtemp: a new directory (mkdir never follows a link), mode 0700.
    // /dev/shm first: a tmpfs, where the mkdir and the rmdir cost
    // microseconds; on a journalled /tmp they cost milliseconds (4 ms median
    // on ext4 here, most of a supervised actor's Mailbox::Open:
    // bench/analysis.md, "Session 5"). /tmp, then beside the index, if
    // /dev/shm is missing or not writable.
    for (const std::string& where : {std::string("/dev/shm"), std::string("/tmp"), DirName(near)}) {
      std::string t = where + "/.mq-index-XXXXXX";
      if (::mkdtemp(t.data()) == nullptr) continue;
      path_ = t;
      fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd_ < 0) return Status::FromErrno(path_ + ": open private directory");
      return Status::OK();
    }
    return Status::FromErrno(near + ": cannot make a private directory to open the index from (in /dev/shm, /tmp or "
                                    "beside the index)");
  }
  // idx -> /proc/self/fd/<fd>
  Status Link(const char* name, int fd) {
    const std::string target = "/proc/self/fd/" + std::to_string(fd);
    if (::symlinkat(target.c_str(), fd_, name) != 0) return Status::FromErrno(path_ + ": symlink " + name);
    return Status::OK();
  }
  std::string Entry(const char* name) const { return "/proc/self/fd/" + std::to_string(fd_) + "/" + name; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

void IndexFiles::Close() {
  if (data_ >= 0) ::close(data_);
  if (lock_ >= 0) ::close(lock_);
  data_ = lock_ = -1;
}

Status IndexFiles::Open(const std::string& path, int dir_fd, bool read_only, mode_t mode) {
  Close();
  path_ = path;
  const std::string dir_path = DirName(path);
  const int dir = dir_fd >= 0 ? dir_fd : ::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Status::FromErrno(dir_path + ": open the index's directory");
  const std::string name = BaseName(path);
  Status s = OpenOne(dir, path, name, read_only ? O_RDONLY : O_RDWR, !read_only, mode, &data_);
  // LMDB opens its lock file read-write and creating, in read-only mode too.
  if (s.ok()) s = OpenOne(dir, path + "-lock", name + "-lock", O_RDWR, true, mode, &lock_);
  if (dir != dir_fd) ::close(dir);
  if (!s.ok()) {
    Close();
    return s;
  }
  struct stat st;
  if (::fstat(data_, &st) != 0) return LmdbStatus(errno, path, "fstat");
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return Status::OK();
}

Status IndexFiles::MdbOpen(MDB_env* env, unsigned flags, mode_t mode) {
  PrivateDir pd;
  MQ_RETURN_IF_ERROR(pd.Make(path_));
  MQ_RETURN_IF_ERROR(pd.Link("idx", data_));
  MQ_RETURN_IF_ERROR(pd.Link("idx-lock", lock_));
  int rc = mdb_env_open(env, pd.Entry("idx").c_str(), flags | MDB_NOSUBDIR, mode);
  if (rc != 0) return LmdbStatus(rc, path_, "open");
  mdb_filehandle_t fd = -1;
  struct stat st;
  if (mdb_env_get_fd(env, &fd) != 0 || ::fstat(fd, &st) != 0 || st.st_dev != dev_ || st.st_ino != ino_)
    return Status::IOError(path_ + ": LMDB opened another file than the index mq checked", EINVAL);
  // LMDB has its own descriptors of the data file now, and takes no lock on
  // it (only on the lock file, whose descriptor stays): one descriptor less
  // per store (docs/mailbox.md, "Descriptors").
  ::close(data_);
  data_ = -1;
  return Status::OK();
}

}  // namespace mq
