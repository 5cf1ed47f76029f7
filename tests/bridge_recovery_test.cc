// The bridge's recovery paths on a real nats-server, made deterministic:
// the state a crash leaves is built by hand instead of hoping a SIGKILL
// lands in a window of microseconds (docs/bridge.md, "Outbound", "Inbound").
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <thread>

#include "bridge_testing.h"
#include "nats_admin.h"

namespace mq::test {
namespace {

class BridgeRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
    hosts_ = std::make_unique<TwoHosts>(server_.url(), "duplicate_window_ms = 100\n");
  }
  void ExpectEachOnce(const std::vector<std::string>& want, const Received& got) {
    for (const auto& p : want) {
      auto it = got.count.find(p);
      EXPECT_TRUE(it != got.count.end() && it->second == 1)
          << p << " arrived " << (it == got.count.end() ? 0 : it->second) << " times\n" << hosts_->Logs();
    }
    EXPECT_EQ(got.count.size(), want.size());
  }
  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
  std::unique_ptr<TwoHosts> hosts_;
};

// A crash after the PubAck and before the local consume leaves messages
// both in the stream and pending on A. Built here: the proxy's log holds 100
// messages, the stream already has the first 40 with A's Msg-Ids, and the
// duplicate window (100 ms) has passed, so the server's dedup cannot help.
// The restarted bridge must find its place from the subject's last message.
TEST_F(BridgeRecoveryTest, ARestartedSendingBridgeDoesNotPublishAgainWhatTheStreamHoldsPastTheDuplicateWindow) {
  ASSERT_TRUE(hosts_->OpenActor().ok());
  hosts_->a().Start();  // creates the proxy's log, then the stream
  ASSERT_TRUE(hosts_->WaitForProxy()) << hosts_->Logs();
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, server_.url().c_str()), NATS_OK);
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  bool stream = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !stream && std::chrono::steady_clock::now() < deadline;) {
    jsStreamInfo* si = nullptr;
    stream = js_GetStreamInfo(&si, js, "MQ", nullptr, nullptr) == NATS_OK;
    if (stream) jsStreamInfo_Destroy(si);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(stream) << "bridge A did not create the stream MQ within 10 s\n" << hosts_->Logs();
  ASSERT_EQ(hosts_->a().Stop(), 0) << hosts_->Logs();
  std::vector<std::string> sent;
  std::vector<uint64_t> seqs;
  uint64_t log_id = 0;
  {
    MailboxOptions o;
    o.socket_path = hosts_->a_proxy();
    o.queue_path = hosts_->a_proxy_queue();
    auto proxy = Mailbox::Open(o);
    ASSERT_TRUE(proxy.ok()) << proxy.status().message();
    log_id = (*proxy)->store()->Stats().log_id;
    auto snd = ConfirmedSender::Open(hosts_->a_proxy(), {});
    ASSERT_TRUE(snd.ok());
    for (int i = 0; i < 100; ++i) {
      sent.push_back("0:" + std::to_string(i) + ":0");
      auto seq = (*snd)->SendConfirmed(sent.back(), std::chrono::seconds(5));
      ASSERT_TRUE(seq.ok()) << seq.status().message();
      seqs.push_back(*seq);
    }
    ASSERT_TRUE((*proxy)->Close().ok());
  }
  for (int i = 0; i < 40; ++i) {
    natsMsg* m = nullptr;
    ASSERT_EQ(natsMsg_Create(&m, "mq.B.orders.A", nullptr, sent[i].data(), static_cast<int>(sent[i].size())), NATS_OK);
    const std::string id = "A/" + std::to_string(log_id) + "/" + std::to_string(seqs[i]);
    natsMsgHeader_Set(m, "Mq-Id", id.c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    jsPubAck* pa = nullptr;
    ASSERT_EQ(js_PublishMsg(&pa, js, m, &po, nullptr), NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  // The duplicate window is a time: let it pass (the server forgets the ids).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  hosts_->a().Start();
  hosts_->b().Start();
  ExpectEachOnce(sent, hosts_->Receive(sent, 30, 500));
}

// An actor that took the datagrams into its socket and never confirmed them
// (it hung, or died before storing them): the bridge must not ack them to
// JetStream, and delivers them once the actor's mailbox is back.
TEST_F(BridgeRecoveryTest, MessagesTheActorNeverConfirmedAreDeliveredWhenItIsBack) {
  // A bare datagram socket at the actor's path: it takes, never answers.
  const int hung = hosts_->BindHungActor();
  ASSERT_GE(hung, 0) << std::strerror(errno);
  hosts_->a().Start();
  hosts_->b().Start();
  ASSERT_TRUE(hosts_->WaitForProxy()) << hosts_->Logs();
  const auto sent = hosts_->Send(1, 50, 20);
  ASSERT_EQ(sent.size(), 50u);
  // B's sends reach the hung socket; their answers never come (5 s reply timeout).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[256];
  int taken = 0;
  while (taken < 50 && std::chrono::steady_clock::now() < deadline)
    if (::recv(hung, buf, sizeof(buf), MSG_DONTWAIT) > 0) ++taken;
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GT(taken, 0) << "the bridge never sent to the actor's socket\n" << hosts_->Logs();
  ::close(hung);  // the actor dies with what it took
  ::unlink(hosts_->b_actor().c_str());
  ASSERT_TRUE(hosts_->OpenActor().ok());
  ExpectEachOnce(sent, hosts_->Receive(sent, 30, 500));
}

// The consumer's acks are lost (here: the durable consumer is deleted, as
// when a server loses its consumer state): JetStream delivers everything
// again, and B's delivery record must keep each message to one delivery.
TEST_F(BridgeRecoveryTest, RedeliveriesAfterTheConsumerLostItsAcksAreNotDeliveredAgain) {
  auto sent = hosts_->DeliverAllThenStopB(1, 100, 20);
  ASSERT_EQ(sent.size(), 100u);
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(DeleteConsumer(server_.url())) << "B's consumer mqbridge-1-B-orders is not on the server";
  hosts_->b().Start();
  // Send 10 more (indexes 100..109 of sender 0 are new payloads).
  std::vector<std::string> more;
  {
    auto snd = ConfirmedSender::Open(hosts_->a_proxy(), {});
    ASSERT_TRUE(snd.ok());
    for (int i = 100; i < 110; ++i) {
      more.push_back("0:" + std::to_string(i) + ":0");
      ASSERT_TRUE((*snd)->SendConfirmed(more.back(), std::chrono::seconds(5)).ok());
    }
  }
  sent.insert(sent.end(), more.begin(), more.end());
  ExpectEachOnce(sent, hosts_->Receive(sent, 30, 500));
}

}  // namespace
}  // namespace mq::test
