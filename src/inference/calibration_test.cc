#include "inference/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ovoflow::inference {
namespace {

// Labels drawn from sigmoid(true_logit); the model reports true_logit * k
// (k > 1: over-confident). Temperature scaling must recover about k.
struct Synthetic {
  std::vector<float> logits;
  std::vector<uint8_t> female;
};

Synthetic Overconfident(double k, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 2.5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Synthetic s;
  for (int i = 0; i < n; ++i) {
    const double t = z(rng);
    s.female.push_back(u(rng) < 1.0 / (1.0 + std::exp(-t)) ? 1 : 0);
    s.logits.push_back(static_cast<float>(t * k));
  }
  return s;
}

std::vector<float> Probabilities(const std::vector<float>& logits, double temperature) {
  std::vector<float> p;
  p.reserve(logits.size());
  for (float z : logits) p.push_back(ScaledProbability(z, temperature));
  return p;
}

TEST(ScaledProbabilityTest, IsTheSigmoidOfTheScaledLogitWithoutOverflow) {
  EXPECT_FLOAT_EQ(ScaledProbability(0.0f, 1.0), 0.5f);
  EXPECT_NEAR(ScaledProbability(2.0f, 2.0), 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(ScaledProbability(-1000.0f, 1.0), 0.0f);
  EXPECT_EQ(ScaledProbability(1000.0f, 1.0), 1.0f);
  EXPECT_FALSE(std::isnan(ScaledProbability(-1e30f, 0.5)));
}

TEST(FitTemperatureTest, RecoversTheOverconfidenceFactorAndLowersLossAndEce) {
  const Synthetic s = Overconfident(3.0, 40000, 7);
  auto t = FitTemperature(s.logits, s.female);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_NEAR(*t, 3.0, 0.15);
  EXPECT_LT(LogLoss(s.logits, s.female, *t), LogLoss(s.logits, s.female, 1.0));
  const double before = ExpectedCalibrationError(Probabilities(s.logits, 1.0), s.female);
  const double after = ExpectedCalibrationError(Probabilities(s.logits, *t), s.female);
  EXPECT_GT(before, 0.05);
  EXPECT_LT(after, 0.02);
}

TEST(FitTemperatureTest, AWellCalibratedModelKeepsTemperatureOne) {
  const Synthetic s = Overconfident(1.0, 40000, 8);
  auto t = FitTemperature(s.logits, s.female);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(*t, 1.0, 0.06);
}

TEST(FitTemperatureTest, RejectsEmptyMismatchedOrOneSexInput) {
  EXPECT_EQ(FitTemperature({}, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FitTemperature({1.0f}, {1, 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FitTemperature({1.0f, 2.0f}, {1, 1}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ExpectedCalibrationErrorTest, MatchesAHandComputedExample) {
  // Bin [0.8, 0.867): p 0.8 and 0.8, one female -> |0.8 - 0.5| * 2;
  // bin [0.2, 0.267): p 0.2, male -> |0.2 - 0| * 1. Total 0.8 / 3.
  EXPECT_NEAR(ExpectedCalibrationError({0.8f, 0.8f, 0.2f}, {1, 0, 0}), 0.8 / 3, 1e-6);
  EXPECT_NEAR(ExpectedCalibrationError({1.0f, 0.0f}, {1, 0}), 0.0, 1e-9);
  EXPECT_EQ(ExpectedCalibrationError({}, {}), 0.0);
}

TEST(ScoreBandTest, CountsDecidedCorrectAndAbstained) {
  // KEEP >= 0.9, DIVERT <= 0.1.
  const BandOutcome o = ScoreBand({0.95f, 0.95f, 0.05f, 0.5f, 0.02f}, {1, 0, 0, 1, 1}, 0.9f, 0.1f);
  EXPECT_EQ(o.decided, 4);
  EXPECT_EQ(o.decided_correct, 2);
  EXPECT_EQ(o.abstained, 1);
  EXPECT_DOUBLE_EQ(o.abstention(), 0.2);
  EXPECT_DOUBLE_EQ(o.decided_accuracy(), 0.5);
}

TEST(ChooseBandTest, AbstainsOnTheFewestScansThatReachTheTarget) {
  // 100 scans: 95 clean (p near 0 or 1, right), 5 wrong ones near 0.5.
  std::vector<float> p;
  std::vector<uint8_t> f;
  for (int i = 0; i < 48; ++i) {
    p.push_back(0.01f + 0.001f * static_cast<float>(i));
    f.push_back(0);
  }
  for (int i = 0; i < 47; ++i) {
    p.push_back(0.99f - 0.001f * static_cast<float>(i));
    f.push_back(1);
  }
  for (float q : {0.45f, 0.47f, 0.52f, 0.55f, 0.58f}) {
    p.push_back(q);
    f.push_back(q < 0.5f ? 1 : 0);  // all five on the wrong side
  }
  auto band = ChooseBand(p, f, 1.0, 0.05);
  ASSERT_TRUE(band.ok()) << band.status().ToString();
  EXPECT_TRUE(band->feasible);
  EXPECT_EQ(band->outcome.abstained, 5);
  EXPECT_DOUBLE_EQ(band->outcome.decided_accuracy(), 1.0);
  const BandOutcome again = ScoreBand(p, f, band->keep_min_p_female, band->divert_max_p_female);
  EXPECT_EQ(again.abstained, 5);
  EXPECT_EQ(again.decided_correct, 95);
  EXPECT_LT(band->divert_max_p_female, 0.5f);
  EXPECT_GT(band->keep_min_p_female, 0.5f);

  // A looser target needs fewer rechecks.
  auto loose = ChooseBand(p, f, 0.97, 0.05);
  ASSERT_TRUE(loose.ok());
  EXPECT_LT(loose->outcome.abstained, 5);
  EXPECT_GE(loose->outcome.decided_accuracy(), 0.97);
}

TEST(ChooseBandTest, PutsAccuracyBeforeTheAbstentionLimitWhenBothCannotBeMet) {
  const Synthetic s = Overconfident(1.0, 2000, 9);  // AUC far too low for 99.5 % at 5 % abstention
  auto band = ChooseBand(Probabilities(s.logits, 1.0), s.female, 0.995, 0.05);
  ASSERT_TRUE(band.ok());
  EXPECT_FALSE(band->feasible);
  EXPECT_GT(band->outcome.abstention(), 0.05);
  EXPECT_GE(band->outcome.decided_accuracy(), 0.995);
}

TEST(ChooseBandTest, FallsBackToTheMostAccurateBandWithinTheLimitWhenNoBandReachesTheTarget) {
  // Every scan sits on the wrong side of 0.5: nothing decided is ever right.
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.7f, 0.8f, 0.9f};
  const std::vector<uint8_t> f = {1, 1, 1, 0, 0, 0};
  auto band = ChooseBand(p, f, 0.9, 0.5);
  ASSERT_TRUE(band.ok());
  EXPECT_FALSE(band->feasible);
  EXPECT_LE(band->outcome.abstention(), 0.5);
}

TEST(AccuracyLowerBoundTest, IsTheWilsonLowerBound) {
  EXPECT_DOUBLE_EQ(AccuracyLowerBound(95, 100, 0), 0.95);
  EXPECT_NEAR(AccuracyLowerBound(95, 100, 1.96), 0.8882, 1e-4);   // the textbook 95 % Wilson interval of 95/100
  EXPECT_NEAR(AccuracyLowerBound(100, 100, 1.96), 0.9630, 1e-4);  // all correct still leaves doubt
  EXPECT_EQ(AccuracyLowerBound(0, 0, 1.645), 0.0);
  EXPECT_EQ(AccuracyLowerBound(0, 10, 1.645), 0.0);
  // The same rate on more scans is surer.
  EXPECT_LT(AccuracyLowerBound(995, 1000, 1.645), AccuracyLowerBound(9950, 10000, 1.645));
  EXPECT_LT(AccuracyLowerBound(9950, 10000, 1.645), 0.995);
}

TEST(ChooseBandTest, WithAConfidenceBoundTheTargetHoldsAtTheLowerEndAndNeedsMoreRechecks) {
  const Synthetic s = Overconfident(1.0, 4000, 21);  // calibrated scores, logit spread 2.5
  const std::vector<float> p = Probabilities(s.logits, 1.0);
  auto point = ChooseBand(p, s.female, 0.95, 0.9);
  auto sure = ChooseBand(p, s.female, 0.95, 0.9, 1.645);
  ASSERT_TRUE(point.ok() && sure.ok());
  EXPECT_TRUE(point->feasible);
  EXPECT_TRUE(sure->feasible);
  EXPECT_GE(point->outcome.decided_accuracy(), 0.95);
  EXPECT_LT(AccuracyLowerBound(point->outcome.decided_correct, point->outcome.decided, 1.645), 0.95);
  EXPECT_GE(AccuracyLowerBound(sure->outcome.decided_correct, sure->outcome.decided, 1.645), 0.95);
  EXPECT_GT(sure->outcome.abstained, point->outcome.abstained);
  EXPECT_GT(sure->keep_min_p_female, point->keep_min_p_female - 1e-6f);
  EXPECT_LT(sure->divert_max_p_female, point->divert_max_p_female + 1e-6f);
}

TEST(ChooseBandTest, RejectsBadInput) {
  EXPECT_EQ(ChooseBand({}, {}, 0.99, 0.05).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ChooseBand({0.1f}, {0}, 1.5, 0.05).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ChooseBand({0.1f}, {0}, 0.99, -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ChooseBand({0.1f}, {0}, 0.99, 0.05, -1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovoflow::inference
