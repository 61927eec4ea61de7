// The whole pipeline on a real Kafka broker (scripts/kafka, CTest fixture):
// `ovoflow up` runs inference, storage and the API; a separate
// `ovoflow scanner` process publishes 2,000 simulated scans. Checks exactly
// 2,000 stored predictions, accuracy against the recorded truth, the REST
// answers, the WebSocket feed, interop with kcat/protoc, and that malformed
// input is dead-lettered while the pipeline goes on.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "api/client/http_client.h"
#include "common/clock.h"
#include "common/testing/test_scan.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "store/prediction_store.h"
#include "support/process.h"

namespace ovoflow::testing {
namespace {

using api::client::Fetch;
using api::client::Field;
using api::client::HttpResult;
using api::client::ParseJson;
using api::client::WsReader;

constexpr int kScans = 2000;

struct Label {
  std::string tenant;
  std::string sex;  // "F" or "M"
};

std::map<std::string, Label> ReadLabels(const std::string& path) {
  std::map<std::string, Label> out;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string egg, tenant, scanner, sex;
    std::getline(ss, egg, ',');
    std::getline(ss, tenant, ',');
    std::getline(ss, scanner, ',');
    std::getline(ss, sex, ',');
    out[egg] = {tenant, sex};
  }
  return out;
}

int64_t StatsTotal(int port) {
  HttpResult r = Fetch(port, "GET", "/v1/stats");
  if (r.status != 200) return -1;
  return static_cast<int64_t>(Field(ParseJson(r.body), "total").number_value());
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = MakeTempDir("pipeline");
    port_ = FreePort();
    db_url_ = "sqlite://" + dir_ + "/ovoflow.db";
    up_ = std::make_unique<Process>(
        std::vector<std::string>{OvoflowBinary(), "up", "--insecure-http", "--no-auth", "--brokers", TestBrokers(),
                                 "--db", db_url_, "--port", std::to_string(port_), "--no-scanner", "--web-root",
                                 SourceDir() + "/web/dist"},
        dir_ + "/up.log");
    ASSERT_TRUE(WaitFor([] { return Fetch(port_, "GET", "/readyz").status == 200 || !up_->Running(); }, 120))
        << up_->Log();
    ASSERT_TRUE(up_->Running()) << up_->Log();
    live_ = std::make_unique<WsReader>(port_, "/v1/live?tenant_id=hatchery-a");
    ASSERT_TRUE(live_->connected()) << live_->error();

    std::mt19937_64 rng(std::random_device{}());
    run_id_ = "itest" + std::to_string(rng() % 1000000);
    Process scanner(
        {OvoflowBinary(), "scanner", "--brokers", TestBrokers(), "--scans", std::to_string(kScans), "--rate", "1000",
         "--labels", dir_ + "/labels.csv", "--run-id", run_id_, "--tenants", "hatchery-a,hatchery-b"},
        dir_ + "/scanner.log");
    ASSERT_EQ(scanner.Wait(180000), 0) << scanner.Log();
    labels_ = ReadLabels(dir_ + "/labels.csv");
    ASSERT_EQ(labels_.size(), static_cast<std::size_t>(kScans));
    bool all = WaitFor([] { return StatsTotal(port_) >= kScans; }, 240);
    ASSERT_TRUE(all) << "stored " << StatsTotal(port_) << " of " << kScans << "\n" << up_->Log();
  }

  static void TearDownTestSuite() {
    live_.reset();
    up_.reset();
  }

  static std::string dir_, db_url_, run_id_;
  static int port_;
  static std::unique_ptr<Process> up_;
  static std::unique_ptr<WsReader> live_;
  static std::map<std::string, Label> labels_;
};

std::string PipelineTest::dir_, PipelineTest::db_url_, PipelineTest::run_id_;
int PipelineTest::port_ = 0;
std::unique_ptr<Process> PipelineTest::up_;
std::unique_ptr<WsReader> PipelineTest::live_;
std::map<std::string, Label> PipelineTest::labels_;

TEST_F(PipelineTest, StoresExactlyOnePredictionPerScan) {
  EXPECT_EQ(StatsTotal(port_), kScans);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // nothing late or duplicated trickles in
  EXPECT_EQ(StatsTotal(port_), kScans);
  auto store = store::OpenStore(db_url_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto n = (*store)->Count(store::TenantScope::All());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, kScans);
}

