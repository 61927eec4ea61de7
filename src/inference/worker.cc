#include "inference/worker.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "bus/consumer.h"
#include "bus/producer.h"
#include "bus/records.h"
#include "bus/stage_runtime.h"
#include "bus/trace_headers.h"
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
  prometheus::Family<prometheus::Counter>& threshold_reloads;

  static WorkerMetrics& Get() {
    static WorkerMetrics* m = [] {
      auto& reg = MetricsRegistry();
      return new WorkerMetrics{
          prometheus::BuildCounter()
              .Name("ovoflow_scans_consumed_total")
              .Help("Scan messages inference workers processed and delivered")
              .Register(reg)
              .Add({}),
          prometheus::BuildCounter()
              .Name("ovoflow_predictions_total")
              .Help("Predictions published, by decision")
              .Register(reg),
          prometheus::BuildHistogram()
              .Name("ovoflow_inference_batch_size")
              .Help("Scans per model forward pass")
              .Register(reg)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}),
          prometheus::BuildHistogram()
              .Name("ovoflow_inference_seconds")
              .Help("Model forward pass time per batch")
              .Register(reg)
              .Add({}, LatencyBucketsSeconds()),
          prometheus::BuildHistogram()
              .Name("ovoflow_capture_to_inference_seconds")
              .Help("Time from scan capture to model output")
              .Register(reg)
              .Add({}, LatencyBucketsSeconds()),
          prometheus::BuildCounter()
              .Name("ovoflow_thresholds_reloads_total")
              .Help("Changes of the thresholds file seen by inference workers, by result (applied, rejected)")
              .Register(reg),
      };
    }();
    return *m;
  }
};

// Kafka timestamps (ms) whose nanoseconds fit in int64.
constexpr int64_t kMaxKafkaTimestampMs = 9'223'372'036'853;

// host-pid-n: unique per worker in a process, since it also names the
// worker's transactional producer (two live producers with one id fence
// each other).
std::string DefaultWorkerId() {
  static std::atomic<int> next{0};
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + std::to_string(next++);
}

// The worker's part of the stage: between batches, swap in a newly
// activated model and re-read the thresholds file; per batch, decode and
// check each scan, score the valid ones in one forward pass, and turn each
// score into a Prediction. The runtime delivers them in a transaction.
class ScoringStage final : public bus::Stage {
 public:
  ScoringStage(const WorkerOptions& options, std::unique_ptr<ModelSwitch> models)
      : options_(options), models_(std::move(models)), metrics_(WorkerMetrics::Get()) {
    thresholds_ = ThresholdPolicy({}, FlagThresholds());
  }

  // Reads the thresholds file; when its text differs from the last read,
  // parses it and makes its bands the policy. False when unchanged; the
  // read or parse error otherwise (the policy in force stays).
  Result<bool> ReadThresholds() {
    thresholds_checked_ns_ = SystemClock().MonotonicNanos();
    auto text = ReadThresholdsFile(options_.thresholds_file);
    const std::string seen = text.ok() ? *text : "\n<unreadable>: " + text.status().message();
    if (seen == thresholds_text_) return false;
    thresholds_text_ = seen;
    if (!text.ok()) return text.status();
    OVOFLOW_ASSIGN_OR_RETURN(TenantThresholds parsed, ParseTenantThresholds(*text, options_.thresholds_file));
    thresholds_ = ThresholdPolicy(std::move(parsed), FlagThresholds());
    return true;
  }

  ModelSwitch& models() { return *models_; }

  void BeforeBatch() override {
    models_->SwapPending();   // the whole batch is scored by one model
    MaybeReloadThresholds();  // and decided with one set of bands
  }

