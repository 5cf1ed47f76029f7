// I/O errors in the bridge's delivery record (bridge/src/delivered_log.h):
// what it keeps after a failed append, and after a compaction whose
// directory fsync failed. FaultEnv injects the errors; no nats-server.
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "delivered_log.h"
#include "fault_env.h"
#include "test_util.h"

namespace mq::bridge {
namespace {

using test::Fault;
using test::FaultEnv;

constexpr char kName[] = "MQ-1.orders.delivered";

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t s = from; s <= to; ++s) v.push_back(s);
  return v;
}

// An append that failed half-way (EIO after half its bytes reached the
// file) leaves bytes that are not whole records behind the last good one.
// The next append goes where the failed one started, so every record after
// it is read back as written: the first and third batches are in the
// record, the failed second one is not, and no other value appears.
TEST(BridgeRecordFaults, AnAppendAfterAFailedOneIsReadBackWhole) {
  test::FastTempDir dir;
  FaultEnv env(Env::Default(), /*real_syncs=*/false);
  {
    auto log = DeliveredLog::Open(dir.path(), kName, &env);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Record(Range(1, 3)).ok());
    env.InjectWriteFault(Fault::Nth(EIO).HalfWritten());  // 28 of its 56 bytes: three records and a half
    const std::vector<uint64_t> failed = {1001, 1002, 1003, 1004, 1005, 1006, 1007};
    EXPECT_FALSE((*log)->Record(failed).ok());
    ASSERT_TRUE((*log)->Record(Range(4, 6)).ok());
  }
  auto log = DeliveredLog::Open(dir.path(), kName, &env);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (uint64_t s = 1; s <= 6; ++s) EXPECT_TRUE((*log)->Contains(s)) << "stream seq " << s << " was recorded";
  EXPECT_EQ((*log)->size(), 6u) << "values that were never recorded were read back (records out of line)";
  for (uint64_t s = 1001; s <= 1007; ++s) EXPECT_FALSE((*log)->Contains(s)) << "stream seq " << s << " failed to record";
}

// A compaction renamed its new file over the record, and then the directory
// fsync failed: the rename may not survive a power loss. An append to the
// new file must not count until it does, so the next Record syncs the
// directory first; after a power loss the appended sequences are there.
TEST(BridgeRecordFaults, AnAppendAfterACompactionWhoseDirectorySyncFailedSurvivesAPowerLoss) {
  test::FastTempDir dir;
  FaultEnv env(Env::Default(), /*real_syncs=*/false);
  {
    auto log = DeliveredLog::Open(dir.path(), kName, &env);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Record(Range(1, 100)).ok());
    env.InjectSyncDirFault(Fault::Nth(EIO));
    const Status c = (*log)->Compact(50);
    EXPECT_FALSE(c.ok()) << "the directory fsync failed: Compact must say so";
    EXPECT_EQ((*log)->floor(), 50u) << "renamed: the new file is the record";
    ASSERT_TRUE((*log)->Record(Range(101, 120)).ok());
  }
  ASSERT_TRUE(env.SimulatePowerLoss().ok());
  auto log = DeliveredLog::Open(dir.path(), kName, &env);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (uint64_t s = 1; s <= 120; ++s) {
    EXPECT_TRUE((*log)->Contains(s)) << "stream seq " << s << " was recorded (Record returned OK) and is lost";
    if (!(*log)->Contains(s)) break;
  }
}

}  // namespace
}  // namespace mq::bridge
