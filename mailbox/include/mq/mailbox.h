// mq::Mailbox: an actor's durable mailbox (docs/mailbox.md).
//
// A mailbox owns a Unix datagram socket at a path and a Store (queue file +
// index, mq/store.h). An ingest thread drains the socket eagerly in bounded
// batches and appends every admitted datagram to the log, with one write and
// one index transaction per batch, before anything can receive it. The actor
// then receives selectively, Erlang style:
//
//   mq::MailboxOptions o;
//   o.socket_path = "/run/me/actor.sock";
//   o.queue_path = "/var/lib/me/actor.q";
//   mq::Result<std::unique_ptr<mq::Mailbox>> opened = mq::Mailbox::Open(o);
//   if (!opened.ok()) ...  // opened.status() says why
//   std::unique_ptr<mq::Mailbox> mb = *std::move(opened);
//   mq::Message m;
//   mq::Status s = mb->Receive(mq::Pattern::Prefix("a"), std::chrono::seconds(5), &m);
//
// Errors: every call returns a Status or a Result<T> (mq/status.h, which
// says which); nothing throws.
// Threads: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mq/key_extractor.h"
#include "mq/pattern.h"
#include "mq/status.h"
#include "mq/store.h"

namespace mq {

class Runtime;  // mq/runtime.h

// A datagram the mailbox refused (it is never stored).
struct Rejection {
  // kMalformedPack: from a sender bound under the pack prefix, not a valid
  // packed datagram (docs/mailbox.md, "Packed sends"); size is the datagram's.
  enum class Reason { kTooLarge, kNotAdmitted, kMalformedPack };
  Reason reason = Reason::kTooLarge;
  uint64_t size = 0;    // the datagram's real size in bytes
  uid_t uid = 0;        // the sender's credentials (SCM_CREDENTIALS)
  gid_t gid = 0;
  pid_t pid = 0;
  bool has_credentials = false;
  std::string describe;  // one line for a log: what, who, and what to do
};

struct MailboxOptions {
  // Where the socket is bound. Empty: no socket, the mailbox serves only what
  // the queue already holds (mqtool recv without --socket).
  std::string socket_path;
  std::string queue_path;  // the log; its index is <queue>.idx
  // The sync policy, its batch interval and the key extractor (which enables
  // Pattern::Key) are the store's: store.sync, store.batch_interval,
  // store.key (below).

  // Socket hand-off (docs/supervision.md): a descriptor, passed by the
  // process's parent (a supervisor such as mqsup), of a socket already bound
  // at socket_path. -1: bind socket_path here. Open checks that it is an
  // AF_UNIX datagram socket bound to exactly socket_path and not connected,
  // then takes the descriptor (closes it on Close, and marks it close-on-exec).
  // An adopted socket's file is never unlinked (its owner keeps it), and
  // Close leaves the socket open for its owner: what arrives after Close
  // waits in the kernel for the next process. The ingest on an adopted
  // socket peeks, appends, then takes the datagrams out, so none is lost
  // when this process is killed; a kill between the append and the discard
  // stores that batch twice (at most ingest_batch datagrams: docs/mailbox.md,
  // "Zero-loss ingest"). InheritSocketFromEnvironment fills it from
  // MQ_SOCKET_FD and MQ_SOCKET.
  int inherit_socket = -1;

  // Mode bits of the socket file, which it has from the instant it appears
  // (set on the socket before bind, bound with a umask of 0; never a chmod
  // by path). Writing to the socket needs write permission on it.
  mode_t socket_mode = 0600;
  // Senders admitted by uid (from SCM_CREDENTIALS). Empty: this process's
  // effective uid and root. Others are dropped, counted and reported, and
  // never answered (a confirming sender of another uid times out).
  std::vector<uid_t> admitted_uids;
  bool admit_any_uid = false;

