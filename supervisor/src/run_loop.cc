// The supervisor's loop: one poll over the signalfd, the control wake-up and
// the children's pidfds; exits, restart decisions, starts in order
// (run_impl.h).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mq/monitor.h"
#include "mq/sender.h"
#include "run_impl.h"
#include "spawn.h"

namespace mq::supervisor {
namespace {

int64_t Micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// ready = "notify" with a ready_timeout: ready_due is the deadline for READY.
bool WaitsForReadyUntil(const ChildProcess& c) {
  return c.spec.ready == ChildSpec::Ready::kNotify && c.spec.ready_timeout.count() > 0;
}

}  // namespace

void Supervisor::Record(size_t i, pid_t pid, const ExitReason& reason, bool restart) {
  ChildProcess& c = children_[i];
  // Written to the OS now, synced by the loop once the restart has started
  // (SyncHistory): the fdatasync no longer delays the restart.
  if (Status s = history_->RecordExit(c.spec.name, pid, reason, restart, /*sync=*/false); !s.ok())
    Log("history " + spec_.log + ": " + s.message() + " (the exit of " + c.spec.name + " is not recorded)");
  for (const std::string& m : c.spec.monitors) notifier_->Post(m, DownMessage(next_down_ref_++, pid, c.spec.name, reason));
  c.last_exit = reason.ToString();
  if (restart) ++c.restarts;
}

void Supervisor::SyncHistory() {
  if (Status s = history_->SyncRecorded(); !s.ok())
    Log("history " + spec_.log + ": " + s.message() + " (the last exits may not be durable)");
}

void Supervisor::MarkReady(size_t i) {
  ChildProcess& c = children_[i];
  c.state = ChildProcess::State::kRunning;
  c.ready_after_us = Micros(options_.now() - c.spawned_at);
  Log(c.spec.name + " (pid " + std::to_string(c.pid) + ") is ready after " + std::to_string(c.ready_after_us) + " us");
}

bool Supervisor::Advance(Status* error) {
  const TimePoint now = options_.now();
  for (size_t i = 0; i < children_.size(); ++i)
    if (children_[i].state == ChildProcess::State::kStarting && children_[i].spec.ready == ChildSpec::Ready::kDelay &&
        children_[i].ready_due <= now)
      MarkReady(i);
  for (size_t i = 0; i < children_.size() && exit_code_ < 0; ++i) {
    ChildProcess& c = children_[i];
    if (c.state != ChildProcess::State::kStarting || !WaitsForReadyUntil(c) || c.ready_due > now) continue;
    const pid_t pid = c.pid;
    Log(c.spec.name + " (pid " + std::to_string(pid) + ") sent no READY within " +
        std::to_string(c.spec.ready_timeout.count()) + " ms (ready_timeout); stopping it");
    const ExitReason r = StopChild(&c);
    c.pid = pid;  // for OnExit's log and record
    OnExit(i, r);
  }
  if (exit_code_ >= 0) return true;
  while (!to_start_.empty()) {
    for (const ChildProcess& c : children_)
      if (c.state == ChildProcess::State::kStarting) return true;  // its READY holds the rest
    const size_t i = *to_start_.begin();
    ChildProcess& c = children_[i];
    if (c.start_due > options_.now()) return true;  // PollTimeoutMs wakes the loop then
    to_start_.erase(to_start_.begin());
    const TimePoint spawn_from = options_.now();
    auto sp = SpawnChild(c.spec, c.socket_fd, spec_.control);
    if (!sp.ok()) {
      if (initial_start_) {
        *error = sp.status();
        return false;
      }
      Log(sp.status().message());
      c.pid = 0;
      // It never ran: the next try is a repeated crash and backs off
      // (Backoff::AfterExit), not an immediate retry until the intensity gives up.
      c.spawned_at = options_.now();
      OnExit(i, ExitReason::Exit(127));
      if (exit_code_ >= 0) return true;
      continue;
    }
    c.pid = sp->pid;
    c.pidfd = sp->pidfd;
    c.spawned_at = options_.now();
    c.restart_latency_us = c.exited_once ? Micros(c.spawned_at - c.exited_at) : -1;
    c.ready_after_us = -1;
    Log("started " + c.spec.name + " (pid " + std::to_string(c.pid) + ")" +
        (c.exited_once ? " " + std::to_string(c.restart_latency_us) + " us after its exit" : "") +
        "; spawn to exec " + std::to_string(Micros(c.spawned_at - spawn_from)) + " us");
    if (c.spec.ready == ChildSpec::Ready::kAtOnce) {
      c.state = ChildProcess::State::kRunning;
    } else {
      c.state = ChildProcess::State::kStarting;
      c.ready_due = c.spawned_at + (WaitsForReadyUntil(c) ? c.spec.ready_timeout : c.spec.ready_delay);
    }
  }
  for (const ChildProcess& c : children_)
    if (c.state == ChildProcess::State::kStarting) return true;
  if (initial_start_) {
    initial_start_ = false;
    Log("all " + std::to_string(children_.size()) + " children started");
    // Supervised itself: tell the parent supervisor.
    const char* parent = std::getenv("MQ_SUPERVISOR");
    const char* name = std::getenv("MQ_NAME");
    if (parent != nullptr && name != nullptr && *parent == '/')
      (void)Send(parent, "READY " + std::string(name) + " " + std::to_string(::getpid()));
  }
  return true;
}

void Supervisor::OnExit(size_t i, const ExitReason& reason) {
  ChildProcess& c = children_[i];
  const pid_t pid = c.pid;
  if (c.pidfd >= 0) ::close(c.pidfd);
  c.pidfd = -1;
  c.pid = 0;
  const TimePoint now = options_.now();
  const auto ran = now - c.spawned_at;
  c.exited_at = now;
  c.exited_once = true;
  to_start_.erase(i);
  const bool restart = ShouldRestart(c.spec.restart, reason);
  Log(c.spec.name + " (pid " + std::to_string(pid) + ") exited: " + reason.ToString() +
      (restart ? "" : "; not restarted (" + std::string(c.spec.restart == RestartType::kTemporary ? "temporary" : "transient") + ")"));
  if (restart && !intensity_.Record(now)) {
    Record(i, pid, reason, false);
    c.state = ChildProcess::State::kDown;
    Log("more than " + std::to_string(spec_.intensity) + " restarts within " + std::to_string(spec_.period.count()) +
        " ms: giving up; stopping every child");
    StopAll();
    exit_code_ = kExitGaveUp;
    return;
  }
  Record(i, pid, reason, restart);
  if (!restart) {
    c.state = ChildProcess::State::kDown;
    return;
  }
  // The first restart at once; one after a run shorter than `period` backs off.
  const Duration delay = c.backoff.AfterExit(std::chrono::duration_cast<Duration>(ran), spec_.period);
  const std::vector<size_t> group = ChildrenToRestart(spec_.strategy, i, children_.size());
  for (auto it = group.rbegin(); it != group.rend(); ++it) {
    if (*it != i) StopAndRecord(*it, "stopping", " to restart it with " + c.spec.name, true);
  }
  for (size_t j : group) {
    children_[j].state = ChildProcess::State::kBackoff;
    children_[j].start_due = now + delay;
    to_start_.insert(j);
  }
  Log("restarting " + std::to_string(group.size()) + " child(ren) in " + std::to_string(delay.count()) + " ms");
}

void Supervisor::StopAndRecord(size_t i, const std::string& what, const std::string& why, bool restart) {
  ChildProcess& c = children_[i];
  if (c.pidfd < 0) return;
  const pid_t pid = c.pid;
  Log(what + " " + c.spec.name + " (pid " + std::to_string(pid) + ")" + why);
  const ExitReason r = StopChild(&c);
  c.exited_at = options_.now();
  c.exited_once = true;
  Record(i, pid, r, restart);
}

void Supervisor::StopAll() {
  to_start_.clear();
  for (size_t k = children_.size(); k-- > 0;) {
    StopAndRecord(k, "stopping", "", false);
    children_[k].state = ChildProcess::State::kDown;
  }
}

void Supervisor::ReapOrphans() {
  for (;;) {
    siginfo_t si{};
    if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0) return;
    bool ours = false;
    for (size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].pid != si.si_pid || children_[i].pidfd < 0) continue;
      ours = true;
      bool reaped = false;
      const ExitReason r = ReapChild(children_[i].pidfd, &reaped);
      if (reaped) OnExit(i, r);
      if (exit_code_ >= 0) return;
    }
    if (!ours) {
      int st = 0;
      if (::waitpid(si.si_pid, &st, WNOHANG) != si.si_pid) return;
      Log("reaped orphan pid " + std::to_string(si.si_pid));
    }
  }
}

