// Calibrating a trained model directory: fits the temperature on a phantom
// stream of its own, chooses the RECHECK band, checks both on held-out scans
// and records everything in model.json (ModelMetadata.calibration,
// recommended_thresholds, held_out_metrics). `ovoflow train` runs it after
// training; `ovoflow calibrate` runs it on an existing model.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/status.h"
#include "ovoflow/v1/model.pb.h"
#include "phantom/phantom.h"
#include "training/evaluate.h"

namespace ovoflow::training {

struct CalibrateOptions {
  uint64_t seed = 3;               // calibration stream: neither the training (1) nor the held-out (2) seed
  int64_t count = 50000;           // calibration scans
  uint64_t held_out_seed = 2;      // scans the temperature and band are checked on
  int64_t held_out_count = 20000;  // held-out scans
  double target_accuracy = 0.995;  // on the eggs the band decides (KEEP or DIVERT)
  double max_abstention = 0.05;    // largest fraction sent to RECHECK
  double confidence_z = 1.645;  // target_accuracy must hold at the Wilson lower bound (ChooseBand); 0 = point estimate
  int threads = 2;              // LibTorch and phantom generation threads
  int batch = 256;              // scans per forward pass
  phantom::PhantomOptions phantom;  // should match the training data's settings
  std::FILE* progress = stderr;     // nullptr = quiet
};

struct CalibrateReport {
  v1::Calibration calibration;
  v1::DecisionBand band;
  BinaryMetrics held_out;  // with the fitted temperature
};

// InvalidArgument for bad options (seed == held_out_seed, counts < 100,
// targets out of range) or a model the phantom does not fit; NotFound when
// the directory is missing. Rewrites model.json only when everything worked.
Result<CalibrateReport> CalibrateModel(const std::string& model_dir, const CalibrateOptions& options);

}  // namespace ovoflow::training
