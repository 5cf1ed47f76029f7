// The original scenario with the original kind of sender: a Python 3 script
// doing plain socket.sendto(), as in the seed article's driver.
#include <gtest/gtest.h>

#include "mailbox_testing.h"

namespace mq {
namespace {

TEST(MailboxPythonTest, PlainPythonSendtoMessagesArePickedInPatternOrder) {
#ifndef MQ_PYTHON3
  GTEST_SKIP() << "python3 was not found when configuring";
#else
  test::TempDir dir;
  auto mb = test::OpenMailboxOrDie(test::OptionsIn(dir));
  test::ProcResult r = test::RunProcess({MQ_PYTHON3, MQ_SENDTO_PY, dir.File("sock"), "a0", "a1", "a2", "b0", "b1",
                                         "b2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    for (const char* prefix : {"a", "b"}) {
      auto one = test::ReceivePayloads(mb.get(), Pattern::Prefix(prefix), 1);
      got.insert(got.end(), one.begin(), one.end());
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
  EXPECT_EQ(mb->Stats().confirmations, 0u);
#endif
}

}  // namespace
}  // namespace mq
