// The bridge's credentials and TLS on a real nats-server (docs/bridge.md,
// "Security"): confirmed messages cross over TLS with a trusted CA, with
// mutual TLS, and as an NKey user; an untrusted server certificate, a
// server that requires TLS the config does not give, a wrong name, a
// refused nkey, and secret files others may read each end the bridge at
// start (exit 1) with the file or URL named and what to do. Certificates and
// nkeys are made at test time (tests/nats_secrets.h).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bridge_testing.h"
#include "nats_secrets.h"

namespace mq::test {
namespace {

class BridgeSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsServer::Binary().empty()) GTEST_SKIP() << NatsServer::SkipReason();
    std::string why;
    ASSERT_TRUE(MakeTlsFiles(dir_.path(), &why)) << why;
  }
  std::string File(const std::string& name) const { return dir_.File(name); }
  // Starts the server with `conf` (its tls or authorization block).
  void StartServer(const std::string& conf) {
    WriteFileOrDie(File("server.conf"), conf);
    server_.set_extra_args({"-c", File("server.conf")});
    std::string why;
    ASSERT_TRUE(server_.Start(&why)) << why;
  }
  std::string ServerTls(bool verify_clients, const std::string& cert = "server") const {
    return "tls {\n  cert_file: \"" + File(cert + ".pem") + "\"\n  key_file: \"" + File(cert + ".key") +
           "\"\n  ca_file: \"" + File("ca.pem") + "\"\n" + (verify_clients ? "  verify: true\n" : "") + "}\n";
  }
  std::string TlsUrl() const { return "tls://localhost:" + std::to_string(server_.port()); }
  // 20 confirmed messages from 2 senders arrive at B once each.
  void ExpectDelivered(TwoHosts& h) {
    ASSERT_TRUE(h.StartBoth());
    const auto sent = h.Send(2, 10, 30);
    ASSERT_EQ(sent.size(), 20u) << h.Logs();
    const Received got = h.Receive(sent, 30, 200);
    for (const auto& p : sent) {
      auto it = got.count.find(p);
      EXPECT_TRUE(it != got.count.end() && it->second == 1) << p << "\n" << h.Logs();
    }
  }
  // A's bridge ends by itself within 20 s with exit 1; its log.
  std::string EndsAtStart(TwoHosts& h) {
    h.a().Start();
    const int st = h.a().WaitExit(20000);
    EXPECT_NE(st, -1) << "the bridge kept trying\n" << h.Logs();
    EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1) << st << "\n" << h.Logs();
    return FileExists(h.File("a.log")) ? ReadFileOrDie(h.File("a.log")) : "";
  }
  std::string SeedFile(const std::string& seed, mode_t mode) {
    const std::string f = File("user-" + std::to_string(++seeds_) + ".nk");
    WriteFileOrDie(f, seed + "\n");
    EXPECT_EQ(::chmod(f.c_str(), mode), 0);
    return f;
  }
  TempDir dir_;
  TempDir nats_dir_;
  NatsServer server_{nats_dir_.path()};
  int seeds_ = 0;
};

