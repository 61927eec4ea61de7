// POST /v1/eggs/{egg_id}/outcome, the outcome on GET /v1/eggs/{egg_id},
// live accuracy on /v1/stats and /metrics, against a real server and a
// real SQLite store. Tenants are unique per test: the metrics registry is
// shared by every test of the process.
#include <gtest/gtest.h>

#include "api/client/http_client.h"
#include "api/testing/api_fixture.h"

namespace ovoflow::api::testing {
namespace {

constexpr const char* kJson = "application/json";

// {"tenant_id":..,"sex":..,"source":..,"observed_at":..} (observed_at only when given).
std::string Body(const std::string& tenant, const std::string& sex, const std::string& source = "hatch",
                 const std::string& observed_at = "2026-05-22T08:00:00Z") {
  std::string b = R"({"tenant_id":")" + tenant + R"(","sex":")" + sex + R"(","source":")" + source + "\"";
  if (!observed_at.empty()) b += R"(,"observed_at":")" + observed_at + "\"";
  return b + "}";
}

v1::Prediction Versioned(v1::Prediction p, const std::string& version) {
  p.set_model_version(version);
  return p;
}

class OutcomesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = ApiHarness::Start();
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
  }
  int port() { return harness_->port(); }
  HttpResult Post(const std::string& egg, const std::string& body, const std::string& type = kJson) {
    return Fetch(port(), "POST", "/v1/eggs/" + egg + "/outcome", body, type);
  }
  void ExpectProblem(const HttpResult& r, int status, const std::string& type, const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.ContentType(), "application/problem+json") << r.body;
    auto p = ParseJson(r.body);
    EXPECT_EQ(Field(p, "type").string_value(), "urn:ovoflow:problem:" + type) << r.body;
    EXPECT_EQ(Field(p, "status").number_value(), status);
    EXPECT_FALSE(Field(p, "detail").string_value().empty());
    if (!field.empty()) {
      EXPECT_EQ(Field(p, "field").string_value(), field) << r.body;
    }
  }

  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(OutcomesTest, RecordsTheOutcomeAgainstThePrediction) {
  harness_->Insert({MakePrediction("egg-1", "t-rec", v1::SEX_MALE, v1::DECISION_DIVERT, 5, 0.125f),
                    MakePrediction("egg-2", "t-rec", v1::SEX_FEMALE, v1::DECISION_KEEP, 6)});
  HttpResult r = Post("egg-1", R"({"tenant_id":"t-rec","sex":"female","source":"feather_sexing",)"
                               R"("observed_at":"2026-05-22T10:30:00+02:00","recorded_by":"line 3","note":"n"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.ContentType(), "application/json");
  EXPECT_EQ(r.Header("location"), "/v1/eggs/egg-1?tenant_id=t-rec");
  auto o = ParseJson(r.body);
  EXPECT_EQ(Field(o, "tenant_id").string_value(), "t-rec");
  EXPECT_EQ(Field(o, "egg_id").string_value(), "egg-1");
  EXPECT_EQ(Field(o, "sex").string_value(), "SEX_FEMALE");
  EXPECT_EQ(Field(o, "source").string_value(), "feather_sexing");
  EXPECT_EQ(Field(o, "observed_at").string_value(), "2026-05-22T08:30:00Z");
  EXPECT_FALSE(Field(o, "recorded_at").string_value().empty());
  EXPECT_EQ(Field(o, "recorded_by").string_value(), "line 3");
  EXPECT_EQ(Field(o, "note").string_value(), "n");
  EXPECT_FALSE(Field(o, "correct").bool_value());
  const auto& p = Field(o, "prediction");
  EXPECT_EQ(Field(p, "sex").string_value(), "SEX_MALE");
  EXPECT_EQ(Field(p, "decision").string_value(), "DECISION_DIVERT");
  EXPECT_EQ(Field(p, "p_female").number_value(), 0.125);
  EXPECT_EQ(Field(p, "model_name").string_value(), "ovonet");
  EXPECT_EQ(Field(p, "model_version").string_value(), "1.0.0");
  EXPECT_EQ(Field(p, "captured_at").string_value(), "2026-05-01T00:00:05Z");

  // The egg resource shows it (any tenant or its own); an egg without one has none.
  for (const char* target : {"/v1/eggs/egg-1", "/v1/eggs/egg-1?tenant_id=t-rec"}) {
    HttpResult egg = Fetch(port(), "GET", target);
    ASSERT_EQ(egg.status, 200) << egg.body;
    auto e = ParseJson(egg.body);
    ASSERT_TRUE(HasField(e, "outcome")) << egg.body;
    EXPECT_EQ(Field(Field(e, "outcome"), "sex").string_value(), "SEX_FEMALE");
    EXPECT_EQ(Field(Field(e, "outcome"), "observed_at").string_value(), "2026-05-22T08:30:00Z");
    EXPECT_EQ(Field(e, "sex").string_value(), "SEX_MALE");  // the prediction itself is unchanged
  }
  EXPECT_FALSE(HasField(ParseJson(Fetch(port(), "GET", "/v1/eggs/egg-2").body), "outcome"));
}

TEST_F(OutcomesTest, ObservedAtDefaultsToWhenItIsRecorded) {
  harness_->Insert({MakePrediction("egg-1", "t-now", v1::SEX_FEMALE, v1::DECISION_KEEP, 0)});
  HttpResult r = Post("egg-1", Body("t-now", "FEMALE", "hatch", ""));
  ASSERT_EQ(r.status, 201) << r.body;
  auto o = ParseJson(r.body);
  EXPECT_EQ(Field(o, "observed_at").string_value(), Field(o, "recorded_at").string_value());
  EXPECT_TRUE(Field(o, "correct").bool_value());
}

TEST_F(OutcomesTest, RepeatIsIdempotentAndAnotherSexIsAConflict) {
  harness_->Insert({MakePrediction("egg-1", "t-rep", v1::SEX_FEMALE, v1::DECISION_KEEP, 0)});
  HttpResult first = Post("egg-1", Body("t-rep", "FEMALE"));
  ASSERT_EQ(first.status, 201) << first.body;
  // Same sex, other source and time: 200 with the first record, unchanged.
  HttpResult again = Post("egg-1", Body("t-rep", "SEX_FEMALE", "vent_sexing", "2026-05-23T00:00:00Z"));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, first.body);
  ExpectProblem(Post("egg-1", Body("t-rep", "MALE")), 409, "conflict");
  auto egg = ParseJson(Fetch(port(), "GET", "/v1/eggs/egg-1").body);
  EXPECT_EQ(Field(Field(egg, "outcome"), "sex").string_value(), "SEX_FEMALE");
  EXPECT_EQ(Field(Field(egg, "outcome"), "source").string_value(), "hatch");
}

