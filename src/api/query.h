// Request-target decoding and the typed query parameters of the API
// (tenant, sex, decision, time bounds, page size). Pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_store.h"

namespace ovoflow::api {

struct Target {
  std::string path;                          // percent-decoded per segment later; raw here
  std::map<std::string, std::string> query;  // decoded names and values
};

// A bad parameter: which one and why (-> 400 problem naming it).
struct ParamError {
  std::string parameter;
  std::string detail;
};

// Splits "/path?a=1&b=2". A malformed escape or a repeated parameter is an error.
std::optional<ParamError> ParseTarget(std::string_view target, Target* out);

// %XX decoding; '+' becomes a space only when `plus_is_space`. nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);

// Escapes everything but RFC 3986 unreserved characters, for one path segment.
std::string PercentEncodeSegment(std::string_view in);

// "FEMALE"/"MALE" or "SEX_FEMALE"/"SEX_MALE", any case.
Result<v1::Sex> ParseSex(std::string_view text);
// "KEEP"/"DIVERT"/"RECHECK" or "DECISION_*", any case.
Result<v1::Decision> ParseDecision(std::string_view text);
// RFC 3339 date-time (section 5.6, strictly: "T" and a zone, "Z" or +HH:MM,
// up to 9 fractional digits, real calendar dates, no leap second), e.g.
// "2026-11-25T06:44:54Z" -> unix nanoseconds. Years 1678..2262 (int64 ns).
Result<int64_t> ParseRfc3339(std::string_view text);
// A decimal integer in [min, max].
Result<int> ParseBoundedInt(std::string_view text, int min, int max);

// Who a live subscriber (or a list query) wants to see. Empty/absent: any.
struct PredictionFilter {
  std::string tenant_id;
  std::optional<v1::Sex> sex;
  std::optional<v1::Decision> decision;
  // The tenants the subscriber may see (its principal's); default: none.
  store::TenantScope scope;

  bool Matches(const v1::Prediction& p) const {
    return scope.Contains(p.tenant_id()) && (tenant_id.empty() || p.tenant_id() == tenant_id) &&
           (!sex || p.sex() == *sex) && (!decision || p.decision() == *decision);
  }
};

// Reads tenant_id, sex and decision from a decoded query.
std::optional<ParamError> ParseFilter(const std::map<std::string, std::string>& query, PredictionFilter* out);

}  // namespace ovoflow::api
