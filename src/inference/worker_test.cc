// The inference worker against librdkafka's mock cluster and the committed
// default model: valid scans become predictions, bad ones dead letters with
// their reason, and committed offsets are not processed again.
#include "inference/worker.h"

#include <gtest/gtest.h>

#include <set>

#include "bus/consumer.h"
#include "bus/mock_cluster.h"
#include "bus/producer.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/topics.h"
#include "ovoflow/v1/dead_letter.pb.h"
#include "ovoflow/v1/prediction.pb.h"
#include "phantom/phantom.h"

namespace ovoflow::inference {
namespace {

std::string ModelDir() { return CommittedModelDir(EnvOr("OVOFLOW_SOURCE_DIR", "")); }

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mc = bus::MockCluster::Create(1);
    ASSERT_TRUE(mc.ok());
    cluster_ = std::move(mc).value();
    for (const char* t : {kScansTopic, kPredictionsTopic, kDeadLetterTopic})
      ASSERT_TRUE(cluster_->CreateTopic(t, 2).ok());
    bus::ProducerOptions po;
    po.brokers = cluster_->bootstrap();
    producer_ = std::move(bus::Producer::Create(po)).value();
  }

  v1::EggScan Scan(const std::string& egg, uint64_t index) {
    phantom::PhantomGenerator gen{phantom::PhantomOptions{}};
    v1::EggScan s;
    s.set_egg_id(egg);
    s.set_tenant_id("hatchery-a");
    s.set_scanner_id("mri-1");
    *s.mutable_captured_at() = ToTimestamp(SystemClock().NowUnixNanos());
    *s.mutable_volume() = gen.Generate(99, index).volume;
    return s;
  }

