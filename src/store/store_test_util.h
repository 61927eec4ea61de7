// Helpers shared by the store tests and benchmark (header-only).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/clock.h"
#include "ovoflow/v1/prediction.pb.h"

#include "store/prediction_store.h"

namespace ovoflow::store::test_util {

// A new empty directory under `base` named after `name` and this process.
// The tests' shorthand: one tenant, or every tenant for "".
inline TenantScope TenantOrAll(const std::string& tenant) {
  return tenant.empty() ? TenantScope::All() : TenantScope::Only(tenant);
}

// Queries over every tenant.
inline EggQuery AllEggs() {
  EggQuery q;
  q.tenants = TenantScope::All();
  return q;
}
inline StatsQuery AllStats() {
  StatsQuery q;
  q.tenants = TenantScope::All();
  return q;
}

inline std::string FreshDir(const std::string& base, const std::string& name) {
  namespace fs = std::filesystem;
  std::string clean = name;  // a parameterised test's name holds '/'
  for (char& c : clean)
    if (c == '/') c = '_';
  fs::path dir = fs::path(base) / ("ovoflow_store_" + clean + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// A prediction with every field set (stage times 1..4 ms after capture).
inline v1::Prediction MakePrediction(const std::string& tenant, const std::string& egg, v1::Sex sex,
                                     v1::Decision decision, float p_female, int64_t captured_ns) {
  v1::Prediction p;
  p.set_tenant_id(tenant);
  p.set_egg_id(egg);
  p.set_scanner_id("scanner-" + tenant);
  p.set_tray_id("tray-7");
  p.set_tray_position(42);
  p.set_incubation_day(9);
  p.set_sex(sex);
  p.set_p_female(p_female);
  p.set_decision(decision);
  p.set_model_name("ovo-cnn");
  p.set_model_version("1.2.3");
  p.set_keep_threshold(0.9f);
  p.set_divert_threshold(0.1f);
  p.set_worker_id("worker-1");
  v1::StageTimes* t = p.mutable_times();
  *t->mutable_captured_at() = ToTimestamp(captured_ns);
  *t->mutable_published_at() = ToTimestamp(captured_ns + 1'000'000);
  *t->mutable_consumed_at() = ToTimestamp(captured_ns + 2'000'000);
  *t->mutable_inferred_at() = ToTimestamp(captured_ns + 3'000'000);
  return p;
}

}  // namespace ovoflow::store::test_util
