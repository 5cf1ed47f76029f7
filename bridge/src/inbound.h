// Inbound (docs/bridge.md, "Inbound"): one durable pull consumer with
// explicit ack per local actor, filtered to mq.<this node>.<actor>.>, each
// driven by a thread of its own, so that an actor that is down holds back
// only its own messages. Each message is delivered to the actor's socket
// with a confirmed send, its stream sequence recorded durably in the
// actor's delivery record (DeliveredLog), and only then acked to JetStream.
// A redelivery of a recorded sequence is acked without delivering it again.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "delivered_log.h"
#include "mq/bridge.h"
#include "mq/sender.h"

namespace mq::bridge {

class Inbound {
 public:
  Inbound(const BridgeConfig& c, BridgeStats* stats) : c_(c), stats_(stats) {}
  ~Inbound();
  // Opens the delivery records of this stream incarnation (once) and the
  // consumers; again after a new connection.
  Status Attach(natsConnection* nc, jsCtx* js, int64_t stream_created);
  // After the connection is closed (natsConnection_Close: no read loop can
  // reach a subscription any more), before it is destroyed: destroys the
  // subscriptions.
  void Detach();
  size_t routes() const { return routes_.size(); }
  // Route i (one thread each): fetches one batch (waiting up to 100 ms) and
  // delivers it.
  void Step(size_t i);
  void Snapshot(std::vector<RouteStatus>* out);

 private:
  struct Route {
    LocalActor la;
    std::string filter, durable;
    std::unique_ptr<DeliveredLog> delivered;
    natsSubscription* sub = nullptr;
    std::vector<natsSubscription*> retired;  // unsubscribed, flush failed: destroyed in Detach
    bool need_reset = false;
    std::chrono::steady_clock::time_point reset_at{};
    std::chrono::milliseconds reset_backoff{100};
    std::unique_ptr<ConfirmedSender> sender;
    uint64_t last_delivered = 0;  // stream seq (a lower one next is reported: out of order)
    std::string printed;          // the last error printed
    std::atomic<uint64_t> in_flight{0}, delivered_n{0}, acked{0}, redelivered{0}, deduplicated{0};
    std::mutex mu;
    std::string last_error;  // guarded by mu
  };
  void SetError(Route& r, const std::string& why);
  ConfirmedSender* SenderFor(Route& r);
  // Replays from the consumer's ack floor (or the record's floor, if
  // higher), in stream order: deletes the durable consumer and makes it
  // again starting just above it. What was delivered above the floor is in
  // the delivery record and is skipped. Done at start (a crashed bridge's
  // unacked deliveries come back at once and in order, not after AckWait
  // behind newer ones), after a fetch error (a server restart) and after a
  // local delivery failed.
  Status ResetConsumer(Route& r);
  void NeedReset(Route& r, const std::string& why);
  // Destroys r.sub on a live connection once no message can reach it
  // (inbound.cc says why), or keeps it in r.retired for Detach.
  void RetireSubscription(Route& r);
  // Past record_compact_above sequences: asks the consumer's ack floor and
  // compacts the record to it.
  void MaybeCompact(Route& r);

  const BridgeConfig& c_;
  BridgeStats* stats_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  int64_t stream_created_ = 0;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace mq::bridge
