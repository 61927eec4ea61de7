// JwtVerifier and OidcKeySource against a real Keycloak (scripts/keycloak,
// CTest fixture "keycloak") with ovoflow's realm: the tokens it issues for
// people (password grant of the CLI client) and machines (client
// credentials) verify, carry the hatcheries and roles the realm gives, and
// every forgery built from them is refused.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "auth/jwt_verifier.h"
#include "auth/oidc_keys.h"
#include "auth/testing/token_factory.h"
#include "common/testing/shell.h"

namespace ovoflow::auth {
namespace {

using ovoflow::testing::EnvOrEmpty;
using ovoflow::testing::ShellOutput;

class KeycloakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = EnvOrEmpty("OVOFLOW_SOURCE_DIR") + "/scripts/keycloak";
    port_ = " --port " + EnvOrEmpty("OVOFLOW_TEST_KEYCLOAK_PORT");
    issuer_ = ShellOutput(script_ + " issuer" + port_);
    ASSERT_FALSE(issuer_.empty());
    keys_ = std::make_unique<OidcKeySource>(std::vector<std::string>{issuer_}, OidcKeyOptions{});
    verifier_ = Verifier("ovoflow-api");
  }
  std::unique_ptr<JwtVerifier> Verifier(const std::string& audience) {
    VerifierOptions o;
    o.issuers = {issuer_};
    o.audience = audience;
    auto v = JwtVerifier::Create(o, keys_.get());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return std::move(v).value();
  }
  std::string UserToken(const std::string& user) { return ShellOutput(script_ + " token --user " + user + port_); }
  std::string ClientToken(const std::string& client) {
    return ShellOutput(script_ + " token --client " + client + port_);
  }
  std::string Kind(const std::string& token) {
    auto p = verifier_->Verify(token);
    return p.ok() ? "ok" : TokenErrorKind(p.status());
  }

  std::string script_, port_, issuer_;
  std::unique_ptr<OidcKeySource> keys_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST_F(KeycloakTest, AScannersClientCredentialsTokenNamesItsHatcheryAndScanner) {
  auto p = verifier_->Verify(ClientToken("scanner-hatchery-a-1"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->issuer, issuer_);
  EXPECT_EQ(p->roles, std::set<std::string>{"scanner"});
  EXPECT_EQ(p->tenants, std::set<std::string>{"hatchery-a"});
  EXPECT_EQ(p->scanner_id, "scanner-a1");
  EXPECT_FALSE(p->ActsFor("hatchery-b"));
}

TEST_F(KeycloakTest, PeoplesTokensCarryTheirRolesAndHatcheries) {
  auto op = verifier_->Verify(UserToken("operator-b"));
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  EXPECT_FALSE(op->subject.empty());
  EXPECT_EQ(op->roles, std::set<std::string>{"operator"});
  EXPECT_EQ(op->tenants, std::set<std::string>{"hatchery-b"});
  auto admin = verifier_->Verify(UserToken("platform-admin"));
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  EXPECT_TRUE(admin->HasRole(kPlatformAdmin));
  EXPECT_TRUE(admin->ActsFor("hatchery-a") && admin->ActsFor("hatchery-b"));
  auto viewer = verifier_->Verify(UserToken("viewer-a"));
  ASSERT_TRUE(viewer.ok());
  EXPECT_EQ(viewer->roles, std::set<std::string>{"viewer"});
  EXPECT_EQ(keys_->fetches(), 1) << "one key-set fetch serves every token";
}

TEST_F(KeycloakTest, ForgeriesBuiltFromARealTokenAreRefused) {
  const std::string real = UserToken("viewer-a");
  ASSERT_EQ(Kind(real), "ok");
  const std::size_t d1 = real.find('.'), d2 = real.find('.', d1 + 1);
  // Escalation: the payload rewritten to platform-admin, the signature kept.
  std::string claims = R"({"iss":")" + issuer_ +
                       R"(","sub":"x","aud":"ovoflow-api","exp":4102444800,"ovoflow_roles":["platform-admin"]})";
  EXPECT_EQ(Kind(real.substr(0, d1 + 1) + testing::Base64Url(claims) + real.substr(d2)), "signature");
  // The realm's own key id, "alg": "none" and HS256 keyed with its public JWK.
  const std::string header = ShellOutput("echo '" + real.substr(0, d1) + "' | tr '_-' '/+' | base64 -d 2>/dev/null");
  const std::size_t k = header.find("\"kid\"");
  ASSERT_NE(k, std::string::npos) << header;
  const std::size_t q1 = header.find('"', header.find(':', k) + 1), q2 = header.find('"', q1 + 1);
  const std::string kid = header.substr(q1 + 1, q2 - q1 - 1);
  EXPECT_EQ(Kind(testing::UnsignedToken(claims, kid)), "algorithm");
  const std::string jwks = ShellOutput("curl -sf " + issuer_ + "/protocol/openid-connect/certs");
  EXPECT_EQ(Kind(testing::HmacToken(claims, kid, jwks)), "algorithm");
  // Our own key presenting the realm's key id; and an unknown key id.
  auto mallory = testing::SigningKey::Rsa2048(kid);
  EXPECT_EQ(Kind(mallory->Sign(claims)), "signature");
  auto stranger = testing::SigningKey::Rsa2048("not-a-realm-key");
  EXPECT_EQ(Kind(stranger->Sign(claims)), "unknown_key");
}

TEST_F(KeycloakTest, ATokenForAnotherAudienceIsRefused) {
  auto other = Verifier("another-api");
  auto p = other->Verify(UserToken("operator-a"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(TokenErrorKind(p.status()), "audience");
}

}  // namespace
}  // namespace ovoflow::auth
