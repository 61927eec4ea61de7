// Test-only: signing keys, their public JWKS, and tokens signed with them
// (through libcjose), plus the forgeries an attacker would try ("alg":
// "none", HS256 keyed with the RSA public key). Never linked into ovoflow.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <cjose/cjose.h>

#include "auth/oidc_keys.h"

namespace ovoflow::auth::testing {

std::string Base64Url(const std::string& bytes);

class SigningKey {
 public:
  static std::unique_ptr<SigningKey> Ec256(const std::string& kid);
  static std::unique_ptr<SigningKey> Rsa2048(const std::string& kid);
  ~SigningKey();
  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return alg_; }
  std::string PublicJwk() const;  // JSON object
  // header: {"alg": alg(), "kid": kid(), "typ": "JWT"} plus `extra_header` members.
  std::string Sign(const std::string& claims_json, const std::string& header_alg = "",
                   const std::string& kid_override = "") const;

 private:
  SigningKey(cjose_jwk_t* jwk, std::string kid, std::string alg)
      : jwk_(jwk), kid_(std::move(kid)), alg_(std::move(alg)) {}
  cjose_jwk_t* jwk_;
  std::string kid_, alg_;
};

// {"keys": [...]} of the keys' public parts.
std::string Jwks(const std::vector<const SigningKey*>& keys);

// header.payload. with "alg": "none" and an empty signature.
std::string UnsignedToken(const std::string& claims_json, const std::string& kid);
// HS256 over header.payload keyed with `secret` (e.g. the RSA key's public JWK).
std::string HmacToken(const std::string& claims_json, const std::string& kid, const std::string& secret);

// A KeySource over a fixed JWKS document.
class StaticKeySource final : public KeySource {
 public:
  StaticKeySource(std::string issuer, const std::string& jwks);
  Result<std::shared_ptr<const Jwk>> Find(const std::string& issuer, const std::string& kid) override;

 private:
  std::string issuer_;
  std::vector<std::shared_ptr<const Jwk>> keys_;
};

}  // namespace ovoflow::auth::testing
