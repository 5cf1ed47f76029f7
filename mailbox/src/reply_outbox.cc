#include "reply_outbox.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include <algorithm>
#include <array>

namespace mq {
namespace {

bool SameAddress(const PendingReply& a, const PendingReply& b) {
  return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}

// Encodes rs[0..n) back to back into out.
void EncodeRun(const PendingReply* rs, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i)
    reply::Encode(rs[i].code, rs[i].code == reply::Code::kOk ? rs[i].seq : 0, out + i * reply::kSize,
                  rs[i].pack_log2);
}
}  // namespace

ReplyOutbox::ReplyOutbox(int fd, std::atomic<uint64_t>* sent, std::atomic<uint64_t>* dropped,
                         Clock::duration give_up)
    : fd_(fd), give_up_(give_up), sent_(sent), dropped_(dropped) {
  // A quarter of the descriptors at most: the mailbox needs its own too.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
    max_channels_ = std::clamp<size_t>(static_cast<size_t>(nofile.rlim_cur / 4), 16, kMaxChannels);
}

ReplyOutbox::~ReplyOutbox() {
  for (auto& [key, c] : channels_) ::close(c.fd);
}

bool ReplyOutbox::ChannelAddress(const PendingReply& r) {
  const size_t head = offsetof(sockaddr_un, sun_path);
  if (r.addr_len <= head) return false;
  return reply::IsChannelAddress(std::string_view(r.addr.sun_path, r.addr_len - head));
}

void ReplyOutbox::Install(const PendingReply& r) {
  const int fd = r.channel;
  // One end of a socketpair of datagram sockets, and nothing else: a socket
  // connected to a named socket would let a sender aim answers elsewhere.
  int domain = 0, type = 0;
  socklen_t len = sizeof(int);
  sockaddr_un peer{};
  socklen_t peer_len = sizeof(peer);
  const bool ok = ChannelAddress(r) && ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
                  domain == AF_UNIX && (len = sizeof(int), ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) &&
                  type == SOCK_DGRAM && ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0 &&
                  peer_len == sizeof(sa_family_t);  // an unnamed peer: the other end of a socketpair
  std::string key = AddrKey(r);
  if (!ok || closed_.count(key) != 0) {
    ::close(fd);
    return;
  }
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kChannelBuffer, sizeof(kChannelBuffer));
  auto it = channels_.find(key);
  if (it != channels_.end()) {
    ::close(it->second.fd);
    it->second = Channel{fd, ++use_clock_};
    return;
  }
  if (channels_.size() >= max_channels_) {
    auto lru = channels_.begin();
    for (auto c = channels_.begin(); c != channels_.end(); ++c)
      if (c->second.used < lru->second.used) lru = c;
    auto b = backlog_.find(lru->first);
    Close(lru->first, b == backlog_.end() ? 0 : b->second.replies.size());
  }
  channels_.emplace(std::move(key), Channel{fd, ++use_clock_});
}

int ReplyOutbox::ChannelFd(const std::string& key) {
  auto it = channels_.find(key);
  if (it == channels_.end()) return -1;
  it->second.used = ++use_clock_;
  return it->second.fd;
}

bool ReplyOutbox::Batched(const PendingReply& r) {
  const size_t head = offsetof(sockaddr_un, sun_path);
  if (r.addr_len <= head) return false;
  return reply::IsBatchAddress(std::string_view(r.addr.sun_path, r.addr_len - head));
}

int ReplyOutbox::TrySend(const PendingReply* rs, size_t n) {
  std::array<char, reply::kSize * reply::kMaxBatch> b;
  EncodeRun(rs, n, b.data());
  const size_t len = n * reply::kSize;
  // A channel address: through its channel only (none: gone for good).
  int fd = fd_;
  const sockaddr* to = reinterpret_cast<const sockaddr*>(&rs[0].addr);
  socklen_t to_len = rs[0].addr_len;
  if (ChannelAddress(rs[0])) {
    if ((fd = ChannelFd(AddrKey(rs[0]))) < 0) return -1;
    to = nullptr;
    to_len = 0;
  }
  while (true) {
    ssize_t got = ::sendto(fd, b.data(), len, MSG_DONTWAIT | MSG_NOSIGNAL, to, to_len);
    if (got == static_cast<ssize_t>(len)) return 1;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == ENOBUFS)) return 0;
    return -1;  // the reply socket is gone (ECONNREFUSED, ENOENT, ...)
  }
}

