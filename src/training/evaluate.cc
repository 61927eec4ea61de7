#include "training/evaluate.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "common/progress.h"
#include "inference/calibration.h"
#include "training/phantom_data.h"

namespace ovoflow::training {
namespace {

using Clock = std::chrono::steady_clock;

std::string Fixed(double v, int digits) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

v1::Volume EmptyVolume(const phantom::PhantomOptions& o) {
  v1::Volume v;
  v.set_dim_x(o.dim_x);
  v.set_dim_y(o.dim_y);
  v.set_dim_z(o.dim_z);
  v.set_spacing_x_mm(o.spacing_mm);
  v.set_spacing_y_mm(o.spacing_mm);
  v.set_spacing_z_mm(o.spacing_mm);
  v.add_channels(v1::CHANNEL_T2W);
  v.set_dtype(v1::DTYPE_UINT8);
  v.set_encoding(v1::ENCODING_RAW);
  return v;
}

}  // namespace

BinaryMetrics ComputeMetrics(const std::vector<float>& p, const std::vector<uint8_t>& female) {
  BinaryMetrics m;
  const std::size_t n = std::min(p.size(), female.size());
  m.count = static_cast<int64_t>(n);
  if (n == 0) return m;
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool called_female = p[i] >= 0.5f;
    if (female[i]) {
      ++(called_female ? m.true_positive : m.false_negative);
    } else {
      ++(called_female ? m.false_positive : m.true_negative);
    }
    const double q = std::clamp(static_cast<double>(p[i]), 1e-7, 1 - 1e-7);
    loss -= female[i] ? std::log(q) : std::log(1 - q);
  }
  m.accuracy = static_cast<double>(m.true_positive + m.true_negative) / static_cast<double>(n);
  m.loss = loss / static_cast<double>(n);
  m.ece = ExpectedCalibrationError(p, female);
  // AUC = P(score of a female > score of a male), ties count one half (Mann-Whitney U).
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  double rank_sum = 0;  // of the females, ranks from 1
  int64_t females = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && p[order[j]] == p[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k) {
      if (female[order[k]]) {
        rank_sum += mid_rank;
        ++females;
      }
    }
    i = j;
  }
  const int64_t males = m.count - females;
  if (females > 0 && males > 0) {
    const double f = static_cast<double>(females);
    m.roc_auc = (rank_sum - f * (f + 1) / 2) / (f * static_cast<double>(males));
  }
  return m;
}

std::string MetricsToJson(const BinaryMetrics& metrics) {
  v1::Metrics proto;
  MetricsToProto(metrics, &proto);
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(proto, &json, opts).ok()) return "{}";
  return json;
}

void SetBand(const BandOutcome& band, BinaryMetrics* m) {
  m->has_band = true;
  m->decided_accuracy = band.decided_accuracy();
  m->abstention = band.abstention();
}

void MetricsToProto(const BinaryMetrics& m, v1::Metrics* p) {
  p->set_count(static_cast<int32_t>(m.count));
  p->set_accuracy(m.accuracy);
  p->set_roc_auc(m.roc_auc);
  p->set_loss(m.loss);
  p->set_true_positive(static_cast<int32_t>(m.true_positive));
  p->set_false_positive(static_cast<int32_t>(m.false_positive));
  p->set_true_negative(static_cast<int32_t>(m.true_negative));
  p->set_false_negative(static_cast<int32_t>(m.false_negative));
  p->set_ece(m.ece);
  p->set_scans_per_second(m.scans_per_second);
  if (m.has_band) {
    p->set_decided_accuracy(m.decided_accuracy);
    p->set_abstention(m.abstention);
  } else {
    p->clear_decided_accuracy();
    p->clear_abstention();
  }
}

