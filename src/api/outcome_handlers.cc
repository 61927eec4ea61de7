// POST /v1/eggs/{egg_id}/outcome: ground truth for a stored egg (its sex
// as seen at hatch or by sexing the chick), compared with the egg's
// prediction and counted into live accuracy (docs/api.md, "Outcomes").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <string>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "api/api_metrics.h"
#include "api/handlers.h"
#include "api/json.h"
#include "api/query.h"
#include "common/clock.h"

namespace ovoflow::api {

namespace {

namespace http = boost::beast::http;
using google::protobuf::Value;

// How far observed_at may lie ahead of this server's clock (clock skew), ns.
constexpr int64_t kFutureSlackNanos = 5LL * 60 * 1'000'000'000;
// Longest recorded_by or note, in characters (code points, as JSON Schema's
// maxLength counts them; at most 4 KiB of UTF-8).
constexpr std::size_t kMaxTextCharacters = 1024;

std::size_t Utf8Characters(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A body field that is wrong: which one and why (-> 400 invalid-field).
struct FieldError {
  std::string field;
  std::string detail;
};

bool IsJson(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  type.erase(std::remove_if(type.begin(), type.end(), [](unsigned char c) { return std::isspace(c); }), type.end());
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type == "application/json";
}

// The string member `name`: nullptr when absent (or JSON null), an error
// when present with another type.
Result<const std::string*> StringMember(const google::protobuf::Struct& body, const std::string& name) {
  auto it = body.fields().find(name);
  if (it == body.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
  if (it->second.kind_case() != Value::kStringValue) return Status::InvalidArgument("must be a string");
  return &it->second.string_value();
}

// Fills `out` (all but recorded_at) from the body; the first bad field.
std::optional<FieldError> ParseOutcome(const google::protobuf::Struct& body, store::Outcome* out, int64_t now) {
  static const char* const kKnown[] = {"tenant_id", "sex", "source", "observed_at", "recorded_by", "note"};
  for (const auto& [name, value] : body.fields()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown))
      return FieldError{name, "unknown field; accepted: tenant_id, sex, source, observed_at, recorded_by, note"};
  }
  std::string text[6];
  for (int i = 0; i < 6; ++i) {
    auto member = StringMember(body, kKnown[i]);
    if (!member.ok()) return FieldError{kKnown[i], member.status().message()};
    if (*member == nullptr && i < 3) return FieldError{kKnown[i], "is required"};
    if (*member != nullptr) text[i] = **member;
  }
  out->tenant_id = text[0];
  if (out->tenant_id.empty()) return FieldError{"tenant_id", "must not be empty"};
  auto sex = ParseSex(text[1]);
  if (!sex.ok()) return FieldError{"sex", sex.status().message()};
  out->sex = *sex;
  out->source = text[2];
  out->observed_at_unix_nanos = now;
  if (!text[3].empty()) {
    auto t = ParseRfc3339(text[3]);
    if (!t.ok()) return FieldError{"observed_at", t.status().message()};
    if (*t > now + kFutureSlackNanos) return FieldError{"observed_at", "lies in the future"};
    out->observed_at_unix_nanos = *t;
  }
  out->recorded_by = text[4];
  out->note = text[5];
  for (int i : {4, 5}) {
    if (Utf8Characters(text[i]) > kMaxTextCharacters)
      return FieldError{kKnown[i], "longer than " + std::to_string(kMaxTextCharacters) + " characters"};
  }
  return std::nullopt;
}

// Counts a new outcome into the metrics, and re-reads the tenant's live
// accuracy from the store when due (at most every 10 s: a hatch posts
// thousands of outcomes, each must not aggregate the whole table). Metrics
// only: a failure is logged, the outcome is stored either way.
void RecordOutcomeMetrics(store::PredictionStore& store, const store::StoredOutcome& stored) {
  const std::string& tenant = stored.outcome.tenant_id;
  GetApiMetrics().RecordOutcome(tenant, stored.prediction.model_version, stored.correct());
  if (!GetLiveAccuracy().RefreshDue(tenant, SystemClock().MonotonicNanos())) return;
  if (Status st = RefreshLiveAccuracy(store, store::TenantScope::Only(tenant)); !st.ok())
    spdlog::warn("api: live accuracy of tenant '{}' not re-read: {}", tenant, st.ToString());
}

}  // namespace

Response HandlePostOutcome(const RequestContext& ctx) {
  const std::string instance(ctx.request.target());
  if (!IsJson(Sv(ctx.request[http::field::content_type])))
    return Problem(kUnsupportedMediaType, "an outcome is a JSON object; send Content-Type: application/json", instance);
  google::protobuf::Struct body;
  if (auto st = google::protobuf::util::JsonStringToMessage(ctx.request.body(), &body); !st.ok())
    return Problem(kBadRequest, "the body is not a JSON object: " + st.ToString(), instance);

  const int64_t now = SystemClock().NowUnixNanos();
  store::Outcome outcome;
  outcome.egg_id = ctx.path_params.at(0);
  outcome.recorded_at_unix_nanos = now;
  if (auto e = ParseOutcome(body, &outcome, now)) return FieldProblem(e->field + ": " + e->detail, instance, e->field);
  std::string field;
  if (Status st = store::CheckOutcome(outcome, &field); !st.ok()) return FieldProblem(st.message(), instance, field);
  // The body names the tenant; the token decides whether the caller acts for it.
  const auth::Principal& caller = *ctx.principal;
  if (!caller.ActsFor(outcome.tenant_id))
    return Problem(kForbidden, "tenant_id '" + outcome.tenant_id + "' is not one of your tenants", instance,
                   "tenant_id");
  // Who recorded it comes from the token, not from the body (mass assignment).
  if (!caller.local_development) {
    if (!outcome.recorded_by.empty() && outcome.recorded_by != caller.subject)
      return FieldProblem("recorded_by: is set from your token ('" + caller.subject + "'); leave it out", instance,
                          "recorded_by");
    outcome.recorded_by = caller.subject;
  }

  auto recorded = ctx.deps.store->RecordOutcome(outcome);
  if (!recorded.ok()) {
    if (recorded.status().code() == StatusCode::kNotFound)
      return Problem(kNotFound, recorded.status().message(), instance);
    return ProblemFromStatus(recorded.status(), instance);
  }
  if (recorded->created) RecordOutcomeMetrics(*ctx.deps.store, recorded->stored);
  Response res = JsonResponse(recorded->created ? 201 : 200, OutcomeJson(recorded->stored));
  res.set(http::field::location,
          "/v1/eggs/" + PercentEncodeSegment(outcome.egg_id) + "?tenant_id=" + PercentEncodeSegment(outcome.tenant_id));
  return res;
}

}  // namespace ovoflow::api
