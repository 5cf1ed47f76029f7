// The supervisor's TOML configuration (mq/supervisor.h, ParseConfig): a
// full configuration reads back field by field, and each kind of mistake is
// one error naming the file, the line and the field.
#include <gtest/gtest.h>

#include "mq/supervisor.h"
#include "test_util.h"

namespace mq::supervisor {
namespace {

using std::chrono::milliseconds;

constexpr const char* kFull = R"([supervisor]
strategy = "rest_for_one"
intensity = 5
period = "10s"
control = "/run/sup/control.sock"
backoff = { first = "50ms", cap = "2s", jitter = 0.25 }

[[child]]
name = "orders"
command = ["/bin/sh", "-c", "exec sleep 1"]
env = { LANG = "C" }
cwd = "/tmp"
restart = "transient"
shutdown = 2000
socket = "/run/sup/orders.sock"
queue = "/var/lib/sup/orders.q"
socket_mode = 0o660
monitors = ["/run/sup/watch.sock"]
ready = "notify"

[[child]]
name = "billing"
command = ["sh", "-c", "true"]
shutdown = "brutal_kill"
ready = "200ms"
)";

// The error message for `text` (named "sup.toml"), or a test failure.
std::string ErrorOf(const std::string& text) {
  auto r = ParseConfig(text, "sup.toml");
  EXPECT_FALSE(r.ok()) << "accepted:\n" << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  return r.status().message();
}

const std::string kHead = "[supervisor]\ncontrol = \"/run/c.sock\"\n";

TEST(SupervisorConfig, AFullConfigurationReadsBackFieldByField) {
  auto r = ParseConfig(kFull, "sup.toml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SupervisorSpec& s = *r;
  EXPECT_EQ(s.strategy, Strategy::kRestForOne);
  EXPECT_EQ(s.intensity, 5u);
  EXPECT_EQ(s.period, milliseconds(10000));
  EXPECT_EQ(s.control, "/run/sup/control.sock");
  EXPECT_EQ(s.log, "/run/sup/control.sock.log");
  EXPECT_EQ(s.backoff.first, milliseconds(50));
  EXPECT_EQ(s.backoff.cap, milliseconds(2000));
  EXPECT_DOUBLE_EQ(s.backoff.jitter, 0.25);
  ASSERT_EQ(s.children.size(), 2u);
  const ChildSpec& a = s.children[0];
  EXPECT_EQ(a.name, "orders");
  EXPECT_EQ(a.command, (std::vector<std::string>{"/bin/sh", "-c", "exec sleep 1"}));
  EXPECT_EQ(a.env, (std::vector<std::pair<std::string, std::string>>{{"LANG", "C"}}));
  EXPECT_EQ(a.cwd, "/tmp");
  EXPECT_EQ(a.restart, RestartType::kTransient);
  EXPECT_EQ(a.shutdown, milliseconds(2000));
  EXPECT_FALSE(a.brutal_kill);
  EXPECT_EQ(a.socket, "/run/sup/orders.sock");
  EXPECT_EQ(a.queue, "/var/lib/sup/orders.q");
  EXPECT_EQ(a.socket_mode, 0660u);
  EXPECT_EQ(a.monitors, (std::vector<std::string>{"/run/sup/watch.sock"}));
  EXPECT_EQ(a.ready, ChildSpec::Ready::kNotify);
  const ChildSpec& b = s.children[1];
  EXPECT_EQ(b.restart, RestartType::kPermanent);
  EXPECT_TRUE(b.brutal_kill);
  EXPECT_EQ(b.ready, ChildSpec::Ready::kDelay);
  EXPECT_EQ(b.ready_delay, milliseconds(200));
}

TEST(SupervisorConfig, UnknownFieldNamesFileLineAndField) {
  const std::string e = ErrorOf(kHead + "\n[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\nrestrat = \"temporary\"\n");
  EXPECT_EQ(e.rfind("sup.toml:7: child[0].restrat: unknown field; the fields here are: name, command", 0), 0u) << e;
}

TEST(SupervisorConfig, UnknownSupervisorFieldIsNamed) {
  EXPECT_EQ(ErrorOf(kHead + "stratgy = \"one_for_all\"\n").rfind("sup.toml:3: supervisor.stratgy: unknown field", 0),
            0u);
}

TEST(SupervisorConfig, WrongTypeNamesWhatItIsAndWhatWasExpected) {
  const std::string e = ErrorOf(kHead + "intensity = \"3\"\n");
  EXPECT_EQ(e, "sup.toml:3: supervisor.intensity: is a string, expected an integer");
}

TEST(SupervisorConfig, DurationWithoutUnitIsNamed) {
  const std::string e = ErrorOf(kHead + "period = \"10\"\n");
  EXPECT_EQ(e.rfind("sup.toml:3: supervisor.period: duration '10': has no unit", 0), 0u) << e;
}

TEST(SupervisorConfig, BadStrategyListsTheChoices) {
  const std::string e = ErrorOf(kHead + "strategy = \"all_for_one\"\n");
  EXPECT_NE(e.find("sup.toml:3: supervisor.strategy: strategy 'all_for_one' is not one of"), std::string::npos) << e;
}

TEST(SupervisorConfig, MissingControlIsNamedAtTheTable) {
  EXPECT_EQ(ErrorOf("\n[supervisor]\nintensity = 1\n").rfind("sup.toml:2: supervisor.control: missing", 0), 0u);
}

TEST(SupervisorConfig, CommandThatIsNotExecutableIsNamed) {
  const std::string e =
      ErrorOf(kHead + "[[child]]\nname = \"a\"\ncommand = [\"/nonexistent/actor\", \"--x\"]\n");
  EXPECT_EQ(e, "sup.toml:5: child[0].command: '/nonexistent/actor' is not an executable file (or not on PATH)");
}

TEST(SupervisorConfig, CommandElementOfWrongTypeIsNamedByIndex) {
  const std::string e = ErrorOf(kHead + "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\", 3]\n");
  EXPECT_EQ(e, "sup.toml:5: child[0].command[1]: is an integer, expected a string");
}

TEST(SupervisorConfig, MissingCommandIsNamedAtTheChild) {
  EXPECT_EQ(ErrorOf(kHead + "[[child]]\nname = \"a\"\n"),
            "sup.toml:3: child[0].command: missing; give the argv as an array of strings");
}

TEST(SupervisorConfig, DuplicateChildNameIsNamed) {
  const std::string c = "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n";
  EXPECT_EQ(ErrorOf(kHead + c + c), "sup.toml:7: child[1].name: 'a' names another child too");
}

TEST(SupervisorConfig, TwoChildrenOnOneSocketAreRefused) {
  const std::string c1 = "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\nsocket = \"/run/x.sock\"\n";
  const std::string c2 = "[[child]]\nname = \"b\"\ncommand = [\"/bin/true\"]\nsocket = \"/run/x.sock\"\n";
  const std::string e = ErrorOf(kHead + c1 + c2);
  EXPECT_EQ(e.rfind("sup.toml:10: child[1].socket: '/run/x.sock' is the control socket or "
                                           "another child's socket",
                    0),
            0u)
      << e;
}

TEST(SupervisorConfig, RelativeSocketPathIsRefused) {
  EXPECT_EQ(ErrorOf(kHead + "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\nsocket = \"x.sock\"\n"),
            "sup.toml:6: child[0].socket: 'x.sock' is not an absolute path; write it from /");
}

TEST(SupervisorConfig, SocketModeOutOfRangeIsNamed) {
  const std::string e =
      ErrorOf(kHead + "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\nsocket = \"/r/x\"\nsocket_mode = 0o1777\n");
  EXPECT_EQ(e, "sup.toml:7: child[0].socket_mode: 1023 is not between 0 and 511");
}

TEST(SupervisorConfig, BadReadyIsNamed) {
  const std::string e = ErrorOf(kHead + "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\nready = \"soon\"\n");
  EXPECT_EQ(e.rfind("sup.toml:6: child[0].ready: expected \"notify\" or a delay", 0), 0u) << e;
}

TEST(SupervisorConfig, BackoffCapShorterThanFirstIsRefused) {
  const std::string e = ErrorOf(kHead + "backoff = { first = \"2s\", cap = \"1s\" }\n");
  EXPECT_EQ(e.rfind("sup.toml:3: supervisor.backoff.cap: is shorter than first", 0), 0u) << e;
}

TEST(SupervisorConfig, BackoffImmediateIsOnByDefaultAndCanBeTurnedOff) {
  auto on = ParseConfig(kHead, "sup.toml");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->backoff.immediate);
  auto off = ParseConfig(kHead + "backoff = { first = \"50ms\", immediate = false }\n", "sup.toml");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->backoff.immediate);
  EXPECT_EQ(off->backoff.first, milliseconds(50));
}

