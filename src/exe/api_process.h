// The API process's parts, wired the same way by `ovoflow api` and
// `ovoflow up`: the Kafka scan sink behind POST /v1/scans, the model admin
// service behind /v1/models (and the scan geometry check), and the server.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/server.h"
#include "auth/jwt_verifier.h"
#include "auth/oidc_keys.h"
#include "bus/producer.h"
#include "exe/flags.h"
#include "exe/kafka_scan_sink.h"
#include "exe/signals.h"
#include "inference/model_admin.h"
#include "store/prediction_store.h"

namespace ovoflow::exe {

class ApiProcess {
 public:
  // Starts the parts on `brokers` over `store` (not owned; must outlive
  // this) and the model registry `registry_dir`; `ready` feeds /readyz.
  // Exits with a message saying what to fix when a part cannot start.
  // `oidc`: the trusted issuers (none: options.auth.disabled must be set).
  static std::unique_ptr<ApiProcess> Start(const std::string& brokers, const api::ApiOptions& options,
                                           const OidcFlags& oidc, store::PredictionStore* store,
                                           const std::string& registry_dir, std::function<bool()> ready = {});
  ~ApiProcess();  // Stop()

  api::ApiServer& server() { return *server_; }
  // Stops serving (requests in flight finish), then flushes the scans
  // accepted so far to Kafka. Idempotent.
  void Stop();

 private:
  ApiProcess() = default;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<KafkaScanSink> sink_;
  std::unique_ptr<inference::ModelAdminService> models_;
  std::unique_ptr<auth::OidcKeySource> keys_;
  std::unique_ptr<auth::JwtVerifier> verifier_;
  std::unique_ptr<api::ApiServer> server_;  // stopped before the parts it uses
  std::unique_ptr<ReloadOnSighup> reload_;  // last: gone before the server (SIGHUP reloads TLS)
  bool stopped_ = false;
};

}  // namespace ovoflow::exe
