#include "auth/oidc_keys.h"

#include <jansson.h>
#include <spdlog/spdlog.h>

namespace ovoflow::auth {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// "jwks_uri" of an OpenID Connect discovery document, which must name `issuer`.
Result<std::string> JwksUri(const std::string& issuer, const std::string& json) {
  json_error_t jerr;
  std::unique_ptr<json_t, void (*)(json_t*)> doc(json_loadb(json.data(), json.size(), 0, &jerr),
                                                 [](json_t* j) { json_decref(j); });
  if (!doc) return Status::Unavailable("discovery document of " + issuer + " is not JSON: " + jerr.text);
  const char* iss = json_string_value(json_object_get(doc.get(), "issuer"));
  const char* uri = json_string_value(json_object_get(doc.get(), "jwks_uri"));
  // OpenID Connect Discovery §4.3: the issuer it names must be the one asked for.
  if (iss == nullptr || issuer != iss)
    return Status::Unavailable("discovery document of " + issuer + " names issuer '" + (iss ? iss : "") + "'");
  if (uri == nullptr) return Status::Unavailable("discovery document of " + issuer + " has no jwks_uri");
  return std::string(uri);
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

OidcKeySource::OidcKeySource(const std::vector<std::string>& issuers, OidcKeyOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock ? *clock : SystemClock()) {
  for (const auto& i : issuers) issuers_.emplace(i, std::make_unique<IssuerKeys>());
}

int OidcKeySource::fetches() const { return fetches_.load(); }

Status OidcKeySource::Refresh(const std::string& issuer, IssuerKeys& k) {
  k.tried = true;
  k.tried_at = clock_.MonotonicNanos();
  ++fetches_;
  if (k.jwks_uri.empty()) {
    OVOFLOW_ASSIGN_OR_RETURN(std::string doc,
                             HttpGet(TrimSlash(issuer) + "/.well-known/openid-configuration", options_.http));
    OVOFLOW_ASSIGN_OR_RETURN(k.jwks_uri, JwksUri(issuer, doc));
  }
  OVOFLOW_ASSIGN_OR_RETURN(std::string jwks, HttpGet(k.jwks_uri, options_.http));
  auto keys = ParseJwks(jwks);
  if (!keys.ok()) return Status::Unavailable("key set of " + issuer + ": " + keys.status().message());
  k.keys = std::move(keys).value();
  k.have_keys = true;
  k.fetched_at = k.tried_at;
  spdlog::info("auth: {} signing key(s) of {} from {}", k.keys.size(), issuer, k.jwks_uri);
  return Status::Ok();
}

Result<std::shared_ptr<const Jwk>> OidcKeySource::Find(const std::string& issuer, const std::string& kid) {
  auto it = issuers_.find(issuer);
  if (it == issuers_.end()) return Status::NotFound("issuer '" + issuer + "' is not trusted");
  IssuerKeys& k = *it->second;
  std::lock_guard lock(k.mu);
  const int64_t max_age = options_.max_age.count() * kNanosPerSecond;
  auto fresh = [&] { return k.have_keys && clock_.MonotonicNanos() - k.fetched_at < max_age; };
  auto may_try = [&] {
    return !k.tried || clock_.MonotonicNanos() - k.tried_at >= options_.min_refresh_interval.count() * kNanosPerSecond;
  };
  auto lookup = [&]() -> std::shared_ptr<const Jwk> {
    for (const auto& key : k.keys)
      if (key->kid() == kid) return key;
    return nullptr;
  };
  Status refreshed = Status::Ok();
  bool attempted = false;
  // Stale keys are fetched again; an unknown key id too (the provider may
  // have rotated its keys), both within the rate limit.
  if ((!fresh() || !lookup()) && may_try()) {
    refreshed = Refresh(issuer, k);
    attempted = true;
    if (!refreshed.ok()) spdlog::warn("auth: {}", refreshed.ToString());
  }
  std::shared_ptr<const Jwk> key = lookup();
  if (key && fresh()) return key;
  if (!k.have_keys) {
    return attempted ? refreshed
                     : Status::Unavailable("the keys of " + issuer + " could not be fetched; next try within " +
                                           std::to_string(options_.min_refresh_interval.count()) + " s");
  }
  if (key)
    return Status::Unavailable("the keys of " + issuer + " are older than " + std::to_string(options_.max_age.count()) +
                               " s and cannot be fetched again now");
  return Status::NotFound("issuer " + issuer + " has no key '" + kid + "'");
}

Status OidcKeySource::Prefetch() {
  Status first = Status::Ok();
  for (auto& [issuer, k] : issuers_) {
    std::lock_guard lock(k->mu);
    Status st = Refresh(issuer, *k);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace ovoflow::auth
