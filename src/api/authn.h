// Who is calling, and may they: the API's one place for authentication and
// role checks (docs/security.md). HttpSession asks the Authenticator before
// any handler of a non-public route runs; handlers then scope every read and
// write to the principal's tenants (TenantScopeOf, below).
//
// Bearer tokens (RFC 6750) come in "Authorization: Bearer <jwt>" (the scheme
// name in any case) or, for browsers' WebSockets, which cannot set headers,
// as the subprotocol "bearer.<jwt>" of Sec-WebSocket-Protocol. Verified
// tokens are remembered for at most a minute (never past their "exp") so that
// a busy client does not pay a signature check per request. Failed
// authentications are counted per client address; past the limit the address
// gets 429 until its window passes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/response.h"
#include "api/routes.h"
#include "auth/jwt_verifier.h"
#include "auth/principal.h"
#include "store/prediction_store.h"

namespace ovoflow::api {

inline constexpr ProblemSpec kUnauthorized{401, "unauthorized", "Authentication required"};
inline constexpr ProblemSpec kForbidden{403, "forbidden", "Not allowed"};
inline constexpr ProblemSpec kTooManyRequests{429, "too-many-requests", "Too many failed authentications"};

// Identity settings of the API (ApiOptions::auth).
struct AuthOptions {
  // No identity provider: every caller is one local developer with every
  // role (auth::Principal::local_development). Only with insecure_http on a
  // loopback address; the server refuses anything else.
  bool disabled = false;
  // /metrics without a token: for the stages' metrics-only endpoints, whose
  // metrics name no tenant. The API's own /metrics needs the monitoring role.
  bool metrics_public = false;
  // Served at GET /v1/auth/config for the dashboard's sign-in (OIDC
  // authorization code + PKCE): the issuer to send people to and the
  // dashboard's client id there. Empty issuer: the first trusted issuer.
  std::string dashboard_issuer;
  std::string dashboard_client_id = "ovoflow-dashboard";
  std::string audience;  // the verifier's audience, for /v1/auth/config
  // Failed authentications allowed per client address and window; then 429.
  int failure_limit = 20;
  std::chrono::seconds failure_window{60};
};

// The subprotocol a browser offers beside its token; the server answers it.
inline constexpr std::string_view kLiveSubprotocol = "ovoflow.v1";
inline constexpr std::string_view kBearerSubprotocolPrefix = "bearer.";

// The tenants a principal's reads may see: all for platform-admin (and the
// local development principal), else its own.
store::TenantScope TenantScopeOf(const auth::Principal& p);

class Authenticator {
 public:
  // `verifier` (not owned) may be nullptr only when options.disabled.
  Authenticator(const auth::JwtVerifier* verifier, AuthOptions options);

  struct Outcome {
    std::shared_ptr<const auth::Principal> principal;  // set when allowed (shared with the token cache)
    std::optional<Response> refusal;                   // 401/403/429/503 problem otherwise
  };

  // The principal for a request to a route that needs `access` (not public),
  // or the answer to send instead. May block on the identity provider's key
  // set (an unknown key id): call it off the I/O threads. Thread-safe.
  Outcome Authenticate(const Request& request, const Access& access, const std::string& client_address);

  // True when `client_address` used up its failed authentications; the 429
  // to answer is then in *refusal. Cheap; for the I/O thread.
  bool Throttled(const std::string& client_address, const Request& request, Response* refusal);

  bool disabled() const { return options_.disabled; }
  const AuthOptions& options() const { return options_; }

 private:
  struct Cached {
    std::shared_ptr<const auth::Principal> principal;
    std::chrono::steady_clock::time_point until;
  };
  struct Failures {
    std::chrono::steady_clock::time_point window_start;
    int count = 0;
  };
  Result<std::shared_ptr<const auth::Principal>> Verify(std::string_view token);
  void NoteFailure(const std::string& client_address);

  const auth::JwtVerifier* const verifier_;
  const AuthOptions options_;
  const std::shared_ptr<const auth::Principal> local_developer_;  // options_.disabled

  // Looked up by the token's view into the request: a hit copies nothing.
  struct TokenHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view token) const noexcept { return std::hash<std::string_view>{}(token); }
  };
  std::shared_mutex cache_mu_;  // readers share it: a cache hit takes no exclusive lock
  std::unordered_map<std::string, Cached, TokenHash, std::equal_to<>> cache_;  // GUARDED_BY(cache_mu_), by token

  std::mutex failures_mu_;
  std::unordered_map<std::string, Failures> failures_;  // GUARDED_BY(failures_mu_), by address
};

// The bearer token of a request: the Authorization header ("Bearer" in any
// case, RFC 7235 allows spaces after it) or a "bearer.<jwt>" subprotocol.
// nullopt when there is none; an empty string for a malformed header. The
// view is into `request`, valid while it lives.
std::optional<std::string_view> BearerToken(const Request& request);

}  // namespace ovoflow::api
