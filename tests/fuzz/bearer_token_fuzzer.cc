// Bearer tokens through JwtVerifier with a real key set: any input is
// refused or verified, never a crash, and nothing but a token signed by the
// set's key verifies (the fuzzer cannot forge an ES256 signature).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/jwt_verifier.h"
#include "auth/testing/token_factory.h"
#include "common/testing/manual_clock.h"

namespace {

constexpr const char* kIssuer = "https://id.example/realms/ovoflow";

// The key of the committed corpus's signed tokens is not kept: a token that
// verifies under a fresh key is a forgery.
struct World {
  ovoflow::testing::ManualClock clock{1'800'000'000LL * 1'000'000'000LL};
  std::unique_ptr<ovoflow::auth::testing::SigningKey> key = ovoflow::auth::testing::SigningKey::Ec256("k1");
  ovoflow::auth::testing::StaticKeySource keys{kIssuer, ovoflow::auth::testing::Jwks({key.get()})};
  std::unique_ptr<ovoflow::auth::JwtVerifier> verifier = [this] {
    ovoflow::auth::VerifierOptions o;
    o.issuers = {kIssuer};
    o.audience = "ovoflow-api";
    return std::move(ovoflow::auth::JwtVerifier::Create(o, &keys, &clock)).value();
  }();
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static World* world = new World();
  auto p = world->verifier->Verify(std::string_view(reinterpret_cast<const char*>(data), size));
  if (p.ok()) std::abort();  // a forgery verified
  (void)ovoflow::auth::TokenErrorKind(p.status());
  return 0;
}
