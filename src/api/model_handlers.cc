// The model lifecycle endpoints (docs/api.md, "Models"): GET /v1/models lists
// the registry and the roles; POST /v1/models/{version}:activate and
// :deactivate publish a ModelActivation (admin bearer token required).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <string>

#include "api/handlers.h"
#include "api/json.h"
#include "api/model_admin.h"

namespace ovoflow::api {

namespace {

using google::protobuf::Value;

inline constexpr ProblemSpec kModelNotLoadable{422, "model-not-loadable", "Model cannot be activated"};

std::string ProtoJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, o).ok()) return "null";
  return out;
}

std::string ModelJson(const ModelEntry& e) {
  const v1::ModelMetadata& m = e.metadata;
  std::string out = "{";
  JsonObjectWriter w(&out);
  w.String("name", m.name()).String("version", m.version()).String("created_at", m.created_at());
  w.String("description", m.description()).Bool("active", e.active).Bool("shadow", e.shadow);
  w.Raw("held_out_metrics", ProtoJson(m.held_out_metrics())).Raw("train_metrics", ProtoJson(m.train_metrics()));
  if (m.has_calibration()) w.Raw("calibration", ProtoJson(m.calibration()));
  if (m.has_recommended_thresholds()) w.Raw("recommended_thresholds", ProtoJson(m.recommended_thresholds()));
  out.push_back('}');
  return out;
}

std::string CatalogJson(const ModelCatalog& c) {
  std::string items = "[";
  for (std::size_t i = 0; i < c.models.size(); ++i) items += (i ? "," : "") + ModelJson(c.models[i]);
  items += "]";
  std::string out = "{";
  JsonObjectWriter w(&out);
  w.Raw("items", items);
  w.Raw("active_activation", c.active ? ProtoJson(*c.active) : "null");
  w.Raw("shadow_activation", c.shadow ? ProtoJson(*c.shadow) : "null");
  out.push_back('}');
  return out;
}

// Characters (code points) of UTF-8 text, as JSON Schema's maxLength counts them.
std::size_t Utf8Characters(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// The optional JSON body of :activate / :deactivate: {"name", "role", "reason"}.
struct ActionBody {
  std::string name, role, reason;
};

std::optional<Response> ParseActionBody(const RequestContext& ctx, bool allow_role, ActionBody* out) {
  const std::string instance(ctx.request.target());
  if (ctx.request.body().empty()) return std::nullopt;
  google::protobuf::Struct body;
  if (auto st = google::protobuf::util::JsonStringToMessage(ctx.request.body(), &body); !st.ok())
    return Problem(kBadRequest, "the body is not a JSON object: " + st.ToString(), instance);
  for (const auto& [name, value] : body.fields()) {
    std::string* slot = name == "name"                   ? &out->name
                        : name == "reason"               ? &out->reason
                        : (name == "role" && allow_role) ? &out->role
                                                         : nullptr;
    if (slot == nullptr)
      return FieldProblem(
          name + ": unknown field; accepted: name, " + std::string(allow_role ? "role, " : "") + "reason", instance,
          name);
    if (value.kind_case() != Value::kStringValue) return FieldProblem(name + ": must be a string", instance, name);
    *slot = value.string_value();
  }
  if (Utf8Characters(out->reason) > 1024)
    return FieldProblem("reason: longer than 1024 characters", instance, "reason");
  return std::nullopt;
}

Response ActivationAnswer(const Result<v1::ModelActivation>& r, const std::string& instance) {
  if (r.ok()) return JsonResponse(202, ProtoJson(*r));
  switch (r.status().code()) {
    case StatusCode::kInvalidArgument:
      return Problem(kModelNotLoadable, r.status().message(), instance);
    case StatusCode::kFailedPrecondition:
      return Problem(kConflict, r.status().message(), instance);
    default:
      return ProblemFromStatus(r.status(), instance);
  }
}

std::optional<Response> RequireModelAdmin(const RequestContext& ctx) {
  if (ctx.deps.models == nullptr)
    return Problem(kUnavailable, "this process does not administer models", std::string(ctx.request.target()));
  return std::nullopt;
}

}  // namespace

Response HandleListModels(const RequestContext& ctx) {
  if (auto no = RequireModelAdmin(ctx)) return *no;
  auto catalog = ctx.deps.models->List();
  if (!catalog.ok()) {
    // No registry directory: the process lacks a dependency (503, like no
    // store), not a missing resource (the route exists).
    if (catalog.status().code() == StatusCode::kNotFound)
      return Problem(kUnavailable, "no model registry: " + catalog.status().message(),
                     std::string(ctx.request.target()));
    return ProblemFromStatus(catalog.status(), std::string(ctx.request.target()));
  }
  return JsonResponse(200, CatalogJson(*catalog));
}

Response HandleActivateModel(const RequestContext& ctx) {
  if (auto no = RequireModelAdmin(ctx)) return *no;
  const std::string instance(ctx.request.target());
  ActionBody body;
  if (auto bad = ParseActionBody(ctx, true, &body)) return *bad;
  ActivationRequest req;
  req.model_name = body.name;
  req.model_version = ctx.path_params.at(0);
  req.reason = body.reason;
  req.activated_by = ctx.principal->subject;
  if (body.role.empty() || body.role == "active")
    req.role = v1::MODEL_ROLE_ACTIVE;
  else if (body.role == "shadow")
    req.role = v1::MODEL_ROLE_SHADOW;
  else
    return FieldProblem("role: must be \"active\" or \"shadow\"", instance, "role");
  return ActivationAnswer(ctx.deps.models->Activate(req), instance);
}

Response HandleDeactivateModel(const RequestContext& ctx) {
  if (auto no = RequireModelAdmin(ctx)) return *no;
  ActionBody body;
  if (auto bad = ParseActionBody(ctx, false, &body)) return *bad;
  return ActivationAnswer(
      ctx.deps.models->DeactivateShadow(body.name, ctx.path_params.at(0), ctx.principal->subject, body.reason),
      std::string(ctx.request.target()));
}

}  // namespace ovoflow::api
