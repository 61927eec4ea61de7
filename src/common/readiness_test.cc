#include "common/readiness.h"

#include <gtest/gtest.h>

namespace ovoflow {
namespace {

TEST(ReadinessTest, ReportReplaceAndClear) {
  EXPECT_TRUE(Readiness::Problems().empty());
  Readiness::Report("stage b", "stalled at t[0]@4");
  Readiness::Report("stage a", "first");
  Readiness::Report("stage a", "second");
  EXPECT_EQ(Readiness::Problems(), (std::vector<std::string>{"stage a: second", "stage b: stalled at t[0]@4"}));
  Readiness::Clear("stage a");
  Readiness::Clear("stage c");  // nothing reported: nothing happens
  EXPECT_EQ(Readiness::Problems(), (std::vector<std::string>{"stage b: stalled at t[0]@4"}));
  Readiness::Clear("stage b");
  EXPECT_TRUE(Readiness::Problems().empty());
}

}  // namespace
}  // namespace ovoflow
