// POST /v1/scans: protobuf and JSON bodies into a recording ScanSink, and
// every refusal (400, 413, 415, 422, 503) as problem+json.
#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

#include "api/testing/api_fixture.h"
#include "api/testing/test_client.h"
#include "common/metrics.h"
#include "common/validation.h"
#include "common/volume.h"

namespace ovoflow::api::testing {
namespace {

class ScansTest : public ::testing::Test {
 protected:
  void Start(ApiOptions o = ApiHarness::DefaultOptions(), bool with_sink = true) {
    auto h = ApiHarness::Start(o, true, with_sink ? &sink_ : nullptr);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
  }
  int port() { return harness_->port(); }
  void ExpectProblem(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    EXPECT_EQ(r.ContentType(), "application/problem+json");
  }

  RecordingSink sink_;
  std::unique_ptr<ApiHarness> harness_;
};

TEST_F(ScansTest, AcceptsProtobufBodies) {
  Start();
  double accepted = MetricValue(SerializeMetrics(), "ovoflow_api_scans_accepted_total");
  v1::EggScan scan = MakeScan("egg-proto");
  for (const char* type : {"application/x-protobuf", "application/protobuf"}) {
    HttpResult r = Fetch(port(), "POST", "/v1/scans", scan.SerializeAsString(), type);
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.ContentType(), "application/json");
    EXPECT_EQ(r.Header("location"), "/v1/eggs/egg-proto");
    auto body = ParseJson(r.body);
    EXPECT_EQ(Field(body, "egg_id").string_value(), "egg-proto");
    EXPECT_EQ(Field(body, "status").string_value(), "accepted");
  }
  auto scans = sink_.scans();
  ASSERT_EQ(scans.size(), 2u);
  EXPECT_EQ(scans[0].SerializeAsString(), scan.SerializeAsString());
  EXPECT_EQ(MetricValue(SerializeMetrics(), "ovoflow_api_scans_accepted_total"), accepted + 2);
}

TEST_F(ScansTest, AcceptsJsonBodies) {
  Start();
  v1::EggScan scan = MakeScan("egg-json", "hatchery-b");
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(scan, &json).ok());
  HttpResult r = Fetch(port(), "POST", "/v1/scans", json, "application/json; charset=utf-8");
  ASSERT_EQ(r.status, 202) << r.body;
  auto scans = sink_.scans();
  ASSERT_EQ(scans.size(), 1u);
  EXPECT_EQ(scans[0].volume().data(), scan.volume().data());  // bytes travel as base64
  EXPECT_EQ(scans[0].tenant_id(), "hatchery-b");
}

TEST_F(ScansTest, RefusesWhatCannotBeParsed) {
  Start();
  double before = MetricValue(SerializeMetrics(), "ovoflow_api_scans_rejected_total{reason=\"unparsable\"}");
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", "{not json", "application/json"), 400);
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", R"({"egg_id":"e","no_such_field":1})", "application/json"), 400);
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", "\xff\xff\xff garbage", "application/x-protobuf"), 400);
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", "x", "text/plain"), 415);
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", "x"), 415);
  EXPECT_EQ(MetricValue(SerializeMetrics(), "ovoflow_api_scans_rejected_total{reason=\"unparsable\"}"), before + 3);
  EXPECT_TRUE(sink_.scans().empty());
}

TEST_F(ScansTest, InvalidScansGet422WithTheReason) {
  Start();
  v1::EggScan scan = MakeScan("egg-bad");
  scan.mutable_volume()->set_data("short");
  HttpResult r = Fetch(port(), "POST", "/v1/scans", scan.SerializeAsString(), "application/x-protobuf");
  ExpectProblem(r, 422);
  Status why = ValidateScan(scan);
  ASSERT_FALSE(why.ok());
  EXPECT_EQ(Field(ParseJson(r.body), "detail").string_value(), why.message());
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", MakeScan("").SerializeAsString(), "application/x-protobuf"), 422);
  EXPECT_TRUE(sink_.scans().empty());
}

TEST_F(ScansTest, BusTroubleAnswers503WithRetryAfter) {
  Start();
  sink_.set_result(Status::Unavailable("broker away"));
  HttpResult r = Fetch(port(), "POST", "/v1/scans", MakeScan("egg-1").SerializeAsString(), "application/x-protobuf");
  ExpectProblem(r, 503);
  EXPECT_FALSE(r.Header("retry-after").empty());
  sink_.set_result(Status::ResourceExhausted("queue full"));
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", MakeScan("egg-1").SerializeAsString(), "application/x-protobuf"),
                503);
  sink_.set_result(Status::Internal("bug"));
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", MakeScan("egg-1").SerializeAsString(), "application/x-protobuf"),
                500);
}

TEST_F(ScansTest, WithoutASinkAnswers503) {
  Start(ApiHarness::DefaultOptions(), /*with_sink=*/false);
  ExpectProblem(Fetch(port(), "POST", "/v1/scans", MakeScan("egg-1").SerializeAsString(), "application/x-protobuf"),
                503);
}

TEST_F(ScansTest, BodiesOverTheLimitGet413) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_body_bytes = 4096;
  Start(o);
  HttpResult r = Fetch(port(), "POST", "/v1/scans", std::string(512 * 1024, 'x'), "application/x-protobuf");
  ExpectProblem(r, 413);
  EXPECT_EQ(r.Header("connection"), "close");
  // The server goes on serving.
  EXPECT_EQ(Fetch(port(), "POST", "/v1/scans", MakeScan("egg-1").SerializeAsString(), "application/x-protobuf").status,
            202);
}

TEST_F(ScansTest, AnswersExpect100ContinueBeforeTheBody) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_body_bytes = 64 * 1024;
  Start(o);
  HttpConnection c(port());
  int interim = 0;
  HttpResult r = c.PostExpectingContinue("/v1/scans", MakeScan("egg-continue").SerializeAsString(),
                                         "application/x-protobuf", &interim);
  EXPECT_EQ(interim, 100);
  EXPECT_EQ(r.status, 202) << r.body << r.error;
  ASSERT_EQ(sink_.scans().size(), 1u);
  // A body announced over the limit is refused before the client sends it.
  HttpConnection big(port());
  r = big.PostExpectingContinue("/v1/scans", std::string(128 * 1024, 'x'), "application/x-protobuf", &interim);
  EXPECT_EQ(interim, 413);
  ExpectProblem(r, 413);
  EXPECT_EQ(sink_.scans().size(), 1u);
}

}  // namespace
}  // namespace ovoflow::api::testing
