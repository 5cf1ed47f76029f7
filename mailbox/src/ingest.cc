// The ingest thread: socket -> log (docs/mailbox.md, "Ingest"). It drains
// the socket in batches of up to `slots` datagrams read with one recvmmsg,
// checks each sender and size, appends the admitted ones with one write and
// one index transaction, wakes receivers, and hands the answers for
// confirming senders to the confirmer thread, so it never waits for an
// fdatasync. On an adopted socket, which outlives the process, the read is a
// peek, and the batch is taken out of the socket (a second recvmmsg into no
// buffer) only once it is in the log ("Zero-loss ingest").
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "mailbox_impl.h"
#include "pack_format.h"

namespace mq {
namespace {

std::string_view PathOf(const sockaddr_un& a, socklen_t len) {
  const size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  return std::string_view(a.sun_path, std::min(n, sizeof(a.sun_path)));
}

bool WantsReply(const sockaddr_un& a, socklen_t len) {
  const std::string_view path = PathOf(a, len);
  return path.size() > reply::kAddressPrefix.size() && path.substr(0, reply::kAddressPrefix.size()) == reply::kAddressPrefix;
}

// Reads the sender's credentials. Of the descriptors passed along, keeps the
// first in *passed if `passed` is given (an answer channel: "Answer
// channels" in docs/mailbox.md) and closes every other one (a mailbox
// stores bytes, never descriptors).
bool ReadCredentials(msghdr* h, ucred* cred, int* passed) {
  bool found = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      std::memcpy(cred, CMSG_DATA(c), sizeof(ucred));
      found = true;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (passed != nullptr && *passed < 0) *passed = fd;
        else ::close(fd);
      }
    }
  }
  return found;
}

std::string Describe(const Rejection& r, const std::string& socket_path, uint64_t max) {
  std::string who = r.has_credentials ? "uid " + std::to_string(r.uid) + " pid " + std::to_string(r.pid)
                                      : std::string("a sender without credentials");
  if (r.reason == Rejection::Reason::kMalformedPack)
    return socket_path + ": dropped a datagram of " + std::to_string(r.size) + " bytes from " + who +
           ": its sender is bound under the pack prefix, but it is not a packed datagram (docs/mailbox.md, "
           "\"Packed sends\"); nothing of it was stored and it gets no answer";
  if (r.reason == Rejection::Reason::kTooLarge)
    return socket_path + ": dropped a datagram of " + std::to_string(r.size) + " bytes from " + who +
           ": larger than the mailbox's maximum of " + std::to_string(max) +
           " bytes (raise max_message_size or send smaller messages)";
  return socket_path + ": dropped a datagram of " + std::to_string(r.size) + " bytes from " + who +
         ": that uid is not admitted (add it to admitted_uids to accept it)";
}

// Tells opt.on_reject, if set, of a dropped datagram of `size` bytes and of
// who sent it.
void TellRejected(const MailboxOptions& opt, Rejection r, size_t size, bool has_creds, const ucred& cred) {
  if (!opt.on_reject) return;
  r.size = size;
  r.has_credentials = has_creds;
  r.uid = cred.uid;
  r.gid = cred.gid;
  r.pid = cred.pid;
  r.describe = Describe(r, opt.socket_path, opt.max_message_size);
  opt.on_reject(r);
}

}  // namespace

bool Mailbox::Impl::Admitted(bool has_creds, uid_t uid) const {
  if (opt.admit_any_uid) return true;
  if (!has_creds) return false;
  if (opt.admitted_uids.empty()) return uid == 0 || uid == ::geteuid();
  return std::find(opt.admitted_uids.begin(), opt.admitted_uids.end(), uid) != opt.admitted_uids.end();
}

