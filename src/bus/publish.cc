#include "bus/publish.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace ovoflow::bus {
namespace {

// Outcome of one attempt, shared with delivery callbacks (which may run
// after PublishAll returned on give-up, hence shared_ptr).
struct Attempt {
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;                  // GUARDED_BY(mu)
  std::vector<std::size_t> failed;  // GUARDED_BY(mu)
  Status fatal;                     // GUARDED_BY(mu): first non-retryable failure
};

}  // namespace

Status PublishAll(Producer& producer, const std::vector<OutgoingMessage>& messages,
                  const std::function<bool()>& give_up) {
  std::vector<std::size_t> todo(messages.size());
  for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = i;
  auto backoff = std::chrono::milliseconds(100);
  while (!todo.empty()) {
    auto attempt = std::make_shared<Attempt>();
    std::vector<std::size_t> unsent;
    for (std::size_t idx : todo) {
      const OutgoingMessage& m = messages[idx];
      {
        std::lock_guard<std::mutex> lock(attempt->mu);
        ++attempt->pending;
      }
      Status st = producer.Send(m.topic, m.key, m.value, m.headers, [attempt, idx](const Status& s) {
        std::lock_guard<std::mutex> lock(attempt->mu);
        if (!s.ok()) {
          if (s.code() == StatusCode::kInvalidArgument && attempt->fatal.ok()) attempt->fatal = s;
          attempt->failed.push_back(idx);
        }
        if (--attempt->pending == 0) attempt->cv.notify_all();
      });
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(attempt->mu);
        --attempt->pending;
        if (!st.retryable()) return st;
        unsent.push_back(idx);  // local queue full: retry after backoff
      }
    }
    std::vector<std::size_t> failed;
    {
      std::unique_lock<std::mutex> lock(attempt->mu);
      while (attempt->pending > 0) {
        attempt->cv.wait_for(lock, std::chrono::milliseconds(200));
        if (attempt->pending > 0 && give_up()) {
          return Status::Unavailable(std::to_string(attempt->pending) + " messages not yet acknowledged");
        }
      }
      if (!attempt->fatal.ok()) return attempt->fatal;
      failed = attempt->failed;
    }
    failed.insert(failed.end(), unsent.begin(), unsent.end());
    if (failed.empty()) return Status::Ok();
    spdlog::warn("publish: {} of {} messages not delivered, retrying in {} ms", failed.size(), todo.size(),
                 backoff.count());
    if (give_up()) return Status::Unavailable(std::to_string(failed.size()) + " messages not delivered");
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    std::sort(failed.begin(), failed.end());
    todo = std::move(failed);
  }
  return Status::Ok();
}

}  // namespace ovoflow::bus
