#include "api/authn.h"

#include <algorithm>

#include <cctype>

#include "api/api_metrics.h"

namespace ovoflow::api {

namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxCachedTokens = 10000;
constexpr std::size_t kMaxTrackedAddresses = 10000;
constexpr auto kCacheLifetime = std::chrono::seconds(60);
constexpr const char* kRealm = "Bearer realm=\"ovoflow\"";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

void CountFailure(const std::string& reason) { GetApiMetrics().auth_failures.Add({{"reason", reason}}).Increment(); }

// RFC 6750 section 3: the challenge, and error/error_description for a
// token that was sent but refused. The description holds no quotes.
std::string Challenge(std::string_view error, std::string_view description) {
  std::string c = kRealm;
  if (error.empty()) return c;
  std::string d(description);
  std::replace(d.begin(), d.end(), '"', '\'');
  std::replace(d.begin(), d.end(), '\\', '/');
  return c + ", error=\"" + std::string(error) + "\", error_description=\"" + d + "\"";
}

Response Unauthorized(const Request& req, std::string_view detail, std::string_view error) {
  Response r = Problem(kUnauthorized, detail, Sv(req.target()));
  r.set(http::field::www_authenticate, Challenge(error, detail));
  return r;
}

}  // namespace

store::TenantScope TenantScopeOf(const auth::Principal& p) {
  return p.AllTenants() ? store::TenantScope::All() : store::TenantScope::Of(p.tenants);
}

std::optional<std::string_view> BearerToken(const Request& request) {
  if (auto it = request.find(http::field::authorization); it != request.end()) {
    std::string_view value = Trim(Sv(it->value()));
    std::size_t space = value.find(' ');
    if (space == std::string_view::npos || !EqualsIgnoreCase(value.substr(0, space), "bearer"))
      return std::string_view();
    std::string_view token = Trim(value.substr(space + 1));
    if (token.empty() || token.find(' ') != std::string_view::npos) return std::string_view();
    return token;
  }
  // Browsers' WebSockets: Sec-WebSocket-Protocol: ovoflow.v1, bearer.<jwt>
  if (auto it = request.find(http::field::sec_websocket_protocol); it != request.end()) {
    std::string_view list = Sv(it->value());
    while (!list.empty()) {
      std::size_t comma = list.find(',');
      std::string_view item = Trim(list.substr(0, comma));
      if (item.substr(0, kBearerSubprotocolPrefix.size()) == kBearerSubprotocolPrefix)
        return item.substr(kBearerSubprotocolPrefix.size());
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return std::nullopt;
}

namespace {
std::shared_ptr<const auth::Principal> LocalDeveloper() {
  auto dev = std::make_shared<auth::Principal>();
  dev->issuer = "local";
  dev->subject = "local-development";
  dev->local_development = true;
  return dev;
}
}  // namespace

Authenticator::Authenticator(const auth::JwtVerifier* verifier, AuthOptions options)
    : verifier_(verifier), options_(std::move(options)), local_developer_(LocalDeveloper()) {}

bool Authenticator::Throttled(const std::string& client_address, const Request& request, Response* refusal) {
  if (options_.disabled) return false;
  const auto now = std::chrono::steady_clock::now();
  std::chrono::seconds retry{0};
  {
    std::lock_guard lock(failures_mu_);
    auto it = failures_.find(client_address);
    if (it == failures_.end()) return false;
    if (now - it->second.window_start >= options_.failure_window) {
      failures_.erase(it);
      return false;
    }
    if (it->second.count < options_.failure_limit) return false;
    retry =
        std::chrono::duration_cast<std::chrono::seconds>(options_.failure_window - (now - it->second.window_start)) +
        std::chrono::seconds(1);
  }
  CountFailure("throttled");
  *refusal =
      Problem(kTooManyRequests,
              "too many failed authentications from this address; retry after " + std::to_string(retry.count()) + " s",
              Sv(request.target()));
  refusal->set(http::field::retry_after, std::to_string(retry.count()));
  return true;
}

void Authenticator::NoteFailure(const std::string& client_address) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(failures_mu_);
  if (failures_.size() >= kMaxTrackedAddresses) {
    // Forget windows that passed; if every address is recent, start over
    // rather than grow without bound (an attacker with many addresses
    // gains at most one more window).
    for (auto it = failures_.begin(); it != failures_.end();)
      it = now - it->second.window_start >= options_.failure_window ? failures_.erase(it) : std::next(it);
    if (failures_.size() >= kMaxTrackedAddresses) failures_.clear();
  }
  auto [it, fresh] = failures_.try_emplace(client_address, Failures{now, 0});
  if (!fresh && now - it->second.window_start >= options_.failure_window) it->second = Failures{now, 0};
  ++it->second.count;
}

Result<std::shared_ptr<const auth::Principal>> Authenticator::Verify(std::string_view token) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::shared_lock lock(cache_mu_);
    if (auto it = cache_.find(token); it != cache_.end() && now < it->second.until) return it->second.principal;
  }
  OVOFLOW_ASSIGN_OR_RETURN(auto verified, verifier_->Verify(token));
  auto principal = std::make_shared<const auth::Principal>(std::move(verified));
  // Kept a minute at most and never past "exp": a key withdrawn from the
  // provider's set stops tokens it signed within max(a minute, the key
  // cache's max_age).
  const auto to_exp =
      std::chrono::seconds(principal->expires_at_unix) -
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  const auto lifetime = std::min<std::chrono::steady_clock::duration>(kCacheLifetime, to_exp);
  if (lifetime > std::chrono::seconds(0)) {
    std::unique_lock lock(cache_mu_);
    if (cache_.size() >= kMaxCachedTokens) cache_.clear();
    cache_.insert_or_assign(std::string(token), Cached{principal, now + lifetime});
  }
  return principal;
}

