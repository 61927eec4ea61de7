// Inference worker: a member of the scans consumer group that micro-batches
// scans through the model and publishes one Prediction per scan.
//
// Delivery: predictions (and dead letters) are acknowledged by the broker
// before the scan offsets are committed, so a crash re-processes at most the
// batch in hand (at-least-once); the store de-duplicates by (tenant, egg_id).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/volume.h"
#include "inference/classifier.h"
#include "inference/decision.h"

namespace ovoflow::inference {

struct WorkerOptions {
  std::string brokers = "127.0.0.1:9092";
  std::string group_id = "ovoflow-infer";  // workers sharing it split the partitions
  std::string worker_id;                   // recorded in each prediction; default host-pid
  std::string model_dir = "models/default";
  int max_batch = 64;      // scans per forward pass, 1..1024
  int max_wait_ms = 10;    // longest a batch waits to fill after its first scan, ms
  int torch_threads = 1;   // LibTorch intra-op threads
  Thresholds thresholds;
  ScanLimits limits;
  std::size_t max_message_bytes = 8u << 20;  // larger scan messages are dead-lettered, bytes
};

class InferenceWorker {
 public:
  ~InferenceWorker();
  // Loads the model and joins the group. Fails for a bad model or options.
  static Result<std::unique_ptr<InferenceWorker>> Create(const WorkerOptions& options);

  // Processes batches until `stop` is true, then finishes the batch in hand
  // (publish, commit) and leaves the group. Non-OK only when the worker
  // cannot go on (then offsets of unfinished work stay uncommitted).
  Status Run(const std::atomic<bool>& stop);

  // One poll-infer-publish-commit cycle waiting up to `poll_timeout_ms` for
  // the first scan. Returns the number of scan messages handled.
  Result<int> RunOnce(int poll_timeout_ms, const std::atomic<bool>& stop);

  const ModelInfo& model() const;

 private:
  InferenceWorker() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::inference
