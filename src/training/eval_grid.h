// The evaluation grid of the model card: accuracy, ROC-AUC, calibration and
// the RECHECK band's behaviour as the phantom's difficulty knobs move (SNR,
// incubation day, anatomical variation), and SVG plots of them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/status.h"
#include "inference/calibration.h"
#include "phantom/phantom.h"
#include "training/evaluate.h"

namespace ovoflow::training {

struct GridOptions {
  std::vector<float> snrs = {4, 6, 8, 12, 20, 30};  // each day is scored at every SNR
  std::vector<uint32_t> days = {9, 10, 11, 12, 13, 14};
  std::vector<float> variations = {0, 0.5f, 1, 1.5f, 2};  // at the base SNR and day
  int64_t scans_per_cell = 2000;
  uint64_t seed = 4;  // phantom stream (neither training, calibration nor held-out)
  int threads = 2;
  int batch = 256;
  phantom::PhantomOptions base;  // every other knob; snr/day/variation are overwritten per cell
  std::FILE* progress = stderr;  // nullptr = quiet
};

struct GridCell {
  float snr = 0;
  uint32_t day = 0;
  float variation = 0;
  BinaryMetrics metrics;  // calibrated p_female
  BandOutcome band;       // with the model's recommended thresholds
};

struct GridReport {
  std::string model;  // name version
  float keep_min_p_female = 0, divert_max_p_female = 0;
  std::vector<GridCell> snr_by_day;  // every (day, snr), variation at base
  std::vector<GridCell> variation;   // every variation, snr and day at base
};

// Scores every cell through the model's serving path. The model's
// recommended thresholds (or 0.9/0.1 when the model has none) score the band.
Result<GridReport> EvaluateGrid(const std::string& model_dir, const GridOptions& options);

// Writes grid.json, grid.csv and the plots accuracy_by_snr.svg,
// auc_by_snr.svg, decided_accuracy_by_snr.svg, abstention_by_snr.svg and
// metrics_by_variation.svg into `out_dir` (created if missing). Internal on
// a write failure.
Status WriteGridReport(const GridReport& report, const std::string& out_dir);

}  // namespace ovoflow::training