TEST_F(OutcomesTest, UnknownEggIsNotFound) {
  harness_->Insert({MakePrediction("egg-1", "t-404", v1::SEX_FEMALE, v1::DECISION_KEEP, 0)});
  ExpectProblem(Post("no-such-egg", Body("t-404", "FEMALE")), 404, "not-found");
  // Another tenant's egg is as unknown as a missing one.
  ExpectProblem(Post("egg-1", Body("t-other", "FEMALE")), 404, "not-found");
  EXPECT_FALSE(HasField(ParseJson(Fetch(port(), "GET", "/v1/eggs/egg-1").body), "outcome"));
}

TEST_F(OutcomesTest, BadBodiesAreRefusedNamingTheField) {
  harness_->Insert({MakePrediction("egg-1", "t-bad", v1::SEX_FEMALE, v1::DECISION_KEEP, 0)});
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"sex":"FEMALE","source":"hatch"})", "tenant_id"},
      {Body("", "FEMALE"), "tenant_id"},
      {R"({"tenant_id":"t-bad","source":"hatch"})", "sex"},
      {Body("t-bad", "UNKNOWN"), "sex"},
      {R"({"tenant_id":"t-bad","sex":1,"source":"hatch"})", "sex"},
      {Body("t-bad", "FEMALE", "guess"), "source"},
      {R"({"tenant_id":"t-bad","sex":"FEMALE"})", "source"},
      {Body("t-bad", "FEMALE", "hatch", "yesterday"), "observed_at"},
      {Body("t-bad", "FEMALE", "hatch", "2200-01-01T00:00:00Z"), "observed_at"},
      {R"({"tenant_id":"t-bad","sex":"FEMALE","source":"hatch","colour":"brown"})", "colour"},
      {R"({"tenant_id":"t-bad","sex":"FEMALE","source":"hatch","note":")" + std::string(1025, 'x') + "\"}", "note"},
  };
  for (const auto& [body, field] : cases) {
    SCOPED_TRACE(body.substr(0, 120));
    ExpectProblem(Post("egg-1", body), 400, "invalid-field", field);
  }
  ExpectProblem(Post("egg-1", "{not json"), 400, "bad-request");
  ExpectProblem(Post("egg-1", "[1,2]"), 400, "bad-request");
  ExpectProblem(Post("egg-1", Body("t-bad", "FEMALE"), "text/plain"), 415, "unsupported-media-type");
  ExpectProblem(Fetch(port(), "GET", "/v1/eggs/egg-1/outcome"), 405, "method-not-allowed");
  EXPECT_FALSE(HasField(ParseJson(Fetch(port(), "GET", "/v1/eggs/egg-1").body), "outcome"));
}

