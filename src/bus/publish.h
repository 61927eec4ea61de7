// Publishes a group of messages and waits until the broker acknowledged
// every one: the step before committing the input offsets that produced
// them (at-least-once; consumers de-duplicate by key downstream).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bus/producer.h"

namespace ovoflow::bus {

// Sends `messages` on `producer` and blocks until all are acknowledged.
// Failed deliveries and a full local queue are retried with backoff
// (100 ms doubling to 2 s) until acknowledged or `give_up()` returns true,
// which is checked between attempts; then Unavailable says how many are left.
// Non-retryable failures (a message too large for the broker) are returned
// as InvalidArgument at once.
Status PublishAll(Producer& producer, const std::vector<OutgoingMessage>& messages,
                  const std::function<bool()>& give_up);

}  // namespace ovoflow::bus
