// What one `ovoflow bench` step measured, and the latency percentiles it
// computes from the stored rows' stage timestamps.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/prediction_store.h"

namespace ovoflow::exe {

// Percentiles of one latency, milliseconds (nearest rank). All zero with count 0.
struct Percentiles {
  int64_t count = 0;
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};
// Sorts `values_ms` in place.
Percentiles ComputePercentiles(std::vector<double>& values_ms);

// The pipeline stages between the Prediction's timestamps, in order.
inline constexpr const char* kStageNames[] = {"captured_to_published", "published_to_consumed", "consumed_to_inferred",
                                              "inferred_to_stored"};
inline constexpr int kStageCount = 4;

struct LatencyStats {
  Percentiles end_to_end;           // captured_at -> stored_at
  Percentiles stages[kStageCount];  // in kStageNames order
  int worst_stage = -1;             // index of the stage with the highest p99, -1 when no samples
  int64_t excluded_warmup = 0;      // rows captured in the warm-up, not in the percentiles
};

// Row timestamps reduced to what the statistics need, unix ns.
struct RowTimes {
  int64_t captured_ns = 0;
  int64_t published_ns = 0;  // Kafka message timestamp: millisecond resolution
  int64_t consumed_ns = 0;
  int64_t inferred_ns = 0;
  int64_t stored_ns = 0;
};
RowTimes TimesOf(const store::StoredPrediction& row);

// Latency over the rows captured at or after (first capture + warmup_ns).
LatencyStats ComputeLatency(const std::vector<RowTimes>& rows, int64_t warmup_ns);

// Consumer lag of one group over a step, messages.
struct LagStats {
  double max = 0;
  double end = 0;
};

// CPU of one process or process group over a step.
struct CpuUse {
  std::string name;  // "scanner", "infer-0", "store", "kafka", "postgres", "bench"
  std::vector<int> pids;
  double cpu_seconds = 0;
  double cores = 0;  // cpu_seconds / step wall seconds
  std::string note;  // how it was found, when not a child of bench
};

struct StepResult {
  int index = 0;           // 1-based
  std::string kind;        // "fixed", "ramp" or "ramp-down" (--find-max)
  std::string run_id;      // egg_id prefix of the step's scans
  double target_rate = 0;  // scans/s
  int64_t scans = 0;       // asked of the scanner
  int64_t published = 0;   // acknowledged by the broker
  int64_t publish_failed = 0;
  int64_t stored = 0;          // rows of this run in the store
  int64_t duplicates = 0;      // redelivered predictions the store skipped during the step
  double publish_seconds = 0;  // scanner: first send to last acknowledgement
  double achieved_rate = 0;    // published / publish_seconds
  double stored_rate = 0;      // stored / (last stored_at - first captured_at)
  double wall_seconds = 0;     // scanner start to last row stored (or drain timeout)
  bool drained = false;        // every published scan stored within the drain timeout
  LatencyStats latency;
  std::map<std::string, LagStats> lag;  // by consumer group
  std::vector<CpuUse> cpu;
  double machine_busy_cores = 0;  // the whole machine (all processes) over the step
  double other_cores = 0;         // machine_busy_cores minus the processes in `cpu`: other work on the host
  double loadavg_1m_end = 0;      // 1-minute load average at the end of the step
  bool sustained = false;
  std::vector<std::string> not_sustained_because;
};

// The criteria of a sustained step (see `ovoflow bench --help`).
struct SustainCriteria {
  double min_publish_ratio = 0.97;  // achieved publish rate >= this x target
  double p99_budget_ms = 1000;      // end-to-end p99 <= this
};
// Sets step->sustained and step->not_sustained_because.
void JudgeStep(const SustainCriteria& criteria, StepResult* step);

// Seconds on the monotonic clock, for bench's deadlines and rates.
double MonotonicSeconds();
// A number for flags and messages: integers without a fraction, others in
// up to 9 significant digits ("1000", "1.25").
std::string ShortNumber(double v);

}  // namespace ovoflow::exe
