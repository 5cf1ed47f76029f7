// READY messages and control requests from the control mailbox
// (run_impl.h, control.h).
#include <unistd.h>

#include <cstdio>

#include "control.h"
#include "run_impl.h"

namespace mq::supervisor {
namespace {

std::string Field(const char* fmt, const std::string& a, int64_t b) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), fmt, a.c_str(), static_cast<long long>(b));
  return buf;
}

}  // namespace

std::string Supervisor::StatusBody(bool json) {
  const TimePoint now = options_.now();
  std::string out;
  if (!json) {
    char head[160];
    std::snprintf(head, sizeof(head), "%-16s %8s %-9s %8s %-14s %s\n", "NAME", "PID", "STATE", "RESTARTS", "LAST-EXIT",
                  "UPTIME");
    out = head;
  }
  for (const ChildProcess& c : children_) {
    const int64_t up_ms =
        c.pid != 0 ? std::chrono::duration_cast<std::chrono::milliseconds>(now - c.spawned_at).count() : 0;
    if (json) {
      out += "{\"name\":\"" + c.spec.name + "\",\"pid\":" + std::to_string(c.pid) + ",\"state\":\"" + c.StateName() +
             "\",\"restarts\":" + std::to_string(c.restarts) + ",\"last_exit\":\"" + c.last_exit +
             "\",\"uptime_ms\":" + std::to_string(up_ms) +
             ",\"restart_latency_us\":" + std::to_string(c.restart_latency_us) +
             ",\"ready_after_us\":" + std::to_string(c.ready_after_us) + "}\n";
    } else {
      char line[256];
      const std::string up = c.pid != 0 ? std::to_string(up_ms / 1000) + "." + std::to_string(up_ms % 1000 / 100) + "s"
                                        : "-";
      std::snprintf(line, sizeof(line), "%-16s %8s %-9s %8llu %-14s %s\n", c.spec.name.c_str(),
                    c.pid != 0 ? std::to_string(c.pid).c_str() : "-", c.StateName(),
                    static_cast<unsigned long long>(c.restarts), c.last_exit.c_str(), up.c_str());
      out += line;
    }
  }
  return out;
}

void Supervisor::DrainControl() {
  std::deque<std::string> got;
  {
    std::lock_guard<std::mutex> g(mu_);
    got.swap(inbox_);
  }
  for (const std::string& p : got) {
    OnControl(p);
    if (exit_code_ >= 0) return;
  }
}

void Supervisor::OnControl(const std::string& payload) {
  if (payload.rfind("READY ", 0) == 0) {
    // "READY <name> <pid>": from the child itself, while it is starting.
    const std::string rest = payload.substr(6);
    const size_t sp = rest.find(' ');
    const std::string name = rest.substr(0, sp);
    const long pid = sp == std::string::npos ? 0 : std::strtol(rest.c_str() + sp + 1, nullptr, 10);
    for (size_t i = 0; i < children_.size(); ++i) {
      ChildProcess& c = children_[i];
      if (c.spec.name != name) continue;
      if (c.state == ChildProcess::State::kStarting && c.pid == pid && pid != 0) return MarkReady(i);
      Log(Field("ignored READY of %s pid %lld: not the instance waiting to be ready", name, pid));
      return;
    }
    Log("ignored READY of unknown child '" + name + "'");
    return;
  }
  ControlRequest r;
  if (!ParseControlRequest(payload, &r)) {
    Log("ignored a control message that is not a request (" + std::to_string(payload.size()) + " bytes)");
    return;
  }
  std::string answer;
  if (r.verb == "status" || r.verb == "status-json") {
    answer = "ok\n" + StatusBody(r.verb == "status-json");
  } else if (r.verb == "restart") {
    size_t i = 0;
    while (i < children_.size() && children_[i].spec.name != r.arg) ++i;
    if (i == children_.size()) {
      std::string names;
      for (const ChildProcess& c : children_) names += (names.empty() ? "" : ", ") + c.spec.name;
      answer = "error no child named '" + r.arg + "'; the children are: " + names;
    } else {
      StopAndRecord(i, "restarting", " on request", true);
      ChildProcess& c = children_[i];
      c.state = ChildProcess::State::kBackoff;
      c.start_due = options_.now();
      to_start_.insert(i);
      answer = "ok\nrestarting " + c.spec.name + "\n";
    }
  } else if (r.verb == "stop") {
    // Answered once every child is stopped, so that `mqsup stop` returns
    // when they are.
    Log("stop requested: stopping the children");
    StopAll();
    exit_code_ = kExitOk;
    answer = "ok\nstopped\n";
  } else {
    answer = "error unknown request '" + r.verb + "'; the requests are: status, status-json, restart NAME, stop";
  }
  if (Status s = SendAnswer(r.answer_to, answer); !s.ok()) Log(s.message());
}

}  // namespace mq::supervisor
