// Opening and closing a mailbox: the store first (its writer lock decides
// who owns the queue), then the socket (docs/mailbox.md, "The socket").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "mailbox_impl.h"
#include "pack_format.h"
#include "runtime_impl.h"
#include "socket_handoff.h"

namespace mq {
namespace {

// Largest receive buffers kept for one batch; fewer slots for large maxima.
constexpr uint64_t kMaxBatchBufferBytes = 8u << 20;
// Largest maximum a mailbox accepts. Far above what the kernel lets one Unix
// datagram be without SO_SNDBUFFORCE (about 2 x wmem_max).
constexpr uint64_t kMaxMessageSize = 64u << 20;

Status CheckOptions(const MailboxOptions& o) {
  if (o.queue_path.empty()) return Status::InvalidArgument("mailbox: queue_path is empty");
  if (o.max_message_size == 0 || o.max_message_size > kMaxMessageSize)
    return Status::InvalidArgument("mailbox: max_message_size " + std::to_string(o.max_message_size) +
                                   " is not between 1 and " + std::to_string(kMaxMessageSize) + " (64 MiB)");
  if (o.ingest_batch == 0 || o.ingest_batch > 1024)
    return Status::InvalidArgument("mailbox: ingest_batch " + std::to_string(o.ingest_batch) +
                                   " is not between 1 and 1024");
  if ((o.socket_mode & ~07777u) != 0)
    return Status::InvalidArgument("mailbox: socket_mode " + std::to_string(o.socket_mode) + " is not a mode");
  return Status::OK();
}

}  // namespace

Status Mailbox::Impl::OpenStore() {
  StoreOptions so = opt.store;
  if (so.max_message_size < opt.max_message_size) so.max_message_size = opt.max_message_size;
  // On a runtime, the store's background jobs run on its store threads.
  if (opt.runtime && !so.threads) so.threads = opt.runtime->store_threads();
  return Store::Open(opt.queue_path, so).MoveTo(&store);
}

// Looks at what is at opt.socket_path without changing it: nothing (OK),
// a stale socket file nobody is bound to (OK, *stale), a live mailbox or
// something that is not a socket (an error).
Status Mailbox::Impl::ProbeSocketPath(bool* stale) {
  const std::string& path = opt.socket_path;
  *stale = false;
  sockaddr_un addr;
  socklen_t len = 0;
  MQ_RETURN_IF_ERROR(unix_socket::MakeAddress(path, &addr, &len));
  if (path[0] == '\0') return Status::InvalidArgument("mailbox: the socket path must be a file path, not abstract");
  // bind() (and replacing a stale file) needs write and search permission on
  // the directory: refuse now, before the store creates anything.
  auto dir_usable = [&]() -> Status {
    const std::string dir = DirName(path);
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) == 0) return Status::OK();
    const int err = errno;
    return Status::IOError(path + ": cannot create the mailbox socket in " + dir, err,
                           err == ENOENT || err == ENOTDIR
                               ? "create that directory first, or choose another socket path"
                               : "run as a user who may write there, or choose another socket path");
  };
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return dir_usable();
    return Status::FromErrno(path + ": lstat");
  }
  if (!S_ISSOCK(st.st_mode))
    return Status::InvalidArgument(path + ": exists and is not a socket; it is left alone. Remove it yourself or "
                                          "choose another socket path");
  unix_socket::Fd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) return Status::FromErrno("mailbox: socket()");
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0)
    return Status::IOError(path + ": another mailbox is bound to this socket and running; stop it first or "
                                  "choose another socket path",
                           EADDRINUSE);
  if (errno != ECONNREFUSED) return Status::FromErrno(path + ": cannot tell whether the socket file there is in use");
  *stale = true;
  return dir_usable();
}

