// The bridge on a real nats-server (tests/nats_fixture.h): two "hosts" on
// one machine, each with its own mqbridge; confirmed sends to A's proxy
// socket reach the actor's mailbox on B once each, in each sender's order,
// also when a bridge is SIGKILLed or the server is SIGKILLed and restarted
// (docs/bridge.md, "What survives what").
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "bridge_testing.h"

namespace mq::test {
namespace {

// Messages per sender: halved under the sanitizers (docs/bridge.md, "Tests").
constexpr int kScale = test::kSanitized ? 2 : 1;
constexpr int kPerSender = 500 / kScale, kPerSenderKilled = 400 / kScale;

class BridgeDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
    // The A-kill test shrinks the stream's duplicate window to 100 ms: a
    // restarted bridge must find its place in the stream, not lean on the
    // server's Nats-Msg-Id dedup.
    const bool tiny = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
                          .find("TinyDuplicateWindow") != std::string::npos;
    hosts_ = std::make_unique<TwoHosts>(server_.url(), tiny ? "duplicate_window_ms = 100\n" : "");
    ASSERT_TRUE(hosts_->StartBoth());
  }

  // Every confirmed payload arrived exactly once; per sender, the first
  // arrivals are in send order. Returns the number of duplicates.
  void ExpectOnceEachInOrder(const std::vector<std::string>& confirmed, const Received& got, bool allow_dups = false,
                             int max_dups = 0) {
    int lost = 0, dups = 0;
    for (const auto& p : confirmed) {
      auto it = got.count.find(p);
      if (it == got.count.end()) ++lost;
      else dups += it->second - 1;
    }
    std::printf("confirmed %zu, lost %d, duplicated %d\n", confirmed.size(), lost, dups);
    EXPECT_EQ(lost, 0) << hosts_->Logs();
    if (allow_dups) EXPECT_LE(dups, max_dups) << hosts_->Logs();
    else EXPECT_EQ(dups, 0) << hosts_->Logs();
    for (const auto& [sender, idx] : got.order)
      for (size_t i = 1; i < idx.size(); ++i)
        EXPECT_LE(idx[i - 1], idx[i]) << "sender " << sender << " out of order at " << i << "\n" << hosts_->Logs();
  }

  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
  std::unique_ptr<TwoHosts> hosts_;
};

TEST_F(BridgeDeliveryTest, ConfirmedMessagesFromSendersOnAReachTheActorOnBOnceEachInSenderOrder) {
  const auto confirmed = hosts_->Send(4, kPerSender, 30);
  ASSERT_EQ(confirmed.size(), 4u * kPerSender);
  const Received got = hosts_->Receive(confirmed, 30, 300);
  ExpectOnceEachInOrder(confirmed, got);
}

// Kills run while the senders send; `kill` does one.
template <typename F>
int KillWhileSending(TwoHosts& h, int senders, int per_sender, int kills, F&& kill,
                     std::vector<std::string>* confirmed) {
  std::atomic<bool> done{false};
  std::thread sender([&] {
    *confirmed = h.Send(senders, per_sender, 40);
    done = true;
  });
  std::mt19937 rng(std::random_device{}());
  int n = 0;
  while (!done && n < kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    if (done) break;
    kill();
    ++n;
  }
  sender.join();
  return n;
}

TEST_F(BridgeDeliveryTest, SigkillOfTheSendingBridgeLosesAndDuplicatesNoConfirmedMessageWithATinyDuplicateWindow) {
  hosts_->StartReceiving();
  std::vector<std::string> confirmed;
  const int kills = KillWhileSending(*hosts_, 4, kPerSenderKilled, 10, [&] {
    hosts_->a().Kill();
    hosts_->a().Start();
  }, &confirmed);
  std::printf("bridge A SIGKILLed %d times\n", kills);
  EXPECT_GE(kills, 3);
  const Received got = hosts_->StopReceiving(confirmed, 30, 500);
  ASSERT_EQ(confirmed.size(), 4u * kPerSenderKilled) << hosts_->Logs();
  ExpectOnceEachInOrder(confirmed, got);
}

TEST_F(BridgeDeliveryTest, SigkillAndRestartOfTheServerLosesAndDuplicatesNoConfirmedMessage) {
  hosts_->StartReceiving();
  std::vector<std::string> confirmed;
  const int kills = KillWhileSending(*hosts_, 4, kPerSenderKilled, 2, [&] {
    server_.Kill();
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
  }, &confirmed);
  std::printf("nats-server SIGKILLed and restarted %d times\n", kills);
  EXPECT_EQ(kills, 2);
  const Received got = hosts_->StopReceiving(confirmed, 30, 500);
  ASSERT_EQ(confirmed.size(), 4u * kPerSenderKilled) << hosts_->Logs();
  ExpectOnceEachInOrder(confirmed, got);
}

// A kill between the actor's confirm and the fsync of the delivery record
// delivers what B had in flight again: at most its window of fetch batches
// (inbound_window x kInboundBatch = 4 x 64; docs/bridge.md, "What survives
// what").
TEST_F(BridgeDeliveryTest, SigkillOfTheReceivingBridgeLosesNothingAndDuplicatesAtMostTheWindowAKill) {
  hosts_->StartReceiving();
  std::vector<std::string> confirmed;
  const int kills = KillWhileSending(*hosts_, 4, kPerSenderKilled, 10, [&] {
    hosts_->b().Kill();
    hosts_->b().Start();
  }, &confirmed);
  std::printf("bridge B SIGKILLed %d times\n", kills);
  EXPECT_GE(kills, 3);
  const Received got = hosts_->StopReceiving(confirmed, 30, 500);
  ASSERT_EQ(confirmed.size(), 4u * kPerSenderKilled) << hosts_->Logs();
  ExpectOnceEachInOrder(confirmed, got, /*allow_dups=*/true, kills * 4 * 64);
}

}  // namespace
}  // namespace mq::test
