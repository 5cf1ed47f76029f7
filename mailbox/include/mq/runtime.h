// mq::Runtime: a small fixed set of threads that serves many mailboxes in
// one process (docs/mailbox.md, "Many mailboxes: the shared runtime";
// docs/design.md, "The shared runtime").
//
// Without a runtime every mailbox has threads of its own (an ingest thread
// and a confirmer, plus its store's group-commit flusher and tail writer).
// A mailbox opened with a runtime has none: the runtime's threads serve it.
//
//   mq::Result<std::shared_ptr<mq::Runtime>> rt = mq::Runtime::Create();
//   if (!rt.ok()) ...  // rt.status() says why
//   mq::MailboxOptions o;
//   o.runtime = *rt;   // every mailbox opened with it shares its threads
//   ...
//
// The threads, whatever the number of mailboxes:
//  - the ingest reactor: one epoll over every mailbox's socket; each turn
//    reads at most one batch (MailboxOptions::ingest_batch datagrams, one
//    recvmmsg) from each ready socket, so a flooded mailbox waits its turn
//    like the others instead of starving them;
//  - the confirmer: answers confirming senders of every mailbox once their
//    messages are durable, one mailbox's queued answers at a time, in the
//    order the mailboxes had answers queued;
//  - the store threads (mq/store_threads.h): one group-commit (sync) thread
//    and one index tail writer for every store of those mailboxes (each
//    mailbox's StoreOptions::threads, unless it names its own).
//
// Lifetime: a mailbox keeps its runtime alive (it holds a shared_ptr), so
// the runtime may be released before or after its mailboxes; its threads
// stop when the last reference goes. A mailbox's Close detaches it from the
// runtime first, then stores what is left in its socket and answers what is
// pending on the closing thread, as a mailbox with threads of its own does.
//
// Threads: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mq/status.h"
#include "mq/store_threads.h"

namespace mq {

struct RuntimeStats {
  uint64_t mailboxes = 0;    // mailboxes attached now
  uint64_t ingest_turns = 0; // reactor turns that served at least one socket
  uint64_t confirm_passes = 0;  // a mailbox's queued answers handled by the confirmer
};

class Runtime {
 public:
  // Starts the threads. Errors: kIOError (epoll or eventfd could not be
  // made, e.g. at the descriptor limit; the message names it).
  static Result<std::shared_ptr<Runtime>> Create();
  ~Runtime();  // stops and joins the threads (no mailbox is attached then)
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  RuntimeStats Stats();
  // The store threads the runtime's mailboxes hand to their stores; a store
  // opened without a mailbox may use them too (StoreOptions::threads).
  const std::shared_ptr<StoreThreads>& store_threads() const { return store_threads_; }
  class Impl;
  Impl* impl() { return impl_.get(); }

 private:
  Runtime(std::unique_ptr<Impl> impl, std::shared_ptr<StoreThreads> store_threads);
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<StoreThreads> store_threads_;
};

}  // namespace mq
