// Operational endpoints: liveness, readiness, Prometheus metrics, the API description.
#include "api/handlers.h"
#include "api/openapi.h"
#include "common/metrics.h"

namespace ovoflow::api {

Response HandleHealthz(const RequestContext&) { return JsonResponse(200, R"({"status":"ok"})"); }

Response HandleReadyz(const RequestContext& ctx) {
  bool ready = !ctx.deps.ready || ctx.deps.ready();
  return ready ? JsonResponse(200, R"({"status":"ready"})")
               : Problem(kUnavailable, "the process is starting or stopping", std::string(ctx.request.target()));
}

Response HandleMetrics(const RequestContext&) {
  return TextResponse(200, "text/plain; version=0.0.4; charset=utf-8", SerializeMetrics());
}

Response HandleOpenApi(const RequestContext&) {
  return TextResponse(200, "application/yaml", std::string(OpenApiYaml()));
}

}  // namespace ovoflow::api
