#include "exe/bench_runner.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "common/clock.h"
#include "exe/bench_metrics.h"
#include "exe/bench_pipeline.h"
#include "exe/bench_procfs.h"
#include "exe/bench_stats.h"
#include "exe/signals.h"

namespace ovoflow::exe {
namespace {

// --find-max below an unsustained first rate tries at most this many lower rates.
constexpr int kMaxRampDownSteps = 8;

std::string Thousands(double v) {
  std::string digits = std::to_string(static_cast<int64_t>(std::llround(v)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "run_id=... published=N failed=N seconds=S rate=R", printed by `ovoflow scanner` at exit.
struct ScannerReportLine {
  bool found = false;
  int64_t published = 0;
  int64_t failed = 0;
  double seconds = 0;
};

// The number after " key=" in `line` (up to the next space), all of it a number.
template <typename T>
bool ParseField(const std::string& line, const std::string& key, T* out) {
  const std::string marker = " " + key + "=";
  std::size_t begin = line.find(marker);
  if (begin == std::string::npos) return false;
  begin += marker.size();
  const std::size_t end = std::min(line.find(' ', begin), line.size());
  const char* last = line.data() + end;
  auto [ptr, ec] = std::from_chars(line.data() + begin, last, *out);
  return ec == std::errc() && ptr == last;
}

ScannerReportLine ParseScannerReport(const std::string& log_path) {
  ScannerReportLine r;
  std::ifstream in(log_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("run_id=", 0) != 0) continue;
    long long published = 0, failed = 0;
    double seconds = 0;
    if (ParseField(line, "published", &published) && ParseField(line, "failed", &failed) &&
        ParseField(line, "seconds", &seconds))
      r = {true, published, failed, seconds};
  }
  return r;
}

void PrintStep(const StepResult& s) {
  const LatencyStats& l = s.latency;
  std::printf(
      "bench: step %d (%s) target %s/s: published %s at %s/s, stored %s (%s/s); "
      "end-to-end p50 %.1f p95 %.1f p99 %.1f max %.1f ms",
      s.index, s.kind.c_str(), Thousands(s.target_rate).c_str(), Thousands(static_cast<double>(s.published)).c_str(),
      Thousands(s.achieved_rate).c_str(), Thousands(static_cast<double>(s.stored)).c_str(),
      Thousands(s.stored_rate).c_str(), l.end_to_end.p50_ms, l.end_to_end.p95_ms, l.end_to_end.p99_ms,
      l.end_to_end.max_ms);
  if (l.worst_stage >= 0)
    std::printf("; worst stage %s p99 %.1f ms", kStageNames[l.worst_stage], l.stages[l.worst_stage].p99_ms);
  std::printf("\n  cpu cores:");
  for (const auto& c : s.cpu) std::printf(" %s %.2f", c.name.c_str(), c.cores);
  std::printf("; machine %.2f of which other processes %.2f (load average %.1f)", s.machine_busy_cores, s.other_cores,
              s.loadavg_1m_end);
  std::printf("\n  %s", s.sustained ? "sustained" : "NOT sustained:");
  for (const auto& why : s.not_sustained_because) std::printf(" %s;", why.c_str());
  std::printf("\n");
  (void)std::fflush(stdout);
}

// Runs the steps of one bench run on a started pipeline.
class StepRunner {
 public:
  StepRunner(const BenchOptions& o, BenchRun* run, BenchPipeline* pipeline) : o_(o), run_(run), pipeline_(pipeline) {
    char base[48];
    (void)std::snprintf(base, sizeof base, "bench%" PRIx64, SystemClock().NowUnixNanos() / 1'000'000);
    run_base_ = base;
  }
  // --prime-scans scans through the pipeline, not measured.
  Status Prime();
  // The fixed steps, then the --find-max search.
  Status RunSteps();

 private:
  // One step: `scans` scans at `rate`, waiting up to `drain_timeout_s`
  // after the scanner for all to be stored. With `measure`, also the rows'
  // latency, CPU and the verdict.
  Result<StepResult> Step(int index, const std::string& kind, double rate, int64_t scans, double drain_timeout_s,
                          bool measure);
  // Starts the scanner and waits until every scan it published is stored
  // or the drain timeout passes; fills the publishing and lag figures.
  Status Drive(double drain_timeout_s, StepResult* s, CpuUse* scanner_cpu);
  Status FindMax();
  Result<StepResult> Next(const std::string& kind, double rate);

  const BenchOptions& o_;
  BenchRun* run_;
  BenchPipeline* pipeline_;
  std::string run_base_;
  int index_ = 0;
};

Status StepRunner::Drive(double drain_timeout_s, StepResult* s, CpuUse* scanner_cpu) {
  const PipelineScrape before = pipeline_->Scrape();
  const double t0 = MonotonicSeconds();
  OVOFLOW_ASSIGN_OR_RETURN(
      auto started, pipeline_->StartScanner(s->index == 0 ? "scanner-prime" : "scanner-s" + std::to_string(s->index),
                                            s->run_id, s->target_rate, s->scans));
  MeteredChild scanner = std::move(started);
  *scanner_cpu = {"scanner", {scanner.process->pid()}, 0, 0, ""};
  const double expected_s = static_cast<double>(s->scans) / s->target_rate;
  double scanner_end = -1, next_print = t0 + 1;
  bool stopped_scanner = false;
  PipelineScrape cur = before;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    OVOFLOW_RETURN_IF_ERROR(pipeline_->CheckChildren());
    cur = pipeline_->Scrape();
    for (const auto& [group, v] : cur.lag) s->lag[group].max = std::max(s->lag[group].max, v);
    const double now = MonotonicSeconds();
    if (scanner_end < 0 && !scanner.process->Running()) {
      scanner_end = now;
      ScannerReportLine r = ParseScannerReport(scanner.process->log_path());
      if (!r.found)
        return Status::Internal("the scanner exited with status " + std::to_string(*scanner.process->exit_code()) +
                                " without a report; its log (" + scanner.process->log_path() + ") ends with:\n" +
                                scanner.process->LogTail(3000));
      s->published = r.published;
      s->publish_failed = r.failed;
      s->publish_seconds = r.seconds;
      scanner_cpu->cpu_seconds = scanner.process->cpu_seconds_at_exit();
    }
    const double stored = cur.stored_total - before.stored_total;
    if (scanner_end >= 0 && stored >= static_cast<double>(s->published)) {
      s->drained = true;
      break;
    }
    if (scanner_end >= 0 && now - scanner_end > drain_timeout_s) break;
    if (scanner_end < 0 && !stopped_scanner && now - t0 > expected_s + drain_timeout_s) {
      std::printf("bench: the scanner is still publishing %.0f s after its schedule; stopping it\n", drain_timeout_s);
      scanner.process->Signal(SIGTERM);
      stopped_scanner = true;
    }
    if (now < next_print) continue;
    next_print += 1;
    double produced = static_cast<double>(s->published);
    if (scanner_end < 0) {
      auto text = ScrapeMetrics(scanner.metrics_port, 500);
      produced = text.ok() ? SumSamples(*text, "ovoflow_scans_produced_total") : -1;
    }
    std::string lags;
    for (const auto& [group, v] : cur.lag) lags += " " + group + " " + Thousands(v);
    std::printf("  step %d @ %s/s %4.0f s  %s  published %s/%s  stored %s  lag%s\n", s->index,
                Thousands(s->target_rate).c_str(), now - t0, scanner_end < 0 ? "publishing" : "draining  ",
                produced < 0 ? "-" : Thousands(produced).c_str(), Thousands(static_cast<double>(s->scans)).c_str(),
                Thousands(stored).c_str(), lags.c_str());
    (void)std::fflush(stdout);
  }
  s->wall_seconds = MonotonicSeconds() - t0;
  for (const auto& [group, v] : cur.lag) s->lag[group].end = v;
  s->duplicates = static_cast<int64_t>(cur.duplicates_total - before.duplicates_total);
  return Status::Ok();
}

Result<StepResult> StepRunner::Step(int index, const std::string& kind, double rate, int64_t scans,
                                    double drain_timeout_s, bool measure) {
  StepResult s;
  s.index = index;
  s.kind = kind;
  s.run_id = run_base_ + (index == 0 ? std::string("-prime") : "-s" + std::to_string(index));
  s.target_rate = rate;
  s.scans = scans;
  const std::vector<CpuUse> cpu_before = pipeline_->CpuSnapshot();
  const double machine_before = MachineBusySeconds();
  const int64_t start_unix_ns = SystemClock().NowUnixNanos();
  CpuUse scanner_cpu;
  OVOFLOW_RETURN_IF_ERROR(Drive(drain_timeout_s, &s, &scanner_cpu));
  const int64_t end_unix_ns = SystemClock().NowUnixNanos();
  const std::vector<CpuUse> cpu_after = pipeline_->CpuSnapshot();
  const double machine_after = MachineBusySeconds();
  if (!measure) return s;

  s.cpu.push_back(scanner_cpu);
  for (const auto& a : cpu_after) {
    auto b = std::find_if(cpu_before.begin(), cpu_before.end(), [&](const CpuUse& c) { return c.name == a.name; });
    CpuUse use = a;
    use.cpu_seconds = a.cpu_seconds - (b == cpu_before.end() ? 0 : b->cpu_seconds);
    s.cpu.push_back(use);
  }
  double ours = 0;
  for (auto& c : s.cpu) {
    c.cores = s.wall_seconds > 0 ? c.cpu_seconds / s.wall_seconds : 0;
    ours += c.cores;
  }
  s.machine_busy_cores = s.wall_seconds > 0 ? (machine_after - machine_before) / s.wall_seconds : 0;
  s.other_cores = std::max(0.0, s.machine_busy_cores - ours);
  s.loadavg_1m_end = ReadMachineInfo().loadavg_1m;

  OVOFLOW_ASSIGN_OR_RETURN(auto rows,
                           pipeline_->ReadRows(s.run_id, start_unix_ns - 1'000'000'000, end_unix_ns + 1'000'000'000));
  s.stored = static_cast<int64_t>(rows.size());
  if (s.stored < s.published) s.drained = false;
  s.achieved_rate = s.publish_seconds > 0 ? static_cast<double>(s.published) / s.publish_seconds : 0;
  if (!rows.empty()) {
    int64_t first = rows.front().captured_ns, last = rows.front().stored_ns;
    for (const auto& r : rows) {
      first = std::min(first, r.captured_ns);
      last = std::max(last, r.stored_ns);
    }
    if (last > first) s.stored_rate = static_cast<double>(s.stored) / (static_cast<double>(last - first) / 1e9);
  }
  s.latency = ComputeLatency(rows, static_cast<int64_t>(o_.warmup_s * 1e9));
  JudgeStep(o_.criteria, &s);
  return s;
}

Status StepRunner::Prime() {
  std::printf("bench: children started (logs in %s); priming the pipeline with %d scans\n", run_->work_dir.c_str(),
              o_.prime_scans);
  (void)std::fflush(stdout);
  // Generous: the model loads and the consumer groups join meanwhile.
  OVOFLOW_ASSIGN_OR_RETURN(auto prime, Step(0, "prime", std::min(200.0, o_.rates.front()), o_.prime_scans,
                                            o_.connect_timeout_s + o_.drain_timeout_s + 60, false));
  if (!prime.drained)
    return Status::Internal("the pipeline did not store the " + std::to_string(o_.prime_scans) +
                            " priming scans; see the logs in " + run_->work_dir);
  return Status::Ok();
}

Result<StepResult> StepRunner::Next(const std::string& kind, double rate) {
  // A step that was not sustained may leave a backlog: start from idle.
  OVOFLOW_RETURN_IF_ERROR(pipeline_->WaitIdle(o_.drain_timeout_s));
  ++index_;
  const auto scans = static_cast<int64_t>(std::llround(rate * o_.duration_s));
  std::printf("bench: step %d (%s): %s scans at %s scans/s\n", index_, kind.c_str(),
              Thousands(static_cast<double>(scans)).c_str(), Thousands(rate).c_str());
  (void)std::fflush(stdout);
  OVOFLOW_ASSIGN_OR_RETURN(auto r, Step(index_, kind, rate, scans, o_.drain_timeout_s, true));
  PrintStep(r);
  run_->steps.push_back(r);
  return r;
}

Status StepRunner::RunSteps() {
  for (double rate : o_.rates) {
    OVOFLOW_ASSIGN_OR_RETURN(auto r, Next("fixed", rate));
  }
  return o_.find_max ? FindMax() : Status::Ok();
}

Status StepRunner::FindMax() {
  run_->find_max = true;
  for (const auto& s : run_->steps)
    if (s.sustained) run_->max_sustained_rate = std::max(run_->max_sustained_rate.value_or(0), s.target_rate);
  const StepResult last = run_->steps.back();
  double rate = last.target_rate;
  if (!last.sustained) {
    run_->first_unsustained_rate = last.target_rate;
    if (run_->max_sustained_rate) {
      run_->find_max_note = "the last fixed rate was not sustained; the highest sustained is a fixed step";
      return Status::Ok();
    }
    for (int i = 0; i < kMaxRampDownSteps && rate >= 2; ++i) {  // nothing sustained yet: step down
      rate = std::round(rate / o_.ramp_factor);
      OVOFLOW_ASSIGN_OR_RETURN(auto r, Next("ramp-down", rate));
      if (r.sustained) {
        run_->max_sustained_rate = rate;
        run_->find_max_note = "no fixed rate was sustained; ramped down /" + ShortNumber(o_.ramp_factor) + " per step";
        return Status::Ok();
      }
      run_->first_unsustained_rate = rate;
    }
    run_->find_max_note = "no rate was sustained, down to " + ShortNumber(rate) + " scans/s";
    return Status::Ok();
  }
  while (rate < o_.max_rate) {
    rate = std::min(std::round(rate * o_.ramp_factor), o_.max_rate);
    OVOFLOW_ASSIGN_OR_RETURN(auto r, Next("ramp", rate));
    if (!r.sustained) {
      run_->first_unsustained_rate = rate;
      run_->find_max_note = "ramped x" + ShortNumber(o_.ramp_factor) + " per step";
      return Status::Ok();
    }
    run_->max_sustained_rate = rate;
  }
  run_->find_max_note = "reached --max-rate " + ShortNumber(o_.max_rate) + " scans/s, still sustained";
  return Status::Ok();
}

Result<std::string> MakeWorkDir(const std::string& wanted) {
  if (wanted.empty()) {
    char tmpl[] = "/tmp/ovoflow-bench.XXXXXX";
    if (!mkdtemp(tmpl)) return Status::FailedPrecondition("cannot create a work directory under /tmp");
    return std::string(tmpl);
  }
  std::error_code ec;
  std::filesystem::create_directories(wanted, ec);
  if (ec) return Status::FailedPrecondition("cannot create --work-dir " + wanted + ": " + ec.message());
  return wanted;
}

}  // namespace

Status ValidateBenchOptions(const BenchOptions& o) {
  if (o.rates.empty()) return Status::InvalidArgument("--rates needs at least one rate (scans/s)");
  for (double r : o.rates)
    if (!(r > 0)) return Status::InvalidArgument("--rates must be > 0 scans/s each");
  if (!(o.duration_s > 0)) return Status::InvalidArgument("--duration must be > 0 s");
  if (o.warmup_s < 0 || o.warmup_s >= o.duration_s)
    return Status::InvalidArgument("--warmup must be >= 0 and shorter than --duration");
  if (!(o.ramp_factor > 1.0)) return Status::InvalidArgument("--ramp-factor must be > 1");
  if (o.workers < 1) return Status::InvalidArgument("--workers must be >= 1");
  if (o.prime_scans < 1) return Status::InvalidArgument("--prime-scans must be >= 1");
  if (o.tenants.empty()) return Status::InvalidArgument("--tenants needs at least one tenant");
  return Status::Ok();
}

Status RunBench(const BenchOptions& options, BenchRun* run) {
  OVOFLOW_ASSIGN_OR_RETURN(auto dir, MakeWorkDir(options.work_dir));
  run->work_dir = dir;
  OVOFLOW_ASSIGN_OR_RETURN(auto pipeline, BenchPipeline::Start(options, dir, InstallStopSignals()));
  run->db_url = (pipeline)->db_url();
  StepRunner runner(options, run, pipeline.get());
  OVOFLOW_RETURN_IF_ERROR(runner.Prime());
  return runner.RunSteps();
}

}  // namespace ovoflow::exe
