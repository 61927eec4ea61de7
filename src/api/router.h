// Matches a request to a route of the table (routes.h) and says where its
// handler runs. Handlers are plain functions from a RequestContext to a
// Response; they are thread-safe and may block (the store is synchronous).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/query.h"
#include "api/response.h"
#include "api/routes.h"
#include "api/server.h"
#include "auth/principal.h"

namespace ovoflow::api {

// Where a handler runs. kInline: on the connection's I/O thread (cheap, never
// blocks). kQuery: the store-query pool (short synchronous SQLite reads).
// kIngest: the ingest pool (decodes a scan and waits for the bus to ack).
enum class Lane { kInline, kQuery, kIngest };

struct RequestContext {
  const Request& request;
  const Target& target;                         // path and decoded query
  const std::vector<std::string>& path_params;  // decoded, in template order
  const ApiOptions& options;
  const ApiDeps& deps;
  // The caller, for every route that is not public (checked before the
  // handler runs); nullptr on public routes.
  const auth::Principal* principal = nullptr;
};

using Handler = Response (*)(const RequestContext&);

struct RouteSpec {
  RouteInfo info;
  Lane lane;
  Handler handler;
  bool websocket = false;  // /v1/live: the session upgrades instead of calling the handler
};

// NOLINTNEXTLINE(bugprone-exception-escape): moving its strings and response only moves pointers
struct RouteMatch {
  const RouteSpec* spec = nullptr;  // nullptr when `error` holds the answer
  std::string route_label;          // metrics label: the template, or "unmatched"
  Target target;
  std::vector<std::string> path_params;
  std::optional<Response> error;  // 400 (query), 404, 405 (with Allow), 503 (no store)
};

// Finds the route for a request: the most specific template whose segments
// match, then the method; checks the query parameters against the route's.
// Without a store (`have_store` false) every /v1/ route answers 503.
RouteMatch MatchRoute(const Request& request, bool have_store);

}  // namespace ovoflow::api
