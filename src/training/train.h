// Training and evaluation of the sexing CNN on synthetic phantom scans.
// Data comes from phantom::PhantomGenerator on the fly: training uses the
// stream of TrainOptions::seed, evaluation a different seed, so held-out
// scans never overlap the training scans. LibTorch stays hidden.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"
#include "inference/gonad_net.h"
#include "phantom/phantom.h"
#include "training/calibrate_model.h"
#include "training/evaluate.h"

namespace ovoflow::training {

using inference::FlopsPerScan;
using inference::GonadNet;
using inference::kDefaultWeightsFile;
using inference::NetConfig;
using inference::SetTorchThreads;
using inference::ValidateNetConfig;

// Training scans are generated chunk by chunk, so memory does not grow with
// their number; the cap only keeps a typo from asking for a week of training.
inline constexpr int64_t kMaxTrainScans = 20'000'000;

struct TrainOptions {
  std::string out_dir;              // model directory to write (created if missing): model.pt + model.json
  uint64_t seed = 1;                // phantom stream of the training scans and weight initialisation
  int64_t train_scans = 4000000;    // distinct training scans (phantom indices 0..train_scans-1)
  int epochs = 1;                   // passes over the training scans, shuffled each epoch
  int batch = 64;                   // scans per optimiser step
  double learning_rate = 2e-3;      // peak AdamW learning rate; cosine decay to 0 after the warm-up
  double weight_decay = 1e-4;       // AdamW decoupled weight decay
  int warmup_steps = 300;           // linear learning-rate warm-up, steps
  int threads = 2;                  // LibTorch intra-op threads and phantom generation threads
  NetConfig net;                    // in_channels/height/width are set from the phantom geometry
  phantom::PhantomOptions phantom;  // the scans the model learns from
  // Calibration after training (CalibrateModel); defaults as `ovoflow calibrate`'s.
  uint64_t eval_seed = CalibrateOptions{}.held_out_seed;   // held-out stream for model.json's metrics (!= seed)
  int64_t eval_scans = CalibrateOptions{}.held_out_count;  // 0 skips them and the calibration
  uint64_t calibration_seed = CalibrateOptions{}.seed;     // stream the temperature and RECHECK band are fitted on
  int64_t calibration_scans = CalibrateOptions{}.count;
  double target_accuracy = CalibrateOptions{}.target_accuracy;  // RECHECK band: accuracy on the eggs it decides ...
  double max_abstention = CalibrateOptions{}.max_abstention;    // ... while sending at most this fraction to RECHECK
  double band_confidence_z = CalibrateOptions{}.confidence_z;   // ... at the accuracy's Wilson lower bound
  std::string name = "gonad-cnn";
  std::string version = "2.1.0";
  std::FILE* progress = stderr;  // progress bars; nullptr = quiet
};

struct TrainReport {
  std::string model_dir;
  int64_t steps = 0;
  double wall_seconds = 0;         // whole run: data generation, training, evaluation
  std::vector<double> epoch_loss;  // mean training loss per epoch
  double first_loss = 0;           // mean loss of the first 10 steps
  BinaryMetrics train;             // on (up to) 5,000 of the training scans
  BinaryMetrics held_out;          // on eval_scans from eval_seed, calibrated (count 0 when skipped)
  v1::Calibration calibration;     // temperature and calibration error (empty when skipped)
  v1::DecisionBand band;           // recommended RECHECK band (empty when skipped)
  int64_t parameter_count = 0;
  int64_t flops_per_scan = 0;
};

// InvalidArgument for bad options (including seed == eval_seed), Internal for
// LibTorch or file failures. Deterministic for the same options and threads.
Result<TrainReport> TrainModel(const TrainOptions& options);

}  // namespace ovoflow::training
