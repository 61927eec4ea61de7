#include "training/eval_grid.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/svg_chart.h"
#include "inference/classifier.h"

namespace ovoflow::training {
namespace {

Status ValidateGridOptions(const GridOptions& o) {
  if (o.snrs.empty() || o.days.empty() || o.variations.empty())
    return Status::InvalidArgument("grid: snrs, days and variations must not be empty");
  if (o.scans_per_cell < 100) return Status::InvalidArgument("grid: scans_per_cell must be >= 100");
  for (float snr : o.snrs) {
    phantom::PhantomOptions p = o.base;
    p.snr = snr;
    OVOFLOW_RETURN_IF_ERROR(phantom::ValidatePhantomOptions(p));
  }
  for (uint32_t day : o.days) {
    phantom::PhantomOptions p = o.base;
    p.incubation_day = day;
    OVOFLOW_RETURN_IF_ERROR(phantom::ValidatePhantomOptions(p));
  }
  for (float v : o.variations) {
    phantom::PhantomOptions p = o.base;
    p.variation = v;
    OVOFLOW_RETURN_IF_ERROR(phantom::ValidatePhantomOptions(p));
  }
  return phantom::ValidatePhantomOptions(o.base);
}

std::string Json(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.6g", std::isfinite(v) ? v : 0.0);
  return buf;
}

std::string CellJson(const GridCell& c) {
  return "{\"snr\": " + Json(c.snr) + ", \"incubation_day\": " + std::to_string(c.day) +
         ", \"variation\": " + Json(c.variation) + ", \"count\": " + std::to_string(c.metrics.count) +
         ", \"accuracy\": " + Json(c.metrics.accuracy) + ", \"roc_auc\": " + Json(c.metrics.roc_auc) +
         ", \"ece\": " + Json(c.metrics.ece) + ", \"loss\": " + Json(c.metrics.loss) +
         ", \"decided_accuracy\": " + Json(c.band.decided_accuracy()) +
         ", \"abstention\": " + Json(c.band.abstention()) + "}";
}

std::string CellCsv(const char* group, const GridCell& c) {
  return std::string(group) + "," + Json(c.snr) + "," + std::to_string(c.day) + "," + Json(c.variation) + "," +
         std::to_string(c.metrics.count) + "," + Json(c.metrics.accuracy) + "," + Json(c.metrics.roc_auc) + "," +
         Json(c.metrics.ece) + "," + Json(c.band.decided_accuracy()) + "," + Json(c.band.abstention()) + "\n";
}

Status WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::Internal("cannot write " + path.string());
  return Status::Ok();
}

// One series per incubation day of `value(cell)` against SNR.
std::vector<ChartSeries> ByDay(const std::vector<GridCell>& cells, double (*value)(const GridCell&)) {
  std::map<uint32_t, ChartSeries> by_day;
  for (const GridCell& c : cells) {
    ChartSeries& s = by_day[c.day];
    s.name = "day " + std::to_string(c.day);
    s.x.push_back(c.snr);
    s.y.push_back(value(c));
  }
  std::vector<ChartSeries> out;
  out.reserve(by_day.size());
  for (auto& [day, s] : by_day) out.push_back(std::move(s));
  return out;
}

}  // namespace

Result<GridReport> EvaluateGrid(const std::string& model_dir, const GridOptions& o) {
  OVOFLOW_RETURN_IF_ERROR(ValidateGridOptions(o));
  OVOFLOW_ASSIGN_OR_RETURN(auto meta, ReadModelMetadata(model_dir));
  OVOFLOW_ASSIGN_OR_RETURN(auto model, SexClassifier::Load(model_dir, o.threads));
  GridReport report;
  report.model = meta.name() + " " + meta.version();
  report.keep_min_p_female =
      meta.has_recommended_thresholds() ? meta.recommended_thresholds().keep_min_p_female() : 0.9f;
  report.divert_max_p_female =
      meta.has_recommended_thresholds() ? meta.recommended_thresholds().divert_max_p_female() : 0.1f;

  auto score = [&](const phantom::PhantomOptions& phantom, const std::string& label) -> Result<GridCell> {
    EvalOptions e;
    e.seed = o.seed;  // the same embryos in every cell: only the knob differs
    e.count = o.scans_per_cell;
    e.threads = o.threads;
    e.batch = o.batch;
    e.phantom = phantom;
    e.progress = o.progress;
    e.progress_label = label;
    OVOFLOW_ASSIGN_OR_RETURN(auto scored, ScorePhantomScans(*model, e));
    GridCell c;
    c.snr = phantom.snr;
    c.day = phantom.incubation_day;
    c.variation = phantom.variation;
    c.metrics = ComputeMetrics(scored.p_female, scored.female);
    c.band = ScoreBand(scored.p_female, scored.female, report.keep_min_p_female, report.divert_max_p_female);
    return c;
  };
  for (uint32_t day : o.days) {
    for (float snr : o.snrs) {
      phantom::PhantomOptions p = o.base;
      p.incubation_day = day;
      p.snr = snr;
      char label[64];
      (void)std::snprintf(label, sizeof label, "day %u SNR %g", day, static_cast<double>(snr));
      OVOFLOW_ASSIGN_OR_RETURN(auto cell, score(p, label));
      report.snr_by_day.push_back(cell);
    }
  }
  for (float v : o.variations) {
    phantom::PhantomOptions p = o.base;
    p.variation = v;
    char label[64];
    (void)std::snprintf(label, sizeof label, "variation %g", static_cast<double>(v));
    OVOFLOW_ASSIGN_OR_RETURN(auto cell, score(p, label));
    report.variation.push_back(cell);
  }
  return report;
}

