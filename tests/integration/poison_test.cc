// Poison messages against the whole pipeline: `ovoflow up --no-scanner` on
// the test broker, once on SQLite and once on PostgreSQL. Every stage gets
// records it must refuse (NUL and control characters in ids, ids longer than
// the store takes, a value out of range in every field the store writes,
// predictions of a model the registry does not hold, garbage, 16 MiB values
// and 8.5 MiB keys on every topic the pipeline reads) between good records.
// Each poison record is dead-lettered exactly once, with its reason and
// within the broker's bounds; every good record around it is stored; `up`
// keeps running and ready, and stops cleanly.
//
// OVOFLOW_TEST_OVOFLOW_BINARY runs it against another build of `ovoflow`
// (the binary of an earlier commit fails it).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "api/client/http_client.h"
#include "bus/consumer.h"
#include "bus/producer.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/testing/test_scan.h"
#include "common/topics.h"
#include "ovoflow/v1/dead_letter.pb.h"
#include "ovoflow/v1/model_control.pb.h"
#include "ovoflow/v1/prediction.pb.h"
#include "store/postgres_test_util.h"
#include "store/prediction_store.h"
#include "support/process.h"

namespace ovoflow::testing {
namespace {

using api::client::Fetch;
using api::client::HttpResult;

constexpr int kGood = 20;
constexpr std::size_t kHugeValue = 16'777'000;  // just under the producer's 16 MiB
constexpr std::size_t kHugeKey = 8'500'000;

std::string Binary() {
  std::string b = EnvOr("OVOFLOW_TEST_OVOFLOW_BINARY", "");
  return !b.empty() ? b : OvoflowBinary();
}

// One poison record: its key (the dead letter's original_key starts with
// it), its topic, and what the dead letter's reason must say.
struct Expected {
  std::string stage;
  std::string reason;
};

class PoisonTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    prefix_ = "poison-" + GetParam() + "-" + std::to_string(getpid()) + "-" +
              std::to_string(SystemClock().NowUnixNanos() % 1'000'000);
    dir_ = MakeTempDir("poison-" + GetParam());
    if (GetParam() == "postgres") {
      pg_ = std::make_unique<store::test_util::PgTestDatabase>("poison");
      ASSERT_FALSE(pg_->url().empty());
      db_url_ = pg_->url();
    } else {
      db_url_ = "sqlite://" + dir_ + "/ovoflow.db";
    }
    bus::ProducerOptions po;
    po.brokers = TestBrokers();
    po.client_id = "poison-test";
    auto producer = bus::Producer::Create(po);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  void TearDown() override {
    if (up_ && up_->Running()) {
      up_->Signal(SIGKILL);
      up_->Wait(10000);
    }
    up_.reset();
    pg_.reset();
  }

  void StartUp() {
    port_ = FreePort();
    up_ = std::make_unique<Process>(
        std::vector<std::string>{Binary(), "up", "--insecure-http", "--no-auth", "--brokers", TestBrokers(), "--db",
                                 db_url_, "--port", std::to_string(port_), "--no-scanner", "--infer-group",
                                 prefix_ + "-infer", "--store-group", prefix_ + "-store", "--web-root",
                                 SourceDir() + "/web/dist"},
        dir_ + "/up.log");
    ASSERT_TRUE(WaitFor([&] { return Fetch(port_, "GET", "/readyz").status == 200 || !up_->Running(); }, 120))
        << up_->Log();
    ASSERT_TRUE(up_->Running()) << up_->Log();
  }

  void Send(const std::string& topic, const std::string& key, const std::string& value) {
    Status st = producer_->Send(topic, key, value, {});
    ASSERT_TRUE(st.ok()) << topic << " " << key.substr(0, 40) << ": " << st.ToString();
  }

  v1::EggScan Scan(const std::string& egg) { return MakeTestScan(egg, "hatchery-a", SystemClock().NowUnixNanos()); }

  v1::Prediction Prediction(const std::string& egg) {
    v1::Prediction p;
    p.set_egg_id(egg);
    p.set_tenant_id("hatchery-b");
    p.set_scanner_id("mri-1");
    p.set_sex(v1::SEX_MALE);
    p.set_p_female(0.04f);
    p.set_decision(v1::DECISION_DIVERT);
    p.set_model_name("gonad-cnn");
    p.set_model_version("2.1.0");
    p.set_keep_threshold(0.86f);
    p.set_divert_threshold(0.1f);
    *p.mutable_times()->mutable_captured_at() = ToTimestamp(SystemClock().NowUnixNanos());
    return p;
  }

