// The shared runtime (runtime_impl.h; docs/design.md, "The shared runtime").
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "runtime_impl.h"

namespace mq {
namespace {
// Events one epoll_wait returns; more ready sockets are served in rotation
// (the kernel moves the ones returned to the end of its ready list).
constexpr int kMaxEvents = 256;
// How often answers parked behind full sender queues are tried again.
constexpr std::chrono::milliseconds kRetryEvery{1};
}  // namespace

Runtime::Impl::~Impl() { Stop(); }

Status Runtime::Impl::Start() {
  epoll_ = unix_socket::Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (epoll_.get() < 0)
    return Status::IOError("mq::Runtime: epoll_create1 failed", errno,
                           errno == EMFILE || errno == ENFILE ? "raise the descriptor limit (ulimit -n)" : "");
  stop_fd_ = unix_socket::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (stop_fd_.get() < 0)
    return Status::IOError("mq::Runtime: eventfd failed", errno,
                           errno == EMFILE || errno == ENFILE ? "raise the descriptor limit (ulimit -n)" : "");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_fd_.get(), &ev) != 0)
    return Status::IOError("mq::Runtime: epoll_ctl of its eventfd failed", errno);
  reactor_ = std::thread([this] { ReactorLoop(); });
  confirmer_ = std::thread([this] { ConfirmerLoop(); });
  return Status::OK();
}

void Runtime::Impl::Stop() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  if (stop_fd_.get() >= 0) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_.get(), &one, sizeof(one));
  }
  if (reactor_.joinable()) reactor_.join();
  {
    MutexLock l(&confirm_mu_);
    confirm_stop_ = true;
  }
  confirm_cv_.NotifyAll();
  if (confirmer_.joinable()) confirmer_.join();
}

Status Runtime::Impl::AttachIngest(Mailbox::Impl* m, uint64_t* id) {
  MutexLock l(&mu_);
  const uint64_t my = next_id_++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = my;
  // The socket is read under its ingest lock only; the epoll holds no
  // reference to the mailbox beyond the id.
  int fd = -1;
  {
    MutexLock g(&m->ingest_mu);
    fd = m->sock.get();
  }
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    return Status::IOError(m->opt.socket_path + ": cannot add the socket to the runtime's epoll", err,
                           err == ENOSPC ? "raise /proc/sys/fs/epoll/max_user_watches" : "");
  }
  ingest_.emplace(my, m);
  *id = my;
  return Status::OK();
}

void Runtime::Impl::DetachIngest(uint64_t id) {
  MutexLock l(&mu_);
  auto it = ingest_.find(id);
  if (it == ingest_.end()) return;
  Mailbox::Impl* m = it->second;
  ingest_.erase(it);
  int fd = -1;
  {
    MutexLock g(&m->ingest_mu);
    fd = m->sock.get();
  }
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  while (serving_ == id) served_.Wait(&mu_);
}

void Runtime::Impl::ReactorLoop() {
  epoll_event events[kMaxEvents];
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno != EINTR) ::usleep(1000);  // unexpected; don't spin
      continue;
    }
    MutexLock l(&mu_);
    if (stop_) return;
    bool served = false;
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == 0) continue;  // stop_fd_: stop_ is checked above
      auto it = ingest_.find(id);
      if (it == ingest_.end()) continue;  // detached since epoll_wait returned
      Mailbox::Impl* m = it->second;
      serving_ = id;
      l.Unlock();
      // One batch per ready socket per turn (fairness). A receiver reading
      // the socket itself holds the lock: skip it this turn.
      if (m->ingest_mu.TryLock()) {
        if (!m->inline_ingest_off) (void)m->IngestBatch();
        m->ingest_mu.Unlock();
      }
      l.Lock();
      serving_ = 0;
      served = true;
      served_.NotifyAll();
      if (stop_) return;
    }
    if (served) ++turns_;
  }
}

void Runtime::Impl::AttachConfirm(Mailbox::Impl* m) {
  MutexLock l(&confirm_mu_);
  confirm_members_.insert(m);
}

void Runtime::Impl::ConfirmReady(Mailbox::Impl* m) {
  {
    MutexLock l(&confirm_mu_);
    if (confirm_members_.count(m) == 0 || !confirm_listed_.insert(m).second) return;
    confirm_ready_.push_back(m);
  }
  confirm_cv_.NotifyAll();
}

void Runtime::Impl::DetachConfirm(Mailbox::Impl* m) {
  MutexLock l(&confirm_mu_);
  confirm_members_.erase(m);
  if (confirm_listed_.erase(m) != 0)
    confirm_ready_.erase(std::find(confirm_ready_.begin(), confirm_ready_.end(), m));
  confirm_parked_.erase(m);
  while (confirming_ == m) confirm_cv_.Wait(&confirm_mu_);
}

void Runtime::Impl::ConfirmerLoop() {
  MutexLock l(&confirm_mu_);
  auto retry_at = std::chrono::steady_clock::now() + kRetryEvery;
  while (true) {
    while (!confirm_stop_ && confirm_ready_.empty()) {
      if (confirm_parked_.empty()) {
        confirm_cv_.Wait(&confirm_mu_);
      } else if (!confirm_cv_.WaitUntil(&confirm_mu_, retry_at)) {
        break;
      }
    }
    if (confirm_stop_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now >= retry_at) {
      // Parked answers join the queue behind the mailboxes already in it.
      for (Mailbox::Impl* p : confirm_parked_)
        if (confirm_listed_.insert(p).second) confirm_ready_.push_back(p);
      confirm_parked_.clear();
      retry_at = now + kRetryEvery;
    }
    if (confirm_ready_.empty()) continue;
    Mailbox::Impl* m = confirm_ready_.front();
    confirm_ready_.pop_front();
    confirm_listed_.erase(m);
    confirming_ = m;
    ++passes_;
    l.Unlock();
    const bool parked = m->ConfirmPass();
    l.Lock();
    confirming_ = nullptr;
    if (parked && confirm_members_.count(m) != 0) confirm_parked_.insert(m);
    confirm_cv_.NotifyAll();
  }
}

RuntimeStats Runtime::Impl::Stats() {
  RuntimeStats st;
  {
    MutexLock l(&mu_);
    st.mailboxes = ingest_.size();
    st.ingest_turns = turns_;
  }
  MutexLock l(&confirm_mu_);
  st.confirm_passes = passes_;
  return st;
}

Result<std::shared_ptr<Runtime>> Runtime::Create() {
  std::shared_ptr<StoreThreads> store_threads;
  MQ_ASSIGN_OR_RETURN(store_threads, StoreThreads::Create());
  auto impl = std::make_unique<Impl>();
  MQ_RETURN_IF_ERROR(impl->Start());
  return std::shared_ptr<Runtime>(new Runtime(std::move(impl), std::move(store_threads)));
}

Runtime::Runtime(std::unique_ptr<Impl> impl, std::shared_ptr<StoreThreads> store_threads)
    : impl_(std::move(impl)), store_threads_(std::move(store_threads)) {}
Runtime::~Runtime() = default;
RuntimeStats Runtime::Stats() { return impl_->Stats(); }

}  // namespace mq
