// `ovoflow scanner|infer|store|api`: one pipeline stage per process, all
// against a shared broker (scale out by starting more of them).
#include <spdlog/spdlog.h>

#include <memory>
#include <thread>

#include "api/server.h"
#include "bus/consumer.h"
#include "bus/producer.h"
#include "common/log.h"
#include "common/topics.h"
#include "exe/api_process.h"
#include "exe/commands.h"
#include "exe/live_relay.h"
#include "exe/metrics_endpoint.h"
#include "exe/signals.h"
#include "inference/model_registry.h"
#include "store/prediction_store.h"

namespace ovoflow::exe {

void AddScannerCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<phantom::ScannerOptions>();
  auto m = std::make_shared<MetricsFlags>();
  CLI::App* cmd = app.add_subcommand("scanner", "Simulate MRI scanners publishing EggScans to Kafka");
  AddScannerFlags(cmd, o.get());
  AddMetricsFlags(cmd, m.get(), 0);
  cmd->callback([&g, o, m] {
    InitLogging(g.log_level);
    auto& stop = InstallStopSignals();
    o->brokers = g.brokers;
    auto metrics = StartMetricsEndpoint(*m);
    auto agent = phantom::ScannerSimulator::Create(*o);
    if (!agent.ok()) Fatal(agent.status().ToString());
    auto report = (*agent)->Run(stop);
    if (!report.ok()) {
      spdlog::error("scanner: {}", report.status().ToString());
      throw CLI::RuntimeError(kExitFailure);
    }
    std::printf("run_id=%s published=%lld failed=%lld seconds=%.2f rate=%.1f\n", (*agent)->run_id().c_str(),
                static_cast<long long>(report->published), static_cast<long long>(report->failed), report->seconds,
                report->achieved_rate_per_s);
    if (report->failed > 0) throw CLI::RuntimeError(kExitFailure);
  });
}

void AddInferCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<inference::WorkerOptions>();
  o->model_dir = DefaultModelDir();
  auto m = std::make_shared<MetricsFlags>();
  CLI::App* cmd = app.add_subcommand("infer", "Run an inference worker (consumer group on the scans topic)");
  AddWorkerFlags(cmd, o.get());
  AddMetricsFlags(cmd, m.get(), 0);
  cmd->callback([&g, o, m] {
    InitLogging(g.log_level);
    auto& stop = InstallStopSignals();
    o->brokers = g.brokers;
    auto metrics = StartMetricsEndpoint(*m);
    auto worker = inference::InferenceWorker::Create(*o);
    if (!worker.ok()) Fatal(worker.status().ToString());
    Status st = (*worker)->Run(stop);
    if (!st.ok()) {
      spdlog::error("infer: {}", st.ToString());
      throw CLI::RuntimeError(kExitFailure);
    }
  });
}

void AddStoreCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<store::WriterOptions>();
  auto db = std::make_shared<std::string>(DefaultDatabaseUrl());
  auto m = std::make_shared<MetricsFlags>();
  auto models_dir = std::make_shared<std::string>(DefaultModelRegistry());
  CLI::App* cmd = app.add_subcommand("store", "Run the store writer (predictions topic -> database)");
  cmd->add_option("--db", *db, "database URL: sqlite://path (embedded) or postgresql://user@host:port/db")
      ->capture_default_str();
  cmd->add_option("--models-dir", *models_dir,
                  "model registry: predictions of models it does not hold are dead-lettered (empty: no check)")
      ->capture_default_str();
  AddWriterFlags(cmd, o.get());
  AddMetricsFlags(cmd, m.get(), 0);
  cmd->callback([&g, o, db, m, models_dir] {
    InitLogging(g.log_level);
    auto& stop = InstallStopSignals();
    o->brokers = g.brokers;
    auto metrics = StartMetricsEndpoint(*m);
    auto store = store::OpenStore(*db);
    if (!store.ok()) Fatal(store.status().ToString());
    auto known = KnownModelCheck(*models_dir);
    auto writer = store::StoreWriter::Create(*o, store->get(), {}, known);
    if (!writer.ok()) Fatal(writer.status().ToString());
    Status st = (*writer)->Run(stop);
    if (!st.ok()) {
      spdlog::error("store: {}", st.ToString());
      throw CLI::RuntimeError(kExitFailure);
    }
  });
}

