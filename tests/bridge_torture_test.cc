// The bridge's reliability run (label torture; docs/bridge.md, "What
// survives what"): confirmed messages from several senders on A while both
// bridges are SIGKILLed at random and nats-server is SIGKILLed and restarted
// twice; counts confirmed, lost and duplicated. Sized for CI (2,000
// messages, 6 bridge kills); MQ_BRIDGE_MESSAGES and MQ_BRIDGE_KILLS raise it
// (the run: MQ_BRIDGE_MESSAGES=10000 MQ_BRIDGE_KILLS=20).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "bridge_testing.h"

namespace mq::test {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

TEST(BridgeTortureTest, BridgeKillsAndServerRestartsLoseNoConfirmedMessageAndDuplicateAtMostTheWindowPerReceivingKill) {
  if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
  const int messages = EnvInt("MQ_BRIDGE_MESSAGES", test::kSanitized ? 800 : 2000);
  const int kills = EnvInt("MQ_BRIDGE_KILLS", test::kSanitized ? 4 : 6);
  constexpr int kSenders = 4;
  TempDir nats_dir;
  NatsServer server(nats_dir.path());
  std::string why;
  ASSERT_TRUE(server.Start(&why)) << why;
  TwoHosts h(server.url(), "duplicate_window_ms = 100\n");
  ASSERT_TRUE(h.StartBoth());
  h.StartReceiving();
  std::vector<std::string> confirmed;
  std::atomic<bool> done{false};
  std::thread sender([&] {
    confirmed = h.Send(kSenders, messages / kSenders, 60 + messages / 50);
    done = true;
  });
  std::mt19937 rng(std::random_device{}());
  int a_kills = 0, b_kills = 0, server_kills = 0;
  // The server's two kills fall after a third and two thirds of the bridge kills.
  for (int k = 0; k < kills && !done; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    if (done) break;
    if (rng() % 2 == 0) h.a().Kill(), h.a().Start(), ++a_kills;
    else h.b().Kill(), h.b().Start(), ++b_kills;
    if (server_kills < 2 && (k + 1) * 3 >= kills * (server_kills + 1)) {
      server.Kill();
      ASSERT_TRUE(server.Start(&why)) << why;
      ++server_kills;
    }
  }
  // Whatever remains of the kills, if the senders finished first: on an
  // idle system, the server restarts still happen.
  while (server_kills < 2) {
    server.Kill();
    ASSERT_TRUE(server.Start(&why)) << why;
    ++server_kills;
  }
  sender.join();
  const Received got = h.StopReceiving(confirmed, 60, 1000);
  int lost = 0, dups = 0;
  for (const auto& p : confirmed) {
    auto it = got.count.find(p);
    if (it == got.count.end()) ++lost;
    else dups += it->second - 1;
  }
  std::printf("messages %d (%zu confirmed), bridge kills %d (A %d, B %d), server kills %d: lost %d, duplicated %d\n",
              messages, confirmed.size(), a_kills + b_kills, a_kills, b_kills, server_kills, lost, dups);
  EXPECT_EQ(confirmed.size(), static_cast<size_t>(messages / kSenders * kSenders)) << h.Logs();
  EXPECT_EQ(lost, 0) << h.Logs();
  EXPECT_LE(dups, b_kills * 4 * 64) << h.Logs();  // inbound_window x kInboundBatch
  for (const auto& [s, idx] : got.order)
    for (size_t i = 1; i < idx.size(); ++i) EXPECT_LE(idx[i - 1], idx[i]) << "sender " << s << " at " << i;
}

}  // namespace
}  // namespace mq::test
