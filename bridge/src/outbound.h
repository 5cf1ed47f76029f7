// Outbound (docs/bridge.md, "Outbound"): proxy mailboxes for remote actors,
// each stored message published to mq.<node>.<actor>.<this node> with a
// stable Nats-Msg-Id (<this node>/<proxy log id>/<seq>), consumed locally
// only after its PubAck, in order.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mq/bridge.h"
#include "mq/mailbox.h"
#include "mq/runtime.h"

namespace mq::bridge {

class Outbound {
 public:
  Outbound(const BridgeConfig& c, BridgeStats* stats) : c_(c), stats_(stats) {}
  // Lets confirmers waiting upstream go, then closes the proxies.
  ~Outbound();
  // Binds the proxy sockets (their logs under <state>/out).
  Status Open();
  // One turn: takes the PubAcks that arrived, republishes after an error or
  // a timeout, publishes what is pending within the window.
  void Step(jsCtx* js);
  // Waits (up to `for_at_most`) for the publishes in flight, then closes.
  void Close(jsCtx* js, std::chrono::milliseconds for_at_most);
  size_t in_flight() const { return total_in_flight_; }
  // The connection is gone (with whatever the client still held): nothing
  // in flight will be answered; every route asks the stream where it is
  // before it publishes again.
  void LinkLost();
  void Snapshot(std::vector<RouteStatus>* out) const;

  // confirm = "upstream": the proxies' before_confirm. Waits until every
  // message of route i up to `seq` is in the stream (true), or the bridge is
  // closing (false: the answers say "store error", and the messages stay
  // in the proxy's log, to be published after a restart).
  bool WaitUpstream(size_t i, uint64_t seq);

  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);

 private:
  enum class Sent { kWaiting, kAcked, kFailed };
  struct Route {
    RemoteActor ra;
    std::string subject;
    std::unique_ptr<Mailbox> mb;
    uint64_t log_id = 0;
    bool reconcile = true;     // ask the stream where we are before publishing
    uint64_t expect_subject_seq = 0;  // for the first publish after reconciling
    uint64_t next = 1;         // the next local seq to publish
    std::map<uint64_t, Sent> in_flight;
    bool failed = false;
    // One message alone until it is acked: after reconciling (its
    // ExpectLastSubjectSeq is checked before anything is pipelined behind
    // it) and after an error (a window sent while JetStream is coming back
    // could have an early message refused and a later one stored: a swap).
    bool probe = true;
    std::chrono::steady_clock::time_point retry_at{};
    std::string last_error;
    uint64_t published = 0, acked = 0, republished = 0, duplicates = 0;  // `mqbridge status`
  };
  struct Event {
    std::string subject;
    uint64_t seq;
    bool ok;
    bool duplicate;
    std::string error;
  };
  Status Reconcile(jsCtx* js, Route& r);
  void Publish(jsCtx* js, Route& r, size_t budget);
  void Fail(Route& r, const std::string& why);

  const BridgeConfig& c_;
  BridgeStats* stats_;
  std::shared_ptr<Runtime> runtime_;
  std::vector<Route> routes_;
  std::map<std::string, size_t> by_subject_;
  size_t total_in_flight_ = 0;
  std::chrono::steady_clock::time_point last_ack_{};
  std::mutex mu_;
  std::vector<Event> events_;  // guarded by mu_ (filled on the NATS thread)
  // confirm = "upstream": per route, every local seq up to acked_through_[i]
  // is in the stream; guarded by gate_mu_, waited on by the proxies'
  // confirmers.
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  std::vector<uint64_t> acked_through_;
  bool closing_ = false;
  void AckedThrough(size_t i, uint64_t seq);
};

}  // namespace mq::bridge