void AddMigrateCommand(CLI::App& app, const GlobalFlags& g) {
  auto db = std::make_shared<std::string>(DefaultDatabaseUrl());
  CLI::App* cmd = app.add_subcommand(
      "migrate",
      "Bring the database's schema up to date, as its owner (PostgreSQL: then run the stages as a member "
      "of ovoflow_app, which row-level security applies to; docs/security.md)");
  cmd->add_option("--db", *db, "database URL of the schema's owner")->capture_default_str();
  cmd->callback([&g, db] {
    InitLogging(g.log_level);
    auto store = store::OpenStore(*db);
    if (!store.ok()) Fatal(store.status().ToString());
    std::printf("ovoflow migrate: schema version %d\n", (*store)->SchemaVersion());
  });
}

void AddTopicsCommand(CLI::App& app, const GlobalFlags& g) {
  struct TopicsOptions {
    int partitions = 4;
    int replication_factor = -1;
  };
  auto o = std::make_shared<TopicsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "topics",
      "Create the pipeline's topics if they are missing (scans, predictions, dead letters, model activations)");
  cmd->add_option("--partitions", o->partitions, "partitions per topic (more partitions: more workers in parallel)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--replication-factor", o->replication_factor,
                  "replicas per partition (-1: the broker's default.replication.factor)")
      ->capture_default_str();
  cmd->callback([&g, o] {
    InitLogging(g.log_level);
    Status st = bus::EnsureTopics(g.brokers, {kScansTopic, kPredictionsTopic, kDeadLetterTopic}, o->partitions,
                                  o->replication_factor);
    if (st.ok()) st = bus::EnsureCompactedTopic(g.brokers, kModelsTopic, o->replication_factor);
    if (!st.ok()) Fatal(st.ToString());
    std::printf("topics %s, %s, %s, %s (compacted) ready on %s\n", kScansTopic, kPredictionsTopic, kDeadLetterTopic,
                kModelsTopic, g.brokers.c_str());
  });
}

void AddApiCommand(CLI::App& app, const GlobalFlags& g) {
  auto o = std::make_shared<api::ApiOptions>();
  o->web_root = DefaultWebRoot();
  auto db = std::make_shared<std::string>(DefaultDatabaseUrl());
  CLI::App* cmd = app.add_subcommand("api", "Serve the REST + WebSocket API and the dashboard");
  cmd->add_option("--db", *db, "database URL to read from")->capture_default_str();
  auto models_dir = std::make_shared<std::string>(DefaultModelRegistry());
  cmd->add_option("--models-dir", *models_dir, "model registry listed by GET /v1/models")->capture_default_str();
  auto oidc = std::make_shared<OidcFlags>();
  AddApiFlags(cmd, o.get(), oidc.get());
  cmd->callback([&g, o, oidc, db, models_dir] {
    InitLogging(g.log_level);
    auto& stop = InstallStopSignals();
    auto store = store::OpenStore(*db);
    if (!store.ok()) Fatal(store.status().ToString());
    auto api = ApiProcess::Start(g.brokers, *o, *oidc, store->get(), *models_dir);
    std::printf("ovoflow api: %s://%s:%u\n", api->server().tls() ? "https" : "http", o->listen_address.c_str(),
                api->server().port());
    (void)std::fflush(stdout);
    // The live feed follows the predictions topic from "now" in a group of its own.
    Status st = RunLiveRelay(g.brokers, api->server(), stop);
    api->Stop();
    if (!st.ok()) {
      spdlog::error("api: {}", st.ToString());
      throw CLI::RuntimeError(kExitFailure);
    }
  });
}

}  // namespace ovoflow::exe