Result<ScoredScans> ScorePhantomScans(SexClassifier& clf, const EvalOptions& o) {
  if (o.count < 1) return Status::InvalidArgument("count must be >= 1");
  if (o.batch < 1 || o.batch > 4096) return Status::InvalidArgument("batch must be in 1..4096");
  OVOFLOW_RETURN_IF_ERROR(phantom::ValidatePhantomOptions(o.phantom));
  const ModelInfo& info = clf.info();
  if (info.dim_x != o.phantom.dim_x || info.dim_y != o.phantom.dim_y || info.dim_z != o.phantom.dim_z ||
      info.channels != 1)
    return Status::InvalidArgument("phantom geometry does not match the model input");

  phantom::PhantomGenerator gen(o.phantom);
  const std::size_t per_scan = VoxelsPerScan(o.phantom);
  constexpr int64_t kChunk = 2048;
  std::vector<uint8_t> voxels(static_cast<std::size_t>(kChunk) * per_scan);
  std::vector<uint8_t> chunk_female(kChunk);
  ScoredScans out;
  out.logits.reserve(static_cast<std::size_t>(o.count));
  out.female.reserve(static_cast<std::size_t>(o.count));
  std::vector<v1::Volume> volumes(static_cast<std::size_t>(kChunk), EmptyVolume(o.phantom));
  std::optional<ProgressBar> bar;
  if (o.progress != nullptr) bar.emplace(o.progress_label, o.count, o.progress);
  for (int64_t first = 0; first < o.count; first += kChunk) {
    const int64_t n = std::min(kChunk, o.count - first);
    GenerateScans(gen, o.seed, o.first_index + static_cast<uint64_t>(first), n, o.threads, voxels.data(),
                  chunk_female.data());
    for (int64_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      volumes[k].set_data(voxels.data() + k * per_scan, per_scan);
    }
    for (int64_t b = 0; b < n; b += o.batch) {
      std::vector<const v1::Volume*> batch;
      for (int64_t i = b; i < std::min<int64_t>(n, b + o.batch); ++i)
        batch.push_back(&volumes[static_cast<std::size_t>(i)]);
      const auto t0 = Clock::now();
      auto logits = clf.LogitsBatch(batch);
      out.predict_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      if (!logits.ok()) return logits.status();
      out.logits.insert(out.logits.end(), logits->begin(), logits->end());
    }
    out.female.insert(out.female.end(), chunk_female.begin(), chunk_female.begin() + n);
    if (bar) bar->Update(first + n, "");
  }
  out.p_female.reserve(out.logits.size());
  for (float z : out.logits) out.p_female.push_back(ScaledProbability(z, info.temperature));
  return out;
}

Result<BinaryMetrics> EvaluateModel(const std::string& model_dir, const EvalOptions& o) {
  if (o.count < 1) return Status::InvalidArgument("count must be >= 1");
  OVOFLOW_RETURN_IF_ERROR(phantom::ValidatePhantomOptions(o.phantom));
  OVOFLOW_ASSIGN_OR_RETURN(auto model, SexClassifier::Load(model_dir, o.threads));
  OVOFLOW_ASSIGN_OR_RETURN(auto scored, ScorePhantomScans(*model, o));
  BinaryMetrics m = ComputeMetrics(scored.p_female, scored.female);
  m.scans_per_second = scored.predict_seconds > 0 ? static_cast<double>(m.count) / scored.predict_seconds : 0;
  OVOFLOW_ASSIGN_OR_RETURN(auto meta, ReadModelMetadata(model_dir));
  if (meta.has_recommended_thresholds()) {
    const v1::DecisionBand& b = meta.recommended_thresholds();
    SetBand(ScoreBand(scored.p_female, scored.female, b.keep_min_p_female(), b.divert_max_p_female()), &m);
  }
  if (o.progress != nullptr)
    (void)std::fprintf(o.progress, "%s: acc %s auc %s ece %s\n", o.progress_label.c_str(), Fixed(m.accuracy, 4).c_str(),
                       Fixed(m.roc_auc, 4).c_str(), Fixed(m.ece, 4).c_str());
  return m;
}

}  // namespace ovoflow::training
