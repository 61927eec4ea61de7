// `ovoflow bench`: measures the pipeline at fixed rates and the highest rate
// it sustains; writes a JSON report and appends rows to docs/benchmarks.md.
// The measuring is in bench_runner.cc, the outputs in bench_report.cc.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/clock.h"
#include "common/log.h"
#include "exe/bench_procfs.h"
#include "exe/bench_runner.h"
#include "exe/commands.h"

namespace ovoflow::exe {
namespace {

constexpr int kExitUsage = 2;

constexpr const char* kBenchFooter = R"(
Each step starts one `ovoflow scanner` for --duration seconds at the step's
rate; the store writer and --workers inference workers (worker ids bench-0,
bench-1, ... unless --worker-id is given) run as child processes for the
whole run (logs in the work directory). Before the first
step, --prime-scans scans go through the pipeline (not measured), and every
step starts from an idle pipeline.

A step is SUSTAINED when all three hold:
  1. every scan the scanner published is stored within --drain-timeout
     seconds after the scanner finished;
  2. the achieved publish rate (acknowledged scans / the scanner's publishing
     time) is at least 97% of the target rate;
  3. the end-to-end p99 (captured_at -> stored_at, scans captured after the
     step's first --warmup seconds) is at most --p99-budget-ms.
--find-max ramps from the last fixed rate by --ramp-factor per step (capped
at --max-rate) until a step is not sustained, and reports the highest
sustained rate. When no fixed rate was sustained, it steps down instead
(rate / --ramp-factor, at most 8 steps) until one is.

Measured per step: target, achieved publish and stored rates; latency
percentiles end to end and per stage (captured->published, published->
consumed, consumed->inferred, inferred->stored) from the stored rows'
timestamps; consumer lag per group (max and at the end, from the children's
/metrics); CPU cores per stage (utime+stime from /proc over the step's wall
time) for the scanner, each worker, the store writer, the local Kafka broker
and, with a postgresql:// --db, the PostgreSQL server; and the machine's
busy CPU not used by these (other work on the host skews the figures).)";

// The command line as typed, shell-quoted where needed.
std::string CommandLine() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out;
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    std::string arg = all.substr(start, end - start);
    bool plain = !arg.empty() && arg.find_first_not_of(
                                     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_=./:,@%+") == std::string::npos;
    if (!plain) {
      std::string quoted = "'";
      for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      arg = quoted + "'";
    }
    out += (out.empty() ? "" : " ") + arg;
    start = end + 1;
  }
  return out;
}

std::string UtcNow(const char* format) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  if (std::strftime(buf, sizeof buf, format, &tm) == 0) return "";
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string JsonNum(double v) {
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::vector<std::pair<std::string, std::string>> ConfigJson(const BenchOptions& o, const std::string& db) {
  std::string rates = "[";
  for (std::size_t i = 0; i < o.rates.size(); ++i) rates += (i ? ", " : "") + JsonNum(o.rates[i]);
  rates += "]";
  return {{"brokers", JsonString(o.brokers)},
          {"db", JsonString(db)},
          {"rates", rates},
          {"duration_s", JsonNum(o.duration_s)},
          {"warmup_s", JsonNum(o.warmup_s)},
          {"drain_timeout_s", JsonNum(o.drain_timeout_s)},
          {"find_max", o.find_max ? "true" : "false"},
          {"ramp_factor", JsonNum(o.ramp_factor)},
          {"max_rate", JsonNum(o.max_rate)},
          {"p99_budget_ms", JsonNum(o.criteria.p99_budget_ms)},
          {"min_publish_ratio", JsonNum(o.criteria.min_publish_ratio)},
          {"workers", std::to_string(o.workers)},
          {"partitions", std::to_string(o.partitions)},
          {"prime_scans", std::to_string(o.prime_scans)},
          {"batch", std::to_string(o.worker.max_batch)},
          {"batch_wait_ms", std::to_string(o.worker.max_wait_ms)},
          {"torch_threads", std::to_string(o.worker.torch_threads)},
          {"exactly_once", o.worker.exactly_once ? "true" : "false"},
          {"store_batch", std::to_string(o.writer.max_batch)},
          {"store_wait_ms", std::to_string(o.writer.max_wait_ms)}};
}

std::string DefaultLabel(const BenchOptions& o) {
  bool postgres = o.db.rfind("postgres", 0) == 0;
  return std::string(LocalBrokerPorts(o.brokers).empty() ? "Kafka " + o.brokers : "local Kafka") + " + " +
         (postgres ? "PostgreSQL" : "SQLite");
}

struct OutputFlags {
  std::string out;
  std::string append = std::string(OVOFLOW_SOURCE_DIR) + "/docs/benchmarks.md";
  bool no_append = false;
  std::string label;
};

int RunBenchCommand(const GlobalFlags& g, BenchOptions& o, const OutputFlags& f) {
  InitLogging(g.log_level);
  o.brokers = g.brokers;
  o.log_level = g.log_level;
  Status valid = ValidateBenchOptions(o);
  if (!valid.ok()) {
    spdlog::error("bench: {}", valid.message());
    return kExitUsage;
  }
  BenchRun run;
  run.started_at = FormatRfc3339(SystemClock().NowUnixNanos());
  run.date = UtcNow("%Y-%m-%d");
  run.command = CommandLine();
  run.label = f.label.empty() ? DefaultLabel(o) : f.label;
  run.machine = ReadMachineInfo();
  const std::string out = f.out.empty() ? "bench-" + UtcNow("%Y%m%dT%H%M%SZ") + ".json" : f.out;
  std::printf("bench: %s on %s (load average %.2f)\n", run.label.c_str(), run.machine.Describe().c_str(),
              run.machine.loadavg_1m);
  (void)std::fflush(stdout);

  Status st = RunBench(o, &run);
  run.config_json = ConfigJson(o, run.db_url.empty() ? o.db : run.db_url);
  if (!st.ok()) run.error = st.message();
  if (!run.steps.empty()) {
    Status written = WriteBenchJson(run, out);
    if (!written.ok())
      spdlog::error("bench: {}", written.message());
    else
      std::printf("bench: wrote %s\n", out.c_str());
  }
  if (!st.ok()) {
    spdlog::error("bench: {}", st.message());
    return kExitFailure;
  }
  if (run.find_max) {
    if (run.max_sustained_rate)
      std::printf("bench: highest sustained rate %.0f scans/s", *run.max_sustained_rate);
    else
      std::printf("bench: no step was sustained");
    if (run.first_unsustained_rate) std::printf("; %.0f scans/s was not", *run.first_unsustained_rate);
    std::printf(" (%s)\n", run.find_max_note.c_str());
  }
  if (!f.no_append) {
    Status appended = AppendMarkdownRows(run, f.append);
    if (!appended.ok()) {
      spdlog::error("bench: {}", appended.message());
      return kExitFailure;
    }
    std::printf("bench: appended %zu row(s) to %s\n", run.steps.size(), f.append.c_str());
  }
  return 0;
}

}  // namespace

void AddBenchCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<BenchOptions>();
  o->worker.model_dir = DefaultModelDir();
  auto f = std::make_shared<OutputFlags>();
  CLI::App* cmd = app.add_subcommand("bench",
                                     "Measure throughput, latency per stage, lag and CPU at fixed rates "
                                     "and the highest sustained rate (needs a running Kafka)");
  cmd->footer(kBenchFooter);
  cmd->add_option("--db", o->db, "database URL (default: a fresh SQLite file in the work directory)");
  cmd->add_option("--rates", o->rates, "fixed steps, scans/s, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--duration", o->duration_s, "publishing time per step, s")->capture_default_str();
  cmd->add_option("--warmup", o->warmup_s, "scans captured in a step's first seconds are left out of the latency, s")
      ->capture_default_str();
  cmd->add_option("--drain-timeout", o->drain_timeout_s,
                  "after the scanner finished, wait this long for every scan to be stored, s")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--find-max", o->find_max, "after the fixed steps, ramp up until a step is not sustained");
  cmd->add_option("--ramp-factor", o->ramp_factor, "rate multiplier per --find-max step")->capture_default_str();
  cmd->add_option("--max-rate", o->max_rate, "--find-max stops at this rate, scans/s")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--p99-budget-ms", o->criteria.p99_budget_ms, "end-to-end p99 a sustained step stays within, ms")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--workers", o->workers, "inference worker processes")->capture_default_str();
  cmd->add_option("--partitions", o->partitions, "partitions for topics this creates")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--replication-factor", o->replication_factor,
                  "replicas for topics this creates (-1: the broker's default.replication.factor)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout", o->connect_timeout_s, "give up when the broker does not answer within this, s")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--prime-scans", o->prime_scans,
                  "scans sent through the pipeline before the first step (not measured)")
      ->capture_default_str();
  cmd->add_option("--tenants", o->tenants, "hatchery (tenant) ids of the scans")->delimiter(',')->capture_default_str();
  cmd->add_option("--work-dir", o->work_dir, "children's logs (default: a new /tmp/ovoflow-bench.XXXXXX)");
  cmd->add_option("--label", f->label, "the setup, for the report (default: e.g. \"local Kafka + SQLite\")");
  cmd->add_option("--out", f->out, "JSON report (default: bench-<UTC time>.json in the current directory)");
  cmd->add_option("--append", f->append, "markdown file to append one row per step to")->capture_default_str();
  cmd->add_flag("--no-append", f->no_append, "do not append to the markdown file");
  AddWorkerFlags(cmd, &o->worker);
  AddWriterFlags(cmd, &o->writer);
  cmd->callback([&g, o, f] {
    int rc = RunBenchCommand(g, *o, *f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace ovoflow::exe
