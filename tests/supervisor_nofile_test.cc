// mqsup's `nofile = N` (mq/supervisor.h, ChildSpec::nofile): read from the
// configuration, set as the child's RLIMIT_NOFILE before exec, and a limit
// the supervisor may not grant fails the start naming it.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "../supervisor/src/spawn.h"
#include "mq/supervisor.h"
#include "test_util.h"

namespace mq::supervisor {
namespace {
using namespace mq::test;

std::string Config(const std::string& nofile) {
  return "[supervisor]\ncontrol = \"/run/sup/c.sock\"\n[[child]]\nname = \"a\"\ncommand = [\"/bin/sh\", \"-c\", "
         "\"true\"]\nnofile = " + nofile + "\n";
}

TEST(SupervisorNofile, NofileIsReadFromTheConfiguration) {
  auto spec = ParseConfig(Config("4321"), "t.toml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->children.at(0).nofile, 4321u);
  auto plain = ParseConfig(Config("1").substr(0, Config("1").find("nofile")), "t.toml");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->children.at(0).nofile, 0u);  // inherited
}

TEST(SupervisorNofile, ANofileThatIsNotAPositiveCountIsRefusedNamingTheField) {
  for (const char* bad : {"0", "-5", "\"many\""}) {
    auto spec = ParseConfig(Config(bad), "t.toml");
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_NE(spec.status().message().find("t.toml:6: child[0].nofile"), std::string::npos)
        << spec.status().ToString();
  }
}

TEST(SupervisorNofile, TheChildStartsWithTheNofileItAskedFor) {
  TempDir dir;
  struct rlimit rl;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const rlim_t want = rl.rlim_cur > 700 ? 700 : rl.rlim_cur - 1;  // differs from the supervisor's
  ChildSpec c;
  c.name = "limits";
  c.command = {"/bin/sh", "-c", "ulimit -n > " + dir.File("n")};
  c.nofile = want;
  auto s = SpawnChild(c, -1, "/nonexistent/control");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  siginfo_t si{};
  ASSERT_EQ(::waitid(P_PIDFD, static_cast<id_t>(s->pidfd), &si, WEXITED), 0);
  ::close(s->pidfd);
  EXPECT_EQ(ReadFileOrDie(dir.File("n")), std::to_string(want) + "\n");
}

TEST(SupervisorNofile, ANofileAboveAHardLimitItMayNotRaiseFailsTheStartNamingIt) {
  // As nobody, raising the hard limit is refused (EPERM).
  const int rc = AsNobody([] {
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY) return 3;
    ChildSpec c;
    c.name = "greedy";
    c.command = {"/bin/true"};
    c.nofile = rl.rlim_max + 1;
    auto s = SpawnChild(c, -1, "/nonexistent/control");
    if (s.ok()) return 4;
    const std::string m = s.status().message();
    const bool named = m.find("RLIMIT_NOFILE") != std::string::npos &&
                       m.find("nofile = " + std::to_string(c.nofile)) != std::string::npos &&
                       m.find("hard limit is " + std::to_string(rl.rlim_max)) != std::string::npos;
    if (!named) std::fprintf(stderr, "%s\n", m.c_str());
    return named ? 0 : 5;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace mq::supervisor
