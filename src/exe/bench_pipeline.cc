#include "exe/bench_pipeline.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <thread>

#include "bus/consumer.h"
#include "common/topics.h"
#include "exe/bench_metrics.h"
#include "exe/bench_procfs.h"
#include "exe/bench_stats.h"

namespace ovoflow::exe {
namespace {

bool IsPostgres(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

// The TCP port of a libpq URI (postgresql://user@host:port/db), 5432 when absent.
int PostgresPort(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find_first_of("/?"));
  std::size_t at = rest.rfind('@');
  if (at != std::string::npos) rest = rest.substr(at + 1);
  std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.back() == ']') return 5432;
  const std::string digits = rest.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  // Not a port number: libpq refuses the URL before this matters.
  return ec == std::errc() && end == digits.data() + digits.size() ? port : 5432;
}

}  // namespace

Result<std::unique_ptr<BenchPipeline>> BenchPipeline::Start(const BenchOptions& options, const std::string& work_dir,
                                                            const std::atomic<bool>& stop) {
  std::unique_ptr<BenchPipeline> p(new BenchPipeline(options, work_dir, stop));
  std::printf("bench: checking the broker at %s (up to %.0f s)\n", options.brokers.c_str(), options.connect_timeout_s);
  (void)std::fflush(stdout);
  Status topics =
      bus::EnsureTopics(options.brokers, {kScansTopic, kPredictionsTopic, kDeadLetterTopic}, options.partitions,
                        options.replication_factor, static_cast<int>(options.connect_timeout_s * 1000));
  if (topics.ok()) topics = bus::EnsureCompactedTopic(options.brokers, kModelsTopic, options.replication_factor);
  if (!topics.ok())
    return Status::Unavailable("cannot reach Kafka at " + options.brokers + ": " + topics.message() +
                               "\n  start a broker (scripts/kafka start --port N) or pass --brokers host:port");
  p->db_ = options.db.empty() ? "sqlite://" + work_dir + "/bench.db" : options.db;
  auto store = store::OpenStore(p->db_);
  if (!store.ok())
    return Status::Unavailable("cannot open the database " + p->db_ + ": " + store.status().ToString() +
                               "\n  check --db (sqlite:///path/file.db or postgresql://user@host:port/db)");
  p->store_ = std::move(store).value();
  OVOFLOW_RETURN_IF_ERROR(p->StartChildren());
  return p;
}

BenchPipeline::~BenchPipeline() { Stop(); }

std::vector<MeteredChild*> BenchPipeline::Children() {
  std::vector<MeteredChild*> all;
  if (writer_.process) all.push_back(&writer_);
  for (auto& w : workers_) all.push_back(&w);
  return all;
}

std::vector<std::string> BenchPipeline::CommonArgs(const std::string& command, int port) const {
  // The scraper reads /metrics over plain HTTP on loopback.
  return {command,      "--brokers",      o_.brokers,           "--log-level",
          o_.log_level, "--metrics-port", std::to_string(port), "--insecure-http"};
}

Result<MeteredChild> BenchPipeline::Spawn(const std::string& name, const std::vector<std::string>& args, int port) {
  OVOFLOW_ASSIGN_OR_RETURN(std::string self, SelfExecutable());
  std::vector<std::string> argv = {self};
  argv.insert(argv.end(), args.begin(), args.end());
  OVOFLOW_ASSIGN_OR_RETURN(auto child, ChildProcess::Start(argv, {name, work_dir_ + "/" + name + ".log"}));
  MeteredChild c;
  c.process = std::move(child);
  c.metrics_port = port;
  return c;
}

