#include "inference/model_switch.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>

#include "common/metrics.h"
#include "inference/decision.h"
#include "inference/model_control.h"

namespace ovoflow::inference {
namespace {

struct SwitchMetrics {
  prometheus::Family<prometheus::Counter>& load_failures;
  prometheus::Family<prometheus::Counter>& swaps;
  prometheus::Family<prometheus::Counter>& shadow_scans;
  prometheus::Family<prometheus::Counter>& shadow_decision_agreements;
  prometheus::Family<prometheus::Counter>& shadow_sex_agreements;
  prometheus::Family<prometheus::Counter>& shadow_failures;
  prometheus::Family<prometheus::Histogram>& shadow_difference;

  static SwitchMetrics& Get() {
    static SwitchMetrics* m = [] {
      auto& reg = MetricsRegistry();
      return new SwitchMetrics{
          prometheus::BuildCounter()
              .Name("ovoflow_model_load_failures_total")
              .Help("Activated models a worker could not resolve or load (it kept the current one), by role")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_model_swaps_total")
              .Help("Models swapped in by inference workers between batches, by role")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_shadow_scans_total")
              .Help("Scans scored by both the active and the shadow model")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_shadow_decision_agreements_total")
              .Help("Shadow-scored scans whose shadow decision (KEEP/DIVERT/RECHECK) equals the active one")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_shadow_sex_agreements_total")
              .Help("Shadow-scored scans whose shadow sex (p_female >= 0.5) equals the active one")
              .Register(reg),
          prometheus::BuildCounter()
              .Name("ovoflow_shadow_failures_total")
              .Help("Batches the shadow model failed to score (the active model's results stand)")
              .Register(reg),
          prometheus::BuildHistogram()
              .Name("ovoflow_shadow_p_female_difference")
              .Help("Absolute difference of p_female between the shadow and the active model")
              .Register(reg),
      };
    }();
    return *m;
  }
};

std::string Key(const std::string& name, const std::string& version) { return name + "@" + version; }

}  // namespace

Result<LoadedModel> LoadModelDir(const std::string& dir, int torch_threads) {
  OVOFLOW_ASSIGN_OR_RETURN(auto classifier, SexClassifier::Load(dir, torch_threads));
  OVOFLOW_ASSIGN_OR_RETURN(auto meta, ReadModelMetadata(dir));
  return LoadedModel{std::move(classifier), std::move(meta), dir};
}

ModelSwitch::ModelSwitch(ModelRegistry registry, int torch_threads, LoadedModel initial, std::string worker_id)
    : registry_(std::move(registry)),
      torch_threads_(torch_threads),
      worker_id_(std::move(worker_id)),
      active_(std::move(initial)),
      wanted_active_(Key(active_.metadata.name(), active_.metadata.version())) {
  SwitchMetrics::Get();  // registers the families, so /metrics lists them from the start
}

void ModelSwitch::Apply(const v1::ModelActivation& a) {
  const bool is_active = a.role() == v1::MODEL_ROLE_ACTIVE;
  const std::string role = RoleName(a.role());
  std::string& wanted = is_active ? wanted_active_ : wanted_shadow_;
  const std::string key = a.model_version().empty() ? "" : Key(a.model_name(), a.model_version());
  if (key == wanted) return;
  if (key.empty()) {  // shadow off
    std::lock_guard lock(mu_);
    pending_shadow_.emplace(std::nullopt);
    wanted.clear();
    spdlog::info("infer: worker {}: shadow scoring off", worker_id_);
    return;
  }
  auto found = registry_.Find(a.model_name(), a.model_version());
  Result<LoadedModel> loaded =
      found.ok() ? LoadModelDir(found->dir, torch_threads_) : Result<LoadedModel>(found.status());
  if (!loaded.ok()) {
    SwitchMetrics::Get().load_failures.Add({{"role", role}}).Increment();
    spdlog::error("infer: worker {}: cannot load {} model {} {}: {}; keeping the current one", worker_id_, role,
                  a.model_name(), a.model_version(), loaded.status().ToString());
    return;
  }
  spdlog::info("infer: worker {}: loaded {} model {} {} (activated by {} at {}s{}{}); swapping at the next batch",
               worker_id_, role, a.model_name(), a.model_version(), a.activated_by(), a.activated_at().seconds(),
               a.reason().empty() ? "" : ": ", a.reason());
  wanted = key;
  std::lock_guard lock(mu_);
  if (is_active)
    pending_active_ = std::move(loaded).value();
  else
    pending_shadow_.emplace(std::move(loaded).value());
}

bool ModelSwitch::SwapPending() {
  std::optional<LoadedModel> new_active;
  std::optional<std::optional<LoadedModel>> new_shadow;
  {
    std::lock_guard lock(mu_);
    new_active.swap(pending_active_);
    new_shadow.swap(pending_shadow_);
  }
  auto& m = SwitchMetrics::Get();
  if (new_active) {
    spdlog::info("infer: worker {}: active model {} {} -> {} {}", worker_id_, active_.metadata.name(),
                 active_.metadata.version(), new_active->metadata.name(), new_active->metadata.version());
    active_ = std::move(*new_active);
    m.swaps.Add({{"role", "active"}}).Increment();
  }
  if (new_shadow) {
    shadow_ = std::move(*new_shadow);
    m.swaps.Add({{"role", "shadow"}}).Increment();
  }
  return new_active || new_shadow;
}

void CompareShadow(LoadedModel& shadow, const LoadedModel& active, const std::vector<const v1::Volume*>& volumes,
                   const std::vector<std::string>& tenants, const std::vector<float>& active_p,
                   const ThresholdPolicy& policy) {
  auto& m = SwitchMetrics::Get();
  const prometheus::Labels labels = {{"active_model", active.metadata.name()},
                                     {"active_version", active.metadata.version()},
                                     {"shadow_model", shadow.metadata.name()},
                                     {"shadow_version", shadow.metadata.version()}};
  auto shadow_p = shadow.classifier->PredictBatch(volumes);
  if (!shadow_p.ok()) {
    m.shadow_failures.Add(labels).Increment();
    spdlog::warn("infer: shadow model {} {} failed on a batch of {}: {}", shadow.metadata.name(),
                 shadow.metadata.version(), volumes.size(), shadow_p.status().ToString());
    return;
  }
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5};
  auto& difference = m.shadow_difference.Add(labels, kBuckets);
  double same_decision = 0, same_sex = 0;
  for (std::size_t i = 0; i < volumes.size(); ++i) {
    const float pa = active_p[i], ps = (*shadow_p)[i];
    if (Decide(pa, policy.For(tenants[i], active.metadata)) == Decide(ps, policy.For(tenants[i], shadow.metadata)))
      ++same_decision;
    if (SexOf(pa) == SexOf(ps)) ++same_sex;
    difference.Observe(std::fabs(static_cast<double>(pa) - static_cast<double>(ps)));
  }
  m.shadow_scans.Add(labels).Increment(static_cast<double>(volumes.size()));
  m.shadow_decision_agreements.Add(labels).Increment(same_decision);
  m.shadow_sex_agreements.Add(labels).Increment(same_sex);
}

}  // namespace ovoflow::inference
