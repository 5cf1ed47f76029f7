// mqbridge's configuration: a good one parses; bad ones are refused with
// the file, the line and the field named (docs/bridge.md, "Configuration").
#include <gtest/gtest.h>

#include "mq/bridge.h"

namespace mq::bridge {
namespace {

constexpr const char* kGood = R"([bridge]
node = "A"
urls = ["nats://127.0.0.1:4222"]
state = "/var/lib/mq/bridge"
window = 64

[[remote]]
node = "B"
actor = "orders"
socket = "/run/mq/remote/B/orders.sock"

[[local]]
actor = "billing"
socket = "/run/mq/billing.sock"
)";

TEST(BridgeConfigTest, AGoodConfigurationGivesEveryField) {
  auto c = ParseConfig(kGood, "a.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->node, "A");
  EXPECT_EQ(c->stream, "MQ");
  EXPECT_EQ(c->window, 64u);
  ASSERT_EQ(c->remotes.size(), 1u);
  EXPECT_EQ(c->remotes[0].socket, "/run/mq/remote/B/orders.sock");
  ASSERT_EQ(c->locals.size(), 1u);
  EXPECT_EQ(c->locals[0].actor, "billing");
}

Status Error(const std::string& text) {
  auto c = ParseConfig(text, "x.toml");
  return c.ok() ? Status::OK() : c.status();
}

TEST(BridgeConfigTest, AnUnknownFieldIsNamedWithItsLine) {
  const Status s = Error(std::string(kGood) + "[[local]]\nactor = \"x\"\nsocket = \"/x.sock\"\nsockett = 1\n");
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("x.toml:18: local[1].sockett: unknown field"), std::string::npos) << s.message();
}

TEST(BridgeConfigTest, ANodeThatIsNotASubjectTokenIsRefused) {
  const Status s = Error("[bridge]\nnode = \"a.b\"\nurls = [\"nats://h:1\"]\nstate = \"/s\"\n");
  EXPECT_NE(s.message().find("x.toml:2: bridge.node: 'a.b' is not a name"), std::string::npos) << s.message();
}

TEST(BridgeConfigTest, MissingUrlsAndStateAreNamed) {
  EXPECT_NE(Error("[bridge]\nnode = \"A\"\nstate = \"/s\"\n").message().find("bridge.urls: missing"), std::string::npos);
  EXPECT_NE(Error("[bridge]\nnode = \"A\"\nurls = [\"nats://h:1\"]\n").message().find("bridge.state: missing"),
            std::string::npos);
  EXPECT_NE(Error("[bridge]\nnode = \"A\"\nurls = [\"http://h\"]\nstate = \"/s\"\n").message().find("bridge.urls[0]"),
            std::string::npos);
}

TEST(BridgeConfigTest, ARemoteActorOnThisNodeOrExposedTwiceIsRefused) {
  const std::string head = "[bridge]\nnode = \"A\"\nurls = [\"nats://h:1\"]\nstate = \"/s\"\n";
  EXPECT_NE(Error(head + "[[remote]]\nnode = \"A\"\nactor = \"o\"\nsocket = \"/o.sock\"\n").message().find("own node"),
            std::string::npos);
  const std::string r = "[[remote]]\nnode = \"B\"\nactor = \"o\"\nsocket = \"/o.sock\"\n";
  EXPECT_NE(Error(head + r + r).message().find("mq.B.o is exposed twice"), std::string::npos);
}

// B's window of fetch batches (docs/bridge.md, "Inbound"): 4 unless given,
// 1 to 16 (16 x 64 is the consumer's MaxAckPending, 1024).
TEST(BridgeConfigTest, TheInboundWindowDefaultsToFourAndOutsideOneToSixteenIsRefused) {
  auto c = ParseConfig(kGood, "a.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->inbound_window, 4u);
  const std::string head = "[bridge]\nnode = \"A\"\nurls = [\"nats://h:1\"]\nstate = \"/s\"\n";
  auto w = ParseConfig(head + "inbound_window = 16\n", "x.toml");
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->inbound_window, 16u);
  EXPECT_NE(Error(head + "inbound_window = 0\n").message().find("bridge.inbound_window"), std::string::npos);
  EXPECT_NE(Error(head + "inbound_window = 17\n").message().find("bridge.inbound_window"), std::string::npos);
}

TEST(BridgeConfigTest, ATomlSyntaxErrorNamesTheLine) {
  const Status s = Error("[bridge]\nnode = \"A\n");
  EXPECT_NE(s.message().find("x.toml:2: TOML syntax"), std::string::npos) << s.message();
}

constexpr const char* kHead = "[bridge]\nnode = \"A\"\nurls = [\"nats://h:1\"]\nstate = \"/s\"\n";

TEST(BridgeConfigTest, ATlsTableGivesItsFilesAndRequiresTls) {
  auto c = ParseConfig(std::string(kHead) +
                           "[bridge.tls]\nca = \"/etc/mq/ca.pem\"\ncert = \"/etc/mq/b.pem\"\nkey = \"/etc/mq/b.key\"\n"
                           "server_name = \"nats.example.com\"\n",
                       "x.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->tls.required);
  EXPECT_EQ(c->tls.ca, "/etc/mq/ca.pem");
  EXPECT_EQ(c->tls.cert, "/etc/mq/b.pem");
  EXPECT_EQ(c->tls.key, "/etc/mq/b.key");
  EXPECT_EQ(c->tls.server_name, "nats.example.com");
}

TEST(BridgeConfigTest, ATlsUrlRequiresTlsAndPlainUrlsDoNot) {
  auto plain = ParseConfig(kHead, "x.toml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->tls.required);
  auto tls = ParseConfig("[bridge]\nnode = \"A\"\nurls = [\"nats://h:1\", \"tls://h:2\"]\nstate = \"/s\"\n", "x.toml");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls.required);
  EXPECT_TRUE(tls->tls.ca.empty());
}

TEST(BridgeConfigTest, BadTlsTablesAreRefusedNamingTheField) {
  const std::string h = kHead;
  EXPECT_NE(Error(h + "[bridge.tls]\ncafile = \"/c\"\n").message().find("x.toml:6: bridge.tls.cafile: unknown field"),
            std::string::npos);
  EXPECT_NE(Error(h + "[bridge.tls]\ncert = \"/c\"\n").message().find("bridge.tls.cert: a client certificate needs both"),
            std::string::npos);
  EXPECT_NE(Error(h + "[bridge.tls]\nkey = \"/k\"\n").message().find("bridge.tls.key: a client certificate needs both"),
            std::string::npos);
  EXPECT_NE(Error(h + "[bridge.tls]\nca = \"ca.pem\"\n").message().find("bridge.tls.ca: 'ca.pem' is not an absolute path"),
            std::string::npos);
  EXPECT_NE(Error(h + "tls = true\n").message().find("bridge.tls: expected a [bridge.tls] table"), std::string::npos);
}

TEST(BridgeConfigTest, CredsAndAnNkeySeedTogetherAreRefused) {
  auto c = ParseConfig(std::string(kHead) + "nkey_seed = \"/etc/mq/u.nk\"\n", "x.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->nkey_seed, "/etc/mq/u.nk");
  EXPECT_NE(Error(std::string(kHead) + "creds = \"/c\"\nnkey_seed = \"/n\"\n").message().find("either creds or nkey_seed"),
            std::string::npos);
}

}  // namespace
}  // namespace mq::bridge
