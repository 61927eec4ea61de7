// Identity on a real server: bearer tokens (RFC 6750 challenges, the scheme
// in any case, refused tokens), the roles of each route, tenant scoping of
// every read and write (another tenant's egg is a 404 like a missing one),
// scanners bound to their tenant and scanner id, the WebSocket feed with a
// token and its expiry, and the failed-authentication limit per address.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "api/testing/api_fixture.h"
#include "auth/testing/token_factory.h"

namespace ovoflow::api::testing {
namespace {

class AuthzTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(ApiHarness::DefaultOptions()); }
  void Start(ApiOptions o) {
    harness_.reset();
    auto h = ApiHarness::Start(std::move(o), true, &sink_, nullptr, &identity_);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
    harness_->Insert({MakePrediction("egg-a1", "hatchery-a", v1::SEX_FEMALE, v1::DECISION_KEEP, 1),
                      MakePrediction("egg-a2", "hatchery-a", v1::SEX_MALE, v1::DECISION_DIVERT, 2),
                      MakePrediction("egg-b1", "hatchery-b", v1::SEX_MALE, v1::DECISION_DIVERT, 3),
                      MakePrediction("shared-id", "hatchery-b", v1::SEX_MALE, v1::DECISION_DIVERT, 4)});
  }
  HttpResult Get(const std::string& target, const std::string& token) {
    return Fetch(harness_->port(), "GET", target, "", "", kDefaultTimeout, BearerHeader(token));
  }
  HttpResult Post(const std::string& target, const std::string& body, const std::string& token,
                  const std::string& type = "application/json") {
    return Fetch(harness_->port(), "POST", target, body, type, kDefaultTimeout, BearerHeader(token));
  }
  std::string ViewerA() { return identity_.Token({"viewer"}, {"hatchery-a"}); }

  TestIdentity identity_;
  RecordingSink sink_;
  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(AuthzTest, NoTokenGetsTheBearerChallengeAsAProblem) {
  for (const char* target : {"/v1/eggs", "/v1/eggs/egg-a1", "/v1/stats", "/v1/models", "/v1/me", "/metrics"}) {
    HttpResult r = Fetch(harness_->port(), "GET", target);
    EXPECT_EQ(r.status, 401) << target;
    EXPECT_EQ(r.ContentType(), "application/problem+json") << target;
    EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"ovoflow\"") << target;
  }
  // Public: the probes, the document, the sign-in settings.
  for (const char* target : {"/healthz", "/readyz", "/openapi.yaml", "/v1/auth/config"})
    EXPECT_EQ(Fetch(harness_->port(), "GET", target).status, 200) << target;
  auto config = ParseJson(Fetch(harness_->port(), "GET", "/v1/auth/config").body);
  EXPECT_EQ(Field(config, "issuer").string_value(), TestIdentity::kIssuer);
  EXPECT_EQ(Field(config, "client_id").string_value(), "ovoflow-dashboard");
}

