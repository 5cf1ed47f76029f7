// The confirmer thread: answers confirming senders once their messages are
// durable (docs/mailbox.md, "Confirmations"). It waits with
// Store::WaitDurable while the ingest thread keeps appending, so under
// sync=always one fdatasync covers every message that arrived while the
// previous one ran (group commit). Answers leave in arrival order, so each
// sender's i-th answer is about its i-th message.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>

#include "mailbox_impl.h"

namespace mq {
namespace {
// How long one answer may wait for room in the socket's send buffer before
// it is dropped (the sender then times out).
constexpr int kReplyWaitMillis = 50;
constexpr size_t kSendBatch = 64;
}  // namespace

void Mailbox::Impl::QueueReplies(std::vector<PendingReply>* replies) {
  {
    std::lock_guard<std::mutex> g(cmu);
    cqueue.insert(cqueue.end(), replies->begin(), replies->end());
  }
  replies->clear();
  cready.notify_one();
}

void Mailbox::Impl::ConfirmerLoop() {
  std::vector<PendingReply> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> g(cmu);
      cready.wait(g, [&] { return !cqueue.empty() || stop_confirmer; });
      if (cqueue.empty()) return;  // stopping, and nothing left to answer
      batch.swap(cqueue);
    }
    uint64_t max_seq = 0;
    for (const PendingReply& r : batch)
      if (r.code == reply::Code::kOk) max_seq = std::max(max_seq, r.seq);
    if (max_seq != 0) {
      Status s = store->WaitDurable(max_seq);
      if (!s.ok()) {
        for (PendingReply& r : batch)
          if (r.code == reply::Code::kOk) r.code = reply::Code::kStoreError;
      }
    }
    SendReplies(&batch);
    batch.clear();
  }
}

void Mailbox::Impl::SendReplies(std::vector<PendingReply>* replies) {
  std::vector<PendingReply>& rs = *replies;
  std::vector<std::array<char, reply::kSize>> bytes(std::min(rs.size(), kSendBatch));
  std::vector<iovec> iov(bytes.size());
  std::vector<mmsghdr> hdr(bytes.size());
  size_t i = 0;
  while (i < rs.size()) {
    const size_t n = std::min(rs.size() - i, kSendBatch);
    for (size_t k = 0; k < n; ++k) {
      PendingReply& r = rs[i + k];
      reply::Encode(r.code, r.code == reply::Code::kOk ? r.seq : 0, bytes[k].data());
      iov[k] = iovec{bytes[k].data(), reply::kSize};
      hdr[k] = mmsghdr{};
      hdr[k].msg_hdr.msg_name = &r.addr;
      hdr[k].msg_hdr.msg_namelen = r.addr_len;
      hdr[k].msg_hdr.msg_iov = &iov[k];
      hdr[k].msg_hdr.msg_iovlen = 1;
    }
    int sent = ::sendmmsg(sock.get(), hdr.data(), static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      n_confirmations.fetch_add(static_cast<uint64_t>(sent), std::memory_order_relaxed);
      i += static_cast<size_t>(sent);
      continue;
    }
    // rs[i] failed. A full send buffer gets a short wait; a sender that went
    // away (its reply socket closed) simply gets nothing.
    if (errno == EAGAIN || errno == ENOBUFS) {
      pollfd p{sock.get(), POLLOUT, 0};
      if (::poll(&p, 1, kReplyWaitMillis) > 0) {
        if (::sendto(sock.get(), iov[0].iov_base, reply::kSize, MSG_DONTWAIT | MSG_NOSIGNAL,
                     reinterpret_cast<sockaddr*>(&rs[i].addr), rs[i].addr_len) == static_cast<ssize_t>(reply::kSize)) {
          n_confirmations.fetch_add(1, std::memory_order_relaxed);
          ++i;
          continue;
        }
      }
    }
    n_replies_dropped.fetch_add(1, std::memory_order_relaxed);
    ++i;
  }
}

}  // namespace mq