  // Larger datagrams are rejected (never stored truncated). At most 64 MiB;
  // the kernel's own limit for a Unix datagram is about twice
  // /proc/sys/net/core/wmem_max.
  uint64_t max_message_size = 64 * 1024;
  // Datagrams read with one recvmmsg and appended with one write, at most
  // (fewer when max_message_size is large: the buffers stay under 8 MiB).
  size_t ingest_batch = 64;
  // SO_RCVBUF asked for on the socket (the kernel caps it at rmem_max).
  int receive_buffer_bytes = 4 << 20;
  // Adaptive spinning, opt-in (docs/mailbox.md, "Spinning receivers"): a
  // Receive or Take that finds nothing keeps looking for up to this long
  // before it sleeps, reading the socket itself without blocking (when no
  // other thread is reading it). Under steady traffic the receiver then
  // takes the next message without a sleep and a wake-up, at the price of a
  // core busy while it spins. Once per call: after a spin that found
  // nothing, the call sleeps as usual. 0 (the default): sleep at once.
  std::chrono::microseconds receive_spin{0};

  // Holds confirmations back (mqbridge's confirm = "upstream"): called by
  // the confirmer once a batch of answers is durable, with the highest seq
  // it answers as stored; the answers leave when it returns. True: they say
  // "stored"; false: "store error" (not durable as the caller requires). It
  // may block (with a runtime, every mailbox of that runtime waits too) and
  // must return when the mailbox is closed. Empty (the default): answers
  // leave once durable.
  std::function<bool(uint64_t seq)> before_confirm;

  // Called on the ingest thread for every refused datagram; keep it short.
  // (With a runtime, on its reactor thread: a slow callback delays every
  // mailbox of that runtime.)
  std::function<void(const Rejection&)> on_reject;

  // A shared runtime (mq/runtime.h): the mailbox has no thread of its own;
  // the runtime's reactor reads its socket, its confirmer answers its
  // confirming senders, and its store threads serve the store (unless
  // store.threads names others). Null (the default): an ingest thread and a
  // confirmer thread of its own. The mailbox holds a reference to it.
  std::shared_ptr<Runtime> runtime;

  // The store behind the mailbox: sync policy (store.sync, kBatch by
  // default) and store.batch_interval, the key extractor (store.key), recovery
  // mode, compaction, file mode, env, reporter. Used as given, except that
  // its max_message_size is raised to max_message_size if lower.
  StoreOptions store;
};

struct MailboxStats {
  uint64_t datagrams = 0;          // read from the socket
  uint64_t stored = 0;             // appended to the log
  uint64_t rejected_too_large = 0;
  uint64_t rejected_not_admitted = 0;
  uint64_t store_errors = 0;       // datagrams lost because an append failed
  uint64_t batches = 0;            // appends (one write + one index transaction each)
  uint64_t confirmations = 0;      // answers sent to confirming senders
  uint64_t replies_dropped = 0;    // answers that could not be delivered
  uint64_t received = 0;           // messages returned by Receive/Take
  uint64_t spins = 0;              // receive_spin: calls that found nothing and spun
  uint64_t spin_hits = 0;          // ... and saw a message arrive before the spin ended
  StoreStats store;
};

// The socket hand-off contract (docs/supervision.md). With MQ_SOCKET_FD=<n>
// and MQ_SOCKET=<path> in the environment, sets o->inherit_socket = n if
// o->socket_path is empty (it becomes <path>) or is exactly <path>; with
// another socket_path, nothing is adopted. An empty o->queue_path is filled
// from MQ_QUEUE. Without MQ_SOCKET_FD it changes nothing. Errors
// (kInvalidArgument, naming the variable and value): MQ_SOCKET_FD is not a
// decimal descriptor number, or MQ_SOCKET is missing or empty. The checks of
// the descriptor itself are Mailbox::Open's.
Status InheritSocketFromEnvironment(MailboxOptions* o);

class Mailbox {
 public:
  using Timeout = std::chrono::milliseconds;
  static constexpr Timeout kPoll = Timeout::zero();
  static constexpr Timeout kForever = Timeout::max();

  // Opens the queue (taking its writer lock), then binds the socket. A stale
  // socket file at the path (nobody bound: connect gets ECONNREFUSED) is
  // replaced. Errors: kBusy (another process has the queue: its pid is
  // named), kIOError with EADDRINUSE (a live mailbox is bound at the path),
  // kInvalidArgument (the path exists and is not a socket: it is left alone;
  // or a bad option), and the Store::Open errors. A failed open leaves no
  // socket behind. With options.inherit_socket, a descriptor that is not
  // open, not an AF_UNIX datagram socket, bound elsewhere or connected is
  // kInvalidArgument naming it, and is left open and untouched.
  static Result<std::unique_ptr<Mailbox>> Open(const MailboxOptions& options);

