// Env, Directory and File: the seam in front of every byte of I/O the store
// does on its log, side files and lock (the LMDB index does its own I/O; see
// docs/design.md, "The index is derived data"). Every file of a queue is
// reached through a Directory held open for the queue's directory.
//
// Tests substitute an Env that injects faults (ENOSPC, EIO, a crash that drops
// every write not yet synced). All offsets are absolute; the store never
// relies on a file position.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "mq/status.h"

namespace mq {

class File {
 public:
  virtual ~File() = default;
  // Reads up to n bytes at offset into dst; *got is less than n only at end of file.
  virtual Status Read(uint64_t offset, size_t n, char* dst, size_t* got) = 0;
  // Writes all n bytes at offset (extending the file if needed).
  virtual Status Write(uint64_t offset, const char* src, size_t n) = 0;
  // Writes the n pieces one after another from offset: the same as one Write
  // of their concatenation. The store's appends of large messages send them
  // from where the caller holds them instead of copying them into one buffer
  // first (the POSIX file uses pwritev). The default writes piece by piece.
  virtual Status WriteV(uint64_t offset, const iovec* pieces, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      MQ_RETURN_IF_ERROR(Write(offset, static_cast<const char*>(pieces[i].iov_base), pieces[i].iov_len));
      offset += pieces[i].iov_len;
    }
    return Status::OK();
  }
  // Replaces n bytes that the file already holds (it never extends the
  // file): the store's in-place used-flag writes. The same promise as Write
  // (in the OS once it returns; durable after Sync), so the default is Write;
  // the POSIX file stores into a shared mapping instead, which costs a tenth
  // of a pwrite (docs/design.md, "Consume").
  virtual Status Overwrite(uint64_t offset, const char* src, size_t n) { return Write(offset, src, n); }
  // The file's first `size` bytes to read in place, or nullptr (then the
  // store reads with Read). Valid until the next call of MapForRead,
  // Overwrite or TakeMapFault. The POSIX file maps the file shared and
  // guards the mapping (store/src/port/sigbus_guard.h): a page that another process
  // cut from the file reads as zeros instead of killing the process.
  virtual const char* MapForRead(uint64_t /*size*/) { return nullptr; }
  // Whether a touch of the mapping found a page cut from the file since the
  // last call. If so the mapping is gone and MapForRead returns nullptr from
  // then on; what was read through it since the last call may have been
  // zeros where the cut was (the store's record checks refuse them).
  virtual bool TakeMapFault() { return false; }
  // Says that [offset, offset+n), just written, will take Overwrites soon.
  // A hint: the POSIX file, if it has a mapping for Overwrite, maps those
  // pages writable now, many with one call, so that the flag writes later
  // take no page fault each (docs/design.md, "Consume").
  virtual void PrepareOverwrite(uint64_t /*offset*/, size_t /*n*/) {}
  // Makes every completed Write and Overwrite durable (fdatasync).
  virtual Status Sync() = 0;
  // Sets the file's size. The store only ever shrinks a file after copying the
  // bytes it cuts into a synced side file.
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() = 0;
  virtual const std::string& path() const = 0;
};

enum class OpenMode {
  kReadOnly,       // must exist
  kReadWrite,      // must exist
  kCreateNew,      // must not exist (O_EXCL); created with the given mode bits
  kCreateOrTruncate,  // only for files the store owns outright (temporaries)
};

struct FileInfo {
  bool exists = false;
  bool is_regular = false;
  bool is_directory = false;
  bool is_symlink = false;  // Stat never follows a symlink
  uint64_t size = 0;
  uint64_t device = 0;
  uint64_t inode = 0;
  mode_t mode = 0;
  // st_ctime in nanoseconds: the kernel sets it on every change of the file
  // (a write, a truncate, a chmod), and no user can set it back.
  uint64_t ctime_ns = 0;
};

// An exclusive, advisory writer lock; released on destruction.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// A queue's directory, opened once and held by its descriptor: every call
// names a file by a plain name (no '/') and acts relative to that descriptor
// (openat, fstatat, renameat, unlinkat, fsync of the directory), so a
// directory renamed away and replaced by another one (or by a symlink) at the
// same path cannot redirect them: they keep acting on the directory that was
// opened (docs/design.md, "Files in a shared directory"). A name that is
// empty, ".", ".." or holds a '/' is refused with kInvalidArgument.
class Directory {
 public:
  virtual ~Directory() = default;

  // openat(O_NOFOLLOW): a symlink under `name` is refused, as is anything
  // that is not a regular file.
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& name, OpenMode mode, mode_t perms) = 0;
  // fstatat(AT_SYMLINK_NOFOLLOW): a symlink is reported as what it is. A
  // missing name is not an error: its FileInfo says !exists.
  virtual Result<FileInfo> Stat(const std::string& name) = 0;
  // fsync of the directory, after create, rename or unlink inside it.
  virtual Status Sync() = 0;
  // renameat within this directory; callers sync `from` before and the
  // directory after.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // unlinkat; a missing name is not an error. The store uses it only on its
  // own temporaries and on files it just created.
  virtual Status Remove(const std::string& name) = 0;
  // Takes an exclusive lock on `name` (created if missing, never deleted)
  // and writes this process's pid into it. If another process holds it:
  // kBusy, and *holder_pid is that process's pid (0 if unknown; set to 0
  // on every other outcome). holder_pid is the detail of a kBusy, not a
  // product, so it stays a pointer.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& name, mode_t perms, pid_t* holder_pid) = 0;
  // Reads the pid recorded in a lock file, if any process holds the lock; 0 otherwise.
  virtual pid_t LockHolder(const std::string& name) = 0;
  // The directory's descriptor, for code that must do its own openat (the
  // LMDB index, index_files.h); -1 if there is none (then that code opens
  // the directory by path()).
  virtual int native_handle() const = 0;
  // The path the directory was opened by: for messages only.
  virtual const std::string& path() const = 0;
  // path()/name, for messages ("name" alone if path() is ".").
  std::string PathOf(const std::string& name) const;
};

// OK if `name` is a plain file name (not empty, not "." or "..", no '/');
// kInvalidArgument naming it otherwise.
Status CheckPlainName(const std::string& name);

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never deleted.
  static Env* Default();

  // Opens the directory `dir` once (O_DIRECTORY | O_CLOEXEC) for calls
  // relative to it. Symlinks in `dir`, its last component included, are
  // followed at this one open: whoever can change what `dir` leads to (write
  // access to its parent) could as well rename a real directory there, so
  // refusing a link would stop no one and would refuse links such as
  // /var/run -> /run. What the store relies on is that, once opened, the
  // directory is never looked up by path again. A directory this process
  // may search but not read is still opened (O_PATH, for read-only looks at
  // a queue); its Sync then fails with EACCES, as an fsync by path would.
  virtual Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& dir) = 0;
  // Identifies the current boot of the machine (/proc/sys/kernel/random/boot_id).
  // An index written without a sync is trusted only within the same boot.
  virtual std::string BootId() = 0;
  virtual uint64_t NowMicros() = 0;
};

// Path helpers shared by the store and the tools.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace mq
