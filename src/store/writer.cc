#include "store/writer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "bus/batch.h"
#include "bus/consumer.h"
#include "bus/dead_letter.h"
#include "bus/producer.h"
#include "bus/publish.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/topics.h"

namespace ovoflow::store {
namespace {

struct WriterMetrics {
  prometheus::Counter& stored;
  prometheus::Counter& duplicates;
  prometheus::Histogram& end_to_end_seconds;
  prometheus::Histogram& transaction_seconds;
  prometheus::Counter& retries;
  prometheus::Gauge& lag;

  static WriterMetrics& Get(const std::string& group) {
    static WriterMetrics* m = [&] {
      auto& reg = MetricsRegistry();
      return new WriterMetrics{
          prometheus::BuildCounter().Name("ovoflow_predictions_stored_total")
              .Help("Predictions newly stored").Register(reg).Add({}),
          prometheus::BuildCounter().Name("ovoflow_store_duplicates_total")
              .Help("Redelivered predictions skipped because the egg was already stored").Register(reg).Add({}),
          prometheus::BuildHistogram().Name("ovoflow_end_to_end_seconds")
              .Help("Time from scan capture to the prediction being stored").Register(reg)
              .Add({}, LatencyBucketsSeconds()),
          prometheus::BuildHistogram().Name("ovoflow_store_transaction_seconds")
              .Help("Database time per stored batch").Register(reg).Add({}, LatencyBucketsSeconds()),
          prometheus::BuildCounter().Name("ovoflow_store_retries_total")
              .Help("Batches retried because the database was busy or away").Register(reg).Add({}),
          prometheus::BuildGauge().Name("ovoflow_consumer_lag")
              .Help("Messages not yet consumed on assigned partitions, by consumer group").Register(reg)
              .Add({{"group", group}}),
      };
    }();
    return *m;
  }
};

// Why a prediction cannot be stored, or empty when it can.
std::string Invalid(const v1::Prediction& p) {
  if (p.egg_id().empty()) return "egg_id is empty";
  if (p.tenant_id().empty()) return "tenant_id is empty";
  if (!(p.p_female() >= 0.0f && p.p_female() <= 1.0f)) return "p_female is outside [0, 1]";
  if (p.decision() == v1::DECISION_UNSPECIFIED || !v1::Decision_IsValid(p.decision())) return "decision is unspecified";
  if (p.sex() == v1::SEX_UNSPECIFIED || !v1::Sex_IsValid(p.sex())) return "sex is unspecified";
  return {};
}

}  // namespace

struct StoreWriter::Impl {
  WriterOptions options;
  PredictionStore* store = nullptr;
  StoredCallback on_stored;
  std::unique_ptr<bus::Consumer> consumer;
  std::unique_ptr<bus::Producer> producer;  // dead letters only
  WriterMetrics* metrics = nullptr;
};

StoreWriter::~StoreWriter() = default;

Result<std::unique_ptr<StoreWriter>> StoreWriter::Create(const WriterOptions& options, PredictionStore* store,
                                                         StoredCallback on_stored) {
  if (store == nullptr) return Status::InvalidArgument("store writer needs a store");
  if (options.max_batch < 1) return Status::InvalidArgument("max_batch must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->store = store;
  impl->on_stored = std::move(on_stored);
  bus::ConsumerOptions co;
  co.brokers = options.brokers;
  co.group_id = options.group_id;
  co.client_id = "ovoflow-store";
  co.topics = {kPredictionsTopic};
  co.read_committed = true;
  auto consumer = bus::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  impl->consumer = std::move(consumer).value();
  bus::ProducerOptions po;
  po.brokers = options.brokers;
  po.client_id = "ovoflow-store";
  auto producer = bus::Producer::Create(po);
  if (!producer.ok()) return producer.status();
  impl->producer = std::move(producer).value();
  impl->metrics = &WriterMetrics::Get(options.group_id);
  std::unique_ptr<StoreWriter> w(new StoreWriter());
  w->impl_ = std::move(impl);
  return w;
}

Result<int> StoreWriter::RunOnce(int poll_timeout_ms, const std::atomic<bool>& stop) {
  Impl& d = *impl_;
  auto polled = bus::PollBatch(*d.consumer, d.options.max_batch, poll_timeout_ms, d.options.max_wait_ms);
  if (!polled.ok()) return polled.status();
  const std::vector<bus::Message>& batch = *polled;
  if (batch.empty()) return 0;

  std::vector<v1::Prediction> preds;
  std::vector<bus::OutgoingMessage> dead;
  preds.reserve(batch.size());
  for (const bus::Message& m : batch) {
    v1::Prediction p;
    std::string reason;
    if (!p.ParseFromString(m.value)) reason = "value is not a valid ovoflow.v1.Prediction protobuf";
    else reason = Invalid(p);
    if (!reason.empty()) {
      spdlog::warn("store: dead-lettering {}[{}]@{}: {}", m.topic, m.partition, m.offset, reason);
      bus::CountDeadLetter("store", "invalid");
      dead.push_back({kDeadLetterTopic, m.key, bus::EncodeDeadLetter(m, "store", reason), bus::ChildTraceHeaders(m)});
      continue;
    }
    preds.push_back(std::move(p));
  }

  // The database is the source of truth: retry a busy or absent database
  // until it answers; give up only on a stop request.
  int64_t stored_ns = 0;
  auto backoff = std::chrono::milliseconds(50);
  while (!preds.empty()) {
    stored_ns = SystemClock().NowUnixNanos();
    const int64_t t0 = SystemClock().MonotonicNanos();
    auto inserted = d.store->InsertBatch(preds, stored_ns);
    if (inserted.ok()) {
      d.metrics->transaction_seconds.Observe(static_cast<double>(SystemClock().MonotonicNanos() - t0) / 1e9);
      d.metrics->stored.Increment(static_cast<double>(*inserted));
      d.metrics->duplicates.Increment(static_cast<double>(static_cast<int64_t>(preds.size()) - *inserted));
      break;
    }
    if (!inserted.status().retryable()) {
      return Status::Internal("store: batch of " + std::to_string(preds.size()) +
                              " rejected: " + inserted.status().ToString());
    }
    d.metrics->retries.Increment();
    if (stop.load()) return inserted.status();
    spdlog::warn("store: {} (retrying in {} ms)", inserted.status().ToString(), backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  for (const auto& p : preds)
    d.metrics->end_to_end_seconds.Observe(static_cast<double>(stored_ns - FromTimestamp(p.times().captured_at())) / 1e9);

  if (!dead.empty()) {
    const int64_t start = SystemClock().MonotonicNanos();
    Status st = bus::PublishAll(*d.producer, dead, [&] {
      return stop.load() && SystemClock().MonotonicNanos() - start > int64_t{30'000'000'000};
    });
    if (!st.ok()) return st;
  }
  Status commit = d.consumer->Commit(batch);
  if (!commit.ok()) spdlog::warn("store: {} (the batch will be re-read and de-duplicated)", commit.ToString());
  int64_t lag = d.consumer->Lag();
  if (lag >= 0) d.metrics->lag.Set(static_cast<double>(lag));
  if (d.on_stored && !preds.empty()) d.on_stored(preds);
  return static_cast<int>(batch.size());
}

Status StoreWriter::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    auto n = RunOnce(100, stop);
    if (!n.ok()) {
      impl_->consumer->Close();
      return n.status();
    }
  }
  impl_->consumer->Close();
  spdlog::info("store: writer stopped");
  return impl_->producer->Flush(30000);
}

}  // namespace ovoflow::store