size_t Mailbox::Impl::IngestBatch() {
  assert(slots >= 1 && hdrs.size() == slots && discard_hdrs.size() == slots && bufs.size() == slots);
  // Head only (peek_head_only): the peek offset off, so that a datagram
  // peeked before is returned, not skipped (mailbox_impl.h).
  const bool head_only = peek_ingest && peek_offset && peek_head_only > 0;
  if (peek_offset && head_only != peek_offset_off) {
    int off = head_only ? -1 : 0;
    (void)::setsockopt(sock.get(), SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
    peek_offset_off = head_only;
  }
  const size_t want = !peek_ingest || (peek_offset && !head_only) ? slots : 1;
  for (size_t i = 0; i < want; ++i)
    unix_socket::PrepareReceive(&hdrs[i], &iovs[i], bufs[i], slot_bytes, &addrs[i], &ctrls[i]);
  // MSG_PEEK (peek_ingest): the datagrams stay in the socket until they are
  // in the log (DiscardPeeked below), so a process killed in between leaves
  // them to the next reader of the socket (a supervisor's socket outlives
  // the process). With SO_PEEK_OFF each entry peeks the datagram after the
  // previous one.
  // MSG_TRUNC: msg_len is a datagram's real length even when it did not fit.
  const int flags = (peek_ingest ? MSG_PEEK : 0) | MSG_TRUNC | MSG_CMSG_CLOEXEC | MSG_DONTWAIT;
  const int got = ::recvmmsg(sock.get(), hdrs.data(), static_cast<unsigned>(want), flags, nullptr);
  if (got <= 0) return 0;
  size_t n = static_cast<size_t>(got);
  // A datagram larger than its buffer is peeked in part and the peek offset
  // moves by the part copied, so the next entry holds the rest of it: the
  // batch ends with it. Each peek installs the descriptors a datagram
  // carries anew: close those of the entries left out. (A plain read takes
  // a datagram whole: nothing to cut.)
  for (size_t i = 0; peek_ingest && i < n; ++i) {
    if ((hdrs[i].msg_hdr.msg_flags & MSG_TRUNC) == 0) continue;
    for (size_t j = i + 1; j < n; ++j) {
      ucred ignored{};
      (void)ReadCredentials(&hdrs[j].msg_hdr, &ignored, nullptr);
    }
    n = i + 1;
    break;
  }

  views.clear();
  replies_scratch.clear();
  size_t taken = 0;
  [[maybe_unused]] size_t packed_views = 0;  // a packed datagram stores up to 64 messages
  ok_reply.clear();  // indexes into replies_scratch awaiting a seq
  for (size_t i = 0; i < n; ++i) {
    msghdr& h = hdrs[i].msg_hdr;
    const size_t len = hdrs[i].msg_len;
    // After shutdown(SHUT_RD) an empty read with no address and no
    // credentials marks the end of what was queued. (A real datagram always
    // has credentials: SO_PASSCRED is on.) Nothing after it is a datagram.
    if (len == 0 && h.msg_namelen == 0 && h.msg_controllen == 0) {
      for (size_t j = i + 1; j < n; ++j) {
        ucred ignored{};
        (void)ReadCredentials(&hdrs[j].msg_hdr, &ignored, nullptr);
      }
      break;
    }
    ++taken;
    n_datagrams.fetch_add(1, std::memory_order_relaxed);
    ucred cred{};
    int channel = -1;
    const bool reply = WantsReply(addrs[i], h.msg_namelen);
    const bool has_creds = ReadCredentials(&h, &cred, reply ? &channel : nullptr);
    Rejection r;
    bool rejected = false;
    const bool admitted = Admitted(has_creds, cred.uid);
    if (admitted && reply && pack::IsPackAddress(PathOf(addrs[i], h.msg_namelen))) {
      const size_t before = views.size();
      TakePacked(i, cred, has_creds, channel);
      packed_views += views.size() - before;
      continue;
    }
    if (!admitted) {
      r.reason = Rejection::Reason::kNotAdmitted;
      rejected = true;
      n_not_admitted.fetch_add(1, std::memory_order_relaxed);
    } else if ((h.msg_flags & MSG_TRUNC) != 0 || len > opt.max_message_size) {
      r.reason = Rejection::Reason::kTooLarge;
      rejected = true;
      n_too_large.fetch_add(1, std::memory_order_relaxed);
    }
    if (rejected && channel >= 0 && r.reason == Rejection::Reason::kNotAdmitted) {
      ::close(channel);  // never answered: no channel kept for it either
      channel = -1;
    }
    if (rejected) {
      TellRejected(opt, r, len, has_creds, cred);
      // Only an admitted sender hears why (kTooLarge): one that is not
      // admitted gets no answer at all, so it can never occupy the send
      // buffer that carries the answers to admitted senders.
      if (reply && r.reason == Rejection::Reason::kTooLarge) {
        PendingReply p{addrs[i], h.msg_namelen, reply::Code::kTooLarge, 0, channel, pack_log2};
        replies_scratch.push_back(p);
      }
      continue;
    }
    if (reply) {
      replies_scratch.push_back(
          PendingReply{addrs[i], h.msg_namelen, reply::Code::kOk, views.size(), channel, pack_log2});
      ok_reply.push_back(replies_scratch.size() - 1);
    }
    views.emplace_back(bufs[i], len);
  }

  // Every stored datagram was taken (one message each, but for packs);
  // nothing past the batch's cut was.
  assert(views.size() - packed_views <= taken && taken <= n && n <= want);
  if (!views.empty()) {
    uint64_t first = 0;
    // Counted before the append makes them receivable, so that Stats never
    // shows more received than stored (taken back if the append fails).
    n_stored.fetch_add(views.size(), std::memory_order_relaxed);
    Status s = store->AppendBatchNoWait(views).MoveTo(&first);
    n_batches.fetch_add(1, std::memory_order_relaxed);
    if (s.ok()) {
      for (size_t k : ok_reply) replies_scratch[k].seq += first;  // index in batch -> seq
    } else {
      n_stored.fetch_sub(views.size(), std::memory_order_relaxed);
      n_store_errors.fetch_add(views.size(), std::memory_order_relaxed);
      for (size_t k : ok_reply) {
        replies_scratch[k].code = reply::Code::kStoreError;
        replies_scratch[k].seq = 0;
      }
      MutexLock g(&mu);
      if (ingest_error.ok())
        ingest_error = s.WithContext(opt.socket_path + ": storing received messages (they are lost; the senders "
                                                       "that asked for confirmation were told)");
    }
  }
  // The batch is in the log (or its append failed and the senders that asked
  // are told): now, and only now, it leaves the socket. A kill before this
  // line leaves the whole batch in the socket, where the next process peeks
  // it again and appends it a second time: at most `taken` duplicates
  // (docs/mailbox.md, "Ingest").
  // (Fewer than `taken` only if another process reads this socket too,
  // which the hand-off contract rules out: one reader at a time.)
  if (peek_ingest) (void)DiscardPeeked(taken);
  // The peek offset is back at 0 when exactly what was peeked was taken out;
  // after a cut-off batch (a truncated datagram, the end mark) set it.
  // The entries after the cut were peeked and are still queued: peek them
  // again one at a time at the head (the offset goes back to 0 after them).
  if (peek_ingest) {
    peek_head_only -= std::min(peek_head_only, taken);
    if (peek_offset && taken != static_cast<size_t>(got)) peek_head_only += static_cast<size_t>(got) - taken;
  }
  if (!views.empty()) Wake();
  if (!replies_scratch.empty()) QueueReplies(&replies_scratch);
  // After the end mark (the socket is shut down and empty): 0.
  return taken == n ? taken : 0;
}

void Mailbox::Impl::TakePacked(size_t i, const ucred& cred, bool has_creds, int channel) {
  const msghdr& h = hdrs[i].msg_hdr;
  const size_t len = hdrs[i].msg_len;
  unpacked.clear();
  // MSG_TRUNC: len is the datagram's real length, even if it was cut short.
  const pack::Unpacked u = pack::Unpack(std::string_view(bufs[i], std::min(len, slot_bytes)), len, &unpacked);
  auto reject = [&](Rejection::Reason why, size_t size) {
    if (why == Rejection::Reason::kTooLarge) n_too_large.fetch_add(1, std::memory_order_relaxed);
    Rejection r;
    r.reason = why;
    TellRejected(opt, r, size, has_creds, cred);
  };
  if (u == pack::Unpacked::kMalformed) {
    // How many messages it meant is unknown, so it cannot be answered in
    // order: no answer, and no channel kept from it.
    reject(Rejection::Reason::kMalformedPack, len);
    if (channel >= 0) ::close(channel);
    return;
  }
  if (u == pack::Unpacked::kOneTooLarge) {
    reject(Rejection::Reason::kTooLarge, len - pack::kOverhead);
    replies_scratch.push_back(PendingReply{addrs[i], h.msg_namelen, reply::Code::kTooLarge, 0, channel, pack_log2});
    return;
  }
  for (std::string_view m : unpacked) {
    // The channel goes with the datagram's first answer. (A pack that holds
    // a message over the maximum and anything else is larger than a slot,
    // so it comes cut short and is malformed; this is for a lone one.)
    if (m.size() > opt.max_message_size) {
      reject(Rejection::Reason::kTooLarge, m.size());
      replies_scratch.push_back(PendingReply{addrs[i], h.msg_namelen, reply::Code::kTooLarge, 0, channel, pack_log2});
    } else {
      replies_scratch.push_back(
          PendingReply{addrs[i], h.msg_namelen, reply::Code::kOk, views.size(), channel, pack_log2});
      ok_reply.push_back(replies_scratch.size() - 1);
      views.push_back(m);
    }
    channel = -1;
  }
}

size_t Mailbox::Impl::DiscardPeeked(size_t n) {
  assert(n <= discard_hdrs.size());
  size_t done = 0;
  while (done < n) {
    // No buffer, no address and no control buffer: the kernel releases the
    // descriptors a datagram carries instead of installing them a second
    // time (the peek installed them once, and ReadCredentials kept or
    // closed those).
    for (size_t i = 0; i < n - done; ++i) discard_hdrs[i] = mmsghdr{};
    const int k = ::recvmmsg(sock.get(), discard_hdrs.data(), static_cast<unsigned>(n - done),
                             MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    done += static_cast<size_t>(k);
  }
  return done;
}

bool Mailbox::Impl::IngestInline() {
  if (!ingest_mu.TryLock()) return false;
  // The socket only under ingest_mu: Close sets inline_ingest_off under it
  // before it closes the socket (a receiver blocked in Receive while the
  // mailbox closes read the descriptor as Close reset it; TSan found it).
  const bool took = !inline_ingest_off && sock.get() >= 0 && IngestBatch() > 0;
  ingest_mu.Unlock();
  return took;
}

void Mailbox::Impl::IngestLoop() {
  // Close wakes the wait with shutdown(SHUT_RD); after that every read
  // returns at once. The wait is a poll, not a blocking read, so that the
  // lock is not held while nothing arrives (a receiver may read meanwhile).
  while (true) {
    const bool stopping = stop_ingest.load();
    if (!stopping) {
      // wake: an adopted socket's Close (it is not shut down); else -1, ignored.
      pollfd p[2] = {{sock.get(), POLLIN, 0}, {wake.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) ::usleep(1000);
    }
    size_t n = 0;
    {
      MutexLock g(&ingest_mu);
      n = IngestBatch();
    }
    if (n == 0) {
      if (stopping) break;
      // An error or an interrupted read: look again (a blocked read returns
      // at once after shutdown).
      if (stop_ingest.load()) continue;
      if (errno != EINTR && errno != EAGAIN && errno != 0) {
        // Unexpected; don't spin.
        ::usleep(1000);
      }
    }
  }
}

}  // namespace mq
