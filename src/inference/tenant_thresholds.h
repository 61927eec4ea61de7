// Which RECHECK band (decision.h) applies to a scan: per tenant from a
// thresholds file, else the worker's flags, else the scoring model's
// recommended band, else the built-in Thresholds{}.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "inference/decision.h"
#include "ovoflow/v1/model.pb.h"

namespace ovoflow::inference {

// The thresholds file (--thresholds-file), proto3 JSON of
// v1::TenantThresholdsFile:
//   {"default": {"keep_min_p_female": 0.9, "divert_max_p_female": 0.1},
//    "tenants": {"hatchery-a": {"keep_min_p_female": 0.95, "divert_max_p_female": 0.05}}}
// Every band given must have both fields and pass ValidateThresholds.
struct TenantThresholds {
  std::optional<Thresholds> default_band;     // "default"; absent: fall through to flags / model
  std::map<std::string, Thresholds> tenants;  // "tenants": tenant_id -> band
};

// InvalidArgument naming `source`, the tenant (or "default") and the field
// for unknown fields, a missing field or a value out of range.
Result<TenantThresholds> ParseTenantThresholds(std::string_view json, const std::string& source);
// The file's text; NotFound when `path` cannot be read.
Result<std::string> ReadThresholdsFile(const std::string& path);
// NotFound when `path` cannot be read; otherwise as ParseTenantThresholds.
Result<TenantThresholds> LoadTenantThresholds(const std::string& path);

// Immutable after construction; thread-safe.
class ThresholdPolicy {
 public:
  // `flags`: the worker's --keep-threshold/--divert-threshold when given
  // explicitly (validated by the caller); nullopt defers to the model.
  explicit ThresholdPolicy(TenantThresholds file = {}, std::optional<Thresholds> flags = std::nullopt)
      : file_(std::move(file)), flags_(flags) {}

  // The band for a scan of `tenant_id` scored by `model`, by precedence:
  // the file's entry for the tenant, the file's default, the flags, the
  // model's recommended_thresholds (when present and valid), Thresholds{}.
  Thresholds For(const std::string& tenant_id, const v1::ModelMetadata& model) const;
  // The same without a tenant entry (what unlisted tenants get).
  Thresholds Fallback(const v1::ModelMetadata& model) const;

 private:
  TenantThresholds file_;
  std::optional<Thresholds> flags_;
};

}  // namespace ovoflow::inference
