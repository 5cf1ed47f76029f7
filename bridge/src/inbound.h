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
#include <deque>
#include <map>
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
  // Route i (one thread each): settles the batches whose confirmations are
  // in, fetches the next batch if the window has room (waiting up to 100 ms
  // when none is in flight, not at all otherwise) and delivers it, or waits
  // a little for confirmations.
  void Step(size_t i);
  // Route i's thread, when it stops: waits for every confirmation in flight
  // (up to the reply timeout), records and acks what was confirmed.
  void Drain(size_t i) { Drain(*routes_[i]); }
  void Snapshot(std::vector<RouteStatus>* out);

 private:
  // A delivered message awaiting the actor's confirmation.
  struct Pending {
    natsMsg* msg;
    uint64_t stream_seq;
    uint64_t ticket;  // the route's sender's
  };
  // One fetched batch in the window: its messages are destroyed with it.
  struct Batch {
    natsMsgList list{};
    std::vector<Pending> sent;
    Batch() = default;
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    Batch(Batch&& o) noexcept : list(o.list), sent(std::move(o.sent)) { o.list = natsMsgList{}; }
    Batch& operator=(Batch&&) = delete;
    ~Batch() { natsMsgList_Destroy(&list); }
  };
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
    // Batches delivered and not yet acked, oldest first (at most
    // inbound_window); the answers that came for their tickets.
    std::deque<Batch> window;
    std::map<uint64_t, bool> answers;  // ticket -> stored by the actor's mailbox
    bool failed = false;               // a send or a confirmation failed: drain, then reset
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
  // Reads the confirmations that came (waiting up to `wait` for one).
  void Collect(Route& r, std::chrono::milliseconds wait);
  // Records (one fdatasync) and then acks the oldest batches whose every
  // message is answered; with `all`, every batch (an unanswered message
  // counts as not stored). Never acks a message its mailbox did not confirm.
  void Settle(Route& r, bool all);
  // Every confirmation in flight awaited (Flush), every batch settled.
  void Drain(Route& r);

  const BridgeConfig& c_;
  BridgeStats* stats_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  int64_t stream_created_ = 0;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace mq::bridge
