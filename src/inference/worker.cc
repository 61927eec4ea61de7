#include "inference/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "bus/batch.h"
#include "bus/consumer.h"
#include "bus/dead_letter.h"
#include "bus/producer.h"
#include "bus/publish.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "inference/model_control.h"
#include "inference/model_switch.h"
#include "inference/tenant_thresholds.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::inference {
namespace {

struct WorkerMetrics {
  prometheus::Counter& consumed;
  prometheus::Family<prometheus::Counter>& predictions;
  prometheus::Histogram& batch_size;
  prometheus::Histogram& inference_seconds;
  prometheus::Histogram& capture_to_inference_seconds;
  prometheus::Gauge& lag;
  prometheus::Family<prometheus::Counter>& transactions;
  prometheus::Counter& producer_restarts;
  prometheus::Family<prometheus::Counter>& threshold_reloads;

  static WorkerMetrics& Get(const std::string& group) {
    static WorkerMetrics* m = [&] {
      auto& reg = MetricsRegistry();
      return new WorkerMetrics{
          prometheus::BuildCounter().Name("ovoflow_scans_consumed_total")
              .Help("Scan messages taken from the scans topic by inference workers").Register(reg).Add({}),
          prometheus::BuildCounter().Name("ovoflow_predictions_total")
              .Help("Predictions published, by decision").Register(reg),
          prometheus::BuildHistogram().Name("ovoflow_inference_batch_size")
              .Help("Scans per model forward pass").Register(reg)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
          prometheus::BuildHistogram().Name("ovoflow_inference_seconds")
              .Help("Model forward pass time per batch").Register(reg)
              .Add({}, LatencyBucketsSeconds()),
          prometheus::BuildHistogram().Name("ovoflow_capture_to_inference_seconds")
              .Help("Time from scan capture to model output").Register(reg)
              .Add({}, LatencyBucketsSeconds()),
          prometheus::BuildGauge().Name("ovoflow_consumer_lag")
              .Help("Messages not yet consumed on assigned partitions, by consumer group").Register(reg)
              .Add({{"group", group}}),
          prometheus::BuildCounter().Name("ovoflow_inference_transactions_total")
              .Help("Kafka transactions of inference workers, by result (committed, aborted)").Register(reg),
          prometheus::BuildCounter().Name("ovoflow_inference_producer_restarts_total")
              .Help("Transactional producers recreated after being fenced or a fatal error").Register(reg).Add({}),
          prometheus::BuildCounter().Name("ovoflow_thresholds_reloads_total")
              .Help("Changes of the thresholds file seen by inference workers, by result (applied, rejected)")
              .Register(reg),
      };
    }();
    return *m;
  }
};

// host-pid-n: unique per worker in a process, since it also names the
// worker's transactional producer (two live producers with one id fence
// each other).
std::string DefaultWorkerId() {
  static std::atomic<int> next{0};
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + std::to_string(next++);
}

bool Elapsed(int64_t start_ns, int64_t ns) { return SystemClock().MonotonicNanos() - start_ns > ns; }

}  // namespace

struct InferenceWorker::Impl {
  WorkerOptions options;
  ThresholdPolicy thresholds;
  std::optional<std::string> thresholds_text;  // the thresholds file as last read (applied or rejected)
  int64_t thresholds_checked_ns = 0;  // monotonic time of the last look at the file
  std::unique_ptr<ModelSwitch> models;
  std::unique_ptr<ActivationFollower> follower;  // after `models`: destroyed first (its thread calls models)
  std::unique_ptr<bus::Consumer> consumer;
  std::unique_ptr<bus::Producer> producer;
  WorkerMetrics* metrics = nullptr;
  int failed_deliveries = 0;  // in a row, for backoff

  bus::ProducerOptions ProducerConfig() const {
    bus::ProducerOptions po;
    po.brokers = options.brokers;
    po.client_id = "ovoflow-infer-" + options.worker_id;
    po.linger_ms = 2;
    if (options.exactly_once) {
      po.transactional_id = "ovoflow-infer-" + options.worker_id;
      po.transaction_timeout_ms = options.transaction_timeout_ms;
    }
    return po;
  }

