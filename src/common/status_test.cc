#include "common/status.h"

#include <gtest/gtest.h>

namespace ovoflow {
namespace {

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, RetryableOnlyForTransientCodes) {
  EXPECT_TRUE(Status::Unavailable("broker away").retryable());
  EXPECT_TRUE(Status::ResourceExhausted("queue full").retryable());
  EXPECT_FALSE(Status::InvalidArgument("bad").retryable());
  EXPECT_EQ(Status::InvalidArgument("bad").ToString(), "INVALID_ARGUMENT: bad");
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  Result<int> e = Status::NotFound("x");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}

Status Chain(bool fail) {
  OVOFLOW_RETURN_IF_ERROR(fail ? Status::Internal("inner") : Status::Ok());
  return Status::NotFound("reached end");
}

TEST(StatusTest, ReturnIfErrorPropagates) {
  EXPECT_EQ(Chain(true).message(), "inner");
  EXPECT_EQ(Chain(false).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ovoflow
