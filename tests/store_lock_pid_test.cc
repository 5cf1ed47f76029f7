// The writer lock file names its holder (QUEUE.lock, docs/design.md,
// invariant 5): the open writes its pid over the old one and cuts only what
// is left of a longer one (no truncate to 0 at every open: a restart of a
// supervised actor reopens its queue each time).
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

StoreOptions Opts() {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  return o;
}

TEST(StoreLockPid, TheLockFileHoldsExactlyTheOpenersPidAfterALongerOne) {
  test::TempDir dir;
  const std::string queue = dir.File("q");
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(queue, Opts()).MoveTo(&s).ok());
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  test::WriteFileOrDie(queue + ".lock", "123456789012\n");  // longer than any pid
  ASSERT_TRUE(Store::Open(queue, Opts()).MoveTo(&s).ok());
  EXPECT_EQ(test::ReadFileOrDie(queue + ".lock"), std::to_string(::getpid()) + "\n");
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace mq
