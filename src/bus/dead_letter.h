// Sends messages that cannot be processed to ovoflow.deadletter.v1 with
// their reason, so nothing is silently dropped.
#pragma once

#include <string>

#include "bus/message.h"
#include "bus/producer.h"

namespace ovoflow::bus {

// Thread-safe (the producer is). Counts ovoflow_dead_letters_total{stage,reason}.
class DeadLetterSink {
 public:
  // `producer` is not owned and must outlive this. `stage` names the
  // component (e.g. "infer", "store").
  DeadLetterSink(Producer* producer, std::string stage);

  // Publishes a DeadLetter for `original`. `reason_kind` is a short label
  // for metrics (e.g. "parse", "invalid", "oversized"); `reason` is the
  // human-readable cause. Delivery failures are logged and counted;
  // `on_delivery` (optional) sees the outcome.
  Status Send(const Message& original, const std::string& reason_kind, const std::string& reason,
              DeliveryCallback on_delivery = {});

 private:
  Producer* producer_;
  std::string stage_;
};

// Counts one dead letter in ovoflow_dead_letters_total{stage,reason}, for
// callers that publish EncodeDeadLetter() output themselves.
void CountDeadLetter(const std::string& stage, const std::string& reason_kind);

// The serialized ovoflow.v1.DeadLetter for `original`.
std::string EncodeDeadLetter(const Message& original, const std::string& stage, const std::string& reason);

}  // namespace ovoflow::bus
