// Kafka consumer-group member over librdkafka (pimpl). Offsets are committed
// only when the caller says so (at-least-once), never automatically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bus/message.h"
#include "common/status.h"
#include "common/topics.h"

namespace ovoflow::bus {

struct ConsumerOptions {
  std::string brokers = kDefaultBrokers;
  std::string group_id;  // required
  std::string client_id = "ovoflow";
  std::vector<std::string> topics;             // required
  std::string auto_offset_reset = "earliest";  // where a new group starts
  bool read_committed = true;                  // isolation.level
  int session_timeout_ms = 10000;
  int max_poll_interval_ms = 300000;
  int fetch_max_bytes = 52428800;
};

// Not thread-safe: one thread polls and commits.
class Consumer {
 public:
  virtual ~Consumer() = default;
  static Result<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);

  // Up to `max_messages`, waiting at most `timeout_ms` for the first one and
  // returning as soon as no more are immediately available. Partition EOF and
  // transient broker errors are not errors (empty result); errors that do
  // not pass by themselves (authorization, a topic that is gone, a fatal
  // consumer error) are Unavailable when no message came with them.
  virtual Result<std::vector<Message>> Poll(int max_messages, int timeout_ms) = 0;
  // Synchronously commits, for each partition in `messages`, the offset after
  // the highest message. Partitions no longer assigned are skipped.
  virtual Status Commit(const std::vector<Message>& messages) = 0;
  // Sum over assigned partitions of (high watermark - position), or -1 if unknown.
  virtual int64_t Lag() = 0;
  // Leaves the group cleanly (commits nothing).
  virtual void Close() = 0;

  // Removes the messages of partitions no longer assigned to this member,
  // and of partitions revoked and assigned again since the previous call
  // (what was fetched before the revocation may have been processed by
  // another member meanwhile; those partitions are read again from the
  // group's committed offset). Returns how many it removed.
  virtual std::size_t DropUnassigned(std::vector<Message>* messages) = 0;
  // Those of `partitions` assigned to this member now (as of its last poll).
  virtual std::vector<TopicPartitionOffset> Assigned(std::vector<TopicPartitionOffset> partitions) = 0;
  // Seeks each still-assigned partition in `messages` back to its lowest
  // offset there, so that they are polled again (after an aborted
  // transaction or a failed publish).
  virtual Status Rewind(const std::vector<Message>& messages) = 0;
  // Seeks each still-assigned partition in `messages` to the group's
  // committed offset: after a transaction whose outcome is unknown (a
  // producer recreated mid-commit), what the group committed says what was
  // delivered. FailedPrecondition for a reader outside any group.
  virtual Status SeekToCommitted(const std::vector<Message>& messages) = 0;
  // This member's place in its group (group id, generation, member id),
  // serialized and opaque: what Producer::SendOffsetsToTransaction needs so
  // that the broker refuses offsets from a member whose partitions moved.
  // FailedPrecondition for a reader outside any group.
  virtual Result<std::string> GroupMetadata() = 0;
};

// Creates the topics if missing (partitions, replication factor). Used by
// `up`, tests and tools; production clusters create topics by their own means.
Status EnsureTopics(const std::string& brokers, const std::vector<std::string>& topics, int partitions,
                    int replication_factor, int timeout_ms = 30000);

// Creates `topic` if missing with one partition and cleanup.policy=compact
// (the broker keeps the latest record per key): for control records such as
// model activations, read from the beginning by every worker.
Status EnsureCompactedTopic(const std::string& brokers, const std::string& topic, int replication_factor,
                            int timeout_ms = 30000);

}  // namespace ovoflow::bus
