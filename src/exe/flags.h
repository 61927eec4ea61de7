// Command-line flags shared by the subcommands that run the same component
// (e.g. `scanner` and `up` both run a ScannerSimulator).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "api/server.h"
#include "auth/jwt_verifier.h"
#include "common/topics.h"
#include "inference/worker.h"
#include "phantom/scanner_simulator.h"
#include "store/writer.h"

namespace ovoflow::exe {

struct GlobalFlags {
  std::string brokers = kDefaultBrokers;
  std::string log_level = "info";
};

// Defaults compiled in so the binary finds its assets from any directory.
std::string DefaultModelRegistry();  // <source>/models: <name>/<version>/ (inference/model_registry.h)
// The newest gonad-cnn in the registry (what workers serve until an activation).
std::string DefaultModelDir();
std::string DefaultWebRoot();
std::string DefaultDatabaseUrl();

// The store writer's model check over the registry at `registry_dir`
// (inference::KnownModels): empty (no check) when `registry_dir` is empty or
// is not a directory, which is logged.
store::ModelCheck KnownModelCheck(const std::string& registry_dir);

void AddGlobalFlags(CLI::App& app, GlobalFlags* g);
void AddPhantomFlags(CLI::App* cmd, phantom::PhantomOptions* o);
void AddScannerFlags(CLI::App* cmd, phantom::ScannerOptions* o);
void AddWorkerFlags(CLI::App* cmd, inference::WorkerOptions* o);
void AddWriterFlags(CLI::App* cmd, store::WriterOptions* o);
// Who may call the API: the trusted OpenID Connect issuers, the audience
// and the claims that carry roles, tenants and a scanner id
// (docs/security.md, "Plugging in an identity provider").
struct OidcFlags {
  std::vector<std::string> issuers;
  std::string audience = "ovoflow-api";
  auth::ClaimNames claims;
  bool scan_topic_per_tenant = false;  // where POST /v1/scans publishes (see --scan-topic-per-tenant)
};
void AddApiFlags(CLI::App* cmd, api::ApiOptions* o, OidcFlags* oidc);

// --tls-cert, --tls-key and --insecure-http (docs/security.md).
void AddTlsFlags(CLI::App* cmd, api::TlsOptions* o);

// Serves /metrics, /healthz and /readyz for processes without the REST API.
// Port 0 disables it.
struct MetricsFlags {
  uint16_t port = 0;
  std::string listen_address = "127.0.0.1";
  api::TlsOptions tls;
};
void AddMetricsFlags(CLI::App* cmd, MetricsFlags* o, uint16_t default_port);

}  // namespace ovoflow::exe
