// Model lifecycle in a running worker, on librdkafka's mock cluster: an
// activation on ovoflow.models.v1 swaps the model between batches (every
// scan gets exactly one prediction, no batch mixes versions), shadow
// scoring counts agreement, a model that does not load is skipped, a new
// worker starts on the activated model, and thresholds apply per tenant.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "bus/consumer.h"
#include "bus/mock_cluster.h"
#include "bus/producer.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "inference/classifier.h"
#include "inference/model_control.h"
#include "inference/worker.h"
#include "ovoflow/v1/prediction.pb.h"
#include "phantom/phantom.h"

namespace ovoflow::inference {
namespace {
namespace fs = std::filesystem;

std::string CommittedModel() { return CommittedModelDir(EnvOr("OVOFLOW_SOURCE_DIR", "")); }

// The value of one series in the Prometheus text (0 when absent).
double Metric(const std::string& series) {
  std::istringstream in(SerializeMetrics());
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return 0;
}

class ModelSwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mc = bus::MockCluster::Create(1);
    ASSERT_TRUE(mc.ok());
    cluster_ = std::move(mc).value();
    for (const char* t : {kScansTopic, kPredictionsTopic, kDeadLetterTopic})
      ASSERT_TRUE(cluster_->CreateTopic(t, 2).ok());
    ASSERT_TRUE(cluster_->CreateTopic(kModelsTopic, 1).ok());
    bus::ProducerOptions po;
    po.brokers = cluster_->bootstrap();
    producer_ = std::move(bus::Producer::Create(po)).value();
    root_ = fs::temp_directory_path() / ("ovoflow-swap-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    AddModel("1.0.0");
    AddModel("1.1.0");
    AddModel("9.0.0");
    std::ofstream(root_ / "gonad-cnn" / "9.0.0" / "model.pt", std::ios::trunc) << "not weights";
  }
  void TearDown() override { fs::remove_all(root_); }

  // The committed model's weights as gonad-cnn <version>.
  void AddModel(const std::string& version) {
    fs::path dir = root_ / "gonad-cnn" / version;
    fs::create_directories(dir);
    fs::copy_file(fs::path(CommittedModel()) / "model.pt", dir / "model.pt");
    auto meta = ReadModelMetadata(CommittedModel());
    ASSERT_TRUE(meta.ok());
    meta->set_version(version);
    ASSERT_TRUE(WriteModelMetadata(dir.string(), *meta).ok());
  }

  void PublishScans(int n, const std::string& tenant = "hatchery-a") {
    phantom::PhantomGenerator gen{phantom::PhantomOptions{}};
    for (int i = 0; i < n; ++i, ++published_) {
      v1::EggScan s;
      s.set_egg_id("egg-" + std::to_string(published_));
      s.set_tenant_id(published_ % 2 ? "hatchery-b" : tenant);
      s.set_scanner_id("mri-1");
      *s.mutable_captured_at() = ToTimestamp(SystemClock().NowUnixNanos());
      *s.mutable_volume() = gen.Generate(7, static_cast<uint64_t>(published_)).volume;
      ASSERT_TRUE(producer_->Send(kScansTopic, s.egg_id(), s.SerializeAsString(), {}).ok());
    }
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }

  void Activate(const std::string& version, v1::ModelRole role) {
    v1::ModelActivation a;
    a.set_model_name("gonad-cnn");
    a.set_model_version(version);
    a.set_role(role);
    a.set_activated_by("test");
    *a.mutable_activated_at() = ToTimestamp(SystemClock().NowUnixNanos());
    ASSERT_TRUE(PublishActivation(*producer_, a, 10000, kModelsTopic).ok());
  }

  WorkerOptions Options() {
    WorkerOptions o;
    o.brokers = cluster_->bootstrap();
    o.registry_dir = root_.string();
    o.model_dir = (root_ / "gonad-cnn" / "1.0.0").string();
    o.max_batch = 8;
    o.max_wait_ms = 20;
    o.worker_id = "w-swap";
    o.activation_catch_up_ms = 5000;
    return o;
  }

