// The models an inference worker scores with, and their hot swap: the
// activation follower's thread loads a newly activated model in the
// background; the batch loop swaps it in between batches, so one batch
// (one Kafka transaction) is always scored by exactly one model version.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "inference/classifier.h"
#include "inference/model_registry.h"
#include "inference/tenant_thresholds.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/model_control.pb.h"

namespace ovoflow::inference {

// A model ready to score.
struct LoadedModel {
  std::unique_ptr<SexClassifier> classifier;
  v1::ModelMetadata metadata;
  std::string dir;
};

// Loads `dir` (weights and model.json). As SexClassifier::Load.
Result<LoadedModel> LoadModelDir(const std::string& dir, int torch_threads);

class ModelSwitch {
 public:
  // `initial` scores until an activation replaces it; no shadow at first.
  ModelSwitch(ModelRegistry registry, int torch_threads, LoadedModel initial, std::string worker_id);

  // Loader side: called by one thread at a time (the activation follower).
  // Resolves the activation in the registry and loads it; the loaded model
  // waits for the batch loop's next SwapPending(). A version already current
  // or waiting is not loaded again; a SHADOW record without a version turns
  // shadow scoring off. A model that fails to resolve or load is logged and
  // counted (ovoflow_model_load_failures_total) and the current one stays.
  void Apply(const v1::ModelActivation& activation);

  // Batch loop only (the worker's thread): moves waiting models in, between
  // batches. True when the active or shadow model changed.
  bool SwapPending();
  LoadedModel& active() { return active_; }                        // batch loop only
  LoadedModel* shadow() { return shadow_ ? &*shadow_ : nullptr; }  // batch loop only; nullptr: off

 private:
  ModelRegistry registry_;
  int torch_threads_;
  std::string worker_id_;
  LoadedModel active_;                 // batch loop only
  std::optional<LoadedModel> shadow_;  // batch loop only
  std::string wanted_active_;          // loader only: "name@version" current or waiting
  std::string wanted_shadow_;          // loader only: "" = off

  std::mutex mu_;
  std::optional<LoadedModel> pending_active_;                 // GUARDED_BY(mu_)
  std::optional<std::optional<LoadedModel>> pending_shadow_;  // GUARDED_BY(mu_); inner nullopt: off
};

// Scores the batch with the shadow model too and counts its agreement with
// the active model's scores `active_p` (one per volume, same order) in
// ovoflow_shadow_* metrics. Each scan's decisions use the band `policy`
// gives its tenant under each model. A shadow failure is logged and counted,
// never fails the batch.
void CompareShadow(LoadedModel& shadow, const LoadedModel& active, const std::vector<const v1::Volume*>& volumes,
                   const std::vector<std::string>& tenants, const std::vector<float>& active_p,
                   const ThresholdPolicy& policy);

}  // namespace ovoflow::inference
