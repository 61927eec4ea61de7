#include "inference/tenant_thresholds.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "ovoflow/v1/model_control.pb.h"

namespace ovoflow::inference {
namespace {

Result<Thresholds> FromBand(const v1::ThresholdBand& band, const std::string& where) {
  if (!band.has_keep_min_p_female()) return Status::InvalidArgument(where + ": keep_min_p_female is missing");
  if (!band.has_divert_max_p_female()) return Status::InvalidArgument(where + ": divert_max_p_female is missing");
  Thresholds t{band.keep_min_p_female(), band.divert_max_p_female()};
  Status valid = ValidateThresholds(t);
  if (!valid.ok()) {
    // ValidateThresholds names the band edge; say which field that is.
    const char* field = valid.message().rfind("divert", 0) == 0 ? "divert_max_p_female" : "keep_min_p_female";
    return Status::InvalidArgument(where + ": " + field + ": " + valid.message());
  }
  return t;
}

}  // namespace

Result<TenantThresholds> ParseTenantThresholds(std::string_view json, const std::string& source) {
  v1::TenantThresholdsFile file;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error, not a silent default
  auto st = google::protobuf::util::JsonStringToMessage(std::string(json), &file, options);
  if (!st.ok()) return Status::InvalidArgument(source + ": " + std::string(st.message()));
  TenantThresholds out;
  if (file.has_default_()) {
    OVOFLOW_ASSIGN_OR_RETURN(auto band, FromBand(file.default_(), source + ": default"));
    out.default_band = band;
  }
  for (const auto& [tenant, proto_band] : file.tenants()) {
    if (tenant.empty()) return Status::InvalidArgument(source + ": a tenant id is empty");
    std::string where = source;
    where += ": tenant '";
    where += tenant;
    where += "'";
    OVOFLOW_ASSIGN_OR_RETURN(auto band, FromBand(proto_band, where));
    out.tenants.emplace(tenant, band);
  }
  return out;
}

Result<std::string> ReadThresholdsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read thresholds file " + path);
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::NotFound("cannot read thresholds file " + path);
  return text.str();
}

Result<TenantThresholds> LoadTenantThresholds(const std::string& path) {
  OVOFLOW_ASSIGN_OR_RETURN(auto text, ReadThresholdsFile(path));
  return ParseTenantThresholds(text, path);
}

Thresholds ThresholdPolicy::Fallback(const v1::ModelMetadata& model) const {
  if (file_.default_band) return *file_.default_band;
  if (flags_) return *flags_;
  if (model.has_recommended_thresholds()) {
    Thresholds t{model.recommended_thresholds().keep_min_p_female(),
                 model.recommended_thresholds().divert_max_p_female()};
    if (ValidateThresholds(t).ok()) return t;
  }
  return Thresholds{};
}

Thresholds ThresholdPolicy::For(const std::string& tenant_id, const v1::ModelMetadata& model) const {
  auto it = file_.tenants.find(tenant_id);
  return it != file_.tenants.end() ? it->second : Fallback(model);
}

}  // namespace ovoflow::inference