Status WriteGridReport(const GridReport& r, const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Status::Internal("cannot create " + out_dir + ": " + ec.message());
  const std::filesystem::path dir(out_dir);

  std::string json = "{\n  \"model\": \"" + r.model + "\",\n  \"keep_min_p_female\": " + Json(r.keep_min_p_female) +
                     ",\n  \"divert_max_p_female\": " + Json(r.divert_max_p_female) + ",\n  \"snr_by_day\": [\n";
  for (std::size_t i = 0; i < r.snr_by_day.size(); ++i)
    json += "    " + CellJson(r.snr_by_day[i]) + (i + 1 < r.snr_by_day.size() ? ",\n" : "\n");
  json += "  ],\n  \"variation\": [\n";
  for (std::size_t i = 0; i < r.variation.size(); ++i)
    json += "    " + CellJson(r.variation[i]) + (i + 1 < r.variation.size() ? ",\n" : "\n");
  json += "  ]\n}\n";
  OVOFLOW_RETURN_IF_ERROR(WriteText(dir / "grid.json", json));

  std::string csv = "group,snr,incubation_day,variation,count,accuracy,roc_auc,ece,decided_accuracy,abstention\n";
  for (const GridCell& c : r.snr_by_day) csv += CellCsv("snr_by_day", c);
  for (const GridCell& c : r.variation) csv += CellCsv("variation", c);
  OVOFLOW_RETURN_IF_ERROR(WriteText(dir / "grid.csv", csv));

  const std::string model = " (" + r.model + ")";
  ChartOptions o;
  o.log_x = true;
  o.x_label = "SNR (tissue signal / noise sigma, log scale)";
  o.title = "Accuracy at p_female 0.5 by SNR and incubation day" + model;
  o.y_label = "accuracy";
  o.y_min = 0.5;
  o.y_max = 1.0;
  OVOFLOW_RETURN_IF_ERROR(
      WriteText(dir / "accuracy_by_snr.svg",
                LineChartSvg(o, ByDay(r.snr_by_day, [](const GridCell& c) { return c.metrics.accuracy; }))));
  o.title = "ROC-AUC by SNR and incubation day" + model;
  o.y_label = "ROC-AUC";
  OVOFLOW_RETURN_IF_ERROR(WriteText(dir / "auc_by_snr.svg", LineChartSvg(o, ByDay(r.snr_by_day, [](const GridCell& c) {
                                                                           return c.metrics.roc_auc;
                                                                         }))));
  o.title = "Accuracy on decided eggs (KEEP/DIVERT) with the recommended band" + model;
  o.y_label = "decided accuracy";
  o.y_min = 0.8;
  o.reference_y = 0.995;
  o.reference_label = "target 99.5 %";
  OVOFLOW_RETURN_IF_ERROR(
      WriteText(dir / "decided_accuracy_by_snr.svg",
                LineChartSvg(o, ByDay(r.snr_by_day, [](const GridCell& c) { return c.band.decided_accuracy(); }))));
  o.title = "Share sent to RECHECK with the recommended band" + model;
  o.y_label = "abstention";
  o.y_min = 0;
  o.y_max = 1;
  o.reference_y = 0.05;
  o.reference_label = "limit 5 %";
  OVOFLOW_RETURN_IF_ERROR(
      WriteText(dir / "abstention_by_snr.svg",
                LineChartSvg(o, ByDay(r.snr_by_day, [](const GridCell& c) { return c.band.abstention(); }))));

  ChartSeries acc{"accuracy", {}, {}}, auc{"ROC-AUC", {}, {}}, decided{"decided accuracy", {}, {}},
      kept{"1 - abstention", {}, {}};
  for (const GridCell& c : r.variation) {
    for (ChartSeries* s : {&acc, &auc, &decided, &kept}) s->x.push_back(c.variation);
    acc.y.push_back(c.metrics.accuracy);
    auc.y.push_back(c.metrics.roc_auc);
    decided.y.push_back(c.band.decided_accuracy());
    kept.y.push_back(1 - c.band.abstention());
  }
  ChartOptions v;
  v.title = "Metrics by anatomical variation" + model;
  v.x_label = "variation (scale of the natural spread between embryos; 1 = default)";
  v.y_label = "fraction";
  v.y_min = 0.5;
  v.y_max = 1.0;
  return WriteText(dir / "metrics_by_variation.svg", LineChartSvg(v, {acc, auc, decided, kept}));
}

}  // namespace ovoflow::training
