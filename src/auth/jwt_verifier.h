// Verification of OpenID Connect bearer tokens (JWS compact JWTs) by the
// rules of RFC 8725: an explicit algorithm allow-list checked before any
// key is looked up (never "none", never an HMAC), a key whose type fits the
// algorithm, the issuer among the trusted ones, the audience, "exp" and
// "nbf" with a small leeway, and a size limit. Signatures are checked by
// libcjose; nothing here does cryptography.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "auth/oidc_keys.h"
#include "auth/principal.h"
#include "common/clock.h"
#include "common/status.h"

namespace ovoflow::auth {

// Where the token carries roles, tenants and a scanner id. A name may be a
// dotted path into nested objects ("realm_access.roles" for Keycloak's
// realm roles). A claim holds an array of strings or one string.
struct ClaimNames {
  std::string roles = "ovoflow_roles";
  std::string tenants = "ovoflow_tenants";
  std::string scanner_id = "ovoflow_scanner_id";
};

struct VerifierOptions {
  std::vector<std::string> issuers;                          // exact "iss" values trusted
  std::string audience;                                      // must be in "aud"
  std::vector<std::string> algorithms = {"ES256", "RS256"};  // of these only (EdDSA: see docs/security.md)
  std::chrono::seconds leeway{30};                           // clock skew allowed on exp and nbf
  std::size_t max_token_bytes = 8192;
  ClaimNames claims;
};

class JwtVerifier {
 public:
  // `keys` and `clock` are not owned and must outlive the verifier; `clock`
  // defaults to SystemClock(). InvalidArgument for options that make no
  // sense (no issuer, no audience, an algorithm outside ES256/RS256).
  static Result<std::unique_ptr<JwtVerifier>> Create(VerifierOptions options, KeySource* keys,
                                                     const Clock* clock = nullptr);

  // The caller the token names. Errors: InvalidArgument "<kind>: <detail>"
  // for a token to refuse (401; kinds: too_large, malformed, algorithm,
  // issuer, unknown_key, signature, expired, not_yet_valid, audience,
  // claims); Unavailable when the issuer's keys cannot be had (503).
  // Thread-safe.
  Result<Principal> Verify(std::string_view token) const;

  const std::vector<std::string>& issuers() const { return options_.issuers; }
  const std::string& audience() const { return options_.audience; }

 private:
  JwtVerifier(VerifierOptions options, KeySource* keys, const Clock& clock)
      : options_(std::move(options)), keys_(keys), clock_(clock) {}
  const VerifierOptions options_;
  KeySource* const keys_;
  const Clock& clock_;
};

// The kind of a Verify error ("expired", ...) for metrics labels; "unavailable"
// for Unavailable.
std::string TokenErrorKind(const Status& st);

}  // namespace ovoflow::auth
