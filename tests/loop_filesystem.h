// A filesystem image made and loop-mounted by a test (issue 17 item 4): the
// kill torture and the power-loss torture run on ext4, xfs and btrfs with it.
// Needs root, /dev/loop-control and mkfs.<type>; where any is missing,
// mounted() is false and why() says what, for a GTEST_SKIP.
#pragma once

#include <string>

#include "test_util.h"

namespace mq::test {

class LoopFilesystem {
 public:
  // Makes a sparse 320 MiB image of `fstype` (ext4, xfs, btrfs) in `dir` and
  // mounts it at dir/fs.<fstype>.
  LoopFilesystem(const std::string& fstype, const TempDir& dir);
  ~LoopFilesystem();  // unmounts (lazily if busy) and removes the image
  LoopFilesystem(const LoopFilesystem&) = delete;
  LoopFilesystem& operator=(const LoopFilesystem&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& dir() const { return mnt_; }

 private:
  std::string image_, mnt_, why_;
  bool mounted_ = false;
};

}  // namespace mq::test
