// Read-only prediction resources: one egg (with its outcome), a filtered page
// of eggs, stats with live accuracy.
#include <string>

#include "api/handlers.h"
#include "api/json.h"

namespace ovoflow::api {

namespace {

std::string Instance(const RequestContext& ctx) { return std::string(ctx.request.target()); }

Response BadParameter(const RequestContext& ctx, const ParamError& e) {
  return Problem(kInvalidParameter, "query parameter '" + e.parameter + "': " + e.detail, Instance(ctx),
                 e.parameter);
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

Response HandleGetEgg(const RequestContext& ctx) {
  const std::string& egg_id = ctx.path_params.at(0);
  auto egg = ctx.deps.store->GetEgg(Param(ctx, "tenant_id"), egg_id);
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
  q.tenant_id = filter.tenant_id;
  q.sex = filter.sex;
  q.decision = filter.decision;
  if (auto e = ParseTimeRange(ctx, &q.from_unix_nanos, &q.to_unix_nanos)) return BadParameter(ctx, *e);
  if (auto it = ctx.target.query.find("limit"); it != ctx.target.query.end()) {
    auto limit = ParseBoundedInt(it->second, 1, 1000);
    if (!limit.ok()) return BadParameter(ctx, {"limit", limit.status().message()});
    q.limit = *limit;
  }
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
  q.tenant_id = Param(ctx, "tenant_id");
  if (auto e = ParseTimeRange(ctx, &q.from_unix_nanos, &q.to_unix_nanos)) return BadParameter(ctx, *e);
  auto stats = ctx.deps.store->GetStats(q);
  if (!stats.ok()) return ProblemFromStatus(stats.status(), Instance(ctx));
  // Live accuracy over the same scope (tenant, captured_at range).
  auto accuracy = ctx.deps.store->GetAccuracy(q);
  if (!accuracy.ok()) return ProblemFromStatus(accuracy.status(), Instance(ctx));
  return JsonResponse(200, StatsJson(*stats, *accuracy));
}

Response HandleLiveWithoutUpgrade(const RequestContext& ctx) {
  PredictionFilter filter;
  if (auto e = ParseFilter(ctx.target.query, &filter)) return BadParameter(ctx, *e);
  Response res = Problem(kUpgradeRequired, "/v1/live is a WebSocket endpoint; send a WebSocket upgrade request",
                         Instance(ctx));
  res.set(boost::beast::http::field::upgrade, "websocket");
  return res;
}

}  // namespace ovoflow::api
