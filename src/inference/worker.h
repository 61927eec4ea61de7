// Inference worker: a member of the scans consumer group that micro-batches
// scans through the model and publishes one Prediction per scan. It is a
// stage on the stage runtime (bus/stage_runtime.h), which does the polling,
// delivery and dead letters; the worker decodes, scores and predicts.
//
// Delivery, exactly once (default): each batch's predictions, dead letters
// and scan offsets are one Kafka transaction (consume-transform-produce), so
// a read_committed reader sees each scan's outcome once, whatever crashes.
// With exactly_once off: at least once (outputs acknowledged, then offsets
// committed; the store de-duplicates).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/topics.h"
#include "common/validation.h"
#include "common/volume.h"
#include "inference/classifier.h"
#include "inference/decision.h"
#include "inference/model_registry.h"

namespace ovoflow::inference {

struct WorkerOptions {
  std::string brokers = kDefaultBrokers;
  std::string group_id = kInferGroup;  // workers sharing it split the partitions
  std::string
      worker_id;  // recorded in each prediction, names the producer (at most 128 bytes); default host-pid-n (unique)
  // Model served until an activation on ovoflow.models.v1 says otherwise
  // (the `ovoflow` binary defaults it to the newest version in the registry).
  std::string model_dir = std::string("models/") + kDefaultModelName + "/" + kDefaultModelVersion;
  std::string registry_dir = "models";  // model registry root: <name>/<version>/ (model_registry.h)
  bool follow_activations = true;       // read ovoflow.models.v1 and hot-swap (docs/models.md)
  int activation_catch_up_ms = 10000;   // Create() reads existing activations for at most this long, ms
  int max_batch = 64;                   // scans per forward pass, 1..1024
  int max_wait_ms = 10;                 // longest a batch waits to fill after its first scan, ms
  int poll_timeout_ms = 100;            // longest RunOnce waits for a first scan, ms
  int torch_threads = 1;                // LibTorch intra-op threads
  // RECHECK band: see ThresholdPolicy (tenant_thresholds.h) for the order.
  Thresholds thresholds;             // --keep-threshold / --divert-threshold
  bool thresholds_explicit = false;  // true: `thresholds` beats the model's recommended band
  std::string thresholds_file;       // per-tenant bands (JSON); empty: none
  int thresholds_reload_ms = 2000;   // re-read thresholds_file this often (between batches); 0: at start-up only
  ScanLimits limits;
  std::size_t max_message_bytes = kMaxScanMessageBytes;  // larger scan messages are dead-lettered, bytes
  bool exactly_once = true;            // Kafka transactions; transactional.id "ovoflow-infer-<worker_id>"
  int transaction_timeout_ms = 10000;  // a crashed worker's open transaction is aborted after this, ms
  // Called with the key of each scan message dead-lettered (after its batch
  // was delivered); may be empty. Runs on the worker's thread.
  std::function<void(const std::string& key)> on_dead_letter;
};

class InferenceWorker {
 public:
  ~InferenceWorker();
  // Loads the model, applies the activations already on ovoflow.models.v1
  // (a model that fails to load there is logged and skipped), and joins the
  // group. Fails for a bad model_dir, thresholds file or options.
  static Result<std::unique_ptr<InferenceWorker>> Create(const WorkerOptions& options);

  // Processes batches until `stop` is true, then finishes the batch in hand
  // (publish, commit) and leaves the group. Non-OK only when the worker
  // cannot go on (then offsets of unfinished work stay uncommitted).
  Status Run(const std::atomic<bool>& stop);

  // One poll-infer-publish-commit cycle waiting up to poll_timeout_ms for
  // the first scan. Returns the number of scan messages delivered.
  Result<int> RunOnce(const std::atomic<bool>& stop);
  // True while the worker cannot deliver its batch (see bus::StageRuntime).
  bool stalled() const;

  // The model that scored the last batch. Changes only inside RunOnce,
  // between batches; the reference is valid until the next RunOnce.
  const ModelInfo& model() const;

 private:
  InferenceWorker() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::inference
