// The dashboard end to end: web/test/dashboard.test.mjs drives headless
// Chromium against two real ApiServers over one real SQLite store, fed with
// predictions of three hatcheries while it runs:
//  - one with identity on a fixed port (OVOFLOW_TEST_DASHBOARD_PORT, which the
//    realm's ovoflow-dashboard client lists as redirect URI and web origin:
//    Keycloak checks the token endpoint's CORS origin with its port), trusting
//    the test Keycloak (CTest fixture "keycloak", OVOFLOW_TEST_KEYCLOAK_PORT):
//    the browser signs in on Keycloak's login form and must see only its
//    user's hatchery;
//  - one without identity (auth disabled, port 0): no sign-in, every hatchery.
// web/test/model.test.mjs and auth.test.mjs, the page's pure parts, run in
// the same node. CTest labels "browser" and "security"; needs `make web`.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "api/client/http_client.h"
#include "api/testing/api_fixture.h"
#include "auth/jwt_verifier.h"
#include "auth/oidc_keys.h"
#include "common/child_process.h"
#include "common/env.h"

namespace ovoflow::api::testing {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name, const std::string& fallback) {
  auto v = GetEnv(name);
  return v && !v->empty() ? *v : fallback;
}

const char* const kTenants[] = {"hatchery-a", "hatchery-b", "hatchery-c"};

v1::Prediction Nth(int i) {
  // Roughly half female; confident calls kept or diverted, the rest rechecked.
  bool female = (i * 7) % 11 < 5;
  float spread = static_cast<float>((i * 13) % 45) / 100.0f;
  float p = female ? 0.55f + spread : 0.45f - spread;
  v1::Decision d = p >= 0.8f ? v1::DECISION_KEEP : p <= 0.2f ? v1::DECISION_DIVERT : v1::DECISION_RECHECK;
  char egg[32];
  (void)std::snprintf(egg, sizeof(egg), "EGG-%06d", i);  // fits
  return MakePrediction(egg, kTenants[i % 3], female ? v1::SEX_FEMALE : v1::SEX_MALE, d, i, p);
}

TEST(DashboardE2eTest, SignedInBrowserShowsOnlyItsHatcheriesLiveMatchingTheStore) {
  const std::string source = Env("OVOFLOW_SOURCE_DIR", OVOFLOW_SOURCE_DIR_FALLBACK);
  const std::string web = source + "/web";
  if (!fs::exists(web + "/dist/index.html") || !fs::exists(web + "/dist/app.js"))
    GTEST_SKIP() << "web/dist is not built: run `make web` (scripts/web-build)";
  if (!fs::exists(web + "/node_modules/playwright-core"))
    GTEST_SKIP() << "web/node_modules is missing: run `make web` (npm ci in web/)";

  // Without identity: owns the store both servers read.
  ApiOptions local_options = ApiHarness::DefaultOptions();
  local_options.web_root = web + "/dist";
  auto h = ApiHarness::Start(local_options);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ApiHarness& harness = **h;

  // With identity: Keycloak's realm as the only trusted issuer.
  const std::string issuer = "http://127.0.0.1:" + Env("OVOFLOW_TEST_KEYCLOAK_PORT", "18180") + "/realms/ovoflow";
  auth::OidcKeySource keys({issuer}, auth::OidcKeyOptions{});
  Status reachable = keys.Prefetch();
  ASSERT_TRUE(reachable.ok()) << "the test Keycloak (" << issuer << ") does not answer: run this test through "
                              << "ctest (fixture keycloak) or `scripts/keycloak start --port 18180`: "
                              << reachable.ToString();
  auth::VerifierOptions vo;
  vo.issuers = {issuer};
  vo.audience = "ovoflow-api";
  auto verifier = auth::JwtVerifier::Create(vo, &keys);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  ApiOptions options = ApiHarness::DefaultOptions();
  options.web_root = web + "/dist";
  options.port = static_cast<uint16_t>(std::stoi(Env("OVOFLOW_TEST_DASHBOARD_PORT", "18080")));
  options.auth.disabled = false;
  ApiDeps deps;
  deps.store = harness.store();
  deps.verifier = verifier->get();
  auto server = ApiServer::Start(options, deps);
  ASSERT_TRUE(server.ok()) << "port " << options.port << ": " << server.status().ToString();

  // History the pages must pick up from /v1/stats.
  std::vector<v1::Prediction> history;
  history.reserve(60);
  for (int i = 0; i < 60; ++i) history.push_back(Nth(i));
  harness.Insert(history);

  const std::string screenshot =
      Env("OVOFLOW_SCREENSHOT", Env("OVOFLOW_BINARY_DIR", fs::temp_directory_path().string()) + "/dashboard_e2e.png");
  const std::string url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/";
  const std::string local_url = "http://127.0.0.1:" + std::to_string(harness.port()) + "/";
  std::atomic<bool> browser_done{false};
  CommandResult node;
  std::thread browser([&] {
    node = RunCommand("cd '" + web + "' && OVOFLOW_URL='" + url + "' OVOFLOW_LOCAL_URL='" + local_url +
                      "' OVOFLOW_USER=operator-a OVOFLOW_SCREENSHOT='" + screenshot +
                      "' node --test --test-reporter=spec test/model.test.mjs test/auth.test.mjs "
                      "test/dashboard.test.mjs 2>&1");
    browser_done = true;
  });

  // Feed both servers as a store writer would (insert, then publish) in
  // bursts with quiet gaps, in which the pages' counts can settle on the
  // store's, until the browser is done.
  int next = static_cast<int>(history.size());
  while (!browser_done && next < 20000) {
    for (int burst = 0; burst < 8 && !browser_done; ++burst) {
      std::vector<v1::Prediction> batch;
      batch.reserve(10);
      for (int k = 0; k < 10; ++k) batch.push_back(Nth(next++));
      harness.Insert(batch);
      for (const auto& p : batch) {
        harness.server().PublishLive(p);
        (*server)->PublishLive(p);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    for (int quiet = 0; quiet < 20 && !browser_done; ++quiet)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  browser.join();
  (*server)->Stop();
  EXPECT_EQ(node.exit_code, 0) << node.output;
  if (node.exit_code == 0) std::printf("%s\ndashboard screenshot: %s\n", node.output.c_str(), screenshot.c_str());
}

}  // namespace
}  // namespace ovoflow::api::testing
