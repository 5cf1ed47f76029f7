#include "reply_outbox.h"

#include <cerrno>

#include <array>

namespace mq {
namespace {
constexpr size_t kSendBatch = 64;
}  // namespace

int ReplyOutbox::TrySend(const PendingReply& r) {
  char b[reply::kSize];
  reply::Encode(r.code, r.code == reply::Code::kOk ? r.seq : 0, b);
  while (true) {
    ssize_t n = ::sendto(fd_, b, sizeof(b), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&r.addr), r.addr_len);
    if (n == static_cast<ssize_t>(sizeof(b))) return 1;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) return 0;
    return -1;  // the reply socket is gone (ECONNREFUSED, ENOENT, ...)
  }
}

void ReplyOutbox::Park(std::string key, const PendingReply& r) {
  auto [it, fresh] = backlog_.try_emplace(std::move(key));
  if (fresh) it->second.since = Clock::now();
  it->second.replies.push_back(r);
  if (it->second.replies.size() > kMaxBacklog) Close(it->first, it->second.replies.size());
}

void ReplyOutbox::Close(std::string key, size_t n) {
  dropped_->fetch_add(n, std::memory_order_relaxed);
  backlog_.erase(key);
  if (closed_.insert(key).second) {
    closed_order_.push_back(key);
    if (closed_order_.size() > kMaxClosed) {
      closed_.erase(closed_order_.front());
      closed_order_.pop_front();
    }
  }
}

void ReplyOutbox::Send(const std::vector<PendingReply>& rs) {
  std::array<std::array<char, reply::kSize>, kSendBatch> bytes;
  std::array<iovec, kSendBatch> iov;
  std::array<mmsghdr, kSendBatch> hdr;
  std::array<size_t, kSendBatch> which;
  size_t i = 0;
  while (i < rs.size()) {
    // Gather the next run of answers to addresses without a backlog; one to
    // an address with a backlog (or closed) ends the run, and is handled
    // alone when it comes first.
    size_t n = 0;
    size_t j = i;
    for (; j < rs.size() && n < kSendBatch; ++j) {
      const PendingReply& r = rs[j];
      if (!backlog_.empty() || !closed_.empty()) {
        std::string key = AddrKey(r);
        const bool closed = closed_.count(key) != 0;
        if (closed || backlog_.count(key) != 0) {
          if (n > 0) break;
          if (closed) {
            dropped_->fetch_add(1, std::memory_order_relaxed);
          } else {
            Park(std::move(key), r);
          }
          ++i;
          continue;
        }
      }
      reply::Encode(r.code, r.code == reply::Code::kOk ? r.seq : 0, bytes[n].data());
      iov[n] = iovec{bytes[n].data(), reply::kSize};
      hdr[n] = mmsghdr{};
      hdr[n].msg_hdr.msg_name = const_cast<sockaddr_un*>(&r.addr);
      hdr[n].msg_hdr.msg_namelen = r.addr_len;
      hdr[n].msg_hdr.msg_iov = &iov[n];
      hdr[n].msg_hdr.msg_iovlen = 1;
      which[n++] = j;
      // Two answers to one address in one sendmmsg are fine: the call stops
      // at the first failure, and what follows it is gathered again.
    }
    if (n == 0) continue;
    int sent = ::sendmmsg(fd_, hdr.data(), static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent == static_cast<int>(n)) {
      sent_->fetch_add(n, std::memory_order_relaxed);
      i = j;
      continue;
    }
    if (sent > 0) {
      // A partial send leaves errno unset: resume at the first unsent answer,
      // whose own failure the next call reports.
      sent_->fetch_add(static_cast<uint64_t>(sent), std::memory_order_relaxed);
      i = which[static_cast<size_t>(sent)];
      continue;
    }
    const int err = errno;
    const PendingReply& failed = rs[which[0]];
    if (err == EAGAIN || err == ENOBUFS) {
      Park(AddrKey(failed), failed);
    } else {
      Close(AddrKey(failed), 1);
    }
    i = which[0] + 1;  // answers after the failed one are gathered again
  }
}

void ReplyOutbox::Retry(bool final) {
  const Clock::time_point now = Clock::now();
  for (auto it = backlog_.begin(); it != backlog_.end();) {
    Backlog& b = it->second;
    int r = 1;
    while (!b.replies.empty() && (r = TrySend(b.replies.front())) == 1) {
      b.replies.pop_front();
      b.since = now;
      sent_->fetch_add(1, std::memory_order_relaxed);
    }
    auto next = std::next(it);
    if (b.replies.empty()) {
      backlog_.erase(it);
    } else if (r < 0 || final || now - b.since >= give_up_) {
      Close(it->first, b.replies.size());
    }
    it = next;
  }
}

}  // namespace mq
