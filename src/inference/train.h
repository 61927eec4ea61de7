// Training and evaluation of the sexing CNN on synthetic phantom scans.
// Data comes from edge::PhantomGenerator on the fly: training uses the
// stream of TrainOptions::seed, evaluation a different seed, so held-out
// scans never overlap the training scans. LibTorch stays hidden.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"
#include "edge/phantom.h"
#include "inference/gonad_net.h"

namespace ovoflow::inference {

// Binary classification metrics; female is the positive class.
struct BinaryMetrics {
  int64_t count = 0;
  double accuracy = 0;          // at p_female >= 0.5
  double roc_auc = 0;
  double loss = 0;              // mean binary cross-entropy
  int64_t true_positive = 0;    // female called female
  int64_t false_positive = 0;   // male called female
  int64_t true_negative = 0;    // male called male
  int64_t false_negative = 0;   // female called male
  double scans_per_second = 0;  // SexClassifier::PredictBatch throughput (decode + normalise + forward)
};

struct TrainOptions {
  std::string out_dir;            // model directory to write (created if missing): model.pt + model.json
  uint64_t seed = 1;              // phantom stream of the training scans and weight initialisation
  int64_t train_scans = 560000;   // distinct training scans (phantom indices 0..train_scans-1)
  int epochs = 1;                 // passes over the training scans, shuffled each epoch
  int batch = 64;                 // scans per optimiser step
  double learning_rate = 2e-3;    // peak AdamW learning rate; cosine decay to 0 after the warm-up
  double weight_decay = 1e-4;     // AdamW decoupled weight decay
  int warmup_steps = 300;         // linear learning-rate warm-up, steps
  int threads = 2;                // LibTorch intra-op threads and phantom generation threads
  NetConfig net;                  // in_channels/height/width are set from the phantom geometry
  edge::PhantomOptions phantom;   // the scans the model learns from
  uint64_t eval_seed = 2;         // held-out phantom stream for the metrics in model.json (!= seed)
  int64_t eval_scans = 5000;      // held-out scans scored after training; 0 skips
  std::string name = "gonad-cnn";
  std::string version = "1.0.0";
  std::FILE* progress = stderr;   // progress bars; nullptr = quiet
};

struct TrainReport {
  std::string model_dir;
  int64_t steps = 0;
  double wall_seconds = 0;            // whole run: data generation, training, evaluation
  std::vector<double> epoch_loss;     // mean training loss per epoch
  double first_loss = 0;              // mean loss of the first 10 steps
  BinaryMetrics train;                // on (up to) 5,000 of the training scans
  BinaryMetrics held_out;             // on eval_scans from eval_seed (count 0 when skipped)
  int64_t parameter_count = 0;
  int64_t flops_per_scan = 0;
};

// InvalidArgument for bad options (including seed == eval_seed), Internal for
// LibTorch or file failures. Deterministic for the same options and threads.
Result<TrainReport> TrainModel(const TrainOptions& options);

struct EvalOptions {
  uint64_t seed = 2;              // phantom stream; use one the model was not trained on
  int64_t count = 5000;           // scans
  uint64_t first_index = 0;       // first phantom index of the stream
  int batch = 64;                 // scans per PredictBatch call
  int threads = 2;                // LibTorch threads and phantom generation threads
  edge::PhantomOptions phantom;   // should match the training data's settings
  std::FILE* progress = stderr;   // nullptr = quiet
};

// Scores the model in `model_dir` through SexClassifier (the serving path)
// on freshly generated phantom scans. NotFound / InvalidArgument from Load.
Result<BinaryMetrics> EvaluateModel(const std::string& model_dir, const EvalOptions& options);

// Metrics of scores p_female against labels (1 = female). Empty input gives
// zero metrics. roc_auc counts ties as one half.
BinaryMetrics ComputeMetrics(const std::vector<float>& p_female, const std::vector<uint8_t>& female);

// The metrics as one JSON object (the proto3 JSON form of v1::Metrics, proto field names).
std::string MetricsToJson(const BinaryMetrics& metrics);

}  // namespace ovoflow::inference
