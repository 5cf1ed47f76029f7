// FaultEnv: an mq::Env for tests that injects I/O errors and simulates power
// loss (in the spirit of LevelDB's fault_injection_test and RocksDB's
// FaultInjectionTestFS).
//
// It wraps a real Env (Env::Default()) and passes every call through, while it
// keeps, for every file it has seen, the content that a power loss would leave:
//   - a file's bytes as of its last successful File::Sync, optionally plus a
//     prefix of the first write after that sync (a torn write), or, out of
//     order, a seeded subset of the 4 KiB pages written since (or all of them
//     with the last one torn): see PowerLossOptions;
//   - directory entries (creates, renames, removes) as of the last successful
//     SyncDir of their directory: an unsynced create disappears, an unsynced
//     rename is undone, an unsynced remove brings the file back.
// Files that already existed when FaultEnv first saw them count as durable.
//
// Operations that change something (file create, Write, Sync, Truncate,
// Rename, Remove, SyncDir) are numbered 1, 2, 3, ... so a test can name "crash
// at operation k": operation k and every operation after it (reads, stats and
// locks included) fail with kIOError "simulated crash", until
// SimulatePowerLoss() rewrites the real files to a power-loss state and lets
// operations through again, reporting a new BootId().
//
// The LMDB index does its own I/O outside Env, so FaultEnv cannot model it;
// tests copy and restore the index file themselves (see SetObserver).
//
// Every call reaches the files through a Directory of `base` (openat and so
// on), as the store does; the model keys each file by the path
// directory-path/name.
//
// Thread-safe. Paths are compared as strings: use one spelling per file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "mq/env.h"

namespace mq::test {

// An error to inject on Write, Sync or SyncDir operations.
struct Fault {
  int err = 0;               // errno of the error (ENOSPC, EIO, ...); 0: no fault
  uint64_t nth = 1;          // the nth matching operation from now on fails (1: the next one)
  bool persistent = false;   // ... and every later one, until ClearFaults()
  bool partial = false;      // Write only: the first half of the bytes reach the file first
  std::string path_filter;   // only paths containing this; empty: every path

  // The nth matching operation from now on fails, the others succeed.
  static Fault Nth(int err, uint64_t nth = 1) {
    Fault f;
    f.err = err;
    f.nth = nth;
    return f;
  }
  // The nth matching operation and every later one fail ("the disk is full").
  static Fault From(int err, uint64_t nth = 1) {
    Fault f = Nth(err, nth);
    f.persistent = true;
    return f;
  }
  Fault& OnlyPaths(std::string part) {
    path_filter = std::move(part);
    return *this;
  }
  Fault& HalfWritten() {
    partial = true;
    return *this;
  }
};

// What a power loss keeps of the writes made since a file's last sync. The
// default keeps none of them (or, with torn_write, a prefix of the first).
// Write-back is not in order: the kernel may have written a later page of
// the file and not an earlier one, and the file's size may have been made
// durable without the data behind it (reading as zeros). `pages` models that
// in 4 KiB pages (kPageSize): a page whose bytes the unsynced writes changed
// is "dirty".
struct PowerLossOptions {
  // Keep a prefix of each file's first write after its last sync.
  bool torn_write = false;
  // The prefix is this share of the write's bytes, at least 1, at most all but 1.
  double torn_fraction = 0.5;

  enum class Pages {
    kOff,           // only torn_write above (a prefix, the old model)
    kSubset,        // each dirty page, chosen by `seed`, is either all new or all old
    kTornLastPage,  // every dirty page is new but the last, which keeps a prefix of its new bytes
  };
  Pages pages = Pages::kOff;
  // Chooses the surviving pages, the size and the torn page's prefix (mixed
  // with each file's name, so files differ and each run is the same).
  uint64_t seed = 0;
};

constexpr size_t kPageSize = 4096;

// The bytes a power loss leaves of a file whose durable bytes are `synced`
// and whose bytes as the process saw them are `live` (every unsynced write
// applied), under opt.pages (not kOff). The size is `synced`'s or `live`'s
// (a seeded choice), extended to cover every surviving page; a byte past
// `synced` that no surviving page covers reads as zero. Pure, for tests of
// the model itself.
std::string PagesAfterPowerLoss(const std::string& synced, const std::string& live, const PowerLossOptions& opt,
                                uint64_t file_seed);

class FaultEnv final : public Env {
 public:
  // real_syncs: pass File::Sync and SyncDir on to `base`. Crash tests can
  // turn it off: FaultEnv's own bookkeeping decides what a power loss keeps,
  // so the real fsyncs only cost time.
  explicit FaultEnv(Env* base = Env::Default(), bool real_syncs = true);
  ~FaultEnv() override;
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;

