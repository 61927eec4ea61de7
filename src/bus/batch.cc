#include "bus/batch.h"

#include "common/clock.h"
#include "common/trace.h"

namespace ovoflow::bus {

Result<std::vector<Message>> PollBatch(Consumer& consumer, int max_messages, int first_timeout_ms,
                                       int max_wait_ms) {
  auto first = consumer.Poll(max_messages, first_timeout_ms);
  if (!first.ok() || first->empty()) return first;
  std::vector<Message> batch = std::move(first).value();
  const int64_t deadline = SystemClock().MonotonicNanos() + int64_t{max_wait_ms} * 1'000'000;
  while (static_cast<int>(batch.size()) < max_messages) {
    int64_t left_ms = (deadline - SystemClock().MonotonicNanos()) / 1'000'000;
    if (left_ms <= 0) break;
    auto more = consumer.Poll(max_messages - static_cast<int>(batch.size()), static_cast<int>(left_ms));
    if (!more.ok()) return more.status();
    for (auto& m : *more) batch.push_back(std::move(m));
  }
  return batch;
}

Headers ChildTraceHeaders(const Message& cause) {
  auto tp = cause.Header(kTraceparentHeader);
  auto parent = tp ? ParseTraceparent(*tp) : std::nullopt;
  return {{std::string(kTraceparentHeader), FormatTraceparent(parent ? ChildSpan(*parent) : NewTrace())}};
}

}  // namespace ovoflow::bus