int Supervisor::PollTimeoutMs() {
  bool any = false;
  TimePoint due{};
  auto consider = [&](TimePoint t) {
    if (!any || t < due) due = t;
    any = true;
  };
  for (const ChildProcess& c : children_)
    if (c.state == ChildProcess::State::kStarting && (c.spec.ready == ChildSpec::Ready::kDelay || WaitsForReadyUntil(c)))
      consider(c.ready_due);
  if (!to_start_.empty()) consider(children_[*to_start_.begin()].start_due);
  if (!any) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(due - options_.now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60000));
}

int Supervisor::Loop() {
  Status error;
  for (size_t i = 0; i < children_.size(); ++i) {
    children_[i].start_due = options_.now();
    to_start_.insert(i);
  }
  if (!Advance(&error)) {
    Log(error.message() + "; stopping the children already started");
    StopAll();
    return kExitRefused;
  }
  std::vector<pollfd> fds;
  std::vector<size_t> who;
  while (exit_code_ < 0) {
    fds.assign({pollfd{signal_fd_, POLLIN, 0}, pollfd{wake_fd_, POLLIN, 0}});
    who.assign(2, 0);
    for (size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].pidfd < 0) continue;
      fds.push_back(pollfd{children_[i].pidfd, POLLIN, 0});
      who.push_back(i);
    }
    if (::poll(fds.data(), fds.size(), PollTimeoutMs()) < 0 && errno != EINTR) {
      Log(std::string("poll: ") + std::strerror(errno));
      StopAll();
      return kExitIo;
    }
    for (size_t k = 2; k < fds.size() && exit_code_ < 0; ++k) {
      ChildProcess& c = children_[who[k]];
      if (fds[k].revents == 0 || c.pidfd != fds[k].fd) continue;  // stopped meanwhile by a strategy
      bool reaped = false;
      const ExitReason r = ReapChild(c.pidfd, &reaped);
      if (reaped) OnExit(who[k], r);
    }
    if (exit_code_ < 0 && (fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo si;
      while (exit_code_ < 0 && ::read(signal_fd_, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
        if (si.ssi_signo == SIGCHLD) {
          ReapOrphans();
        } else if (si.ssi_signo == SIGHUP) {
          Log("SIGHUP ignored: the configuration is read at start only");
        } else {
          Log(std::string(si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT") + ": stopping the children");
          StopAll();
          exit_code_ = kExitOk;
        }
      }
    }
    if (exit_code_ < 0 && (fds[1].revents & POLLIN) != 0) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof(v));
      DrainControl();
    }
    if (exit_code_ < 0 && !Advance(&error)) break;  // (only during the initial start)
    SyncHistory();
  }
  if (exit_code_ < 0) {
    Log(error.message() + "; stopping the children already started");
    StopAll();
    return kExitRefused;
  }
  return exit_code_;
}

}  // namespace mq::supervisor
