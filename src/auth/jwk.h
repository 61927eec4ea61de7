// A public key of a JSON Web Key Set (RFC 7517), held by libcjose.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

// NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the name is libcjose's
typedef struct _cjose_jwk_int cjose_jwk_t;  // <cjose/jwk.h>

namespace ovoflow::auth {

class Jwk {
 public:
  ~Jwk();
  Jwk(const Jwk&) = delete;
  Jwk& operator=(const Jwk&) = delete;

  const std::string& kid() const { return kid_; }
  // Whether this key may verify a signature of `alg` (RFC 8725 §3.1): RS256
  // needs an RSA key of at least 2048 bits, ES256 an EC key on P-256. Never
  // true for an "oct" (HMAC) key: a public key set holds none.
  bool Fits(const std::string& alg) const;
  const cjose_jwk_t* native() const { return jwk_; }

 private:
  friend Result<std::vector<std::shared_ptr<const Jwk>>> ParseJwks(const std::string& json);
  explicit Jwk(cjose_jwk_t* jwk, std::string kid, std::string alg);
  cjose_jwk_t* jwk_;
  std::string kid_;
  std::string alg_;  // the key's "alg" when it states one; then only that algorithm fits
};

// The public keys of a JWKS document ({"keys": [...]}). Keys without a
// "kid", private or symmetric keys, and keys of other types are skipped
// (logged); InvalidArgument when the document does not parse.
Result<std::vector<std::shared_ptr<const Jwk>>> ParseJwks(const std::string& json);

}  // namespace ovoflow::auth
