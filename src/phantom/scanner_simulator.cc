#include "phantom/scanner_simulator.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include "bus/producer.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "common/trace.h"
#include "common/validation.h"
#include "common/volume.h"

namespace ovoflow::phantom {
namespace {

struct ScannerMetrics {
  prometheus::Counter& produced;
  prometheus::Counter& retried;
  prometheus::Gauge& behind_seconds;
  static ScannerMetrics& Get() {
    static ScannerMetrics* m = [] {
      auto& reg = MetricsRegistry();
      return new ScannerMetrics{
          prometheus::BuildCounter()
              .Name("ovoflow_scans_produced_total")
              .Help("Scans acknowledged by the broker")
              .Register(reg)
              .Add({}),
          prometheus::BuildCounter()
              .Name("ovoflow_scan_publish_retries_total")
              .Help("Scan deliveries that failed and were sent again")
              .Register(reg)
              .Add({}),
          prometheus::BuildGauge()
              .Name("ovoflow_scanner_behind_seconds")
              .Help("How far the simulator lags its pacing schedule")
              .Register(reg)
              .Add({}),
      };
    }();
    return *m;
  }
};

struct Pending {
  uint64_t index;
  int64_t captured_ns;
};

}  // namespace

struct ScannerSimulator::Impl {
  ScannerOptions options;
  PhantomGenerator generator{PhantomOptions{}};
  std::unique_ptr<bus::Producer> producer;
  std::FILE* labels = nullptr;  // owned; written by the delivery thread under labels_mu
  std::mutex labels_mu;
  bool labels_failed = false;  // GUARDED_BY(labels_mu); a write failed (reported once)
  std::mutex mu;
  std::deque<Pending> retry;  // GUARDED_BY(mu)
  std::atomic<int64_t> acked{0};

  explicit Impl(const ScannerOptions& o) : options(o), generator(o.phantom) {}
  ~Impl() {
    producer.reset();  // its last delivery reports may still write labels
    if (labels && std::fclose(labels) != 0)
      spdlog::error("scanner: closing labels file {} failed: {}", options.labels_path, ErrnoMessage(errno));
  }

  std::string EggId(uint64_t i) const {
    char buf[32];
    (void)std::snprintf(buf, sizeof buf, "%08" PRIu64, i);
    return options.run_id + "-" + buf;
  }

  // Builds scan number i (phantom index first_index + i) captured at
  // `captured_ns`, checked by the pipeline's rules (common/validation.h).
  Result<v1::EggScan> MakeScan(uint64_t i, int64_t captured_ns, TrueSex* sex) const {
    const std::size_t tenants = options.tenants.size();
    const std::size_t scanners = static_cast<std::size_t>(options.scanners_per_tenant);
    const std::string& tenant = options.tenants[i % tenants];
    const uint64_t scanner = (i / tenants) % scanners;
    const uint64_t seq = i / (tenants * scanners);  // this scanner's egg number
    PhantomScan ph = generator.Generate(options.seed, options.first_index + i);
    *sex = ph.sex;
    v1::EggScan scan;
    scan.set_egg_id(EggId(i));
    scan.set_tenant_id(tenant);
    scan.set_scanner_id(tenant + "-mri-" + std::to_string(scanner + 1));
    scan.set_tray_id(scan.scanner_id() + "-tray-" + std::to_string(seq / static_cast<uint64_t>(options.tray_size)));
    scan.set_tray_position(static_cast<uint32_t>(seq % static_cast<uint64_t>(options.tray_size)));
    *scan.mutable_captured_at() = ToTimestamp(captured_ns);
    scan.set_incubation_day(options.phantom.incubation_day);
    *scan.mutable_volume() = std::move(ph.volume);
    if (options.compress) OVOFLOW_RETURN_IF_ERROR(CompressVolume(scan.mutable_volume()));
    OVOFLOW_RETURN_IF_ERROR(ValidateScan(scan));
    return scan;
  }

