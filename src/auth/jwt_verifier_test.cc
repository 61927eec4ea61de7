// RFC 8725 rules of JwtVerifier against real signatures (libcjose) and the
// forgeries of the OWASP API2 list: "alg": "none", HS256 keyed with the RSA
// public key, expired, not yet valid, wrong audience or issuer, unknown key,
// oversized and malformed tokens.
#include "auth/jwt_verifier.h"

#include <gtest/gtest.h>

#include "auth/testing/token_factory.h"
#include "common/testing/manual_clock.h"

namespace ovoflow::auth {
namespace {

using testing::HmacToken;
using testing::SigningKey;
using testing::StaticKeySource;
using testing::UnsignedToken;

constexpr const char* kIssuer = "https://id.example/realms/ovoflow";
constexpr int64_t kNow = 1'800'000'000;  // seconds

std::string Claims(const std::string& extra = "", int64_t exp = kNow + 300, const std::string& aud = "\"ovoflow-api\"",
                   const std::string& iss = kIssuer) {
  return "{\"iss\":\"" + iss + "\",\"sub\":\"user-1\",\"aud\":" + aud + ",\"exp\":" + std::to_string(exp) +
         ",\"iat\":" + std::to_string(kNow - 10) +
         ",\"ovoflow_roles\":[\"operator\"],\"ovoflow_tenants\":[\"hatchery-a\"]" + extra + "}";
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  JwtVerifierTest()
      : clock_(kNow * 1'000'000'000LL),
        ec_(SigningKey::Ec256("ec-1")),
        rsa_(SigningKey::Rsa2048("rsa-1")),
        keys_(kIssuer, testing::Jwks({ec_.get(), rsa_.get()})) {
    VerifierOptions o;
    o.issuers = {kIssuer};
    o.audience = "ovoflow-api";
    auto v = JwtVerifier::Create(o, &keys_, &clock_);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    verifier_ = std::move(v).value();
  }
  std::string Kind(const std::string& token) {
    auto p = verifier_->Verify(token);
    return p.ok() ? "ok" : TokenErrorKind(p.status());
  }

  ovoflow::testing::ManualClock clock_;
  std::unique_ptr<SigningKey> ec_, rsa_;
  StaticKeySource keys_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST_F(JwtVerifierTest, AcceptsEs256AndRs256AndReadsThePrincipal) {
  for (const SigningKey* key : {ec_.get(), rsa_.get()}) {
    auto p = verifier_->Verify(key->Sign(Claims(",\"ovoflow_scanner_id\":\"s-7\"")));
    ASSERT_TRUE(p.ok()) << key->alg() << ": " << p.status().ToString();
    EXPECT_EQ(p->issuer, kIssuer);
    EXPECT_EQ(p->subject, "user-1");
    EXPECT_EQ(p->roles, std::set<std::string>{"operator"});
    EXPECT_EQ(p->tenants, std::set<std::string>{"hatchery-a"});
    EXPECT_EQ(p->scanner_id, "s-7");
    EXPECT_EQ(p->expires_at_unix, kNow + 300);
    EXPECT_TRUE(p->ActsFor("hatchery-a"));
    EXPECT_FALSE(p->ActsFor("hatchery-b"));
  }
}

TEST_F(JwtVerifierTest, AudienceMayBeAnArray) {
  EXPECT_EQ(Kind(ec_->Sign(Claims("", kNow + 300, "[\"account\",\"ovoflow-api\"]"))), "ok");
  EXPECT_EQ(Kind(ec_->Sign(Claims("", kNow + 300, "[\"account\"]"))), "audience");
  EXPECT_EQ(Kind(ec_->Sign(Claims("", kNow + 300, "\"other-api\""))), "audience");
}

TEST_F(JwtVerifierTest, RefusesAlgNone) {
  EXPECT_EQ(Kind(UnsignedToken(Claims(), "ec-1")), "algorithm");
  EXPECT_EQ(Kind(UnsignedToken(Claims(), "rsa-1")), "algorithm");
}

TEST_F(JwtVerifierTest, RefusesHs256KeyedWithTheRsaPublicKey) {
  // The classic confusion: the public key (as JWK, or any text form) used as an HMAC secret.
  EXPECT_EQ(Kind(HmacToken(Claims(), "rsa-1", rsa_->PublicJwk())), "algorithm");
  EXPECT_EQ(Kind(HmacToken(Claims(), "ec-1", ec_->PublicJwk())), "algorithm");
}

TEST_F(JwtVerifierTest, RefusesAKeyOfTheWrongTypeForTheAlgorithm) {
  // A token that claims RS256 but names the EC key (and the reverse).
  EXPECT_EQ(Kind(rsa_->Sign(Claims(), "RS256", "ec-1")), "algorithm");
  EXPECT_EQ(Kind(ec_->Sign(Claims(), "ES256", "rsa-1")), "algorithm");
}

TEST_F(JwtVerifierTest, RefusesExpiredAndNotYetValidTokensBeyondTheLeeway) {
  EXPECT_EQ(Kind(ec_->Sign(Claims("", kNow - 10))), "ok") << "within the 30 s leeway";
  EXPECT_EQ(Kind(ec_->Sign(Claims("", kNow - 31))), "expired");
  EXPECT_EQ(Kind(ec_->Sign(Claims(",\"nbf\":" + std::to_string(kNow + 20)))), "ok");
  EXPECT_EQ(Kind(ec_->Sign(Claims(",\"nbf\":" + std::to_string(kNow + 120)))), "not_yet_valid");
  clock_.Advance(400LL * 1'000'000'000);
  EXPECT_EQ(Kind(ec_->Sign(Claims())), "expired") << "a token expires while the server runs";
}

TEST_F(JwtVerifierTest, RefusesAnUntrustedIssuer) {
  EXPECT_EQ(Kind(ec_->Sign(Claims("", kNow + 300, "\"ovoflow-api\"", "https://evil.example"))), "issuer");
  EXPECT_EQ(Kind(ec_->Sign("{\"sub\":\"x\",\"aud\":\"ovoflow-api\",\"exp\":" + std::to_string(kNow + 60) + "}")),
            "issuer");
}

TEST_F(JwtVerifierTest, RefusesAnUnknownKeyAndABadSignature) {
  auto stranger = SigningKey::Ec256("ec-1");  // same kid, another key
  EXPECT_EQ(Kind(stranger->Sign(Claims())), "signature");
  auto other = SigningKey::Ec256("ec-9");
  EXPECT_EQ(Kind(other->Sign(Claims())), "unknown_key");
  // A signed token whose payload was changed afterwards.
  std::string t = ec_->Sign(Claims());
  std::size_t d1 = t.find('.'), d2 = t.find('.', d1 + 1);
  std::string escalated = Claims();
  escalated.replace(escalated.find("operator"), 8, "platform-admin");
  std::string forged = t.substr(0, d1 + 1) + testing::Base64Url(escalated) + t.substr(d2);
  EXPECT_EQ(Kind(forged), "signature");
}

TEST_F(JwtVerifierTest, RefusesOversizedAndMalformedTokens) {
  std::string big = ec_->Sign(Claims(",\"pad\":\"" + std::string(std::size_t{100} * 1024, 'x') + "\""));
  EXPECT_EQ(Kind(big), "too_large");
  for (const std::string bad : {"", ".", "..", "a.b", "a.b.c.d", "abc", "eyJ.eyJ.", "a b.c.d", "%%.%%.%%",
                                "e30.e30.e30", "bnVsbA.bnVsbA.bnVsbA"})
    EXPECT_EQ(Kind(bad), "malformed") << "'" << bad << "'";
}

TEST_F(JwtVerifierTest, RefusesCriticalHeaderExtensionsAndMissingClaims) {
  EXPECT_EQ(Kind(ec_->Sign("{\"iss\":\"" + std::string(kIssuer) + "\",\"sub\":\"u\",\"aud\":\"ovoflow-api\"}")),
            "claims")
      << "no exp";
  EXPECT_EQ(Kind(ec_->Sign("{\"iss\":\"" + std::string(kIssuer) +
                           "\",\"aud\":\"ovoflow-api\",\"exp\":" + std::to_string(kNow + 60) + "}")),
            "claims")
      << "no sub";
  std::string odd = Claims();
  odd.replace(odd.find("[\"operator\"]"), 12, "{\"a\":1}");
  EXPECT_EQ(Kind(ec_->Sign(odd)), "claims") << "roles neither a string nor an array";
}

TEST_F(JwtVerifierTest, ClaimNamesAreConfigurableForAnyProvider) {
  VerifierOptions o;
  o.issuers = {kIssuer};
  o.audience = "ovoflow-api";
  o.claims.roles = "realm_access.roles";  // Keycloak's realm roles
  o.claims.tenants = "tenants";
  auto v = JwtVerifier::Create(o, &keys_, &clock_);
  ASSERT_TRUE(v.ok());
  auto p =
      (*v)->Verify(ec_->Sign(Claims(",\"realm_access\":{\"roles\":[\"viewer\",\"offline_access\"]},"
                                    "\"tenants\":\"hatchery-b\"")));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->roles, (std::set<std::string>{"offline_access", "viewer"}));
  EXPECT_EQ(p->tenants, std::set<std::string>{"hatchery-b"});
}

TEST(JwtVerifierOptionsTest, RefusesOptionsThatCannotBeSafe) {
  ovoflow::testing::ManualClock clock;
  StaticKeySource keys(kIssuer, "{\"keys\":[]}");
  VerifierOptions o;
  o.audience = "a";
  EXPECT_FALSE(JwtVerifier::Create(o, &keys, &clock).ok()) << "no issuer";
  o.issuers = {kIssuer};
  o.audience = "";
  EXPECT_FALSE(JwtVerifier::Create(o, &keys, &clock).ok()) << "no audience";
  o.audience = "a";
  for (const char* alg : {"HS256", "none", "PS256"}) {
    o.algorithms = {alg};
    EXPECT_FALSE(JwtVerifier::Create(o, &keys, &clock).ok()) << alg;
  }
}

}  // namespace
}  // namespace ovoflow::auth
