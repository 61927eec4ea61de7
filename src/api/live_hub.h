// Fan-out of live predictions to the /v1/live WebSocket subscribers.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::api {

// A /v1/live client as the hub sees it (a LiveSession, over plain TCP or TLS).
class LiveSubscriber {
 public:
  virtual ~LiveSubscriber() = default;
  virtual bool Matches(const v1::Prediction& p) const = 0;
  // Thread-safe, never blocks on the network.
  virtual void Enqueue(std::shared_ptr<const std::string> message) = 0;
};

// Thread-safe. Publish() never blocks on a client: it serialises the
// prediction once and appends it to the bounded queue of each matching
// session; a session whose queue is full is closed (see LiveSession).
class LiveHub {
 public:
  explicit LiveHub(std::size_t queue_limit) : queue_limit_(queue_limit) {}

  void Add(std::shared_ptr<LiveSubscriber> session);
  void Remove(const LiveSubscriber* session);
  std::size_t size() const { return count_.load(std::memory_order_relaxed); }
  // A place for one more client, taken before its handshake so that a burst
  // of upgrades cannot overshoot `limit`; false when `limit` are taken.
  // Every taken slot is given back once (by the LiveSession's destructor).
  bool TakeSlot(std::size_t limit);
  void GiveSlot() { slots_.fetch_sub(1); }
  std::size_t queue_limit() const { return queue_limit_; }

  void Publish(const v1::Prediction& prediction);
  // Drops every session (after the io_context stopped, before it is destroyed).
  void Clear();

 private:
  const std::size_t queue_limit_;
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<LiveSubscriber>> sessions_;  // GUARDED_BY(mu_)
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> slots_{0};
};

}  // namespace ovoflow::api
