// Two "hosts" on one machine for the bridge's tests: each with its own
// directory, state and mqbridge process, sharing one nats-server
// (nats_fixture.h). Senders on A send to A's proxy socket for B's actor; the
// actor is a mailbox on B that this process reads with take+ack.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mq/mailbox.h"
#include "mq/sender.h"
#include "nats_fixture.h"
#include "test_util.h"

namespace mq::test {

class BridgeProcess {
 public:
  BridgeProcess(std::string config, std::string log) : config_(std::move(config)), log_(std::move(log)) {}
  ~BridgeProcess() { Stop(); }
  void Start();
  void Kill();  // SIGKILL, reaped
  // SIGTERM, reaped (SIGKILL after 10 s); its exit status (-1: was not running).
  int Stop();
  // Waits up to `ms` for it to exit by itself: its wait status, or -1.
  int WaitExit(int ms);
  bool running() const { return pid_ > 0; }
  const std::string& log() const { return log_; }

 private:
  std::string config_, log_;
  pid_t pid_ = -1;
};

// The sender's payload: "<sender>:<index>:<attempt>"; a retry after an
// unanswered send is a new attempt, so a bridge duplicate (the same attempt
// twice) is told apart from a sender's own resend.
struct Received {
  std::map<std::string, int> count;               // payload -> times taken
  std::map<int, std::vector<int>> order;          // sender -> indexes in arrival order (first attempts only)
};

class TwoHosts {
 public:
  // `bridge_extra`: more [bridge] lines for both configurations.
  // `second_actor`: A also exposes, and B also imports, the actor "audit".
  explicit TwoHosts(const std::string& nats_url, const std::string& bridge_extra = "", bool second_actor = false);
  std::string a_proxy() const { return dir_.File("a-orders.sock"); }
  // The proxy's log on A (bridge/src/outbound.cc names it so).
  std::string a_proxy_queue() const { return dir_.File("a-state/out/B.orders.q"); }
  std::string b_actor() const { return dir_.File("b-orders.sock"); }
  std::string a_audit_proxy() const { return dir_.File("a-audit.sock"); }
  std::string b_audit() const { return dir_.File("b-audit.sock"); }
  std::string a_config() const { return dir_.File("a.toml"); }
  std::string b_config() const { return dir_.File("b.toml"); }
  std::string b_state() const { return dir_.File("b-state"); }
  std::string File(const std::string& name) const { return dir_.File(name); }
  BridgeProcess& a() { return *a_; }
  BridgeProcess& b() { return *b_; }
  // Opens the actor's mailbox on B.
  Status OpenActor();
  // A hung actor on B: a bare datagram socket bound at the actor's path,
  // which takes messages and never answers. Its descriptor (the caller
  // closes it), or -1.
  int BindHungActor() const;
  void CloseActor();
  // Waits up to 10 s for A's proxy socket.
  bool WaitForProxy();
  // Opens the actor, starts both bridges and waits for A's proxy; says what
  // failed (with the bridges' logs) if anything did.
  ::testing::AssertionResult StartBoth();
  // StartBoth, then `senders` x `per_sender` confirmed sends, all taken at B
  // within `deadline_s`, then B's bridge stopped cleanly: its delivery record
  // then holds every delivery. Returns the confirmed payloads (a test failure
  // and fewer of them if something failed).
  std::vector<std::string> DeliverAllThenStopB(int senders, int per_sender, int deadline_s);
  // Senders threads x per_sender confirmed sends to A's proxy, each retried
  // (a new attempt) until confirmed or `deadline_s` passes. Returns the
  // confirmed payloads.
  std::vector<std::string> Send(int senders, int per_sender, int deadline_s);
  // Takes (and acks) from the actor until every payload in `want` arrived or
  // `deadline_s` passed, then `settle_ms` more for duplicates.
  Received Receive(const std::vector<std::string>& want, int deadline_s, int settle_ms);
  // Receives in the background (for tests that kill things meanwhile).
  void StartReceiving();
  Received StopReceiving(const std::vector<std::string>& want, int deadline_s, int settle_ms);
  std::string Logs() const;

 private:
  TempDir dir_;
  std::unique_ptr<BridgeProcess> a_, b_;
  std::unique_ptr<Mailbox> actor_;
  std::mutex mu_;
  Received got_;
  std::atomic<bool> stop_{false};
  std::thread receiver_;
  void ReceiveLoop(std::atomic<bool>* stop);
};

}  // namespace mq::test