Authenticator::Outcome Authenticator::Authenticate(const Request& request, const Access& access,
                                                   const std::string& client_address) {
  Outcome out;
  if (options_.disabled) {
    out.principal = local_developer_;
    return out;
  }
  auto token = BearerToken(request);
  if (!token) {
    // No credentials at all: a challenge, not a failure (RFC 6750 3.1: no error code).
    CountFailure("missing");
    out.refusal = Unauthorized(request, "this resource needs a bearer token (Authorization: Bearer <token>)", "");
    return out;
  }
  if (token->empty()) {
    CountFailure("malformed");
    NoteFailure(client_address);
    out.refusal = Unauthorized(request, "the Authorization header must be 'Bearer <token>'", "invalid_request");
    return out;
  }
  auto principal = Verify(*token);
  if (!principal.ok()) {
    const std::string kind = auth::TokenErrorKind(principal.status());
    CountFailure(kind);
    if (principal.status().code() == StatusCode::kUnavailable) {
      // The provider's keys cannot be had: not the caller's fault.
      Response r =
          Problem(kUnavailable, "cannot check the token now: " + principal.status().message(), Sv(request.target()));
      r.set(http::field::retry_after, "5");
      out.refusal = std::move(r);
      return out;
    }
    NoteFailure(client_address);
    out.refusal =
        Unauthorized(request, "the bearer token was refused: " + principal.status().message(), "invalid_token");
    return out;
  }
  const bool allowed = std::any_of(access.roles.begin(), access.roles.end(),
                                   [&](const std::string& role) { return (*principal)->HasRole(role); });
  if (!allowed) {
    CountFailure("forbidden");
    std::string roles;
    for (const auto& r : access.roles) roles += (roles.empty() ? "" : ", ") + r;
    Response r = Problem(kForbidden, "this resource needs one of the roles: " + roles, Sv(request.target()));
    r.set(http::field::www_authenticate, Challenge("insufficient_scope", "needs one of the roles: " + roles));
    out.refusal = std::move(r);
    return out;
  }
  out.principal = *std::move(principal);
  return out;
}

}  // namespace ovoflow::api
