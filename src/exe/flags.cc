#include "exe/flags.h"

#ifndef OVOFLOW_SOURCE_DIR
#error "OVOFLOW_SOURCE_DIR must be defined by the build"
#endif

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "edge/embryo_locator.h"
#include "inference/model_registry.h"

namespace ovoflow::exe {

std::string DefaultModelRegistry() { return std::string(OVOFLOW_SOURCE_DIR) + "/models"; }

std::string DefaultModelDir() {
  auto latest = inference::ModelRegistry(DefaultModelRegistry()).Latest(inference::kDefaultModelName);
  // Without a valid one, name the committed model so the error says where it should be.
  return latest.ok() ? latest->dir : inference::CommittedModelDir(OVOFLOW_SOURCE_DIR);
}
std::string DefaultWebRoot() { return std::string(OVOFLOW_SOURCE_DIR) + "/web/dist"; }
std::string DefaultDatabaseUrl() { return "sqlite://" + std::string(OVOFLOW_SOURCE_DIR) + "/var/ovoflow.db"; }

store::ModelCheck KnownModelCheck(const std::string& registry_dir) {
  if (registry_dir.empty()) return {};
  std::error_code ec;
  if (!std::filesystem::is_directory(registry_dir, ec)) {
    spdlog::warn("store: no model registry at {}: predictions of any model are stored", registry_dir);
    return {};
  }
  auto known = std::make_shared<inference::KnownModels>(inference::ModelRegistry(registry_dir));
  return [known](const std::string& name, const std::string& version) -> Result<bool> {
    return known->Contains(name, version);
  };
}

void AddGlobalFlags(CLI::App& app, GlobalFlags* g) {
  app.add_option("--brokers", g->brokers, "Kafka bootstrap servers (host:port,...)")
      ->envname("OVOFLOW_BROKERS")
      ->capture_default_str();
  app.add_option("--log-level", g->log_level, "trace, debug, info, warn, error, off")->capture_default_str();
}

// The phantom's knobs (docs/phantom.md) for every command that makes phantom scans.
void AddPhantomFlags(CLI::App* cmd, phantom::PhantomOptions* o) {
  o->locate_abdomen = edge::AbdomenLocator();  // full-egg acquisition: the edge agent's locator
  cmd->add_option("--snr", o->snr, "phantom signal-to-noise ratio")->capture_default_str();
  cmd->add_option("--incubation-day", o->incubation_day, "phantom incubation day (9..14)")
      ->check(CLI::Range(9, 14))
      ->capture_default_str();
  cmd->add_option("--variation", o->variation,
                  "phantom anatomical variation: scales the spread between embryos (0..3, 1 = default)")
      ->check(CLI::Range(0.0, 3.0))
      ->capture_default_str();
  cmd->add_option("--motion-probability", o->motion_probability,
                  "chance that an embryo moves during its scan (motion blur)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  const std::map<std::string, phantom::Acquisition> acquisitions = {{"region", phantom::Acquisition::kRegion},
                                                                    {"full-egg", phantom::Acquisition::kFullEgg}};
  cmd->add_option("--acquisition", o->acquisition,
                  "region: render the ROI around the true abdomen (fast, default); full-egg: render the whole egg, "
                  "locate the embryo, crop (about 11-16 ms/scan)")
      ->transform(CLI::CheckedTransformer(acquisitions));
}

void AddScannerFlags(CLI::App* cmd, phantom::ScannerOptions* o) {
  cmd->add_option("--rate", o->rate_per_s, "scans/s over all scanners (0: as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--scans", o->count, "scans to publish (0: until stopped)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--tenants", o->tenants, "hatchery (tenant) ids")->delimiter(',')->capture_default_str();
  cmd->add_option("--scanners-per-tenant", o->scanners_per_tenant, "MRI scanners per hatchery")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "phantom stream seed")->capture_default_str();
  cmd->add_option("--first-index", o->first_index, "first phantom index of the stream")->capture_default_str();
  cmd->add_option("--run-id", o->run_id, "egg_id prefix (default: from the start time)");
  cmd->add_option("--labels", o->labels_path, "write the true sex per egg to this CSV (evaluation only)");
  cmd->add_flag("--compress", o->compress, "zstd-compress volumes");
  cmd->add_flag("--scan-topic-per-tenant", o->topic_per_tenant,
                "publish to ovoflow.scans.v1.<tenant> (secured clusters: scripts/kafka start --secure)");
  AddPhantomFlags(cmd, &o->phantom);
  cmd->add_flag("--quantitative-maps", o->phantom.quantitative_maps,
                "add T1 and T2 map channels (uint16 volumes; the default model reads one T2W channel)");
}

