// The stage runtime: the one consume loop every Kafka consumer of ovoflow
// runs on (inference worker, store writer, live relay, model-activation
// follower), in the spirit of userver's ConsumerScope. It owns polling,
// micro-batching, dropping messages of revoked partitions, delivery (a Kafka
// transaction with the input offsets, or acknowledged outputs then committed
// offsets), abort and rewind, producer recreation when fenced, backoff,
// graceful stop, per-record failure isolation, dead letters and the metrics
// every stage shares. A stage supplies only what it does to a batch.
//
// No single message can stop a stage: a record the stage refuses is
// dead-lettered with its reason; a batch that fails because of a record
// (InvalidArgument) is split until the failing records are found, and only
// those are dead-lettered; a dead letter always fits the broker
// (bus/dead_letter.h). A batch that fails for any other reason (a database
// or broker away, access refused, a failing device) is held and retried;
// after `stall_after_attempts` failures in a row the stage reports itself
// stalled: a log line naming the partitions and offsets, the gauge
// ovoflow_stage_stalled{stage} (members stalled) and a failing /readyz
// (common/readiness.h), until it delivers again or those partitions move to
// another member.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bus/consumer.h"
#include "bus/dead_letter.h"
#include "bus/message.h"
#include "bus/producer.h"
#include "common/clock.h"
#include "common/status.h"

namespace ovoflow::bus {

// A record of the batch that the stage refuses: it is dead-lettered.
struct Rejection {
  std::size_t index = 0;  // position in the batch given to Stage::Process
  std::string kind;       // short label for metrics: "parse", "invalid", "oversized", ...
  std::string reason;     // human-readable cause
};

// What a stage made of a batch.
struct BatchOutcome {
  std::vector<OutgoingMessage> outputs;  // produced together with the batch's offsets
  std::vector<Rejection> rejections;     // dead-lettered together with the batch's offsets
  // Run once, in order, after the outputs, dead letters and offsets were
  // delivered (metrics, the live feed); never for an attempt that is retried.
  std::vector<std::function<void()>> on_delivered;
};

// What a stage does to a batch. Called on the runtime's thread only.
class Stage {
 public:
  virtual ~Stage() = default;
  // Before each poll, between batches: swap a model in, re-read a file.
  virtual void BeforeBatch() {}
  // Processes `batch` (messages of assigned partitions, in poll order).
  //   OK: the outcome is delivered.
  //   InvalidArgument: some record of the batch cannot be processed; the
  //     runtime splits the batch and processes each half, down to single
  //     records, and dead-letters each record that fails alone with the
  //     error's message (kind "rejected").
  //   Any other error (a database or broker away, access refused, a failing
  //     device): the whole batch is held and processed again after a backoff.
  // The same messages may be processed more than once (retries, splits,
  // redelivery after an aborted transaction): effects beyond the outcome
  // must be idempotent (the store skips eggs it already holds).
  virtual Result<BatchOutcome> Process(std::span<const Message> batch) = 0;
};

// The checks every stage applies to a message before it reads it: a value of
// at most `max_value_bytes`, a key of at most kMaxKeyBytes
// (common/validation.h), and bytes that parse as a `Proto`. A Rejection of
// the message at `index` ("oversized" or "parse") when one fails.
std::optional<Rejection> CheckMessageSize(const Message& message, std::size_t index, std::size_t max_value_bytes);
template <typename Proto>
std::optional<Rejection> ParseMessage(const Message& message, std::size_t index, std::size_t max_value_bytes,
                                      Proto* out) {
  if (auto too_large = CheckMessageSize(message, index, max_value_bytes)) return too_large;
  if (!out->ParseFromString(message.value))
    return Rejection{index, "parse", "value is not a valid " + out->GetDescriptor()->full_name() + " protobuf"};
  return std::nullopt;
}

enum class Delivery {
  // Outputs, dead letters and the input offsets in one Kafka transaction:
  // read_committed consumers see each input's outcome exactly once.
  kTransactional,
  // Outputs and dead letters are acknowledged by the broker, then the input
  // offsets are committed; a crash in between re-processes the batch.
  kAtLeastOnce,
  // Nothing is produced or committed: a reader of a topic that another stage
  // is responsible for (the live feed, a control topic). Rejections are
  // logged and counted in ovoflow_stage_skipped_total, not dead-lettered.
  kObserve,
};

struct StageRuntimeOptions {
  std::string stage;     // required: names the stage in metrics, logs and /readyz ("infer", "store", ...)
  std::string instance;  // tells apart several members of one stage in a process (logs, /readyz); may be empty
  std::string group_id;  // the consumer group, for ovoflow_consumer_lag{group}; empty: `stage`
  Delivery delivery = Delivery::kAtLeastOnce;
  int max_batch = 64;            // messages per batch, >= 1
  int max_wait_ms = 10;          // longest a batch waits to fill after its first message, ms
  int poll_timeout_ms = 100;     // longest RunOnce waits for a first message, ms
  int stall_after_attempts = 5;  // failed attempts in a row at one batch before the stage reports itself stalled
  int backoff_initial_ms = 50;   // wait after the first failed attempt, doubling, ms
  int backoff_max_ms = 2000;     // longest wait between attempts, ms
  int kafka_timeout_ms = 30000;  // per transactional call and per delivery attempt, ms
  int stop_grace_ms = 30000;     // after a stop request, keep trying to deliver the batch in hand this long, ms
  int lag_interval_ms = 1000;    // refresh ovoflow_consumer_lag at most this often, ms
  DeadLetterLimits dead_letters;
  // Called after delivery with each dead-lettered (or, observing, skipped)
  // message and why; may be empty. Runs on the runtime's thread.
  std::function<void(const Message& original, const Rejection& why)> on_rejected;
};

// Creates the stage's producer: transactional (a transactional_id) for
// kTransactional, idempotent for kAtLeastOnce. Called again to replace a
// fenced or broken transactional producer.
using ProducerFactory = std::function<Result<std::unique_ptr<Producer>>()>;

// Not thread-safe: one thread runs it. stalled() may be read from any thread.
class StageRuntime {
 public:
  // `consumer` is owned; `stage` and `clock` are not and must outlive the
  // runtime. `make_producer` is required unless the delivery is kObserve.
  // For kTransactional the producer is registered with the transaction
  // coordinator here (InitTransactions, retried while the cluster is away,
  // for at most 60 s). InvalidArgument for bad options.
  static Result<std::unique_ptr<StageRuntime>> Create(const StageRuntimeOptions& options,
                                                      std::unique_ptr<Consumer> consumer, ProducerFactory make_producer,
                                                      Stage* stage, const Clock* clock = &SystemClock());
  ~StageRuntime();  // closes the consumer; clears the stage's /readyz problem

