// The sexing model behind a small interface: callers never include torch.
// A model directory holds `model.pt` (weights) and `model.json` (metadata).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/model.pb.h"

namespace ovoflow::inference {

struct ModelInfo {
  std::string name;                                        // e.g. "gonad-cnn"
  std::string version;                                     // e.g. "1.0.0"
  uint32_t dim_x = 0, dim_y = 0, dim_z = 0, channels = 0;  // expected input geometry
  std::string metadata_json;                               // the whole model.json, for the API
  double temperature = 1.0;                                // calibration: p_female = sigmoid(logit / temperature)
};

// Not thread-safe: one instance per worker thread.
class SexClassifier {
 public:
  virtual ~SexClassifier() = default;
  // Loads model.pt and model.json from `model_dir`. `threads` sets the
  // intra-op threads LibTorch may use (0 = leave as is).
  static Result<std::unique_ptr<SexClassifier>> Load(const std::string& model_dir, int threads = 0);

  // Calibrated p_female for each volume, in order: sigmoid(logit /
  // info().temperature). InvalidArgument names the first volume whose
  // geometry differs from the model's input (the caller dead-letters it);
  // Internal for a LibTorch failure.
  virtual Result<std::vector<float>> PredictBatch(const std::vector<const v1::Volume*>& volumes) = 0;
  // The raw network outputs (log-odds of female before calibration); same
  // errors as PredictBatch. For fitting the calibration.
  virtual Result<std::vector<float>> LogitsBatch(const std::vector<const v1::Volume*>& volumes) = 0;
  virtual const ModelInfo& info() const = 0;
};

// model.json is the proto3 JSON form of v1::ModelMetadata (proto field names).
inline constexpr char kModelMetadataFile[] = "model.json";
inline constexpr char kDefaultWeightsFile[] = "model.pt";

// Reads and checks `model_dir`/model.json: NotFound when it is missing,
// InvalidArgument when it does not parse or lacks the input geometry, the
// normalisation or the net layers. Unknown fields are ignored.
Result<v1::ModelMetadata> ReadModelMetadata(const std::string& model_dir);
// Writes `model_dir`/model.json (pretty-printed, every field present).
Status WriteModelMetadata(const std::string& model_dir, const v1::ModelMetadata& metadata);

}  // namespace ovoflow::inference
