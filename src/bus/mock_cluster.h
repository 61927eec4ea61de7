// librdkafka's in-process mock cluster, for unit tests and fault injection
// ONLY. It keeps about 5 MiB per partition and silently drops older
// messages: never run the pipeline on it (use scripts/kafka).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace ovoflow::bus {

class MockCluster {
 public:
  ~MockCluster();
  static Result<std::unique_ptr<MockCluster>> Create(int brokers);
  const std::string& bootstrap() const { return bootstrap_; }
  Status CreateTopic(const std::string& topic, int partitions, int replication_factor = 1);
  // The next `count` Produce requests fail with a retriable error
  // (NOT_LEADER_FOR_PARTITION): idempotent producers must retry without duplicates.
  void FailNextProduceRequests(int count);
  void SetBrokerDown(int broker_id, bool down);
  // The next requests of Kafka API `api_key` (e.g. 0 Produce, 26 EndTxn)
  // fail with the given Kafka error codes, one request per code, in order.
  void FailNextRequests(int16_t api_key, const std::vector<int>& kafka_error_codes);

 private:
  MockCluster() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace ovoflow::bus
