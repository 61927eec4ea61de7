// Admin authorisation of the API until JWTs with roles arrive: one shared
// bearer token (ApiOptions::admin_token / admin_token_file). Routes that
// change the pipeline (model activation) call RequireAdmin first.
#pragma once

#include <optional>

#include "api/response.h"
#include "api/router.h"
#include "api/server.h"

namespace ovoflow::api {

inline constexpr ProblemSpec kUnauthorized{401, "unauthorized", "Authentication required"};
inline constexpr ProblemSpec kForbidden{403, "forbidden", "Not allowed"};

// Reads options->admin_token_file (when set) into options->admin_token,
// trimming the trailing newline. InvalidArgument when the file cannot be
// read or holds an empty or short (< 16 bytes) token.
Status LoadAdminToken(ApiOptions* options);

// nullopt when the request carries "Authorization: Bearer <admin token>";
// otherwise the answer: 403 when no token is configured (admin API off),
// 401 (with WWW-Authenticate) without bearer credentials, 403 for a wrong token.
std::optional<Response> RequireAdmin(const RequestContext& ctx);

}  // namespace ovoflow::api
