// `ovoflow train|eval`: fit the sexing CNN on phantom scans and score a model
// directory on held-out phantom scans. With default flags `train` rebuilds
// the committed models/gonad-cnn/2.1.0 exactly (seeded; see docs/model.md).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "common/log.h"
#include "exe/commands.h"
#include "training/eval_grid.h"
#include "training/train.h"

namespace ovoflow::exe {
namespace {

constexpr int kExitUsage = 2;

[[noreturn]] void Fail(const char* what, const Status& st) {
  spdlog::error("{}: {}", what, st.ToString());
  throw CLI::RuntimeError(st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure);
}

void PrintMetrics(const char* title, const training::BinaryMetrics& m) {
  std::printf("%s: %lld scans  accuracy %.4f  roc_auc %.4f  loss %.4f  ECE %.4f  %.0f scans/s\n", title,
              static_cast<long long>(m.count), m.accuracy, m.roc_auc, m.loss, m.ece, m.scans_per_second);
  std::printf("  confusion (female = positive):  TP %lld  FN %lld  |  FP %lld  TN %lld\n",
              static_cast<long long>(m.true_positive), static_cast<long long>(m.false_negative),
              static_cast<long long>(m.false_positive), static_cast<long long>(m.true_negative));
  if (m.has_band)
    std::printf("  recommended RECHECK band:  decided accuracy %.4f  abstention %.4f\n", m.decided_accuracy,
                m.abstention);
}

void PrintCalibration(const v1::Calibration& c, const v1::DecisionBand& b) {
  std::printf("calibration: temperature %.3f  ECE %.4f -> %.4f  loss %.4f -> %.4f  (%d scans, seed %llu)\n",
              c.temperature(), c.ece_before(), c.ece_after(), c.loss_before(), c.loss_after(), c.count(),
              static_cast<unsigned long long>(c.seed()));
  std::printf("RECHECK band: KEEP p_female >= %.4f, DIVERT <= %.4f  (accuracy target held at z = %.3f)%s\n",
              b.keep_min_p_female(), b.divert_max_p_female(), b.confidence_z(),
              b.feasible() ? "" : "  (targets NOT met on the calibration scans)");
  std::printf("  calibration scans: decided accuracy %.4f, abstention %.4f\n", b.calibration_decided_accuracy(),
              b.calibration_abstention());
  std::printf("  held-out scans:    decided accuracy %.4f, abstention %.4f  (targets >= %.4f, <= %.4f)\n",
              b.held_out_decided_accuracy(), b.held_out_abstention(), b.target_accuracy(), b.max_abstention());
}

void AddTrainCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<training::TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Train the sexing CNN on phantom scans; writes model.pt + model.json");
  cmd->add_option("--out", o->out_dir, "model directory to write (default: the registry's <name>/<version>)");
  cmd->add_option("--model-version", o->version, "version recorded in model.json (and the registry directory)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "phantom stream and weight seed of the training scans")->capture_default_str();
  cmd->add_option("--scans", o->train_scans, "distinct training scans")
      ->check(CLI::Range(int64_t{2}, training::kMaxTrainScans))
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "passes over the training scans")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "scans per optimiser step")->check(CLI::Range(2, 4096))->capture_default_str();
  cmd->add_option("--lr", o->learning_rate, "peak AdamW learning rate (cosine decay)")->capture_default_str();
  cmd->add_option("--threads", o->threads, "LibTorch and data-generation threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--eval-seed", o->eval_seed, "phantom seed of the held-out scans (must differ from --seed)")
      ->capture_default_str();
  cmd->add_option("--eval-scans", o->eval_scans, "held-out scans scored after training (0: skip, with calibration)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--conv-channels", o->net.conv_channels, "output channels of each 3x3 conv layer")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--conv-strides", o->net.conv_strides, "stride (1 or 2) of each conv layer")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--hidden", o->net.hidden, "units of the hidden fully connected layer")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--calibration-seed", o->calibration_seed, "phantom seed of the calibration scans")
      ->capture_default_str();
  cmd->add_option("--calibration-scans", o->calibration_scans, "scans the temperature and RECHECK band are fitted on")
      ->check(CLI::Range(int64_t{100}, int64_t{2'000'000}))
      ->capture_default_str();
  cmd->add_option("--target-accuracy", o->target_accuracy, "RECHECK band: accuracy on the eggs it decides")
      ->check(CLI::Range(0.5, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-abstention", o->max_abstention, "RECHECK band: largest fraction sent to RECHECK")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option(
         "--confidence-z", o->band_confidence_z,
         "RECHECK band: the accuracy target must hold at the Wilson lower bound, z standard errors (0: point estimate)")
      ->check(CLI::Range(0.0, 9.99))
      ->capture_default_str();
  AddPhantomFlags(cmd, &o->phantom);
  cmd->callback([&g, o] {
    InitLogging(g.log_level);
    if (o->out_dir.empty()) o->out_dir = DefaultModelRegistry() + "/" + o->name + "/" + o->version;
    auto report = training::TrainModel(*o);
    if (!report.ok()) Fail("train", report.status());
    std::printf("model: %s  (%lld parameters, %.2f MFLOP/scan)\n", report->model_dir.c_str(),
                static_cast<long long>(report->parameter_count), static_cast<double>(report->flops_per_scan) / 1e6);
    std::printf("training: %lld steps, loss %.4f -> %.4f, %.1f s wall (incl. evaluation)\n",
                static_cast<long long>(report->steps), report->first_loss,
                report->epoch_loss.empty() ? 0.0 : report->epoch_loss.back(), report->wall_seconds);
    PrintMetrics("train scans", report->train);
    if (report->held_out.count > 0) {
      PrintMetrics("held-out", report->held_out);
      PrintCalibration(report->calibration, report->band);
    }
  });
}

void AddEvalCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<training::EvalOptions>();
  auto model_dir = std::make_shared<std::string>(DefaultModelDir());
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("eval", "Score a model directory on held-out phantom scans");
  cmd->add_option("--model", *model_dir, "model directory (model.pt + model.json)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "phantom stream (training used 1)")->capture_default_str();
  cmd->add_option("--count", o->count, "scans")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch", o->batch, "scans per forward pass")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--threads", o->threads, "LibTorch and data-generation threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print the metrics as JSON");
  auto grid_dir = std::make_shared<std::string>();
  auto grid_scans = std::make_shared<int64_t>(2000);
  cmd->add_option("--grid", *grid_dir,
                  "instead: score the SNR x incubation-day and variation grid, write grid.json, grid.csv and SVG "
                  "plots into this directory");
  cmd->add_option("--grid-scans", *grid_scans, "scans per grid cell")
      ->check(CLI::Range(int64_t{100}, int64_t{1'000'000}))
      ->capture_default_str();
  AddPhantomFlags(cmd, &o->phantom);
  cmd->callback([&g, o, model_dir, json, grid_dir, grid_scans] {
    InitLogging(g.log_level);
    if (!grid_dir->empty()) {
      training::GridOptions grid;
      grid.base = o->phantom;
      grid.threads = o->threads;
      grid.scans_per_cell = *grid_scans;
      auto report = training::EvaluateGrid(*model_dir, grid);
      if (!report.ok()) Fail("eval --grid", report.status());
      const Status written = training::WriteGridReport(*report, *grid_dir);
      if (!written.ok()) Fail("eval --grid", written);
      std::printf("%-6s %-5s %-9s %-8s %-8s %-7s %-9s %s\n", "day", "SNR", "variation", "accuracy", "roc_auc", "ECE",
                  "decided", "abstention");
      for (const auto* cells : {&report->snr_by_day, &report->variation})
        for (const auto& c : *cells)
          std::printf("%-6u %-5g %-9g %-8.4f %-8.4f %-7.4f %-9.4f %.4f\n", c.day, static_cast<double>(c.snr),
                      static_cast<double>(c.variation), c.metrics.accuracy, c.metrics.roc_auc, c.metrics.ece,
                      c.band.decided_accuracy(), c.band.abstention());
      std::printf("wrote %s/{grid.json,grid.csv,*.svg}\n", grid_dir->c_str());
      return;
    }
    if (*json) o->progress = nullptr;
    auto m = training::EvaluateModel(*model_dir, *o);
    if (!m.ok()) Fail("eval", m.status());
    if (*json) {
      std::printf("%s\n", training::MetricsToJson(*m).c_str());
    } else {
      std::printf("model %s, phantom seed %llu\n", model_dir->c_str(), static_cast<unsigned long long>(o->seed));
      PrintMetrics("held-out", *m);
    }
  });
}

void AddCalibrateCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<training::CalibrateOptions>();
  auto model_dir = std::make_shared<std::string>(DefaultModelDir());
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Fit the temperature and the RECHECK band of a model directory on phantom scans (rewrites model.json)");
  cmd->add_option("--model", *model_dir, "model directory (model.pt + model.json)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "phantom seed of the calibration scans")->capture_default_str();
  cmd->add_option("--count", o->count, "calibration scans")
      ->check(CLI::Range(int64_t{100}, int64_t{2'000'000}))
      ->capture_default_str();
  cmd->add_option("--held-out-seed", o->held_out_seed, "phantom seed of the held-out check")->capture_default_str();
  cmd->add_option("--held-out-count", o->held_out_count, "held-out scans")
      ->check(CLI::Range(int64_t{100}, int64_t{2'000'000}))
      ->capture_default_str();
  cmd->add_option("--target-accuracy", o->target_accuracy, "accuracy on the eggs the band decides")
      ->check(CLI::Range(0.5, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-abstention", o->max_abstention, "largest fraction sent to RECHECK")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--confidence-z", o->confidence_z,
                  "the accuracy target must hold at the Wilson lower bound, z standard errors (0: point estimate)")
      ->check(CLI::Range(0.0, 9.99))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "LibTorch and data-generation threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  AddPhantomFlags(cmd, &o->phantom);
  cmd->callback([&g, o, model_dir] {
    InitLogging(g.log_level);
    auto report = training::CalibrateModel(*model_dir, *o);
    if (!report.ok()) Fail("calibrate", report.status());
    std::printf("model %s\n", model_dir->c_str());
    PrintMetrics("held-out", report->held_out);
    PrintCalibration(report->calibration, report->band);
  });
}

}  // namespace

void AddTrainCommands(CLI::App& app, const GlobalFlags& g) {
  AddTrainCommand(app, g);
  AddEvalCommand(app, g);
  AddCalibrateCommand(app, g);
}

}  // namespace ovoflow::exe
