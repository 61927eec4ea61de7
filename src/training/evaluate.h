// Scoring a model on phantom scans through the serving path
// (SexClassifier): metrics, calibration error and the raw scores that
// calibration and the evaluation grid need. No LibTorch here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"
#include "inference/calibration.h"
#include "inference/classifier.h"
#include "ovoflow/v1/model.pb.h"
#include "phantom/phantom.h"

namespace ovoflow::training {

// The serving model's pieces that training and evaluation build on.
using inference::BandOutcome;
using inference::ChooseBand;
using inference::ExpectedCalibrationError;
using inference::FitTemperature;
using inference::LogLoss;
using inference::ModelInfo;
using inference::ReadModelMetadata;
using inference::ScaledProbability;
using inference::ScoreBand;
using inference::SexClassifier;
using inference::WriteModelMetadata;

// Binary classification metrics; female is the positive class.
struct BinaryMetrics {
  int64_t count = 0;
  double accuracy = 0;  // at p_female >= 0.5
  double roc_auc = 0;
  double loss = 0;              // mean binary cross-entropy
  int64_t true_positive = 0;    // female called female
  int64_t false_positive = 0;   // male called female
  int64_t true_negative = 0;    // male called male
  int64_t false_negative = 0;   // female called male
  double ece = 0;               // expected calibration error, 15 equal-width bins
  double scans_per_second = 0;  // SexClassifier::PredictBatch throughput (decode + normalise + forward)
  // With the model's recommended RECHECK band (model.json), when it has one.
  bool has_band = false;
  double decided_accuracy = 0;  // correct KEEP + DIVERT over all KEEP + DIVERT
  double abstention = 0;        // share sent to RECHECK
};

struct EvalOptions {
  uint64_t seed = 2;                // phantom stream; use one the model was not trained on
  int64_t count = 5000;             // scans
  uint64_t first_index = 0;         // first phantom index of the stream
  int batch = 64;                   // scans per PredictBatch call
  int threads = 2;                  // LibTorch threads and phantom generation threads
  phantom::PhantomOptions phantom;  // should match the training data's settings
  std::FILE* progress = stderr;     // nullptr = quiet
  std::string progress_label = "eval";
};

// Every scan's score and label, in phantom index order.
struct ScoredScans {
  std::vector<float> logits;    // raw network output
  std::vector<float> p_female;  // calibrated: sigmoid(logit / temperature)
  std::vector<uint8_t> female;  // 1 = female
  double predict_seconds = 0;   // time inside LogitsBatch
};

// Scores `count` fresh phantom scans with `classifier`. InvalidArgument for
// bad options or a phantom geometry the model does not take.
Result<ScoredScans> ScorePhantomScans(SexClassifier& classifier, const EvalOptions& options);

// Loads the model in `model_dir` (NotFound / InvalidArgument from Load) and
// returns the metrics of ScorePhantomScans.
Result<BinaryMetrics> EvaluateModel(const std::string& model_dir, const EvalOptions& options);

// Metrics of scores p_female against labels (1 = female). Empty input gives
// zero metrics. roc_auc counts ties as one half.
BinaryMetrics ComputeMetrics(const std::vector<float>& p_female, const std::vector<uint8_t>& female);

void MetricsToProto(const BinaryMetrics& metrics, v1::Metrics* proto);
// Fills the band fields of `metrics` from a band's outcome on the same scans.
void SetBand(const BandOutcome& band, BinaryMetrics* metrics);
// The metrics as one JSON object (the proto3 JSON form of v1::Metrics, proto field names).
std::string MetricsToJson(const BinaryMetrics& metrics);

}  // namespace ovoflow::training
