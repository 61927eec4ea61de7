#include "api/router.h"

#include <algorithm>
#include <string_view>

#include "api/handlers.h"
#include "auth/principal.h"

namespace ovoflow::api {

namespace {

namespace http = boost::beast::http;

// The roles of docs/security.md ("Roles"): readers see their tenants'
// data; operators and hatchery admins also record outcomes; scanners (machines)
// only post scans; platform admins act for every tenant and manage models.
// Built once at start-up, where running out of memory cannot be handled anyway.
// NOLINTBEGIN(cert-err58-cpp)
const std::vector<std::string> kReaders = {auth::kViewer, auth::kOperator, auth::kHatcheryAdmin, auth::kPlatformAdmin};
const std::vector<std::string> kOutcomeWriters = {auth::kOperator, auth::kHatcheryAdmin, auth::kPlatformAdmin};
const std::vector<std::string> kScanners = {auth::kScanner};
const std::vector<std::string> kAllRoles = {auth::kViewer,        auth::kOperator, auth::kHatcheryAdmin,
                                            auth::kPlatformAdmin, auth::kScanner,  auth::kMonitoring};
const std::vector<std::string> kModelAdmins = {auth::kPlatformAdmin};
// /metrics carries tenant names in some labels: scrapers need a token with
// the monitoring role (or ApiOptions::auth.metrics_public on stage endpoints).
const std::vector<std::string> kMonitors = {auth::kMonitoring, auth::kPlatformAdmin};
// NOLINTEND(cert-err58-cpp)

const std::vector<RouteSpec>& Specs() {
  static const auto* specs = new std::vector<RouteSpec>{
      {{"GET",
        "/v1/eggs",
        {"tenant_id", "sex", "decision", "from", "to", "limit", "cursor"},
        Access::AnyRole(kReaders)},
       Lane::kQuery,
       HandleListEggs},
      {{"GET", "/v1/eggs/{egg_id}", {"tenant_id"}, Access::AnyRole(kReaders)}, Lane::kQuery, HandleGetEgg},
      {{"POST", "/v1/eggs/{egg_id}/outcome", {}, Access::AnyRole(kOutcomeWriters)}, Lane::kIngest, HandlePostOutcome},
      {{"GET", "/v1/stats", {"tenant_id", "from", "to"}, Access::AnyRole(kReaders)}, Lane::kQuery, HandleStats},
      {{"POST", "/v1/scans", {}, Access::AnyRole(kScanners)}, Lane::kIngest, HandlePostScan},
      {{"GET", "/v1/models", {}, Access::AnyRole(kReaders)}, Lane::kQuery, HandleListModels},
      {{"POST", "/v1/models/{version}:activate", {}, Access::AnyRole(kModelAdmins)},
       Lane::kIngest,
       HandleActivateModel},
      {{"POST", "/v1/models/{version}:deactivate", {}, Access::AnyRole(kModelAdmins)},
       Lane::kIngest,
       HandleDeactivateModel},
      {{"GET", "/v1/live", {"tenant_id", "sex", "decision"}, Access::AnyRole(kReaders)},
       Lane::kInline,
       HandleLiveWithoutUpgrade,
       true},
      {{"GET", "/v1/me", {}, Access::AnyRole(kAllRoles)}, Lane::kInline, HandleMe},
      {{"GET", "/v1/auth/config", {}, Access::Public()}, Lane::kInline, HandleAuthConfig},
      {{"GET", "/healthz", {}, Access::Public()}, Lane::kInline, HandleHealthz},
      {{"GET", "/readyz", {}, Access::Public()}, Lane::kInline, HandleReadyz},
      {{"GET", "/metrics", {}, Access::AnyRole(kMonitors)}, Lane::kInline, HandleMetrics},
      {{"GET", "/openapi.yaml", {}, Access::Public()}, Lane::kInline, HandleOpenApi},
      {{"GET", "/", {}, Access::Public()}, Lane::kInline, HandleIndex},
      {{"GET", "/{asset}", {}, Access::Public()}, Lane::kInline, HandleAsset},
  };
  return *specs;
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  for (;;) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsParam(std::string_view segment) { return segment.size() > 2 && segment.front() == '{' && segment.back() == '}'; }

// "{version}:activate": a parameter followed by a literal custom-method
// suffix (Google AIP-136); returns the suffix (":activate"), else empty.
std::string_view CustomMethodSuffix(std::string_view segment) {
  std::size_t close = segment.find("}:");
  if (segment.size() < 4 || segment.front() != '{' || close == std::string_view::npos) return {};
  return segment.substr(close + 1);
}

// -1: no match; otherwise the number of literal segments (higher is more specific).
int MatchTemplate(std::string_view tmpl, const std::vector<std::string_view>& path, std::vector<std::string>* params) {
  auto t = Segments(tmpl);
  if (t.size() != path.size()) return -1;
  int literal = 0;
  params->clear();
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (std::string_view suffix = CustomMethodSuffix(t[i]); !suffix.empty()) {
      // The colon may come percent-encoded: match on the decoded segment.
      auto decoded = PercentDecode(path[i], false);
      if (!decoded || decoded->size() <= suffix.size() ||
          std::string_view(*decoded).substr(decoded->size() - suffix.size()) != suffix)
        return -1;
      params->push_back(decoded->substr(0, decoded->size() - suffix.size()));
      ++literal;  // more specific than a bare parameter
    } else if (IsParam(t[i])) {
      auto decoded = PercentDecode(path[i], false);
      if (path[i].empty() || !decoded) return -1;
      params->push_back(*decoded);
    } else if (t[i] == path[i]) {
      ++literal;
    } else {
      return -1;
    }
  }
  return literal;
}

}  // namespace

const std::vector<RouteInfo>& Routes() {
  static const auto* routes = [] {
    auto* out = new std::vector<RouteInfo>;
    for (const auto& s : Specs()) out->push_back(s.info);
    return out;
  }();
  return *routes;
}

RouteMatch MatchRoute(const Request& request, bool have_store) {
  RouteMatch m;
  m.route_label = "unmatched";
  std::string instance(request.target());
  if (auto err = ParseTarget(Sv(request.target()), &m.target)) {
    m.error = Problem(kInvalidParameter, "query parameter '" + err->parameter + "': " + err->detail, instance,
                      err->parameter);
    return m;
  }
  auto path = Segments(m.target.path);
  // The most specific matching template wins ("/openapi.yaml" over "/{asset}").
  int best = -1;
  std::string_view best_template;
  std::vector<std::string> params;
  for (const auto& s : Specs()) {
    int score = MatchTemplate(s.info.path, path, &params);
    if (score > best) {
      best = score;
      best_template = s.info.path;
    }
  }
  if (best < 0) {
    m.error = Problem(kNotFound, "no resource at " + m.target.path, instance);
    return m;
  }
  m.route_label = std::string(best_template);
  std::string allow;
  std::string method(request.method_string());
  for (const auto& s : Specs()) {
    if (s.info.path != best_template) continue;
    if (s.info.method == method) m.spec = &s;
    allow += (allow.empty() ? "" : ", ") + s.info.method;
  }
  if (!m.spec) {
    m.error = Problem(kMethodNotAllowed, method + " is not allowed on " + m.route_label + "; use " + allow, instance);
    m.error->set(http::field::allow, allow);
    return m;
  }
  MatchTemplate(m.spec->info.path, path, &m.path_params);
  for (const auto& [name, value] : m.target.query) {
    const auto& known = m.spec->info.query_params;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string accepted;
      for (const auto& k : known) accepted += (accepted.empty() ? "" : ", ") + k;
      m.error = Problem(kInvalidParameter,
                        "unknown query parameter '" + name + "'" +
                            (accepted.empty() ? "; this route takes none" : "; accepted: " + accepted),
                        instance, name);
      m.spec = nullptr;
      return m;
    }
  }
  if (!have_store && m.target.path.rfind("/v1/", 0) == 0) {
    m.error =
        Problem(kUnavailable, "this process serves metrics and health only; it has no prediction store", instance);
    m.spec = nullptr;
  }
  return m;
}

}  // namespace ovoflow::api
