// The adversarial API suite (OWASP API Security Top 10, 2023: API1 broken
// object level authorisation, API2 broken authentication, API3 broken
// object property level authorisation, API4 unrestricted resource use, API5
// broken function level authorisation), run against a real `ovoflow api`
// with real tokens from the real provider (Keycloak with ovoflow's realm,
// CTest fixture "keycloak") and forgeries built from them.
//
// Every case is one request with the answer it must not get. A case that
// hands another tenant's data to the caller is a cross-tenant read; a case
// where a caller does what its roles do not allow (or an attacker without a
// valid token does anything) is a privilege escalation. The suite prints
// the counts and fails when either is not 0 or when fewer than 200 cases ran.
//
// OVOFLOW_ADVERSARIAL_NO_AUTH=1 runs the same cases against the API started
// with --no-auth (the server as it was before identity landed): the suite
// must then fail, which shows it can.
#include <gtest/gtest.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "api/client/http_client.h"
#include "auth/testing/token_factory.h"
#include "common/testing/shell.h"
#include "common/testing/temp_dir.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "store/cursor.h"
#include "store/prediction_store.h"
#include "support/process.h"

namespace ovoflow::testing {
namespace {

using api::client::Fetch;
using api::client::HttpResult;
using api::client::kDefaultTimeout;
using api::client::WsClient;

constexpr int64_t kT0 = 1777593600LL * 1000000000LL;  // 2026-05-01
constexpr int kEggsPerTenant = 12;

std::string Base64UrlDecode(const std::string& in) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  int bits = 0, value = 0;
  for (char c : in) {
    std::size_t i = kAlphabet.find(c);
    if (i == std::string::npos) break;
    value = (value << 6) | static_cast<int>(i);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}

struct JwtParts {
  std::string header, payload, signature;  // header and payload decoded
};
JwtParts Split(const std::string& token) {
  std::size_t a = token.find('.'), b = token.find('.', a + 1);
  return {Base64UrlDecode(token.substr(0, a)), Base64UrlDecode(token.substr(a + 1, b - a - 1)), token.substr(b + 1)};
}
std::string Join(const std::string& header, const std::string& payload, const std::string& signature) {
  return auth::testing::Base64Url(header) + "." + auth::testing::Base64Url(payload) + "." + signature;
}
std::string Replace(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

v1::Prediction MakePrediction(const std::string& tenant, const std::string& egg, int i) {
  v1::Prediction p;
  p.set_tenant_id(tenant);
  p.set_egg_id(egg);
  p.set_scanner_id(tenant == "hatchery-a" ? "scanner-a1" : "scanner-b1");
  p.set_sex(i % 2 ? v1::SEX_FEMALE : v1::SEX_MALE);
  p.set_p_female(i % 2 ? 0.9f : 0.1f);
  p.set_decision(i % 2 ? v1::DECISION_KEEP : v1::DECISION_DIVERT);
  p.set_model_name("gonad-cnn");
  p.set_model_version("2.1.0");
  const int64_t at = kT0 + i * 1000000000LL;
  p.mutable_times()->mutable_captured_at()->set_seconds(at / 1000000000LL);
  return p;
}

class AdversarialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    no_auth_ = EnvOrEmpty("OVOFLOW_ADVERSARIAL_NO_AUTH") == "1";
    keycloak_ = SourceDir() + "/scripts/keycloak";
    kc_port_ = " --port " + EnvOrEmpty("OVOFLOW_TEST_KEYCLOAK_PORT");
    issuer_ = ShellOutput(keycloak_ + " issuer" + kc_port_);
    ASSERT_FALSE(issuer_.empty());
    // Both hatcheries' eggs, some with the same ids, and outcomes.
    const std::string db = "sqlite://" + dir_.path() + "/adversarial.db";
    {
      auto store = store::OpenStore(db);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      std::vector<v1::Prediction> batch;
      for (int i = 0; i < kEggsPerTenant; ++i) {
        batch.push_back(MakePrediction("hatchery-a", "a-egg-" + std::to_string(i), i));
        batch.push_back(MakePrediction("hatchery-b", "b-egg-" + std::to_string(i), i));
      }
      batch.push_back(MakePrediction("hatchery-b", "twin-egg", 99));  // only B has it
      ASSERT_TRUE((*store)->InsertBatch(batch, kT0 + 1000LL * 1000000000LL).ok());
    }
    port_ = FreePort();
    std::vector<std::string> argv = {OvoflowBinary(), "api", "--insecure-http", "--brokers",          TestBrokers(),
                                     "--db",          db,    "--port",          std::to_string(port_)};
    if (no_auth_) {
      argv.push_back("--no-auth");
    } else {
      // The limit on failed authentications (API4) is checked at the end;
      // until then every forgery must meet the token checks themselves.
      argv.insert(argv.end(), {"--oidc-issuer", issuer_, "--auth-failure-limit", "200"});
    }
    api_ = std::make_unique<Process>(argv, dir_.path() + "/api.log");
    ASSERT_TRUE(
        WaitFor([&] { return Fetch(port_, "GET", "/healthz", "", "", std::chrono::seconds(2)).status == 200; }, 60))
        << api_->Log();
    for (const char* user : {"platform-admin", "admin-a", "operator-a", "viewer-a", "admin-b", "operator-b"}) {
      tokens_[user] = ShellOutput(keycloak_ + " token --user " + user + kc_port_);
      ASSERT_EQ(std::count(tokens_[user].begin(), tokens_[user].end(), '.'), 2) << user << ": " << tokens_[user];
    }
    for (const char* client : {"scanner-hatchery-a-1", "scanner-hatchery-b-1"}) {
      tokens_[client] = ShellOutput(keycloak_ + " token --client " + client + kc_port_);
      ASSERT_EQ(std::count(tokens_[client].begin(), tokens_[client].end(), '.'), 2) << client;
    }
  }

