// Store writer: consumes predictions (read_committed) and stores them in
// batched database transactions, on the stage runtime (bus/stage_runtime.h,
// at least once). Offsets are committed only after the database commit; a
// redelivered prediction is skipped by the store's (tenant_id, egg_id) key,
// so each scan is stored exactly once. A prediction that cannot be stored is
// dead-lettered with its reason and the rest of its batch is stored; a
// database that is away holds the batch and is retried.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/topics.h"
#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_store.h"

namespace ovoflow::store {

struct WriterOptions {
  std::string brokers = kDefaultBrokers;
  std::string group_id = kStoreGroup;
  int max_batch = 500;           // predictions per database transaction
  int max_wait_ms = 20;          // longest a batch waits to fill after its first message, ms
  int poll_timeout_ms = 100;     // longest RunOnce waits for a first message, ms
  int stall_after_attempts = 5;  // database failures in a row before /readyz reports the writer stalled
  // Called with the key of each prediction message dead-lettered (after its
  // batch was delivered); may be empty. Runs on the writer's thread.
  std::function<void(const std::string& key)> on_dead_letter;
};

// Called after each delivered batch with the predictions it stored, new or
// already there (e.g. to feed the live WebSocket). Runs on the writer's thread.
using StoredCallback = std::function<void(const std::vector<v1::Prediction>&)>;
// Whether the store accepts predictions of this model (name, version): for
// example, whether the model registry holds it. An error when it cannot
// tell now (the registry is unreadable): the batch is held and retried.
// Must be thread-safe.
using ModelCheck = std::function<Result<bool>(const std::string& name, const std::string& version)>;

class StoreWriter {
 public:
  ~StoreWriter();
  // `store` is not owned and must outlive the writer. Without `known_model`
  // any model name and version that are registry names are accepted;
  // with it, predictions of other models are dead-lettered ("unknown_model").
  static Result<std::unique_ptr<StoreWriter>> Create(const WriterOptions& options, PredictionStore* store,
                                                     StoredCallback on_stored = {}, ModelCheck known_model = {});
  // Stores batches until `stop` is true, then finishes the batch in hand.
  // Non-OK when stopped with a batch not stored (its offsets stay uncommitted).
  Status Run(const std::atomic<bool>& stop);
  // One poll-store-commit cycle; returns messages handled.
  Result<int> RunOnce(const std::atomic<bool>& stop);
  // True while the writer cannot store its batch (see bus::StageRuntime).
  bool stalled() const;

 private:
  StoreWriter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::store
