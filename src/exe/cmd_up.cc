// `ovoflow up`: the whole pipeline in one process on a shared broker and an
// embedded database: scanner simulator -> Kafka -> inference workers ->
// Kafka -> store writer -> REST/WebSocket API and dashboard.
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bus/consumer.h"
#include "common/log.h"
#include "common/topics.h"
#include "exe/api_process.h"
#include "exe/commands.h"
#include "exe/signals.h"
#include "store/prediction_store.h"

namespace ovoflow::exe {
namespace {

std::string FormatRate(double rate) {
  if (rate <= 0) return "as fast as possible";
  char buf[64];
  (void)std::snprintf(buf, sizeof buf, "%g scans/s", rate);
  return buf;
}

struct UpOptions {
  std::string db = DefaultDatabaseUrl();
  phantom::ScannerOptions scanner;
  inference::WorkerOptions worker;
  store::WriterOptions writer;
  api::ApiOptions api;
  OidcFlags oidc;
  bool no_scanner = false;
  bool exit_when_done = false;  // with --scans N: stop once the store writer has seen all N of this run's eggs
  int workers = 1;
  int drain_timeout_ms = 10000;
  int partitions = 4;
  int replication_factor = -1;  // -1: the broker's default.replication.factor
};

// The eggs of this run's scanner that are done: stored (now, or already
// there from an earlier run with the same --run-id) or dead-lettered by a
// worker or the writer, so that --exit-when-done and the drain on stop count
// this run's scans, not rows.
class RunProgress {
 public:
  explicit RunProgress(std::string run_prefix) : prefix_(std::move(run_prefix)) {}
  void Saw(const std::vector<v1::Prediction>& preds) {
    std::lock_guard lock(mu_);
    for (const auto& p : preds)
      if (p.egg_id().starts_with(prefix_)) eggs_.insert(p.egg_id());
  }
  void DeadLettered(const std::string& egg_id) {
    std::lock_guard lock(mu_);
    if (egg_id.starts_with(prefix_)) eggs_.insert(egg_id);
  }
  int64_t eggs() const {
    std::lock_guard lock(mu_);
    return static_cast<int64_t>(eggs_.size());
  }

 private:
  const std::string prefix_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> eggs_;  // GUARDED_BY(mu_)
};

int RunUp(const GlobalFlags& g, UpOptions& o) {
  InitLogging(g.log_level);
  auto& signal_stop = InstallStopSignals();
  o.scanner.brokers = o.worker.brokers = o.writer.brokers = g.brokers;
  if (o.workers < 1) Fatal("--workers must be >= 1");

  Status topics = bus::EnsureTopics(g.brokers, {kScansTopic, kPredictionsTopic, kDeadLetterTopic}, o.partitions,
                                    o.replication_factor);
  if (topics.ok()) topics = bus::EnsureCompactedTopic(g.brokers, kModelsTopic, o.replication_factor);
  if (!topics.ok())
    Fatal(topics.ToString() + "\n  start the local broker with `scripts/kafka start`, or pass --brokers");

  auto store = store::OpenStore(o.db);
  if (!store.ok()) Fatal(store.status().ToString());

  std::atomic<bool> ready{false};
  auto api = ApiProcess::Start(g.brokers, o.api, o.oidc, store->get(), o.worker.registry_dir,
                               [&ready] { return ready.load(); });
  api::ApiServer* srv = &api->server();

  std::unique_ptr<phantom::ScannerSimulator> scanner;
  if (!o.no_scanner) {
    auto s = phantom::ScannerSimulator::Create(o.scanner);
    if (!s.ok()) Fatal(s.status().ToString());
    scanner = std::move(s).value();
  }
  RunProgress progress(scanner ? scanner->run_id() + "-" : std::string("\x01none"));
  o.worker.on_dead_letter =
      o.writer.on_dead_letter = [&progress](const std::string& key) { progress.DeadLettered(key); };
  auto writer = store::StoreWriter::Create(
      o.writer, store->get(),
      [srv, &progress](const std::vector<v1::Prediction>& preds) {
        for (const auto& p : preds) srv->PublishLive(p);
        progress.Saw(preds);
      },
      KnownModelCheck(o.worker.registry_dir));
  if (!writer.ok()) Fatal(writer.status().ToString());
  std::vector<std::unique_ptr<inference::InferenceWorker>> workers;
  for (int i = 0; i < o.workers; ++i) {
    inference::WorkerOptions wo = o.worker;
    if (!wo.worker_id.empty() && o.workers > 1) wo.worker_id += "-" + std::to_string(i);
    auto w = inference::InferenceWorker::Create(wo);
    if (!w.ok()) Fatal(w.status().ToString());
    workers.push_back(std::move(w).value());
  }
  auto stored_before = (*store)->Count(store::TenantScope::All());
  if (!stored_before.ok()) Fatal(stored_before.status().ToString());

  // The first stage that stops on an error stops the whole process, and the
  // error is what `up` reports at the end.
  std::atomic<bool> stop_scanner{false}, stop_pipeline{false}, failed{false};
  std::mutex failure_mu;
  std::string failure;  // GUARDED_BY(failure_mu): the first stage error
  auto fail = [&](const std::string& what, const Status& st) {
    spdlog::error("{}: {}", what, st.ToString());
    std::lock_guard lock(failure_mu);
    if (failure.empty()) failure = what + ": " + st.ToString();
    failed = true;
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    Status st = (*writer)->Run(stop_pipeline);
    if (!st.ok()) fail("store writer", st);
  });
  for (auto& w : workers) {
    threads.emplace_back([&, wp = w.get()] {
      Status st = wp->Run(stop_pipeline);
      if (!st.ok()) fail("inference worker", st);
    });
  }
  std::atomic<bool> scanner_done{false};
  std::atomic<int64_t> published{0};
  std::thread scanner_thread;
  if (scanner) {
    scanner_thread = std::thread([&] {
      auto r = scanner->Run(stop_scanner);
      if (r.ok())
        published = r->published;
      else
        fail("scanner", r.status());
      scanner_done = true;
    });
  }
  ready = true;
  std::printf(
      "ovoflow up: pipeline running\n  dashboard  %s://%s:%u\n  broker     %s\n  database   %s\n"
      "  scanner    %s\nPress Ctrl-C to stop.\n",
      srv->tls() ? "https" : "http", o.api.listen_address.c_str(), srv->port(), g.brokers.c_str(), o.db.c_str(),
      scanner ? ("run " + scanner->run_id() + ", " + FormatRate(o.scanner.rate_per_s)).c_str() : "off (--no-scanner)");
  (void)std::fflush(stdout);