void AddWorkerFlags(CLI::App* cmd, inference::WorkerOptions* o) {
  cmd->add_option("--model", o->model_dir, "model directory (model.pt + model.json)")->capture_default_str();
  cmd->add_option("--batch", o->max_batch, "largest micro-batch (scans)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--batch-wait-ms", o->max_wait_ms, "longest wait for a batch to fill (ms)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--torch-threads", o->torch_threads, "LibTorch threads per worker")->capture_default_str();
  o->registry_dir = DefaultModelRegistry();
  cmd->add_option("--models-dir", o->registry_dir,
                  "model registry: <name>/<version>/ directories that activations name")
      ->capture_default_str();
  cmd->add_flag("!--no-model-activations", o->follow_activations,
                "ignore ovoflow.models.v1: serve --model only (no hot swap, no shadow)");
  // Given explicitly, the flags beat the model's recommended band (ThresholdPolicy).
  auto explicit_thresholds = [o](const std::string&) { o->thresholds_explicit = true; };
  cmd->add_option("--keep-threshold", o->thresholds.keep_min_p_female,
                  "KEEP when p_female >= this (default: the model's recommended band, else 0.9)")
      ->each(explicit_thresholds);
  cmd->add_option("--divert-threshold", o->thresholds.divert_max_p_female,
                  "DIVERT when p_female <= this (default: the model's recommended band, else 0.1)")
      ->each(explicit_thresholds);
  cmd->add_option("--thresholds-file", o->thresholds_file,
                  "per-tenant RECHECK bands, JSON {\"default\": {...}, \"tenants\": {\"id\": {\"keep_min_p_female\": "
                  "0.95, \"divert_max_p_female\": 0.05}}} (docs/models.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--thresholds-reload-ms", o->thresholds_reload_ms,
                  "re-read --thresholds-file this often, between batches (0: at start-up only)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-clock-skew-s", o->limits.max_future_skew_s,
                  "dead-letter scans whose captured_at is further ahead of this clock (s; negative: no check)")
      ->capture_default_str();
  cmd->add_option("--infer-group", o->group_id, "consumer group of the inference workers")->capture_default_str();
  cmd->add_option("--worker-id", o->worker_id,
                  "worker id recorded in predictions; names the transactional producer (default host-pid-n)");
  cmd->add_flag("!--at-least-once", o->exactly_once,
                "no Kafka transactions: commit offsets after the outputs are acknowledged (the store de-duplicates)");
  cmd->add_option("--transaction-timeout-ms", o->transaction_timeout_ms,
                  "a crashed worker's open transaction is aborted after this")
      ->check(CLI::Range(1000, 900000))
      ->capture_default_str();
}

void AddWriterFlags(CLI::App* cmd, store::WriterOptions* o) {
  cmd->add_option("--store-batch", o->max_batch, "predictions per database transaction")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--store-wait-ms", o->max_wait_ms, "longest wait for a store batch to fill (ms)")
      ->capture_default_str();
  cmd->add_option("--store-group", o->group_id, "consumer group of the store writers")->capture_default_str();
}

void AddTlsFlags(CLI::App* cmd, api::TlsOptions* o) {
  cmd->add_option("--tls-cert", o->cert_file, "PEM certificate chain for HTTPS (reloaded on SIGHUP)");
  cmd->add_option("--tls-key", o->key_file, "PEM private key of --tls-cert");
  cmd->add_flag("--insecure-http", o->insecure_http,
                "serve plain HTTP instead of HTTPS; refused unless the listen address is loopback");
}

void AddApiFlags(CLI::App* cmd, api::ApiOptions* o, OidcFlags* oidc) {
  cmd->add_option("--listen", o->listen_address, "API listen address")->capture_default_str();
  AddTlsFlags(cmd, &o->tls);
  cmd->add_option("--port", o->port, "API port (0: any free port)")->capture_default_str();
  cmd->add_option("--api-threads", o->threads, "API I/O threads")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--web-root", o->web_root, "dashboard files (built by `make web`)")->capture_default_str();
  cmd->add_option("--max-body-bytes-in-flight", o->max_body_bytes_in_flight,
                  "request body bytes held at once over all connections; more get 503 + Retry-After")
      ->capture_default_str();
  // (`up` has the worker's flag of that name already; it sets both.)
  if (cmd->get_option_no_throw("--max-clock-skew-s") == nullptr)
    cmd->add_option("--max-clock-skew-s", o->max_clock_skew_s,
                    "POST /v1/scans refuses a captured_at further ahead of this clock (s; negative: no check)")
        ->capture_default_str();
  cmd->add_option("--max-ws-clients", o->max_ws_clients, "live WebSocket clients at once; more get 503")
      ->capture_default_str();
  cmd->add_option("--oidc-issuer", oidc->issuers,
                  "trusted OpenID Connect issuer URL (repeatable): bearer tokens it signs are accepted "
                  "(discovery + JWKS; `scripts/keycloak issuer` prints the local one)");
  cmd->add_option("--oidc-audience", oidc->audience, "the audience tokens must name (aud)")->capture_default_str();
  cmd->add_option("--oidc-roles-claim", oidc->claims.roles,
                  "claim holding the caller's roles (a dotted path, e.g. realm_access.roles)")
      ->capture_default_str();
  cmd->add_option("--oidc-tenants-claim", oidc->claims.tenants, "claim holding the caller's tenants")
      ->capture_default_str();
  cmd->add_option("--oidc-scanner-claim", oidc->claims.scanner_id, "claim holding a scanner's id")
      ->capture_default_str();
  cmd->add_option("--oidc-dashboard-client", o->auth.dashboard_client_id,
                  "the dashboard's client id at the issuer (sign-in with PKCE)")
      ->capture_default_str();
  // (`up` has the scanner's flag of that name already; it sets both.)
  if (cmd->get_option_no_throw("--scan-topic-per-tenant") == nullptr)
    cmd->add_flag(
        "--scan-topic-per-tenant", oidc->scan_topic_per_tenant,
        "POST /v1/scans publishes to ovoflow.scans.v1.<tenant> (secured clusters) instead of the shared topic");
  cmd->add_option("--auth-failure-limit", o->auth.failure_limit,
                  "failed authentications per client address and minute before it gets 429")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--no-auth", o->auth.disabled,
                "no identity provider: every caller may do everything (local development; needs --insecure-http "
                "on a loopback address)");
}

void AddMetricsFlags(CLI::App* cmd, MetricsFlags* o, uint16_t default_port) {
  o->port = default_port;
  cmd->add_option("--metrics-port", o->port, "port for /metrics, /healthz, /readyz (0: off)")->capture_default_str();
  cmd->add_option("--metrics-listen", o->listen_address, "address for the metrics endpoint")->capture_default_str();
  AddTlsFlags(cmd, &o->tls);
}

}  // namespace ovoflow::exe
