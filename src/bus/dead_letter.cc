#include "bus/dead_letter.h"

#include "bus/batch.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "ovoflow/v1/dead_letter.pb.h"

namespace ovoflow::bus {
namespace {

prometheus::Family<prometheus::Counter>& DeadLetterCounter() {
  static auto& family = prometheus::BuildCounter()
                            .Name("ovoflow_dead_letters_total")
                            .Help("Messages sent to the dead-letter topic, by stage and reason")
                            .Register(MetricsRegistry());
  return family;
}

}  // namespace

void CountDeadLetter(const std::string& stage, const std::string& reason_kind) {
  DeadLetterCounter().Add({{"stage", stage}, {"reason", reason_kind}}).Increment();
}

std::string EncodeDeadLetter(const Message& original, const std::string& stage, const std::string& reason) {
  v1::DeadLetter dl;
  dl.set_original(original.value);
  dl.set_topic(original.topic);
  dl.set_partition(original.partition);
  dl.set_offset(original.offset);
  dl.set_reason(reason);
  dl.set_key(original.key);
  dl.set_stage(stage);
  *dl.mutable_failed_at() = ToTimestamp(SystemClock().NowUnixNanos());
  return dl.SerializeAsString();
}

DeadLetterSink::DeadLetterSink(Producer* producer, std::string stage)
    : producer_(producer), stage_(std::move(stage)) {}

Status DeadLetterSink::Send(const Message& original, const std::string& reason_kind, const std::string& reason,
                            DeliveryCallback on_delivery) {
  CountDeadLetter(stage_, reason_kind);
  spdlog::warn("{}: dead-lettering {}[{}]@{} key='{}': {}", stage_, original.topic, original.partition,
               original.offset, original.key, reason);
  Headers headers = ChildTraceHeaders(original);
  headers.emplace_back("ovoflow-reason", reason_kind);
  return producer_->Send(kDeadLetterTopic, original.key, EncodeDeadLetter(original, stage_, reason), headers,
                         std::move(on_delivery));
}

}  // namespace ovoflow::bus