  void Publish(const std::string& key, const std::string& value) {
    ASSERT_TRUE(producer_
                    ->Send(kScansTopic, key, value,
                           {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
                    .ok());
  }

  std::vector<bus::Message> ReadAll(const std::string& topic, std::size_t want) {
    bus::ConsumerOptions co;
    co.brokers = cluster_->bootstrap();
    co.group_id = "reader-" + topic;
    co.topics = {topic};
    auto c = std::move(bus::Consumer::Create(co)).value();
    std::vector<bus::Message> all;
    for (int idle = 0; all.size() < want && idle < 100;) {
      auto r = c->Poll(100, 100);
      if (r->empty()) ++idle;
      for (auto& m : *r) all.push_back(m);
    }
    return all;
  }

  std::unique_ptr<InferenceWorker> MakeWorker(bool exactly_once = true) {
    WorkerOptions o;
    o.exactly_once = exactly_once;
    o.brokers = cluster_->bootstrap();
    o.model_dir = ModelDir();
    o.max_batch = 8;
    o.max_wait_ms = 50;
    o.poll_timeout_ms = 200;
    o.worker_id = "w-test";
    auto w = InferenceWorker::Create(o);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return std::move(w).value();
  }

  std::unique_ptr<bus::MockCluster> cluster_;
  std::unique_ptr<bus::Producer> producer_;
};

class WorkerDeliveryTest : public WorkerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(WorkerDeliveryTest, PredictsValidScansAndDeadLettersTheRest) {
  for (int i = 0; i < 5; ++i)
    Publish("egg-" + std::to_string(i), Scan("egg-" + std::to_string(i), i).SerializeAsString());
  Publish("garbage", std::string("\x08\xff\xff\xff", 4) + "not a scan");
  v1::EggScan wrong = Scan("egg-small", 9);
  wrong.mutable_volume()->set_dim_z(8);
  wrong.mutable_volume()->set_data(wrong.volume().data().substr(0, std::size_t{32} * 32 * 8));
  Publish("egg-small", wrong.SerializeAsString());
  v1::EggScan no_tenant = Scan("egg-no-tenant", 10);
  no_tenant.clear_tenant_id();
  Publish("egg-no-tenant", no_tenant.SerializeAsString());
  ASSERT_TRUE(producer_->Flush(10000).ok());

  auto worker = MakeWorker(GetParam());
  std::atomic<bool> stop{false};
  int handled = 0;
  for (int i = 0; i < 100 && handled < 8; ++i) {
    auto n = worker->RunOnce(stop);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    handled += *n;
  }
  EXPECT_EQ(handled, 8);

  auto preds = ReadAll(kPredictionsTopic, 5);
  ASSERT_EQ(preds.size(), 5u);
  std::set<std::string> eggs;
  for (const auto& m : preds) {
    v1::Prediction p;
    ASSERT_TRUE(p.ParseFromString(m.value));
    EXPECT_EQ(m.key, p.egg_id());
    eggs.insert(p.egg_id());
    EXPECT_EQ(p.tenant_id(), "hatchery-a");
    EXPECT_EQ(p.worker_id(), "w-test");
    EXPECT_FALSE(p.model_version().empty());
    EXPECT_GE(p.p_female(), 0.0f);
    EXPECT_LE(p.p_female(), 1.0f);
    EXPECT_EQ(p.decision(), Decide(p.p_female(), Thresholds{}));
    EXPECT_TRUE(p.times().has_inferred_at());
    auto tp = m.Header("traceparent");
    ASSERT_TRUE(tp.has_value());
    EXPECT_EQ(tp->substr(0, 35), "00-4bf92f3577b34da6a3ce929d0e0e4736");  // same trace as the scan
  }
  EXPECT_EQ(eggs.size(), 5u);

  auto dead = ReadAll(kDeadLetterTopic, 3);
  ASSERT_EQ(dead.size(), 3u);
  std::set<std::string> reasons;
  for (const auto& m : dead) {
    v1::DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(m.value));
    EXPECT_EQ(dl.topic(), kScansTopic);
    EXPECT_EQ(dl.stage(), "infer");
    EXPECT_FALSE(dl.original().empty());
    reasons.insert(m.key + ": " + dl.reason());
  }
  std::string all;
  for (const auto& r : reasons) all += r + "\n";
  EXPECT_NE(all.find("garbage: value is not a valid ovoflow.v1.EggScan"), std::string::npos) << all;
  EXPECT_NE(all.find("egg-small: volume 32x32x8x1ch does not match model input"), std::string::npos) << all;
  EXPECT_NE(all.find("egg-no-tenant: tenant_id is empty"), std::string::npos) << all;

  // Offsets were committed: a new member of the group finds nothing to do.
  worker.reset();
  auto again = MakeWorker(GetParam());
  int more = 0;
  for (int i = 0; i < 10; ++i) more += *again->RunOnce(stop);
  EXPECT_EQ(more, 0);
}

// Per-tenant scan topics (docs/kafka-security.md): the worker reads them all
// by its pattern, and a scan whose tenant is not its topic's tenant (a
// scanner credential of that tenant forging another's) is dead-lettered.
TEST_F(WorkerTest, ReadsEveryTenantsTopicAndRefusesForgedTenants) {
  const std::string topic_a = ScanTopicFor("hatchery-a");
  ASSERT_TRUE(cluster_->CreateTopic(topic_a, 1).ok());
  v1::EggScan own = Scan("egg-own", 1);
  v1::EggScan forged = Scan("egg-forged", 2);
  forged.set_tenant_id("hatchery-b");
  ASSERT_TRUE(producer_->Send(topic_a, "egg-own", own.SerializeAsString(), {}).ok());
  ASSERT_TRUE(producer_->Send(topic_a, "egg-forged", forged.SerializeAsString(), {}).ok());
  Publish("egg-shared", Scan("egg-shared", 3).SerializeAsString());  // the shared topic still works
  ASSERT_TRUE(producer_->Flush(10000).ok());

  auto worker = MakeWorker();
  std::atomic<bool> stop{false};
  int handled = 0;
  for (int i = 0; i < 200 && handled < 3; ++i) {
    auto n = worker->RunOnce(stop);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    handled += *n;
  }
  EXPECT_EQ(handled, 3);
  std::set<std::string> predicted;
  for (const auto& m : ReadAll(kPredictionsTopic, 2)) predicted.insert(m.key);
  EXPECT_EQ(predicted, (std::set<std::string>{"egg-own", "egg-shared"}));
  auto dead = ReadAll(kDeadLetterTopic, 1);
  ASSERT_EQ(dead.size(), 1u);
  v1::DeadLetter dl;
  ASSERT_TRUE(dl.ParseFromString(dead[0].value));
  EXPECT_EQ(dl.topic(), topic_a);
  EXPECT_EQ(dl.reason(), "tenant_id 'hatchery-b' on the scan topic of tenant 'hatchery-a'");
  EXPECT_EQ(ScanTopicTenant("ovoflow.scans.v1"), "");
  EXPECT_EQ(ScanTopicTenant("ovoflow.predictions.v1"), "");
}

INSTANTIATE_TEST_SUITE_P(Delivery, WorkerDeliveryTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "ExactlyOnce" : "AtLeastOnce";
                         });

