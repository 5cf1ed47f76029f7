// confirm = "upstream" on a real nats-server (docs/bridge.md, "What each
// confirm level promises"): the proxy's answer to a confirming sender waits
// for JetStream's PubAck of that message.
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <chrono>
#include <thread>

#include "bridge_testing.h"

namespace mq::test {
namespace {

class BridgeConfirmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
  }
  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
};

// With the server down, a send to the proxy is stored on A but not
// confirmed; once the server is up, it is confirmed.
TEST_F(BridgeConfirmTest, AnUpstreamConfirmWaitsForTheServerAndComesOnceItHasTheMessage) {
  std::string why;
  ASSERT_TRUE(server_.Start(&why)) << why;  // to learn a port
  server_.Stop();
  TwoHosts h(server_.url(), "confirm = \"upstream\"\n");
  h.a().Start();
  ASSERT_TRUE(h.WaitForProxy()) << h.Logs();
  ConfirmedSenderOptions o;
  o.reply_timeout = std::chrono::milliseconds(60000);
  auto snd = ConfirmedSender::Open(h.a_proxy(), o);
  ASSERT_TRUE(snd.ok()) << snd.status().message();
  ASSERT_TRUE((*snd)->SendAsync("0:0:0").ok());
  std::vector<Confirmation> cs;
  (void)(*snd)->Collect(std::chrono::milliseconds(1500), &cs);
  EXPECT_TRUE(cs.empty()) << "confirmed with the server down: " << (cs.empty() ? "" : cs[0].status.message());
  ASSERT_TRUE(server_.Start(&why)) << why;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (cs.empty() && std::chrono::steady_clock::now() < deadline)
    (void)(*snd)->Collect(std::chrono::milliseconds(100), &cs);
  ASSERT_EQ(cs.size(), 1u) << "no confirmation within 30 s of the server's start\n" << h.Logs();
  EXPECT_TRUE(cs[0].status.ok()) << cs[0].status.message();
}

// On a live server: when SendConfirmed returns, the stream's last message on
// the subject is already that message (its Mq-Id names the returned seq).
TEST_F(BridgeConfirmTest, AnUpstreamConfirmedMessageIsInTheStreamWhenTheSendReturns) {
  std::string why;
  ASSERT_TRUE(server_.Start(&why)) << why;
  TwoHosts h(server_.url(), "confirm = \"upstream\"\n");
  h.a().Start();
  ASSERT_TRUE(h.WaitForProxy()) << h.Logs();
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, server_.url().c_str()), NATS_OK);
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  auto snd = ConfirmedSender::Open(h.a_proxy(), {});
  ASSERT_TRUE(snd.ok());
  int in_stream = 0;
  for (int i = 0; i < 20; ++i) {
    auto seq = (*snd)->SendConfirmed("0:" + std::to_string(i) + ":0", std::chrono::seconds(20));
    ASSERT_TRUE(seq.ok()) << seq.status().message() << "\n" << h.Logs();
    natsMsg* last = nullptr;
    const char* id = nullptr;
    if (js_GetLastMsg(&last, js, "MQ", "mq.B.orders.A", nullptr, nullptr) == NATS_OK) {
      const std::string want = "/" + std::to_string(*seq);
      if (natsMsgHeader_Get(last, "Mq-Id", &id) == NATS_OK && std::string(id).size() > want.size() &&
          std::string(id).compare(std::string(id).size() - want.size(), want.size(), want) == 0)
        ++in_stream;
      natsMsg_Destroy(last);
    }
  }
  EXPECT_EQ(in_stream, 20) << "confirmed before the stream had the message\n" << h.Logs();
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

}  // namespace
}  // namespace mq::test