  while (!signal_stop.load() && !failed.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (o.exit_when_done && scanner_done.load() && progress.eggs() >= published.load()) break;
  }
  spdlog::info("up: shutting down");
  ready = false;
  stop_scanner = true;
  if (scanner_thread.joinable()) scanner_thread.join();
  // Drain: let the workers and the writer store what the scanner published
  // before they stop (what is left stays uncommitted in Kafka for next time).
  if (scanner && !failed.load()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.drain_timeout_ms);
    while (std::chrono::steady_clock::now() < deadline && !failed.load() && progress.eggs() < published.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop_pipeline = true;
  for (auto& t : threads) t.join();
  api->Stop();
  auto stored_after = (*store)->Count(store::TenantScope::All());
  const long long added = stored_after.ok() ? static_cast<long long>(*stored_after - *stored_before) : -1;
  if (failed.load()) {
    std::lock_guard lock(failure_mu);
    std::printf("ovoflow up: stopped after an error (%s); %lld scans published, %lld predictions stored this run\n",
                failure.c_str(), static_cast<long long>(published.load()), added);
    return kExitFailure;
  }
  std::printf("ovoflow up: stopped cleanly; %lld scans published, %lld predictions stored this run\n",
              static_cast<long long>(published.load()), added);
  return 0;
}

}  // namespace

void AddUpCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<UpOptions>();
  o->worker.model_dir = DefaultModelDir();
  o->api.web_root = DefaultWebRoot();
  o->scanner.rate_per_s = 200;
  CLI::App* cmd = app.add_subcommand("up", "Run the whole pipeline in one process (needs a running Kafka)");
  cmd->add_option("--db", o->db, "database URL")->capture_default_str();
  cmd->add_flag("--no-scanner", o->no_scanner, "do not run the simulator (scans come from elsewhere)");
  cmd->add_flag("--exit-when-done", o->exit_when_done, "with --scans N: exit once all N are stored");
  cmd->add_option("--drain-timeout-ms", o->drain_timeout_ms,
                  "on stop, wait up to this long for published scans to be stored")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--workers", o->workers, "inference workers in this process")->capture_default_str();
  cmd->add_option("--partitions", o->partitions, "partitions for topics this creates")->capture_default_str();
  cmd->add_option("--replication-factor", o->replication_factor,
                  "replicas for topics this creates (-1: the broker's default.replication.factor)")
      ->capture_default_str();
  AddScannerFlags(cmd, &o->scanner);
  AddWorkerFlags(cmd, &o->worker);
  AddWriterFlags(cmd, &o->writer);
  AddApiFlags(cmd, &o->api, &o->oidc);
  cmd->callback([&g, o] {
    o->oidc.scan_topic_per_tenant = o->scanner.topic_per_tenant;
    o->api.max_clock_skew_s = o->worker.limits.max_future_skew_s;
    int rc = RunUp(g, *o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace ovoflow::exe
