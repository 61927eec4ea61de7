#include "exe/live_relay.h"

#include <unistd.h>

#include "bus/consumer.h"
#include "bus/records.h"
#include "bus/stage_runtime.h"
#include "common/clock.h"
#include "common/topics.h"
#include "common/validation.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::exe {
namespace {

// Publishes each valid prediction to the live hub. A malformed one is
// skipped (logged and counted): the store writer dead-letters it already.
class LiveStage final : public bus::Stage {
 public:
  explicit LiveStage(api::ApiServer& server) : server_(server) {}
  Result<bus::BatchOutcome> Process(std::span<const bus::Message> batch) override {
    bus::BatchOutcome out;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      v1::Prediction p;
      if (auto bad = bus::ReadPrediction(batch[i], i, &p)) {
        out.rejections.push_back(std::move(*bad));
        continue;
      }
      server_.PublishLive(p);
    }
    return out;
  }

 private:
  api::ApiServer& server_;
};

}  // namespace

Status RunLiveRelay(const std::string& brokers, api::ApiServer& server, const std::atomic<bool>& stop) {
  bus::ConsumerOptions co;
  co.brokers = brokers;
  co.group_id = "ovoflow-live-" + std::to_string(getpid()) + "-" + std::to_string(SystemClock().NowUnixNanos());
  co.client_id = "ovoflow-live";
  co.topics = {kPredictionsTopic};
  co.auto_offset_reset = "latest";
  OVOFLOW_ASSIGN_OR_RETURN(std::unique_ptr<bus::Consumer> consumer, bus::Consumer::Create(co));
  LiveStage stage(server);
  bus::StageRuntimeOptions ro;
  ro.stage = "live";
  ro.group_id = "ovoflow-live";
  ro.delivery = bus::Delivery::kObserve;
  ro.max_batch = 500;
  ro.max_wait_ms = 0;
  OVOFLOW_ASSIGN_OR_RETURN(std::unique_ptr<bus::StageRuntime> runtime,
                           bus::StageRuntime::Create(ro, std::move(consumer), {}, &stage));
  return runtime->Run(stop);
}

}  // namespace ovoflow::exe