  // ---- mq::Env ----
  // A Directory whose calls go through the model below, keyed by the path
  // `dir`/name (so use one spelling of each directory).
  Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& dir) override;
  std::string BootId() override;
  uint64_t NowMicros() override;

  // ---- the same calls by path, for tests ----
  // Each opens the file's directory (DirName) for the one call; Rename needs
  // both paths in one directory.
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode, mode_t perms);
  Result<FileInfo> Stat(const std::string& path);
  Status SyncDir(const std::string& dir);
  Status Rename(const std::string& from, const std::string& to);
  Status Remove(const std::string& path);
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path, mode_t perms, pid_t* holder_pid);
  pid_t LockHolder(const std::string& path);

  // ---- crash points ----
  // Mutating operations attempted since construction, the last power loss or
  // the last RestartProcess().
  uint64_t operations() const;
  // File::Read calls that reached the files (not counted as operations).
  uint64_t reads() const;
  // Operation k (1-based, as counted by operations()) and everything after it
  // fail. 0 disarms.
  void CrashAtOperation(uint64_t k);
  // Crashes now: every later operation fails.
  void CrashNow();
  bool crashed() const;
  // What operation the crash happened at ("sync /tmp/x/q"), or "" before a crash.
  std::string crash_point() const;
  // Called before every mutating operation, with its number and what it is,
  // before the crash or fault decision. Not called under FaultEnv's lock, so
  // it may read files (e.g. copy the LMDB index aside).
  void SetObserver(std::function<void(uint64_t op, const std::string& what)> fn);

  // ---- errors on demand ----
  void InjectWriteFault(const Fault& f);
  void InjectSyncFault(const Fault& f);     // File::Sync
  void InjectSyncDirFault(const Fault& f);  // Env::SyncDir
  void ClearFaults();                       // "space returns"
  uint64_t injected_failures() const;

  // ---- power loss ----
  // Rewrites every file FaultEnv has tracked to what a power loss could
  // leave (see the top of this file), then forgets all tracking: from here on
  // the files on disk count as durable. Handles opened before stop working.
  // Call it after the Store using this Env is destroyed.
  Status DropUnsyncedData(const PowerLossOptions& opt = {});
  // The process died at the crash and starts again, but the machine kept
  // running: nothing is dropped (unsynced data stays unsynced), the boot id
  // stays, the crash is over and operations count from 0 again.
  void RestartProcess();
  // DropUnsyncedData, then: the crash is over, faults are cleared, operations
  // count from 0 again, and BootId() reports a boot never reported before.
  Status SimulatePowerLoss(const PowerLossOptions& opt = {});
  uint64_t power_losses() const;
  // The most dirty pages (PowerLossOptions) one file has now: 0 when
  // everything is synced; 2 or more when a power loss with Pages::kSubset
  // can keep a later page without an earlier one.
  size_t MaxUnsyncedPages() const;

 private:
  class FaultFile;
  class FaultDirectory;
  struct Node;  // one file (an inode): its durable bytes and unsynced changes
  struct Injection {
    Fault fault;
    uint64_t seen = 0;
  };

  // Counts a mutating operation; returns the error it must fail with, if any.
  Status BeginOp(const std::string& what);
  Status CrashedStatus(const std::string& what) const;
  Status CheckNotCrashed(const std::string& what) const;
  // Returns a non-OK status if the injection fires for this operation.
  Status Inject(Injection* inj, const std::string& path, const std::string& what, bool* partial);
  // The node for an existing file `name` in `dir` (its model key is
  // dir->PathOf(name)), tracking it (as durable) if new. Needs mu_ held.
  // nullptr if there is no file there.
  std::shared_ptr<Node> TrackLocked(Directory* dir, const std::string& name);
  // The real directory of `path`, for the power-loss rewrite.
  Status BaseDirOf(const std::string& path, std::unique_ptr<Directory>* out);

  Env* const base_;
  const bool real_syncs_;
  mutable std::mutex mu_;
  std::function<void(uint64_t, const std::string&)> observer_;
  uint64_t ops_ = 0;
  uint64_t reads_ = 0;
  uint64_t crash_at_ = 0;
  bool crashed_ = false;
  std::string crash_point_;
  Injection write_fault_, sync_fault_, syncdir_fault_;
  uint64_t injected_ = 0;
  uint64_t epoch_ = 0;  // bumped by each DropUnsyncedData; older handles are dead
  uint64_t power_losses_ = 0;
  std::string boot_id_;
  std::map<std::string, std::shared_ptr<Node>> live_;     // names as the process sees them
  std::map<std::string, std::shared_ptr<Node>> durable_;  // names as of their directory's last SyncDir
};

}  // namespace mq::test
