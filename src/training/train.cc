#include "training/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <numbers>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include <google/protobuf/util/json_util.h>

#include "common/progress.h"
#include "inference/classifier.h"
#include "training/phantom_data.h"

namespace ovoflow::training {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kTrainChunk = 4096;  // scans generated at a time during training

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Voxel mean and standard deviation of a scan set.
std::pair<double, double> VoxelStats(const ScanSet& s) {
  double sum = 0, sum2 = 0;
  for (uint8_t x : s.voxels) {
    const double v = x;
    sum += v;
    sum2 += v * v;
  }
  const double n = static_cast<double>(std::max<std::size_t>(1, s.voxels.size()));
  const double mean = sum / n;
  return {mean, std::sqrt(std::max(sum2 / n - mean * mean, 1e-6))};
}

template <typename T>
void Shuffle(std::vector<T>& v, std::mt19937_64& rng) {  // Fisher-Yates: the same order on every platform
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<std::size_t>(rng() % i)]);
}

Status ValidateTrainOptions(const TrainOptions& o) {
  if (o.out_dir.empty()) return Status::InvalidArgument("out_dir is empty");
  if (o.train_scans < 2 || o.train_scans > kMaxTrainScans)
    return Status::InvalidArgument("train_scans must be in 2.." + std::to_string(kMaxTrainScans));
  if (o.epochs < 1) return Status::InvalidArgument("epochs must be >= 1");
  if (o.batch < 2 || o.batch > 4096) return Status::InvalidArgument("batch must be in 2..4096");
  if (o.batch > o.train_scans) return Status::InvalidArgument("batch is larger than train_scans");
  if (!(o.learning_rate > 0) || !(o.weight_decay >= 0))
    return Status::InvalidArgument("learning_rate must be > 0, weight_decay >= 0");
  if (o.warmup_steps < 0) return Status::InvalidArgument("warmup_steps must be >= 0");
  if (o.threads < 1 || o.threads > 256) return Status::InvalidArgument("threads must be in 1..256");
  if (o.eval_scans < 0) return Status::InvalidArgument("eval_scans must be >= 0");
  if (o.eval_scans > 0 && o.eval_seed == o.seed)
    return Status::InvalidArgument("eval_seed must differ from seed (held-out scans must not overlap training)");
  if (o.eval_scans > 0 && (o.calibration_seed == o.seed || o.calibration_seed == o.eval_seed))
    return Status::InvalidArgument("calibration_seed must differ from seed and eval_seed");
  if (o.eval_scans > 0 && o.eval_scans < 100) return Status::InvalidArgument("eval_scans must be 0 or >= 100");
  if (o.eval_scans > 0 && o.calibration_scans < 100) return Status::InvalidArgument("calibration_scans must be >= 100");
  return phantom::ValidatePhantomOptions(o.phantom);
}

std::string NowRfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

v1::ModelMetadata MakeMetadata(const TrainOptions& o, const NetConfig& net, double mean, double std_dev, int64_t steps,
                               int64_t params) {
  v1::ModelMetadata m;
  m.set_name(o.name);
  m.set_version(o.version);
  m.set_created_at(NowRfc3339());
  m.set_weights_file(kDefaultWeightsFile);
  m.set_description(
      "2.5D CNN (depth slices as channels of 2D convolutions) giving the log-odds that the embryo is female, "
      "trained on synthetic phantom MRI scans (src/phantom/phantom.h); see docs/model.md");
  auto* in = m.mutable_input();
  in->set_dim_x(o.phantom.dim_x);
  in->set_dim_y(o.phantom.dim_y);
  in->set_dim_z(o.phantom.dim_z);
  in->set_channels(1);
  in->set_channel(v1::CHANNEL_T2W);
  in->set_dtype(v1::DTYPE_UINT8);
  in->set_spacing_mm(o.phantom.spacing_mm);
  auto* norm = m.mutable_normalization();
  norm->set_scale(static_cast<float>(1.0 / std_dev));
  norm->set_offset(static_cast<float>(-mean / std_dev));
  norm->set_voxel_mean(static_cast<float>(mean));
  norm->set_voxel_std(static_cast<float>(std_dev));
  auto* arch = m.mutable_net();
  for (int c : net.conv_channels) arch->add_conv_channels(c);
  for (int s : net.conv_strides) arch->add_conv_strides(s);
  arch->set_crop(net.crop);
  arch->set_pool(net.pool);
  arch->set_hidden(net.hidden);
  auto* t = m.mutable_training();
  t->set_seed(o.seed);
  t->set_train_scans(static_cast<int32_t>(o.train_scans));
  t->set_epochs(o.epochs);
  t->set_steps(static_cast<int32_t>(steps));
  t->set_batch(o.batch);
  t->set_learning_rate(o.learning_rate);
  t->set_weight_decay(o.weight_decay);
  t->set_warmup_steps(o.warmup_steps);
  t->set_threads(o.threads);
  t->set_eval_seed(o.eval_seed);
  auto* ph = t->mutable_phantom();
  ph->set_snr(o.phantom.snr);
  ph->set_incubation_day(o.phantom.incubation_day);
  ph->set_variation(o.phantom.variation);
  ph->set_bias_strength(o.phantom.bias_strength);
  ph->set_max_shift_mm(o.phantom.max_shift_mm);
  ph->set_max_rotation_deg(o.phantom.max_rotation_deg);
  ph->set_max_tilt_deg(o.phantom.max_tilt_deg);
  ph->set_motion_probability(o.phantom.motion_probability);
  ph->set_acquisition(o.phantom.acquisition == phantom::Acquisition::kFullEgg ? "full-egg" : "region");
  m.set_flops_per_scan(FlopsPerScan(net));
  m.set_parameter_count(static_cast<int32_t>(params));
  return m;
}

