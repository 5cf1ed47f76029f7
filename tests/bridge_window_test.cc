// B's window (docs/bridge.md, "Inbound"): the receiving bridge delivers
// the next fetch batches to the actor while the earlier ones await the
// actor's confirmation, and still acks JetStream only after it. Made
// deterministic with an actor that takes datagrams and never confirms them
// (a bare socket at its path): whatever it holds beyond one batch was
// delivered before any batch could be acked.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "bridge_testing.h"
#include "nats_admin.h"

namespace mq::test {
namespace {

constexpr size_t kBatch = 64;       // bridge/include/mq/bridge.h, kInboundBatch
constexpr size_t kWindow = 4;       // BridgeConfig::inbound_window's default
constexpr int kMessages = 400;

class BridgeWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
    hosts_ = std::make_unique<TwoHosts>(server_.url());
    // A hung actor: a bare datagram socket at the actor's path; it takes
    // messages and never answers.
    hung_ = hosts_->BindHungActor();
    ASSERT_GE(hung_, 0) << std::strerror(errno);
    hosts_->a().Start();
    hosts_->b().Start();
    ASSERT_TRUE(hosts_->WaitForProxy()) << hosts_->Logs();
    sent_ = hosts_->Send(1, kMessages, 30);
    ASSERT_EQ(sent_.size(), static_cast<size_t>(kMessages)) << hosts_->Logs();
  }
  void TearDown() override {
    if (hung_ >= 0) ::close(hung_);
  }
  // Reads the hung actor's socket until it has taken `want` distinct
  // messages or `deadline_s` passed, then for `settle_ms` more (the bound
  // is checked on what came meanwhile). Returns the distinct payloads.
  std::set<std::string> TakeHung(size_t want, int deadline_s, int settle_ms) {
    std::set<std::string> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(deadline_s);
    bool settling = false;
    char buf[512];
    while (std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = ::recv(hung_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        got.emplace(buf, static_cast<size_t>(n));
        continue;
      }
      if (!settling && got.size() >= want) {
        settling = true;
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(settle_ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return got;
  }
  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
  std::unique_ptr<TwoHosts> hosts_;
  int hung_ = -1;
  std::vector<std::string> sent_;
};

// More than one batch reaches the actor while it has confirmed nothing, no
// more than the window does, and nothing is acked to JetStream meanwhile.
TEST_F(BridgeWindowTest, TheReceivingBridgeDeliversTheNextBatchesBeforeTheFirstIsConfirmedAndAcksNone) {
  const std::set<std::string> got = TakeHung(kWindow * kBatch, 20, 500);
  std::printf("the hung actor took %zu distinct messages\n", got.size());
  EXPECT_GT(got.size(), kBatch) << "only one batch in flight\n" << hosts_->Logs();
  EXPECT_LE(got.size(), kWindow * kBatch) << "more than the window in flight\n" << hosts_->Logs();
  EXPECT_EQ(ConsumerAckFloor(server_.url()), 0) << "acked before the actor confirmed\n" << hosts_->Logs();
}

// A SIGKILL of B's bridge with its window full of messages the actor took
// and never confirmed (it then dies with them): once a real mailbox is at
// the actor's path and B's bridge is back, every message arrives, once.
TEST_F(BridgeWindowTest, ASigkillOfTheReceivingBridgeWithAFullWindowLosesNothingTheActorDidNotConfirm) {
  const std::set<std::string> got = TakeHung(kWindow * kBatch, 20, 200);
  ASSERT_GT(got.size(), kBatch) << hosts_->Logs();
  hosts_->b().Kill();
  ::close(hung_);  // the actor dies with what it took
  hung_ = -1;
  ::unlink(hosts_->b_actor().c_str());
  ASSERT_TRUE(hosts_->OpenActor().ok());
  hosts_->b().Start();
  const Received r = hosts_->Receive(sent_, 30, 500);
  int lost = 0, dups = 0;
  for (const auto& p : sent_) {
    auto it = r.count.find(p);
    if (it == r.count.end()) ++lost;
    else dups += it->second - 1;
  }
  std::printf("window full with %zu; confirmed %zu, lost %d, duplicated %d\n", got.size(), sent_.size(), lost, dups);
  EXPECT_EQ(lost, 0) << hosts_->Logs();
  EXPECT_EQ(dups, 0) << hosts_->Logs();  // the hung actor stored none of them
  for (const auto& [sender, idx] : r.order)
    for (size_t i = 1; i < idx.size(); ++i) EXPECT_LE(idx[i - 1], idx[i]) << "out of order at " << i;
}

}  // namespace
}  // namespace mq::test
