#include "inference/model_admin.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "inference/classifier.h"

namespace ovoflow::inference {

Result<std::unique_ptr<ModelAdminService>> ModelAdminService::Create(const ModelAdminOptions& options) {
  std::unique_ptr<ModelAdminService> s(new ModelAdminService(options));
  bus::ProducerOptions po;
  po.brokers = options.brokers;
  po.client_id = "ovoflow-api-models";
  OVOFLOW_ASSIGN_OR_RETURN(auto producer, bus::Producer::Create(po));
  s->producer_ = std::move(producer);
  FollowerOptions fo;
  fo.brokers = options.brokers;
  fo.topic = options.topic;
  fo.client_id = "ovoflow-api-models";
  fo.catch_up_timeout_ms = options.catch_up_timeout_ms;
  s->follower_ = ActivationFollower::Start(fo, nullptr);
  return s;
}

Result<api::ModelCatalog> ModelAdminService::List() {
  OVOFLOW_ASSIGN_OR_RETURN(auto models, registry_.List());
  api::ModelCatalog catalog;
  ActivationState state = follower_->state();
  catalog.active = state.active;
  catalog.shadow = state.shadow;
  const std::string active_key = ActiveKey();
  std::string shadow_key;
  if (state.shadow && !state.shadow->model_version().empty())
    shadow_key = state.shadow->model_name() + "@" + state.shadow->model_version();
  for (auto& m : models) {
    const std::string key = m.name + "@" + m.version;
    catalog.models.push_back({std::move(m.metadata), key == active_key, key == shadow_key});
  }
  return catalog;
}

std::string ModelAdminService::ActiveKey() {
  // Without an activation the workers serve the newest default model.
  ActivationState state = follower_->state();
  if (state.active) return state.active->model_name() + "@" + state.active->model_version();
  if (auto latest = registry_.Latest(kDefaultModelName); latest.ok()) return latest->name + "@" + latest->version;
  return {};
}

Result<v1::InputSpec> ModelAdminService::ServingInput() {
  const std::string key = ActiveKey();
  {
    std::lock_guard lock(mu_);
    if (auto it = inputs_.find(key); it != inputs_.end()) return it->second;
  }
  const std::size_t at = key.find('@');
  if (at == std::string::npos) return Status::NotFound("no model in the registry " + options_.registry_dir);
  OVOFLOW_ASSIGN_OR_RETURN(RegisteredModel model, registry_.Find(key.substr(0, at), key.substr(at + 1)));
  std::lock_guard lock(mu_);
  return inputs_[key] = model.metadata.input();
}

Result<v1::ModelActivation> ModelAdminService::Activate(const api::ActivationRequest& r) {
  const std::string name = r.model_name.empty() ? kDefaultModelName : r.model_name;
  OVOFLOW_ASSIGN_OR_RETURN(auto found, registry_.Find(name, r.model_version));
  // The workers would refuse a model that does not load: say so now.
  auto loaded = SexClassifier::Load(found.dir, 0);
  if (!loaded.ok())
    return Status::InvalidArgument(name + " " + r.model_version + " does not load: " + loaded.status().message());
  v1::ModelActivation a;
  a.set_model_name(name);
  a.set_model_version(r.model_version);
  a.set_role(r.role);
  a.set_activated_by(r.activated_by);
  a.set_reason(r.reason);
  return Publish(std::move(a));
}

Result<v1::ModelActivation> ModelAdminService::DeactivateShadow(const std::string& model_name,
                                                                const std::string& model_version,
                                                                const std::string& activated_by,
                                                                const std::string& reason) {
  const std::string name = model_name.empty() ? kDefaultModelName : model_name;
  ActivationState state = follower_->state();
  const bool is_shadow =
      state.shadow && state.shadow->model_name() == name && state.shadow->model_version() == model_version;
  if (!is_shadow)
    return Status::FailedPrecondition(name + " " + model_version +
                                      " is not the shadow model; the active model is replaced by activating another");
  v1::ModelActivation a;
  a.set_model_name(name);
  a.set_role(v1::MODEL_ROLE_SHADOW);  // no version: shadow off
  a.set_activated_by(activated_by);
  a.set_reason(reason);
  return Publish(std::move(a));
}

Result<v1::ModelActivation> ModelAdminService::Publish(v1::ModelActivation a) {
  *a.mutable_activated_at() = ToTimestamp(SystemClock().NowUnixNanos());
  OVOFLOW_RETURN_IF_ERROR(PublishActivation(*producer_, a, options_.publish_timeout_ms, options_.topic));
  follower_->Observe(a);  // read-your-writes for GET /v1/models
  spdlog::info("models: {} {} {} by {}{}{}", RoleName(a.role()), a.model_name(),
               a.model_version().empty() ? "off" : a.model_version(), a.activated_by(), a.reason().empty() ? "" : ": ",
               a.reason());
  return a;
}

}  // namespace ovoflow::inference
