// The bridge's routes on a real nats-server (tests/nats_fixture.h): each
// local actor has its own consumer, so one that is down holds back only its
// own messages; the delivery record stays bounded; `mqbridge status` shows
// each route's figures (docs/bridge.md, "Inbound", "Status").
#include <gtest/gtest.h>
#include <nats/nats.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "bridge_testing.h"
#include "nats_admin.h"
#include "mq/bridge.h"

namespace mq::test {
namespace {

class BridgeRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
  }
  // Waits (up to 20 s) until the stream holds at least `n` messages.
  bool WaitForStreamMessages(uint64_t n) {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    if (natsConnection_ConnectTo(&nc, server_.url().c_str()) != NATS_OK) return false;
    bool ok = natsConnection_JetStream(&js, nc, nullptr) == NATS_OK;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         ok && std::chrono::steady_clock::now() < deadline;) {
      jsStreamInfo* si = nullptr;
      uint64_t have = 0;
      if (js_GetStreamInfo(&si, js, "MQ", nullptr, nullptr) == NATS_OK) {
        have = si->State.Msgs;
        jsStreamInfo_Destroy(si);
      }
      if (have >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (std::chrono::steady_clock::now() >= deadline) ok = false;
    }
    if (js != nullptr) jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return ok;
  }
  void ExpectEachOnceInOrder(const std::vector<std::string>& want, const Received& got) {
    for (const auto& p : want) {
      auto it = got.count.find(p);
      EXPECT_TRUE(it != got.count.end() && it->second == 1)
          << p << " arrived " << (it == got.count.end() ? 0 : it->second) << " times\n" << hosts_->Logs();
    }
    for (const auto& [sender, idx] : got.order)
      for (size_t i = 1; i < idx.size(); ++i) EXPECT_LE(idx[i - 1], idx[i]) << "sender " << sender << " at " << i;
  }
  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
  std::unique_ptr<TwoHosts> hosts_;
};

// Takes (and acks) `n` messages from `mb`, each within the deadline.
int TakeUpTo(Mailbox& mb, int n, std::chrono::seconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  int got = 0;
  while (got < n && std::chrono::steady_clock::now() < deadline) {
    Message m;
    if (!mb.Take(Pattern::Any(), std::chrono::milliseconds(100), &m).ok()) continue;
    (void)mb.Ack(m.seq);
    ++got;
  }
  return got;
}

// "orders" on B is down (no mailbox at its socket) with 300 messages for it
// ahead in the stream; "audit" must still get its 100, and orders its 300
// once it is back.
TEST_F(BridgeRoutesTest, AnActorThatIsDownHoldsBackNoOtherActorAndGetsItsMessagesWhenBack) {
  hosts_ = std::make_unique<TwoHosts>(server_.url(), "", /*second_actor=*/true);
  MailboxOptions o;
  o.socket_path = hosts_->b_audit();
  o.queue_path = hosts_->File("b-audit.q");
  auto audit = Mailbox::Open(o);
  ASSERT_TRUE(audit.ok()) << audit.status().message();
  hosts_->a().Start();
  hosts_->b().Start();
  ASSERT_TRUE(hosts_->WaitForProxy()) << hosts_->Logs();
  const auto orders = hosts_->Send(2, 150, 30);
  ASSERT_EQ(orders.size(), 300u) << hosts_->Logs();
  ASSERT_TRUE(WaitForStreamMessages(300)) << "the stream did not get the 300 messages for orders\n" << hosts_->Logs();
  {
    ConfirmedSenderOptions so;
    so.connect_retry = std::chrono::milliseconds(10000);
    auto snd = ConfirmedSender::Open(hosts_->a_audit_proxy(), so);
    ASSERT_TRUE(snd.ok()) << snd.status().message();
    for (int i = 0; i < 100; ++i)
      ASSERT_TRUE((*snd)->SendConfirmed("audit " + std::to_string(i), std::chrono::seconds(5)).ok());
  }
  EXPECT_EQ(TakeUpTo(**audit, 100, std::chrono::seconds(20)), 100)
      << "audit's messages were held back behind orders, which is down\n" << hosts_->Logs();
  ASSERT_TRUE(hosts_->OpenActor().ok());
  ExpectEachOnceInOrder(orders, hosts_->Receive(orders, 30, 300));
}

