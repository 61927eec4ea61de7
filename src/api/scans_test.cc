// POST /v1/scans: protobuf and JSON bodies into a recording ScanSink, and
// every refusal (400, 413, 415, 422, 503) as problem+json.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>
#include <cmath>
#include <cstring>

#include "api/client/http_client.h"
#include "api/testing/api_fixture.h"
#include "common/metrics.h"
#include "common/validation.h"
#include "common/volume.h"

namespace ovoflow::api::testing {
namespace {

class ScansTest : public ::testing::Test {
 protected:
  void Start(ApiOptions o = ApiHarness::DefaultOptions(), bool with_sink = true) {
    auto h = ApiHarness::Start(std::move(o), true, with_sink ? &sink_ : nullptr, &models_);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    harness_ = std::move(h).value();
  }
  int port() { return harness_->port(); }
  void ExpectProblem(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    EXPECT_EQ(r.ContentType(), "application/problem+json");
  }

  // POSTs `scan` as protobuf and expects a problem with `status` whose
  // detail contains `needle`; nothing reaches the sink.
  void ExpectRefused(const v1::EggScan& scan, int status, const std::string& needle) {
    HttpResult r = Fetch(port(), "POST", "/v1/scans", scan.SerializeAsString(), "application/x-protobuf");
    ExpectProblem(r, status);
    if (r.status == status) {
      EXPECT_NE(Field(ParseJson(r.body), "detail").string_value().find(needle), std::string::npos) << r.body;
    }
    EXPECT_TRUE(sink_.scans().empty());
  }

  RecordingSink sink_;
  FakeModelAdmin models_;  // the active model takes 8x8x4, one channel (what MakeScan builds)
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

// Whatever the worker would dead-letter is refused before the 202, so a 202's
// Location always comes to hold the egg.
TEST_F(ScansTest, RefusesEveryScanTheWorkerWouldDeadLetter) {
  Start();
  v1::EggScan s = MakeScan("egg-x");
  s.mutable_volume()->set_dim_z(2);  // the wrong size for the model
  s.mutable_volume()->set_data(s.volume().data().substr(0, std::size_t{8} * 8 * 2));
  ExpectRefused(s, 422, "volume 8x8x2x1ch does not match model input 8x8x4x1ch");
  s = MakeScan("egg-x");  // two channels
  s.mutable_volume()->add_channels(v1::CHANNEL_T1W);
  s.mutable_volume()->set_data(s.volume().data() + s.volume().data());
  ExpectRefused(s, 422, "does not match model input 8x8x4x1ch");
  s = MakeScan("egg-x");  // NaN voxels
  s.mutable_volume()->set_dtype(v1::DTYPE_FLOAT32);
  std::string floats(std::size_t{8} * 8 * 4 * 4, '\0');
  const float nan = std::nanf("");
  std::memcpy(floats.data() + std::ptrdiff_t{4} * 9, &nan, 4);
  s.mutable_volume()->set_data(floats);
  ExpectRefused(s, 422, "volume voxel 9 is NaN");
  s = MakeScan(std::string("nul-\0-0", 7));
  ExpectRefused(s, 422, "egg_id contains a NUL byte at offset 4");
  s = MakeScan("egg-x", "hatch%ry-a");
  ExpectRefused(s, 422, "tenant_id has a character outside");
  s = MakeScan("egg-x");
  s.mutable_captured_at()->set_seconds(int64_t{1} << 40);
  ExpectRefused(s, 422, "captured_at at");
  models_.input.set_dim_x(512);  // a 9 MiB scan is over the pipeline's limit whatever the model
  models_.input.set_dim_y(512);
  models_.input.set_dim_z(36);
  s = MakeScan("egg-x");
  s.mutable_volume()->set_dim_x(512);
  s.mutable_volume()->set_dim_y(512);
  s.mutable_volume()->set_dim_z(36);
  s.mutable_volume()->set_data(std::string(std::size_t{512} * 512 * 36, '\x01'));
  ExpectRefused(s, 413, "exceeds the largest the pipeline takes");
}

// A valid scan padded with a field EggScan does not define is refused, not
// forwarded: at 16,776,900 bytes it once stopped a partition for good.
TEST_F(ScansTest, RefusesUnknownFieldsAndPaddedScans) {
  Start();
  const std::string valid = MakeScan("egg-pad").SerializeAsString();
  std::string padded = valid + std::string(
                                   "\xA2\x06\x03"
                                   "pad",
                                   6);  // field 100, "pad"
  HttpResult r = Fetch(port(), "POST", "/v1/scans", padded, "application/x-protobuf");
  ExpectProblem(r, 400);
  EXPECT_NE(r.body.find("field number 100"), std::string::npos) << r.body;
  // 16,776,900 bytes: the padding as one length-delimited field 100.
  const std::size_t pad = 16'776'900 - valid.size() - 2 - 4;
  std::string huge = valid + "\xA2\x06";
  for (std::size_t v = pad; v >= 0x80; v >>= 7) huge.push_back(static_cast<char>((v & 0x7F) | 0x80));
  huge.push_back(static_cast<char>(pad >> 21));
  huge.append(pad, 'p');
  ASSERT_EQ(huge.size(), 16'776'900u);
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_body_bytes = 17u << 20;  // past the body limit too: the scan limit still holds
  harness_.reset();
  Start(o);
  r = Fetch(port(), "POST", "/v1/scans", huge, "application/x-protobuf");
  ExpectProblem(r, 413);
  EXPECT_TRUE(sink_.scans().empty());
}

// Problem documents stay JSON whatever bytes the request carried.
TEST_F(ScansTest, ProblemsAreValidJsonWhateverTheInput) {
  Start();
  HttpResult r = Fetch(port(), "POST", "/v1/scans", "{\"egg_id\":\"\xff\xfe\"}", "application/json");
  ExpectProblem(r, 400);
  EXPECT_NO_THROW(ParseJson(r.body)) << r.body;
  r = Fetch(port(), "GET", "/v1/eggs/%FF%FE?tenant_id=\xff", "");
  EXPECT_GE(r.status, 400);
  EXPECT_NO_THROW(ParseJson(r.body)) << r.body;
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
  HttpResult r =
      Fetch(port(), "POST", "/v1/scans", std::string(std::size_t{512} * 1024, 'x'), "application/x-protobuf");
  ExpectProblem(r, 413);
  EXPECT_EQ(r.Header("connection"), "close");
  // The server goes on serving.
  EXPECT_EQ(Fetch(port(), "POST", "/v1/scans", MakeScan("egg-1").SerializeAsString(), "application/x-protobuf").status,
            202);
}

TEST_F(ScansTest, AnswersExpect100ContinueBeforeTheBody) {
  ApiOptions o = ApiHarness::DefaultOptions();
  o.max_body_bytes = std::size_t{64} * 1024;
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
  r = big.PostExpectingContinue("/v1/scans", std::string(std::size_t{128} * 1024, 'x'), "application/x-protobuf",
                                &interim);
  EXPECT_EQ(interim, 413);
  ExpectProblem(r, 413);
  EXPECT_EQ(sink_.scans().size(), 1u);
}

}  // namespace
}  // namespace ovoflow::api::testing