  // A scan poison: `edit` breaks a good scan.
  void PoisonScan(const std::string& name, const std::function<void(v1::EggScan&)>& edit, const std::string& reason) {
    const std::string key = prefix_ + "-" + name;
    v1::EggScan s = Scan(key);
    edit(s);
    Send(kScansTopic, key, s.SerializeAsString());
    expected_[key] = {"infer", reason};
  }

  void PoisonPrediction(const std::string& name, const std::function<void(v1::Prediction&)>& edit,
                        const std::string& reason) {
    const std::string key = prefix_ + "-p-" + name;
    v1::Prediction p = Prediction(key);
    edit(p);
    Send(kPredictionsTopic, key, p.SerializeAsString());
    expected_[key] = {"store", reason};
  }

  std::string prefix_, dir_, db_url_;
  int port_ = 0;
  std::unique_ptr<store::test_util::PgTestDatabase> pg_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<Process> up_;
  std::map<std::string, Expected> expected_;  // by key (its first 1 KiB for the huge keys)
};

TEST_P(PoisonTest, EveryStageDeadLettersEachPoisonOnceAndStoresEverythingElse) {
  StartUp();
  const std::string P = prefix_;
  const std::string huge_value(kHugeValue, '\x07');
  std::vector<std::string> good_scans, good_predictions;
  auto good = [&](int i) {
    const std::string scan = P + "-good-" + std::to_string(i);
    Send(kScansTopic, scan, Scan(scan).SerializeAsString());
    good_scans.push_back(scan);
    const std::string pred = P + "-pgood-" + std::to_string(i);
    Send(kPredictionsTopic, pred, Prediction(pred).SerializeAsString());
    good_predictions.push_back(pred);
  };
  int g = 0;
  good(g++);

  // ---- the inference worker's input
  for (int i = 0; i < 3; ++i)
    PoisonScan(
        "nul-" + std::to_string(i), [&](auto& s) { s.set_egg_id(P + std::string("-nul-\0-", 7) + std::to_string(i)); },
        "egg_id contains a NUL byte");
  good(g++);
  PoisonScan(
      "ctl", [&](auto& s) { s.set_egg_id(P + "-ctl\x01"); }, "egg_id contains a control character");
  PoisonScan(
      "long", [&](auto& s) { s.set_egg_id(P + std::string(200, 'x')); }, "bytes long; at most 128");
  PoisonScan(
      "tenant", [](auto& s) { s.set_tenant_id("hatch%ry-a"); }, "tenant_id has a character outside");
  good(g++);
  PoisonScan(
      "scanner", [](auto& s) { s.set_scanner_id("mri\n1"); }, "scanner_id contains a control character");
  PoisonScan(
      "time", [](auto& s) { s.mutable_captured_at()->set_seconds(int64_t{1} << 40); }, "captured_at at");
  PoisonScan(
      "day", [](auto& s) { s.set_incubation_day(40); }, "incubation_day 40");
  good(g++);
  PoisonScan(
      "nan",
      [](auto& s) {
        s.mutable_volume()->set_dtype(v1::DTYPE_FLOAT32);
        std::string floats(std::size_t{32} * 32 * 16 * 4, '\0');
        const float nan = std::nanf("");
        std::memcpy(floats.data() + std::ptrdiff_t{4} * 100, &nan, 4);
        s.mutable_volume()->set_data(floats);
      },
      "volume voxel 100 is NaN");
  PoisonScan(
      "geometry",
      [](auto& s) {
        s.mutable_volume()->set_dim_z(8);
        s.mutable_volume()->set_data(s.volume().data().substr(0, 32 * 32 * 8));
      },
      "does not match model input");
  Send(kScansTopic, P + "-garbage", std::string("\xff\xff\xff\x01 garbage", 12));
  expected_[P + "-garbage"] = {"infer", "not a valid ovoflow.v1.EggScan"};
  good(g++);
  Send(kScansTopic, P + "-huge-value", huge_value);
  expected_[P + "-huge-value"] = {"infer", "message of 16777000 bytes exceeds"};
  const std::string huge_scan_key = P + "-huge-key" + std::string(kHugeKey, 'k');
  Send(kScansTopic, huge_scan_key, Scan(P + "-huge-key-scan").SerializeAsString());
  expected_[huge_scan_key.substr(0, 1024)] = {"infer", "key of 8500"};

  // ---- the store writer's input
  PoisonPrediction(
      "nul", [&](auto& p) { p.set_egg_id(P + std::string("-p-nul-\0", 8)); }, "egg_id contains a NUL byte");
  PoisonPrediction(
      "ctl", [](auto& p) { p.set_tray_id("tray\x1b[2J"); }, "tray_id contains a control character");
  good(g++);
  PoisonPrediction(
      "long", [&](auto& p) { p.set_egg_id(P + std::string(300, 'y')); }, "egg_id is");
  PoisonPrediction(
      "tenant", [](auto& p) { p.set_tenant_id("hatchery c"); }, "tenant_id has a character outside");
  PoisonPrediction(
      "worker", [](auto& p) { p.set_worker_id(std::string(500, 'w')); }, "worker_id is 500 bytes long");
  PoisonPrediction(
      "nan", [](auto& p) { p.set_p_female(std::nanf("")); }, "p_female must be a finite number");
  good(g++);
  PoisonPrediction(
      "range", [](auto& p) { p.set_p_female(2.0f); }, "p_female must be a finite number");
  PoisonPrediction(
      "keep", [](auto& p) { p.set_keep_threshold(-1.0f); }, "keep_threshold");
  PoisonPrediction(
      "divert", [](auto& p) { p.set_divert_threshold(INFINITY); }, "divert_threshold");
  PoisonPrediction(
      "decision", [](auto& p) { p.clear_decision(); }, "decision is unspecified");
  PoisonPrediction(
      "sex", [](auto& p) { p.set_sex(static_cast<v1::Sex>(9)); }, "sex is unspecified or unknown");
  good(g++);
  PoisonPrediction(
      "time", [](auto& p) { p.mutable_times()->mutable_captured_at()->set_seconds(int64_t{1} << 40); },
      "times.captured_at at");
  PoisonPrediction(
      "inferred", [](auto& p) { p.mutable_times()->mutable_inferred_at()->set_nanos(-1); },
      "times.inferred_at has nanos");
  PoisonPrediction(
      "day", [](auto& p) { p.set_incubation_day(40); }, "incubation_day 40");
  PoisonPrediction(
      "model", [](auto& p) { p.set_model_version("9.9.9"); }, "gonad-cnn 9.9.9 is not in the model registry");
  PoisonPrediction(
      "model-name", [](auto& p) { p.set_model_name("../etc"); }, "model_name '../etc' must be");
  good(g++);
  Send(kPredictionsTopic, P + "-p-garbage", std::string("\xff\xff\xff\x01 junk", 9));
  expected_[P + "-p-garbage"] = {"store", "not a valid ovoflow.v1.Prediction"};
  Send(kPredictionsTopic, P + "-p-huge-value", huge_value);
  expected_[P + "-p-huge-value"] = {"store", "message of 16777000 bytes exceeds 65536"};
  const std::string huge_pred_key = P + "-p-huge-key" + std::string(kHugeKey, 'k');
  Send(kPredictionsTopic, huge_pred_key, Prediction(P + "-p-huge-key-pred").SerializeAsString());
  expected_[huge_pred_key.substr(0, 1024)] = {"store", "key of 8500"};

  // ---- the model-activation followers' input: skipped (no dead letter),
  // the followers go on.
  Send(kModelsTopic, P + "-models", huge_value);
  Send(kModelsTopic, P + std::string(kHugeKey, 'm'), "x");
  while (g < kGood) good(g++);
  ASSERT_TRUE(producer_->Flush(60000).ok());

  // ---- POST /v1/scans: a valid scan padded to 16,776,900 bytes is refused.
  const std::string valid = Scan(P + "-http").SerializeAsString();
  const std::size_t pad = 16'776'900 - valid.size() - 2 - 4;
  std::string padded = valid + "\xA2\x06";  // field 100, length-delimited
  for (std::size_t v = pad; v >= 0x80; v >>= 7) padded.push_back(static_cast<char>((v & 0x7F) | 0x80));
  padded.push_back(static_cast<char>(pad >> 21));
  padded.append(pad, 'p');
  ASSERT_EQ(padded.size(), 16'776'900u);
  HttpResult post = Fetch(port_, "POST", "/v1/scans", padded, "application/x-protobuf");
  EXPECT_EQ(post.status, 413) << post.body << post.error;

  // Every good record is stored.
  auto store = store::OpenStore(db_url_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto stored = [&](const std::string& tenant, const std::string& egg) {
    auto e = (*store)->GetEgg(store::TenantScope::Only(tenant), egg);
    return e.ok() && e->has_value();
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& e : good_scans)
          if (!stored("hatchery-a", e)) return false;
        for (const auto& e : good_predictions)
          if (!stored("hatchery-b", e)) return false;
        return true;
      },
      180))
      << "good records not all stored\n"
      << up_->Log();
  EXPECT_FALSE(stored("hatchery-a", P + "-huge-key-scan")) << "refused for its key";
  EXPECT_FALSE(stored("hatchery-b", P + "-p-huge-key-pred")) << "refused for its key";

  // Each poison record is dead-lettered once, with its reason, within bounds.
  // The worker's dead letters are in its transactions: exactly one message
  // each. The store writer delivers at least once (docs/architecture.md): a
  // batch published again after a timeout or a rebalance may repeat its
  // dead letters, which name the same source record (topic, partition,
  // offset) for a reader to de-duplicate on.
  bus::ConsumerOptions co;
  co.brokers = TestBrokers();
  co.group_id = P + "-dead-letters";
  co.topics = {kDeadLetterTopic};
  auto consumer = bus::Consumer::Create(co);
  ASSERT_TRUE(consumer.ok());
  std::map<std::string, int> seen;
  std::map<std::string, std::set<std::string>> sources;  // key -> "topic/partition/offset" of its dead letters
  std::map<std::string, v1::DeadLetter> letters;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = (*consumer)->Poll(500, 500);
        if (r.ok()) {
          for (const auto& m : *r) {
            v1::DeadLetter dl;
            if (!dl.ParseFromString(m.value) || dl.original_key().rfind(P, 0) != 0) continue;
            EXPECT_LT(m.value.size() + m.key.size(), std::size_t{1} << 20) << "dead letter within 1 MiB";
            ++seen[dl.original_key()];
            sources[dl.original_key()].insert(dl.topic() + "/" + std::to_string(dl.partition()) + "/" +
                                              std::to_string(dl.offset()));
            letters[dl.original_key()] = dl;
          }
        }
        return seen.size() >= expected_.size();
      },
      120))
      << seen.size() << " of " << expected_.size() << " dead letters\n"
      << up_->Log();
  for (const auto& [key, want] : expected_) {
    SCOPED_TRACE(key.substr(0, 60));
    ASSERT_EQ(sources[key].size(), 1u) << "reason wanted: " << want.reason;
    if (want.stage != "store") {
      EXPECT_EQ(seen[key], 1) << "a transactional dead letter repeated: " << want.reason;
    }
    const v1::DeadLetter& dl = letters[key];
    EXPECT_EQ(dl.stage(), want.stage);
    EXPECT_NE(dl.reason().find(want.reason), std::string::npos) << dl.reason();
  }
  // Nothing else of this run was dead-lettered (a good record never is).
  for (const auto& [key, n] : seen) EXPECT_TRUE(expected_.count(key)) << "unexpected dead letter " << key.substr(0, 80);
  const v1::DeadLetter& big = letters[P + "-huge-value"];
  EXPECT_TRUE(big.original_truncated());
  EXPECT_EQ(big.original_size(), kHugeValue);
  EXPECT_EQ(big.original_sha256().size(), 32u);
  EXPECT_GE(big.offset(), 0);
  const v1::DeadLetter& long_key = letters[huge_pred_key.substr(0, 1024)];
  EXPECT_TRUE(long_key.key_truncated());
  EXPECT_EQ(long_key.key_size(), huge_pred_key.size());

  // `up` is still running and ready, nothing stalled; it stops cleanly.
  ASSERT_TRUE(up_->Running()) << up_->Log();
  EXPECT_EQ(Fetch(port_, "GET", "/readyz").status, 200);
  HttpResult metrics = Fetch(port_, "GET", "/metrics");
  EXPECT_EQ(api::client::MetricValue(metrics.body, "ovoflow_stage_stalled{stage=\"infer\"}"), 0);
  EXPECT_EQ(api::client::MetricValue(metrics.body, "ovoflow_stage_stalled{stage=\"store\"}"), 0);
  up_->Signal(SIGINT);
  EXPECT_EQ(up_->Wait(60000), 0) << up_->Log();
  EXPECT_NE(up_->Log().find("stopped cleanly"), std::string::npos) << up_->Log();
}

INSTANTIATE_TEST_SUITE_P(Backends, PoisonTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace ovoflow::testing