TEST(SupervisorConfig, BackoffImmediateThatIsNotABooleanIsNamed) {
  const std::string e = ErrorOf(kHead + "backoff = { immediate = \"yes\" }\n");
  EXPECT_EQ(e.rfind("sup.toml:3: supervisor.backoff.immediate: expected true or false", 0), 0u) << e;
}

TEST(SupervisorConfig, TomlSyntaxErrorNamesTheLine) {
  const std::string e = ErrorOf(kHead + "intensity = = 3\n");
  EXPECT_EQ(e.rfind("sup.toml:3: TOML syntax: ", 0), 0u) << e;
}

TEST(SupervisorConfig, LoadConfigNamesAMissingFile) {
  test::TempDir dir;
  auto r = LoadConfig(dir.File("absent.toml"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir.File("absent.toml") + ": cannot read"), std::string::npos);
}

TEST(SupervisorConfig, LoadConfigNamesTheFileInErrors) {
  test::TempDir dir;
  test::WriteFileOrDie(dir.File("s.toml"), kHead + "bogus = 1\n");
  auto r = LoadConfig(dir.File("s.toml"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind(dir.File("s.toml") + ":3: supervisor.bogus: unknown field", 0), 0u)
      << r.status().message();
}

}  // namespace
}  // namespace mq::supervisor
