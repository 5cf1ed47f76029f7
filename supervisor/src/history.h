// The supervisor's durable restart history (mq/run.h, "Running"): an mq
// store of one record per child exit, appended and fsync'd before the
// restart, read back at start so that `mqsup status` counts restarts across
// supervisor restarts. Internal.
//
// Bounded (docs/supervision.md, "The history and its trimming"): past
// kTrimAt exit records, all but the newest kKeep are folded into one BASE
// record per child (its restarts and last exit up to then), appended and
// synced first, and only then consumed; the store compacts them away on its
// own thread. A BASE names the last record it covers (upto=SEQ), so records
// it covers that are still pending after a crash are not counted twice.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mq/status.h"
#include "mq/store.h"
#include "mq/supervisor.h"

namespace mq::supervisor {

// What the history says of one child.
struct ChildHistory {
  uint64_t restarts = 0;  // exits followed by a restart, over every run
  std::string last_exit;  // "exit:1", "signal:KILL"...; empty: never exited
  uint64_t last_exit_unix_ms = 0;
};

class History {
 public:
  // Exit records kept verbatim after a trim, and the count that starts one.
  static constexpr size_t kKeep = 1000;
  static constexpr size_t kTrimAt = 2 * kKeep;

  // Opens (creates) the store at `path`: kBusy if another process holds it.
  static Result<std::unique_ptr<History>> Open(const std::string& path);

  // Appends "EXIT name=<n> pid=<p> reason=<r> restart=<yes|no> at=<unix ms>"
  // (written to the OS: a kill of the supervisor keeps it), and waits until
  // it is durable unless `sync` is false (then SyncRecorded() must follow:
  // the supervisor syncs right after it has started the restart, so the
  // fdatasync runs while the child execs); then trims if kTrimAt exit
  // records are pending.
  Status RecordExit(const std::string& name, pid_t pid, const ExitReason& reason, bool restart, bool sync = true);
  // Makes every record appended so far durable (nothing to do if none since
  // the last sync).
  Status SyncRecorded();

  // Per child name, from every record in the store.
  const std::map<std::string, ChildHistory>& children() const { return children_; }
  // Exit records after the last BASE (what a trim would fold).
  size_t exit_records() const { return exits_.size(); }

  // "EXIT name=a pid=1 reason=exit:1 restart=yes at=5" -> fields; false if malformed.
  static bool Parse(std::string_view record, std::string* name, std::string* reason, bool* restart, uint64_t* at);
  // "BASE upto=9 name=a restarts=3 last=exit:1 at=5" -> fields (last may be
  // "-": never exited); false if malformed.
  static bool ParseBase(std::string_view record, uint64_t* upto, std::string* name, ChildHistory* h);

 private:
  struct Exit {
    uint64_t seq;
    std::string name, reason;
    bool restart;
    uint64_t at;
  };
  explicit History(std::unique_ptr<Store> store) : store_(std::move(store)) {}
  static void Fold(ChildHistory* c, const Exit& e);
  Status Trim();
  std::unique_ptr<Store> store_;
  bool unsynced_ = false;
  std::map<std::string, ChildHistory> base_;      // as of the last BASE
  std::deque<Exit> exits_;                        // exit records after it
  std::vector<uint64_t> covered_;                 // pending records the last BASE covers
  std::vector<uint64_t> base_records_;            // the last BASE's own records
  std::map<std::string, ChildHistory> children_;  // base_ with exits_ folded in
};

}  // namespace mq::supervisor
