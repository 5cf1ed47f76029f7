// Env and File: the seam in front of every byte of I/O the store does on its
// log, side files and lock (the LMDB index does its own I/O; see
// docs/design.md, "The index is derived data").
//
// Tests substitute an Env that injects faults (ENOSPC, EIO, a crash that drops
// every write not yet synced). All offsets are absolute; the store never
// relies on a file position.
#pragma once

#include <sys/types.h>

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
  // Replaces n bytes that the file already holds (it never extends the
  // file): the store's in-place used-flag writes. The same promise as Write
  // (in the OS once it returns; durable after Sync), so the default is Write;
  // the POSIX file stores into a shared mapping instead, which costs a tenth
  // of a pwrite (docs/design.md, "Consume").
  virtual Status Overwrite(uint64_t offset, const char* src, size_t n) { return Write(offset, src, n); }
  // The file's first `size` bytes to read in place, or nullptr (then the
  // store reads with Read). Valid until the next call of MapForRead,
  // Overwrite or TakeMapFault. The POSIX file maps the file shared and
  // guards the mapping (store/src/bus_guard.h): a page that another process
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
  virtual Status Size(uint64_t* size) = 0;
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

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never deleted.
  static Env* Default();

  virtual Status OpenFile(const std::string& path, OpenMode mode, mode_t perms,
                          std::unique_ptr<File>* out) = 0;
  virtual Status Stat(const std::string& path, FileInfo* info) = 0;
  // fsync of a directory, after create, rename or unlink inside it.
  virtual Status SyncDir(const std::string& dir) = 0;
  // rename(2); callers sync `from` before and the directory after.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // unlink(2); the store uses it only on its own temporaries.
  virtual Status Remove(const std::string& path) = 0;
  // Takes an exclusive lock on `path` (created if missing, never deleted) and
  // writes this process's pid into it. If another process holds it: kBusy,
  // and *holder_pid is that process's pid (0 if unknown).
  virtual Status LockFile(const std::string& path, mode_t perms, std::unique_ptr<FileLock>* lock,
                          pid_t* holder_pid) = 0;
  // Reads the pid recorded in a lock file, if any process holds the lock; 0 otherwise.
  virtual pid_t LockHolder(const std::string& path) = 0;
  // Identifies the current boot of the machine (/proc/sys/kernel/random/boot_id).
  // An index written without a sync is trusted only within the same boot.
  virtual std::string BootId() = 0;
  virtual uint64_t NowMicros() = 0;
};

// Path helpers shared by the store and the tools.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace mq
