// `ovoflow train|eval`: fit the sexing CNN on phantom scans and score a model
// directory on held-out phantom scans. With default flags `train` rebuilds
// the committed models/default exactly (seeded; see docs/model.md).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "common/log.h"
#include "exe/commands.h"
#include "inference/train.h"

namespace ovoflow::exe {
namespace {

constexpr int kExitUsage = 2;

[[noreturn]] void Fail(const char* what, const Status& st) {
  spdlog::error("{}: {}", what, st.ToString());
  throw CLI::RuntimeError(st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure);
}

void PrintMetrics(const char* title, const inference::BinaryMetrics& m) {
  std::printf("%s: %lld scans  accuracy %.4f  roc_auc %.4f  loss %.4f  %.0f scans/s\n", title,
              static_cast<long long>(m.count), m.accuracy, m.roc_auc, m.loss, m.scans_per_second);
  std::printf("  confusion (female = positive):  TP %lld  FN %lld  |  FP %lld  TN %lld\n",
              static_cast<long long>(m.true_positive), static_cast<long long>(m.false_negative),
              static_cast<long long>(m.false_positive), static_cast<long long>(m.true_negative));
}

void AddTrainCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<inference::TrainOptions>();
  o->out_dir = DefaultModelDir();
  CLI::App* cmd = app.add_subcommand("train", "Train the sexing CNN on phantom scans; writes model.pt + model.json");
  cmd->add_option("--out", o->out_dir, "model directory to write")->capture_default_str();
  cmd->add_option("--seed", o->seed, "phantom stream and weight seed of the training scans")->capture_default_str();
  cmd->add_option("--scans", o->train_scans, "distinct training scans")
      ->check(CLI::Range(int64_t{2}, int64_t{2'000'000}))->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "passes over the training scans")->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "scans per optimiser step")->check(CLI::Range(2, 4096))->capture_default_str();
  cmd->add_option("--lr", o->learning_rate, "peak AdamW learning rate (cosine decay)")->capture_default_str();
  cmd->add_option("--threads", o->threads, "LibTorch and data-generation threads")->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--eval-seed", o->eval_seed, "phantom seed of the held-out scans (must differ from --seed)")
      ->capture_default_str();
  cmd->add_option("--eval-scans", o->eval_scans, "held-out scans scored after training (0: skip)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  AddPhantomFlags(cmd, &o->phantom);
  cmd->callback([&g, o] {
    InitLogging(g.log_level);
    auto report = inference::TrainModel(*o);
    if (!report.ok()) Fail("train", report.status());
    std::printf("model: %s  (%lld parameters, %.2f MFLOP/scan)\n", report->model_dir.c_str(),
                static_cast<long long>(report->parameter_count), static_cast<double>(report->flops_per_scan) / 1e6);
    std::printf("training: %lld steps, loss %.4f -> %.4f, %.1f s wall (incl. evaluation)\n",
                static_cast<long long>(report->steps), report->first_loss,
                report->epoch_loss.empty() ? 0.0 : report->epoch_loss.back(), report->wall_seconds);
    PrintMetrics("train scans", report->train);
    if (report->held_out.count > 0) PrintMetrics("held-out", report->held_out);
  });
}

void AddEvalCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<inference::EvalOptions>();
  auto model_dir = std::make_shared<std::string>(DefaultModelDir());
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("eval", "Score a model directory on held-out phantom scans");
  cmd->add_option("--model", *model_dir, "model directory (model.pt + model.json)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "phantom stream (training used 1)")->capture_default_str();
  cmd->add_option("--count", o->count, "scans")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch", o->batch, "scans per forward pass")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--threads", o->threads, "LibTorch and data-generation threads")->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_flag("--json", *json, "print the metrics as JSON");
  AddPhantomFlags(cmd, &o->phantom);
  cmd->callback([&g, o, model_dir, json] {
    InitLogging(g.log_level);
    if (*json) o->progress = nullptr;
    auto m = inference::EvaluateModel(*model_dir, *o);
    if (!m.ok()) Fail("eval", m.status());
    if (*json) {
      std::printf("%s\n", inference::MetricsToJson(*m).c_str());
    } else {
      std::printf("model %s, phantom seed %llu\n", model_dir->c_str(), static_cast<unsigned long long>(o->seed));
      PrintMetrics("held-out", *m);
    }
  });
}

}  // namespace

void AddTrainCommands(CLI::App& app, const GlobalFlags& g) {
  AddTrainCommand(app, g);
  AddEvalCommand(app, g);
}

}  // namespace ovoflow::exe