// With record_compact_above = 64, 1,000 deliveries leave a record of a few
// batches, not 8,000 bytes; and after the consumer lost its acks (deleted, as
// when a server loses its consumer state), nothing is delivered twice: the
// record's floor says where to start.
TEST_F(BridgeRoutesTest, TheDeliveryRecordStaysBoundedAndAConsumerThatLostItsAcksDeliversNothingTwice) {
  hosts_ = std::make_unique<TwoHosts>(server_.url(), "record_compact_above = 64\n");
  auto sent = hosts_->DeliverAllThenStopB(4, 250, 30);
  ASSERT_EQ(sent.size(), 1000u);
  ASSERT_FALSE(HasFailure());
  std::string record;
  // The one record file of the actor orders under b-state/in.
  {
    for (const auto& e : std::filesystem::directory_iterator(hosts_->b_state() + "/in")) {
      const std::string n = e.path().filename().string();
      if (n.size() > 17 && n.substr(n.size() - 17) == ".orders.delivered") record = e.path().string();
    }
  }
  ASSERT_FALSE(record.empty()) << "no delivery record for orders under " << hosts_->b_state() << "/in";
  struct stat st;
  ASSERT_EQ(::stat(record.c_str(), &st), 0);
  std::printf("delivery record: %lld bytes after 1,000 deliveries\n", static_cast<long long>(st.st_size));
  EXPECT_LE(st.st_size, 8 * (1 + 4 * 64)) << record << " was not compacted";
  EXPECT_TRUE(DeleteConsumer(server_.url())) << "B's consumer mqbridge-1-B-orders is not on the server";
  hosts_->b().Start();
  std::vector<std::string> more;  // sender 9: payloads the first round never had
  {
    auto snd = ConfirmedSender::Open(hosts_->a_proxy(), {});
    ASSERT_TRUE(snd.ok());
    for (int i = 0; i < 10; ++i) {
      more.push_back("9:" + std::to_string(i) + ":0");
      ASSERT_TRUE((*snd)->SendConfirmed(more.back(), std::chrono::seconds(5)).ok());
    }
  }
  sent.insert(sent.end(), more.begin(), more.end());
  const Received got = hosts_->Receive(sent, 30, 500);
  int twice = 0;
  for (const auto& [p, n] : got.count) twice += n > 1;
  EXPECT_EQ(twice, 0) << hosts_->Logs();
  for (const auto& p : more) EXPECT_EQ(got.count.count(p), 1u) << p << " did not arrive\n" << hosts_->Logs();
}

// `mqbridge status` reads the state file the running bridges write: A's
// route published and acked all 200, B's delivered and acked all 200.
TEST_F(BridgeRoutesTest, StatusShowsEachRoutesPublishedAckedAndDeliveredCounts) {
  hosts_ = std::make_unique<TwoHosts>(server_.url());
  ASSERT_TRUE(hosts_->StartBoth());
  const auto sent = hosts_->Send(2, 100, 30);
  ASSERT_EQ(sent.size(), 200u);
  (void)hosts_->Receive(sent, 30, 0);
  auto a = bridge::LoadConfig(hosts_->a_config());
  auto b = bridge::LoadConfig(hosts_->b_config());
  ASSERT_TRUE(a.ok() && b.ok());
  bridge::RouteStatus out, in;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    auto sa = bridge::ReadStatus(*a);
    auto sb = bridge::ReadStatus(*b);
    if (!sa.ok() || !sb.ok() || sa->routes.size() != 1 || sb->routes.size() != 1) continue;
    out = sa->routes[0];
    in = sb->routes[0];
    if (out.acked == 200 && in.acked == 200) break;
  }
  EXPECT_EQ(out.kind, "out");
  EXPECT_EQ(out.name, "mq.B.orders.A");
  EXPECT_EQ(out.published, 200u);
  EXPECT_EQ(out.acked, 200u);
  EXPECT_EQ(out.in_flight, 0u);
  EXPECT_EQ(in.kind, "in");
  EXPECT_EQ(in.name, "orders");
  EXPECT_EQ(in.published, 200u);  // delivered to the actor
  EXPECT_EQ(in.acked, 200u);
  EXPECT_EQ(in.deduplicated, 0u);
  // The command line: --json gives one object with the routes.
  const std::string cmd = std::string(MQBRIDGE_PATH) + " status " + hosts_->a_config() + " --json";
  FILE* f = ::popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string json;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) json.append(buf, n);
  EXPECT_EQ(::pclose(f), 0) << json;
  EXPECT_NE(json.find("\"name\" : \"mq.B.orders.A\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"acked\" : 200"), std::string::npos) << json;
  EXPECT_NE(json.find("\"running\" : true"), std::string::npos) << json;
}

}  // namespace
}  // namespace mq::test