// Binds the socket at opt.socket_path. A stale socket file (nobody bound)
// is replaced; a live one or anything that is not a socket is an error and
// is left alone.
Status Mailbox::Impl::BindSocket() {
  const std::string& path = opt.socket_path;
  sockaddr_un addr;
  socklen_t len = 0;
  MQ_RETURN_IF_ERROR(unix_socket::MakeAddress(path, &addr, &len));
  if (opt.inherit_socket >= 0) return AdoptSocket();
  bool stale = false;
  MQ_RETURN_IF_ERROR(ProbeSocketPath(&stale));
  // A socket file left by a mailbox that died: replace it.
  if (stale && ::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Status::FromErrno(path + ": removing the stale socket file");

  unix_socket::Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Status::FromErrno("mailbox: socket()");
  // Before bind: a sender waiting for the path (ConfirmedSender's
  // connect_retry) may send the instant it appears, and a datagram sent
  // before SO_PASSCRED is on carries no credentials, so it would be refused.
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
    return Status::FromErrno(path + ": SO_PASSCRED");
  int rcv = opt.receive_buffer_bytes;
  if (rcv > 0) (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  // Answers to confirming senders are charged to this socket's send buffer.
  int snd = 4 << 20;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
  // The file appears at the path with exactly socket_mode: set on the
  // socket before bind, bound with a umask of 0 (never chmod by path after
  // bind: a window with the umask's mode, and chmod follows symlinks).
  const char* step = "";
  const int berr = unix_socket::BindWithMode(fd.get(), addr, len, opt.socket_mode, &step);
  if (berr == EADDRINUSE)
    return Status::IOError(path + ": another process bound this socket path just now; stop it or choose "
                                 "another socket path",
                           EADDRINUSE);
  auto fail = [&](const std::string& what, int err) {
    Status s = Status::IOError(path + ": " + what, err);
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    return s;
  };
  if (berr != 0) {
    if (std::strcmp(step, "binding the mailbox socket") == 0)
      return Status::IOError(path + ": " + step, berr);
    return fail(step, berr);
  }
  if (!unix_socket::SocketIdentity(path, &sock_dev, &sock_ino)) return fail("stat of the socket just bound", errno);
  sock = std::move(fd);
  return PrepareBuffers();
}

Status Mailbox::Impl::PrepareBuffers() {
  // Before the threads start; the lock is for the checker (and costs once).
  MutexLock g(&ingest_mu);
  // Receive buffers: each holds a datagram of exactly max_message_size (or
  // one such message packed alone: pack_format.h); a larger one comes back
  // with MSG_TRUNC and its real length.
  slot_bytes = opt.max_message_size + pack::kOverhead;
  pack_log2 = 0;
  while (pack_log2 < reply::kMaxPackLog2 && (uint64_t{2} << pack_log2) <= opt.max_message_size) ++pack_log2;
  if (pack_log2 < reply::kMinPackLog2) pack_log2 = 0;
  slots = static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(opt.ingest_batch,
                                                                        kMaxBatchBufferBytes / slot_bytes)));
  assert(slots >= 1 && slots <= opt.ingest_batch && sock.get() >= 0);
  // Not zero-filled: pages are touched only as large datagrams arrive.
  buf_block.reset(new char[slots * slot_bytes]);
  bufs.clear();
  for (size_t i = 0; i < slots; ++i) bufs.push_back(buf_block.get() + i * slot_bytes);
  addrs.resize(slots);
  // Credentials, and room for an answer channel's descriptor (more are
  // cut off: the kernel closes those).
  ctrls.assign(slots, std::vector<char>(CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int))));
  iovs.resize(slots);
  hdrs.resize(slots);
  discard_hdrs.resize(slots);
  // An adopted socket outlives this process: peek, append, discard. Peek
  // offset 0: where a process killed mid-batch left it means nothing here
  // (the offset belongs to the socket).
  peek_ingest = adopted;
  int zero = 0;
  peek_offset = peek_ingest && ::setsockopt(sock.get(), SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) == 0;
  // What the previous process peeked and did not take out is at most one
  // batch: at most what the socket queues (net.unix.max_dgram_qlen + 1).
  if (peek_ingest) peek_head_only = std::max<size_t>(slots, unix_socket::MaxQueuedDatagrams());
  views.reserve(slots);
  replies_scratch.reserve(slots);
  return Status::OK();
}

Status Mailbox::Impl::StartThreads() {
  if (sock.get() < 0) return Status::OK();
  if (Runtime::Impl* rt = runtime()) {
    // No thread of its own: the runtime's reactor and confirmer serve it.
    rt->AttachConfirm(this);
    Status s = rt->AttachIngest(this, &runtime_id);
    if (!s.ok()) rt->DetachConfirm(this);
    return s;
  }
  confirmer_thread = std::thread([this] { ConfirmerLoop(); });
  ingest_thread = std::thread([this] { IngestLoop(); });
  return Status::OK();
}