  Result<bus::BatchOutcome> Process(std::span<const bus::Message> batch) override {
    const int64_t consumed_ns = SystemClock().NowUnixNanos();
    bus::BatchOutcome out;
    std::vector<v1::EggScan> scans;
    std::vector<std::size_t> sources;  // index in `batch` of each scan
    scans.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      v1::EggScan scan;
      if (auto bad = bus::ReadScan(batch[i], i, options_.max_message_bytes, options_.limits, &scan)) {
        out.rejections.push_back(std::move(*bad));
        continue;
      }
      // A tenant's topic carries that tenant's scans only: whoever could
      // write it (that tenant's scanners, by the broker's ACLs) forged anything else.
      if (std::string_view owner = ScanTopicTenant(batch[i].topic); !owner.empty() && owner != scan.tenant_id()) {
        out.rejections.push_back(
            {i, "tenant_mismatch",
             "tenant_id '" + scan.tenant_id() + "' on the scan topic of tenant '" + std::string(owner) + "'"});
        continue;
      }
      if (Status st = CheckModelInput(scan.volume(), models_->active().metadata.input()); !st.ok()) {
        out.rejections.push_back({i, "invalid", st.message()});
        continue;
      }
      scans.push_back(std::move(scan));
      sources.push_back(i);
    }
    std::vector<v1::Decision> decisions;
    if (!scans.empty()) {
      std::vector<const v1::Volume*> volumes;
      volumes.reserve(scans.size());
      for (const auto& s : scans) volumes.push_back(&s.volume());
      const int64_t t0 = SystemClock().MonotonicNanos();
      auto probs = models_->active().classifier->PredictBatch(volumes);
      const int64_t t1 = SystemClock().MonotonicNanos();
      // InvalidArgument (a scan the model cannot take) is narrowed down to
      // the scans by the runtime; any other failure (the device) holds the batch.
      if (!probs.ok()) return Status(probs.status().code(), "the model failed: " + probs.status().message());
      if (LoadedModel* shadow = models_->shadow()) {
        std::vector<std::string> tenants;
        tenants.reserve(scans.size());
        for (const auto& s : scans) tenants.push_back(s.tenant_id());
        CompareShadow(*shadow, models_->active(), volumes, tenants, *probs, thresholds_);
      }
      metrics_.batch_size.Observe(static_cast<double>(scans.size()));
      metrics_.inference_seconds.Observe(static_cast<double>(t1 - t0) / 1e9);
      const int64_t inferred_ns = SystemClock().NowUnixNanos();
      decisions.reserve(scans.size());
      out.outputs.reserve(scans.size());
      for (std::size_t i = 0; i < scans.size(); ++i) {
        const bus::Message& source = batch[sources[i]];
        v1::Prediction pred = MakePrediction(scans[i], source, (*probs)[i], consumed_ns, inferred_ns);
        // What the store would refuse (a NaN score from extreme voxels) is
        // refused here, with the scan that caused it.
        if (Status st = ValidatePrediction(pred); !st.ok()) {
          out.rejections.push_back(
              {sources[i], "invalid", "the prediction made of this scan is invalid: " + st.message()});
          continue;
        }
        metrics_.capture_to_inference_seconds.Observe(
            SecondsBetween(FromTimestamp(scans[i].captured_at()), inferred_ns));
        decisions.push_back(pred.decision());
        out.outputs.push_back(
            {kPredictionsTopic, pred.egg_id(), pred.SerializeAsString(), bus::ChildTraceHeaders(source)});
      }
    }
    out.on_delivered.push_back([this, n = batch.size(), decisions = std::move(decisions)] {
      metrics_.consumed.Increment(static_cast<double>(n));
      for (v1::Decision d : decisions) metrics_.predictions.Add({{"decision", v1::Decision_Name(d)}}).Increment();
    });
    return out;
  }

 private:
  std::optional<Thresholds> FlagThresholds() const {
    return options_.thresholds_explicit ? std::optional(options_.thresholds) : std::nullopt;
  }

  // Between batches: when the thresholds file changed, its new bands apply
  // from the next batch on. A file that no longer reads or parses keeps the
  // bands in force (logged and counted once per change), so a typo never
  // stops the line.
  void MaybeReloadThresholds() {
    if (options_.thresholds_file.empty() || options_.thresholds_reload_ms <= 0) return;
    if (SystemClock().MonotonicNanos() - thresholds_checked_ns_ < int64_t{options_.thresholds_reload_ms} * 1'000'000)
      return;
    auto changed = ReadThresholds();
    if (!changed.ok()) {
      spdlog::error("infer: thresholds file changed but is not applied, the previous bands stay: {}",
                    changed.status().ToString());
      metrics_.threshold_reloads.Add({{"result", "rejected"}}).Increment();
    } else if (*changed) {
      spdlog::info("infer: thresholds file {} changed: its bands apply from the next batch", options_.thresholds_file);
      metrics_.threshold_reloads.Add({{"result", "applied"}}).Increment();
    }
  }

  v1::Prediction MakePrediction(const v1::EggScan& scan, const bus::Message& msg, float p, int64_t consumed_ns,
                                int64_t inferred_ns) const {
    const LoadedModel& model = models_->active();
    const Thresholds band = thresholds_.For(scan.tenant_id(), model.metadata);
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
    pred.set_worker_id(options_.worker_id);
    pred.set_scan_id(scan.scan_id());
    pred.set_line_id(scan.line_id());
    if (scan.has_deadline()) *pred.mutable_deadline() = scan.deadline();
    auto* t = pred.mutable_times();
    *t->mutable_captured_at() = scan.captured_at();
    // The Kafka timestamp is whatever the producer set: only one the store can hold is kept.
    if (msg.timestamp_ms > 0 && msg.timestamp_ms < kMaxKafkaTimestampMs)
      *t->mutable_published_at() = ToTimestamp(msg.timestamp_ms * 1'000'000);
    *t->mutable_consumed_at() = ToTimestamp(consumed_ns);
    *t->mutable_inferred_at() = ToTimestamp(inferred_ns);
    return pred;
  }

  const WorkerOptions options_;
  std::unique_ptr<ModelSwitch> models_;
  WorkerMetrics& metrics_;
  ThresholdPolicy thresholds_;
  std::optional<std::string> thresholds_text_;  // the thresholds file as last read (applied or rejected)
  int64_t thresholds_checked_ns_ = 0;           // monotonic time of the last look at the file
};

}  // namespace

