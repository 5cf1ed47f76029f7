// The supervisor's durable restart history (mq/run.h, "Running"): an mq
// store of one record per child exit, appended and fsync'd before the
// restart, read back at start so that `mqsup status` counts restarts across
// supervisor restarts. Internal.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

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
  // Opens (creates) the store at `path`: kBusy if another process holds it.
  static Result<std::unique_ptr<History>> Open(const std::string& path);

  // Appends "EXIT name=<n> pid=<p> reason=<r> restart=<yes|no> at=<unix ms>"
  // and waits until it is durable.
  Status RecordExit(const std::string& name, pid_t pid, const ExitReason& reason, bool restart);

  // Per child name, from every record in the store.
  const std::map<std::string, ChildHistory>& children() const { return children_; }

  // "EXIT name=a pid=1 reason=exit:1 restart=yes at=5" -> fields; false if malformed.
  static bool Parse(std::string_view record, std::string* name, std::string* reason, bool* restart, uint64_t* at);

 private:
  explicit History(std::unique_ptr<Store> store) : store_(std::move(store)) {}
  void Apply(std::string_view record);
  std::unique_ptr<Store> store_;
  std::map<std::string, ChildHistory> children_;
};

}  // namespace mq::supervisor
