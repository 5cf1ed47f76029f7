// The supervisor's start and end: signals, what is checked and bound before
// any child runs, and the control mailbox's receiver thread (run_impl.h).
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "mq/inspect.h"
#include "mq/socket_owner.h"
#include "run_impl.h"

namespace mq::supervisor {
namespace {

uint64_t RandomWord() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof(r), 0) != static_cast<ssize_t>(sizeof(r))) r = 0x9e3779b97f4a7c15ull;
  return r;
}

// Requests stored by an earlier run were never answered (their senders have
// given up): they are consumed before the mailbox opens, never acted on.
Status DropStaleRequests(const std::string& queue) {
  std::unique_ptr<Store> store;
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  if (Status s = Store::Open(queue, o).MoveTo(&store); !s.ok()) return s;
  std::vector<uint64_t> stale;
  Status s = store->ScanPending(0, [&](const MessageView& m) {
    stale.push_back(m.seq);
    return true;
  });
  for (uint64_t seq : stale)
    if (s.ok()) s = store->Consume(seq);
  if (!stale.empty()) std::fprintf(stderr, "mqsup: dropped %zu control requests of an earlier run\n", stale.size());
  Status c = store->Close();
  return s.ok() ? c : s;
}

}  // namespace

Supervisor::Supervisor(const SupervisorSpec& spec, const RunOptions& options)
    : spec_(spec), options_(options), intensity_(spec.intensity, spec.period) {
  if (!options_.random) options_.random = RandomWord;
  children_.reserve(spec.children.size());
  for (const ChildSpec& c : spec.children) children_.emplace_back(c, spec.backoff, options_.random);
}

Supervisor::~Supervisor() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Supervisor::Log(const std::string& line) { std::fprintf(stderr, "mqsup: %s\n", line.c_str()); }

Status Supervisor::Prepare() {
  // A child's queue held by another process: its child would fail to open it.
  for (const ChildProcess& c : children_) {
    if (c.spec.queue.empty()) continue;
    const pid_t holder = QueueLockHolder(c.spec.queue);
    if (holder != 0)
      return Status::Busy("child " + c.spec.name + ": queue " + c.spec.queue + " is locked by pid " +
                          std::to_string(holder) + "; stop that process, or give the child another queue");
  }
  MailboxOptions o;
  o.socket_path = spec_.control;
  o.queue_path = spec_.control + ".q";
  o.store.sync = SyncPolicy::kNone;  // requests are answered, not kept
  if (Status s = InheritSocketFromEnvironment(&o); !s.ok()) return s;  // adopts only if MQ_SOCKET is control
  if (Status s = DropStaleRequests(o.queue_path); !s.ok()) return s.WithContext("control mailbox " + spec_.control);
  if (Status s = Mailbox::Open(o).MoveTo(&control_); !s.ok())
    return s.WithContext("control mailbox " + spec_.control);
  auto history = History::Open(spec_.log);
  if (!history.ok()) {
    Release();
    return history.status().WithContext("history " + spec_.log);
  }
  history_ = std::move(*history);
  for (ChildProcess& c : children_) {
    auto it = history_->children().find(c.spec.name);
    c.restarts = it == history_->children().end() ? 0 : it->second.restarts;
    c.last_exit = it == history_->children().end() || it->second.last_exit.empty() ? "-" : it->second.last_exit;
  }
  for (ChildProcess& c : children_) {
    if (c.spec.socket.empty()) continue;
    auto fd = BindOwnedSocket(c.spec.socket, c.spec.socket_mode);
    if (!fd.ok()) {
      Release();
      return fd.status().WithContext("child " + c.spec.name);
    }
    c.socket_fd = *fd;
  }
  return Status::OK();
}

void Supervisor::Release() {
  for (ChildProcess& c : children_) {
    if (c.socket_fd < 0) continue;
    ::close(c.socket_fd);
    c.socket_fd = -1;
    ::unlink(c.spec.socket.c_str());
  }
  history_.reset();
  if (control_ != nullptr) {
    (void)control_->Close();
    control_.reset();
  }
}

void Supervisor::StartReceiver() {
  receiver_ = std::thread([this] {
    for (;;) {
      Message m;
      Status s = control_->Receive(Pattern::Any(), Mailbox::kForever, &m);
      if (s.IsClosed()) return;
      if (!s.ok()) continue;
      {
        std::lock_guard<std::mutex> g(mu_);
        inbox_.push_back(std::move(m.payload));
      }
      const uint64_t one = 1;
      (void)!::write(wake_fd_, &one, sizeof(one));
    }
  });
}

void Supervisor::StopReceiver() {
  if (control_ != nullptr) (void)control_->Close();
  if (receiver_.joinable()) receiver_.join();
}

int Supervisor::Run() {
  // Blocked before any thread starts, so that every thread inherits the
  // mask and the signals reach the signalfd only.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0 ||
      (signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
      (wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
    Log(std::string("signalfd/eventfd: ") + std::strerror(errno));
    return kExitIo;
  }
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    Log(std::string("PR_SET_CHILD_SUBREAPER: ") + std::strerror(errno));
    return kExitIo;
  }
  notifier_ = std::make_unique<Notifier>();
  if (Status s = Prepare(); !s.ok()) {
    Log(s.message() + "; nothing was started");
    return kExitRefused;
  }
  StartReceiver();
  const int rc = Loop();
  StopReceiver();
  Release();
  notifier_.reset();  // delivers the DOWN messages still queued
  Log("exiting with code " + std::to_string(rc));
  return rc;
}

int Run(const SupervisorSpec& spec, const RunOptions& options) {
  Supervisor s(spec, options);
  return s.Run();
}

}  // namespace mq::supervisor
