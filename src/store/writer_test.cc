// The store writer against librdkafka's mock cluster and the real SQLite
// store: redelivered predictions are stored once, invalid ones are
// dead-lettered, and the live callback sees what was stored.
#include "store/writer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "bus/consumer.h"
#include "bus/mock_cluster.h"
#include "bus/producer.h"
#include "common/clock.h"
#include "common/testing/temp_dir.h"
#include "common/topics.h"
#include "ovoflow/v1/dead_letter.pb.h"

namespace ovoflow::store {
namespace {

v1::Prediction Pred(const std::string& tenant, const std::string& egg, float p) {
  v1::Prediction pr;
  pr.set_tenant_id(tenant);
  pr.set_egg_id(egg);
  pr.set_p_female(p);
  pr.set_sex(p >= 0.5f ? v1::SEX_FEMALE : v1::SEX_MALE);
  pr.set_decision(p >= 0.9f ? v1::DECISION_KEEP : p <= 0.1f ? v1::DECISION_DIVERT : v1::DECISION_RECHECK);
  pr.set_model_name("gonad-cnn");
  pr.set_model_version("1.0.0");
  *pr.mutable_times()->mutable_captured_at() = ToTimestamp(SystemClock().NowUnixNanos() - 5'000'000);
  return pr;
}

TEST(StoreWriterTest, StoresEachEggOnceAndDeadLettersInvalidPredictions) {
  auto cluster = std::move(bus::MockCluster::Create(1)).value();
  ASSERT_TRUE(cluster->CreateTopic(kPredictionsTopic, 3).ok());
  ASSERT_TRUE(cluster->CreateTopic(kDeadLetterTopic, 1).ok());
  ovoflow::testing::TempDir dir("writer-test");
  auto store = OpenStore("sqlite://" + dir.path() + "/t.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  bus::ProducerOptions po;
  po.brokers = cluster->bootstrap();
  auto producer = std::move(bus::Producer::Create(po)).value();
  for (int i = 0; i < 20; ++i) {
    auto p = Pred(i % 2 ? "h-a" : "h-b", "egg-" + std::to_string(i), static_cast<float>(i) / 20.0f);
    ASSERT_TRUE(producer->Send(kPredictionsTopic, p.egg_id(), p.SerializeAsString(), {}).ok());
  }
  // Redeliveries (as after a worker crash) and two invalid messages.
  for (int i = 0; i < 5; ++i) {
    auto p = Pred(i % 2 ? "h-a" : "h-b", "egg-" + std::to_string(i), static_cast<float>(i) / 20.0f);
    ASSERT_TRUE(producer->Send(kPredictionsTopic, p.egg_id(), p.SerializeAsString(), {}).ok());
  }
  ASSERT_TRUE(producer->Send(kPredictionsTopic, "junk", "\xff\xff junk", {}).ok());
  auto no_egg = Pred("h-a", "", 0.5f);
  ASSERT_TRUE(producer->Send(kPredictionsTopic, "no-egg", no_egg.SerializeAsString(), {}).ok());
  ASSERT_TRUE(producer->Flush(10000).ok());

  WriterOptions o;
  o.brokers = cluster->bootstrap();
  o.max_batch = 7;
  o.poll_timeout_ms = 200;
  std::size_t live = 0;
  auto writer = StoreWriter::Create(o, store->get(), [&](const std::vector<v1::Prediction>& b) { live += b.size(); });
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  std::atomic<bool> stop{false};
  int handled = 0;
  for (int i = 0; i < 100 && handled < 27; ++i) handled += *(*writer)->RunOnce(stop);
  EXPECT_EQ(handled, 27);

  EXPECT_EQ(*(*store)->Count(TenantScope::All()), 20);
  EXPECT_EQ(*(*store)->Count(TenantScope::Only("h-a")), 10);
  auto egg = (*store)->GetEgg(TenantScope::Only("h-b"), "egg-4");
  ASSERT_TRUE(egg.ok());
  ASSERT_TRUE(egg->has_value());
  EXPECT_GT((*egg)->stored_at_unix_nanos, 0);
  EXPECT_EQ(live, 25u);  // every valid prediction reaches the live feed

  bus::ConsumerOptions co;
  co.brokers = cluster->bootstrap();
  co.group_id = "dlq-check";
  co.topics = {kDeadLetterTopic};
  auto c = std::move(bus::Consumer::Create(co)).value();
  std::vector<bus::Message> dead;
  for (int idle = 0; dead.size() < 2 && idle < 100;) {
    auto r = c->Poll(10, 100);
    if (r->empty()) ++idle;
    for (auto& m : *r) dead.push_back(m);
  }
  ASSERT_EQ(dead.size(), 2u);
  std::string reasons;
  for (auto& m : dead) {
    v1::DeadLetter dl;
    ASSERT_TRUE(dl.ParseFromString(m.value));
    EXPECT_EQ(dl.stage(), "store");
    reasons += dl.reason() + ";";
  }
  EXPECT_NE(reasons.find("not a valid ovoflow.v1.Prediction"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("egg_id is empty"), std::string::npos) << reasons;
}

}  // namespace
}  // namespace ovoflow::store
