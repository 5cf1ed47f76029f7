// `mqsup check CONFIG` run as a process: exit 0 and a summary for a valid
// configuration, exit 1 and FILE:LINE: FIELD on stderr for a bad one, exit
// 2 for a usage error.
#include <gtest/gtest.h>

#include "mailbox_testing.h"

namespace mq {
namespace {

std::string Mqsup() { return MQ_MQSUP; }

TEST(MqsupCheck, ValidConfigExitsZeroWithASummary) {
  test::TempDir dir;
  test::WriteFileOrDie(dir.File("s.toml"),
                       "[supervisor]\nstrategy = \"one_for_all\"\ncontrol = \"/run/c.sock\"\n"
                       "[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n");
  test::ProcResult r = test::RunProcess({Mqsup(), "check", dir.File("s.toml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, dir.File("s.toml") + ": valid: strategy one_for_all, intensity 3 in 5000 ms, 1 children: a\n");
}

TEST(MqsupCheck, InvalidConfigExitsOneNamingFileLineAndField) {
  test::TempDir dir;
  test::WriteFileOrDie(dir.File("s.toml"), "[supervisor]\ncontrol = \"/run/c.sock\"\n"
                                           "[[child]]\nname = \"a\"\ncommand = [\"/no/such/actor\"]\n");
  test::ProcResult r = test::RunProcess({Mqsup(), "check", dir.File("s.toml")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "mqsup: " + dir.File("s.toml") +
                       ":5: child[0].command: '/no/such/actor' is not an executable file (or not on PATH)\n");
  EXPECT_EQ(r.out, "");
}

TEST(MqsupCheck, UnknownCommandIsAUsageError) {
  test::ProcResult r = test::RunProcess({Mqsup(), "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mq