// Peak `lr` after a linear warm-up, then cosine decay to zero at `total`.
double LearningRate(double lr, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double t = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return lr * 0.5 * (1.0 + std::cos(std::numbers::pi * std::min(1.0, t)));
}

std::string Fixed(double v, int digits) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

namespace {

// The optimisation loop over chunks of phantom scans. Training scans are
// generated kTrainChunk at a time (memory stays small; with epochs > 1 a
// chunk is regenerated, identically, on each pass), shuffled within the
// chunk, chunks in shuffled order.
class Trainer {
 public:
  Trainer(const TrainOptions& o, GonadNet* net, float scale, float offset)
      : o_(o),
        net_(net),
        gen_(o.phantom),
        per_scan_(VoxelsPerScan(o.phantom)),
        scale_(scale),
        offset_(offset),
        rng_(o.seed),
        inputs_(static_cast<std::size_t>(o.batch) * per_scan_),
        labels_(static_cast<std::size_t>(o.batch)) {
    const int64_t chunks = (o.train_scans + kTrainChunk - 1) / kTrainChunk;
    for (int64_t c = 0; c < chunks; ++c) {
      chunk_order_.push_back(c);
      steps_per_epoch_ += ChunkSize(c) / o.batch;  // a chunk's remainder below one batch is left out
    }
    total_steps_ = steps_per_epoch_ * o.epochs;
  }

  // One pass over the training scans; appends its mean loss to the report.
  Status RunEpoch(int epoch, TrainReport* report) {
    Shuffle(chunk_order_, rng_);
    std::optional<ProgressBar> bar;
    if (o_.progress != nullptr)
      bar.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o_.epochs), steps_per_epoch_,
                  o_.progress);
    double loss_sum = 0, recent = 0;
    int64_t s = 0;  // step within the epoch
    for (int64_t c : chunk_order_) {
      const ScanSet data =
          GenerateScanSet(gen_, o_.seed, static_cast<uint64_t>(c * kTrainChunk), ChunkSize(c), o_.threads);
      std::vector<uint32_t> order(data.female.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
      Shuffle(order, rng_);
      const auto batch = static_cast<std::size_t>(o_.batch);
      for (std::size_t first = 0; first + batch <= order.size(); first += batch, ++s, ++step_) {
        OVOFLOW_ASSIGN_OR_RETURN(double loss, Step(data, &order[first]));
        loss_sum += loss;
        recent = s == 0 ? loss : 0.95 * recent + 0.05 * loss;
        if (step_ < 10) first_loss_sum_ += loss;
        if (bar && s % 10 == 9) bar->Update(s + 1, "loss " + Fixed(recent, 4));
      }
    }
    report->epoch_loss.push_back(loss_sum / static_cast<double>(std::max<int64_t>(1, steps_per_epoch_)));
    if (bar) bar->Done("mean loss " + Fixed(report->epoch_loss.back(), 4));
    report->steps = step_;
    report->first_loss = first_loss_sum_ / static_cast<double>(std::clamp<int64_t>(step_, 1, 10));
    return Status::Ok();
  }

 private:
  int64_t ChunkSize(int64_t c) const { return std::min(kTrainChunk, o_.train_scans - c * kTrainChunk); }

