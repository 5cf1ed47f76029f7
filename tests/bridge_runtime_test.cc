// The bridge's proxy mailboxes (one per remote actor, docs/bridge.md,
// "Outbound") share one mq::Runtime when there are several (issue 23: "the
// bridge uses it when it holds many mailboxes"), so a bridge that exports
// many remote actors has a fixed set of threads, not threads per proxy.
// Outbound::Open binds the proxies without talking to NATS, so no server is
// needed here.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "mq/bridge.h"
#include "outbound.h"
#include "test_util.h"

namespace mq::bridge {
namespace {

// Threads the process gains while an Outbound with `remotes` proxy mailboxes
// is open (checked by `*opened`).
size_t ThreadsAddedByProxies(size_t remotes, bool* opened) {
  test::FastTempDir dir;
  BridgeConfig c;
  c.node = "A";
  c.state = dir.path();
  for (size_t i = 0; i < remotes; ++i)
    c.remotes.push_back(RemoteActor{"B", "actor" + std::to_string(i), dir.File("p" + std::to_string(i) + ".sock")});
  BridgeStats stats;
  const size_t before = test::ThreadCount();
  Outbound out(c, &stats);
  const Status s = out.Open();
  *opened = s.ok();
  EXPECT_TRUE(s.ok()) << s.ToString();
  const size_t during = test::ThreadCount();
  out.Close(nullptr, std::chrono::milliseconds(0));
  return during - before;
}

// 2 proxies and 60 proxies add the same threads (the runtime's); proxies
// with threads of their own add at least two each (ingest and confirmer).
TEST(BridgeRuntime, ProxiesOfManyRemoteActorsAddNoThreadPerProxy) {
  bool opened_few = false, opened_many = false;
  const size_t few = ThreadsAddedByProxies(2, &opened_few);
  const size_t many = ThreadsAddedByProxies(60, &opened_many);
  ASSERT_TRUE(opened_few && opened_many);
  EXPECT_EQ(many, few) << "60 proxies added " << many << " threads, 2 proxies " << few;
  EXPECT_LE(many, 5u) << "more than the runtime's threads";
}

}  // namespace
}  // namespace mq::bridge