  ~Mailbox();  // Close(), ignoring its status
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Unlinks the socket file, stores what is left in the socket buffer,
  // answers pending confirmations, closes the store. An adopted socket
  // (inherit_socket) is neither unlinked nor shut down: what is queued now is
  // stored, what arrives later waits for the socket's next user. Receivers
  // blocked in Receive/Take return kClosed.
  Status Close();

  // Selective receive, auto-consume: the oldest pending message matching
  // `pattern` is consumed (durably before return under SyncPolicy::kAlways)
  // and returned. Messages that do not match stay, in order. Waits up to
  // `timeout` (kPoll: don't wait; kForever: no limit) for one to arrive.
  // Errors: kTimedOut, kInvalidArgument (a key pattern without key
  // extractor, or a predicate pattern without a callable: at once, not after
  // the timeout), kClosed (the mailbox was closed, also for a receiver
  // waiting when Close is called; Take, Ack and Release too), store errors.
  Status Receive(const Pattern& pattern, Timeout timeout, Message* out);

  // Take + ack (at-least-once): as Receive, but the message only becomes
  // invisible here until Ack consumes it or Release puts it back. If the
  // process ends before Ack, it is delivered again after a restart.
  Status Take(const Pattern& pattern, Timeout timeout, Message* out);

  // Where a scan by predicate or prefix got to, kept by a caller that looks
  // again with the same pattern (a receive that waits in slices, a batch of
  // receives): the next look checks only messages newer than those this
  // cursor already found not to match, or took; after any Release on this
  // mailbox (the released message may be older) it starts again from the
  // oldest. So a predicate sees each pending message once per cursor. Begin
  // with a value-initialised cursor; one cursor per pattern; not for use by
  // two threads at once. Key and ANY patterns ignore it.
  struct ScanCursor {
    uint64_t scanned_to = 0;     // every visible message up to here was checked
    uint64_t release_epoch = 0;  // the mailbox's count of releases when it began
    bool started = false;
  };
  Status Receive(const Pattern& pattern, Timeout timeout, Message* out, ScanCursor* cursor);
  Status Take(const Pattern& pattern, Timeout timeout, Message* out, ScanCursor* cursor);
  Status Ack(uint64_t seq);
  // Ack of each seq in order with one sync for all of them under
  // sync=always, where Ack syncs each (Store::ConsumeBatch): take a batch,
  // handle it, acknowledge it at once. Stops at the first error; *done (if
  // given) gets how many were acknowledged.
  Status AckBatch(std::span<const uint64_t> seqs, size_t* done = nullptr);
  Status Release(uint64_t seq);

  // A descriptor for an event loop (poll, epoll, Python's selectors and
  // asyncio; docs/mailbox.md "Waiting in an event loop"): an eventfd, made
  // by the first call, owned by the mailbox and closed by its destructor
  // (not by Close, so a loop never watches a reused number). It becomes
  // readable after every change a receiver may be waiting for: messages
  // appended, a message released, the ingest thread failing, the mailbox
  // closing. It is a hint: Receive and Take never read it. The protocol:
  // read it (8 bytes, non-blocking) to drain it, then look with
  // Receive/Take(kPoll) until a look finds nothing, then wait for it to be
  // readable again. Every change made after the drain makes it readable
  // again, and a look after the drain sees every change before it, so no
  // wakeup is lost. It starts readable (changes before the first call were
  // not signalled, so the first wait returns and the reader looks). One
  // consumer: several threads that drain it may take each other's wakeups.
  // Errors: kClosed, kIOError.
  Result<int> ReadyFd();

  MailboxStats Stats();
  // The sticky error of the ingest thread (e.g. an append failed), or OK.
  Status ingest_status();
  Store* store();
  const MailboxOptions& options() const;

  class Impl;

 private:
  explicit Mailbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mq