struct InferenceWorker::Impl {
  std::unique_ptr<ScoringStage> stage;
  std::unique_ptr<ActivationFollower> follower;  // after `stage`: destroyed first (its thread calls the models)
  std::unique_ptr<bus::StageRuntime> runtime;    // destroyed before the stage it runs
  std::string worker_id;
};

InferenceWorker::~InferenceWorker() = default;

Result<std::unique_ptr<InferenceWorker>> InferenceWorker::Create(const WorkerOptions& given) {
  if (given.max_batch < 1 || given.max_batch > 1024) return Status::InvalidArgument("max_batch must be in 1..1024");
  if (given.max_wait_ms < 0) return Status::InvalidArgument("max_wait_ms must be >= 0");
  if (given.thresholds_reload_ms < 0) return Status::InvalidArgument("thresholds_reload_ms must be >= 0");
  OVOFLOW_RETURN_IF_ERROR(ValidateThresholds(given.thresholds));
  WorkerOptions options = given;
  if (options.worker_id.empty()) options.worker_id = DefaultWorkerId();
  OVOFLOW_RETURN_IF_ERROR(CheckText("worker_id", options.worker_id, kMaxNameBytes, true));
  OVOFLOW_ASSIGN_OR_RETURN(LoadedModel model, LoadModelDir(options.model_dir, options.torch_threads));
  auto impl = std::make_unique<Impl>();
  impl->worker_id = options.worker_id;
  impl->stage = std::make_unique<ScoringStage>(
      options, std::make_unique<ModelSwitch>(ModelRegistry(options.registry_dir), options.torch_threads,
                                             std::move(model), options.worker_id));
  if (!options.thresholds_file.empty()) {
    auto read = impl->stage->ReadThresholds();  // the first read always counts as a change
    if (!read.ok()) return read.status();
  }
  if (options.follow_activations) {
    FollowerOptions fo;
    fo.brokers = options.brokers;
    fo.topic = kModelsTopic;
    fo.client_id = "ovoflow-infer-" + options.worker_id + "-models";
    fo.catch_up_timeout_ms = options.activation_catch_up_ms;
    ModelSwitch* sw = &impl->stage->models();
    impl->follower = ActivationFollower::Start(fo, [sw](const v1::ModelActivation& a) { sw->Apply(a); });
    sw->SwapPending();  // what the activations already on the topic loaded
  }

  bus::ConsumerOptions co;
  co.brokers = options.brokers;
  co.group_id = options.group_id;
  co.client_id = "ovoflow-infer-" + options.worker_id;
  co.topics = {kScanTopicsPattern};  // the shared scan topic and every tenant's
  OVOFLOW_ASSIGN_OR_RETURN(std::unique_ptr<bus::Consumer> consumer, bus::Consumer::Create(co));
  bus::ProducerOptions po;
  po.brokers = options.brokers;
  po.client_id = "ovoflow-infer-" + options.worker_id;
  po.linger_ms = 2;
  if (options.exactly_once) {
    po.transactional_id = "ovoflow-infer-" + options.worker_id;
    po.transaction_timeout_ms = options.transaction_timeout_ms;
  }
  bus::StageRuntimeOptions ro;
  ro.stage = "infer";
  ro.instance = options.worker_id;
  ro.group_id = options.group_id;
  ro.delivery = options.exactly_once ? bus::Delivery::kTransactional : bus::Delivery::kAtLeastOnce;
  ro.max_batch = options.max_batch;
  ro.max_wait_ms = options.max_wait_ms;
  ro.poll_timeout_ms = options.poll_timeout_ms;
  if (options.on_dead_letter)
    ro.on_rejected = [f = options.on_dead_letter](const bus::Message& m, const bus::Rejection&) { f(m.key); };
  OVOFLOW_ASSIGN_OR_RETURN(impl->runtime,
                           bus::StageRuntime::Create(
                               ro, std::move(consumer), [po] { return bus::Producer::Create(po); }, impl->stage.get()));
  std::unique_ptr<InferenceWorker> w(new InferenceWorker());
  w->impl_ = std::move(impl);
  spdlog::info("infer: worker {} loaded model {} {} (input {}x{}x{}), batch {} / {} ms", options.worker_id,
               w->model().name, w->model().version, w->model().dim_x, w->model().dim_y, w->model().dim_z,
               options.max_batch, options.max_wait_ms);
  return w;
}

const ModelInfo& InferenceWorker::model() const { return impl_->stage->models().active().classifier->info(); }

Result<int> InferenceWorker::RunOnce(const std::atomic<bool>& stop) { return impl_->runtime->RunOnce(stop); }

bool InferenceWorker::stalled() const { return impl_->runtime->stalled(); }

Status InferenceWorker::Run(const std::atomic<bool>& stop) {
  Status st = impl_->runtime->Run(stop);
  if (st.ok()) spdlog::info("infer: worker {} stopped", impl_->worker_id);
  return st;
}

}  // namespace ovoflow::inference