Status Mailbox::Impl::CloseAll() {
  {
    MutexLock g(&mu);
    if (closing) {
      // Another thread is closing: return once it is done.
      while (!closed) arrived.Wait(&mu);
      return Status::OK();
    }
    closing = true;
  }
  arrived.NotifyAll();
  ready_signal.Signal();
  if (sock.get() >= 0) {
    // No new sender finds the path; senders already connected get EPIPE.
    uint64_t dev = 0, ino = 0;
    if (!adopted && unix_socket::SocketIdentity(opt.socket_path, &dev, &ino) && dev == sock_dev && ino == sock_ino)
      ::unlink(opt.socket_path.c_str());
    stop_ingest.store(true);
    Runtime::Impl* const rt = runtime();
    // Wakes the ingest thread; it stores what is queued.
    if (rt != nullptr) {
      // Shared runtime: once the reactor lets go of the socket, this thread
      // stores what is queued, as the ingest thread would (IngestLoop).
      if (!adopted) ::shutdown(sock.get(), SHUT_RD);
      rt->DetachIngest(runtime_id);
      MutexLock g(&ingest_mu);
      while (IngestBatch() > 0) {
      }
    } else if (adopted) {
      const uint64_t one = 1;
      (void)!::write(wake.get(), &one, sizeof(one));
    } else {
      ::shutdown(sock.get(), SHUT_RD);
    }
    if (ingest_thread.joinable()) ingest_thread.join();
    assert(!ingest_thread.joinable());
    {
      // A receiver reading the socket itself finishes first; none starts after.
      MutexLock g(&ingest_mu);
      inline_ingest_off = true;
    }
    {
      MutexLock g(&confirm_mu);
      stop_confirmer = true;
    }
    confirm_ready.NotifyAll();
    if (confirmer_thread.joinable()) confirmer_thread.join();
    if (rt != nullptr) {
      // The runtime's confirmer lets go; this thread sends what is left.
      rt->DetachConfirm(this);
      ConfirmerLoop();
    }
    {
      MutexLock g(&confirm_run_mu);
      outbox.reset();
    }
    sock.Reset();
  }
  Status s;
  {
    MutexLock g(&mu);
    while (active != 0) arrived.Wait(&mu);
    // No receiver is inside the store, and none can enter: `closing` is set.
    assert(closing && active == 0);
  }
  if (store) s = store->Close();
  {
    MutexLock g(&mu);
    closed = true;
  }
  arrived.NotifyAll();
  return s;
}

Result<std::unique_ptr<Mailbox>> Mailbox::Open(const MailboxOptions& options) {
  MQ_RETURN_IF_ERROR(CheckOptions(options));
  auto impl = std::make_unique<Impl>(options);
  if (options.inherit_socket >= 0) {
    MQ_RETURN_IF_ERROR(socket_handoff::CheckInherited(options.inherit_socket, options.socket_path));
  } else if (!options.socket_path.empty()) {
    // Refuse a bad socket path before the store creates anything.
    bool stale = false;
    MQ_RETURN_IF_ERROR(impl->ProbeSocketPath(&stale));
  }
  MQ_RETURN_IF_ERROR(impl->OpenStore());
  if (!options.socket_path.empty()) {
    Status s = impl->BindSocket();
    if (!s.ok()) {
      (void)impl->store->Close();
      return s;
    }
  }
  Status started = impl->StartThreads();
  if (!started.ok()) {
    // Leaves no socket file behind (an adopted one stays its owner's).
    uint64_t dev = 0, ino = 0;
    if (!impl->adopted && unix_socket::SocketIdentity(options.socket_path, &dev, &ino) && dev == impl->sock_dev &&
        ino == impl->sock_ino)
      ::unlink(options.socket_path.c_str());
    (void)impl->store->Close();
    return started;
  }
  return std::unique_ptr<Mailbox>(new Mailbox(std::move(impl)));
}

Mailbox::Mailbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Mailbox::~Mailbox() { (void)Close(); }

Status Mailbox::Close() { return impl_->CloseAll(); }

MailboxStats Mailbox::Stats() {
  MailboxStats st;
  st.received = impl_->n_received.load();  // before stored: received <= stored
  st.datagrams = impl_->n_datagrams.load();
  st.stored = impl_->n_stored.load();
  st.rejected_too_large = impl_->n_too_large.load();
  st.rejected_not_admitted = impl_->n_not_admitted.load();
  st.store_errors = impl_->n_store_errors.load();
  st.batches = impl_->n_batches.load();
  st.confirmations = impl_->n_confirmations.load();
  st.replies_dropped = impl_->n_replies_dropped.load();
  st.spins = impl_->n_spins.load();
  st.spin_hits = impl_->n_spin_hits.load();
  MutexLock g(&impl_->mu);
  if (!impl_->closing) st.store = impl_->store->Stats();
  return st;
}

Status Mailbox::ingest_status() {
  MutexLock g(&impl_->mu);
  return impl_->ingest_error;
}

Store* Mailbox::store() { return impl_->store.get(); }
const MailboxOptions& Mailbox::options() const { return impl_->opt; }

}  // namespace mq
