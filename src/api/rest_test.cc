// GET /v1/eggs/{egg_id}, GET /v1/eggs, GET /v1/stats and the error answers
// every route shares, against a real server and a real SQLite store.
#include <gtest/gtest.h>

#include <set>

#include "api/client/http_client.h"
#include "api/testing/api_fixture.h"

namespace ovoflow::api::testing {
namespace {

class RestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = ApiHarness::Start();
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
    // 30 eggs: a/b alternate; every third male; decisions follow the sex.
    std::vector<v1::Prediction> preds;
    for (int i = 0; i < 30; ++i) {
      bool male = i % 3 == 0;
      v1::Decision d = male ? v1::DECISION_DIVERT : (i % 5 == 0 ? v1::DECISION_RECHECK : v1::DECISION_KEEP);
      preds.push_back(MakePrediction("egg-" + std::to_string(100 + i), i % 2 ? "hatchery-b" : "hatchery-a",
                                     male ? v1::SEX_MALE : v1::SEX_FEMALE, d, i, male ? 0.1f : 0.9f));
    }
    harness_->Insert(preds);
  }
  int port() { return harness_->port(); }

  void ExpectProblem(const HttpResult& r, int status, const std::string& parameter = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.ContentType(), "application/problem+json") << r.body;
    auto p = ParseJson(r.body);
    EXPECT_EQ(Field(p, "status").number_value(), status);
    EXPECT_EQ(Field(p, "type").string_value().rfind("urn:ovoflow:problem:", 0), 0u);
    EXPECT_FALSE(Field(p, "title").string_value().empty());
    EXPECT_FALSE(Field(p, "detail").string_value().empty());
    EXPECT_TRUE(HasField(p, "instance"));
    if (!parameter.empty()) {
      EXPECT_EQ(Field(p, "parameter").string_value(), parameter) << r.body;
    }
  }

  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(RestTest, GetEggReturnsThePredictionAsProtoJson) {
  HttpResult r = Fetch(port(), "GET", "/v1/eggs/egg-101");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.ContentType(), "application/json");
  auto egg = ParseJson(r.body);
  EXPECT_EQ(Field(egg, "egg_id").string_value(), "egg-101");
  EXPECT_EQ(Field(egg, "tenant_id").string_value(), "hatchery-b");
  EXPECT_EQ(Field(egg, "sex").string_value(), "SEX_FEMALE");
  EXPECT_EQ(Field(egg, "decision").string_value(), "DECISION_KEEP");
  EXPECT_NEAR(Field(egg, "p_female").number_value(), 0.9, 1e-6);
  EXPECT_EQ(Field(egg, "tray_position").number_value(), 1);
  EXPECT_EQ(Field(egg, "model_version").string_value(), "1.0.0");
  EXPECT_EQ(Field(Field(egg, "times"), "captured_at").string_value(), "2026-05-01T00:00:01Z");
  EXPECT_EQ(Field(egg, "stored_at").string_value(), "2026-05-01T00:00:02Z");
}

TEST_F(RestTest, GetEggScopedByTenant) {
  EXPECT_EQ(Fetch(port(), "GET", "/v1/eggs/egg-101?tenant_id=hatchery-b").status, 200);
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs/egg-101?tenant_id=hatchery-a"), 404);
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs/no-such-egg"), 404);
}