  // One optimiser step on the scans order[0..batch) of `data`.
  Result<double> Step(const ScanSet& data, const uint32_t* order) {
    for (std::size_t b = 0; b < labels_.size(); ++b) {
      const uint8_t* src = data.voxels.data() + order[b] * per_scan_;
      float* dst = inputs_.data() + b * per_scan_;
      for (std::size_t k = 0; k < per_scan_; ++k) dst[k] = static_cast<float>(src[k]) * scale_ + offset_;
      labels_[b] = data.female[order[b]];
    }
    net_->SetLearningRate(LearningRate(o_.learning_rate, step_, o_.warmup_steps, total_steps_));
    return net_->TrainStep(inputs_.data(), labels_.data(), o_.batch);
  }

  const TrainOptions& o_;
  GonadNet* net_;
  phantom::PhantomGenerator gen_;
  std::size_t per_scan_;
  float scale_, offset_;  // uint8 voxel -> network input
  std::mt19937_64 rng_;
  std::vector<float> inputs_, labels_;
  std::vector<int64_t> chunk_order_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  double first_loss_sum_ = 0;
};

// Calibrates the saved model directory (temperature, RECHECK band,
// held-out metrics, all into model.json), then scores it on training scans
// through the serving path.
Status CalibrateAndScore(const TrainOptions& o, TrainReport* report) {
  if (o.eval_scans > 0) {
    CalibrateOptions cal;
    cal.seed = o.calibration_seed;
    cal.count = o.calibration_scans;
    cal.held_out_seed = o.eval_seed;
    cal.held_out_count = o.eval_scans;
    cal.target_accuracy = o.target_accuracy;
    cal.max_abstention = o.max_abstention;
    cal.confidence_z = o.band_confidence_z;
    cal.threads = o.threads;
    cal.phantom = o.phantom;
    cal.progress = o.progress;
    OVOFLOW_ASSIGN_OR_RETURN(auto calibrated, CalibrateModel(o.out_dir, cal));
    report->held_out = calibrated.held_out;
    report->calibration = calibrated.calibration;
    report->band = calibrated.band;
  }
  EvalOptions eval;
  eval.threads = o.threads;
  eval.phantom = o.phantom;
  eval.progress = o.progress;
  eval.progress_label = "training scans";
  eval.seed = o.seed;
  eval.count = std::min<int64_t>(o.train_scans, 5000);
  OVOFLOW_ASSIGN_OR_RETURN(auto train_metrics, EvaluateModel(o.out_dir, eval));
  report->train = train_metrics;
  OVOFLOW_ASSIGN_OR_RETURN(auto meta, ReadModelMetadata(o.out_dir));
  MetricsToProto(report->train, meta.mutable_train_metrics());
  return WriteModelMetadata(o.out_dir, meta);
}

}  // namespace

Result<TrainReport> TrainModel(const TrainOptions& o) {
  OVOFLOW_RETURN_IF_ERROR(ValidateTrainOptions(o));
  const auto t0 = Clock::now();
  NetConfig config = o.net;
  config.in_channels = static_cast<int>(o.phantom.dim_z);
  config.height = static_cast<int>(o.phantom.dim_y);
  config.width = static_cast<int>(o.phantom.dim_x);
  OVOFLOW_RETURN_IF_ERROR(ValidateNetConfig(config));
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) return Status::Internal("cannot create " + o.out_dir + ": " + ec.message());

  SetTorchThreads(o.threads);
  OVOFLOW_ASSIGN_OR_RETURN(auto net, GonadNet::Create(config, o.seed));
  const phantom::PhantomGenerator gen(o.phantom);
  const auto [mean, std_dev] =
      VoxelStats(GenerateScanSet(gen, o.seed, 0, std::min<int64_t>(o.train_scans, 2000), o.threads));
  OVOFLOW_RETURN_IF_ERROR((net)->BeginTraining(o.learning_rate, o.weight_decay));
  TrainReport report;
  report.model_dir = o.out_dir;
  Trainer trainer(o, net.get(), static_cast<float>(1.0 / std_dev), static_cast<float>(-mean / std_dev));
  for (int epoch = 0; epoch < o.epochs; ++epoch) OVOFLOW_RETURN_IF_ERROR(trainer.RunEpoch(epoch, &report));
  report.parameter_count = (net)->ParameterCount();
  report.flops_per_scan = FlopsPerScan(config);

  OVOFLOW_RETURN_IF_ERROR((net)->Save((std::filesystem::path(o.out_dir) / kDefaultWeightsFile).string()));
  v1::ModelMetadata meta = MakeMetadata(o, config, mean, std_dev, report.steps, report.parameter_count);
  meta.mutable_training()->set_wall_seconds(SecondsSince(t0));  // data generation + training
  OVOFLOW_RETURN_IF_ERROR(WriteModelMetadata(o.out_dir, meta));
  OVOFLOW_RETURN_IF_ERROR(CalibrateAndScore(o, &report));
  report.wall_seconds = SecondsSince(t0);
  return report;
}

}  // namespace ovoflow::training