  std::map<std::string, std::string> Bearer(const std::string& token) {
    if (token.empty()) return {};
    return {{"Authorization", "Bearer " + token}};
  }
  HttpResult Call(const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body = "", const std::string& type = "") {
    last_request_ = target + " " + body;
    return Fetch(port_, method, target, body, type, kDefaultTimeout, Bearer(token));
  }

  // One case. `leaks`: what in the answer would be another tenant's data.
  // `escalated`: whether the answer means the caller did what it may not.
  void Case(const std::string& api, const std::string& name, const HttpResult& r, const std::vector<std::string>& leaks,
            bool escalated) {
    ++cases_;
    ++per_api_[api];
    // A problem echoes what was asked (detail, instance): only what the
    // request did not name can be a leak.
    bool leaked = false;
    for (const auto& l : leaks)
      leaked |= r.body.find(l) != std::string::npos && (Ok(r) || last_request_.find(l) == std::string::npos);
    last_request_.clear();
    if (leaked) {
      ++cross_tenant_reads_;
      ADD_FAILURE() << "cross-tenant read: " << name << " -> " << r.status << " " << r.body.substr(0, 300);
    }
    if (escalated) {
      ++escalations_;
      ADD_FAILURE() << "privilege escalation: " << name << " -> " << r.status << " " << r.body.substr(0, 300);
    }
    if (r.status >= 500) ADD_FAILURE() << "server error: " << name << " -> " << r.status << " " << r.body;
  }
  static bool Ok(const HttpResult& r) { return r.status >= 200 && r.status < 300; }

  // Another tenant's identifiers, as a caller of `own` must never see them.
  static std::vector<std::string> Foreign(const std::string& own) {
    return own == "hatchery-a" ? std::vector<std::string>{"b-egg-", "twin-egg", "hatchery-b", "scanner-b1"}
                               : std::vector<std::string>{"a-egg-", "hatchery-a", "scanner-a1"};
  }