  // Runs batches until `stop` is true, then leaves the group (the batch in
  // hand is delivered first; one whose transaction aborted is read and
  // delivered again) and flushes the producer. Non-OK only when the stage
  // cannot go on: a producer that cannot be created, a stop request while
  // the batch in hand could not be processed (its processing is not
  // retried after a stop) or not delivered within stop_grace_ms (its
  // offsets stay uncommitted, so the next owner processes it).
  Status Run(const std::atomic<bool>& stop);
  // One poll-process-deliver cycle. The number of messages delivered (0 when
  // none came, or when delivery failed and the batch will be read again).
  // Errors as Run.
  Result<int> RunOnce(const std::atomic<bool>& stop);

  bool stalled() const { return stalled_.load(); }
  Consumer& consumer() { return *consumer_; }
  const StageRuntimeOptions& options() const { return options_; }

 private:
  StageRuntime() = default;
  struct Metrics;

  Status StartProducer(const std::function<bool()>& give_up);
  Result<std::vector<Message>> PollBatch();
  // Stage::Process with failure isolation (splitting on non-retryable errors).
  Result<BatchOutcome> ProcessIsolating(std::span<const Message> batch, std::size_t base, int depth);
  // Delivers `messages` with the batch's offsets, retrying with backoff.
  // True when delivered; false when a transaction was aborted and the
  // consumer rewound (the batch is read again); an error only once a stop
  // request's grace ran out or a producer cannot be recreated.
  Result<bool> Deliver(const std::vector<Message>& batch, const std::vector<OutgoingMessage>& messages,
                       const std::atomic<bool>& stop);
  Status DeliverInTransaction(const std::vector<Message>& batch, const std::vector<OutgoingMessage>& messages,
                              const std::atomic<bool>& stop);
  Status DeliverAtLeastOnce(const std::vector<Message>& batch, const std::vector<OutgoingMessage>& messages,
                            const std::atomic<bool>& stop);
  void Delivered(const std::vector<Message>& batch, BatchOutcome& outcome);
  // Counts a failed attempt at `batch`; reports the stage stalled after
  // stall_after_attempts in a row; waits the backoff.
  void Failed(const std::vector<Message>& batch, const Status& why);
  void Succeeded();
  void MaybeUpdateLag(bool force);
  // True once `stop` has been set for stop_grace_ms (one deadline for the
  // whole stop, wherever it is checked).
  bool PastGrace(const std::atomic<bool>& stop);
  std::string ReadinessName() const;
  // Forgets the aborted batch's and the stall's partitions that moved to
  // another member (a stall on them is over for this member).
  void ForgetRevoked();

  StageRuntimeOptions options_;
  std::unique_ptr<Consumer> consumer_;
  ProducerFactory make_producer_;
  std::unique_ptr<Producer> producer_;
  Stage* stage_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<Metrics> metrics_;
  int failures_in_a_row_ = 0;
  int commit_failures_in_a_row_ = 0;               // at least once: batches delivered whose offsets were not committed
  std::vector<TopicPartitionOffset> undelivered_;  // first offsets of the last aborted batch; empty once delivered
  std::vector<TopicPartitionOffset> stalled_at_;   // first offsets of the batch failing now
  int64_t stop_seen_ns_ = 0;                       // monotonic time the stop request was first seen
  std::string processing_failure_;                 // why the last batch could not be processed; empty once it was
  int64_t last_lag_ns_ = 0;                        // monotonic time of the last lag refresh
  std::atomic<bool> stalled_{false};
  bool closed_ = false;
};

}  // namespace ovoflow::bus
