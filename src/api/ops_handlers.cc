// Operational endpoints: liveness, readiness, Prometheus metrics, the API description.
#include "api/handlers.h"
#include "api/openapi.h"
#include "common/metrics.h"
#include "common/readiness.h"

namespace ovoflow::api {

Response HandleHealthz(const RequestContext&) { return JsonResponse(200, R"({"status":"ok"})"); }

// Not ready while the process starts or stops, and while any component has
// a problem (a stage stalled on a batch: common/readiness.h); the detail
// names each.
Response HandleReadyz(const RequestContext& ctx) {
  if (ctx.deps.ready && !ctx.deps.ready())
    return Problem(kUnavailable, "the process is starting or stopping", std::string(ctx.request.target()));
  const std::vector<std::string> problems = Readiness::Problems();
  if (problems.empty()) return JsonResponse(200, R"({"status":"ready"})");
  std::string detail;
  for (const auto& p : problems) detail += (detail.empty() ? "" : "; ") + p;
  return Problem(kUnavailable, detail, std::string(ctx.request.target()));
}

Response HandleMetrics(const RequestContext&) {
  return TextResponse(200, "text/plain; version=0.0.4; charset=utf-8", SerializeMetrics());
}

Response HandleOpenApi(const RequestContext&) {
  return TextResponse(200, "application/yaml", std::string(OpenApiYaml()));
}

}  // namespace ovoflow::api
