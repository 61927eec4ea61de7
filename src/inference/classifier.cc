#include "inference/classifier.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/volume.h"
#include "inference/calibration.h"
#include "inference/gonad_net.h"

namespace ovoflow::inference {
namespace {

std::string Geometry(uint32_t x, uint32_t y, uint32_t z, uint32_t c) {
  return std::to_string(x) + "x" + std::to_string(y) + "x" + std::to_string(z) + "x" + std::to_string(c) + "ch";
}

Status CheckMetadata(const v1::ModelMetadata& m) {
  const v1::InputSpec& in = m.input();
  if (in.dim_x() == 0 || in.dim_y() == 0 || in.dim_z() == 0 || in.channels() == 0)
    return Status::InvalidArgument("input.dim_x/dim_y/dim_z/channels must be > 0");
  if (!std::isfinite(m.normalization().scale()) || m.normalization().scale() == 0 ||
      !std::isfinite(m.normalization().offset()))
    return Status::InvalidArgument("normalization.scale must be finite and non-zero, offset finite");
  if (m.net().conv_channels_size() == 0) return Status::InvalidArgument("net.conv_channels is empty");
  if (m.has_calibration() && !(m.calibration().temperature() > 0 && std::isfinite(m.calibration().temperature())))
    return Status::InvalidArgument("calibration.temperature must be finite and > 0");
  return Status::Ok();
}

NetConfig NetConfigOf(const v1::ModelMetadata& m) {
  NetConfig c;
  c.in_channels = static_cast<int>(m.input().dim_z() * m.input().channels());
  c.height = static_cast<int>(m.input().dim_y());
  c.width = static_cast<int>(m.input().dim_x());
  c.conv_channels.assign(m.net().conv_channels().begin(), m.net().conv_channels().end());
  c.conv_strides.assign(m.net().conv_strides().begin(), m.net().conv_strides().end());
  c.crop = m.net().crop();
  c.pool = m.net().pool();
  c.hidden = m.net().hidden();
  return c;
}

class TorchSexClassifier final : public SexClassifier {
 public:
  TorchSexClassifier(std::unique_ptr<GonadNet> net, ModelInfo info, float scale, float offset, int threads)
      : net_(std::move(net)), info_(std::move(info)), scale_(scale), offset_(offset), threads_(threads) {}

  Result<std::vector<float>> PredictBatch(const std::vector<const v1::Volume*>& volumes) override {
    Result<std::vector<float>> p = LogitsBatch(volumes);
    if (!p.ok()) return p;
    for (float& x : *p) x = ScaledProbability(x, info_.temperature);
    return p;
  }

  Result<std::vector<float>> LogitsBatch(const std::vector<const v1::Volume*>& volumes) override {
    ApplyThreads();
    const std::size_t per_scan = std::size_t{info_.dim_x} * info_.dim_y * info_.dim_z * info_.channels;
    inputs_.resize(volumes.size() * per_scan);
    for (std::size_t i = 0; i < volumes.size(); ++i) {
      Status st = Normalise(volumes[i], inputs_.data() + i * per_scan, per_scan);
      if (!st.ok()) return Status(st.code(), "volume " + std::to_string(i) + ": " + st.message());
    }
    std::vector<float> p(volumes.size());
    OVOFLOW_RETURN_IF_ERROR(net_->Logits(inputs_.data(), static_cast<int64_t>(volumes.size()), p.data()));
    return p;
  }

  const ModelInfo& info() const override { return info_; }

 private:
  // OpenMP thread counts are per calling thread: apply once per thread.
  void ApplyThreads() const {
    thread_local int applied = 0;
    if (threads_ > 0 && applied != threads_) {
      SetTorchThreads(threads_);
      applied = threads_;
    }
  }

  Status Normalise(const v1::Volume* v, float* out, std::size_t n) const {
    if (v == nullptr) return Status::InvalidArgument("null volume");
    if (v->dim_x() != info_.dim_x || v->dim_y() != info_.dim_y || v->dim_z() != info_.dim_z ||
        static_cast<uint32_t>(v->channels_size()) != info_.channels) {
      return Status::InvalidArgument(
          "volume " + Geometry(v->dim_x(), v->dim_y(), v->dim_z(), static_cast<uint32_t>(v->channels_size())) +
          " does not match model input " + Geometry(info_.dim_x, info_.dim_y, info_.dim_z, info_.channels));
    }
    if (v->dtype() == v1::DTYPE_UINT8 && v->encoding() == v1::ENCODING_RAW && v->data().size() == n) {
      // Fast path for what scanners send: no intermediate float copy.
      const auto* p = reinterpret_cast<const unsigned char*>(v->data().data());
      for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<float>(p[k]) * scale_ + offset_;
      return Status::Ok();
    }
    OVOFLOW_ASSIGN_OR_RETURN(std::vector<float> plain, VolumeToFloat(*v));
    if (plain.size() != n) return Status::InvalidArgument("voxel count does not match the geometry");
    for (std::size_t k = 0; k < n; ++k) out[k] = (plain)[k] * scale_ + offset_;
    return Status::Ok();
  }

  std::unique_ptr<GonadNet> net_;
  ModelInfo info_;
  float scale_, offset_;
  int threads_;
  std::vector<float> inputs_;  // reused between batches
};

}  // namespace

Result<v1::ModelMetadata> ReadModelMetadata(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / kModelMetadataFile).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  v1::ModelMetadata m;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(text.str(), &m, opts);
  if (!st.ok()) return Status::InvalidArgument(path + ": " + std::string(st.message()));
  Status valid = CheckMetadata(m);
  if (!valid.ok()) return Status::InvalidArgument(path + ": " + valid.message());
  return m;
}

Status WriteModelMetadata(const std::string& model_dir, const v1::ModelMetadata& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(m, &json, opts);
  if (!st.ok()) return Status::Internal("model metadata to JSON: " + std::string(st.message()));
  const std::string path = (std::filesystem::path(model_dir) / kModelMetadataFile).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << json;
  out.close();
  if (!out) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

Result<std::unique_ptr<SexClassifier>> SexClassifier::Load(const std::string& model_dir, int threads) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) return Status::NotFound("no model directory " + model_dir);
  OVOFLOW_ASSIGN_OR_RETURN(v1::ModelMetadata meta, ReadModelMetadata(model_dir));
  NetConfig config = NetConfigOf(meta);
  Status valid = ValidateNetConfig(config);
  if (!valid.ok()) return Status::InvalidArgument(model_dir + "/model.json: net: " + valid.message());
  const std::string weights = meta.weights_file().empty() ? kDefaultWeightsFile : meta.weights_file();
  if (weights.find('/') != std::string::npos)
    return Status::InvalidArgument("weights_file must be a file name inside the model directory");
  SetTorchThreads(threads);
  OVOFLOW_ASSIGN_OR_RETURN(auto net, GonadNet::Load(config, (std::filesystem::path(model_dir) / weights).string()));

  ModelInfo info;
  info.name = meta.name();
  info.version = meta.version();
  info.dim_x = meta.input().dim_x();
  info.dim_y = meta.input().dim_y();
  info.dim_z = meta.input().dim_z();
  info.channels = meta.input().channels();
  if (meta.has_calibration()) info.temperature = meta.calibration().temperature();
  std::ifstream in((std::filesystem::path(model_dir) / kModelMetadataFile).string(), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  info.metadata_json = text.str();
  return std::unique_ptr<SexClassifier>(new TorchSexClassifier(
      std::move(net), std::move(info), meta.normalization().scale(), meta.normalization().offset(), threads));
}

}  // namespace ovoflow::inference
