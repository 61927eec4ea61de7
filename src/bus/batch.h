// Micro-batching and trace propagation shared by every consume loop.
#pragma once

#include <vector>

#include "bus/consumer.h"
#include "bus/message.h"

namespace ovoflow::bus {

// Up to `max_messages`: waits `first_timeout_ms` for the first message, then
// at most `max_wait_ms` more for the batch to fill. Empty when none came.
Result<std::vector<Message>> PollBatch(Consumer& consumer, int max_messages, int first_timeout_ms,
                                       int max_wait_ms);

// Headers for a message caused by `cause`: a traceparent that is a child
// span of the cause's (or a new trace when it has none or a bad one).
Headers ChildTraceHeaders(const Message& cause);

}  // namespace ovoflow::bus
