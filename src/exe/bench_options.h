// Options of `ovoflow bench` (flags in cmd_bench.cc, checked by
// ValidateBenchOptions in bench_runner.h).
#pragma once

#include <string>
#include <vector>

#include "exe/bench_stats.h"
#include "inference/worker.h"
#include "phantom/scanner_simulator.h"
#include "store/writer.h"

namespace ovoflow::exe {

struct BenchOptions {
  std::string brokers;                      // Kafka bootstrap servers (the global --brokers)
  std::string log_level = "info";           // of the children (their logs go to work_dir)
  std::string db;                           // database URL; empty: a fresh SQLite file in work_dir
  std::vector<double> rates = {500, 1000};  // fixed steps, scans/s, in order
  double duration_s = 60;                   // publishing time of a step, s
  double warmup_s = 10;                     // scans captured in a step's first warmup_s are not in the latency
  double drain_timeout_s = 60;              // after the scanner finishes, wait this long for every scan stored, s
  bool find_max = false;                    // after the fixed steps, ramp up until a step is not sustained
  double ramp_factor = 1.25;                // rate multiplier per ramp step (> 1)
  double max_rate = 5000;                   // the ramp stops at this rate, scans/s
  SustainCriteria criteria;
  int workers = 1;                // inference worker processes
  int partitions = 4;             // of the topics bench creates when missing
  int replication_factor = -1;    // -1: the broker's default.replication.factor
  double connect_timeout_s = 30;  // bound on reaching the broker (topic creation), s
  int prime_scans = 200;          // scans through the pipeline before the first step, not measured
  std::vector<std::string> tenants = phantom::ScannerOptions{}.tenants;  // the simulator's hatcheries
  std::string work_dir;             // children's logs; empty: a new /tmp/ovoflow-bench.XXXXXX
  inference::WorkerOptions worker;  // passed to each `ovoflow infer`
  store::WriterOptions writer;      // passed to `ovoflow store`
};

}  // namespace ovoflow::exe