// recorded_by and note are limited in characters, as the document's
// maxLength counts them: 1024 three-byte characters (3072 bytes) were
// refused as "longer than 1024 bytes" although the schema allowed them.
TEST_F(OutcomesTest, TextLimitsCountCharactersNotBytes) {
  harness_->Insert({MakePrediction("egg-1", "t-chars", v1::SEX_FEMALE, v1::DECISION_KEEP, 0),
                    MakePrediction("egg-2", "t-chars", v1::SEX_FEMALE, v1::DECISION_KEEP, 0)});
  std::string text;
  for (int i = 0; i < 1024; ++i) text += "\u20ac";  // the euro sign, 3 bytes of UTF-8
  HttpResult r = Post("egg-1", R"({"tenant_id":"t-chars","sex":"FEMALE","source":"hatch","note":")" + text +
                                   R"(","recorded_by":")" + text + "\"}");
  ASSERT_EQ(r.status, 201) << r.body.substr(0, 300);
  EXPECT_EQ(Field(ParseJson(r.body), "note").string_value().size(), 3072u);
  for (const char* field : {"note", "recorded_by"}) {
    ExpectProblem(Post("egg-2", R"({"tenant_id":"t-chars","sex":"FEMALE","source":"hatch",")" + std::string(field) +
                                    R"(":")" + text + "x\"}"),
                  400, "invalid-field", field);
  }
}