  ovoflow::testing::TempDir dir_{"adversarial"};
  bool no_auth_ = false;
  std::string keycloak_, kc_port_, issuer_;
  int port_ = 0;
  std::unique_ptr<Process> api_;
  std::map<std::string, std::string> tokens_;
  int cases_ = 0, cross_tenant_reads_ = 0, escalations_ = 0;
  std::string last_request_;
  std::map<std::string, int> per_api_;
};

TEST_F(AdversarialTest, OwaspApi1To5) {
  struct User {
    std::string name, tenant, other;
  };
  const std::vector<User> users = {{"viewer-a", "hatchery-a", "hatchery-b"},
                                   {"operator-a", "hatchery-a", "hatchery-b"},
                                   {"admin-a", "hatchery-a", "hatchery-b"},
                                   {"operator-b", "hatchery-b", "hatchery-a"},
                                   {"admin-b", "hatchery-b", "hatchery-a"}};

  // API1: objects of another tenant, by id, by filter, by cursor, by stats, by live filter.
  for (const User& u : users) {
    const std::string& t = tokens_[u.name];
    const std::string other_prefix = u.tenant == "hatchery-a" ? "b-egg-" : "a-egg-";
    const auto leaks = Foreign(u.tenant);
    for (int i = 0; i < kEggsPerTenant; ++i) {
      const std::string egg = other_prefix + std::to_string(i);
      Case("API1", u.name + " GET their egg " + egg, Call("GET", "/v1/eggs/" + egg, t), leaks, false);
      Case("API1", u.name + " GET their egg with their tenant_id",
           Call("GET", "/v1/eggs/" + egg + "?tenant_id=" + u.other, t), leaks, false);
      // A cursor crafted to sit just before the other tenant's egg.
      const std::string cursor = store::EncodeCursor({kT0 + (i + 1) * 1000000000LL, u.other, egg});
      Case("API1", u.name + " list with a cursor at their egg", Call("GET", "/v1/eggs?limit=5&cursor=" + cursor, t),
           leaks, false);
    }
    Case("API1", u.name + " GET the other's only egg", Call("GET", "/v1/eggs/twin-egg", t),
         u.tenant == "hatchery-a" ? leaks : std::vector<std::string>{}, false);
    for (const std::string& target : std::vector<std::string>{
             "/v1/eggs?tenant_id=" + u.other, "/v1/eggs?tenant_id=" + u.other + "&limit=1000", "/v1/eggs",
             "/v1/eggs?limit=1000", "/v1/eggs?tenant_id=" + u.tenant, "/v1/stats?tenant_id=" + u.other, "/v1/stats",
             "/v1/eggs?tenant_id=" + u.other + "&tenant_id=" + u.tenant,
             "/v1/eggs?tenant_id=" + u.tenant + "%2C" + u.other, "/v1/eggs?tenant_id=*", "/v1/stats?tenant_id=%2A",
             "/v1/eggs?tenant_id=", "/v1/eggs?tenant_id=HATCHERY-B"}) {
      Case("API1", u.name + " " + target, Call("GET", target, t), leaks, false);
    }
    for (const std::string& target :
         std::vector<std::string>{"/v1/live?tenant_id=" + u.other, "/v1/live?tenant_id=" + u.other + "&sex=MALE"}) {
      WsClient ws(port_, target, 0, Bearer(t));
      HttpResult r;
      r.status = ws.upgrade_status();
      Case("API1", u.name + " WebSocket " + target, r, {}, ws.connected());
    }
  }

  // API5: functions beyond one's role.
  const std::string outcome_a = R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch"})";
  for (int i = 0; i < kEggsPerTenant; ++i) {
    const std::string egg = "a-egg-" + std::to_string(i);
    HttpResult r = Call("POST", "/v1/eggs/" + egg + "/outcome", tokens_["viewer-a"], outcome_a, "application/json");
    Case("API5", "viewer-a records an outcome for " + egg, r, {}, Ok(r));
    const std::string outcome_b = R"({"tenant_id": "hatchery-b", "sex": "MALE", "source": "hatch"})";
    r = Call("POST", "/v1/eggs/b-egg-" + std::to_string(i) + "/outcome", tokens_["operator-a"], outcome_b,
             "application/json");
    Case("API5", "operator-a records hatchery-b's outcome", r, Foreign("hatchery-a"), Ok(r));
    r = Call("POST", "/v1/eggs/" + egg + "/outcome", tokens_["scanner-hatchery-a-1"], outcome_a, "application/json");
    Case("API5", "a scanner records an outcome", r, {}, Ok(r));
  }
  for (const char* user : {"viewer-a", "operator-a", "admin-a", "operator-b", "admin-b", "scanner-hatchery-a-1"}) {
    for (const char* action :
         {"/v1/models/2.1.0:activate", "/v1/models/2.1.0:deactivate", "/v1/models/2.1.0%3Aactivate"}) {
      HttpResult r = Call("POST", action, tokens_[user], R"({"reason": "mine now"})", "application/json");
      Case("API5", std::string(user) + " POST " + action, r, {}, Ok(r) || r.status == 404 || r.status == 409);
    }
    HttpResult m = Call("GET", "/metrics", tokens_[user]);
    Case("API5", std::string(user) + " GET /metrics", m, {"hatchery-"}, Ok(m));
  }
  for (const char* user : {"viewer-a", "operator-a", "admin-a", "platform-admin"}) {
    v1::EggScan scan;
    scan.set_egg_id("posted-by-a-person");
    scan.set_tenant_id("hatchery-a");
    scan.set_scanner_id("scanner-a1");
    std::string body;
    scan.SerializeToString(&body);
    HttpResult r = Call("POST", "/v1/scans", tokens_[user], body, "application/x-protobuf");
    Case("API5", std::string(user) + " posts a scan", r, {}, Ok(r) || r.status == 422);
  }
  for (const char* target : {"/v1/eggs", "/v1/stats", "/v1/eggs/a-egg-1", "/v1/models"}) {
    HttpResult r = Call("GET", target, tokens_["scanner-hatchery-a-1"]);
    Case("API5", std::string("a scanner reads ") + target, r, {"a-egg-", "b-egg-"}, Ok(r));
  }

  // A scanner posting another tenant's scan, or as another scanner (API1/API5);
  // 422 (the scan's own checks) would mean authorisation let it through.
  struct Forge {
    std::string tenant, scanner;
  };
  for (const Forge& f : std::vector<Forge>{{"hatchery-b", "scanner-b1"},
                                           {"hatchery-b", "scanner-a1"},
                                           {"hatchery-a", "scanner-b1"},
                                           {"hatchery-a", "scanner-a2"},
                                           {"hatchery-c", "scanner-a1"},
                                           {"HATCHERY-A", "scanner-a1"}}) {
    v1::EggScan scan;
    scan.set_egg_id("forged-egg");
    scan.set_tenant_id(f.tenant);
    scan.set_scanner_id(f.scanner);
    std::string body;
    scan.SerializeToString(&body);
    HttpResult r = Call("POST", "/v1/scans", tokens_["scanner-hatchery-a-1"], body, "application/x-protobuf");
    // Tenant ids are validated first: a malformed one may get 422, which is no escalation.
    const bool malformed = f.tenant == "HATCHERY-A" && r.status == 422;
    Case("API1", "scanner-a1 posts a scan as " + f.tenant + "/" + f.scanner, r, {},
         Ok(r) || (r.status == 422 && !malformed));
  }

  // API3: mass assignment of properties the caller may not set.
  for (const std::string& body : std::vector<std::string>{
           std::string(R"({"tenant_id": "hatchery-b", "sex": "FEMALE", "source": "hatch"})"),
           std::string(R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch", "model_version": "9.9.9"})"),
           std::string(R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch", "recorded_by": "admin-b"})"),
           std::string(R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch", "egg_id": "b-egg-1"})"),
           std::string(R"({"tenant_id": "hatchery-a", "sex": "FEMALE", "source": "hatch", "correct": true})"),
           std::string(R"({"tenant_id": ["hatchery-a", "hatchery-b"], "sex": "FEMALE", "source": "hatch"})")}) {
    HttpResult r = Call("POST", "/v1/eggs/a-egg-3/outcome", tokens_["operator-a"], body, "application/json");
    Case("API3", "operator-a outcome body " + body, r, Foreign("hatchery-a"), Ok(r));
  }
  HttpResult json_scan = Call("POST", "/v1/scans", tokens_["scanner-hatchery-a-1"],
                              R"({"egg_id": "x", "tenant_id": "hatchery-a", "scanner_id": "scanner-a1",)"
                              R"( "model_version": "9.9.9"})",
                              "application/json");
  Case("API3", "scanner sets model_version in a scan", json_scan, {}, Ok(json_scan));
  // Egg answers carry no other tenant's fields.
  HttpResult own = Call("GET", "/v1/eggs/a-egg-1", tokens_["viewer-a"]);
  Case("API3", "viewer-a reads its egg", own, Foreign("hatchery-a"), false);
  EXPECT_EQ(own.status, 200);  // with identity or without

  // API2: broken authentication, forgeries built from real tokens.
  const std::string real = tokens_["viewer-a"];
  const JwtParts parts = Split(real);
  const std::string admin_claims =
      Replace(Replace(parts.payload, "\"viewer\"", "\"platform-admin\""), "\"hatchery-a\"", "\"hatchery-b\"");
  ASSERT_NE(admin_claims, parts.payload) << parts.payload;
  std::string kid;  // Keycloak writes "kid" : "..." (spaces around the colon)
  if (auto at = parts.header.find("\"kid\""); at != std::string::npos) {
    std::size_t open = parts.header.find('"', parts.header.find(':', at) + 1);
    kid = parts.header.substr(open + 1, parts.header.find('"', open + 1) - open - 1);
  }
  ASSERT_FALSE(kid.empty()) << parts.header;
  const std::string jwks = ShellOutput("curl -fsS " + issuer_ + "/protocol/openid-connect/certs");
  std::string rsa_jwk = jwks;  // the whole public set as an HMAC secret, and the key alone
  if (auto at = jwks.find("{\"kid\""); at != std::string::npos) rsa_jwk = jwks.substr(at, jwks.find('}', at) - at + 1);
  const std::string master = ShellOutput(
      "curl -fsS -d grant_type=password -d client_id=admin-cli -d username=admin "
      "-d password=admin http://127.0.0.1:" +
      EnvOrEmpty("OVOFLOW_TEST_KEYCLOAK_PORT") +
      "/realms/master/protocol/openid-connect/token | sed -n 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/p'");
  const std::map<std::string, std::string> forged = {
      {"no token", ""},
      {"alg none with the real claims", auth::testing::UnsignedToken(parts.payload, kid)},
      {"alg none, elevated claims", auth::testing::UnsignedToken(admin_claims, kid)},
      {"HS256 keyed with the RSA public key", auth::testing::HmacToken(admin_claims, kid, rsa_jwk)},
      {"HS256 keyed with the JWKS", auth::testing::HmacToken(admin_claims, kid, jwks)},
      {"elevated claims, original signature", Join(parts.header, admin_claims, parts.signature)},
      {"unknown kid", Join(Replace(parts.header, kid, "no-such-key"), parts.payload, parts.signature)},
      {"kid with a path", Join(Replace(parts.header, kid, "../../etc/passwd"), parts.payload, parts.signature)},
      {"truncated signature", real.substr(0, real.size() - 10)},
      {"no signature", real.substr(0, real.rfind('.') + 1)},
      {"garbage", "abc.def.ghi"},
      {"wrong issuer (master realm)", master.empty() ? "x.y.z" : master},
      {"another audience", Join(parts.header, Replace(parts.payload, "ovoflow-api", "account"), parts.signature)},
      {"expired (exp rewritten)",
       Join(parts.header, Replace(parts.payload, "\"exp\":", "\"exp\":1,\"x\":"), parts.signature)},
      {"9 KB token", std::string(std::size_t{9} * 1024, 'A') + ".b.c"},
  };
  for (const auto& [what, token] : forged) {
    for (const char* target : {"/v1/eggs", "/v1/stats", "/v1/eggs/b-egg-1", "/v1/models", "/v1/me"}) {
      HttpResult r = Call("GET", target, token);
      Case("API2", what + " GET " + target, r, {"a-egg-", "b-egg-", "hatchery-"}, Ok(r));
    }
    HttpResult r = Call("POST", "/v1/models/2.1.0:activate", token, "{}", "application/json");
    Case("API2", what + " activates a model", r, {}, Ok(r) || r.status == 404 || r.status == 409);
  }
  // A 100 KB bearer token: refused before it is read as a token, nothing answered.
  {
    namespace net = boost::asio;
    net::io_context ioc;
    net::ip::tcp::socket s(ioc);
    s.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)});
    const std::string req = "GET /v1/eggs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                            std::string(std::size_t{100} * 1024, 'A') + "\r\nConnection: close\r\n\r\n";
    boost::system::error_code ec;
    net::write(s, net::buffer(req), ec);
    std::string answer(4096, '\0');
    std::size_t n = s.read_some(net::buffer(answer), ec);
    answer.resize(n);
    HttpResult r;
    r.status = 0;
    if (answer.size() > 12) (void)std::from_chars(answer.data() + 9, answer.data() + 12, r.status);
    r.body = answer;
    Case("API2", "100 KB token", r, {"a-egg-", "b-egg-"}, Ok(r));
  }

  // API4: failed authentications are limited per address.
  int limited = 0;
  for (int i = 0; i < 220; ++i) limited += Call("GET", "/v1/eggs", "forged." + std::to_string(i) + ".x").status == 429;
  HttpResult after = Call("GET", "/v1/eggs", tokens_["viewer-a"]);
  Case("API4", "a good token from an address that failed 220 times", after, {"b-egg-"}, false);
  if (!no_auth_) {
    EXPECT_GT(limited, 0) << "no 429 after 220 failed authentications";
    EXPECT_EQ(after.status, 429);
  }

  std::printf("adversarial suite: %d cases (", cases_);
  for (const auto& [api, n] : per_api_) std::printf("%s %d ", api.c_str(), n);
  std::printf("), %d cross-tenant reads, %d privilege escalations%s\n", cross_tenant_reads_, escalations_,
              no_auth_ ? " [server started with --no-auth]" : "");
  EXPECT_GE(cases_, 200);
  EXPECT_EQ(cross_tenant_reads_, 0);
  EXPECT_EQ(escalations_, 0);
}

}  // namespace
}  // namespace ovoflow::testing