  std::unique_ptr<InferenceWorker> MakeWorker(const WorkerOptions& o) {
    auto w = InferenceWorker::Create(o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  // Runs the worker until every published scan has been handled.
  void Drain(InferenceWorker& w) {
    std::atomic<bool> stop{false};
    for (int i = 0; i < 400 && handled_ < published_; ++i) {
      auto n = w.RunOnce(stop);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      handled_ += *n;
    }
    ASSERT_EQ(handled_, published_);
  }

  // Every committed prediction, read_committed.
  std::vector<v1::Prediction> ReadPredictions(std::vector<bus::Message>* raw = nullptr) {
    bus::ConsumerOptions co;
    co.brokers = cluster_->bootstrap();
    co.group_id = "reader-" + std::to_string(readers_++);
    co.topics = {kPredictionsTopic};
    auto c = std::move(bus::Consumer::Create(co)).value();
    std::vector<bus::Message> all;
    // Until every prediction is in (at most 100 idle polls), then 10 idle
    // polls more for any extra copy.
    for (int idle = 0; idle < (static_cast<int>(all.size()) < published_ ? 100 : 10);) {
      auto r = c->Poll(100, 100);
      idle = r->empty() ? idle + 1 : 0;
      for (auto& m : *r) all.push_back(m);
    }
    std::vector<v1::Prediction> out;
    for (const auto& m : all) {
      v1::Prediction p;
      EXPECT_TRUE(p.ParseFromString(m.value));
      out.push_back(p);
    }
    if (raw) *raw = all;
    return out;
  }

  std::unique_ptr<bus::MockCluster> cluster_;
  std::unique_ptr<bus::Producer> producer_;
  fs::path root_;
  int published_ = 0;
  int handled_ = 0;
  int readers_ = 0;
};

TEST_F(ModelSwapTest, HotSwapsBetweenBatchesAndShadowScores) {
  auto worker = MakeWorker(Options());
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->model().version, "1.0.0");
  PublishScans(16);
  Drain(*worker);

  // The metrics are process-wide: compare what this test adds.
  const std::string labels =
      R"({active_model="gonad-cnn",active_version="1.1.0",shadow_model="gonad-cnn",shadow_version="1.0.0"})";
  auto shadow_metric = [&](const std::string& name) { return Metric("ovoflow_shadow_" + name + labels); };
  const double scans_before = shadow_metric("scans_total");
  const double decisions_before = shadow_metric("decision_agreements_total");
  const double sexes_before = shadow_metric("sex_agreements_total");
  const double differences_before = shadow_metric("p_female_difference_count");
  const double swaps_before = Metric(R"(ovoflow_model_swaps_total{role="active"})");

  Activate("1.1.0", v1::MODEL_ROLE_ACTIVE);
  Activate("1.0.0", v1::MODEL_ROLE_SHADOW);
  // Keep scans flowing while the follower loads 1.1.0 in the background;
  // the loop ends once it serves, with a few batches after the swap.
  int after_swap = 0;
  for (int i = 0; i < 300 && after_swap < 4; ++i) {
    PublishScans(5);
    Drain(*worker);
    if (worker->model().version == "1.1.0")
      ++after_swap;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(worker->model().version, "1.1.0") << "the activation never reached the worker";

  std::vector<bus::Message> raw;
  auto preds = ReadPredictions(&raw);
  ASSERT_EQ(static_cast<int>(preds.size()), published_);
  std::set<std::string> eggs;
  std::map<int64_t, std::set<std::string>> versions_per_batch;         // consumed_at is per batch
  std::map<int32_t, std::vector<std::string>> versions_per_partition;  // in offset order
  int v100 = 0, v110 = 0;
  for (std::size_t i = 0; i < preds.size(); ++i) {
    const auto& p = preds[i];
    EXPECT_TRUE(eggs.insert(p.egg_id()).second) << "two predictions for " << p.egg_id();
    EXPECT_EQ(p.model_name(), "gonad-cnn");
    versions_per_batch[FromTimestamp(p.times().consumed_at())].insert(p.model_version());
    versions_per_partition[raw[i].partition].push_back(p.model_version());
    (p.model_version() == "1.0.0" ? v100 : v110)++;
  }
  EXPECT_GT(v100, 0);
  EXPECT_GT(v110, 0);
  for (const auto& [batch, versions] : versions_per_batch)
    EXPECT_EQ(versions.size(), 1u) << "batch consumed at " << batch << " mixes model versions";
  for (const auto& [partition, versions] : versions_per_partition)
    EXPECT_TRUE(std::is_sorted(versions.begin(), versions.end())) << "partition " << partition << " switched back";

  // Same weights in both: the shadow agrees on every scan it scored.
  const double shadow_scans = shadow_metric("scans_total") - scans_before;
  EXPECT_GT(shadow_scans, 0);
  EXPECT_LE(shadow_scans, v110);
  EXPECT_EQ(shadow_metric("decision_agreements_total") - decisions_before, shadow_scans);
  EXPECT_EQ(shadow_metric("sex_agreements_total") - sexes_before, shadow_scans);
  EXPECT_EQ(shadow_metric("p_female_difference_count") - differences_before, shadow_scans);
  EXPECT_EQ(Metric(R"(ovoflow_model_swaps_total{role="active"})") - swaps_before, 1);
}

TEST_F(ModelSwapTest, ModelThatFailsToLoadIsSkipped) {
  auto worker = MakeWorker(Options());
  ASSERT_TRUE(worker);
  const double failures_before = Metric(R"(ovoflow_model_load_failures_total{role="active"})");
  Activate("9.0.0", v1::MODEL_ROLE_ACTIVE);  // model.json fine, weights junk
  for (int i = 0; i < 500 && Metric(R"(ovoflow_model_load_failures_total{role="active"})") == failures_before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Metric(R"(ovoflow_model_load_failures_total{role="active"})"), failures_before + 1);
  PublishScans(12);
  Drain(*worker);
  for (const auto& p : ReadPredictions()) EXPECT_EQ(p.model_version(), "1.0.0");
  EXPECT_EQ(worker->model().version, "1.0.0");
}

TEST_F(ModelSwapTest, WorkerStartedAfterAnActivationServesIt) {
  Activate("1.0.0", v1::MODEL_ROLE_ACTIVE);
  Activate("1.1.0", v1::MODEL_ROLE_ACTIVE);  // the latest record wins
  auto worker = MakeWorker(Options());
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->model().version, "1.1.0");
  PublishScans(10);
  Drain(*worker);
  auto preds = ReadPredictions();
  ASSERT_EQ(preds.size(), 10u);
  for (const auto& p : preds) EXPECT_EQ(p.model_version(), "1.1.0");
}

TEST_F(ModelSwapTest, ThresholdsApplyPerTenant) {
  const fs::path file = root_ / "thresholds.json";
  std::ofstream(file) << R"({"tenants": {"hatchery-a": {"keep_min_p_female": 0.99, "divert_max_p_female": 0.01}}})";
  WorkerOptions o = Options();
  o.follow_activations = false;
  o.thresholds_file = file.string();
  o.thresholds = Thresholds{0.8f, 0.2f};
  o.thresholds_explicit = true;
  o.thresholds_reload_ms = 1;
  auto worker = MakeWorker(o);
  ASSERT_TRUE(worker);
  // Eggs 0-11 with the file as it was at start-up, 12-23 after an edit,
  // 24-35 after an edit that does not parse (the edited bands stay).
  const Thresholds first{0.99f, 0.01f}, edited{0.95f, 0.05f}, flags{0.8f, 0.2f};
  PublishScans(12);  // alternating hatchery-a / hatchery-b
  Drain(*worker);
  const double applied = Metric(R"(ovoflow_thresholds_reloads_total{result="applied"})");
  const double rejected = Metric(R"(ovoflow_thresholds_reloads_total{result="rejected"})");
  std::ofstream(file, std::ios::trunc)
      << R"({"tenants": {"hatchery-a": {"keep_min_p_female": 0.95, "divert_max_p_female": 0.05}}})";
  PublishScans(12);
  Drain(*worker);
  EXPECT_EQ(Metric(R"(ovoflow_thresholds_reloads_total{result="applied"})"), applied + 1);
  std::ofstream(file, std::ios::trunc) << R"({"tenants": {"hatchery-a": {"keep_min_p_female": 0.4)";
  PublishScans(12);
  Drain(*worker);
  EXPECT_EQ(Metric(R"(ovoflow_thresholds_reloads_total{result="rejected"})"), rejected + 1);
  EXPECT_EQ(Metric(R"(ovoflow_thresholds_reloads_total{result="applied"})"), applied + 1);

  auto preds = ReadPredictions();
  ASSERT_EQ(preds.size(), 36u);
  for (const auto& p : preds) {
    const int egg = std::stoi(p.egg_id().substr(4));  // "egg-N"
    const Thresholds want = p.tenant_id() != "hatchery-a" ? flags : egg < 12 ? first : edited;
    EXPECT_FLOAT_EQ(p.keep_threshold(), want.keep_min_p_female) << p.egg_id();
    EXPECT_FLOAT_EQ(p.divert_threshold(), want.divert_max_p_female) << p.egg_id();
    EXPECT_EQ(p.decision(), Decide(p.p_female(), want)) << p.egg_id();
  }

  std::ofstream(file, std::ios::trunc)
      << R"({"tenants": {"hatchery-z": {"keep_min_p_female": 0.4, "divert_max_p_female": 0.1}}})";
  auto bad = InferenceWorker::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tenant 'hatchery-z': keep_min_p_female"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace ovoflow::inference