Status BenchPipeline::StartChildren() {
  auto port = FreeLocalPort();
  if (!port.ok()) return port.status();
  const store::WriterOptions& s = o_.writer;
  std::vector<std::string> args = CommonArgs("store", *port);
  args.insert(args.end(), {"--db", db_, "--store-batch", std::to_string(s.max_batch), "--store-wait-ms",
                           std::to_string(s.max_wait_ms), "--store-group", s.group_id});
  OVOFLOW_ASSIGN_OR_RETURN(auto writer, Spawn("store", args, *port));
  writer_ = std::move(writer);

  const inference::WorkerOptions& w = o_.worker;
  for (int i = 0; i < o_.workers; ++i) {
    port = FreeLocalPort();
    if (!port.ok()) return port.status();
    std::string id = (w.worker_id.empty() ? std::string("bench") : w.worker_id) + "-" + std::to_string(i);
    args = CommonArgs("infer", *port);
    args.insert(args.end(), {"--model", w.model_dir, "--batch", std::to_string(w.max_batch), "--batch-wait-ms",
                             std::to_string(w.max_wait_ms), "--torch-threads", std::to_string(w.torch_threads),
                             "--keep-threshold", ShortNumber(w.thresholds.keep_min_p_female), "--divert-threshold",
                             ShortNumber(w.thresholds.divert_max_p_female), "--infer-group", w.group_id, "--worker-id",
                             id, "--transaction-timeout-ms", std::to_string(w.transaction_timeout_ms)});
    if (!w.exactly_once) args.emplace_back("--at-least-once");
    OVOFLOW_ASSIGN_OR_RETURN(auto worker, Spawn("infer-" + std::to_string(i), args, *port));
    workers_.push_back(std::move(worker));
  }

  const double deadline = MonotonicSeconds() + 120;
  for (MeteredChild* c : Children()) {
    while (!ScrapeMetrics(c->metrics_port, 1000).ok()) {
      OVOFLOW_RETURN_IF_ERROR(CheckChildren());
      if (MonotonicSeconds() > deadline)
        return Status::Internal(c->process->name() + " serves no /metrics after 120 s; see " + c->process->log_path());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return Status::Ok();
}

void BenchPipeline::Stop() {
  std::vector<MeteredChild*> all = Children();
  for (MeteredChild* c : all) c->process->Signal(SIGTERM);
  for (MeteredChild* c : all) {
    if (c->process->WaitExit(30000)) continue;
    c->process->Signal(SIGKILL);
    c->process->WaitExit(10000);
  }
}

Status BenchPipeline::CheckChildren() {
  if (stop_.load()) return Status::Unavailable("interrupted");
  for (MeteredChild* c : Children()) {
    if (c->process->Running()) continue;
    return Status::Internal("child `" + c->process->name() + "` (pid " + std::to_string(c->process->pid()) +
                            ") exited with status " + std::to_string(*c->process->exit_code()) + "; its log (" +
                            c->process->log_path() + ") ends with:\n" + c->process->LogTail(3000));
  }
  return Status::Ok();
}

PipelineScrape BenchPipeline::Scrape() {
  PipelineScrape out;
  for (MeteredChild* c : Children()) {
    auto text = ScrapeMetrics(c->metrics_port, 1000);
    if (text.ok()) c->last_metrics = std::move(text).value();
    for (const auto& [group, lag] : SumByLabel(c->last_metrics, "ovoflow_consumer_lag", "group")) out.lag[group] += lag;
  }
  out.stored_total = SumSamples(writer_.last_metrics, "ovoflow_predictions_stored_total");
  out.duplicates_total = SumSamples(writer_.last_metrics, "ovoflow_store_duplicates_total");
  return out;
}

Status BenchPipeline::WaitIdle(double no_progress_timeout_s) {
  double last_stored = -1, last_lag = -1, stored_at = MonotonicSeconds(), progress_at = MonotonicSeconds(),
         next_print = MonotonicSeconds() + 5;
  while (true) {
    OVOFLOW_RETURN_IF_ERROR(CheckChildren());
    PipelineScrape s = Scrape();
    const double lag = s.lag[o_.worker.group_id];
    const double now = MonotonicSeconds();
    if (s.stored_total != last_stored) {
      last_stored = s.stored_total;
      stored_at = progress_at = now;
    }
    if (last_lag >= 0 && lag < last_lag) progress_at = now;
    last_lag = lag;
    if (lag == 0 && now - stored_at >= 2) return Status::Ok();
    if (now - progress_at > no_progress_timeout_s)
      return Status::Internal("the pipeline made no progress on its backlog (" + o_.worker.group_id + " lag " +
                              ShortNumber(lag) + ") for " + ShortNumber(no_progress_timeout_s) +
                              " s; see the logs in " + work_dir_);
    if (now >= next_print && lag > 0) {
      std::printf("bench: waiting for the backlog to clear before the next step (%s lag %.0f)\n",
                  o_.worker.group_id.c_str(), lag);
      (void)std::fflush(stdout);
      next_print = now + 5;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

std::vector<CpuUse> BenchPipeline::CpuSnapshot() {
  std::vector<CpuUse> cpu;
  for (auto& w : workers_)
    cpu.push_back({w.process->name(), {w.process->pid()}, ReadProcessCpu(w.process->pid()).own_seconds, 0, ""});
  cpu.push_back({"store", {writer_.process->pid()}, ReadProcessCpu(writer_.process->pid()).own_seconds, 0, ""});
  std::vector<ProcessGroup> groups = {FindKafkaBrokers(LocalBrokerPorts(o_.brokers))};
  if (IsPostgres(db_)) groups.push_back(FindPostgres(PostgresPort(db_)));
  for (const auto& g : groups) {
    if (g.members.empty()) continue;
    CpuUse use{g.name, {}, GroupCpuSeconds(g), 0, g.matched_by};
    for (pid_t p : g.members) use.pids.push_back(p);
    cpu.push_back(use);
  }
  cpu.push_back({"bench", {getpid()}, ReadProcessCpu(getpid()).own_seconds, 0, ""});
  return cpu;
}

Result<std::vector<RowTimes>> BenchPipeline::ReadRows(const std::string& run_id, int64_t from_ns, int64_t to_ns) {
  std::vector<RowTimes> rows;
  const std::string prefix = run_id + "-";
  store::EggQuery q;
  q.tenants = store::TenantScope::All();
  q.from_unix_nanos = from_ns;
  q.to_unix_nanos = to_ns;
  q.limit = 1000;
  do {
    auto page = store_->ListEggs(q);
    if (!page.ok()) return Status::Unavailable("reading the step's rows back: " + page.status().ToString());
    for (const auto& item : page->items)
      if (item.prediction.egg_id().rfind(prefix, 0) == 0) rows.push_back(TimesOf(item));
    q.cursor = page->next_cursor;
  } while (!q.cursor.empty());
  return rows;
}

Result<MeteredChild> BenchPipeline::StartScanner(const std::string& name, const std::string& run_id, double rate,
                                                 int64_t scans) {
  OVOFLOW_ASSIGN_OR_RETURN(auto port, FreeLocalPort());
  std::string tenants;
  for (const auto& t : o_.tenants) tenants += (tenants.empty() ? "" : ",") + t;
  std::vector<std::string> args = CommonArgs("scanner", port);
  args.insert(args.end(), {"--scans", std::to_string(scans), "--rate", ShortNumber(rate), "--run-id", run_id,
                           "--tenants", tenants});
  return Spawn(name, args, port);
}

}  // namespace ovoflow::exe
