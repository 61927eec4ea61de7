// Kafka producer over librdkafka (pimpl). Idempotent by default: the broker
// de-duplicates retries, and ordering per partition is kept.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "bus/message.h"
#include "common/status.h"

namespace ovoflow::bus {

struct ProducerOptions {
  std::string brokers = "127.0.0.1:9092";  // bootstrap.servers
  std::string client_id = "ovoflow";
  bool idempotent = true;          // enable.idempotence
  int linger_ms = 5;               // batching delay, ms
  int batch_size_bytes = 1 << 20;  // largest record batch, bytes
  int message_max_bytes = 16 << 20;  // largest message accepted, bytes
  int queue_max_messages = 100000;   // local queue before Send() reports ResourceExhausted
  int delivery_timeout_ms = 120000;  // give up delivering after this, ms
  std::string compression = "none";  // none, lz4, zstd, ...
};

// Called once per message from the producer's poll thread, with OK when the
// broker acknowledged it or the final error otherwise.
using DeliveryCallback = std::function<void(const Status&)>;

// Thread-safe: Send() may be called from many threads.
class Producer {
 public:
  virtual ~Producer() = default;
  // Connects lazily; fails only for bad configuration.
  static Result<std::unique_ptr<Producer>> Create(const ProducerOptions& options);

  // Queues one message. Returns ResourceExhausted when the local queue is
  // full (retryable), InvalidArgument for a too-large message. `on_delivery`
  // may be empty.
  virtual Status Send(const std::string& topic, const std::string& key, const std::string& value,
                      const Headers& headers, DeliveryCallback on_delivery = {}) = 0;
  // Waits until every queued message is delivered or failed. DeadlineExceeded
  // if messages remain after timeout_ms.
  virtual Status Flush(int timeout_ms) = 0;
  // Messages queued or in flight.
  virtual int64_t Outstanding() const = 0;
};

}  // namespace ovoflow::bus
