// Calibration of p_female and the choice of the RECHECK band, from scored
// scans with known sex. Pure functions on plain vectors: no LibTorch here.
//
// Temperature scaling (Guo et al., "On Calibration of Modern Neural
// Networks", ICML 2017): one scalar T > 0 divides the logit before the
// sigmoid. It keeps the ranking (accuracy and ROC-AUC do not change) and
// fixes over- or under-confidence.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace ovoflow::inference {

// sigmoid(logit / temperature), computed without overflow.
float ScaledProbability(float logit, double temperature);

// Mean binary cross-entropy of sigmoid(logit / temperature) against `female`
// (1 = female), probabilities clamped to [1e-7, 1 - 1e-7].
double LogLoss(const std::vector<float>& logits, const std::vector<uint8_t>& female, double temperature);

// The temperature in [0.05, 20] minimising LogLoss (golden-section search on
// log T; the loss is convex in 1/T). InvalidArgument for empty or
// mismatched inputs or when only one sex is present.
Result<double> FitTemperature(const std::vector<float>& logits, const std::vector<uint8_t>& female);

// Expected calibration error: over `bins` equal-width bins of p_female,
// the count-weighted mean of |mean p_female - fraction female|. 0 for no
// input.
double ExpectedCalibrationError(const std::vector<float>& p_female, const std::vector<uint8_t>& female, int bins = 15);

// What a decision band does on a set of scored scans.
struct BandOutcome {
  int64_t decided = 0;          // KEEP or DIVERT
  int64_t decided_correct = 0;  // KEEP on a female, DIVERT on a male
  int64_t abstained = 0;        // RECHECK
  double decided_accuracy() const {
    return decided > 0 ? static_cast<double>(decided_correct) / static_cast<double>(decided) : 1.0;
  }
  double abstention() const {
    const int64_t n = decided + abstained;
    return n > 0 ? static_cast<double>(abstained) / static_cast<double>(n) : 0.0;
  }
};

BandOutcome ScoreBand(const std::vector<float>& p_female, const std::vector<uint8_t>& female, float keep_min,
                      float divert_max);

struct BandChoice {
  float keep_min_p_female = 0.5f;
  float divert_max_p_female = 0.5f;
  BandOutcome outcome;  // on the scans the band was chosen on
  bool feasible = false;
};

// Lower end of the Wilson score interval of correct/n at z standard errors
// (z = 1.645: one-sided 95 %); correct/n itself when z is 0. 0 when n is 0.
double AccuracyLowerBound(int64_t correct, int64_t n, double z);

// The band (divert_max < 0.5 < keep_min) that abstains least while its
// decided accuracy is at least target_accuracy; among equal abstention, the
// most accurate. With confidence_z > 0 "at least" means the accuracy's
// Wilson lower bound (AccuracyLowerBound) reaches the target, so the band
// holds on new scans and not only on the ones it was chosen on. feasible
// says whether it also abstains on at most max_abstention: when it cannot,
// the accuracy target wins (a RECHECK costs a second scan, a wrong DIVERT an
// embryo). Only when no band reaches the target at all is the result the
// most accurate band abstaining at most max_abstention. Thresholds are taken
// between neighbouring scores, so the chosen band does not sit on a scan's
// score.
// InvalidArgument for empty or mismatched inputs, targets outside (0, 1] or
// a negative confidence_z.
Result<BandChoice> ChooseBand(const std::vector<float>& p_female, const std::vector<uint8_t>& female,
                              double target_accuracy, double max_abstention, double confidence_z = 0);

}  // namespace ovoflow::inference
