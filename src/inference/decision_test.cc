#include "inference/decision.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ovoflow::inference {
namespace {

TEST(DecisionTest, BandsAndSafeDefault) {
  Thresholds t;
  EXPECT_EQ(Decide(0.99f, t), v1::DECISION_KEEP);
  EXPECT_EQ(Decide(0.90f, t), v1::DECISION_KEEP);
  EXPECT_EQ(Decide(0.5f, t), v1::DECISION_RECHECK);
  EXPECT_EQ(Decide(0.10f, t), v1::DECISION_DIVERT);
  EXPECT_EQ(Decide(0.01f, t), v1::DECISION_DIVERT);
  EXPECT_EQ(Decide(std::nanf(""), t), v1::DECISION_RECHECK);
  EXPECT_EQ(SexOf(0.7f), v1::SEX_FEMALE);
  EXPECT_EQ(SexOf(0.2f), v1::SEX_MALE);
}

TEST(DecisionTest, ThresholdValidation) {
  EXPECT_TRUE(ValidateThresholds({0.9f, 0.1f}).ok());
  EXPECT_FALSE(ValidateThresholds({0.4f, 0.1f}).ok());
  EXPECT_FALSE(ValidateThresholds({0.9f, 0.6f}).ok());
  EXPECT_FALSE(ValidateThresholds({1.5f, 0.1f}).ok());
}

}  // namespace
}  // namespace ovoflow::inference