TEST_F(OutcomesTest, StatsShowLiveAccuracyPerTenantAndModelVersion) {
  // t-sa, 1.0.0: e1 KEEP/female ok, e2 DIVERT/male ok, e3 KEEP but male,
  //   e4 RECHECK (predicted female) female: 4 outcomes, 3 correct,
  //   decided 3, decided_correct 2, rechecks 1. e5 has no outcome.
  // t-sa, 2.0.0: f1 RECHECK (predicted male) female: 1 outcome, 0 correct, undecided.
  // t-sb, 1.0.0: g1 DIVERT/male ok.
  harness_->Insert({MakePrediction("e1", "t-sa", v1::SEX_FEMALE, v1::DECISION_KEEP, 1),
                    MakePrediction("e2", "t-sa", v1::SEX_MALE, v1::DECISION_DIVERT, 2),
                    MakePrediction("e3", "t-sa", v1::SEX_FEMALE, v1::DECISION_KEEP, 3),
                    MakePrediction("e4", "t-sa", v1::SEX_FEMALE, v1::DECISION_RECHECK, 4),
                    MakePrediction("e5", "t-sa", v1::SEX_FEMALE, v1::DECISION_KEEP, 5),
                    Versioned(MakePrediction("f1", "t-sa", v1::SEX_MALE, v1::DECISION_RECHECK, 6), "2.0.0"),
                    MakePrediction("g1", "t-sb", v1::SEX_MALE, v1::DECISION_DIVERT, 7)});
  const std::vector<std::tuple<std::string, std::string, std::string>> truth = {
      {"e1", "t-sa", "FEMALE"}, {"e2", "t-sa", "MALE"},   {"e3", "t-sa", "MALE"},
      {"e4", "t-sa", "FEMALE"}, {"f1", "t-sa", "FEMALE"}, {"g1", "t-sb", "MALE"}};
  for (const auto& [egg, tenant, sex] : truth) ASSERT_EQ(Post(egg, Body(tenant, sex)).status, 201) << egg;

  auto expect_row = [](const google::protobuf::Value& row, const std::string& version, double outcomes, double correct,
                       double decided, double decided_correct, double rechecks) {
    SCOPED_TRACE(version);
    EXPECT_EQ(Field(row, "model_version").string_value(), version);
    EXPECT_EQ(Field(row, "outcomes").number_value(), outcomes);
    EXPECT_EQ(Field(row, "correct").number_value(), correct);
    EXPECT_DOUBLE_EQ(Field(row, "accuracy").number_value(), correct / outcomes);
    EXPECT_EQ(Field(row, "decided").number_value(), decided);
    EXPECT_EQ(Field(row, "decided_correct").number_value(), decided_correct);
    if (decided > 0) {
      EXPECT_DOUBLE_EQ(Field(row, "decided_accuracy").number_value(), decided_correct / decided);
    } else {
      EXPECT_EQ(Field(row, "decided_accuracy").kind_case(), google::protobuf::Value::kNullValue);
    }
    EXPECT_EQ(Field(row, "rechecks").number_value(), rechecks);
  };

  HttpResult r = Fetch(port(), "GET", "/v1/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  auto stats = ParseJson(r.body);
  const auto& overall = Field(stats, "accuracy").list_value();
  ASSERT_EQ(overall.values_size(), 2) << r.body;
  expect_row(overall.values(0), "1.0.0", 5, 4, 4, 3, 1);  // t-sa and t-sb together
  expect_row(overall.values(1), "2.0.0", 1, 0, 0, 0, 1);
  const auto& tenants = Field(stats, "tenants").list_value();
  ASSERT_EQ(tenants.values_size(), 2);
  const auto& sa = Field(tenants.values(0), "accuracy").list_value();
  ASSERT_EQ(sa.values_size(), 2);
  expect_row(sa.values(0), "1.0.0", 4, 3, 3, 2, 1);
  expect_row(sa.values(1), "2.0.0", 1, 0, 0, 0, 1);
  const auto& sb = Field(tenants.values(1), "accuracy").list_value();
  ASSERT_EQ(sb.values_size(), 1);
  expect_row(sb.values(0), "1.0.0", 1, 1, 1, 1, 0);

  // Scoped to one tenant, and to the eggs captured in [00:00:02, 00:00:04).
  auto only_b = ParseJson(Fetch(port(), "GET", "/v1/stats?tenant_id=t-sb").body);
  ASSERT_EQ(Field(only_b, "accuracy").list_value().values_size(), 1);
  expect_row(Field(only_b, "accuracy").list_value().values(0), "1.0.0", 1, 1, 1, 1, 0);
  auto window = ParseJson(
      Fetch(port(), "GET", "/v1/stats?tenant_id=t-sa&from=2026-05-01T00:00:02Z&to=2026-05-01T00:00:04Z").body);
  ASSERT_EQ(Field(window, "accuracy").list_value().values_size(), 1);
  expect_row(Field(window, "accuracy").list_value().values(0), "1.0.0", 2, 1, 2, 1, 0);  // e2, e3
}

TEST_F(OutcomesTest, MetricsCountOutcomesAndShowLiveAccuracy) {
  harness_->Insert({MakePrediction("m1", "t-met", v1::SEX_FEMALE, v1::DECISION_KEEP, 1),
                    MakePrediction("m2", "t-met", v1::SEX_MALE, v1::DECISION_DIVERT, 2),
                    MakePrediction("m3", "t-met", v1::SEX_FEMALE, v1::DECISION_KEEP, 3)});
  ASSERT_EQ(Post("m1", Body("t-met", "FEMALE")).status, 201);
  ASSERT_EQ(Post("m2", Body("t-met", "MALE")).status, 201);
  ASSERT_EQ(Post("m3", Body("t-met", "MALE")).status, 201);
  ASSERT_EQ(Post("m3", Body("t-met", "MALE")).status, 200);  // a repeat counts nothing
  HttpResult r = Fetch(port(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  const std::string labels = R"(model_version="1.0.0",tenant="t-met")";
  EXPECT_EQ(MetricValue(r.body, R"(ovoflow_outcomes_total{correct="true",)" + labels + "}"), 2) << r.body;
  EXPECT_EQ(MetricValue(r.body, R"(ovoflow_outcomes_total{correct="false",)" + labels + "}"), 1) << r.body;
  EXPECT_NEAR(MetricValue(r.body, "ovoflow_live_accuracy_ratio{" + labels + "}"), 2.0 / 3.0, 1e-9) << r.body;
  EXPECT_NE(r.body.find("# TYPE ovoflow_outcomes_total counter"), std::string::npos);
  EXPECT_NE(r.body.find("# TYPE ovoflow_live_accuracy_ratio gauge"), std::string::npos);
}

TEST_F(OutcomesTest, LiveAccuracyIsReadFromTheStoreAtStartUp) {
  harness_->Insert({MakePrediction("s1", "t-start", v1::SEX_FEMALE, v1::DECISION_KEEP, 1),
                    MakePrediction("s2", "t-start", v1::SEX_FEMALE, v1::DECISION_KEEP, 2)});
  // Written behind the API's back, as another API process would.
  store::Outcome o;
  o.tenant_id = "t-start";
  o.sex = v1::SEX_MALE;
  o.source = "hatch";
  o.observed_at_unix_nanos = o.recorded_at_unix_nanos = kBaseUnixNanos + int64_t{21} * 86400 * kSecond;
  for (const char* egg : {"s1", "s2"}) {
    o.egg_id = egg;
    ASSERT_TRUE(harness_->store()->RecordOutcome(o).ok());
  }
  const std::string series = R"(ovoflow_live_accuracy_ratio{model_version="1.0.0",tenant="t-start"})";
  auto server = ApiServer::Start(ApiHarness::DefaultOptions(), ApiDeps{harness_->store(), nullptr, {}});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpResult r = Fetch((*server)->port(), "GET", "/metrics");
  EXPECT_NE(r.body.find(series + " "), std::string::npos) << r.body;
  EXPECT_EQ(MetricValue(r.body, series), 0.0) << r.body;
  (*server)->Stop();
}

}  // namespace
}  // namespace ovoflow::api::testing
