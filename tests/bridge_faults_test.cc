// The bridge's bad input and faults at start, on a real nats-server
// (tests/nats_fixture.h; docs/bridge.md, "Configuration", "Outbound"): a
// message over the limit is refused at the proxy with its size named; a
// limit above the server's max_payload, and credentials the server refuses,
// end the bridge at start with the error; a server that is down at start is
// waited for while messages queue on A.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "bridge_testing.h"
#include "mq/bridge.h"

namespace mq::test {
namespace {

class BridgeFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
  }
  bool LogHas(const std::string& log, const std::string& text, int within_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(within_ms);
    do {
      if (FileExists(log) && ReadFileOrDie(log).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
};

TEST_F(BridgeFaultsTest, ADatagramOverTheProxysLimitIsRefusedWithItsSizeNamedAndNeverForwarded) {
  std::string why;
  ASSERT_TRUE(server_.Start(&why)) << why;
  TwoHosts h(server_.url(), "max_message_size = 1000\n");
  ASSERT_TRUE(h.StartBoth());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", h.a_proxy().c_str());
  const std::string big(2345, 'x');
  ASSERT_EQ(::sendto(fd, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)),
            static_cast<ssize_t>(big.size()));
  ::close(fd);
  EXPECT_TRUE(LogHas(h.File("a.log"), "2345", 10000)) << "A did not name the refused size\n" << h.Logs();
  // A message within the limit still goes through, and it is the only one.
  const auto sent = h.Send(1, 1, 20);
  ASSERT_EQ(sent.size(), 1u);
  const Received got = h.Receive(sent, 20, 500);
  EXPECT_EQ(got.count.size(), 1u) << h.Logs();
}

TEST_F(BridgeFaultsTest, ALimitAboveTheServersMaxPayloadEndsTheBridgeAtStartNamingBoth) {
  const std::string conf = nats_dir_.File("server.conf");
  WriteFileOrDie(conf, "max_payload: 4096\n");
  server_.set_extra_args({"-c", conf});
  std::string why;
  ASSERT_TRUE(server_.Start(&why)) << why;
  TwoHosts h(server_.url(), "max_message_size = 65536\n");
  h.a().Start();
  const int st = h.a().WaitExit(20000);
  ASSERT_NE(st, -1) << "the bridge did not end within 20 s\n" << h.Logs();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) << st;
  const std::string log = ReadFileOrDie(h.File("a.log"));
  EXPECT_NE(log.find("65536"), std::string::npos) << log;
  EXPECT_NE(log.find("max_payload (4096)"), std::string::npos) << log;
}

TEST_F(BridgeFaultsTest, CredentialsTheServerRefusesEndTheBridgeAtStartWithAClearError) {
  server_.set_extra_args({"--user", "mq", "--pass", "right"});
  std::string why;
  ASSERT_TRUE(server_.Start(&why)) << why;
  TwoHosts h(server_.url(), "");  // no credentials: the server asks for a user and password
  h.a().Start();
  const int st = h.a().WaitExit(20000);
  ASSERT_NE(st, -1) << "the bridge kept retrying credentials the server refuses\n" << h.Logs();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) << st;
  const std::string log = ReadFileOrDie(h.File("a.log"));
  EXPECT_NE(log.find("NATS refused the credentials"), std::string::npos) << log;
}

// The server is down when both bridges start: senders are confirmed by A's
// disk meanwhile, the status file says "not connected", and every message
// arrives once, in order, when the server comes up.
TEST_F(BridgeFaultsTest, WithTheServerDownAtStartMessagesQueueOnAAndArriveOnceItIsUp) {
  std::string why;
  ASSERT_TRUE(server_.Start(&why)) << why;  // to learn a port
  server_.Stop();
  TwoHosts h(server_.url(), "");
  ASSERT_TRUE(h.StartBoth());
  const auto sent = h.Send(2, 100, 30);
  ASSERT_EQ(sent.size(), 200u) << "senders were not confirmed by A's disk while the server was down\n" << h.Logs();
  auto a = bridge::LoadConfig(h.a_config());
  ASSERT_TRUE(a.ok());
  auto st = bridge::ReadStatus(*a);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_FALSE(st->connected);
  EXPECT_TRUE(h.a().running() && h.a().WaitExit(0) == -1) << "A gave up while the server was down\n" << h.Logs();
  ASSERT_TRUE(server_.Start(&why)) << why;
  const Received got = h.Receive(sent, 30, 300);
  for (const auto& p : sent) {
    auto it = got.count.find(p);
    EXPECT_TRUE(it != got.count.end() && it->second == 1) << p << "\n" << h.Logs();
  }
  for (const auto& [sender, idx] : got.order)
    for (size_t i = 1; i < idx.size(); ++i) EXPECT_LE(idx[i - 1], idx[i]) << "sender " << sender;
}

}  // namespace
}  // namespace mq::test
