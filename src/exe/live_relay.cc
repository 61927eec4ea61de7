#include "exe/live_relay.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "bus/consumer.h"
#include "common/clock.h"
#include "common/topics.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::exe {

Status RunLiveRelay(const std::string& brokers, api::ApiServer& server, const std::atomic<bool>& stop) {
  bus::ConsumerOptions co;
  co.brokers = brokers;
  co.group_id = "ovoflow-live-" + std::to_string(getpid()) + "-" + std::to_string(SystemClock().NowUnixNanos());
  co.client_id = "ovoflow-live";
  co.topics = {kPredictionsTopic};
  co.auto_offset_reset = "latest";
  auto consumer = bus::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  while (!stop.load()) {
    auto msgs = (*consumer)->Poll(500, 100);
    if (!msgs.ok()) return msgs.status();
    for (const auto& m : *msgs) {
      v1::Prediction p;
      if (p.ParseFromString(m.value)) server.PublishLive(p);
      else spdlog::debug("live: skipping a malformed prediction at offset {}", m.offset);
    }
  }
  (*consumer)->Close();
  return Status::Ok();
}

}  // namespace ovoflow::exe
