// The pipeline under test for `ovoflow bench`: the topics, the database and
// the long-running children (store writer, inference workers) with their
// /metrics endpoints; a scanner child is started per step.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/child_process.h"
#include "common/status.h"
#include "exe/bench_options.h"
#include "exe/bench_stats.h"
#include "store/prediction_store.h"

namespace ovoflow::exe {

// A child process and the port of its /metrics endpoint.
struct MeteredChild {
  std::unique_ptr<ChildProcess> process;
  int metrics_port = 0;
  std::string last_metrics;  // last successful scrape: a missed one keeps the previous figures
};

// Figures scraped from the store writer's and the workers' /metrics.
struct PipelineScrape {
  double stored_total = 0;            // ovoflow_predictions_stored_total
  double duplicates_total = 0;        // ovoflow_store_duplicates_total
  std::map<std::string, double> lag;  // ovoflow_consumer_lag by group, summed over the processes
};

// Not thread-safe: the bench thread owns it.
class BenchPipeline {
 public:
  // Creates the topics when missing (bounded by options.connect_timeout_s),
  // opens (and migrates) the database, starts the store writer and the
  // workers with their logs in `work_dir`, and waits until each serves
  // /metrics. Unavailable when the broker or the database cannot be reached
  // or `stop` becomes true; Internal when a child dies or serves no /metrics
  // within 120 s. `options` and `stop` must outlive the pipeline.
  static Result<std::unique_ptr<BenchPipeline>> Start(const BenchOptions& options, const std::string& work_dir,
                                                      const std::atomic<bool>& stop);
  ~BenchPipeline();  // Stop()
  BenchPipeline(const BenchPipeline&) = delete;
  BenchPipeline& operator=(const BenchPipeline&) = delete;

  // SIGTERM to every child still running, then waits (SIGKILL after 30 s).
  void Stop();
  const std::string& db_url() const { return db_; }

  // Internal, with the end of its log, when a child has exited; Unavailable
  // once `stop` is true.
  Status CheckChildren();
  PipelineScrape Scrape();
  // Returns once the inference group has no lag and nothing was stored for
  // 2 s. Prints the backlog every 5 s while there is one. Internal when
  // neither the lag shrinks nor rows are stored for `no_progress_timeout_s`.
  Status WaitIdle(double no_progress_timeout_s);
  // CPU seconds used so far by each worker, the store writer, the local
  // broker, PostgreSQL (for a postgresql:// database) and bench itself.
  std::vector<CpuUse> CpuSnapshot();
  // Stage timestamps of the rows whose egg_id starts with "<run_id>-",
  // captured in [from_ns, to_ns). Unavailable when the database fails.
  Result<std::vector<RowTimes>> ReadRows(const std::string& run_id, int64_t from_ns, int64_t to_ns);
  // Starts `ovoflow scanner` publishing `scans` scans at `rate` scans/s with
  // egg ids "<run_id>-NNNNNNNN"; its log is <work_dir>/<name>.log.
  Result<MeteredChild> StartScanner(const std::string& name, const std::string& run_id, double rate, int64_t scans);

 private:
  BenchPipeline(const BenchOptions& options, const std::string& work_dir, const std::atomic<bool>& stop)
      : o_(options), work_dir_(work_dir), stop_(stop) {}
  Status StartChildren();
  Result<MeteredChild> Spawn(const std::string& name, const std::vector<std::string>& args, int port);
  std::vector<std::string> CommonArgs(const std::string& command, int port) const;
  std::vector<MeteredChild*> Children();

  const BenchOptions& o_;
  const std::string work_dir_;
  const std::atomic<bool>& stop_;
  std::string db_;
  std::unique_ptr<store::PredictionStore> store_;  // read side: the rows of each step
  MeteredChild writer_;
  std::vector<MeteredChild> workers_;
};

}  // namespace ovoflow::exe
