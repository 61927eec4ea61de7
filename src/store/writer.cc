#include "store/writer.h"

#include "bus/consumer.h"
#include "bus/producer.h"
#include "bus/records.h"
#include "bus/stage_runtime.h"
#include "common/metrics.h"
#include "common/validation.h"

namespace ovoflow::store {
namespace {

struct WriterMetrics {
  prometheus::Counter& stored;
  prometheus::Counter& duplicates;
  prometheus::Histogram& end_to_end_seconds;
  prometheus::Histogram& transaction_seconds;

  static WriterMetrics& Get() {
    static WriterMetrics* m = [] {
      auto& reg = MetricsRegistry();
      return new WriterMetrics{
          prometheus::BuildCounter()
              .Name("ovoflow_predictions_stored_total")
              .Help("Predictions newly stored")
              .Register(reg)
              .Add({}),
          prometheus::BuildCounter()
              .Name("ovoflow_store_duplicates_total")
              .Help("Redelivered predictions skipped because the egg was already stored")
              .Register(reg)
              .Add({}),
          prometheus::BuildHistogram()
              .Name("ovoflow_end_to_end_seconds")
              .Help("Time from scan capture to the prediction being stored")
              .Register(reg)
              .Add({}, LatencyBucketsSeconds()),
          prometheus::BuildHistogram()
              .Name("ovoflow_store_transaction_seconds")
              .Help("Database time per stored batch")
              .Register(reg)
              .Add({}, LatencyBucketsSeconds()),
      };
    }();
    return *m;
  }
};

// Parses and checks each prediction, stores the good ones in one database
// transaction. A database error that is not retryable fails the batch, and
// the runtime narrows it down to the records the database refuses.
class PredictionStage final : public bus::Stage {
 public:
  PredictionStage(PredictionStore* store, StoredCallback on_stored, ModelCheck known_model)
      : store_(store), on_stored_(std::move(on_stored)), known_model_(std::move(known_model)) {}

  Result<bus::BatchOutcome> Process(std::span<const bus::Message> batch) override {
    bus::BatchOutcome out;
    std::vector<v1::Prediction> preds;
    preds.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      v1::Prediction p;
      if (auto bad = bus::ReadPrediction(batch[i], i, &p)) {
        out.rejections.push_back(std::move(*bad));
        continue;
      }
      if (known_model_) {
        Result<bool> known = known_model_(p.model_name(), p.model_version());
        if (!known.ok()) return Status::Unavailable("model check: " + known.status().message());  // held
        if (!*known) {
          out.rejections.push_back(
              {i, "unknown_model",
               "model " + p.model_name() + " " + p.model_version() + " is not in the model registry"});
          continue;
        }
      }
      preds.push_back(std::move(p));
    }
    if (preds.empty()) return out;

    WriterMetrics& metrics = WriterMetrics::Get();
    const int64_t stored_ns = SystemClock().NowUnixNanos();
    const int64_t t0 = SystemClock().MonotonicNanos();
    Result<int64_t> inserted = store_->InsertBatch(preds, stored_ns);
    if (!inserted.ok()) return inserted.status();  // retryable: held and retried; else: narrowed down
    metrics.transaction_seconds.Observe(static_cast<double>(SystemClock().MonotonicNanos() - t0) / 1e9);
    metrics.stored.Increment(static_cast<double>(*inserted));
    metrics.duplicates.Increment(static_cast<double>(static_cast<int64_t>(preds.size()) - *inserted));
    for (const auto& p : preds)
      metrics.end_to_end_seconds.Observe(SecondsBetween(FromTimestamp(p.times().captured_at()), stored_ns));
    if (on_stored_) out.on_delivered.push_back([this, stored = std::move(preds)] { on_stored_(stored); });
    return out;
  }

 private:
  PredictionStore* store_;
  StoredCallback on_stored_;
  ModelCheck known_model_;
};

}  // namespace

struct StoreWriter::Impl {
  std::unique_ptr<PredictionStage> stage;
  std::unique_ptr<bus::StageRuntime> runtime;  // after `stage`: destroyed first
};

StoreWriter::~StoreWriter() = default;

Result<std::unique_ptr<StoreWriter>> StoreWriter::Create(const WriterOptions& options, PredictionStore* store,
                                                         StoredCallback on_stored, ModelCheck known_model) {
  if (store == nullptr) return Status::InvalidArgument("store writer needs a store");
  auto impl = std::make_unique<Impl>();
  impl->stage = std::make_unique<PredictionStage>(store, std::move(on_stored), std::move(known_model));
  bus::ConsumerOptions co;
  co.brokers = options.brokers;
  co.group_id = options.group_id;
  co.client_id = "ovoflow-store";
  co.topics = {kPredictionsTopic};
  co.read_committed = true;
  OVOFLOW_ASSIGN_OR_RETURN(std::unique_ptr<bus::Consumer> consumer, bus::Consumer::Create(co));
  bus::ProducerOptions po;  // dead letters only
  po.brokers = options.brokers;
  po.client_id = "ovoflow-store";
  bus::StageRuntimeOptions ro;
  ro.stage = "store";
  ro.group_id = options.group_id;
  ro.delivery = bus::Delivery::kAtLeastOnce;
  ro.max_batch = options.max_batch;
  ro.max_wait_ms = options.max_wait_ms;
  ro.poll_timeout_ms = options.poll_timeout_ms;
  ro.stall_after_attempts = options.stall_after_attempts;
  if (options.on_dead_letter)
    ro.on_rejected = [f = options.on_dead_letter](const bus::Message& m, const bus::Rejection&) { f(m.key); };
  OVOFLOW_ASSIGN_OR_RETURN(impl->runtime,
                           bus::StageRuntime::Create(
                               ro, std::move(consumer), [po] { return bus::Producer::Create(po); }, impl->stage.get()));
  std::unique_ptr<StoreWriter> w(new StoreWriter());
  w->impl_ = std::move(impl);
  return w;
}

Result<int> StoreWriter::RunOnce(const std::atomic<bool>& stop) { return impl_->runtime->RunOnce(stop); }

Status StoreWriter::Run(const std::atomic<bool>& stop) { return impl_->runtime->Run(stop); }

bool StoreWriter::stalled() const { return impl_->runtime->stalled(); }

}  // namespace ovoflow::store
