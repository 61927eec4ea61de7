// `ovoflow up`: the whole pipeline in one process on a shared broker and an
// embedded database: scanner simulator -> Kafka -> inference workers ->
// Kafka -> store writer -> REST/WebSocket API and dashboard.
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "bus/consumer.h"
#include "bus/producer.h"
#include "common/log.h"
#include "common/topics.h"
#include "exe/commands.h"
#include "exe/kafka_scan_sink.h"
#include "exe/signals.h"
#include "inference/model_admin.h"
#include "store/prediction_store.h"

namespace ovoflow::exe {
namespace {

std::string FormatRate(double rate) {
  if (rate <= 0) return "as fast as possible";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g scans/s", rate);
  return buf;
}

struct UpOptions {
  std::string db = DefaultDatabaseUrl();
  edge::ScannerOptions scanner;
  inference::WorkerOptions worker;
  store::WriterOptions writer;
  api::ApiOptions api;
  bool no_scanner = false;
  bool exit_when_done = false;  // with --scans N: stop once N more predictions are stored
  int workers = 1;
  int drain_timeout_ms = 10000;
  int partitions = 4;
  int replication_factor = -1;  // -1: the broker's default.replication.factor
};

int RunUp(const GlobalFlags& g, UpOptions& o) {
  InitLogging(g.log_level);
  auto& signal_stop = InstallStopSignals();
  o.scanner.brokers = o.worker.brokers = o.writer.brokers = g.brokers;
  if (o.workers < 1) Fatal("--workers must be >= 1");

  Status topics = bus::EnsureTopics(g.brokers, {kScansTopic, kPredictionsTopic, kDeadLetterTopic}, o.partitions,
                                    o.replication_factor);
  if (topics.ok()) topics = bus::EnsureCompactedTopic(g.brokers, kModelsTopic, o.replication_factor);
  if (!topics.ok()) Fatal(topics.ToString() + "\n  start the local broker with `scripts/kafka start`, or pass --brokers");

  auto store = store::OpenStore(o.db);
  if (!store.ok()) Fatal(store.status().ToString());

  bus::ProducerOptions po;
  po.brokers = g.brokers;
  po.client_id = "ovoflow-api";
  auto api_producer = bus::Producer::Create(po);
  if (!api_producer.ok()) Fatal(api_producer.status().ToString());
  KafkaScanSink sink(api_producer->get());
  inference::ModelAdminOptions mo;
  mo.brokers = g.brokers;
  mo.registry_dir = o.worker.registry_dir;
  auto models = inference::ModelAdminService::Create(mo);
  if (!models.ok()) Fatal(models.status().ToString());

  std::atomic<bool> ready{false};
  api::ApiDeps deps;
  deps.store = store->get();
  deps.scans = &sink;
  deps.models = models->get();
  deps.ready = [&ready] { return ready.load(); };
  auto server = api::ApiServer::Start(o.api, deps);
  if (!server.ok()) Fatal(server.status().ToString() + " (choose another --port)");
  api::ApiServer* srv = server->get();

  auto writer = store::StoreWriter::Create(o.writer, store->get(), [srv](const std::vector<v1::Prediction>& preds) {
    for (const auto& p : preds) srv->PublishLive(p);
  });
  if (!writer.ok()) Fatal(writer.status().ToString());
  std::vector<std::unique_ptr<inference::InferenceWorker>> workers;
  for (int i = 0; i < o.workers; ++i) {
    inference::WorkerOptions wo = o.worker;
    if (!wo.worker_id.empty() && o.workers > 1) wo.worker_id += "-" + std::to_string(i);
    auto w = inference::InferenceWorker::Create(wo);
    if (!w.ok()) Fatal(w.status().ToString());
    workers.push_back(std::move(w).value());
  }
  std::unique_ptr<edge::ScannerAgent> scanner;
  if (!o.no_scanner) {
    auto s = edge::ScannerAgent::Create(o.scanner);
    if (!s.ok()) Fatal(s.status().ToString());
    scanner = std::move(s).value();
  }
  auto stored_before = (*store)->Count("");
  if (!stored_before.ok()) Fatal(stored_before.status().ToString());

  std::atomic<bool> stop_scanner{false}, stop_pipeline{false}, failed{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    Status st = (*writer)->Run(stop_pipeline);
    if (!st.ok()) { spdlog::error("store writer: {}", st.ToString()); failed = true; }
  });
  for (auto& w : workers) {
    threads.emplace_back([&, wp = w.get()] {
      Status st = wp->Run(stop_pipeline);
      if (!st.ok()) { spdlog::error("inference worker: {}", st.ToString()); failed = true; }
    });
  }
  std::atomic<bool> scanner_done{false};
  int64_t published = 0;
  std::thread scanner_thread;
  if (scanner) {
    scanner_thread = std::thread([&] {
      auto r = scanner->Run(stop_scanner);
      if (r.ok()) published = r->published;
      else { spdlog::error("scanner: {}", r.status().ToString()); failed = true; }
      scanner_done = true;
    });
  }
  ready = true;
  std::printf("ovoflow up: pipeline running\n  dashboard  http://%s:%u\n  broker     %s\n  database   %s\n"
              "  scanner    %s\nPress Ctrl-C to stop.\n",
              o.api.listen_address.c_str(), srv->port(), g.brokers.c_str(), o.db.c_str(),
              scanner ? ("run " + scanner->run_id() + ", " + FormatRate(o.scanner.rate_per_s)).c_str()
                      : "off (--no-scanner)");
  std::fflush(stdout);

  while (!signal_stop.load() && !failed.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (o.exit_when_done && scanner_done.load()) {
      auto n = (*store)->Count("");
      if (n.ok() && *n - *stored_before >= published) break;
    }
  }
  spdlog::info("up: shutting down");
  ready = false;
  stop_scanner = true;
  if (scanner_thread.joinable()) scanner_thread.join();
  // Drain: let the workers and the writer store what the scanner published
  // before they stop (what is left stays uncommitted in Kafka for next time).
  if (scanner && !failed.load()) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.drain_timeout_ms);
    while (std::chrono::steady_clock::now() < deadline && !failed.load()) {
      auto n = (*store)->Count("");
      if (n.ok() && *n - *stored_before >= published) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  stop_pipeline = true;
  for (auto& t : threads) t.join();
  srv->Stop();
  Status flushed = (*api_producer)->Flush(10000);
  if (!flushed.ok()) spdlog::warn("api producer: {}", flushed.ToString());
  auto stored_after = (*store)->Count("");
  std::printf("ovoflow up: stopped cleanly; %lld scans published, %lld predictions stored this run\n",
              static_cast<long long>(published),
              static_cast<long long>(stored_after.ok() ? *stored_after - *stored_before : -1));
  return failed.load() ? kExitFailure : 0;
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
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--workers", o->workers, "inference workers in this process")->capture_default_str();
  cmd->add_option("--partitions", o->partitions, "partitions for topics this creates")->capture_default_str();
  cmd->add_option("--replication-factor", o->replication_factor,
                  "replicas for topics this creates (-1: the broker's default.replication.factor)")
      ->capture_default_str();
  AddScannerFlags(cmd, &o->scanner);
  AddWorkerFlags(cmd, &o->worker);
  AddWriterFlags(cmd, &o->writer);
  AddApiFlags(cmd, &o->api);
  cmd->callback([&g, o] {
    int rc = RunUp(g, *o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace ovoflow::exe
