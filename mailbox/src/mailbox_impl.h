// Mailbox::Impl: the state behind mq::Mailbox, shared by mailbox_open.cc
// (open, bind, close), ingest.cc (socket -> log), confirmer.cc (answers to
// confirming senders) and receive.cc (selective receive).
//
// Four mutexes, one per concern (docs/design.md, "Locks and threads"):
// ingest_mu (reading the socket), mu (the receivers' state and the wake-ups),
// confirm_mu (the confirmer's queue) and confirm_run_mu (the answer outbox,
// held by whoever sends answers). Lock order: ingest_mu, then mu or
// confirm_mu (an ingest batch wakes receivers and queues answers);
// confirm_run_mu before confirm_mu; mu and confirm_mu are never held
// together. clang checks the annotations (the `tsa` stage of ./test.sh).
// With a shared runtime (mq/runtime.h, runtime_impl.h) its threads take the
// places of the ingest and confirmer threads.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "mq/mailbox.h"
#include "mq/runtime.h"
#include "ready_signal.h"
#include "reply_format.h"
#include "reply_outbox.h"
#include "unix_socket.h"
#include "util/mutex.h"

namespace mq {

class Mailbox::Impl {
 public:
  explicit Impl(MailboxOptions o) : opt(std::move(o)) {}

  // ---- open and close (mailbox_open.cc) ----
  Status OpenStore();
  Status ProbeSocketPath(bool* stale);
  Status BindSocket();
  Status AdoptSocket();      // socket_handoff.cc: opt.inherit_socket instead of bind
  Status PrepareBuffers() MQ_EXCLUDES(ingest_mu);
  // Starts the ingest and confirmer threads, or attaches the mailbox to
  // opt.runtime (runtime.cc), which then serves it.
  Status StartThreads();
  Status CloseAll() MQ_EXCLUDES(ingest_mu, mu, confirm_mu);

  // ---- ingest (ingest.cc) ----
  void IngestLoop() MQ_EXCLUDES(ingest_mu);
  // Reads up to `slots` queued datagrams without waiting and appends the
  // admitted ones. With peek_ingest it peeks at them and takes exactly those
  // out of the socket only after the append (docs/mailbox.md, "Zero-loss
  // ingest"). Returns how many it took out (stored or
  // refused), or 0: none was queued, or the read reached the end mark of a
  // socket shut down by Close (then nothing more will come, even if this
  // batch took some datagrams before the mark).
  size_t IngestBatch() MQ_REQUIRES(ingest_mu) MQ_EXCLUDES(mu, confirm_mu);
  // Takes the first `n` datagrams out of the socket without reading them
  // (they were peeked and dealt with). Returns how many it took.
  // IngestBatch's part for datagram i of the batch from an admitted sender
  // bound under pack::kPrefix: its messages go to views (their answers to
  // replies_scratch), or it is refused whole (pack_format.h).
  void TakePacked(size_t i, const ucred& cred, bool has_creds, int channel) MQ_REQUIRES(ingest_mu);
  size_t DiscardPeeked(size_t n) MQ_REQUIRES(ingest_mu);
  bool Admitted(bool has_creds, uid_t uid) const;

  // ---- confirmations (confirmer.cc) ----
  void QueueReplies(std::vector<PendingReply>* replies) MQ_EXCLUDES(confirm_mu);
  // Runs until stop_confirmer is set and every answer is sent (or given up
  // on after a grace period): the confirmer thread, or, with a runtime, the
  // closing thread after the runtime let go of the mailbox.
  void ConfirmerLoop() MQ_EXCLUDES(confirm_run_mu, confirm_mu);
  // One pass for the runtime's confirmer: the queued answers, once durable,
  // are sent, and parked ones retried. True if answers are still parked
  // (behind a full sender queue): call again in a while.
  bool ConfirmPass() MQ_EXCLUDES(confirm_run_mu, confirm_mu);
  // The runtime's internals, or nullptr (threads of its own).
  Runtime::Impl* runtime() const { return opt.runtime ? opt.runtime->impl() : nullptr; }

  // ---- receive (receive.cc) ----
  // cursor: where an earlier look with the same pattern got to (nullptr: a
  // fresh one, as Receive without a cursor).
  Status Find(const Pattern& p, bool take, Timeout timeout, Message* out, Mailbox::ScanCursor* cursor)
      MQ_EXCLUDES(mu, ingest_mu);
  // Looks once; kNotFound if nothing pending matches. *scanned_to advances
  // past predicate-checked messages.
  Status FindOnce(const Pattern& p, uint64_t* scanned_to, Message* out);
  void Wake() MQ_EXCLUDES(mu);  // after appends and releases

  MailboxOptions opt;
  std::unique_ptr<Store> store;

  // The socket and what identifies its file (so Close unlinks only ours).
  unix_socket::Fd sock;
  uint64_t sock_dev = 0, sock_ino = 0;
  // An adopted socket (opt.inherit_socket) belongs to the process that bound
  // it: Close neither unlinks nor shuts it down, and wakes the ingest thread
  // through `wake` (an eventfd) instead.
  bool adopted = false;
  unix_socket::Fd wake;

  // Held around each IngestBatch, by the ingest thread or by a receiver that
  // found nothing and reads the socket itself before it sleeps (so datagrams
  // are appended in the order they were read); it guards the ingest buffers
  // and the peek state below. `inline_ingest_off` is set by Close before the
  // socket goes away.
  Mutex ingest_mu MQ_ACQUIRED_BEFORE(mu, confirm_mu);
  bool inline_ingest_off MQ_GUARDED_BY(ingest_mu) = false;

