#include "auth/jwk.h"

#include <cjose/cjose.h>
#include <jansson.h>
#include <spdlog/spdlog.h>

namespace ovoflow::auth {

Jwk::Jwk(cjose_jwk_t* jwk, std::string kid, std::string alg) : jwk_(jwk), kid_(std::move(kid)), alg_(std::move(alg)) {}

Jwk::~Jwk() { cjose_jwk_release(jwk_); }

bool Jwk::Fits(const std::string& alg) const {
  if (!alg_.empty() && alg_ != alg) return false;
  cjose_err err;
  const cjose_jwk_kty_t kty = cjose_jwk_get_kty(jwk_, &err);
  const std::size_t bits = cjose_jwk_get_keysize(jwk_, &err);
  if (alg == "RS256") return kty == CJOSE_JWK_KTY_RSA && bits >= 2048;
  if (alg == "ES256") return kty == CJOSE_JWK_KTY_EC && bits == 256;
  return false;
}

namespace {

// True for a base64url value cjose can decode: its alphabet only (no '='
// padding) and a length that is not 1 modulo 4. libcjose 0.6.2 aborts the
// process (an assert in its decoder) on '=' inside a value; found by
// tests/fuzz/jwks_fuzzer.cc.
bool IsBase64UrlValue(json_t* v) {
  const char* s = json_string_value(v);
  if (s == nullptr || *s == '\0') return false;
  std::size_t n = 0;
  for (; s[n] != '\0'; ++n) {
    const char c = s[n];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return n % 4 != 1;
}

}  // namespace

Result<std::vector<std::shared_ptr<const Jwk>>> ParseJwks(const std::string& json) {
  json_error_t jerr;
  std::unique_ptr<json_t, void (*)(json_t*)> doc(json_loadb(json.data(), json.size(), 0, &jerr),
                                                 [](json_t* j) { json_decref(j); });
  if (!doc) return Status::InvalidArgument(std::string("JWKS is not JSON: ") + jerr.text);
  json_t* keys = json_object_get(doc.get(), "keys");
  if (!json_is_array(keys)) return Status::InvalidArgument("JWKS has no \"keys\" array");
  std::vector<std::shared_ptr<const Jwk>> out;
  std::size_t i;
  json_t* key;
  json_array_foreach(keys, i, key) {
    const char* kid = json_string_value(json_object_get(key, "kid"));
    const char* kty = json_string_value(json_object_get(key, "kty"));
    const char* use = json_string_value(json_object_get(key, "use"));
    const char* alg = json_string_value(json_object_get(key, "alg"));
    if (kid == nullptr || kty == nullptr) {
      spdlog::warn("auth: JWKS key {} has no kid or kty; skipped", i);
      continue;
    }
    if (std::string(kty) != "RSA" && std::string(kty) != "EC") continue;  // "oct", "OKP": not ours to verify with
    if (use != nullptr && std::string(use) != "sig") continue;            // encryption keys
    bool private_part = false;
    for (const char* m : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
      private_part |= json_object_get(key, m) != nullptr;
    if (private_part) {
      spdlog::warn("auth: JWKS key '{}' holds a private part; skipped", kid);
      continue;
    }
    const bool ec = std::string(kty) == "EC";
    const bool encoded_ok =
        ec ? IsBase64UrlValue(json_object_get(key, "x")) && IsBase64UrlValue(json_object_get(key, "y")) &&
                 json_is_string(json_object_get(key, "crv"))
           : IsBase64UrlValue(json_object_get(key, "n")) && IsBase64UrlValue(json_object_get(key, "e"));
    if (!encoded_ok) {
      spdlog::warn("auth: JWKS key '{}' has a member that is not base64url; skipped", kid);
      continue;
    }
    cjose_err err;
    cjose_jwk_t* jwk = cjose_jwk_import_json(reinterpret_cast<cjose_header_t*>(key), &err);
    if (jwk == nullptr) {
      spdlog::warn("auth: JWKS key '{}' does not import: {}", kid, err.message ? err.message : "?");
      continue;
    }
    out.push_back(std::shared_ptr<const Jwk>(new Jwk(jwk, kid, alg ? alg : "")));
  }
  return out;
}

}  // namespace ovoflow::auth
