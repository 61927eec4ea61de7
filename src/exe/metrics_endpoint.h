// /metrics, /healthz and /readyz for the processes that run no REST API.
#pragma once

#include <memory>

#include "api/server.h"
#include "exe/flags.h"
#include "exe/signals.h"

namespace ovoflow::exe {

// The endpoint's server, and the SIGHUP handler that reloads its TLS files.
struct MetricsEndpoint {
  std::unique_ptr<api::ApiServer> server;
  std::unique_ptr<ReloadOnSighup> reload;  // gone before the server
};

// nullptr when flags.port == 0; exits with a clear message when the port is
// taken or the TLS flags are missing or wrong.
std::unique_ptr<MetricsEndpoint> StartMetricsEndpoint(const MetricsFlags& flags);

}  // namespace ovoflow::exe