  // Queues scan i; on a full local queue waits for room. False on stop; an
  // error when the scan cannot be built or the producer refuses it. Its
  // label is written once the broker acknowledged it (a kill never leaves a
  // published egg without its label).
  Result<bool> Publish(uint64_t i, int64_t captured_ns, const std::atomic<bool>& stop) {
    TrueSex sex;
    OVOFLOW_ASSIGN_OR_RETURN(v1::EggScan scan, MakeScan(i, captured_ns, &sex));
    std::string value = scan.SerializeAsString();
    bus::Headers headers = {{std::string(kTraceparentHeader), FormatTraceparent(NewTrace())}};
    std::string label = scan.egg_id() + "," + scan.tenant_id() + "," + scan.scanner_id() + "," +
                        (sex == TrueSex::kFemale ? "F" : "M") + "\n";
    auto on_delivery = [this, i, captured_ns, label = std::move(label)](const Status& st) {
      if (st.ok()) {
        ++acked;
        ScannerMetrics::Get().produced.Increment();
        WriteLabel(label);
        return;
      }
      spdlog::warn("scanner: delivery of scan {} failed ({}); will resend", i, st.ToString());
      ScannerMetrics::Get().retried.Increment();
      std::lock_guard<std::mutex> lock(mu);
      retry.push_back({i, captured_ns});
    };
    const std::string topic = options.topic_per_tenant ? ScanTopicFor(scan.tenant_id()) : std::string(kScansTopic);
    while (true) {
      Status st = producer->Send(topic, scan.egg_id(), value, headers, on_delivery);
      if (st.ok()) break;
      if (!st.retryable()) return Status(st.code(), "cannot publish scan " + scan.egg_id() + ": " + st.message());
      if (stop.load()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  // On the producer's delivery thread: one line per acknowledged scan,
  // written through (a line-buffered stream flushes at each newline).
  void WriteLabel(const std::string& line) {
    if (!labels) return;
    std::lock_guard<std::mutex> lock(labels_mu);
    if (std::fputs(line.c_str(), labels) == EOF && !labels_failed) {
      labels_failed = true;
      spdlog::error("scanner: writing labels file {} failed: {}", options.labels_path, ErrnoMessage(errno));
    }
  }

  Result<bool> ResendFailed(const std::atomic<bool>& stop) {
    std::deque<Pending> todo;
    {
      std::lock_guard<std::mutex> lock(mu);
      todo.swap(retry);
    }
    for (const Pending& p : todo) {
      OVOFLOW_ASSIGN_OR_RETURN(const bool sent, Publish(p.index, p.captured_ns, stop));
      if (!sent) return false;
    }
    return true;
  }
};

ScannerSimulator::~ScannerSimulator() = default;

Result<std::unique_ptr<ScannerSimulator>> ScannerSimulator::Create(const ScannerOptions& options) {
  if (options.tenants.empty()) return Status::InvalidArgument("scanner needs at least one tenant");
  for (const auto& t : options.tenants) OVOFLOW_RETURN_IF_ERROR(CheckTenantId("tenant id", t));
  if (options.scanners_per_tenant < 1) return Status::InvalidArgument("scanners_per_tenant must be >= 1");
  if (options.rate_per_s < 0) return Status::InvalidArgument("rate must be >= 0 scans/s");
  if (options.count < 0) return Status::InvalidArgument("count must be >= 0");
  if (options.tray_size < 1) return Status::InvalidArgument("tray_size must be >= 1");
  OVOFLOW_RETURN_IF_ERROR(ValidatePhantomOptions(options.phantom));
  auto impl = std::make_unique<Impl>(options);
  if (impl->options.run_id.empty()) {
    char buf[32];
    (void)std::snprintf(buf, sizeof buf, "r%" PRIx64, SystemClock().NowUnixNanos() / 1'000'000);
    impl->options.run_id = buf;
  }
  if (!options.labels_path.empty()) {
    impl->labels = std::fopen(options.labels_path.c_str(), "w");
    if (!impl->labels) return Status::InvalidArgument("cannot write labels file " + options.labels_path);
    if (std::setvbuf(impl->labels, nullptr, _IOLBF, 1 << 16) != 0 ||
        std::fprintf(impl->labels, "egg_id,tenant_id,scanner_id,sex\n") < 0)
      return Status::InvalidArgument("cannot write labels file " + options.labels_path);
  }
  bus::ProducerOptions po;
  po.brokers = options.brokers;
  po.client_id = "ovoflow-scanner";
  po.linger_ms = 5;
  OVOFLOW_ASSIGN_OR_RETURN(impl->producer, bus::Producer::Create(po));
  std::unique_ptr<ScannerSimulator> agent(new ScannerSimulator());
  agent->impl_ = std::move(impl);
  return agent;
}

const std::string& ScannerSimulator::run_id() const { return impl_->options.run_id; }

Result<ScannerReport> ScannerSimulator::Run(const std::atomic<bool>& stop) {
  Impl& d = *impl_;
  const ScannerOptions& o = d.options;
  const Clock& clock = SystemClock();
  const int64_t start = clock.MonotonicNanos();
  const double interval_ns = o.rate_per_s > 0 ? 1e9 / o.rate_per_s : 0;
  spdlog::info("scanner: run {} publishing {} scans at {} scans/s for {} tenants x {} scanners", o.run_id,
               o.count > 0 ? std::to_string(o.count) : std::string("unlimited"),
               o.rate_per_s > 0 ? std::to_string(o.rate_per_s) : std::string("max"), o.tenants.size(),
               o.scanners_per_tenant);
  spdlog::info("scanner: phantom {} acquisition, incubation day {}, SNR {}, motion probability {}{}",
               o.phantom.acquisition == Acquisition::kFullEgg ? "full-egg (locate + crop)" : "region",
               o.phantom.incubation_day, o.phantom.snr, o.phantom.motion_probability,
               o.phantom.quantitative_maps ? ", T1/T2 maps (uint16)" : "");
  uint64_t i = 0;
  Status failure;
  for (; !stop.load() && (o.count == 0 || static_cast<int64_t>(i) < o.count); ++i) {
    if (interval_ns > 0) {
      const int64_t due = start + static_cast<int64_t>(static_cast<double>(i) * interval_ns);
      const int64_t now = clock.MonotonicNanos();
      if (due > now)
        std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      else if ((i & 255) == 0)
        ScannerMetrics::Get().behind_seconds.Set(static_cast<double>(now - due) / 1e9);
    }
    Result<bool> sent = d.Publish(i, clock.NowUnixNanos(), stop);
    if (sent.ok() && (i & 63) == 0) sent = d.ResendFailed(stop);
    if (!sent.ok()) failure = sent.status();
    if (!sent.ok() || !*sent) break;
  }
  // Drain: wait for every acknowledgement, re-sending failures, until done or stopped.
  while (failure.ok() && d.acked.load() < static_cast<int64_t>(i)) {
    Result<bool> resent = d.ResendFailed(stop);
    if (!resent.ok()) failure = resent.status();
    Status st = d.producer->Flush(500);
    (void)st;  // progress is measured by acked
    if (stop.load() && d.producer->Outstanding() == 0) break;
  }
  if (!failure.ok()) {
    Status flushed = d.producer->Flush(10000);  // what was queued still gets its label
    (void)flushed;
    return Status(failure.code(), "scanner: " + failure.message());
  }
  ScannerReport report;
  report.published = d.acked.load();
  report.failed = static_cast<int64_t>(i) - report.published;
  report.seconds = static_cast<double>(clock.MonotonicNanos() - start) / 1e9;
  report.achieved_rate_per_s = report.seconds > 0 ? static_cast<double>(report.published) / report.seconds : 0;
  spdlog::info("scanner: {} scans acknowledged in {:.1f} s ({:.0f} scans/s), {} not delivered", report.published,
               report.seconds, report.achieved_rate_per_s, report.failed);
  return report;
}

}  // namespace ovoflow::phantom