  // Ingest buffers (PrepareBuffers makes them; IngestBatch uses them).
  // Invariant: slots == bufs.size() == addrs.size() == ctrls.size() ==
  // iovs.size() == hdrs.size() == discard_hdrs.size(), at least 1.
  size_t slots MQ_GUARDED_BY(ingest_mu) = 0;
  // The slots are one block (buf_block), so that its pages come from the
  // kernel only as datagrams fill them: an idle mailbox's 4 MiB of buffers
  // cost no memory. (A buffer per slot, 64 KiB each, came from the heap,
  // and each one's chunk header cost a page: 256 KiB per idle mailbox.)
  std::unique_ptr<char[]> buf_block MQ_GUARDED_BY(ingest_mu);
  std::vector<char*> bufs MQ_GUARDED_BY(ingest_mu);
  std::vector<sockaddr_un> addrs MQ_GUARDED_BY(ingest_mu);
  std::vector<std::vector<char>> ctrls MQ_GUARDED_BY(ingest_mu);
  std::vector<iovec> iovs MQ_GUARDED_BY(ingest_mu);
  std::vector<mmsghdr> hdrs MQ_GUARDED_BY(ingest_mu);
  std::vector<mmsghdr> discard_hdrs MQ_GUARDED_BY(ingest_mu);  // no buffer, no address, no control: DiscardPeeked
  // Peek, append, discard (an adopted socket, which outlives this process);
  // else read, append (a socket of its own dies with the process: nothing
  // to keep for a next one, and one system call less per batch).
  bool peek_ingest MQ_GUARDED_BY(ingest_mu) = false;
  // SO_PEEK_OFF is on (0 between batches): one recvmmsg peeks several
  // datagrams. Without it (a kernel that refuses it), one per batch.
  bool peek_offset MQ_GUARDED_BY(ingest_mu) = false;
  // Datagrams still to peek one at a time at the head, with the peek offset
  // off (-1): some queued datagrams may have been peeked before and not
  // taken out (by a killed process, or after a batch cut short), and the
  // kernel skips such a datagram of zero length at offset 0, which would
  // shift the discard by one. A peek without offset always returns the head.
  size_t peek_head_only MQ_GUARDED_BY(ingest_mu) = 0;
  bool peek_offset_off MQ_GUARDED_BY(ingest_mu) = false;  // SO_PEEK_OFF is -1 now (peek_head_only)
  std::vector<std::string_view> views MQ_GUARDED_BY(ingest_mu);
  std::vector<PendingReply> replies_scratch MQ_GUARDED_BY(ingest_mu);
  // Packed datagrams (pack_format.h): each slot holds max_message_size plus
  // pack::kOverhead, so one message packed alone fits whenever it would fit
  // unpacked; the answers offer packs of up to 2^pack_log2 bytes (0: none).
  size_t slot_bytes MQ_GUARDED_BY(ingest_mu) = 0;
  uint8_t pack_log2 MQ_GUARDED_BY(ingest_mu) = 0;
  std::vector<std::string_view> unpacked MQ_GUARDED_BY(ingest_mu);  // IngestBatch's scratch
  std::vector<size_t> ok_reply MQ_GUARDED_BY(ingest_mu);            // IngestBatch's scratch

  std::thread ingest_thread;
  std::atomic<bool> stop_ingest{false};
  // A receiver's own read of the socket (one IngestBatch, if no other thread
  // is reading); true if it took any datagram out.
  bool IngestInline() MQ_EXCLUDES(ingest_mu, mu);

  // Receivers wait on `arrived` for `generation` to move.
  Mutex mu;
  CondVar arrived;
  uint64_t generation MQ_GUARDED_BY(mu) = 0;     // bumped by every append and release
  uint64_t release_epoch MQ_GUARDED_BY(mu) = 0;  // bumped by every release (predicate scans restart)
  int waiters MQ_GUARDED_BY(mu) = 0;
  int active MQ_GUARDED_BY(mu) = 0;  // threads inside Find, Ack or Release (Close waits for 0)
  bool closing MQ_GUARDED_BY(mu) = false;
  bool closed MQ_GUARDED_BY(mu) = false;
  Status ingest_error MQ_GUARDED_BY(mu);
  ReadySignal ready_signal;  // Mailbox::ReadyFd; signalled with every wake of `arrived` (ready_signal.h)

  // The confirmer's queue: answers handed over by the ingest thread
  // (QueueReplies), taken by the confirmer thread; `confirm_ready` is
  // notified when one is added or stop_confirmer is set.
  Mutex confirm_mu;
  CondVar confirm_ready;
  std::vector<PendingReply> confirm_queue MQ_GUARDED_BY(confirm_mu);
  bool stop_confirmer MQ_GUARDED_BY(confirm_mu) = false;
  std::thread confirmer_thread;
  // Held by whoever sends the answers (the confirmer thread, the runtime's
  // confirmer, or Close after detaching); guards the outbox.
  Mutex confirm_run_mu MQ_ACQUIRED_BEFORE(confirm_mu);
  std::unique_ptr<ReplyOutbox> outbox MQ_GUARDED_BY(confirm_run_mu);  // made on first use
  uint64_t runtime_id = 0;  // the reactor's registration (runtime.cc)

  // Counters (MailboxStats).
  std::atomic<uint64_t> n_datagrams{0}, n_stored{0}, n_too_large{0}, n_not_admitted{0}, n_store_errors{0},
      n_batches{0}, n_confirmations{0}, n_replies_dropped{0}, n_received{0}, n_spins{0}, n_spin_hits{0};
};

}  // namespace mq
