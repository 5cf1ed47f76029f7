// mqbridge's main loop: proxies first (messages queue durably on this host
// while NATS is unreachable), then the connection, then outbound on this
// thread and inbound on a thread of its own.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "delivered_log.h"
#include "inbound.h"
#include "mq/bridge.h"
#include "nats_link.h"
#include "outbound.h"

namespace mq::bridge {
namespace {
void WriteStatusNow(const BridgeConfig& config, const Outbound& out, Inbound& in, bool connected) {
  BridgeStatus st;
  st.pid = ::getpid();
  st.updated_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
  st.connected = connected;
  out.Snapshot(&st.routes);
  in.Snapshot(&st.routes);
  if (Status s = WriteStatus(config, st); !s.ok()) {
    static std::string printed;
    if (printed != s.message()) std::fprintf(stderr, "mqbridge: %s\n", s.message().c_str()), printed = s.message();
  }
}
}  // namespace

Status Run(const BridgeConfig& config, const std::atomic<bool>& stop, BridgeStats* stats, void (*on_ready)(void*),
           void* ready_arg) {
  if (Status s = MakeDir(config.state); !s.ok()) return s;
  Outbound out(config, stats);
  if (Status s = out.Open(); !s.ok()) return s;
  if (on_ready != nullptr) on_ready(ready_arg);
  NatsLink link;
  Inbound in(config, stats);
  bool first = true;
  while (!stop.load()) {
    WriteStatusNow(config, out, in, false);
    if (Status s = Connect(config, stop, &Outbound::OnAck, &out, &link); !s.ok()) {
      link.Reset();
      if (s.code() == Status::Code::kClosed) break;  // stopped while connecting
      const bool config_error = s.code() == Status::Code::kDenied || s.code() == Status::Code::kNotFound ||
                                s.code() == Status::Code::kInvalidArgument || s.code() == Status::Code::kUnsupported;
      if (first && config_error) {  // bad credentials, a missing stream, a payload limit: an error at start
        out.Close(nullptr, std::chrono::milliseconds(0));
        return s;
      }
      std::fprintf(stderr, "mqbridge: %s; trying again\n", s.message().c_str());
      ::poll(nullptr, 0, 200);
      continue;
    }
    if (Status s = in.Attach(link.nc, link.js, link.stream_created); !s.ok()) {
      link.Reset();
      out.Close(nullptr, std::chrono::milliseconds(0));
      return s;
    }
    first = false;
    std::atomic<bool> lost{false};
    // One thread per local actor: an actor that is down holds back only its own.
    std::vector<std::thread> inbound;
    for (size_t i = 0; i < in.routes(); ++i)
      inbound.emplace_back([&, i] {
        while (!stop.load() && !lost.load()) in.Step(i);
        in.Drain(i);  // what the actor confirmed is recorded, and acked while the link holds
      });
    auto status_at = std::chrono::steady_clock::now();
    while (!stop.load() && !link.closed()) {
      out.Step(link.js);
      if (std::chrono::steady_clock::now() >= status_at) {
        WriteStatusNow(config, out, in, true);
        status_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      }
      ::poll(nullptr, 0, out.in_flight() > 0 ? 1 : 2);
    }
    lost = true;
    for (auto& t : inbound) t.join();
    if (stop.load()) break;
    // The connection is gone: start over on a new one (nats_link.cc says why).
    std::fprintf(stderr, "mqbridge: the connection to NATS closed; connecting again\n");
    link.Close();  // subscriptions are freed only once nothing can deliver to them
    in.Detach();
    out.LinkLost();
    link.Reset();
  }
  out.Close(link.js, std::chrono::milliseconds(2000));
  WriteStatusNow(config, out, in, false);
  link.Close();  // then the subscriptions (inbound.cc, RetireSubscription)
  in.Detach();
  return Status::OK();
}

}  // namespace mq::bridge
