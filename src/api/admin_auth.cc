#include "api/admin_auth.h"

#include <fstream>
#include <sstream>
#include <string>

namespace ovoflow::api {

namespace http = boost::beast::http;

namespace {

// Compares in time independent of where `given` and `want` differ.
bool ConstantTimeEquals(std::string_view given, std::string_view want) {
  unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ (i < want.size() ? want[i] : 0));
  return diff == 0;
}

}  // namespace

Status LoadAdminToken(ApiOptions* o) {
  if (o->admin_token_file.empty()) return Status::Ok();
  std::ifstream in(o->admin_token_file, std::ios::binary);
  if (!in) return Status::InvalidArgument("api: cannot read --admin-token-file " + o->admin_token_file);
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16)
    return Status::InvalidArgument("api: the admin token in " + o->admin_token_file +
                                   " must be at least 16 characters");
  o->admin_token = std::move(token);
  return Status::Ok();
}

std::optional<Response> RequireAdmin(const RequestContext& ctx) {
  const std::string instance(ctx.request.target());
  if (ctx.options.admin_token.empty())
    return Problem(kForbidden,
                   "the admin API is disabled: start the server with --admin-token-file or OVOFLOW_ADMIN_TOKEN",
                   instance);
  auto it = ctx.request.find(http::field::authorization);
  std::string_view auth = it == ctx.request.end() ? std::string_view{} : Sv(it->value());
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer) {
    Response r = Problem(kUnauthorized, "send the admin token as 'Authorization: Bearer <token>'", instance);
    r.set(http::field::www_authenticate, "Bearer realm=\"ovoflow-admin\"");
    return r;
  }
  if (!ConstantTimeEquals(auth.substr(kBearer.size()), ctx.options.admin_token))
    return Problem(kForbidden, "the bearer token is not the admin token", instance);
  return std::nullopt;
}

}  // namespace ovoflow::api
