// Feeds /v1/live from the predictions topic, for an API process that runs
// apart from the store writer.
#pragma once

#include <atomic>
#include <string>

#include "api/server.h"

namespace ovoflow::exe {

// Consumes ovoflow.predictions.v1 (read_committed) in a group unique to this
// process, starting at the end, and publishes each prediction to `server`
// until `stop`. Commits nothing: the live feed is best-effort by design.
Status RunLiveRelay(const std::string& brokers, api::ApiServer& server, const std::atomic<bool>& stop);

}  // namespace ovoflow::exe
