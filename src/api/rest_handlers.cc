// Read-only prediction resources: one egg (with its outcome), a filtered page
// of eggs, stats with live accuracy.
#include <set>
#include <string>

#include "api/authn.h"
#include "api/handlers.h"
#include "api/json.h"

namespace ovoflow::api {

namespace {

std::string JsonStringArray(const std::set<std::string>& items) {
  std::string out = "[";
  for (const auto& i : items) out += (out.size() > 1 ? "," : "") + JsonQuote(i);
  return out + "]";
}

std::string Instance(const RequestContext& ctx) { return std::string(ctx.request.target()); }

Response BadParameter(const RequestContext& ctx, const ParamError& e) {
  return Problem(kInvalidParameter, "query parameter '" + e.parameter + "': " + e.detail, Instance(ctx), e.parameter);
}

std::string Param(const RequestContext& ctx, const std::string& name) {
  auto it = ctx.target.query.find(name);
  return it == ctx.target.query.end() ? std::string() : it->second;
}

// Reads "from" and "to" (RFC 3339, on captured_at).
std::optional<ParamError> ParseTimeRange(const RequestContext& ctx, std::optional<int64_t>* from,
                                         std::optional<int64_t>* to) {
  for (const char* name : {"from", "to"}) {
    auto it = ctx.target.query.find(name);
    if (it == ctx.target.query.end()) continue;
    auto t = ParseRfc3339(it->second);
    if (!t.ok()) return ParamError{name, t.status().message()};
    (std::string_view(name) == "from" ? *from : *to) = *t;
  }
  if (*from && *to && **from > **to) return ParamError{"from", "must not be later than 'to'"};
  return std::nullopt;
}

}  // namespace

// The tenants a read covers: the caller's, narrowed to `tenant_id` when the
// request names one. A named tenant outside the caller's is refused (403:
// the same for every tenant not theirs, whether it exists or not).
std::optional<Response> ReadScope(const RequestContext& ctx, const std::string& tenant_id, store::TenantScope* scope) {
  const auth::Principal& caller = *ctx.principal;
  if (tenant_id.empty()) {
    *scope = TenantScopeOf(caller);
    return std::nullopt;
  }
  if (!caller.ActsFor(tenant_id))
    return Problem(kForbidden, "tenant_id '" + tenant_id + "' is not one of your tenants", Instance(ctx), "tenant_id");
  *scope = store::TenantScope::Only(tenant_id);
  return std::nullopt;
}

Response HandleGetEgg(const RequestContext& ctx) {
  const std::string& egg_id = ctx.path_params.at(0);
  // Another tenant's egg answers 404 exactly like a missing one: no
  // existence oracle, also not through ?tenant_id=.
  const std::string tenant_id = Param(ctx, "tenant_id");
  const auth::Principal& caller = *ctx.principal;
  store::TenantScope scope = tenant_id.empty()           ? TenantScopeOf(caller)
                             : caller.ActsFor(tenant_id) ? store::TenantScope::Only(tenant_id)
                                                         : store::TenantScope();
  auto egg = ctx.deps.store->GetEgg(scope, egg_id);
  if (!egg.ok()) return ProblemFromStatus(egg.status(), Instance(ctx));
  if (!egg->has_value()) return Problem(kNotFound, "no egg '" + egg_id + "' is stored", Instance(ctx));
  // The ground truth, once known, under the tenant that holds the egg.
  auto outcome = ctx.deps.store->GetOutcome((*egg)->prediction.tenant_id(), egg_id);
  if (!outcome.ok()) return ProblemFromStatus(outcome.status(), Instance(ctx));
  return JsonResponse(200, EggJson(**egg, outcome->has_value() ? &**outcome : nullptr));
}

Response HandleListEggs(const RequestContext& ctx) {
  store::EggQuery q;
  PredictionFilter filter;
  if (auto e = ParseFilter(ctx.target.query, &filter)) return BadParameter(ctx, *e);
  if (auto refused = ReadScope(ctx, filter.tenant_id, &q.tenants)) return *refused;
  q.sex = filter.sex;
  q.decision = filter.decision;
  if (auto e = ParseTimeRange(ctx, &q.from_unix_nanos, &q.to_unix_nanos)) return BadParameter(ctx, *e);
  if (auto it = ctx.target.query.find("limit"); it != ctx.target.query.end()) {
    auto limit = ParseBoundedInt(it->second, 1, 1000);
    if (!limit.ok()) return BadParameter(ctx, {"limit", limit.status().message()});
    q.limit = *limit;
  }
  // A cursor only positions the page; the scope filters it like any other
  // (a tampered cursor naming another tenant's egg reveals nothing).
  q.cursor = Param(ctx, "cursor");
  auto page = ctx.deps.store->ListEggs(q);
  if (!page.ok()) {
    // The limit is checked above, so an invalid argument here is the cursor.
    if (page.status().code() == StatusCode::kInvalidArgument)
      return BadParameter(ctx, {"cursor", page.status().message()});
    return ProblemFromStatus(page.status(), Instance(ctx));
  }
  return JsonResponse(200, EggPageJson(*page));
}

Response HandleStats(const RequestContext& ctx) {
  store::StatsQuery q;
  if (auto refused = ReadScope(ctx, Param(ctx, "tenant_id"), &q.tenants)) return *refused;
  if (auto e = ParseTimeRange(ctx, &q.from_unix_nanos, &q.to_unix_nanos)) return BadParameter(ctx, *e);
  auto stats = ctx.deps.store->GetStats(q);
  if (!stats.ok()) return ProblemFromStatus(stats.status(), Instance(ctx));
  // Live accuracy over the same scope (tenant, captured_at range).
  auto accuracy = ctx.deps.store->GetAccuracy(q);
  if (!accuracy.ok()) return ProblemFromStatus(accuracy.status(), Instance(ctx));
  return JsonResponse(200, StatsJson(*stats, *accuracy));
}

// Who the caller is, as the API sees it (the dashboard shows it).
Response HandleMe(const RequestContext& ctx) {
  const auth::Principal& p = *ctx.principal;
  std::string body = "{";
  JsonObjectWriter w(&body);
  w.String("subject", p.subject).String("issuer", p.issuer);
  w.Bool("all_tenants", p.AllTenants());
  w.Raw("tenants", JsonStringArray(p.tenants));
  w.Raw("roles", JsonStringArray(p.roles));
  if (!p.scanner_id.empty()) w.String("scanner_id", p.scanner_id);
  if (p.expires_at_unix > 0) w.Int("expires_at_unix", p.expires_at_unix);
  body.push_back('}');
  return JsonResponse(200, std::move(body));
}

// Where the dashboard signs people in (public: it holds no secret).
Response HandleAuthConfig(const RequestContext& ctx) {
  const AuthOptions& a = ctx.options.auth;
  std::string body = "{";
  JsonObjectWriter w(&body);
  w.Bool("enabled", !a.disabled);
  if (!a.disabled) {
    w.String("issuer", a.dashboard_issuer).String("client_id", a.dashboard_client_id).String("audience", a.audience);
  }
  body.push_back('}');
  return JsonResponse(200, std::move(body));
}

Response HandleLiveWithoutUpgrade(const RequestContext& ctx) {
  PredictionFilter filter;
  if (auto e = ParseFilter(ctx.target.query, &filter)) return BadParameter(ctx, *e);
  Response res =
      Problem(kUpgradeRequired, "/v1/live is a WebSocket endpoint; send a WebSocket upgrade request", Instance(ctx));
  res.set(boost::beast::http::field::upgrade, "websocket");
  return res;
}

}  // namespace ovoflow::api
