// The dashboard end to end: a real ApiServer (port 0, real SQLite store,
// web_root = web/dist) fed with predictions while web/test/dashboard.test.mjs
// drives headless Chromium against it (web/test/model.test.mjs, the page's
// pure state, runs in the same node). CTest label "browser"; needs `make web`.
#include <gtest/gtest.h>


#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "api/testing/api_fixture.h"
#include "api/client/http_client.h"
#include "common/child_process.h"
#include "common/metrics.h"

namespace ovoflow::api::testing {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

const char* const kTenants[] = {"hatchery-a", "hatchery-b", "hatchery-c"};

v1::Prediction Nth(int i) {
  // Roughly half female; confident calls kept or diverted, the rest rechecked.
  bool female = (i * 7) % 11 < 5;
  float spread = static_cast<float>((i * 13) % 45) / 100.0f;
  float p = female ? 0.55f + spread : 0.45f - spread;
  v1::Decision d = p >= 0.8f ? v1::DECISION_KEEP : p <= 0.2f ? v1::DECISION_DIVERT : v1::DECISION_RECHECK;
  char egg[32];
  std::snprintf(egg, sizeof(egg), "EGG-%06d", i);
  return MakePrediction(egg, kTenants[i % 3], female ? v1::SEX_FEMALE : v1::SEX_MALE, d, i, p);
}

TEST(DashboardE2eTest, BrowserShowsLiveCountsMatchingTheStore) {
  const std::string source = Env("OVOFLOW_SOURCE_DIR", OVOFLOW_SOURCE_DIR_FALLBACK);
  const std::string web = source + "/web";
  if (!fs::exists(web + "/dist/index.html") || !fs::exists(web + "/dist/app.js"))
    GTEST_SKIP() << "web/dist is not built: run `make web` (scripts/web-build)";
  if (!fs::exists(web + "/node_modules/playwright-core"))
    GTEST_SKIP() << "web/node_modules is missing: run `make web` (npm ci in web/)";

  ApiOptions o = ApiHarness::DefaultOptions();
  o.web_root = web + "/dist";
  auto h = ApiHarness::Start(o);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ApiHarness& harness = **h;

  // History the page must pick up from /v1/stats.
  std::vector<v1::Prediction> history;
  for (int i = 0; i < 60; ++i) history.push_back(Nth(i));
  harness.Insert(history);

  const std::string screenshot =
      Env("OVOFLOW_SCREENSHOT", Env("OVOFLOW_BINARY_DIR", fs::temp_directory_path().string()) + "/dashboard_e2e.png");
  const std::string url = "http://127.0.0.1:" + std::to_string(harness.port()) + "/";
  std::atomic<bool> browser_done{false};
  CommandResult node;
  std::thread browser([&] {
    node = RunCommand("cd '" + web + "' && OVOFLOW_URL='" + url + "' OVOFLOW_SCREENSHOT='" + screenshot +
                    "' node --test --test-reporter=spec test/model.test.mjs test/dashboard.test.mjs");
    browser_done = true;
  });

  // Once the page subscribes, feed it: bursts as a store writer would (insert, then publish).
  int next = static_cast<int>(history.size());
  for (int polls = 0; polls < 12000 && !browser_done; ++polls) {
    if (MetricValue(SerializeMetrics(), "ovoflow_ws_clients") >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int burst = 0; burst < 12 && !browser_done; ++burst) {
    std::vector<v1::Prediction> batch;
    for (int k = 0; k < 25; ++k) batch.push_back(Nth(next++));
    harness.Insert(batch);
    for (const auto& p : batch) harness.server().PublishLive(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  browser.join();
  EXPECT_EQ(node.exit_code, 0) << node.output;
  if (node.exit_code == 0) std::printf("dashboard screenshot: %s\n", screenshot.c_str());
}

}  // namespace
}  // namespace ovoflow::api::testing