TEST_F(AuthzTest, TheSchemeNameIsCaseInsensitive) {
  for (const char* scheme : {"Bearer ", "bearer ", "BEARER ", "bEaReR  "}) {
    HttpResult r =
        Fetch(harness_->port(), "GET", "/v1/eggs", "", "", kDefaultTimeout, {{"Authorization", scheme + ViewerA()}});
    EXPECT_EQ(r.status, 200) << "'" << scheme << "': " << r.body;
  }
  HttpResult basic =
      Fetch(harness_->port(), "GET", "/v1/eggs", "", "", kDefaultTimeout, {{"Authorization", "Basic dXNlcjpwYXNz"}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_NE(basic.Header("www-authenticate").find("error=\"invalid_request\""), std::string::npos);
}

TEST_F(AuthzTest, RefusedTokensGetInvalidToken) {
  TestIdentity other;  // a key the server does not trust
  TestIdentity::Claims expired;
  expired.roles = {"viewer"};
  expired.tenants = {"hatchery-a"};
  expired.lifetime_s = -3600;
  TestIdentity::Claims wrong_aud = expired;
  wrong_aud.lifetime_s = 600;
  wrong_aud.audience = "someone-else";
  const std::string claims = TestIdentity::ClaimsJson(wrong_aud);
  for (const std::string& token :
       {identity_.Token(expired), identity_.Token(wrong_aud), other.Token({"viewer"}, {"hatchery-a"}),
        auth::testing::UnsignedToken(claims, "test-key-1"),
        auth::testing::HmacToken(claims, "test-key-1", identity_.key().PublicJwk()), std::string("not.a.jwt"),
        std::string(std::size_t{9} * 1024, 'a')}) {
    HttpResult r = Get("/v1/eggs", token);
    EXPECT_EQ(r.status, 401) << token.substr(0, 40) << ": " << r.body;
    EXPECT_NE(r.Header("www-authenticate").find("error=\"invalid_token\""), std::string::npos)
        << r.Header("www-authenticate");
    EXPECT_EQ(r.body.find("egg-"), std::string::npos);
  }
  // Past the header limit (16 KiB) the request is refused before any token check.
  HttpResult huge = Get("/v1/eggs", std::string(std::size_t{60} * 1024, 'a'));
  EXPECT_EQ(huge.status, 400) << huge.body;
  EXPECT_EQ(huge.body.find("egg-"), std::string::npos);
}

TEST_F(AuthzTest, ReadsSeeOnlyTheCallersTenants) {
  const std::string a = ViewerA();
  auto page = ParseJson(Get("/v1/eggs", a).body);
  ASSERT_EQ(Field(page, "items").list_value().values_size(), 2);
  for (const auto& item : Field(page, "items").list_value().values())
    EXPECT_EQ(Field(item, "tenant_id").string_value(), "hatchery-a");
  EXPECT_EQ(Get("/v1/eggs/egg-a1", a).status, 200);
  // Another tenant's egg is exactly a missing egg: same status, same problem type.
  HttpResult theirs = Get("/v1/eggs/egg-b1", a), missing = Get("/v1/eggs/no-such-egg", a);
  EXPECT_EQ(theirs.status, 404);
  EXPECT_EQ(Field(ParseJson(theirs.body), "type").string_value(),
            Field(ParseJson(missing.body), "type").string_value());
  EXPECT_EQ(Get("/v1/eggs/egg-b1?tenant_id=hatchery-b", a).status, 404);
  EXPECT_EQ(Get("/v1/eggs/shared-id?tenant_id=hatchery-a", a).status, 404);
  // Naming another tenant in a list or stats is refused.
  for (const char* target : {"/v1/eggs?tenant_id=hatchery-b", "/v1/stats?tenant_id=hatchery-b"}) {
    HttpResult r = Get(target, a);
    EXPECT_EQ(r.status, 403) << target;
    EXPECT_EQ(r.body.find("egg-b"), std::string::npos);
  }
  auto stats = ParseJson(Get("/v1/stats", a).body);
  EXPECT_EQ(Field(stats, "total").number_value(), 2);
  ASSERT_EQ(Field(stats, "tenants").list_value().values_size(), 1);
  // platform-admin sees both.
  const std::string admin = identity_.Token({"platform-admin"});
  EXPECT_EQ(Field(ParseJson(Get("/v1/eggs", admin).body), "items").list_value().values_size(), 4);
  EXPECT_EQ(Get("/v1/eggs/egg-b1", admin).status, 200);
  // A user of both hatcheries sees both, and each alone on request.
  const std::string both = identity_.Token({"operator"}, {"hatchery-a", "hatchery-b"});
  EXPECT_EQ(Field(ParseJson(Get("/v1/eggs", both).body), "items").list_value().values_size(), 4);
  EXPECT_EQ(Field(ParseJson(Get("/v1/eggs?tenant_id=hatchery-b", both).body), "items").list_value().values_size(), 2);
  // A token without tenants sees nothing (not everything).
  EXPECT_EQ(Field(ParseJson(Get("/v1/eggs", identity_.Token({"viewer"})).body), "items").list_value().values_size(), 0);
}

TEST_F(AuthzTest, RolesDecideWhatMayBeWritten) {
  const std::string outcome = R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch"})";
  HttpResult viewer = Post("/v1/eggs/egg-a1/outcome", outcome, ViewerA());
  EXPECT_EQ(viewer.status, 403) << viewer.body;
  EXPECT_NE(viewer.Header("www-authenticate").find("insufficient_scope"), std::string::npos);
  // An operator of hatchery-b cannot record hatchery-a's outcome, nor claim to be someone else.
  const std::string op_b = identity_.Token({"operator"}, {"hatchery-b"}, "", "bob");
  EXPECT_EQ(Post("/v1/eggs/egg-a1/outcome", outcome, op_b).status, 403);
  const std::string op_a = identity_.Token({"operator"}, {"hatchery-a"}, "", "alice");
  HttpResult spoofed =
      Post("/v1/eggs/egg-a1/outcome",
           R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch", "recorded_by": "bob"})", op_a);
  EXPECT_EQ(spoofed.status, 400) << spoofed.body;
  HttpResult ok = Post("/v1/eggs/egg-a1/outcome", outcome, op_a);
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(Field(ParseJson(ok.body), "recorded_by").string_value(), "alice");
  // Scanners post scans, and nothing else; people post no scans.
  const std::string scanner = identity_.Token({"scanner"}, {"hatchery-a"}, "scanner-a1");
  EXPECT_EQ(Get("/v1/eggs", scanner).status, 403);
  EXPECT_EQ(Post("/v1/eggs/egg-a1/outcome", outcome, scanner).status, 403);
  std::string scan_a;
  v1::EggScan scan = MakeScan("new-egg", "hatchery-a");
  scan.set_scanner_id("scanner-a1");
  scan.SerializeToString(&scan_a);
  EXPECT_EQ(Post("/v1/scans", scan_a, op_a, "application/x-protobuf").status, 403);
  EXPECT_EQ(Post("/v1/scans", scan_a, scanner, "application/x-protobuf").status, 202);
  // Another tenant's scan, or another scanner's id: refused, nothing reaches the bus.
  v1::EggScan forged = scan;
  forged.set_tenant_id("hatchery-b");
  std::string body;
  forged.SerializeToString(&body);
  EXPECT_EQ(Post("/v1/scans", body, scanner, "application/x-protobuf").status, 403);
  forged = scan;
  forged.set_scanner_id("scanner-a2");
  forged.SerializeToString(&body);
  EXPECT_EQ(Post("/v1/scans", body, scanner, "application/x-protobuf").status, 403);
  ASSERT_EQ(sink_.scans().size(), 1u);
  EXPECT_EQ(sink_.scans()[0].tenant_id(), "hatchery-a");
}

TEST_F(AuthzTest, MetricsNeedTheMonitoringRole) {
  EXPECT_EQ(Get("/metrics", ViewerA()).status, 403);
  EXPECT_EQ(Get("/metrics", identity_.Token({"monitoring"})).status, 200);
}

TEST_F(AuthzTest, MeSaysWhoIsCalling) {
  auto me = ParseJson(Get("/v1/me", identity_.Token({"operator"}, {"hatchery-a"}, "", "alice")).body);
  EXPECT_EQ(Field(me, "subject").string_value(), "alice");
  EXPECT_FALSE(Field(me, "all_tenants").bool_value());
  ASSERT_EQ(Field(me, "tenants").list_value().values_size(), 1);
  EXPECT_EQ(Field(me, "tenants").list_value().values(0).string_value(), "hatchery-a");
}

TEST_F(AuthzTest, LiveFeedTakesATokenAndSendsOnlyTheCallersTenants) {
  // Without a token: 401 at the handshake.
  WsClient anonymous(harness_->port(), "/v1/live");
  EXPECT_FALSE(anonymous.connected());
  EXPECT_EQ(anonymous.upgrade_status(), 401);
  // Another tenant named: 403.
  WsClient theirs(harness_->port(), "/v1/live?tenant_id=hatchery-b", 0, BearerHeader(ViewerA()));
  EXPECT_EQ(theirs.upgrade_status(), 403);
  // A browser's way: the token as a subprotocol; the server answers ovoflow.v1.
  WsClient ws(harness_->port(), "/v1/live", 0, {{"Sec-WebSocket-Protocol", "ovoflow.v1, bearer." + ViewerA()}});
  ASSERT_TRUE(ws.connected()) << ws.error();
  EXPECT_EQ(ws.subprotocol(), "ovoflow.v1");
  // The session joins the hub just after the handshake: publish until it reads.
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop.load()) {
      harness_->server().PublishLive(MakePrediction("live-b", "hatchery-b", v1::SEX_MALE, v1::DECISION_DIVERT, 9));
      harness_->server().PublishLive(MakePrediction("live-a", "hatchery-a", v1::SEX_MALE, v1::DECISION_DIVERT, 9));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    auto next = ws.Read(std::chrono::seconds(10));
    if (!next) break;
    got.push_back(*next);
  }
  stop = true;
  publisher.join();
  ASSERT_EQ(got.size(), 5u) << ws.error();
  for (const auto& m : got) {
    EXPECT_NE(m.find("live-a"), std::string::npos) << m;
    EXPECT_EQ(m.find("hatchery-b"), std::string::npos) << m;
  }
}

TEST_F(AuthzTest, LiveFeedClosesWhenTheTokenExpires) {
  TestIdentity::Claims c;
  c.roles = {"viewer"};
  c.tenants = {"hatchery-a"};
  c.lifetime_s = 2;
  WsClient ws(harness_->port(), "/v1/live", 0, BearerHeader(identity_.Token(c)));
  ASSERT_TRUE(ws.connected()) << ws.error();
  // Nothing is published: the next event is the server closing.
  EXPECT_FALSE(ws.Read(std::chrono::seconds(20)).has_value());
  EXPECT_EQ(ws.close_code(), 1008) << ws.error();
  EXPECT_EQ(ws.close_reason(), "token expired");
}

TEST_F(AuthzTest, FailedAuthenticationsAreLimitedPerAddress) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.auth.failure_limit = 5;
  Start(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("/v1/eggs", "forged.token.x").status, 401);
  HttpResult limited = Get("/v1/eggs", ViewerA());  // even a good token, from this address, for a while
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.ContentType(), "application/problem+json");
  EXPECT_FALSE(limited.Header("retry-after").empty());
  EXPECT_EQ(Fetch(harness_->port(), "GET", "/healthz").status, 200) << "public routes stay open";
  auto metrics = Get("/metrics", identity_.Token({"monitoring"}));
  EXPECT_EQ(metrics.status, 429);
}

TEST(AuthzOptionsTest, NoIdentityProviderIsOnlyForLocalDevelopment) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.auth.disabled = false;
  auto none = ApiHarness::Start(o);
  ASSERT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("--oidc-issuer"), std::string::npos) << none.status().ToString();
}

}  // namespace
}  // namespace ovoflow::api::testing
