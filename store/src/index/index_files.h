// Opening the LMDB index without following a planted link (docs/design.md,
// "Files in a shared directory").
//
// mdb_env_open takes a path and opens PATH and PATH-lock itself, with
// O_CREAT and without O_NOFOLLOW, and may truncate the lock file. So we
// open both files first (openat on the index's directory, O_NOFOLLOW,
// regular files only) and hand LMDB a path that can only lead to those
// inodes: a private 0700 directory, held by its fd, whose entries `idx` and
// `idx-lock` are links to /proc/self/fd/N of our descriptors.
#pragma once

#include <lmdb.h>
#include <sys/types.h>

#include <string>

#include "mq/status.h"

namespace mq {

// The two index files. The lock file's descriptor is held while the LMDB
// environment lives: LMDB takes fcntl locks on it, and closing any
// descriptor of that file would drop them, so it closes only after
// mdb_env_close. The data file's closes once LMDB has opened its own.
class IndexFiles {
 public:
  IndexFiles() = default;
  IndexFiles(const IndexFiles&) = delete;
  IndexFiles& operator=(const IndexFiles&) = delete;
  ~IndexFiles() { Close(); }
  void Close();

  // Opens (read_only: must exist; else creates with `mode` if missing) the
  // index at `path` and its lock `path`-lock, refusing a symlink, a
  // non-regular file and a file with more than one name. `dir_fd` is the
  // index's directory, held open by the caller (the queue's Directory); both
  // files are opened relative to it. -1: open DirName(path) here.
  Status Open(const std::string& path, int dir_fd, bool read_only, mode_t mode);
  // mdb_env_open on exactly the files Open opened; checks afterwards that
  // LMDB's descriptor is our inode.
  Status MdbOpen(MDB_env* env, unsigned flags, mode_t mode);

 private:
  std::string path_;
  int data_ = -1;
  int lock_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace mq
