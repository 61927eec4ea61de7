// /v1/live: filters, delivery of PublishLive, the slow-client policy, the
// client limit and closing on Stop().
#include <gtest/gtest.h>

#include <thread>

#include "api/client/http_client.h"
#include "api/testing/api_fixture.h"
#include "common/metrics.h"

namespace ovoflow::api::testing {
namespace {

double Metric(const std::string& series) { return MetricValue(SerializeMetrics(), series); }

// Counters move on the server's threads, a little after what the client sees
// (the hub registers a client just after the handshake answer is written; a
// message is counted once its write completed): poll, bounded by a count.
void WaitForMetric(const std::string& series, double value) {
  for (int i = 0; i < 2000 && Metric(series) != value; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(Metric(series), value);
}

void WaitForClients(double n) { WaitForMetric("ovoflow_ws_clients", n); }

class LiveTest : public ::testing::Test {
 protected:
  void Start(ApiOptions o = ApiHarness::DefaultOptions()) {
    auto h = ApiHarness::Start(std::move(o));
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
  }
  int port() { return harness_->port(); }
  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(LiveTest, DeliversMatchingPredictionsAsJson) {
  Start();
  WsClient all(port(), "/v1/live");
  WsClient tenant_a(port(), "/v1/live?tenant_id=hatchery-a");
  WsClient males(port(), "/v1/live?sex=MALE&decision=DIVERT");
  ASSERT_TRUE(all.connected()) << all.error();
  ASSERT_TRUE(tenant_a.connected()) << tenant_a.error();
  ASSERT_TRUE(males.connected()) << males.error();
  WaitForClients(3);
  double sent = Metric("ovoflow_ws_messages_sent_total");

  harness_->server().PublishLive(MakePrediction("e1", "hatchery-a", v1::SEX_FEMALE, v1::DECISION_KEEP, 1));
  harness_->server().PublishLive(MakePrediction("e2", "hatchery-b", v1::SEX_MALE, v1::DECISION_DIVERT, 2, 0.1f));
  harness_->server().PublishLive(MakePrediction("e3", "hatchery-a", v1::SEX_MALE, v1::DECISION_DIVERT, 3, 0.1f));

  for (const char* egg : {"e1", "e2", "e3"}) {
    auto m = all.Read();
    ASSERT_TRUE(m) << all.error();
    auto p = ParseJson(*m);
    EXPECT_EQ(Field(p, "egg_id").string_value(), egg);
    EXPECT_FALSE(HasField(p, "stored_at"));
    EXPECT_TRUE(HasField(p, "sex"));
  }
  for (const char* egg : {"e1", "e3"}) {
    auto m = tenant_a.Read();
    ASSERT_TRUE(m) << tenant_a.error();
    EXPECT_EQ(Field(ParseJson(*m), "egg_id").string_value(), egg);
  }
  for (const char* egg : {"e2", "e3"}) {
    auto m = males.Read();
    ASSERT_TRUE(m) << males.error();
    auto p = ParseJson(*m);
    EXPECT_EQ(Field(p, "egg_id").string_value(), egg);
    EXPECT_EQ(Field(p, "decision").string_value(), "DECISION_DIVERT");
  }
  WaitForMetric("ovoflow_ws_messages_sent_total", sent + 7);
  all.Close();
  WaitForClients(2);
}

TEST_F(LiveTest, BadFiltersAreRefusedBeforeTheUpgrade) {
  Start();
  WsClient bad(port(), "/v1/live?sex=UNKNOWN");
  EXPECT_FALSE(bad.connected());
  EXPECT_EQ(bad.upgrade_status(), 400);
  WsClient unknown(port(), "/v1/live?colour=brown");
  EXPECT_EQ(unknown.upgrade_status(), 400);
}

TEST_F(LiveTest, ClientsOverTheLimitGet503) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_ws_clients = 1;
  Start(o);
  WsClient first(port(), "/v1/live");
  ASSERT_TRUE(first.connected());
  WaitForClients(1);
  WsClient second(port(), "/v1/live");
  EXPECT_FALSE(second.connected());
  EXPECT_EQ(second.upgrade_status(), 503);
}

TEST_F(LiveTest, ASlowClientIsDroppedWithoutBlockingThePublisher) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.ws_queue_limit = 4;
  Start(o);
  WsClient slow(port(), "/v1/live", /*receive_buffer_bytes=*/4096);
  ASSERT_TRUE(slow.connected()) << slow.error();
  WaitForClients(1);
  double dropped = Metric("ovoflow_ws_clients_dropped_total");
  // Publish (never blocking) until the server gives up on the client that never reads.
  int published = 0;
  while (Metric("ovoflow_ws_clients_dropped_total") == dropped && published < 200000) {
    for (int i = 0; i < 100; ++i, ++published)
      harness_->server().PublishLive(
          MakePrediction("slow-" + std::to_string(published), "hatchery-a", v1::SEX_FEMALE, v1::DECISION_KEEP, 1));
  }
  EXPECT_EQ(Metric("ovoflow_ws_clients_dropped_total"), dropped + 1);
  // The client sees what was written before the drop, then the end of the stream.
  int received = 0;
  while (slow.Read()) ++received;
  EXPECT_LT(received, published);
  if (slow.close_code() != 0) {
    EXPECT_EQ(slow.close_code(), 1008);
    EXPECT_NE(slow.close_reason().find("too slow"), std::string::npos);
  }
  WaitForClients(0);
}

TEST_F(LiveTest, AFastClientAlsoGetsTheCloseReasonWhenItFallsBehind) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.ws_queue_limit = 1;
  Start(o);
  WsClient client(port(), "/v1/live");
  ASSERT_TRUE(client.connected());
  WaitForClients(1);
  // A burst far beyond a queue of one overflows at once; the client is still reading.
  for (int i = 0; i < 1000; ++i)
    harness_->server().PublishLive(MakePrediction("b" + std::to_string(i), "t", v1::SEX_MALE, v1::DECISION_DIVERT, 1));
  while (client.Read()) {
  }
  EXPECT_EQ(client.close_code(), 1008) << client.error();
  EXPECT_NE(client.close_reason().find("too slow"), std::string::npos);
}

TEST_F(LiveTest, StopClosesLiveClientsWithGoingAway) {
  Start();
  WsClient client(port(), "/v1/live");
  ASSERT_TRUE(client.connected());
  WaitForClients(1);
  std::thread stopper([&] { harness_->server().Stop(); });
  EXPECT_FALSE(client.Read());
  stopper.join();
  EXPECT_EQ(client.close_code(), 1001) << client.error();
  WaitForClients(0);
}

}  // namespace
}  // namespace ovoflow::api::testing
