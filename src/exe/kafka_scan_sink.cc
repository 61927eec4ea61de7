#include "exe/kafka_scan_sink.h"

#include <chrono>
#include <future>
#include <memory>

#include "common/topics.h"
#include "common/trace.h"

namespace ovoflow::exe {

Status KafkaScanSink::Submit(const v1::EggScan& scan) {
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  const std::string topic = topic_per_tenant_ ? ScanTopicFor(scan.tenant_id()) : std::string(kScansTopic);
  Status st = producer_->Send(topic, scan.egg_id(), scan.SerializeAsString(),
                              {{std::string(kTraceparentHeader), FormatTraceparent(NewTrace())}},
                              [done](const Status& s) { done->set_value(s); });
  if (!st.ok()) return st;
  if (result.wait_for(std::chrono::milliseconds(ack_timeout_ms_)) != std::future_status::ready)
    return Status::Unavailable("Kafka did not acknowledge the scan within " + std::to_string(ack_timeout_ms_) + " ms");
  return result.get();
}

}  // namespace ovoflow::exe
