#include "exe/metrics_endpoint.h"

#include <spdlog/spdlog.h>

namespace ovoflow::exe {

std::unique_ptr<MetricsEndpoint> StartMetricsEndpoint(const MetricsFlags& flags) {
  if (flags.port == 0) return nullptr;
  api::ApiOptions o;
  o.listen_address = flags.listen_address;
  o.port = flags.port;
  o.threads = 1;
  o.tls = flags.tls;
  // A stage's metrics name no tenant (only the API's carry tenant labels,
  // and its /metrics needs the monitoring role): scrapers need no token.
  o.auth.metrics_public = true;
  auto server = api::ApiServer::Start(o, api::ApiDeps{});
  if (!server.ok()) Fatal("metrics endpoint: " + server.status().ToString());
  auto endpoint = std::make_unique<MetricsEndpoint>();
  endpoint->server = std::move(server).value();
  api::ApiServer* srv = endpoint->server.get();
  endpoint->reload = std::make_unique<ReloadOnSighup>([srv] { (void)srv->ReloadTls(); });
  spdlog::info("metrics on {}://{}:{}/metrics", srv->tls() ? "https" : "http", flags.listen_address, srv->port());
  return endpoint;
}

}  // namespace ovoflow::exe
