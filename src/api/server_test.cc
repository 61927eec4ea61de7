// Server mechanics: binding, keep-alive under concurrency, the metrics-only
// mode, readiness, metrics labels, static files and shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "api/client/http_client.h"
#include "api/testing/api_fixture.h"
#include "common/metrics.h"
#include "common/readiness.h"
#include "common/testing/temp_dir.h"

namespace ovoflow::api::testing {
namespace {

std::unique_ptr<ApiHarness> StartOrDie(ApiOptions o = ApiHarness::DefaultOptions(), bool with_store = true) {
  auto h = ApiHarness::Start(std::move(o), with_store);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? std::move(h).value() : nullptr;
}

TEST(ServerTest, ATakenPortIsUnavailable) {
  auto first = StartOrDie();
  ASSERT_TRUE(first);
  ApiOptions o = ApiHarness::DefaultOptions();
  o.port = static_cast<uint16_t>(first->port());
  auto second = ApiServer::Start(o, ApiDeps{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(std::to_string(first->port())), std::string::npos);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status().message();
}

TEST(ServerTest, BadOptionsAreRefused) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.threads = 0;
  EXPECT_EQ(ApiServer::Start(o, ApiDeps{}).status().code(), StatusCode::kInvalidArgument);
  o = ApiHarness::DefaultOptions();
  o.listen_address = "not-an-address";
  EXPECT_EQ(ApiServer::Start(o, ApiDeps{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ServerTest, WithoutAStoreServesOnlyHealthAndMetrics) {
  auto h = StartOrDie(ApiHarness::DefaultOptions(), /*with_store=*/false);
  ASSERT_TRUE(h);
  HttpResult health = Fetch(h->port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  // Labelled families show once they have a series (the /healthz above).
  HttpResult m = Fetch(h->port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.ContentType(), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m.body.find("# TYPE ovoflow_http_requests_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("# TYPE ovoflow_ws_clients gauge"), std::string::npos);
  EXPECT_EQ(Fetch(h->port(), "GET", "/readyz").status, 200);
  for (const char* target : {"/v1/eggs", "/v1/stats", "/v1/eggs/e1"}) {
    HttpResult r = Fetch(h->port(), "GET", target);
    EXPECT_EQ(r.status, 503) << target;
    EXPECT_EQ(r.ContentType(), "application/problem+json");
  }
  EXPECT_EQ(Fetch(h->port(), "POST", "/v1/scans", "x", "application/json").status, 503);
  WsClient live(h->port(), "/v1/live");
  EXPECT_EQ(live.upgrade_status(), 503);
}

TEST(ServerTest, ReadinessFollowsTheCallback) {
  std::atomic<bool> ready{false};
  ApiDeps deps;
  deps.ready = [&] { return ready.load(); };
  auto server = ApiServer::Start(ApiHarness::DefaultOptions(), deps);
  ASSERT_TRUE(server.ok());
  HttpResult r = Fetch((*server)->port(), "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.ContentType(), "application/problem+json");
  ready = true;
  EXPECT_EQ(Fetch((*server)->port(), "GET", "/readyz").status, 200);
}

// A stage stalled on a batch makes the process not ready, naming it.
TEST(ServerTest, ReadinessFailsWhileAComponentReportsAProblem) {
  auto server = ApiServer::Start(ApiHarness::DefaultOptions(), ApiDeps{});
  ASSERT_TRUE(server.ok());
  Readiness::Report("stage store", "stalled at ovoflow.predictions.v1[2]@17 after 5 failed attempts: db away");
  HttpResult r = Fetch((*server)->port(), "GET", "/readyz");
  Readiness::Clear("stage store");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.ContentType(), "application/problem+json");
  EXPECT_EQ(Field(ParseJson(r.body), "detail").string_value(),
            "stage store: stalled at ovoflow.predictions.v1[2]@17 after 5 failed attempts: db away");
  EXPECT_EQ(Fetch((*server)->port(), "GET", "/readyz").status, 200);
  EXPECT_EQ(Fetch((*server)->port(), "GET", "/healthz").status, 200);  // alive all along
}

TEST(ServerTest, ManyConcurrentKeepAliveClients) {
  auto h = StartOrDie();
  ASSERT_TRUE(h);
  h->Insert({MakePrediction("egg-1", "hatchery-a", v1::SEX_FEMALE, v1::DECISION_KEEP, 1)});
  // 150 connections open at once, each used twice.
  std::vector<std::unique_ptr<HttpConnection>> conns;
  conns.reserve(150);
  for (int i = 0; i < 150; ++i) conns.push_back(std::make_unique<HttpConnection>(h->port()));
  for (int round = 0; round < 2; ++round)
    for (auto& c : conns) ASSERT_EQ(c->Request("GET", "/healthz").status, 200);
  // 64 threads x 20 requests on their own keep-alive connections, mixing store and inline routes.
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  threads.reserve(64);
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      HttpConnection c(h->port());
      for (int i = 0; i < 20; ++i) {
        const char* target = (i + t) % 3 == 0 ? "/v1/eggs/egg-1" : (i + t) % 3 == 1 ? "/v1/stats" : "/healthz";
        HttpResult r = c.Request("GET", target);
        (r.status == 200 ? ok : failed)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 64 * 20);
  EXPECT_EQ(failed.load(), 0);
  for (auto& c : conns) EXPECT_TRUE(c->open());
}

TEST(ServerTest, MetricsLabelRoutesByTemplate) {
  auto h = StartOrDie();
  ASSERT_TRUE(h);
  Fetch(h->port(), "GET", "/v1/eggs/some-egg-id");
  Fetch(h->port(), "GET", "/no/such/path");
  std::string m = Fetch(h->port(), "GET", "/metrics").body;
  EXPECT_GE(MetricValue(m, R"(ovoflow_http_requests_total{code="404",method="GET",route="/v1/eggs/{egg_id}"})"), 1);
  EXPECT_GE(MetricValue(m, R"(ovoflow_http_requests_total{code="404",method="GET",route="unmatched"})"), 1);
  EXPECT_EQ(m.find("some-egg-id"), std::string::npos);
  EXPECT_NE(m.find(R"(ovoflow_http_request_duration_seconds_bucket{route="/v1/eggs/{egg_id}")"), std::string::npos);
  for (const char* name : {"ovoflow_ws_clients", "ovoflow_ws_messages_sent_total", "ovoflow_ws_clients_dropped_total",
                           "ovoflow_api_scans_accepted_total"})
    EXPECT_NE(m.find(std::string("# TYPE ") + name), std::string::npos) << name;
}

TEST(ServerTest, ServesTheDashboardFilesSafely) {
  ovoflow::testing::TempDir root_dir("web"), outside_dir("outside");
  const std::string& root = root_dir.path();
  const std::string& outside = outside_dir.path();
  std::ofstream(root + "/index.html") << "<!doctype html><title>ovoflow</title>";
  std::ofstream(root + "/app.js") << "console.log(1);";
  std::ofstream(root + "/app.css") << "body{}";
  std::ofstream(root + "/.secret") << "hidden";
  std::ofstream(outside + "/secret.txt") << "outside";
  std::filesystem::create_symlink(outside + "/secret.txt", root + "/link.txt");
  ApiOptions o = ApiHarness::DefaultOptions();
  o.web_root = root;
  auto h = StartOrDie(o);
  ASSERT_TRUE(h);
  HttpResult index = Fetch(h->port(), "GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.ContentType(), "text/html; charset=utf-8");
  EXPECT_EQ(index.body, "<!doctype html><title>ovoflow</title>");
  EXPECT_EQ(Fetch(h->port(), "GET", "/index.html").body, index.body);
  EXPECT_EQ(Fetch(h->port(), "GET", "/app.js").ContentType(), "text/javascript; charset=utf-8");
  EXPECT_EQ(Fetch(h->port(), "GET", "/app.css").ContentType(), "text/css; charset=utf-8");
  for (const char* bad : {"/missing.js", "/.secret", "/..%2Fsecret.txt", "/%2e%2e", "/link.txt", "/../etc/passwd"}) {
    HttpResult r = Fetch(h->port(), "GET", bad);
    EXPECT_EQ(r.status, 404) << bad << ": " << r.body;
    EXPECT_EQ(r.ContentType(), "application/problem+json") << bad;
  }
}

TEST(ServerTest, WithoutADashboardTheRootSaysHowToBuildIt) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.web_root = "/nonexistent/web/dist";
  auto h = StartOrDie(o);
  ASSERT_TRUE(h);
  HttpResult r = Fetch(h->port(), "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("make web"), std::string::npos);
  EXPECT_EQ(Fetch(h->port(), "GET", "/app.js").status, 404);
}

TEST(ServerTest, StopIsGracefulAndIdempotent) {
  auto h = StartOrDie();
  ASSERT_TRUE(h);
  int port = h->port();
  HttpConnection idle(port);
  ASSERT_EQ(idle.Request("GET", "/healthz").status, 200);
  h->server().Stop();  // closes the idle keep-alive connection instead of waiting for its timeout
  h->server().Stop();
  EXPECT_EQ(idle.Request("GET", "/healthz").status, 0);
  EXPECT_EQ(Fetch(port, "GET", "/healthz").status, 0);
}

// Holds every Submit until Release(): a broker slow to acknowledge.
class GateSink final : public ScanSink {
 public:
  Status Submit(const v1::EggScan&) override {
    std::unique_lock lock(mu_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return released_; });
    return Status::Ok();
  }
  void WaitEntered(int n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return entered_ >= n; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int entered_ = 0;        // GUARDED_BY(mu_)
  bool released_ = false;  // GUARDED_BY(mu_)
};

TEST(ServerTest, StopLetsARequestInProgressFinish) {
  GateSink sink;
  auto h = ApiHarness::Start(ApiHarness::DefaultOptions(), true, &sink);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  int port = (*h)->port();
  HttpResult answer;
  std::thread client([&] {
    answer = Fetch(port, "POST", "/v1/scans", MakeScan("egg-slow").SerializeAsString(), "application/x-protobuf");
  });
  sink.WaitEntered(1);
  std::thread stopper([&] { (*h)->server().Stop(); });
  sink.Release();
  stopper.join();
  client.join();
  EXPECT_EQ(answer.status, 202) << answer.error;
}

}  // namespace
}  // namespace ovoflow::api::testing
