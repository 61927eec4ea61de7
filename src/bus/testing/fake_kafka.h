// An in-memory Kafka behind the bus interfaces, for stage tests that need
// exact control: rebalances at a chosen moment, fenced producers, errors on a
// chosen call. One consumer group; transactions make their messages and
// offsets visible together, as a read_committed reader sees them. Test code
// only (library ovoflow_bus_testing); tests of librdkafka itself use the mock
// cluster (bus/mock_cluster.h) or a real broker.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bus/consumer.h"
#include "bus/producer.h"
#include "common/clock.h"

namespace ovoflow::bus::testing {

// The calls whose next results a test can choose (FakeBroker::FailNext).
enum class FakeOp {
  kInitTransactions,
  kBeginTransaction,
  kSend,
  kDelivery,  // the delivery report of a non-transactional Send
  kSendOffsets,
  kCommitTransaction,
  kAbortTransaction,
  kCommit,  // Consumer::Commit
  kPoll,    // Consumer::Poll
  // CommitTransaction commits, then answers the injected error: a commit
  // whose outcome the producer could not learn.
  kCommitTransactionOutcomeLost,
};

// Thread-safe.
class FakeBroker {
 public:
  void CreateTopic(const std::string& topic, int partitions);
  // Appends a committed message; returns its offset.
  int64_t Append(const std::string& topic, int32_t partition, const std::string& key, const std::string& value,
                 const Headers& headers = {});
  // The committed messages of `topic`, partition by partition in offset order.
  std::vector<Message> Read(const std::string& topic) const;
  // The group's committed offset of topic/partition (the next to read), if any.
  std::optional<int64_t> Committed(const std::string& topic, int32_t partition) const;

  // The next `times` calls of `op` return `status` (queued after earlier ones).
  void FailNext(FakeOp op, const Status& status, int times = 1);
  // Fences every transactional producer registered so far: their next
  // transactional call returns Internal, as when a newer instance with the
  // same transactional.id registers. (The fake's InitTransactions fences
  // nothing itself; an instance's open transaction dies with it.)
  void FenceProducers();

  int transactions_committed() const;
  int transactions_aborted() const;
  int producers_created() const;

 private:
  friend class FakeConsumer;
  friend class FakeProducer;
  struct Partition {
    std::vector<Message> messages;
  };
  // Pops the injected result of `op`, or OK.
  Status Injected(FakeOp op);                                                    // requires mu_
  int64_t AppendLocked(const OutgoingMessage& m, int32_t partition);             // requires mu_
  int32_t PartitionFor(const std::string& topic, const std::string& key) const;  // requires mu_

  mutable std::mutex mu_;
  std::map<std::string, std::vector<Partition>> topics_;          // GUARDED_BY(mu_)
  std::map<std::pair<std::string, int32_t>, int64_t> committed_;  // GUARDED_BY(mu_)
  std::map<FakeOp, std::deque<Status>> failures_;                 // GUARDED_BY(mu_)
  int generation_ = 1;                                            // GUARDED_BY(mu_): the group's generation
  int producer_epoch_ = 0;     // GUARDED_BY(mu_): producers registered before this are fenced
  int committed_txns_ = 0;     // GUARDED_BY(mu_)
  int aborted_txns_ = 0;       // GUARDED_BY(mu_)
  int producers_created_ = 0;  // GUARDED_BY(mu_)
};

// A member of the broker's group, assigned every partition of its topics at
// the committed offsets.
class FakeConsumer final : public Consumer {
 public:
  FakeConsumer(FakeBroker* broker, const std::vector<std::string>& topics);

  // A rebalance: the group's generation moves on at once (offsets sent with
  // this member's old generation are refused); the member learns of it, and
  // the partition leaves its assignment, at its next Poll.
  void Revoke(const std::string& topic, int32_t partition);
  // When set, an empty Poll sleeps its timeout on `clock` (a ManualClock
  // then advances instead of the test spinning).
  void set_clock(const Clock* clock) { clock_ = clock; }
  bool closed() const;

  Result<std::vector<Message>> Poll(int max_messages, int timeout_ms) override;
  Status Commit(const std::vector<Message>& messages) override;
  int64_t Lag() override;
  void Close() override;
  std::size_t DropUnassigned(std::vector<Message>* messages) override;
  Status Rewind(const std::vector<Message>& messages) override;
  Status SeekToCommitted(const std::vector<Message>& messages) override;
  std::vector<TopicPartitionOffset> Assigned(std::vector<TopicPartitionOffset> partitions) override;
  Result<std::string> GroupMetadata() override;

 private:
  FakeBroker* broker_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int32_t>, int64_t> positions_;  // GUARDED_BY(mu_): assigned partitions
  std::set<std::pair<std::string, int32_t>> revoked_;             // GUARDED_BY(mu_): applied at the next Poll
  int generation_ = 1;                                            // GUARDED_BY(mu_): as this member knows it
  bool closed_ = false;                                           // GUARDED_BY(mu_)
  const Clock* clock_ = nullptr;
};

// Transactional when options.transactional_id is set (messages and offsets
// appear at CommitTransaction), else each Send appears at once and its
// delivery report runs before Send returns.
class FakeProducer final : public Producer {
 public:
  FakeProducer(FakeBroker* broker, bool transactional);

  Status Send(const std::string& topic, const std::string& key, const std::string& value, const Headers& headers,
              DeliveryCallback on_delivery) override;
  Status Flush(int) override { return Status::Ok(); }
  int64_t Outstanding() const override { return 0; }
  Status InitTransactions(int timeout_ms) override;
  Status BeginTransaction() override;
  Status SendOffsetsToTransaction(const std::vector<TopicPartitionOffset>& offsets, const std::string& group_metadata,
                                  int timeout_ms) override;
  Status CommitTransaction(int timeout_ms) override;
  Status AbortTransaction(int timeout_ms) override;

 private:
  Status Fenced();  // requires broker_->mu_

  FakeBroker* broker_;
  const bool transactional_;
  int epoch_ = -1;  // broker epoch at InitTransactions; -1: not registered
  bool in_transaction_ = false;
  bool must_abort_ = false;  // a call failed inside the open transaction
  std::vector<OutgoingMessage> pending_;
  std::vector<TopicPartitionOffset> pending_offsets_;
};

}  // namespace ovoflow::bus::testing
