// Inference worker: a member of the scans consumer group that micro-batches
// scans through the model and publishes one Prediction per scan.
//
// Delivery, exactly once (default): each batch's predictions, dead letters
// and scan offsets are one Kafka transaction (consume-transform-produce), so
// a read_committed reader sees each scan's outcome once, whatever crashes.
// An aborted transaction rewinds the consumer to re-read the batch; a fenced
// or broken producer is recreated. With exactly_once off: at least once
// (outputs acknowledged, then offsets committed; the store de-duplicates).
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
  std::string worker_id;  // recorded in each prediction, names the producer; default host-pid-n (unique)
  std::string model_dir = "models/default";
  int max_batch = 64;      // scans per forward pass, 1..1024
  int max_wait_ms = 10;    // longest a batch waits to fill after its first scan, ms
  int torch_threads = 1;   // LibTorch intra-op threads
  Thresholds thresholds;
  ScanLimits limits;
  std::size_t max_message_bytes = 8u << 20;  // larger scan messages are dead-lettered, bytes
  bool exactly_once = true;            // Kafka transactions; transactional.id "ovoflow-infer-<worker_id>"
  int transaction_timeout_ms = 10000;  // a crashed worker's open transaction is aborted after this, ms
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
