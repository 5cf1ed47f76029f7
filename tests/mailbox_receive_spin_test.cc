// Adaptive spinning, opt-in (MailboxOptions::receive_spin; docs/mailbox.md,
// "Spinning receivers"): a receive that finds nothing looks again for up to
// the spin before it sleeps; off by default.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mailbox_testing.h"
#include "mq/sender.h"

namespace mq {
namespace {

using namespace std::chrono_literals;

void SendOne(const std::string& socket, std::string_view payload) {
  std::unique_ptr<Sender> s;
  ASSERT_TRUE(Sender::Open(socket, SendOptions{}).MoveTo(&s).ok());
  ASSERT_TRUE(s->Send(payload).ok());
}

TEST(MailboxReceiveSpin, AReceiverWithSpinOnTakesAMessageThatArrivesWhileItSpins) {
  test::TempDir dir;
  MailboxOptions o = test::OptionsIn(dir);
  o.receive_spin = 20s;  // longer than the test: the message must end the spin
  auto mb = test::OpenMailboxOrDie(o);
  Status got;
  Message m;
  std::thread t([&] { got = mb->Receive(Pattern::Any(), 30s, &m); });
  const bool spinning = test::WaitUntil([&] { return mb->Stats().spins == 1; }, 10s);
  SendOne(o.socket_path, "while spinning");  // sent either way, so that the receiver returns
  t.join();
  ASSERT_TRUE(spinning) << "the receiver never started to spin";
  ASSERT_TRUE(got.ok()) << got.ToString();
  EXPECT_EQ(m.payload, "while spinning");
  const MailboxStats st = mb->Stats();
  EXPECT_EQ(st.spins, 1u);
  EXPECT_EQ(st.spin_hits, 1u);  // it ended because the message came, not by sleeping
}

TEST(MailboxReceiveSpin, SpinIsOffByDefaultAReceiverThatFindsNothingNeverSpins) {
  test::TempDir dir;
  auto mb = test::OpenMailboxOrDie(test::OptionsIn(dir));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), 20ms, &m).IsTimedOut());
  EXPECT_EQ(mb->Stats().spins, 0u);
}

TEST(MailboxReceiveSpin, ASpinThatSeesNothingCountsNoHitAndTheCallTimesOut) {
  test::TempDir dir;
  MailboxOptions o = test::OptionsIn(dir);
  o.receive_spin = 1ms;
  auto mb = test::OpenMailboxOrDie(o);
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), 50ms, &m).IsTimedOut());
  const MailboxStats st = mb->Stats();
  EXPECT_EQ(st.spins, 1u);  // once per call, not once per look
  EXPECT_EQ(st.spin_hits, 0u);
}

TEST(MailboxReceiveSpin, MqtoolRecvTakesSpinUsWithASocketAndRefusesItWithout) {
  if (test::MqtoolPath().empty()) GTEST_SKIP() << "mqtool is not built";
  test::TempDir dir;
  test::ProcResult r = test::RunProcess({test::MqtoolPath(), "recv", dir.File("q"), "--socket", dir.File("s"),
                                         "--spin-us", "1000", "--timeout", "0.2"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // nothing came: timed out, after a spin
  r = test::RunProcess({test::MqtoolPath(), "recv", dir.File("q"), "--spin-us", "1000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--spin-us needs --socket"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mq