void ReplyOutbox::Park(std::string key, const PendingReply& r) {
  if (closed_.count(key) != 0) {  // its backlog overflowed (maybe earlier in this very Send)
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto [it, fresh] = backlog_.try_emplace(std::move(key));
  if (fresh) it->second.since = Clock::now();
  it->second.replies.push_back(r);
  if (it->second.replies.size() > kMaxBacklog) Close(it->first, it->second.replies.size());
}

void ReplyOutbox::Close(std::string key, size_t n) {
  dropped_->fetch_add(n, std::memory_order_relaxed);
  backlog_.erase(key);
  if (auto c = channels_.find(key); c != channels_.end()) {
    ::close(c->second.fd);
    channels_.erase(c);
  }
  if (closed_.insert(key).second) {
    closed_order_.push_back(key);
    if (closed_order_.size() > kMaxClosed) {
      closed_.erase(closed_order_.front());
      closed_order_.pop_front();
    }
  }
}

void ReplyOutbox::NoticeNoChannel(const std::string& key, const PendingReply& r) {
  const Clock::time_point now = Clock::now();
  if (auto it = noticed_.find(key); it != noticed_.end() && now - it->second < kNoticeEvery) return;
  if (now - notice_window_ >= std::chrono::seconds(1)) {
    notice_window_ = now;
    notices_in_window_ = 0;
  }
  if (notices_in_window_ >= kMaxNoticesPerSecond) return;
  // What waits unread at the addresses this socket sent to is charged to
  // its one send buffer, which answers to senders without a channel share:
  // notices never take more than a slice of it.
  int queued = 0;
  if (::ioctl(fd_, SIOCOUTQ, &queued) != 0 || queued > kNoticeOutqLimit) return;
  if (noticed_.size() >= kMaxNoticed) {
    std::erase_if(noticed_, [&](const auto& e) { return now - e.second >= kNoticeEvery; });
    if (noticed_.size() >= kMaxNoticed) return;
  }
  char b[reply::kSize];
  reply::Encode(reply::Code::kNoChannel, 0, b);
  ssize_t got;
  do {
    got = ::sendto(fd_, b, sizeof(b), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&r.addr),
                   r.addr_len);
  } while (got < 0 && errno == EINTR);
  ++notices_in_window_;
  noticed_[key] = now;
  if (got == static_cast<ssize_t>(sizeof(b))) ++notices_;
}

