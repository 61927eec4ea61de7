// Store writer: consumes predictions (read_committed) and stores them in
// batched transactions. Offsets are committed only after the database
// transaction commits; a redelivered prediction is skipped by the store's
// (tenant_id, egg_id) key, so each scan is stored exactly once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_store.h"

namespace ovoflow::store {

struct WriterOptions {
  std::string brokers = "127.0.0.1:9092";
  std::string group_id = "ovoflow-store";
  int max_batch = 500;    // predictions per transaction
  int max_wait_ms = 20;   // longest a batch waits to fill after its first message, ms
};

// Called after each committed transaction with the predictions it stored
// (e.g. to feed the live WebSocket). Runs on the writer's thread.
using StoredCallback = std::function<void(const std::vector<v1::Prediction>&)>;

class StoreWriter {
 public:
  ~StoreWriter();
  // `store` is not owned and must outlive the writer.
  static Result<std::unique_ptr<StoreWriter>> Create(const WriterOptions& options, PredictionStore* store,
                                                     StoredCallback on_stored = {});
  // Stores batches until `stop` is true, then finishes the batch in hand.
  Status Run(const std::atomic<bool>& stop);
  // One poll-store-commit cycle; returns messages handled.
  Result<int> RunOnce(int poll_timeout_ms, const std::atomic<bool>& stop);

 private:
  StoreWriter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::store
