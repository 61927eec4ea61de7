// api::ModelAdmin over the model registry and the control topic: what the
// API process uses to list models and publish activations.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "api/model_admin.h"
#include "bus/producer.h"
#include "common/topics.h"
#include "inference/model_control.h"
#include "inference/model_registry.h"

namespace ovoflow::inference {

struct ModelAdminOptions {
  std::string brokers = kDefaultBrokers;
  std::string registry_dir = "models";  // model registry root
  std::string topic = kModelsTopic;
  int publish_timeout_ms = 10000;  // wait for the broker's acknowledgement, ms
  int catch_up_timeout_ms = 5000;  // Create() reads the existing activations for at most this long, ms
};

// Thread-safe. Follows the control topic (for GET /v1/models) on a thread
// of its own while it lives.
class ModelAdminService final : public api::ModelAdmin {
 public:
  // Fails only for bad options (a producer that cannot be configured).
  static Result<std::unique_ptr<ModelAdminService>> Create(const ModelAdminOptions& options);

  Result<api::ModelCatalog> List() override;
  Result<v1::ModelActivation> Activate(const api::ActivationRequest& request) override;
  Result<v1::ModelActivation> DeactivateShadow(const std::string& model_name, const std::string& model_version,
                                               const std::string& activated_by, const std::string& reason) override;
  Result<v1::InputSpec> ServingInput() override;

 private:
  explicit ModelAdminService(ModelAdminOptions options)
      : options_(std::move(options)), registry_(options_.registry_dir) {}
  Result<v1::ModelActivation> Publish(v1::ModelActivation activation);
  // "name@version" of the model the workers score with now.
  std::string ActiveKey();

  ModelAdminOptions options_;
  ModelRegistry registry_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<ActivationFollower> follower_;
  std::mutex mu_;
  std::map<std::string, v1::InputSpec> inputs_;  // GUARDED_BY(mu_): by ActiveKey(), read once from the registry
};

}  // namespace ovoflow::inference
