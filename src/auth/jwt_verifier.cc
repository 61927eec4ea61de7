#include "auth/jwt_verifier.h"

#include <algorithm>
#include <memory>

#include <cjose/cjose.h>
#include <jansson.h>

namespace ovoflow::auth {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

using JsonPtr = std::unique_ptr<json_t, void (*)(json_t*)>;
JsonPtr NoJson() {
  return JsonPtr(nullptr, [](json_t* j) { json_decref(j); });
}

Status Refuse(const std::string& kind, const std::string& detail) {
  return Status::InvalidArgument(kind + ": " + detail);
}

// A base64url segment decoded and parsed as a JSON object; nullptr if it is not one.
JsonPtr DecodeJsonSegment(std::string_view segment) {
  uint8_t* raw = nullptr;
  std::size_t len = 0;
  cjose_err err;
  if (!cjose_base64url_decode(segment.data(), segment.size(), &raw, &len, &err)) return NoJson();
  json_error_t jerr;
  JsonPtr doc(json_loadb(reinterpret_cast<const char*>(raw), len, JSON_REJECT_DUPLICATES, &jerr),
              [](json_t* j) { json_decref(j); });
  cjose_get_dealloc()(raw);
  if (!doc || !json_is_object(doc.get())) return NoJson();
  return doc;
}

// The value at a dotted path ("realm_access.roles"), or nullptr.
json_t* AtPath(json_t* obj, const std::string& path) {
  std::size_t start = 0;
  while (obj != nullptr) {
    std::size_t dot = path.find('.', start);
    obj = json_object_get(obj, path.substr(start, dot - start).c_str());
    if (dot == std::string::npos) return obj;
    start = dot + 1;
  }
  return nullptr;
}

// Strings of a claim that holds an array of strings or one string.
Result<std::set<std::string>> StringSet(json_t* claims, const std::string& path) {
  std::set<std::string> out;
  json_t* v = AtPath(claims, path);
  if (v == nullptr) return out;
  if (json_is_string(v)) {
    out.insert(json_string_value(v));
    return out;
  }
  if (!json_is_array(v)) return Refuse("claims", "'" + path + "' is neither a string nor an array of strings");
  std::size_t i;
  json_t* item;
  json_array_foreach(v, i, item) {
    if (!json_is_string(item)) return Refuse("claims", "'" + path + "' holds a value that is not a string");
    out.insert(json_string_value(item));
  }
  return out;
}

// A NumericDate (RFC 7519 §2) claim in whole seconds; false when absent or not a number.
bool NumericDate(json_t* claims, const char* name, int64_t* out) {
  json_t* v = json_object_get(claims, name);
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return true;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!(d > -9.2e18 && d < 9.2e18)) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

bool AudienceHolds(json_t* claims, const std::string& audience) {
  json_t* aud = json_object_get(claims, "aud");
  if (json_is_string(aud)) return audience == json_string_value(aud);
  std::size_t i;
  json_t* item;
  json_array_foreach(aud, i, item) {
    if (json_is_string(item) && audience == json_string_value(item)) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(VerifierOptions options, KeySource* keys, const Clock* clock) {
  if (options.issuers.empty()) return Status::InvalidArgument("auth: no trusted issuer (--oidc-issuer)");
  if (options.audience.empty()) return Status::InvalidArgument("auth: no audience (--oidc-audience)");
  if (options.algorithms.empty()) return Status::InvalidArgument("auth: no algorithm allowed");
  for (const auto& a : options.algorithms)
    if (a != "ES256" && a != "RS256")
      return Status::InvalidArgument("auth: algorithm '" + a + "' is not supported (ES256, RS256)");
  if (keys == nullptr) return Status::InvalidArgument("auth: no key source");
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(options), keys, clock ? *clock : SystemClock()));
}

Result<Principal> JwtVerifier::Verify(std::string_view token) const {
  if (token.size() > options_.max_token_bytes)
    return Refuse("too_large", "the token has " + std::to_string(token.size()) + " bytes; at most " +
                                   std::to_string(options_.max_token_bytes) + " are accepted");
  const bool charset_ok = std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  // (An empty signature passes here: "alg": "none" is refused by name below.)
  if (!charset_ok || dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return Refuse("malformed", "not a signed JWT in compact form (header.payload.signature, base64url)");

  JsonPtr header = DecodeJsonSegment(token.substr(0, dot1));
  if (!header) return Refuse("malformed", "the header is not a base64url JSON object");
  const char* alg = json_string_value(json_object_get(header.get(), "alg"));
  const char* kid = json_string_value(json_object_get(header.get(), "kid"));
  if (alg == nullptr) return Refuse("malformed", "the header has no \"alg\"");
  if (std::find(options_.algorithms.begin(), options_.algorithms.end(), alg) == options_.algorithms.end())
    return Refuse("algorithm", std::string("'") + alg + "' is not allowed");
  if (json_object_get(header.get(), "crit") != nullptr)
    return Refuse("malformed", "the header has critical extensions (\"crit\"), which are not understood");
  if (kid == nullptr) return Refuse("unknown_key", "the header has no \"kid\"");

  // The issuer decides which keys to ask for; the claims are trusted only
  // after the signature is checked (and read again from cjose's output).
  JsonPtr unverified = DecodeJsonSegment(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!unverified) return Refuse("malformed", "the payload is not a base64url JSON object");
  const char* iss = json_string_value(json_object_get(unverified.get(), "iss"));
  if (iss == nullptr || std::find(options_.issuers.begin(), options_.issuers.end(), iss) == options_.issuers.end())
    return Refuse("issuer", std::string("'") + (iss ? iss : "") + "' is not a trusted issuer");
  const std::string issuer = iss;

  auto key = keys_->Find(issuer, kid);
  if (!key.ok()) {
    if (key.status().code() == StatusCode::kNotFound) return Refuse("unknown_key", key.status().message());
    return key.status();
  }
  if (!(*key)->Fits(alg)) return Refuse("algorithm", std::string("key '") + kid + "' does not fit '" + alg + "'");

  cjose_err err;
  std::unique_ptr<cjose_jws_t, void (*)(cjose_jws_t*)> jws(cjose_jws_import(token.data(), token.size(), &err),
                                                           cjose_jws_release);
  if (!jws) return Refuse("malformed", std::string("not a JWS: ") + (err.message ? err.message : "?"));
  if (!cjose_jws_verify(jws.get(), (*key)->native(), &err)) return Refuse("signature", "the signature does not verify");
  uint8_t* plain = nullptr;
  std::size_t plain_len = 0;
  if (!cjose_jws_get_plaintext(jws.get(), &plain, &plain_len, &err)) return Refuse("malformed", "no payload");
  json_error_t jerr;
  JsonPtr claims(json_loadb(reinterpret_cast<const char*>(plain), plain_len, JSON_REJECT_DUPLICATES, &jerr),
                 [](json_t* j) { json_decref(j); });
  if (!claims || !json_is_object(claims.get())) return Refuse("malformed", "the payload is not a JSON object");
  const char* verified_iss = json_string_value(json_object_get(claims.get(), "iss"));
  if (verified_iss == nullptr || issuer != verified_iss) return Refuse("issuer", "the issuer changed");

  const int64_t now = clock_.NowUnixNanos() / kNanosPerSecond;
  const int64_t leeway = options_.leeway.count();
  int64_t exp = 0, nbf = 0;
  if (!NumericDate(claims.get(), "exp", &exp)) return Refuse("claims", "no \"exp\"");
  if (now > exp + leeway) return Refuse("expired", "expired " + std::to_string(now - exp) + " s ago");
  if (NumericDate(claims.get(), "nbf", &nbf) && now + leeway < nbf)
    return Refuse("not_yet_valid", "valid only in " + std::to_string(nbf - now) + " s");
  if (!AudienceHolds(claims.get(), options_.audience))
    return Refuse("audience", "the token is not meant for '" + options_.audience + "'");
  const char* sub = json_string_value(json_object_get(claims.get(), "sub"));
  if (sub == nullptr || *sub == '\0') return Refuse("claims", "no \"sub\"");

  Principal p;
  p.issuer = issuer;
  p.subject = sub;
  p.expires_at_unix = exp;
  OVOFLOW_ASSIGN_OR_RETURN(p.roles, StringSet(claims.get(), options_.claims.roles));
  OVOFLOW_ASSIGN_OR_RETURN(p.tenants, StringSet(claims.get(), options_.claims.tenants));
  if (json_t* s = AtPath(claims.get(), options_.claims.scanner_id); json_is_string(s))
    p.scanner_id = json_string_value(s);
  return p;
}

std::string TokenErrorKind(const Status& st) {
  if (st.code() == StatusCode::kUnavailable) return "unavailable";
  const std::string& m = st.message();
  std::size_t colon = m.find(':');
  return colon == std::string::npos ? "other" : m.substr(0, colon);
}

}  // namespace ovoflow::auth