  // Creates the producer and, when transactional, registers it with the
  // coordinator (retrying while the cluster is away, until `give_up`).
  Status StartProducer(const std::function<bool()>& give_up) {
    producer.reset();
    auto p = bus::Producer::Create(ProducerConfig());
    if (!p.ok()) return p.status();
    producer = std::move(p).value();
    if (!options.exactly_once) return Status::Ok();
    for (;;) {
      Status st = producer->InitTransactions(30000);
      if (st.ok()) return st;
      if (!st.retryable() || give_up()) return st;
      spdlog::warn("infer: {} (retrying)", st.ToString());
    }
  }

  // Exactly once: the batch's outputs and its input offsets go in one Kafka
  // transaction. On failure the transaction is aborted (or the producer
  // recreated when fenced or broken) and the consumer rewound, so the next
  // poll re-reads the batch; read_committed consumers never see the aborted
  // outputs. Non-OK only when the worker cannot go on.
  Status DeliverInTransaction(const std::vector<bus::Message>& batch, const std::vector<bus::OutgoingMessage>& out,
                              const std::atomic<bool>& stop) {
    const int64_t start = SystemClock().MonotonicNanos();
    auto give_up = [&] { return stop.load() && Elapsed(start, int64_t{30'000'000'000}); };
    Status st = producer->BeginTransaction();
    for (std::size_t i = 0; st.ok() && i < out.size(); ++i) {
      const auto& m = out[i];
      st = producer->Send(m.topic, m.key, m.value, m.headers);
      if (st.code() == StatusCode::kResourceExhausted && !give_up()) {  // local queue full: let it drain
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        --i;
        st = Status::Ok();
      }
    }
    if (st.ok()) st = producer->SendOffsetsToTransaction(*consumer, batch, 30000);
    if (st.ok()) {
      for (;;) {  // a retriable commit error means: call commit again
        st = producer->CommitTransaction(30000);
        if (!st.retryable() || give_up()) break;
        spdlog::warn("infer: {} (retrying the commit)", st.ToString());
      }
    }
    if (st.ok()) {
      metrics->transactions.Add({{"result", "committed"}}).Increment();
      failed_deliveries = 0;
      return st;
    }
    // Not committed: discard it and re-read the batch.
    metrics->transactions.Add({{"result", "aborted"}}).Increment();
    spdlog::warn("infer: transaction of {} scans not committed: {}", batch.size(), st.ToString());
    if (st.code() != StatusCode::kInternal) {
      Status aborted = producer->AbortTransaction(30000);
      if (!aborted.ok()) {
        spdlog::warn("infer: {}", aborted.ToString());
        st = Status::Internal(aborted.message());  // cannot tell where it stands: start over
      }
    }
    if (st.code() == StatusCode::kInternal) {
      metrics->producer_restarts.Increment();
      spdlog::warn("infer: recreating the transactional producer");
      OVOFLOW_RETURN_IF_ERROR(StartProducer(give_up));
    }
    Status rewound = consumer->Rewind(batch);
    if (!rewound.ok()) spdlog::warn("infer: {} (the partition's owner re-reads from its committed offset)", rewound.ToString());
    Backoff();
    return Status::Ok();
  }

  // At least once: publish, wait for every acknowledgement, then commit the
  // offsets (a crash in between re-processes the batch; the store skips
  // the repeats).
  Status DeliverAtLeastOnce(const std::vector<bus::Message>& batch, const std::vector<bus::OutgoingMessage>& out,
                            const std::atomic<bool>& stop) {
    const int64_t start = SystemClock().MonotonicNanos();
    Status pub = bus::PublishAll(*producer, out, [&] { return stop.load() && Elapsed(start, int64_t{30'000'000'000}); });
    if (!pub.ok()) return pub;
    Status commit = consumer->Commit(batch);
    if (!commit.ok()) spdlog::warn("infer: {} (the batch will be re-read by the partition's next owner)", commit.ToString());
    return Status::Ok();
  }

  void Backoff() {
    ++failed_deliveries;
    const int ms = std::min(2000, 50 << std::min(failed_deliveries, 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }

  // Between batches: when the thresholds file changed, its new bands apply
  // from the next batch on. A file that no longer reads or parses keeps the
  // bands in force (logged and counted once per change), so a typo never
  // stops the line.
  void MaybeReloadThresholds() {
    if (options.thresholds_file.empty() || options.thresholds_reload_ms <= 0) return;
    if (SystemClock().MonotonicNanos() - thresholds_checked_ns < int64_t{options.thresholds_reload_ms} * 1'000'000)
      return;
    auto changed = ReadThresholds();
    if (!changed.ok()) {
      spdlog::error("infer: thresholds file changed but is not applied, the previous bands stay: {}",
                    changed.status().ToString());
      metrics->threshold_reloads.Add({{"result", "rejected"}}).Increment();
    } else if (*changed) {
      spdlog::info("infer: thresholds file {} changed: its bands apply from the next batch", options.thresholds_file);
      metrics->threshold_reloads.Add({{"result", "applied"}}).Increment();
    }
  }

  // Reads the thresholds file; when its text differs from the last read,
  // parses it and makes its bands the policy. False when unchanged; the
  // read or parse error otherwise (the policy in force stays).
  Result<bool> ReadThresholds() {
    thresholds_checked_ns = SystemClock().MonotonicNanos();
    auto text = ReadThresholdsFile(options.thresholds_file);
    const std::string seen = text.ok() ? *text : "\n<unreadable>: " + text.status().message();
    if (seen == thresholds_text) return false;
    thresholds_text = seen;
    if (!text.ok()) return text.status();
    auto parsed = ParseTenantThresholds(*text, options.thresholds_file);
    if (!parsed.ok()) return parsed.status();
    thresholds = ThresholdPolicy(std::move(parsed).value(), FlagThresholds());
    return true;
  }

  std::optional<Thresholds> FlagThresholds() const {
    return options.thresholds_explicit ? std::optional(options.thresholds) : std::nullopt;
  }

  Status CheckGeometry(const v1::Volume& v) const {
    const ModelInfo& mi = models->active().classifier->info();
    if (v.dim_x() != mi.dim_x || v.dim_y() != mi.dim_y || v.dim_z() != mi.dim_z ||
        static_cast<uint32_t>(v.channels_size()) != mi.channels) {
      return Status::InvalidArgument("volume " + std::to_string(v.dim_x()) + "x" + std::to_string(v.dim_y()) + "x" +
                                     std::to_string(v.dim_z()) + "x" + std::to_string(v.channels_size()) +
                                     "ch does not match model input " + std::to_string(mi.dim_x) + "x" +
                                     std::to_string(mi.dim_y) + "x" + std::to_string(mi.dim_z) + "x" +
                                     std::to_string(mi.channels) + "ch");
    }
    return Status::Ok();
  }

  v1::Prediction MakePrediction(const v1::EggScan& scan, const bus::Message& msg, float p, int64_t consumed_ns,
                                int64_t inferred_ns) const {
    const LoadedModel& model = models->active();
    const Thresholds band = thresholds.For(scan.tenant_id(), model.metadata);
    v1::Prediction pred;
    pred.set_egg_id(scan.egg_id());
    pred.set_tenant_id(scan.tenant_id());
    pred.set_scanner_id(scan.scanner_id());
    pred.set_tray_id(scan.tray_id());
    pred.set_tray_position(scan.tray_position());
    pred.set_incubation_day(scan.incubation_day());
    pred.set_p_female(p);
    pred.set_sex(SexOf(p));
    pred.set_decision(Decide(p, band));
    pred.set_model_name(model.classifier->info().name);
    pred.set_model_version(model.classifier->info().version);
    pred.set_keep_threshold(band.keep_min_p_female);
    pred.set_divert_threshold(band.divert_max_p_female);
    pred.set_worker_id(options.worker_id);
    auto* t = pred.mutable_times();
    *t->mutable_captured_at() = scan.captured_at();
    *t->mutable_published_at() = ToTimestamp(msg.timestamp_ms * 1'000'000);
    *t->mutable_consumed_at() = ToTimestamp(consumed_ns);
    *t->mutable_inferred_at() = ToTimestamp(inferred_ns);
    return pred;
  }
};

InferenceWorker::~InferenceWorker() = default;

Result<std::unique_ptr<InferenceWorker>> InferenceWorker::Create(const WorkerOptions& options) {
  if (options.max_batch < 1 || options.max_batch > 1024)
    return Status::InvalidArgument("max_batch must be in 1..1024");
  if (options.max_wait_ms < 0) return Status::InvalidArgument("max_wait_ms must be >= 0");
  OVOFLOW_RETURN_IF_ERROR(ValidateThresholds(options.thresholds));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (impl->options.worker_id.empty()) impl->options.worker_id = DefaultWorkerId();
  if (options.thresholds_reload_ms < 0) return Status::InvalidArgument("thresholds_reload_ms must be >= 0");
  impl->thresholds = ThresholdPolicy({}, impl->FlagThresholds());
  if (!options.thresholds_file.empty()) {
    auto read = impl->ReadThresholds();  // the first read always counts as a change
    if (!read.ok()) return read.status();
  }
  auto model = LoadModelDir(options.model_dir, options.torch_threads);
  if (!model.ok()) return model.status();
  impl->models = std::make_unique<ModelSwitch>(ModelRegistry(options.registry_dir), options.torch_threads,
                                               std::move(model).value(), impl->options.worker_id);
  if (options.follow_activations) {
    FollowerOptions fo;
    fo.brokers = options.brokers;
    fo.topic = kModelsTopic;
    fo.client_id = "ovoflow-infer-" + impl->options.worker_id + "-models";
    fo.catch_up_timeout_ms = options.activation_catch_up_ms;
    ModelSwitch* sw = impl->models.get();
    impl->follower = ActivationFollower::Start(fo, [sw](const v1::ModelActivation& a) { sw->Apply(a); });
    impl->models->SwapPending();  // what the activations already on the topic loaded
  }

  bus::ConsumerOptions co;
  co.brokers = options.brokers;
  co.group_id = options.group_id;
  co.client_id = "ovoflow-infer-" + impl->options.worker_id;
  co.topics = {kScansTopic};
  auto consumer = bus::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  impl->consumer = std::move(consumer).value();

  impl->metrics = &WorkerMetrics::Get(options.group_id);
  const int64_t start = SystemClock().MonotonicNanos();
  OVOFLOW_RETURN_IF_ERROR(impl->StartProducer([&] { return Elapsed(start, int64_t{60'000'000'000}); }));

  std::unique_ptr<InferenceWorker> w(new InferenceWorker());
  w->impl_ = std::move(impl);
  spdlog::info("infer: worker {} loaded model {} {} (input {}x{}x{}), batch {} / {} ms", w->impl_->options.worker_id,
               w->model().name, w->model().version, w->model().dim_x, w->model().dim_y, w->model().dim_z,
               options.max_batch, options.max_wait_ms);
  return w;
}

const ModelInfo& InferenceWorker::model() const { return impl_->models->active().classifier->info(); }

Result<int> InferenceWorker::RunOnce(int poll_timeout_ms, const std::atomic<bool>& stop) {
  Impl& d = *impl_;
  d.models->SwapPending();  // between batches: the whole batch below is scored by one model
  d.MaybeReloadThresholds();  // likewise: one set of bands per batch
  auto polled = bus::PollBatch(*d.consumer, d.options.max_batch, poll_timeout_ms, d.options.max_wait_ms);
  if (!polled.ok()) return polled.status();
  std::vector<bus::Message>& batch = *polled;
  d.consumer->DropUnassigned(&batch);  // revoked while polling: its new owner takes them
  if (batch.empty()) return 0;
  const int64_t consumed_ns = SystemClock().NowUnixNanos();
  d.metrics->consumed.Increment(static_cast<double>(batch.size()));

  std::vector<bus::OutgoingMessage> out;
  out.reserve(batch.size());
  std::vector<v1::EggScan> scans;
  std::vector<const bus::Message*> sources;
  scans.reserve(batch.size());
  auto dead_letter = [&](const bus::Message& m, const char* kind, const std::string& reason) {
    spdlog::warn("infer: dead-lettering {}[{}]@{}: {}", m.topic, m.partition, m.offset, reason);
    bus::CountDeadLetter("infer", kind);
    out.push_back({kDeadLetterTopic, m.key, bus::EncodeDeadLetter(m, "infer", reason), bus::ChildTraceHeaders(m)});
  };
  for (const bus::Message& m : batch) {
    if (m.value.size() > d.options.max_message_bytes) {
      dead_letter(m, "oversized", "message of " + std::to_string(m.value.size()) + " bytes exceeds " +
                                      std::to_string(d.options.max_message_bytes));
      continue;
    }
    v1::EggScan scan;
    if (!scan.ParseFromString(m.value)) {
      dead_letter(m, "parse", "value is not a valid ovoflow.v1.EggScan protobuf");
      continue;
    }
    Status st = ValidateScan(scan, d.options.limits);
    if (st.ok()) st = d.CheckGeometry(scan.volume());
    if (!st.ok()) {
      dead_letter(m, "invalid", st.message());
      continue;
    }
    scans.push_back(std::move(scan));
    sources.push_back(&m);
  }

  if (!scans.empty()) {
    std::vector<const v1::Volume*> volumes;
    volumes.reserve(scans.size());
    for (const auto& s : scans) volumes.push_back(&s.volume());
    const int64_t t0 = SystemClock().MonotonicNanos();
    auto probs = d.models->active().classifier->PredictBatch(volumes);
    const int64_t t1 = SystemClock().MonotonicNanos();
    if (!probs.ok()) {
      // Geometry was checked, so this is a model failure: leave the batch
      // uncommitted for a healthy worker to take over.
      return Status::Internal("model failed on a batch of " + std::to_string(scans.size()) + ": " +
                              probs.status().message());
    }
    if (LoadedModel* shadow = d.models->shadow()) {
      std::vector<std::string> tenants;
      tenants.reserve(scans.size());
      for (const auto& s : scans) tenants.push_back(s.tenant_id());
      CompareShadow(*shadow, d.models->active(), volumes, tenants, *probs, d.thresholds);
    }
    d.metrics->batch_size.Observe(static_cast<double>(scans.size()));
    d.metrics->inference_seconds.Observe(static_cast<double>(t1 - t0) / 1e9);
    const int64_t inferred_ns = SystemClock().NowUnixNanos();
    for (std::size_t i = 0; i < scans.size(); ++i) {
      v1::Prediction pred = d.MakePrediction(scans[i], *sources[i], (*probs)[i], consumed_ns, inferred_ns);
      d.metrics->capture_to_inference_seconds.Observe(
          static_cast<double>(inferred_ns - FromTimestamp(scans[i].captured_at())) / 1e9);
      d.metrics->predictions.Add({{"decision", v1::Decision_Name(pred.decision())}}).Increment();
      out.push_back({kPredictionsTopic, pred.egg_id(), pred.SerializeAsString(), bus::ChildTraceHeaders(*sources[i])});
    }
  }

  // A stop request still finishes this batch; only a broker that stays
  // away for 30 s after it makes the worker give up (offsets uncommitted).
  Status delivered = d.options.exactly_once ? d.DeliverInTransaction(batch, out, stop)
                                            : d.DeliverAtLeastOnce(batch, out, stop);
  if (!delivered.ok()) return delivered;
  int64_t lag = d.consumer->Lag();
  if (lag >= 0) d.metrics->lag.Set(static_cast<double>(lag));
  return static_cast<int>(batch.size());
}

Status InferenceWorker::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    auto n = RunOnce(100, stop);
    if (!n.ok()) {
      impl_->consumer->Close();
      return n.status();
    }
  }
  Status st = impl_->producer->Flush(30000);
  impl_->consumer->Close();
  spdlog::info("infer: worker {} stopped", impl_->options.worker_id);
  return st;
}

}  // namespace ovoflow::inference
