// Dead letters: messages that cannot be processed go to ovoflow.deadletter.v1
// with their reason, so nothing is silently dropped. The stage runtime
// (bus/stage_runtime.h) sends them; this builds them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "bus/message.h"

namespace ovoflow::bus {

// Bounds that keep a dead letter within what any broker takes (Kafka's
// default message.max.bytes is 1 MiB): the largest dead letter is about
// max_original_bytes + 2 * max_key_bytes + max_reason_bytes + 1 KiB.
struct DeadLetterLimits {
  std::size_t max_original_bytes = 512u << 10;  // of the original value kept, bytes
  std::size_t max_key_bytes = 1024;             // of the original key kept, bytes
  std::size_t max_reason_bytes = 4096;          // of the reason, bytes (cut at a UTF-8 boundary)
};

// The dead letter for `original` on ovoflow.deadletter.v1: a v1.DeadLetter
// with the original value and key (each cut to its bound, the whole size and
// the value's SHA-256 recorded), where it came from, the stage, the reason
// (made valid UTF-8) and its kind; keyed by the original key (cut likewise),
// with a traceparent continuing the original's trace and the header
// ovoflow-reason: <reason_kind>.
OutgoingMessage DeadLetterFor(const Message& original, std::string_view stage, std::string_view reason_kind,
                              std::string_view reason, const DeadLetterLimits& limits = {});

// Counts one dead letter in ovoflow_dead_letters_total{stage,reason}.
void CountDeadLetter(const std::string& stage, const std::string& reason_kind);

}  // namespace ovoflow::bus
