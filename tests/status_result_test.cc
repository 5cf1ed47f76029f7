// Status and Result<T> (store/include/mq/status.h): the convention every
// public function follows, and the caller's macros.
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

#include "mq/status.h"

namespace mq {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return Status::InvalidArgument(std::to_string(n) + " is odd");
  return n / 2;
}

// Counts how far it got, so a test can see that the error returned early.
Result<int> Quarter(int n, int* reached) {
  MQ_ASSIGN_OR_RETURN(int half, Half(n));
  ++*reached;
  MQ_ASSIGN_OR_RETURN(half, Half(half));  // an existing variable as lhs
  ++*reached;
  return half;
}

Status QuarterInto(int n, int* out) {
  int reached = 0;
  MQ_ASSIGN_OR_RETURN(*out, Quarter(n, &reached));
  return Status::OK();
}

TEST(StatusResultTest, AssignOrReturnGivesTheValueWhenEveryStepSucceeds) {
  int reached = 0;
  Result<int> r = Quarter(12, &reached);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(reached, 2);
}

TEST(StatusResultTest, AssignOrReturnReturnsTheFirstErrorAndRunsNothingAfterIt) {
  int reached = 0;
  Result<int> r = Quarter(6, &reached);  // 6 -> 3, and 3 is odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "3 is odd");
  EXPECT_EQ(reached, 1);
}

TEST(StatusResultTest, AssignOrReturnInAStatusFunctionReturnsTheErrorAndLeavesTheTargetAlone) {
  int out = -1;
  Status s = QuarterInto(5, &out);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(out, -1);
  ASSERT_TRUE(QuarterInto(8, &out).ok());
  EXPECT_EQ(out, 2);
}

TEST(StatusResultTest, MoveToMovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("payload");
  std::unique_ptr<std::string> p;
  ASSERT_TRUE(std::move(r).MoveTo(&p).ok());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, "payload");
}

TEST(StatusResultTest, MoveToOnAnErrorReturnsItWithErrnoAndLeavesTheTargetAlone) {
  Result<std::unique_ptr<std::string>> r = Status::IOError("opening /x/q", ENOSPC);
  auto p = std::make_unique<std::string>("kept");
  Status s = std::move(r).MoveTo(&p);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  EXPECT_NE(s.message().find("opening /x/q"), std::string::npos) << s.ToString();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, "kept");
}

TEST(StatusResultTest, ACopiedOrMovedStatusKeepsCodeErrnoAndMessage) {
  Status a = Status::IOError("reading q", EIO, "check the disk");
  Status copy = a;
  EXPECT_EQ(copy.ToString(), a.ToString());
  EXPECT_EQ(copy.sys_errno(), EIO);
  Status moved = std::move(copy);
  EXPECT_EQ(moved.ToString(), a.ToString());
  EXPECT_EQ(moved.code(), Status::Code::kIOError);
  Status assigned;
  assigned = moved;
  EXPECT_EQ(assigned.ToString(), a.ToString());
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().message(), "");
  EXPECT_EQ(Status().sys_errno(), 0);
}

}  // namespace
}  // namespace mq