// Kafka API keys and error codes injected below (Kafka protocol numbers).
constexpr int16_t kAddOffsetsToTxnApi = 25;
constexpr int16_t kAddPartitionsToTxnApi = 24;
constexpr int kGroupAuthorizationFailed = 30;  // offsets refused: the transaction must be aborted
constexpr int kProducerFenced = 90;            // fatal for the producer: it must be recreated

class WorkerTransactionTest : public WorkerTest {
 protected:
  void PublishScans(int n) {
    for (int i = 0; i < n; ++i)
      Publish("egg-" + std::to_string(i),
              Scan("egg-" + std::to_string(i), static_cast<uint64_t>(i)).SerializeAsString());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }

  // Runs the worker until it has handled at least `want` scans (more when
  // a batch is re-read) and then finds no more, then reads the predictions
  // topic read_committed.
  std::vector<bus::Message> RunAndRead(InferenceWorker& worker, int want) {
    std::atomic<bool> stop{false};
    int handled = 0;
    for (int idle = 0, i = 0; idle < 5 && i < 200; ++i) {
      auto n = worker.RunOnce(stop);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (n.ok()) handled += *n;
      idle = (handled >= want && n.ok() && *n == 0) ? idle + 1 : 0;
    }
    EXPECT_GE(handled, want);
    return ReadAll(kPredictionsTopic, static_cast<std::size_t>(want) + 1);  // +1: wait for any extra copy
  }

  static void ExpectOnePerEgg(const std::vector<bus::Message>& preds, int want) {
    std::multiset<std::string> eggs;
    for (const auto& m : preds) eggs.insert(m.key);
    EXPECT_EQ(preds.size(), static_cast<std::size_t>(want));
    for (int i = 0; i < want; ++i) EXPECT_EQ(eggs.count("egg-" + std::to_string(i)), 1u) << "egg-" << i;
  }
};

TEST_F(WorkerTransactionTest, AbortedTransactionIsReReadWithoutDuplicates) {
  PublishScans(6);
  auto worker = MakeWorker();
  // The first transaction's offsets are refused after its predictions were
  // sent: the transaction must be aborted and the batch re-read.
  cluster_->FailNextRequests(kAddOffsetsToTxnApi, {kGroupAuthorizationFailed});
  ExpectOnePerEgg(RunAndRead(*worker, 6), 6);
}

TEST_F(WorkerTransactionTest, FencedProducerIsRecreatedWithoutDuplicates) {
  PublishScans(6);
  auto worker = MakeWorker();
  // Fenced as its first transaction starts: the worker must recreate its
  // producer and re-read the batch. (Fenced later, the mock cluster would
  // leave the old transaction open forever, where a real broker aborts it
  // when the new producer registers: the fault tests cover that.)
  cluster_->FailNextRequests(kAddPartitionsToTxnApi, {kProducerFenced});
  ExpectOnePerEgg(RunAndRead(*worker, 6), 6);
}

TEST_F(WorkerTest, RejectsBadOptions) {
  WorkerOptions o;
  o.brokers = cluster_->bootstrap();
  o.model_dir = ModelDir();
  o.thresholds.keep_min_p_female = 0.3f;
  EXPECT_EQ(InferenceWorker::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = WorkerOptions{};
  o.brokers = cluster_->bootstrap();
  o.model_dir = "/nonexistent/model";
  EXPECT_FALSE(InferenceWorker::Create(o).ok());
}

}  // namespace
}  // namespace ovoflow::inference
