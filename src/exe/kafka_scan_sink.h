// api::ScanSink that publishes HTTP-ingested scans to ovoflow.scans.v1 and
// answers only after the broker acknowledged them (202 means durable).
#pragma once

#include "api/server.h"
#include "bus/producer.h"

namespace ovoflow::exe {

class KafkaScanSink final : public api::ScanSink {
 public:
  // `producer` is not owned. `ack_timeout_ms`: longest wait for the broker.
  // `topic_per_tenant`: each scan to ovoflow.scans.v1.<its tenant>.
  KafkaScanSink(bus::Producer* producer, bool topic_per_tenant = false, int ack_timeout_ms = 10000)
      : producer_(producer), topic_per_tenant_(topic_per_tenant), ack_timeout_ms_(ack_timeout_ms) {}
  Status Submit(const v1::EggScan& scan) override;

 private:
  bus::Producer* producer_;
  bool topic_per_tenant_;
  int ack_timeout_ms_;
};

}  // namespace ovoflow::exe
