#include "auth/testing/token_factory.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace ovoflow::auth::testing {

std::string Base64Url(const std::string& bytes) {
  char* out = nullptr;
  std::size_t len = 0;
  cjose_err err;
  if (!cjose_base64url_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &out, &len, &err))
    throw std::runtime_error("base64url");
  std::string s(out, len);
  cjose_get_dealloc()(out);
  return s;
}

SigningKey::~SigningKey() { cjose_jwk_release(jwk_); }

std::unique_ptr<SigningKey> SigningKey::Ec256(const std::string& kid) {
  cjose_err err;
  cjose_jwk_t* jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
  cjose_jwk_set_kid(jwk, kid.c_str(), kid.size(), &err);
  return std::unique_ptr<SigningKey>(new SigningKey(jwk, kid, "ES256"));
}

std::unique_ptr<SigningKey> SigningKey::Rsa2048(const std::string& kid) {
  cjose_err err;
  static const uint8_t e[] = {0x01, 0x00, 0x01};
  cjose_jwk_t* jwk = cjose_jwk_create_RSA_random(2048, e, sizeof e, &err);
  cjose_jwk_set_kid(jwk, kid.c_str(), kid.size(), &err);
  return std::unique_ptr<SigningKey>(new SigningKey(jwk, kid, "RS256"));
}

std::string SigningKey::PublicJwk() const {
  cjose_err err;
  char* json = cjose_jwk_to_json(jwk_, false, &err);
  std::string s(json);
  cjose_get_dealloc()(json);
  return s;
}

std::string SigningKey::Sign(const std::string& claims_json, const std::string& header_alg,
                             const std::string& kid_override) const {
  cjose_err err;
  cjose_header_t* hdr = cjose_header_new(&err);
  cjose_header_set(hdr, CJOSE_HDR_ALG, (header_alg.empty() ? alg_ : header_alg).c_str(), &err);
  cjose_header_set(hdr, CJOSE_HDR_KID, (kid_override.empty() ? kid_ : kid_override).c_str(), &err);
  cjose_header_set(hdr, "typ", "JWT", &err);
  cjose_jws_t* jws =
      cjose_jws_sign(jwk_, hdr, reinterpret_cast<const uint8_t*>(claims_json.data()), claims_json.size(), &err);
  cjose_header_release(hdr);
  if (jws == nullptr) throw std::runtime_error(std::string("sign: ") + (err.message ? err.message : "?"));
  const char* compact = nullptr;
  cjose_jws_export(jws, &compact, &err);
  std::string s(compact);
  cjose_jws_release(jws);
  return s;
}

std::string Jwks(const std::vector<const SigningKey*>& keys) {
  std::string out = "{\"keys\":[";
  for (std::size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i]->PublicJwk();
  return out + "]}";
}

std::string UnsignedToken(const std::string& claims_json, const std::string& kid) {
  return Base64Url("{\"alg\":\"none\",\"kid\":\"" + kid + "\",\"typ\":\"JWT\"}") + "." + Base64Url(claims_json) + ".";
}

std::string HmacToken(const std::string& claims_json, const std::string& kid, const std::string& secret) {
  std::string signing_input =
      Base64Url("{\"alg\":\"HS256\",\"kid\":\"" + kid + "\",\"typ\":\"JWT\"}") + "." + Base64Url(claims_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &mac_len);
  return signing_input + "." + Base64Url(std::string(reinterpret_cast<char*>(mac), mac_len));
}

StaticKeySource::StaticKeySource(std::string issuer, const std::string& jwks) : issuer_(std::move(issuer)) {
  auto keys = ParseJwks(jwks);
  if (!keys.ok()) throw std::runtime_error(keys.status().ToString());
  keys_ = std::move(keys).value();
}

Result<std::shared_ptr<const Jwk>> StaticKeySource::Find(const std::string& issuer, const std::string& kid) {
  if (issuer != issuer_) return Status::NotFound("issuer not trusted");
  for (const auto& k : keys_)
    if (k->kid() == kid) return k;
  return Status::NotFound("no key '" + kid + "'");
}

}  // namespace ovoflow::auth::testing
