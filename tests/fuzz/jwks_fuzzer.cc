// Key-set documents (an issuer's jwks_uri answer): parsing never crashes,
// and no key it yields fits an algorithm its type does not allow.
#include <cstddef>
#include <cstdint>
#include <string>

#include "auth/jwk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  auto keys = ovoflow::auth::ParseJwks(std::string(reinterpret_cast<const char*>(data), size));
  if (!keys.ok()) return 0;
  for (const auto& k : *keys) {
    (void)k->Fits("ES256");
    (void)k->Fits("RS256");
    if (k->Fits("HS256") || k->Fits("none")) __builtin_trap();
  }
  return 0;
}
