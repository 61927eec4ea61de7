// What the model endpoints (GET /v1/models, POST /v1/models/{version}:activate
// and :deactivate) need from the model lifecycle, behind an interface so the
// API library never links LibTorch or the model registry. The `ovoflow`
// binary provides inference::ModelAdminService (src/inference/model_admin.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/model.pb.h"
#include "ovoflow/v1/model_control.pb.h"

namespace ovoflow::api {

// One model of the registry and the part it plays now.
struct ModelEntry {
  v1::ModelMetadata metadata;  // model.json
  bool active = false;         // the version workers score with
  bool shadow = false;         // the version workers shadow-score with
};

struct ModelCatalog {
  std::vector<ModelEntry> models;  // by name, then ascending version
  // The latest activation records on ovoflow.models.v1; absent: none yet
  // (then the registry's newest version of the default model is active).
  std::optional<v1::ModelActivation> active;
  std::optional<v1::ModelActivation> shadow;  // model_version empty: shadow off
};

struct ActivationRequest {
  std::string model_name;  // empty: the default model's name
  std::string model_version;
  v1::ModelRole role = v1::MODEL_ROLE_ACTIVE;
  std::string reason;
  std::string activated_by;
};

// Thread-safe; calls may block (disk, model load, broker acknowledgement).
class ModelAdmin {
 public:
  virtual ~ModelAdmin() = default;
  virtual Result<ModelCatalog> List() = 0;
  // Checks the model is in the registry and loads, then publishes the
  // activation and waits for the broker. NotFound: no such model;
  // InvalidArgument: bad request or a model that does not load (the message
  // says why); Unavailable: not published.
  virtual Result<v1::ModelActivation> Activate(const ActivationRequest& request) = 0;
  // Turns shadow scoring off when `model_version` is the shadow model.
  // FailedPrecondition when it is not the shadow (the active model cannot
  // be deactivated: activate another); Unavailable: not published.
  virtual Result<v1::ModelActivation> DeactivateShadow(const std::string& model_name, const std::string& model_version,
                                                       const std::string& activated_by, const std::string& reason) = 0;
  // The input the workers' active model takes (POST /v1/scans refuses scans
  // it could not score). NotFound when the registry has no such model.
  virtual Result<v1::InputSpec> ServingInput() = 0;
};

}  // namespace ovoflow::api
