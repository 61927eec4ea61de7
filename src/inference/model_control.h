// Model activations on the compacted control topic ovoflow.models.v1
// (docs/models.md): the record format, a publisher for the API and a
// follower that every worker (and the API, for GET /v1/models) runs.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "bus/producer.h"
#include "bus/stage_runtime.h"
#include "bus/topic_reader.h"
#include "common/status.h"
#include "common/topics.h"
#include "ovoflow/v1/model_control.pb.h"

namespace ovoflow::inference {

// "active" / "shadow" (also the record key, so compaction keeps the latest
// record of each role); "" for MODEL_ROLE_UNSPECIFIED.
std::string RoleName(v1::ModelRole role);

// InvalidArgument unless the role is ACTIVE or SHADOW, the name is a valid
// registry name, and the version is one too (empty allowed for SHADOW only:
// shadow scoring off).
Status ValidateActivation(const v1::ModelActivation& activation);

// Sends `activation` to `topic` keyed by its role and waits for the broker's
// acknowledgement (up to timeout_ms). Unavailable when it was not acknowledged.
Status PublishActivation(bus::Producer& producer, const v1::ModelActivation& activation, int timeout_ms = 10000,
                         const std::string& topic = kModelsTopic);

// The latest valid activation of each role seen so far.
struct ActivationState {
  std::optional<v1::ModelActivation> active;
  std::optional<v1::ModelActivation> shadow;  // model_version empty: shadow off
};

struct FollowerOptions {
  std::string brokers = kDefaultBrokers;
  std::string topic = kModelsTopic;
  std::string client_id = "ovoflow-models";
  int catch_up_timeout_ms = 10000;  // Start() reads the existing records for at most this long, ms
  int retry_ms = 2000;              // while the topic is missing or the cluster away, retry after this, ms
};

// Reads the control topic from the beginning on a thread of its own, on the
// stage runtime (observe only: it commits and produces nothing). Thread-safe.
// Records that do not parse or fail ValidateActivation are logged and
// counted (ovoflow_stage_skipped_total{stage="models"}) and ignored.
class ActivationFollower {
 public:
  // Called on the follower's thread with the newest record of a role after
  // each read (older records of the same read are skipped). May block (a
  // worker loads the model here); later records wait meanwhile.
  using OnActivation = std::function<void(const v1::ModelActivation&)>;

  // Reads the records already on the topic (up to catch_up_timeout_ms; a
  // missing topic or an unreachable cluster is logged, not an error), calls
  // `on_activation` on the calling thread for the latest one of each role,
  // and returns with them in state(). Then follows the topic in the
  // background, calling `on_activation` for each newer record.
  static std::unique_ptr<ActivationFollower> Start(const FollowerOptions& options, OnActivation on_activation);
  ~ActivationFollower();  // stops and joins the thread

  ActivationState state() const;
  // Records `activation` as the latest of its role now (what its publisher
  // knows before the topic echoes it back).
  void Observe(const v1::ModelActivation& activation);

 private:
  ActivationFollower() = default;
  class ActivationStage;
  bool Connect();  // creates the reader; false while the topic is missing
  void Loop();

  FollowerOptions options_;
  OnActivation on_activation_;
  // Used by the starting thread, then by thread_ only:
  std::unique_ptr<ActivationStage> stage_;
  std::unique_ptr<bus::StageRuntime> runtime_;  // destroyed before stage_
  bus::TopicReader* reader_ = nullptr;          // owned by runtime_
  bool warned_missing_ = false;
  mutable std::mutex mu_;
  ActivationState state_;  // GUARDED_BY(mu_)
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ovoflow::inference
