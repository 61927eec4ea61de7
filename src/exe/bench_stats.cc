#include "exe/bench_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "common/clock.h"

namespace ovoflow::exe {
namespace {

double At(const std::vector<double>& sorted, double p) {
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

int64_t NsOf(bool has, const google::protobuf::Timestamp& ts) { return has ? FromTimestamp(ts) : 0; }

// printf-style, so that -Wformat checks every call's arguments against its format.
__attribute__((format(printf, 1, 2))) std::string Format(const char* fmt, ...) {  // NOLINT(cert-dcl50-cpp)
  char buf[256];
  va_list args;
  va_start(args, fmt);
  (void)std::vsnprintf(buf, sizeof buf, fmt, args);  // cut to the buffer: table cells
  va_end(args);
  return buf;
}

}  // namespace

Percentiles ComputePercentiles(std::vector<double>& values_ms) {
  Percentiles p;
  if (values_ms.empty()) return p;
  std::sort(values_ms.begin(), values_ms.end());
  p.count = static_cast<int64_t>(values_ms.size());
  p.p50_ms = At(values_ms, 0.50);
  p.p95_ms = At(values_ms, 0.95);
  p.p99_ms = At(values_ms, 0.99);
  p.max_ms = values_ms.back();
  return p;
}

RowTimes TimesOf(const store::StoredPrediction& row) {
  const v1::StageTimes& t = row.prediction.times();
  return {NsOf(t.has_captured_at(), t.captured_at()), NsOf(t.has_published_at(), t.published_at()),
          NsOf(t.has_consumed_at(), t.consumed_at()), NsOf(t.has_inferred_at(), t.inferred_at()),
          row.stored_at_unix_nanos};
}

LatencyStats ComputeLatency(const std::vector<RowTimes>& rows, int64_t warmup_ns) {
  LatencyStats stats;
  if (rows.empty()) return stats;
  int64_t first = rows.front().captured_ns;
  for (const auto& r : rows) first = std::min(first, r.captured_ns);
  const int64_t from = first + warmup_ns;
  std::vector<double> e2e;
  std::vector<double> stages[kStageCount];
  e2e.reserve(rows.size());
  for (auto& s : stages) s.reserve(rows.size());
  auto ms = [](int64_t a, int64_t b) { return static_cast<double>(b - a) / 1e6; };
  for (const auto& r : rows) {
    if (r.captured_ns < from) {
      ++stats.excluded_warmup;
      continue;
    }
    e2e.push_back(ms(r.captured_ns, r.stored_ns));
    stages[0].push_back(ms(r.captured_ns, r.published_ns));
    stages[1].push_back(ms(r.published_ns, r.consumed_ns));
    stages[2].push_back(ms(r.consumed_ns, r.inferred_ns));
    stages[3].push_back(ms(r.inferred_ns, r.stored_ns));
  }
  stats.end_to_end = ComputePercentiles(e2e);
  for (int i = 0; i < kStageCount; ++i) {
    stats.stages[i] = ComputePercentiles(stages[i]);
    if (stats.stages[i].count > 0 &&
        (stats.worst_stage < 0 || stats.stages[i].p99_ms > stats.stages[stats.worst_stage].p99_ms))
      stats.worst_stage = i;
  }
  return stats;
}

void JudgeStep(const SustainCriteria& criteria, StepResult* step) {
  auto& why = step->not_sustained_because;
  why.clear();
  if (!step->drained || step->stored < step->published)
    why.push_back(Format("stored %.0f of %.0f published scans within the drain timeout",
                         static_cast<double>(step->stored), static_cast<double>(step->published)));
  if (step->publish_failed > 0)
    why.push_back(Format("%.0f scans not acknowledged by the broker (of %.0f)",
                         static_cast<double>(step->publish_failed), static_cast<double>(step->scans)));
  if (step->achieved_rate < criteria.min_publish_ratio * step->target_rate)
    why.push_back(Format("published %.0f scans/s, below %.0f%% of the %.0f scans/s target", step->achieved_rate,
                         criteria.min_publish_ratio * 100, step->target_rate));
  if (step->latency.end_to_end.count == 0)
    why.push_back("no scan stored after the warm-up to measure latency on");
  else if (step->latency.end_to_end.p99_ms > criteria.p99_budget_ms)
    why.push_back(Format("end-to-end p99 %.0f ms over the %.0f ms budget", step->latency.end_to_end.p99_ms,
                         criteria.p99_budget_ms));
  step->sustained = why.empty();
}

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string ShortNumber(double v) {
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.9g", v);
  return buf;
}

}  // namespace ovoflow::exe
