// The confirmer (a thread of the mailbox's own, or the shared runtime's,
// runtime.cc): answers confirming senders once their messages are
// durable (docs/mailbox.md, "Confirmations"). It waits with
// Store::WaitDurable while the ingest thread keeps appending, so under
// sync=always one fdatasync covers every message that arrived while the
// previous one ran (group commit). Answers leave in arrival order, so each
// sender's i-th answer is about its i-th message; ReplyOutbox keeps that true
// when a sender's queue is full.
#include <chrono>

#include "mailbox_impl.h"
#include "reply_outbox.h"
#include "runtime_impl.h"

namespace mq {
namespace {
// How often answers parked behind a full sender queue are tried again.
constexpr std::chrono::milliseconds kRetryEvery{1};
// How long a closing mailbox keeps trying to deliver parked answers.
constexpr std::chrono::milliseconds kCloseGrace{1000};
}  // namespace

void Mailbox::Impl::QueueReplies(std::vector<PendingReply>* replies) {
  {
    MutexLock g(&confirm_mu);
    confirm_queue.insert(confirm_queue.end(), replies->begin(), replies->end());
  }
  replies->clear();
  if (Runtime::Impl* rt = runtime()) rt->ConfirmReady(this);
  else confirm_ready.NotifyOne();
}

namespace {
// Waits until the answers' messages are durable (and, with before_confirm,
// until it lets them go); a store error, or a refusal of before_confirm,
// turns the "stored" answers into "store error" ones.
void AwaitDurable(Store* store, const std::function<bool(uint64_t)>& before_confirm,
                  std::vector<PendingReply>* batch) {
  uint64_t max_seq = 0;
  for (const PendingReply& r : *batch)
    if (r.code == reply::Code::kOk) max_seq = std::max(max_seq, r.seq);
  if (max_seq != 0 && (!store->WaitDurable(max_seq).ok() || (before_confirm && !before_confirm(max_seq)))) {
    for (PendingReply& r : *batch)
      if (r.code == reply::Code::kOk) r.code = reply::Code::kStoreError;
  }
}
}  // namespace

bool Mailbox::Impl::ConfirmPass() {
  MutexLock run(&confirm_run_mu);
  if (!outbox) outbox = std::make_unique<ReplyOutbox>(sock.get(), &n_confirmations, &n_replies_dropped);
  std::vector<PendingReply> batch;
  {
    MutexLock g(&confirm_mu);
    batch.swap(confirm_queue);
  }
  if (!batch.empty()) AwaitDurable(store.get(), opt.before_confirm, &batch);
  if (outbox->HasBacklog()) outbox->Retry(false);
  if (!batch.empty()) outbox->Send(batch);
  return outbox->HasBacklog();
}

void Mailbox::Impl::ConfirmerLoop() {
  MutexLock run(&confirm_run_mu);
  if (!outbox) outbox = std::make_unique<ReplyOutbox>(sock.get(), &n_confirmations, &n_replies_dropped);
  ReplyOutbox& out = *outbox;
  std::vector<PendingReply> batch;
  std::chrono::steady_clock::time_point stop_at{};
  while (true) {
    bool stopping = false;
    {
      MutexLock g(&confirm_mu);
      if (out.HasBacklog()) {
        // Wait at most kRetryEvery for new answers, or (if not stopping
        // yet) for the stop. Once stopping, for new answers only.
        const bool was_stopping = stop_confirmer;
        const auto until = std::chrono::steady_clock::now() + kRetryEvery;
        while (confirm_queue.empty() && (was_stopping || !stop_confirmer))
          if (!confirm_ready.WaitUntil(&confirm_mu, until)) break;
      } else {
        while (confirm_queue.empty() && !stop_confirmer) confirm_ready.Wait(&confirm_mu);
      }
      batch.swap(confirm_queue);
      stopping = stop_confirmer;
    }
    if (!batch.empty()) AwaitDurable(store.get(), opt.before_confirm, &batch);
    if (out.HasBacklog()) out.Retry(false);
    if (!batch.empty()) out.Send(batch);
    batch.clear();
    if (stopping) {
      if (stop_at == std::chrono::steady_clock::time_point{})
        stop_at = std::chrono::steady_clock::now() + kCloseGrace;
      const bool late = std::chrono::steady_clock::now() >= stop_at;
      if (late) out.Retry(true);
      if (!out.HasBacklog()) {
        MutexLock g(&confirm_mu);
        if (confirm_queue.empty()) return;
      }
    }
  }
}

}  // namespace mq
