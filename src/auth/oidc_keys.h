// The signing keys of trusted OpenID Connect issuers: each issuer's
// discovery document ({issuer}/.well-known/openid-configuration) names its
// key set (jwks_uri), fetched and cached here. A token signed with a key
// the cache does not know makes it fetch again (key rotation), at most once
// per min_refresh_interval per issuer, so forged key ids cannot make the
// API hammer the provider; keys older than max_age are fetched again on use
// (a key the provider withdrew stops verifying within max_age).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/http_get.h"
#include "auth/jwk.h"
#include "common/clock.h"
#include "common/status.h"

namespace ovoflow::auth {

class KeySource {
 public:
  virtual ~KeySource() = default;
  // The key `kid` of `issuer` (a trusted one). NotFound when the issuer's key
  // set has no such key; Unavailable when the set cannot be fetched and none
  // is cached. Thread-safe.
  virtual Result<std::shared_ptr<const Jwk>> Find(const std::string& issuer, const std::string& kid) = 0;
};

struct OidcKeyOptions {
  std::chrono::seconds max_age{600};
  std::chrono::seconds min_refresh_interval{30};
  HttpGetOptions http;
};

class OidcKeySource final : public KeySource {
 public:
  // `issuers`: the exact "iss" values to trust (URLs). `clock` (not owned):
  // SystemClock() when nullptr.
  OidcKeySource(const std::vector<std::string>& issuers, OidcKeyOptions options, const Clock* clock = nullptr);
  Result<std::shared_ptr<const Jwk>> Find(const std::string& issuer, const std::string& kid) override;
  // Fetches every issuer's keys now; the first error, if any (start-up check).
  Status Prefetch();
  // Key-set fetches so far, over all issuers (tests, metrics).
  int fetches() const;

 private:
  struct IssuerKeys {
    std::mutex mu;
    std::string jwks_uri;                          // GUARDED_BY(mu), from discovery
    std::vector<std::shared_ptr<const Jwk>> keys;  // GUARDED_BY(mu)
    bool have_keys = false;                        // GUARDED_BY(mu)
    int64_t fetched_at = 0;                        // GUARDED_BY(mu), monotonic ns of the last success
    int64_t tried_at = 0;                          // GUARDED_BY(mu), monotonic ns of the last try
    bool tried = false;                            // GUARDED_BY(mu)
  };
  Status Refresh(const std::string& issuer, IssuerKeys& k);  // requires k.mu

  const OidcKeyOptions options_;
  const Clock& clock_;
  std::map<std::string, std::unique_ptr<IssuerKeys>> issuers_;  // fixed at construction
  std::atomic<int> fetches_{0};
};

}  // namespace ovoflow::auth
