// The confirmer thread: answers confirming senders once their messages are
// durable (docs/mailbox.md, "Confirmations"). It waits with
// Store::WaitDurable while the ingest thread keeps appending, so under
// sync=always one fdatasync covers every message that arrived while the
// previous one ran (group commit). Answers leave in arrival order, so each
// sender's i-th answer is about its i-th message; ReplyOutbox keeps that true
// when a sender's queue is full.
#include <chrono>

#include "mailbox_impl.h"
#include "reply_outbox.h"

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
  confirm_ready.NotifyOne();
}

void Mailbox::Impl::ConfirmerLoop() {
  ReplyOutbox out(sock.get(), &n_confirmations, &n_replies_dropped);
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
    if (!batch.empty()) {
      uint64_t max_seq = 0;
      for (const PendingReply& r : batch)
        if (r.code == reply::Code::kOk) max_seq = std::max(max_seq, r.seq);
      if (max_seq != 0 && !store->WaitDurable(max_seq).ok()) {
        for (PendingReply& r : batch)
          if (r.code == reply::Code::kOk) r.code = reply::Code::kStoreError;
      }
    }
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
