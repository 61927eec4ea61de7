// Fan-out of live predictions to the /v1/live WebSocket subscribers.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::api {

class LiveSession;

// Thread-safe. Publish() never blocks on a client: it serialises the
// prediction once and appends it to the bounded queue of each matching
// session; a session whose queue is full is closed (see LiveSession).
class LiveHub {
 public:
  explicit LiveHub(std::size_t queue_limit) : queue_limit_(queue_limit) {}

  void Add(std::shared_ptr<LiveSession> session);
  void Remove(const LiveSession* session);
  std::size_t size() const { return count_.load(std::memory_order_relaxed); }
  std::size_t queue_limit() const { return queue_limit_; }

  void Publish(const v1::Prediction& prediction);
  // Drops every session (after the io_context stopped, before it is destroyed).
  void Clear();

 private:
  const std::size_t queue_limit_;
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<LiveSession>> sessions_;  // GUARDED_BY(mu_)
  std::atomic<std::size_t> count_{0};
};

}  // namespace ovoflow::api
