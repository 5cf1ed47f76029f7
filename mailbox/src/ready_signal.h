// ReadySignal: the descriptor behind Mailbox::ReadyFd (docs/mailbox.md,
// "Waiting in an event loop"). An eventfd made on first use; until then
// Signal costs one atomic load and no system call.
#pragma once

#include <atomic>
#include <string>

#include "mq/status.h"
#include "util/mutex.h"

namespace mq {

class ReadySignal {
 public:
  ReadySignal() = default;
  ~ReadySignal();  // closes the eventfd
  ReadySignal(const ReadySignal&) = delete;
  ReadySignal& operator=(const ReadySignal&) = delete;

  // The eventfd (EFD_NONBLOCK | EFD_CLOEXEC), made readable by the first
  // call (what was stored before it was not signalled).
  // `what` names the mailbox in the error (kIOError, e.g. EMFILE).
  Result<int> Fd(const std::string& what);
  // Makes the eventfd readable, if it exists: after an append, a release,
  // the ingest thread failing or the mailbox closing.
  void Signal();

 private:
  Mutex mu_;  // serialises the making
  std::atomic<int> fd_{-1};
};

}  // namespace mq
