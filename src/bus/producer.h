// Kafka producer over librdkafka (pimpl). Idempotent by default: the broker
// de-duplicates retries, and ordering per partition is kept.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <vector>

#include "bus/message.h"
#include "common/status.h"
#include "common/topics.h"

namespace ovoflow::bus {

struct ProducerOptions {
  std::string brokers = kDefaultBrokers;  // bootstrap.servers
  std::string client_id = "ovoflow";
  bool idempotent = true;            // enable.idempotence
  int linger_ms = 5;                 // batching delay, ms
  int batch_size_bytes = 1 << 20;    // largest record batch, bytes
  int message_max_bytes = 16 << 20;  // largest message accepted, bytes
  int queue_max_messages = 100000;   // local queue before Send() reports ResourceExhausted
  int delivery_timeout_ms = 120000;  // give up delivering after this, ms
  std::string compression = "none";  // none, lz4, zstd, ...
  // Non-empty: a transactional producer (transactional.id). Each live
  // instance needs its own id; a new instance with the same id fences the
  // old one. Messages are then sent only inside Begin/CommitTransaction.
  std::string transactional_id;
  // An open transaction of a crashed producer is aborted by the broker after
  // this long; until then read_committed consumers wait behind it, ms.
  int transaction_timeout_ms = 10000;
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

  // Transactions (consume-transform-produce), only with a transactional_id.
  // What an error means for the caller:
  //   Unavailable, DeadlineExceeded  the call may be repeated as is;
  //   FailedPrecondition             the transaction must be aborted
  //                                  (AbortTransaction) and its input re-read;
  //   Internal                       the producer is unusable (fenced by a newer
  //                                  instance, or a fatal error): destroy it and
  //                                  create a new one, then re-read the input.
  // Registers the id with the transaction coordinator, fencing older
  // instances and aborting their open transaction. Once, before Begin.
  virtual Status InitTransactions(int timeout_ms) = 0;
  virtual Status BeginTransaction() = 0;
  // Adds `offsets` (NextOffsets of the consumed messages) to the open
  // transaction, for the group member that `group_metadata`
  // (Consumer::GroupMetadata) describes. The broker refuses them
  // (FailedPrecondition) when that member's generation is stale, i.e. its
  // partitions may have moved to another member.
  virtual Status SendOffsetsToTransaction(const std::vector<TopicPartitionOffset>& offsets,
                                          const std::string& group_metadata, int timeout_ms) = 0;
  // Flushes and commits: the messages and the offsets become visible together.
  virtual Status CommitTransaction(int timeout_ms) = 0;
  // Discards the open transaction's messages and offsets.
  virtual Status AbortTransaction(int timeout_ms) = 0;
};

}  // namespace ovoflow::bus
