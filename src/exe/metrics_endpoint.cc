#include "exe/metrics_endpoint.h"

#include <spdlog/spdlog.h>

namespace ovoflow::exe {

std::unique_ptr<api::ApiServer> StartMetricsEndpoint(const MetricsFlags& flags) {
  if (flags.port == 0) return nullptr;
  api::ApiOptions o;
  o.listen_address = flags.listen_address;
  o.port = flags.port;
  o.threads = 1;
  auto server = api::ApiServer::Start(o, api::ApiDeps{});
  if (!server.ok()) Fatal("metrics endpoint: " + server.status().ToString() + " (choose another --metrics-port)");
  spdlog::info("metrics on http://{}:{}/metrics", flags.listen_address, (*server)->port());
  return std::move(server).value();
}

}  // namespace ovoflow::exe
