// /metrics, /healthz and /readyz for the processes that run no REST API.
#pragma once

#include <memory>

#include "api/server.h"
#include "exe/flags.h"

namespace ovoflow::exe {

// nullptr when flags.port == 0; exits with a clear message when the port is taken.
std::unique_ptr<api::ApiServer> StartMetricsEndpoint(const MetricsFlags& flags);

}  // namespace ovoflow::exe
