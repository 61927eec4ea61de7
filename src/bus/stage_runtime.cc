#include "bus/stage_runtime.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "bus/publish.h"
#include "common/metrics.h"
#include "common/readiness.h"
#include "common/validation.h"

namespace ovoflow::bus {
namespace {

constexpr int64_t kMs = 1'000'000;

// Families shared by every stage; each runtime adds its own labels.
struct Families {
  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Family<prometheus::Histogram>& batch_size;
  prometheus::Family<prometheus::Histogram>& processing_seconds;
  prometheus::Family<prometheus::Counter>& transactions;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Family<prometheus::Counter>& isolations;
  prometheus::Family<prometheus::Counter>& producer_restarts;
  prometheus::Family<prometheus::Counter>& skipped;
  prometheus::Family<prometheus::Gauge>& stalled;
  prometheus::Family<prometheus::Gauge>& lag;

  static Families& Get() {
    static Families* f = [] {
      auto& reg = MetricsRegistry();
      return new Families{
          prometheus::BuildCounter()
              .Name("ovoflow_stage_messages_total")
              .Help("Messages a stage processed and delivered (outputs, dead letters and offsets committed)")
              .Register(reg),
          prometheus::BuildHistogram()
              .Name("ovoflow_stage_batch_size")
              .Help("Messages per batch a stage processed")
              .Register(reg),
          prometheus::BuildHistogram()
              .Name("ovoflow_stage_processing_seconds")
              .Help("Time a stage spent processing one batch (its splits included)")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_stage_transactions_total")
              .Help("Kafka transactions of a stage, by result (committed, aborted)")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_stage_retries_total")
              .Help("Failed attempts at a batch that the stage retried")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_stage_isolations_total")
              .Help("Batches split to find the records that fail alone")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_stage_producer_restarts_total")
              .Help("Transactional producers recreated after being fenced or a fatal error")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_stage_skipped_total")
              .Help("Records a read-only stage could not use, by reason (not dead-lettered)")
              .Register(reg),
          prometheus::BuildGauge()
              .Name("ovoflow_stage_stalled")
              .Help("Members of a stage that cannot make progress on a batch (see their log and /readyz)")
              .Register(reg),
          prometheus::BuildGauge()
              .Name("ovoflow_consumer_lag")
              .Help("Messages not yet consumed on a member's assigned partitions, by consumer group and member")
              .Register(reg),
      };
    }();
    return *f;
  }
};

std::string Printable(std::string_view s, std::size_t max_bytes = 80) {
  std::string out = SanitizeUtf8(s.substr(0, max_bytes));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  if (s.size() > max_bytes) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace

std::optional<Rejection> CheckMessageSize(const Message& m, std::size_t index, std::size_t max_value_bytes) {
  if (m.value.size() > max_value_bytes)
    return Rejection{
        index, "oversized",
        "message of " + std::to_string(m.value.size()) + " bytes exceeds " + std::to_string(max_value_bytes)};
  if (Status st = CheckKey(m.key); !st.ok()) return Rejection{index, "oversized", st.message()};
  return std::nullopt;
}

struct StageRuntime::Metrics {
  prometheus::Counter& messages;
  prometheus::Histogram& batch_size;
  prometheus::Histogram& processing_seconds;
  prometheus::Counter& committed;
  prometheus::Counter& aborted;
  prometheus::Counter& retries;
  prometheus::Counter& isolations;
  prometheus::Counter& producer_restarts;
  prometheus::Gauge& stalled;
  prometheus::Gauge& lag;
  std::string stage;

  Metrics(const std::string& s, const std::string& group, const std::string& instance)
      : messages(Families::Get().messages.Add({{"stage", s}})),
        batch_size(Families::Get().batch_size.Add(
            {{"stage", s}}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
        processing_seconds(Families::Get().processing_seconds.Add({{"stage", s}}, LatencyBucketsSeconds())),
        committed(Families::Get().transactions.Add({{"stage", s}, {"result", "committed"}})),
        aborted(Families::Get().transactions.Add({{"stage", s}, {"result", "aborted"}})),
        retries(Families::Get().retries.Add({{"stage", s}})),
        isolations(Families::Get().isolations.Add({{"stage", s}})),
        producer_restarts(Families::Get().producer_restarts.Add({{"stage", s}})),
        stalled(Families::Get().stalled.Add({{"stage", s}})),
        lag(Families::Get().lag.Add({{"group", group}, {"instance", instance}})),
        stage(s) {}

  void Skipped(const std::string& kind) {
    Families::Get().skipped.Add({{"stage", stage}, {"reason", kind}}).Increment();
  }
};

Result<std::unique_ptr<StageRuntime>> StageRuntime::Create(const StageRuntimeOptions& options,
                                                           std::unique_ptr<Consumer> consumer,
                                                           ProducerFactory make_producer, Stage* stage,
                                                           const Clock* clock) {
  if (options.stage.empty()) return Status::InvalidArgument("a stage runtime needs a stage name");
  if (!consumer) return Status::InvalidArgument("stage " + options.stage + " needs a consumer");
  if (stage == nullptr) return Status::InvalidArgument("stage " + options.stage + " needs a Stage");
  if (clock == nullptr) return Status::InvalidArgument("stage " + options.stage + " needs a clock");
  if (options.delivery != Delivery::kObserve && !make_producer)
    return Status::InvalidArgument("stage " + options.stage + " delivers outputs and needs a producer");
  if (options.max_batch < 1) return Status::InvalidArgument("max_batch must be >= 1");
  if (options.max_wait_ms < 0 || options.poll_timeout_ms < 0)
    return Status::InvalidArgument("max_wait_ms and poll_timeout_ms must be >= 0");
  if (options.stall_after_attempts < 1) return Status::InvalidArgument("stall_after_attempts must be >= 1");
  if (options.backoff_initial_ms < 0 || options.backoff_max_ms < options.backoff_initial_ms)
    return Status::InvalidArgument("backoff must satisfy 0 <= initial <= max");
  if (options.kafka_timeout_ms < 1 || options.stop_grace_ms < 0)
    return Status::InvalidArgument("kafka_timeout_ms must be >= 1 and stop_grace_ms >= 0");
  std::unique_ptr<StageRuntime> rt(new StageRuntime());
  rt->options_ = options;
  if (rt->options_.group_id.empty()) rt->options_.group_id = options.stage;
  rt->consumer_ = std::move(consumer);
  rt->make_producer_ = std::move(make_producer);
  rt->stage_ = stage;
  rt->clock_ = clock;
  rt->metrics_ = std::make_unique<Metrics>(rt->options_.stage, rt->options_.group_id, rt->options_.instance);
  if (options.delivery != Delivery::kObserve) {
    const int64_t start = clock->MonotonicNanos();
    OVOFLOW_RETURN_IF_ERROR(rt->StartProducer([&] { return clock->MonotonicNanos() - start > int64_t{60'000} * kMs; }));
  }
  return rt;
}

StageRuntime::~StageRuntime() {
  if (!closed_ && consumer_) consumer_->Close();
  if (stalled_.load()) {
    metrics_->stalled.Decrement();
    Readiness::Clear(ReadinessName());
  }
  Readiness::Clear(ReadinessName() + " commits");
}

std::string StageRuntime::ReadinessName() const {
  return "stage " + options_.stage + (options_.instance.empty() ? "" : " (" + options_.instance + ")");
}

Status StageRuntime::StartProducer(const std::function<bool()>& give_up) {
  producer_.reset();  // a fenced producer goes before its successor registers
  OVOFLOW_ASSIGN_OR_RETURN(producer_, make_producer_());
  if (options_.delivery != Delivery::kTransactional) return Status::Ok();
  for (;;) {
    Status st = producer_->InitTransactions(options_.kafka_timeout_ms);
    if (st.ok() || !st.retryable() || give_up()) return st;
    spdlog::warn("{}: {} (retrying)", options_.stage, st.ToString());
    clock_->SleepFor(500 * kMs);
  }
}

Result<std::vector<Message>> StageRuntime::PollBatch() {
  OVOFLOW_ASSIGN_OR_RETURN(std::vector<Message> batch, consumer_->Poll(options_.max_batch, options_.poll_timeout_ms));
  if (batch.empty()) return batch;
  const int64_t deadline = clock_->MonotonicNanos() + int64_t{options_.max_wait_ms} * kMs;
  while (static_cast<int>(batch.size()) < options_.max_batch) {
    const int64_t left_ms = (deadline - clock_->MonotonicNanos()) / kMs;
    if (left_ms <= 0) break;
    OVOFLOW_ASSIGN_OR_RETURN(
        std::vector<Message> more,
        consumer_->Poll(options_.max_batch - static_cast<int>(batch.size()), static_cast<int>(left_ms)));
    for (auto& m : more) batch.push_back(std::move(m));
  }
  return batch;
}

Result<BatchOutcome> StageRuntime::ProcessIsolating(std::span<const Message> batch, std::size_t base, int depth) {
  Result<BatchOutcome> r = stage_->Process(batch);
  if (r.ok()) {
    for (Rejection& rej : r->rejections) {
      if (rej.index >= batch.size())  // a stage's broken invariant: hold the batch, never index past it
        return Status::Internal("stage " + options_.stage + " rejected record #" + std::to_string(rej.index) +
                                " of a batch of " + std::to_string(batch.size()));
      rej.index += base;
    }
    return r;
  }
  // Only a record can be at fault for InvalidArgument; anything else (the
  // database refuses access, the model's device failed) holds the batch.
  if (r.status().code() != StatusCode::kInvalidArgument) return r.status();
  if (batch.size() == 1) {
    BatchOutcome one;
    one.rejections.push_back({base, "rejected", r.status().message()});
    return one;
  }
  if (depth == 0) metrics_->isolations.Increment();
  const std::size_t half = batch.size() / 2;
  OVOFLOW_ASSIGN_OR_RETURN(BatchOutcome left, ProcessIsolating(batch.first(half), base, depth + 1));
  OVOFLOW_ASSIGN_OR_RETURN(BatchOutcome right, ProcessIsolating(batch.subspan(half), base + half, depth + 1));
  for (auto& m : right.outputs) left.outputs.push_back(std::move(m));
  for (auto& rej : right.rejections) left.rejections.push_back(std::move(rej));
  for (auto& f : right.on_delivered) left.on_delivered.push_back(std::move(f));
  return left;
}

bool StageRuntime::PastGrace(const std::atomic<bool>& stop) {
  if (!stop.load()) return false;
  const int64_t now = clock_->MonotonicNanos();
  if (stop_seen_ns_ == 0) stop_seen_ns_ = now;
  return now - stop_seen_ns_ >= int64_t{options_.stop_grace_ms} * kMs;
}

void StageRuntime::ForgetRevoked() {
  if (!processing_failure_.empty() && consumer_->Assigned(stalled_at_).empty()) processing_failure_.clear();
  if (!undelivered_.empty()) {
    const std::size_t before = undelivered_.size();
    undelivered_ = consumer_->Assigned(std::move(undelivered_));
    if (undelivered_.size() < before)
      spdlog::info("{}: partitions of the aborted batch moved to another member; it reads them", options_.stage);
  }
  if (stalled_.load() && consumer_->Assigned(stalled_at_).empty()) {
    spdlog::info("{}: the partitions it was stalled on moved to another member", options_.stage);
    Succeeded();
  }
}

Result<int> StageRuntime::RunOnce(const std::atomic<bool>& stop) {
  ForgetRevoked();
  stage_->BeforeBatch();
  Result<std::vector<Message>> polled = PollBatch();
  if (!polled.ok()) {  // a topic gone, access refused: counted and reported like a failed batch
    Failed({}, polled.status());
    return 0;
  }
  std::vector<Message> batch = std::move(polled).value();
  consumer_->DropUnassigned(&batch);  // revoked while polling: their new owner reads them
  if (batch.empty()) {
    MaybeUpdateLag(false);
    return 0;
  }
  // Processing: a failure that is not a record's is counted (a stall after
  // stall_after_attempts), waited out, and the batch is read again, so that
  // the next poll also learns of rebalances (a member that stopped polling
  // would leave its group).
  const int64_t t0 = clock_->MonotonicNanos();
  Result<BatchOutcome> processed = ProcessIsolating(batch, 0, 0);
  metrics_->processing_seconds.Observe(static_cast<double>(clock_->MonotonicNanos() - t0) / 1e9);
  if (!processed.ok()) {
    processing_failure_ = "the batch at " + DescribeOffsets(FirstOffsets(batch)) +
                          " could not be processed: " + processed.status().ToString();
    Failed(batch, processed.status());
    Status rewound = consumer_->Rewind(batch);
    if (!rewound.ok()) spdlog::warn("{}: {}", options_.stage, rewound.ToString());
    return 0;
  }
  processing_failure_.clear();
  BatchOutcome outcome = std::move(processed).value();

  std::vector<OutgoingMessage> messages = std::move(outcome.outputs);
  if (options_.delivery != Delivery::kObserve) {
    messages.reserve(messages.size() + outcome.rejections.size());
    for (const Rejection& rej : outcome.rejections)
      messages.push_back(DeadLetterFor(batch[rej.index], options_.stage, rej.kind, rej.reason, options_.dead_letters));
  }
  OVOFLOW_ASSIGN_OR_RETURN(const bool delivered, Deliver(batch, messages, stop));
  if (!delivered) {  // aborted and repositioned: the next poll reads the batch again
    undelivered_ = FirstOffsets(batch);
    return 0;
  }
  undelivered_.clear();
  Delivered(batch, outcome);
  return static_cast<int>(batch.size());
}

Result<bool> StageRuntime::Deliver(const std::vector<Message>& batch, const std::vector<OutgoingMessage>& messages,
                                   const std::atomic<bool>& stop) {
  if (options_.delivery == Delivery::kObserve) return true;
  for (;;) {
    Status st = options_.delivery == Delivery::kTransactional ? DeliverInTransaction(batch, messages, stop)
                                                              : DeliverAtLeastOnce(batch, messages, stop);
    if (st.ok()) return true;
    if (PastGrace(stop))
      return Status::Unavailable("stopped with " + std::to_string(batch.size()) +
                                 " messages undelivered (offsets left uncommitted): " + st.message());
    Failed(batch, st);
    if (options_.delivery != Delivery::kTransactional) continue;  // publish again
    if (st.code() == StatusCode::kInternal) {
      // The transaction's outcome is unknown (fenced, fatal, or not aborted):
      // a new producer with the same transactional.id completes or aborts
      // it, and the group's committed offsets then say what was delivered.
      metrics_->producer_restarts.Increment();
      spdlog::warn("{}: recreating the transactional producer", options_.stage);
      OVOFLOW_RETURN_IF_ERROR(StartProducer([&] { return PastGrace(stop); }));
      Status moved = consumer_->SeekToCommitted(batch);
      if (!moved.ok())
        spdlog::warn("{}: {} (the partition's owner re-reads from its committed offset)", options_.stage,
                     moved.ToString());
      return false;
    }
    Status rewound = consumer_->Rewind(batch);  // aborted: nothing of it is visible
    if (!rewound.ok())
      spdlog::warn("{}: {} (the partition's owner re-reads from its committed offset)", options_.stage,
                   rewound.ToString());
    return false;
  }
}

Status StageRuntime::DeliverInTransaction(const std::vector<Message>& batch,
                                          const std::vector<OutgoingMessage>& messages, const std::atomic<bool>& stop) {
  const int64_t start = clock_->MonotonicNanos();
  auto give_up = [&] {
    return PastGrace(stop) || clock_->MonotonicNanos() - start > int64_t{options_.kafka_timeout_ms} * kMs;
  };
  Status st = producer_->BeginTransaction();
  for (std::size_t i = 0; st.ok() && i < messages.size(); ++i) {
    const OutgoingMessage& m = messages[i];
    st = producer_->Send(m.topic, m.key, m.value, m.headers);
    if (st.code() == StatusCode::kResourceExhausted && !give_up()) {  // local queue full: let it drain
      clock_->SleepFor(10 * kMs);
      --i;
      st = Status::Ok();
    }
  }
  if (st.ok()) {
    Result<std::string> group = consumer_->GroupMetadata();
    st = group.ok() ? producer_->SendOffsetsToTransaction(NextOffsets(batch), *group, options_.kafka_timeout_ms)
                    : group.status();
  }
  // A retriable commit error means the commit goes on in the background:
  // commit again, never abort (an abort now could lose the race with a
  // commit that succeeds). Only a stop request's grace ends the wait, with
  // the outcome left to the broker.
  int commit_retries = 0;
  int64_t window_start = clock_->MonotonicNanos();
  while (st.ok()) {
    st = producer_->CommitTransaction(options_.kafka_timeout_ms);
    if (st.ok() || !st.retryable()) break;
    if (PastGrace(stop))
      return Status::Unavailable("stopped while the commit was in doubt (the broker completes or aborts it): " +
                                 st.message());
    if (++commit_retries % 50 == 1) spdlog::warn("{}: {} (committing again)", options_.stage, st.ToString());
    if (clock_->MonotonicNanos() - window_start > int64_t{options_.kafka_timeout_ms} * kMs) {
      Failed(batch, st);  // counted towards a stall; the commit goes on
      window_start = clock_->MonotonicNanos();
    } else {
      clock_->SleepFor(100 * kMs);
    }
    st = Status::Ok();
  }
  if (st.ok()) {
    metrics_->committed.Increment();
    return st;
  }
  metrics_->aborted.Increment();
  if (st.code() != StatusCode::kInternal) {
    Status aborted = producer_->AbortTransaction(options_.kafka_timeout_ms);
    if (!aborted.ok()) {
      spdlog::warn("{}: {}", options_.stage, aborted.ToString());
      return Status::Internal("transaction not committed (" + st.message() + ") and not aborted (" + aborted.message() +
                              ")");  // cannot tell where it stands: start over
    }
  }
  return st;
}

Status StageRuntime::DeliverAtLeastOnce(const std::vector<Message>& batch, const std::vector<OutgoingMessage>& messages,
                                        const std::atomic<bool>& stop) {
  const int64_t start = clock_->MonotonicNanos();
  OVOFLOW_RETURN_IF_ERROR(PublishAll(*producer_, messages, [&] {
    return PastGrace(stop) || clock_->MonotonicNanos() - start > int64_t{options_.kafka_timeout_ms} * kMs;
  }));
  Status commit = consumer_->Commit(batch);
  if (commit.ok() || commit.code() == StatusCode::kFailedPrecondition) {
    // FailedPrecondition: the partitions moved; their new owner re-reads
    // and the store de-duplicates.
    if (!commit.ok()) spdlog::info("{}: {}", options_.stage, commit.ToString());
    commit_failures_in_a_row_ = 0;
    Readiness::Clear(ReadinessName() + " commits");
    return Status::Ok();
  }
  // Delivered, offsets not committed: a restart would read the batch again
  // (the store de-duplicates). Not retried, but reported when it lasts.
  spdlog::warn("{}: {} (the batch will be read again and de-duplicated)", options_.stage, commit.ToString());
  if (++commit_failures_in_a_row_ >= options_.stall_after_attempts)
    Readiness::Report(ReadinessName() + " commits", "offsets of " + std::to_string(commit_failures_in_a_row_) +
                                                        " batches in a row not committed: " + commit.ToString());
  return Status::Ok();
}

void StageRuntime::Delivered(const std::vector<Message>& batch, BatchOutcome& outcome) {
  Succeeded();
  metrics_->messages.Increment(static_cast<double>(batch.size()));
  metrics_->batch_size.Observe(static_cast<double>(batch.size()));
  for (const Rejection& rej : outcome.rejections) {
    const Message& m = batch[rej.index];
    if (options_.on_rejected) options_.on_rejected(m, rej);
    if (options_.delivery == Delivery::kObserve) {
      metrics_->Skipped(rej.kind);
      spdlog::warn("{}: skipping {}[{}]@{} key='{}' ({}): {}", options_.stage, m.topic, m.partition, m.offset,
                   Printable(m.key), rej.kind, Printable(rej.reason, 400));
    } else {
      CountDeadLetter(options_.stage, rej.kind);
      spdlog::warn("{}: dead-lettered {}[{}]@{} key='{}' ({}): {}", options_.stage, m.topic, m.partition, m.offset,
                   Printable(m.key), rej.kind, Printable(rej.reason, 400));
    }
  }
  for (auto& f : outcome.on_delivered) f();
  MaybeUpdateLag(true);
}

void StageRuntime::Failed(const std::vector<Message>& batch, const Status& why) {
  metrics_->retries.Increment();
  ++failures_in_a_row_;
  const std::string where = batch.empty() ? std::string("polling") : DescribeOffsets(FirstOffsets(batch));
  if (!batch.empty()) stalled_at_ = FirstOffsets(batch);
  if (failures_in_a_row_ == options_.stall_after_attempts) {
    stalled_ = true;
    metrics_->stalled.Increment();
    const std::string problem =
        "stalled at " + where + " after " + std::to_string(failures_in_a_row_) + " failed attempts: " + why.ToString();
    Readiness::Report(ReadinessName(), problem);
    spdlog::error("{}: {}", options_.stage, problem);
  } else if (failures_in_a_row_ < options_.stall_after_attempts || failures_in_a_row_ % 20 == 0) {
    spdlog::warn("{}: attempt {} at {} failed: {}", options_.stage, failures_in_a_row_, where, why.ToString());
  }
  const int shift = std::min(failures_in_a_row_ - 1, 16);
  const int64_t backoff_ms = std::min<int64_t>(options_.backoff_max_ms, int64_t{options_.backoff_initial_ms} << shift);
  clock_->SleepFor(backoff_ms * kMs);
}

void StageRuntime::Succeeded() {
  if (stalled_.exchange(false)) {
    metrics_->stalled.Decrement();
    Readiness::Clear(ReadinessName());
    spdlog::info("{}: moving again after {} failed attempts", options_.stage, failures_in_a_row_);
  }
  failures_in_a_row_ = 0;
}

void StageRuntime::MaybeUpdateLag(bool force) {
  const int64_t now = clock_->MonotonicNanos();
  if (!force && now - last_lag_ns_ < int64_t{options_.lag_interval_ms} * kMs) return;
  last_lag_ns_ = now;
  const int64_t lag = consumer_->Lag();
  if (lag >= 0) metrics_->lag.Set(static_cast<double>(lag));
}

Status StageRuntime::Run(const std::atomic<bool>& stop) {
  Status result = Status::Ok();
  for (;;) {
    // After a stop request, a batch whose transaction was aborted is read
    // again (with what else arrived on its partitions) and delivered, for
    // at most stop_grace_ms; partitions that moved to another member meanwhile
    // are its new owner's.
    if (stop.load()) {
      ForgetRevoked();
      if (!processing_failure_.empty()) {  // not retried after a stop: its offsets stay uncommitted
        result = Status::Unavailable("stopped while " + processing_failure_);
        break;
      }
      if (undelivered_.empty()) break;
      if (PastGrace(stop)) {
        result = Status::Unavailable("stopped with the batch at " + DescribeOffsets(undelivered_) +
                                     " undelivered (offsets left uncommitted)");
        break;
      }
    }
    Result<int> n = RunOnce(stop);
    if (!n.ok()) {
      result = n.status();
      break;
    }
  }
  consumer_->Close();
  closed_ = true;
  if (producer_ && options_.delivery == Delivery::kAtLeastOnce) {
    Status flushed = producer_->Flush(options_.kafka_timeout_ms);
    if (result.ok()) result = flushed;
  }
  return result;
}

}  // namespace ovoflow::bus
