// The API's route table: every path template, method and query parameter
// the server answers. The OpenAPI document (openapi.yaml) is checked against
// it by a test, so the two cannot drift apart.
#pragma once

#include <string>
#include <vector>

namespace ovoflow::api {

struct RouteInfo {
  std::string method;                     // "GET", "POST"
  std::string path;                       // template, e.g. "/v1/eggs/{egg_id}"
  std::vector<std::string> query_params;  // every accepted query parameter; others get 400
};

// Every route, in matching order. Stable for the life of the process.
const std::vector<RouteInfo>& Routes();

}  // namespace ovoflow::api
