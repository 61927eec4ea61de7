// The API's route table: every path template, method and query parameter
// the server answers. The OpenAPI document (openapi.yaml) is checked against
// it by a test, so the two cannot drift apart.
#pragma once

#include <string>
#include <vector>

namespace ovoflow::api {

// What a caller needs to reach a route. Every route declares it (a test
// fails for one that does not); the server checks it in one place
// (HttpSession, through api::Authenticator) before any handler runs.
struct Access {
  enum class Kind { kUndeclared, kPublic, kAnyRole };
  Kind kind = Kind::kUndeclared;
  std::vector<std::string> roles;  // kAnyRole: a verified bearer token with one of these roles

  static Access Public() { return {Kind::kPublic, {}}; }
  static Access AnyRole(std::vector<std::string> roles) { return {Kind::kAnyRole, std::move(roles)}; }
  bool is_public() const { return kind == Kind::kPublic; }
};

struct RouteInfo {
  std::string method;                     // "GET", "POST"
  std::string path;                       // template, e.g. "/v1/eggs/{egg_id}"
  std::vector<std::string> query_params;  // every accepted query parameter; others get 400
  Access access;                          // who may call it
};

// Every route, in matching order. Stable for the life of the process.
const std::vector<RouteInfo>& Routes();

}  // namespace ovoflow::api