void ReplyOutbox::Send(const std::vector<PendingReply>& rs) {
  if (rs.empty()) return;
  // 0. Channels that came with these messages, before any answer is sent.
  for (const PendingReply& r : rs)
    if (r.channel >= 0) Install(r);
  // 1. Each address's answers together, in their order (a stable sort by
  //    address); the order between addresses does not matter.
  sorted_.assign(rs.begin(), rs.end());
  std::stable_sort(sorted_.begin(), sorted_.end(), [](const PendingReply& x, const PendingReply& y) {
    if (x.addr_len != y.addr_len) return x.addr_len < y.addr_len;
    return std::memcmp(&x.addr, &y.addr, x.addr_len) < 0;
  });

  // 2. Datagrams: per address, runs of up to kMaxBatch answers if it takes
  //    batches, else one answer each. An address with a backlog (or closed)
  //    gets none: its answers go behind the backlog (or are dropped).
  //    A channel address goes through its channel; without one, its
  //    answers are dropped (never sent from the mailbox socket).
  grams_.clear();
  channel_grams_.clear();
  for (size_t a = 0; a < sorted_.size();) {
    size_t b = a + 1;
    while (b < sorted_.size() && SameAddress(sorted_[a], sorted_[b])) ++b;
    const bool channel = ChannelAddress(sorted_[a]);
    if (!backlog_.empty() || !closed_.empty() || channel) {
      std::string key = AddrKey(sorted_[a]);
      if (closed_.count(key) != 0) {
        dropped_->fetch_add(b - a, std::memory_order_relaxed);
        a = b;
        continue;
      }
      if (backlog_.count(key) != 0) {
        for (size_t i = a; i < b; ++i) Park(key, sorted_[i]);
        a = b;
        continue;
      }
      if (channel && channels_.count(key) == 0) {
        dropped_->fetch_add(b - a, std::memory_order_relaxed);
        NoticeNoChannel(key, sorted_[a]);
        a = b;
        continue;
      }
    }
    const size_t per = Batched(sorted_[a]) ? reply::kMaxBatch : 1;
    auto& to = channel ? channel_grams_ : grams_;
    for (size_t i = a; i < b; i += per) to.push_back(Gram{i, std::min(per, b - i), a, b});
    a = b;
  }

  // 3a. Through channels, one send each; a full channel holds up only its
  //     own address.
  for (size_t g = 0; g < channel_grams_.size();) {
    const Gram d = channel_grams_[g];
    const int r = TrySend(&sorted_[d.first], d.count);
    if (r == 1) {
      sent_->fetch_add(d.count, std::memory_order_relaxed);
      ++g;
      continue;
    }
    std::string key = AddrKey(sorted_[d.first]);
    if (r == 0) {
      for (size_t i = d.first; i < d.group_end; ++i) Park(key, sorted_[i]);
    } else {
      Close(key, d.group_end - d.first);
    }
    while (g < channel_grams_.size() && channel_grams_[g].group_begin == d.group_begin) ++g;
  }

  // 3b. From the mailbox socket, up to kSendBatch per sendmmsg. When one fails, its answers
  //    and the rest of its address's are parked (queue full) or dropped with
  //    the address closed (gone); other addresses go on.
  auto& bytes = bytes_;
  std::array<iovec, kSendBatch> iov;
  std::array<mmsghdr, kSendBatch> hdr;
  size_t g = 0;
  while (g < grams_.size()) {
    const size_t n = std::min(kSendBatch, grams_.size() - g);
    for (size_t k = 0; k < n; ++k) {
      const Gram& d = grams_[g + k];
      EncodeRun(&sorted_[d.first], d.count, bytes[k].data());
      iov[k] = iovec{bytes[k].data(), d.count * reply::kSize};
      hdr[k] = mmsghdr{};
      hdr[k].msg_hdr.msg_name = const_cast<sockaddr_un*>(&sorted_[d.first].addr);
      hdr[k].msg_hdr.msg_namelen = sorted_[d.first].addr_len;
      hdr[k].msg_hdr.msg_iov = &iov[k];
      hdr[k].msg_hdr.msg_iovlen = 1;
    }
    int sent = ::sendmmsg(fd_, hdr.data(), static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent > 0) {
      // A partial send leaves errno unset: resume at the first unsent
      // datagram, whose own failure the next call reports.
      for (size_t k = 0; k < static_cast<size_t>(sent); ++k)
        sent_->fetch_add(grams_[g + k].count, std::memory_order_relaxed);
      g += static_cast<size_t>(sent);
      continue;
    }
    const int err = errno;
    const Gram failed = grams_[g];
    std::string key = AddrKey(sorted_[failed.first]);
    if (err == EAGAIN || err == ENOBUFS) {
      for (size_t i = failed.first; i < failed.group_end; ++i) Park(key, sorted_[i]);
    } else {
      Close(key, failed.group_end - failed.first);
    }
    while (g < grams_.size() && grams_[g].group_begin == failed.group_begin) ++g;
  }
}

void ReplyOutbox::Retry(bool final) {
  const Clock::time_point now = Clock::now();
  for (auto it = backlog_.begin(); it != backlog_.end();) {
    Backlog& b = it->second;
    int r = 1;
    while (!b.replies.empty()) {
      // The front run, as one datagram if the address takes batches.
      std::array<PendingReply, reply::kMaxBatch> run;
      size_t n = 0;
      const size_t max = Batched(b.replies.front()) ? reply::kMaxBatch : 1;
      while (n < max && n < b.replies.size()) {
        run[n] = b.replies[n];
        ++n;
      }
      if ((r = TrySend(run.data(), n)) != 1) break;
      b.replies.erase(b.replies.begin(), b.replies.begin() + static_cast<std::ptrdiff_t>(n));
      b.since = now;
      sent_->fetch_add(n, std::memory_order_relaxed);
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
