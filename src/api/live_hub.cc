#include "api/live_hub.h"

#include <algorithm>
#include <mutex>

#include "api/json.h"

namespace ovoflow::api {

void LiveHub::Add(std::shared_ptr<LiveSubscriber> session) {
  std::unique_lock lock(mu_);
  sessions_.push_back(std::move(session));
  count_.store(sessions_.size(), std::memory_order_relaxed);
}

void LiveHub::Remove(const LiveSubscriber* session) {
  std::shared_ptr<LiveSubscriber> keep;  // released after the lock
  std::unique_lock lock(mu_);
  auto it = std::find_if(sessions_.begin(), sessions_.end(), [&](const auto& s) { return s.get() == session; });
  if (it == sessions_.end()) return;
  keep = std::move(*it);
  *it = std::move(sessions_.back());
  sessions_.pop_back();
  count_.store(sessions_.size(), std::memory_order_relaxed);
  lock.unlock();
}

bool LiveHub::TakeSlot(std::size_t limit) {
  std::size_t taken = slots_.load();
  do {
    if (taken >= limit) return false;
  } while (!slots_.compare_exchange_weak(taken, taken + 1));
  return true;
}

void LiveHub::Clear() {
  std::vector<std::shared_ptr<LiveSubscriber>> sessions;
  {
    std::unique_lock lock(mu_);
    sessions.swap(sessions_);
    count_.store(0, std::memory_order_relaxed);
  }
}

void LiveHub::Publish(const v1::Prediction& prediction) {
  if (count_.load(std::memory_order_relaxed) == 0) return;  // nobody listens: skip the JSON
  std::shared_ptr<const std::string> message;
  std::shared_lock lock(mu_);
  for (const auto& s : sessions_) {
    if (!s->Matches(prediction)) continue;
    if (!message) message = std::make_shared<const std::string>(PredictionJson(prediction));
    s->Enqueue(message);
  }
}

}  // namespace ovoflow::api