TEST_F(RestTest, ListEggsPagesThroughEverythingNewestFirst) {
  std::set<std::string> seen;
  std::string cursor;
  double last_captured = 1e300;
  int pages = 0;
  do {
    HttpResult r = Fetch(port(), "GET", "/v1/eggs?limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    auto page = ParseJson(r.body);
    for (const auto& item : Field(page, "items").list_value().values()) {
      EXPECT_TRUE(seen.insert(Field(item, "egg_id").string_value()).second);
      EXPECT_TRUE(HasField(item, "stored_at"));
      double n = std::stod(Field(item, "egg_id").string_value().substr(4));
      EXPECT_LT(n, last_captured);  // captured_at grows with the number
      last_captured = n;
    }
    cursor = HasField(page, "next_cursor") ? Field(page, "next_cursor").string_value() : "";
    ASSERT_LT(++pages, 10);
  } while (!cursor.empty());
  EXPECT_EQ(seen.size(), 30u);
  EXPECT_EQ(pages, 5);
}

TEST_F(RestTest, ListEggsFilters) {
  HttpResult r = Fetch(port(), "GET", "/v1/eggs?tenant_id=hatchery-a&sex=MALE&decision=DIVERT");
  ASSERT_EQ(r.status, 200) << r.body;
  auto items = Field(ParseJson(r.body), "items").list_value().values();
  EXPECT_EQ(items.size(), 5u);  // i in {0, 6, 12, 18, 24}
  for (const auto& it : items) {
    EXPECT_EQ(Field(it, "tenant_id").string_value(), "hatchery-a");
    EXPECT_EQ(Field(it, "sex").string_value(), "SEX_MALE");
  }
  // Enum names are accepted in full too, and the time range applies to captured_at.
  r = Fetch(port(), "GET",
            "/v1/eggs?sex=SEX_FEMALE&decision=DECISION_KEEP&from=2026-05-01T00:00:10Z&to=2026-05-01T00:00:20Z");
  ASSERT_EQ(r.status, 200) << r.body;
  items = Field(ParseJson(r.body), "items").list_value().values();
  std::set<std::string> eggs;
  for (const auto& it : items) eggs.insert(Field(it, "egg_id").string_value());
  // i in [10, 20): female and not a multiple of 5 -> 11, 13, 14, 16, 17, 19.
  EXPECT_EQ(eggs, (std::set<std::string>{"egg-111", "egg-113", "egg-114", "egg-116", "egg-117", "egg-119"}));
}

TEST_F(RestTest, BadQueryParametersAreNamed) {
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?limit=0"), 400, "limit");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?limit=1001"), 400, "limit");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?limit=ten"), 400, "limit");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?sex=UNKNOWN"), 400, "sex");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?sex=SEX_UNSPECIFIED"), 400, "sex");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?decision=MAYBE"), 400, "decision");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?from=yesterday"), 400, "from");
  ExpectProblem(Fetch(port(), "GET", "/v1/stats?to=2026-13-01T00:00:00Z"), 400, "to");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z"), 400, "from");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?cursor=not-a-cursor"), 400, "cursor");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?colour=brown"), 400, "colour");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs?limit=5&limit=6"), 400, "limit");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs/egg-101?sex=MALE"), 400, "sex");
  ExpectProblem(Fetch(port(), "GET", "/healthz?x=1"), 400, "x");
}

TEST_F(RestTest, StatsCountOverallAndPerTenant) {
  HttpResult r = Fetch(port(), "GET", "/v1/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.ContentType(), "application/json");
  auto s = ParseJson(r.body);
  EXPECT_EQ(Field(s, "total").number_value(), 30);
  EXPECT_EQ(Field(s, "male").number_value(), 10);
  EXPECT_EQ(Field(s, "female").number_value(), 20);
  EXPECT_EQ(Field(s, "divert").number_value(), 10);
  EXPECT_EQ(Field(s, "recheck").number_value(), 4);  // 5, 10, 20, 25
  EXPECT_EQ(Field(s, "keep").number_value(), 16);
  EXPECT_NEAR(Field(s, "female_ratio").number_value(), 20.0 / 30.0, 1e-9);
  EXPECT_NEAR(Field(s, "mean_p_female").number_value(), (20 * 0.9 + 10 * 0.1) / 30, 1e-5);
  EXPECT_NEAR(Field(s, "mean_end_to_end_seconds").number_value(), 1.0, 1e-6);
  const auto& tenants = Field(s, "tenants").list_value().values();
  ASSERT_EQ(tenants.size(), 2u);
  EXPECT_EQ(Field(tenants[0], "tenant_id").string_value(), "hatchery-a");
  EXPECT_EQ(Field(tenants[0], "total").number_value() + Field(tenants[1], "total").number_value(), 30);
  EXPECT_TRUE(HasField(tenants[1], "female_ratio"));

  auto b = ParseJson(Fetch(port(), "GET", "/v1/stats?tenant_id=hatchery-b&from=2026-05-01T00:00:20Z").body);
  EXPECT_EQ(Field(b, "total").number_value(), 5);  // 21, 23, 25, 27, 29
  auto none = ParseJson(Fetch(port(), "GET", "/v1/stats?tenant_id=nobody").body);
  EXPECT_EQ(Field(none, "total").number_value(), 0);
  EXPECT_EQ(Field(none, "female_ratio").number_value(), 0);
}

TEST_F(RestTest, UnknownPathsAndMethodsGetProblems) {
  ExpectProblem(Fetch(port(), "GET", "/v1/nothing/here"), 404);
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs/a/b"), 404);
  HttpResult r = Fetch(port(), "DELETE", "/v1/eggs/egg-101");
  ExpectProblem(r, 405);
  EXPECT_EQ(r.Header("allow"), "GET");
  r = Fetch(port(), "GET", "/v1/scans");
  ExpectProblem(r, 405);
  EXPECT_EQ(r.Header("allow"), "POST");
  ExpectProblem(Fetch(port(), "POST", "/healthz"), 405);
  ExpectProblem(Fetch(port(), "GET", "/v1/live"), 426);
  ExpectProblem(Fetch(port(), "GET", "/v1/live?decision=SOMETIMES"), 400, "decision");
}

}  // namespace
}  // namespace ovoflow::api::testing