TEST_F(PipelineTest, PredictionsMatchTheRecordedTruth) {
  std::set<std::string> seen;
  int correct = 0, decided = 0, decided_correct = 0;
  std::string cursor;
  do {
    std::string target = "/v1/eggs?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor);
    HttpResult r = Fetch(port_, "GET", target);
    ASSERT_EQ(r.status, 200) << r.body;
    auto page = ParseJson(r.body);
    for (const auto& item : Field(page, "items").list_value().values()) {
      std::string egg = Field(item, "egg_id").string_value();
      ASSERT_TRUE(seen.insert(egg).second) << "egg listed twice: " << egg;
      auto it = labels_.find(egg);
      ASSERT_NE(it, labels_.end()) << "egg without a scan: " << egg;
      EXPECT_EQ(Field(item, "tenant_id").string_value(), it->second.tenant);
      bool female = Field(item, "sex").string_value() == "SEX_FEMALE";
      bool ok = female == (it->second.sex == "F");
      correct += ok;
      std::string decision = Field(item, "decision").string_value();
      if (decision != "DECISION_RECHECK") {
        ++decided;
        decided_correct += ok;
      }
    }
    const auto& fields = page.struct_value().fields();
    cursor = fields.count("next_cursor") ? fields.at("next_cursor").string_value() : "";
  } while (!cursor.empty());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kScans));
  double accuracy = static_cast<double>(correct) / kScans;
  std::printf("accuracy %.4f over %d scans; %d decided (%.2f%% abstained) with accuracy %.4f\n", accuracy, kScans,
              decided, 100.0 * (kScans - decided) / kScans,
              decided ? static_cast<double>(decided_correct) / decided : 0.0);
  EXPECT_GE(accuracy, 0.95);
}

TEST_F(PipelineTest, RestAnswers) {
  const std::string egg = labels_.begin()->first;
  HttpResult one = Fetch(port_, "GET", "/v1/eggs/" + egg);
  ASSERT_EQ(one.status, 200) << one.body;
  auto item = ParseJson(one.body);
  EXPECT_EQ(Field(item, "egg_id").string_value(), egg);
  EXPECT_EQ(Field(item, "tenant_id").string_value(), labels_.begin()->second.tenant);
  EXPECT_FALSE(Field(item, "model_version").string_value().empty());

  HttpResult missing = Fetch(port_, "GET", "/v1/eggs/no-such-egg");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.ContentType(), "application/problem+json");

  HttpResult filtered = Fetch(port_, "GET", "/v1/eggs?tenant_id=hatchery-b&decision=KEEP&limit=50");
  ASSERT_EQ(filtered.status, 200) << filtered.body;
  const auto filtered_page = ParseJson(filtered.body);
  for (const auto& it : Field(filtered_page, "items").list_value().values()) {
    EXPECT_EQ(Field(it, "tenant_id").string_value(), "hatchery-b");
    EXPECT_EQ(Field(it, "decision").string_value(), "DECISION_KEEP");
  }

  auto stats = ParseJson(Fetch(port_, "GET", "/v1/stats").body);
  const auto& tenants = Field(stats, "tenants").list_value().values();
  ASSERT_EQ(tenants.size(), 2u);
  EXPECT_EQ(Field(tenants[0], "total").number_value() + Field(tenants[1], "total").number_value(), kScans);

  EXPECT_EQ(Fetch(port_, "GET", "/healthz").status, 200);
  HttpResult metrics = Fetch(port_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* name :
       {"ovoflow_predictions_stored_total", "ovoflow_scans_consumed_total", "ovoflow_inference_batch_size_bucket",
        "ovoflow_end_to_end_seconds_count", "ovoflow_predictions_total{decision=", "ovoflow_consumer_lag"})
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name;
  EXPECT_NE(metrics.body.find("ovoflow_predictions_stored_total " + std::to_string(kScans)), std::string::npos);
  EXPECT_EQ(Fetch(port_, "GET", "/openapi.yaml").status, 200);
  HttpResult page = Fetch(port_, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("ovoflow"), std::string::npos);
}

TEST_F(PipelineTest, WebSocketStreamsTheFilteredPredictions) {
  std::size_t want = 0;
  for (const auto& [egg, label] : labels_) want += label.tenant == "hatchery-a";
  ASSERT_TRUE(WaitFor([&] { return live_->Count() >= want; }, 60))
      << live_->Count() << " of " << want << " live messages; " << live_->error();
  std::set<std::string> eggs;
  for (const auto& m : live_->Messages()) {
    auto p = ParseJson(m);
    EXPECT_EQ(Field(p, "tenant_id").string_value(), "hatchery-a");
    eggs.insert(Field(p, "egg_id").string_value());
  }
  EXPECT_EQ(eggs.size(), want);
}