TEST_F(BridgeSecurityTest, OverTlsWithATrustedCaConfirmedMessagesArriveOnce) {
  StartServer(ServerTls(false));
  // tls://localhost: TLS required, and the certificate checked for "localhost".
  TwoHosts h(TlsUrl(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\n");
  ExpectDelivered(h);
}

TEST_F(BridgeSecurityTest, AServerCertificateFromAnUntrustedCaEndsTheBridgeNamingTheCaFile) {
  StartServer(ServerTls(false));
  TwoHosts h(TlsUrl(), "[bridge.tls]\nca = \"" + File("other-ca.pem") + "\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("mqbridge: TLS with " + TlsUrl() + " failed"), std::string::npos) << log;
  EXPECT_NE(log.find("signed by " + File("other-ca.pem")), std::string::npos) << log;
  EXPECT_NE(log.find("unable to get local issuer certificate"), std::string::npos) << log;
}

TEST_F(BridgeSecurityTest, ACertificateForAnotherNameThanServerNameEndsTheBridge) {
  StartServer(ServerTls(false));
  TwoHosts h(TlsUrl(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\nserver_name = \"nats.example.com\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("hostname mismatch"), std::string::npos) << log;
  EXPECT_NE(log.find("nats.example.com"), std::string::npos) << log;
}

// Without server_name, the client checks the URL's host; server_name replaces it.
TEST_F(BridgeSecurityTest, ACertificateForAnotherHostThanTheUrlsIsRefusedUnlessServerNameNamesIt) {
  StartServer(ServerTls(false, "elsewhere"));
  TwoHosts h(TlsUrl(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("hostname mismatch:expected=localhost"), std::string::npos) << log;
  TwoHosts named(TlsUrl(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\nserver_name = \"nats.example.com\"\n");
  ExpectDelivered(named);
}

TEST_F(BridgeSecurityTest, AServerWithoutTlsIsRefusedWhenTheConfigRequiresIt) {
  StartServer("");
  TwoHosts h(server_.url(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("mqbridge: TLS is required ([bridge.tls] or a tls:// URL) but " + server_.url() + " offers none"),
            std::string::npos) << log;
}

TEST_F(BridgeSecurityTest, AServerThatRequiresTlsTheConfigDoesNotGiveEndsTheBridgeSayingSo) {
  StartServer(ServerTls(false));
  TwoHosts h(server_.url(), "");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("mqbridge: " + server_.url() + " requires TLS: add a [bridge.tls] table"), std::string::npos)
      << log;
}

TEST_F(BridgeSecurityTest, AMissingCaFileEndsTheBridgeNamingIt) {
  TwoHosts h("tls://localhost:1", "[bridge.tls]\nca = \"" + File("no-such-ca.pem") + "\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("mqbridge: " + File("no-such-ca.pem") + ": cannot read the trusted CAs (bridge.tls.ca)"),
            std::string::npos) << log;
}

TEST_F(BridgeSecurityTest, WithMutualTlsTheServerAdmitsTheClientCertificateAndRefusesNone) {
  StartServer(ServerTls(true));
  TwoHosts h(TlsUrl(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\ncert = \"" + File("client.pem") +
                           "\"\nkey = \"" + File("client.key") + "\"\n");
  ExpectDelivered(h);
  TwoHosts without(TlsUrl(), "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\n");
  const std::string log = EndsAtStart(without);
  EXPECT_NE(log.find("bridge.tls.cert and key"), std::string::npos) << log;
}

TEST_F(BridgeSecurityTest, AClientKeyOthersMayReadEndsTheBridgeNamingTheFileAndTheFix) {
  ASSERT_EQ(::chmod(File("client.key").c_str(), 0640), 0);
  TwoHosts h("tls://localhost:1", "[bridge.tls]\nca = \"" + File("ca.pem") + "\"\ncert = \"" + File("client.pem") +
                                      "\"\nkey = \"" + File("client.key") + "\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("mqbridge: " + File("client.key") + ": readable or writable by group or others (mode 0640)"),
            std::string::npos) << log;
  EXPECT_NE(log.find("chmod 600 " + File("client.key")), std::string::npos) << log;
}

TEST_F(BridgeSecurityTest, AnNkeyUserTheServerListsCarriesConfirmedMessages) {
  const NkeyPair user = MakeUserNkey();
  StartServer("authorization {\n  users = [ { nkey: \"" + user.public_key + "\" } ]\n}\n");
  TwoHosts h(server_.url(), "nkey_seed = \"" + SeedFile(user.seed, 0600) + "\"\n");
  ExpectDelivered(h);
}

TEST_F(BridgeSecurityTest, AnNkeyTheServerDoesNotListEndsTheBridgeNamingItsPublicKey) {
  const NkeyPair listed = MakeUserNkey(), other = MakeUserNkey();
  StartServer("authorization {\n  users = [ { nkey: \"" + listed.public_key + "\" } ]\n}\n");
  const std::string seed = SeedFile(other.seed, 0600);
  TwoHosts h(server_.url(), "nkey_seed = \"" + seed + "\"\n");
  const std::string log = EndsAtStart(h);
  EXPECT_NE(log.find("NATS refused the credentials at " + server_.url() + " (nkey_seed " + seed + " (public key " +
                     other.public_key + "))"),
            std::string::npos) << log;
}

TEST_F(BridgeSecurityTest, ASeedOrCredsFileOthersMayReadEndsTheBridgeNamingTheFileAndChmod600) {
  const NkeyPair user = MakeUserNkey();
  StartServer("authorization {\n  users = [ { nkey: \"" + user.public_key + "\" } ]\n}\n");
  for (const char* field : {"nkey_seed", "creds"}) {
    const std::string seed = SeedFile(user.seed, 0644);
    TwoHosts h(server_.url(), std::string(field) + " = \"" + seed + "\"\n");
    const std::string log = EndsAtStart(h);
    EXPECT_NE(log.find("mqbridge: " + seed + ": readable or writable by group or others (mode 0644); it holds a "
                       "secret (bridge." + field + "): chmod 600 " + seed),
              std::string::npos) << log;
  }
}

TEST_F(BridgeSecurityTest, AFileThatIsNotAUserSeedEndsTheBridgeSayingWhatIsExpected) {
  std::string account = MakeUserNkey().seed;
  account[1] = 'A';  // an account seed's prefix (the checksum then fails too: either is refused)
  for (const std::string& text : {std::string("not a seed"), account}) {
    const std::string seed = SeedFile(text, 0600);
    TwoHosts h("nats://127.0.0.1:1", "nkey_seed = \"" + seed + "\"\n");
    const std::string log = EndsAtStart(h);
    EXPECT_NE(log.find("mqbridge: " + seed + ": "), std::string::npos) << log;
    EXPECT_NE(log.find("expected one NKey user seed (a line starting SU"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace mq::test
