// Runtime::Impl: the shared runtime's two mailbox threads (mq/runtime.h;
// docs/design.md, "The shared runtime").
//
// The reactor: an epoll (level-triggered) over every attached mailbox's
// socket, plus an eventfd that stops it. Each turn it serves every ready
// socket once, with one IngestBatch (at most ingest_batch datagrams), so a
// flooded socket gets one batch per turn like any other ready one; the
// kernel puts a level-triggered socket that is still readable back at the
// end of its ready list, so more ready sockets than one epoll_wait returns
// are served in rotation. A socket whose ingest lock a receiver holds
// (Mailbox::Impl::IngestInline) is skipped this turn: that receiver reads it.
//
// The confirmer: a FIFO of mailboxes with answers queued (each listed at
// most once); it runs one mailbox's ConfirmPass at a time. A mailbox whose
// answers are parked behind full sender queues is retried every
// millisecond.
//
// Detaching (Mailbox Close): the entry is removed under mu_, and the call
// waits while the thread is serving that mailbox; after it returns neither
// thread touches the mailbox again. Events read by epoll_wait before the
// removal carry a registration id, not a pointer, and are looked up under
// mu_, so a stale event finds nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "mailbox_impl.h"
#include "mq/runtime.h"
#include "unix_socket.h"
#include "util/mutex.h"

namespace mq {

class Runtime::Impl {
 public:
  Impl() = default;
  ~Impl();  // Stop()
  Status Start();
  void Stop() MQ_EXCLUDES(mu_, confirm_mu_);

  // Ingest: the socket joins the epoll; *id names the registration.
  Status AttachIngest(Mailbox::Impl* m, uint64_t* id) MQ_EXCLUDES(mu_);
  // Returns once the reactor neither serves nor will serve it.
  void DetachIngest(uint64_t id) MQ_EXCLUDES(mu_);

  // Confirmations.
  void AttachConfirm(Mailbox::Impl* m) MQ_EXCLUDES(confirm_mu_);
  // m has answers queued (QueueReplies).
  void ConfirmReady(Mailbox::Impl* m) MQ_EXCLUDES(confirm_mu_);
  // Returns once the confirmer neither serves nor will serve it.
  void DetachConfirm(Mailbox::Impl* m) MQ_EXCLUDES(confirm_mu_);

  RuntimeStats Stats() MQ_EXCLUDES(mu_, confirm_mu_);

 private:
  void ReactorLoop() MQ_EXCLUDES(mu_);
  void ConfirmerLoop() MQ_EXCLUDES(confirm_mu_);

  unix_socket::Fd epoll_;
  unix_socket::Fd stop_fd_;  // an eventfd in the epoll: Stop

  Mutex mu_;
  CondVar served_;  // serving_ went back to 0
  std::unordered_map<uint64_t, Mailbox::Impl*> ingest_ MQ_GUARDED_BY(mu_);
  uint64_t next_id_ MQ_GUARDED_BY(mu_) = 1;  // 0 is stop_fd_
  uint64_t serving_ MQ_GUARDED_BY(mu_) = 0;  // the id being served, or 0
  bool stop_ MQ_GUARDED_BY(mu_) = false;
  uint64_t turns_ MQ_GUARDED_BY(mu_) = 0;

  Mutex confirm_mu_;
  CondVar confirm_cv_;  // work queued, stop, or confirming_ went back to null
  std::unordered_set<Mailbox::Impl*> confirm_members_ MQ_GUARDED_BY(confirm_mu_);
  std::deque<Mailbox::Impl*> confirm_ready_ MQ_GUARDED_BY(confirm_mu_);
  std::unordered_set<Mailbox::Impl*> confirm_listed_ MQ_GUARDED_BY(confirm_mu_);  // in confirm_ready_
  std::unordered_set<Mailbox::Impl*> confirm_parked_ MQ_GUARDED_BY(confirm_mu_);  // answers parked: retry
  Mailbox::Impl* confirming_ MQ_GUARDED_BY(confirm_mu_) = nullptr;
  bool confirm_stop_ MQ_GUARDED_BY(confirm_mu_) = false;
  uint64_t passes_ MQ_GUARDED_BY(confirm_mu_) = 0;

  std::thread reactor_;
  std::thread confirmer_;
};

}  // namespace mq