TEST_F(PipelineTest, KcatAndProtocReadAPrediction) {
  std::string file = dir_ + "/prediction.bin";
  auto kcat = RunCommand("kcat -b " + TestBrokers() +
                         " -C -t ovoflow.predictions.v1 -o beginning -c 1 -e -q -f '%s' > " + file);
  ASSERT_EQ(kcat.exit_code, 0) << kcat.output;
  auto decoded = RunCommand("protoc --decode=ovoflow.v1.Prediction -I " + SourceDir() + "/proto " + SourceDir() +
                            "/proto/ovoflow/v1/prediction.proto < " + file);
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  EXPECT_NE(decoded.output.find("egg_id: \""), std::string::npos) << decoded.output;
  EXPECT_NE(decoded.output.find("p_female: "), std::string::npos) << decoded.output;
  EXPECT_NE(decoded.output.find("model_version: \""), std::string::npos) << decoded.output;
}

// A scan body the model accepts: random voxels at the model's input geometry.
v1::EggScan HttpScan(const std::string& egg_id) {
  std::mt19937 rng(7);  // NOLINT(cert-msc32-c,cert-msc51-cpp): the same voxels every run
  v1::EggScan s = MakeTestScan(egg_id, "hatchery-b", SystemClock().NowUnixNanos(), {},
                               [&](std::size_t) { return static_cast<uint8_t>(rng() % 200); });
  s.set_scanner_id("http-client");
  return s;
}

TEST_F(PipelineTest, MalformedTopicInputIsDeadLetteredAndThePipelineGoesOn) {
  std::string key = "garbage-" + run_id_;
  auto produce = RunCommand("printf 'this is not a protobuf \\377\\377' | kcat -b " + TestBrokers() +
                            " -P -t ovoflow.scans.v1 -k " + key);
  ASSERT_EQ(produce.exit_code, 0) << produce.output;
  // Find the dead letter's partition and offset by its key, then fetch
  // exactly that message's bytes (a serialized DeadLetter contains newlines).
  int partition = -1;
  long long offset = -1;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r =
            RunCommand("kcat -b " + TestBrokers() + " -C -t ovoflow.deadletter.v1 -o beginning -e -q -f '%k %p %o\\n'");
        std::istringstream lines(r.output);
        std::string k;
        int p = -1;
        long long o = -1;
        while (lines >> k >> p >> o) {
          if (k == key) {
            partition = p;
            offset = o;
            return true;
          }
        }
        return false;
      },
      60))
      << "no dead letter with key " << key;
  std::string file = dir_ + "/deadletter.bin";
  auto one = RunCommand("kcat -b " + TestBrokers() + " -C -t ovoflow.deadletter.v1 -p " + std::to_string(partition) +
                        " -o " + std::to_string(offset) + " -c 1 -e -q -f '%s' > " + file);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto decoded = RunCommand("protoc --decode=ovoflow.v1.DeadLetter -I " + SourceDir() + "/proto " + SourceDir() +
                            "/proto/ovoflow/v1/dead_letter.proto < " + file);
  EXPECT_NE(decoded.output.find("not a valid ovoflow.v1.EggScan"), std::string::npos) << decoded.output;
  EXPECT_NE(decoded.output.find("stage: \"infer\""), std::string::npos) << decoded.output;

  // The pipeline goes on: a scan sent over HTTP is stored.
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(HttpScan("http-" + run_id_), &json).ok());
  HttpResult post = Fetch(port_, "POST", "/v1/scans", json, "application/json");
  ASSERT_EQ(post.status, 202) << post.body;
  ASSERT_TRUE(WaitFor([&] { return Fetch(port_, "GET", "/v1/eggs/http-" + run_id_).status == 200; }, 60));
  EXPECT_TRUE(up_->Running());
}

TEST_F(PipelineTest, MalformedHttpInputGetsProblemJson) {
  HttpResult bad = Fetch(port_, "POST", "/v1/scans", "{not json", "application/json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.ContentType(), "application/problem+json");
  v1::EggScan invalid = HttpScan("");
  HttpResult semantic = Fetch(port_, "POST", "/v1/scans", invalid.SerializeAsString(), "application/x-protobuf");
  EXPECT_EQ(semantic.ContentType(), "application/problem+json");
  EXPECT_GE(semantic.status, 400);
  EXPECT_LT(semantic.status, 500);
  EXPECT_EQ(Fetch(port_, "POST", "/v1/scans", "x", "text/plain").status, 415);
  EXPECT_EQ(Fetch(port_, "GET", "/v1/eggs?limit=0").status, 400);
  EXPECT_EQ(Fetch(port_, "GET", "/v1/eggs?sex=UNKNOWN").status, 400);
}

TEST_F(PipelineTest, ZShutsDownCleanlyOnSigint) {
  up_->Signal(SIGINT);
  int rc = up_->Wait(90000);
  EXPECT_EQ(rc, 0) << up_->Log();
  EXPECT_NE(up_->Log().find("stopped cleanly"), std::string::npos) << up_->Log();
}

}  // namespace
}  // namespace ovoflow::testing
