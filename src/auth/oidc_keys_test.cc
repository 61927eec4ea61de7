// OidcKeySource against a real HTTP server (Python's http.server serving a
// discovery document and a key set from a temp dir): discovery, caching,
// rotation with a rate limit, withdrawal of a key, and failures.
#include "auth/oidc_keys.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include <boost/asio/ip/tcp.hpp>

#include "auth/testing/token_factory.h"
#include "common/child_process.h"
#include "common/testing/manual_clock.h"
#include "common/testing/temp_dir.h"

namespace ovoflow::auth {
namespace {

using testing::SigningKey;
constexpr int64_t kSecond = 1'000'000'000;

int FreePort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class OidcKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    issuer_ = "http://127.0.0.1:" + std::to_string(port_) + "/realms/ovoflow";
    std::filesystem::create_directories(dir_.path() + "/realms/ovoflow/.well-known");
    WriteDiscovery(issuer_);
    ec1_ = SigningKey::Ec256("k1");
    ec2_ = SigningKey::Ec256("k2");
    WriteJwks({ec1_.get()});
    ChildProcess::Options o;
    o.name = "http.server";
    o.log_path = dir_.path() + "/server.log";
    o.stop_grace_ms = 0;
    auto server = ChildProcess::Start({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                                       dir_.path(), std::to_string(port_)},
                                      o);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    for (int i = 0; i < 100 && !HttpGet(issuer_ + "/jwks.json").ok(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  void WriteDiscovery(const std::string& issuer) {
    std::ofstream(dir_.path() + "/realms/ovoflow/.well-known/openid-configuration")
        << "{\"issuer\":\"" << issuer << "\",\"jwks_uri\":\"" << issuer_ << "/jwks.json\"}";
  }
  void WriteJwks(const std::vector<const SigningKey*>& keys) {
    std::ofstream(dir_.path() + "/realms/ovoflow/jwks.json") << testing::Jwks(keys);
  }
  OidcKeySource Source() {
    OidcKeyOptions o;
    o.max_age = std::chrono::seconds(600);
    o.min_refresh_interval = std::chrono::seconds(30);
    return OidcKeySource({issuer_}, o, &clock_);
  }

  ovoflow::testing::TempDir dir_{"oidc"};
  ovoflow::testing::ManualClock clock_;
  int port_ = 0;
  std::string issuer_;
  std::unique_ptr<SigningKey> ec1_, ec2_;
  std::unique_ptr<ChildProcess> server_;
};

TEST_F(OidcKeysTest, FindsKeysThroughDiscoveryAndCachesThem) {
  OidcKeySource keys = Source();
  auto k = keys.Find(issuer_, "k1");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ((*k)->kid(), "k1");
  EXPECT_TRUE((*k)->Fits("ES256"));
  EXPECT_FALSE((*k)->Fits("RS256"));
  EXPECT_FALSE((*k)->Fits("HS256"));
  EXPECT_TRUE(keys.Find(issuer_, "k1").ok());
  EXPECT_EQ(keys.fetches(), 1) << "a known key is served from the cache";
  EXPECT_EQ(keys.Find("http://127.0.0.1:1/other", "k1").status().code(), StatusCode::kNotFound);
}

TEST_F(OidcKeysTest, AnUnknownKeyFetchesAgainAtMostOncePerInterval) {
  OidcKeySource keys = Source();
  ASSERT_TRUE(keys.Find(issuer_, "k1").ok());
  WriteJwks({ec1_.get(), ec2_.get()});  // the provider rotates in k2
  clock_.Advance(31 * kSecond);
  EXPECT_TRUE(keys.Find(issuer_, "k2").ok()) << "rotation is picked up";
  EXPECT_EQ(keys.fetches(), 2);
  // Forged key ids: one fetch per interval, however many tokens name them.
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(keys.Find(issuer_, "forged-" + std::to_string(i)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys.fetches(), 2) << "within the interval: no fetch";
  clock_.Advance(31 * kSecond);
  EXPECT_EQ(keys.Find(issuer_, "forged").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys.fetches(), 3);
}

TEST_F(OidcKeysTest, AWithdrawnKeyStopsVerifyingOnceTheCacheAges) {
  OidcKeySource keys = Source();
  ASSERT_TRUE(keys.Find(issuer_, "k1").ok());
  WriteJwks({ec2_.get()});  // k1 revoked
  clock_.Advance(601 * kSecond);
  EXPECT_EQ(keys.Find(issuer_, "k1").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(keys.Find(issuer_, "k2").ok());
}

TEST_F(OidcKeysTest, AnUnreachableProviderIsUnavailableAndCachedKeysAgeOut) {
  OidcKeySource keys = Source();
  ASSERT_TRUE(keys.Find(issuer_, "k1").ok());
  server_.reset();  // the provider goes away
  EXPECT_TRUE(keys.Find(issuer_, "k1").ok()) << "fresh cached keys still verify";
  clock_.Advance(601 * kSecond);
  auto k = keys.Find(issuer_, "k1");
  EXPECT_EQ(k.status().code(), StatusCode::kUnavailable) << k.status().ToString();
  OidcKeySource cold = Source();
  EXPECT_EQ(cold.Find(issuer_, "k1").status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(cold.Prefetch().ok());
}

TEST_F(OidcKeysTest, ADiscoveryDocumentNamingAnotherIssuerIsRefused) {
  WriteDiscovery("https://evil.example");
  OidcKeySource keys = Source();
  auto k = keys.Find(issuer_, "k1");
  EXPECT_EQ(k.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(k.status().message().find("evil.example"), std::string::npos) << k.status().ToString();
}

TEST(HttpGetTest, RefusesWhatIsNotAnHttpUrl) {
  for (const char* url : {"ftp://x/y", "file:///etc/passwd", "", "http://"})
    EXPECT_EQ(HttpGet(url).status().code(), StatusCode::kInvalidArgument) << url;
  EXPECT_EQ(HttpGet("http://127.0.0.1:1/x").status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ovoflow::auth

namespace ovoflow::auth {
namespace {

TEST(ParseJwksTest, SkipsKeysThatWouldCrashLibcjose) {
  // Found by tests/fuzz/jwks_fuzzer.cc: '=' inside a base64url member makes
  // libcjose 0.6.2 abort the process (an assert in its decoder).
  const std::string jwks =
      R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f=3OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
      R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},)"
      R"({"kty":"RSA","kid":"r1","e":"AQAB","n":"a"},{"kty":"RSA","kid":"r2","e":"AQAB"},)"
      R"({"kty":"EC","crv":"P-256","kid":"k2","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
      R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";
  auto keys = ParseJwks(jwks);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 1u) << "only the well-formed key";
  EXPECT_EQ((*keys)[0]->kid(), "k2");
  EXPECT_TRUE((*keys)[0]->Fits("ES256"));
}

TEST(ParseJwksTest, SkipsPrivateSymmetricAndEncryptionKeys) {
  auto keys = ParseJwks(
      R"({"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},)"
      R"({"kty":"EC","crv":"P-256","kid":"enc","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
      R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},)"
      R"({"kty":"EC","crv":"P-256","kid":"priv","d":"AAAA","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
      R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
  EXPECT_FALSE(ParseJwks("not json").ok());
  EXPECT_FALSE(ParseJwks(R"({"keys":{}})").ok());
}

}  // namespace
}  // namespace ovoflow::auth
