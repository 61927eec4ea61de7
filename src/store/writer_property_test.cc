// A property of the store writer on both backends: random batches of
// predictions with poison records at random positions (and redeliveries of
// good ones) go through the writer on SQLite and on PostgreSQL; both store
// exactly the same rows, each good record once, and dead-letter exactly the
// same records with the same reasons. Kafka is librdkafka's mock cluster;
// the databases are real.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "bus/consumer.h"
#include "bus/mock_cluster.h"
#include "bus/producer.h"
#include "common/testing/temp_dir.h"
#include "common/topics.h"
#include "ovoflow/v1/dead_letter.pb.h"
#include "store/postgres_test_util.h"
#include "store/writer.h"

namespace ovoflow::store {
namespace {

using test_util::MakePrediction;

constexpr int64_t kT0 = 1'764'000'000'000'000'000;

struct Input {
  std::string key;
  std::string value;
};

// A poison record: what it breaks, and how.
struct Poison {
  const char* what;
  std::function<Input(const std::string& egg)> make;
};

Input Encode(const v1::Prediction& p) { return {p.egg_id(), p.SerializeAsString()}; }

v1::Prediction Good(const std::string& egg, std::mt19937& rng) {
  const float p = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
  return MakePrediction(rng() % 2 ? "hatchery-a" : "hatchery-b", egg, p >= 0.5f ? v1::SEX_FEMALE : v1::SEX_MALE,
                        p >= 0.9f   ? v1::DECISION_KEEP
                        : p <= 0.1f ? v1::DECISION_DIVERT
                                    : v1::DECISION_RECHECK,
                        p, kT0 + static_cast<int64_t>(rng() % 1000) * 1'000'000);
}

std::vector<Poison> Poisons() {
  auto edit = [](const std::function<void(v1::Prediction&)>& f) {
    return [f](const std::string& egg) {
      v1::Prediction p = MakePrediction("hatchery-a", egg, v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
      f(p);
      return Encode(p);
    };
  };
  return {
      {"NUL in egg_id", edit([](auto& p) { p.set_egg_id(p.egg_id() + std::string("\0x", 2)); })},
      {"control character in tray_id", edit([](auto& p) { p.set_tray_id("tray\x07"); })},
      {"egg_id longer than the store takes", edit([](auto& p) { p.set_egg_id(p.egg_id() + std::string(200, 'x')); })},
      {"tenant_id with a bad character", edit([](auto& p) { p.set_tenant_id("hatch%ry-a"); })},
      {"p_female NaN", edit([](auto& p) { p.set_p_female(std::nanf("")); })},
      {"p_female above 1", edit([](auto& p) { p.set_p_female(1.5f); })},
      {"keep_threshold infinite", edit([](auto& p) { p.set_keep_threshold(INFINITY); })},
      {"sex unspecified", edit([](auto& p) { p.set_sex(v1::SEX_UNSPECIFIED); })},
      {"decision unknown", edit([](auto& p) { p.set_decision(static_cast<v1::Decision>(7)); })},
      {"captured_at beyond 2262",
       edit([](auto& p) { p.mutable_times()->mutable_captured_at()->set_seconds(int64_t{1} << 40); })},
      {"incubation_day 30", edit([](auto& p) { p.set_incubation_day(30); })},
      {"no model version", edit([](auto& p) { p.clear_model_version(); })},
      {"model name with a slash", edit([](auto& p) { p.set_model_name("a/b"); })},
      {"not a Prediction",
       [](const std::string& egg) {
         return Input{egg, std::string("\xff\xff\xff\x01 garbage", 12)};
       }},
      {"value over 64 KiB", edit([](auto& p) { p.set_worker_id(std::string(70'000, 'w')); })},
      {"key over 256 bytes",
       [](const std::string& egg) {
         Input in = Encode(MakePrediction("hatchery-a", egg, v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0));
         in.key = egg + std::string(300, 'k');
         return in;
       }},
  };
}

struct Outcome {
  std::set<std::tuple<std::string, std::string, float, int>> rows;        // tenant, egg, p_female, decision
  std::multiset<std::tuple<std::string, std::string, std::string>> dead;  // key, kind, reason
};

// Feeds `inputs` through a store writer on `store_url` and returns what it stored and dead-lettered.
// `dead_letters` is how many dead letters to wait for (a few more would be seen too).
Outcome RunWriter(const std::vector<Input>& inputs, const std::string& store_url, int max_batch,
                  std::size_t dead_letters) {
  Outcome out;
  auto cluster = bus::MockCluster::Create(1);
  EXPECT_TRUE(cluster.ok());
  if (!cluster.ok()) return out;
  EXPECT_TRUE((*cluster)->CreateTopic(kPredictionsTopic, 3).ok());
  EXPECT_TRUE((*cluster)->CreateTopic(kDeadLetterTopic, 1).ok());
  bus::ProducerOptions po;
  po.brokers = (*cluster)->bootstrap();
  auto producer = std::move(bus::Producer::Create(po)).value();
  for (const auto& in : inputs) EXPECT_TRUE(producer->Send(kPredictionsTopic, in.key, in.value, {}).ok());
  EXPECT_TRUE(producer->Flush(10000).ok());

  auto store = OpenStore(store_url);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return out;
  WriterOptions o;
  o.brokers = (*cluster)->bootstrap();
  o.max_batch = max_batch;
  o.max_wait_ms = 5;
  o.poll_timeout_ms = 200;
  auto writer = StoreWriter::Create(o, store->get());
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  std::atomic<bool> stop{false};
  int handled = 0;
  for (int idle = 0; handled < static_cast<int>(inputs.size()) && idle < 100;) {
    auto n = (*writer)->RunOnce(stop);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok()) break;
    handled += *n;
    idle = *n == 0 ? idle + 1 : 0;
  }
  EXPECT_EQ(handled, static_cast<int>(inputs.size()));
  EXPECT_FALSE((*writer)->stalled());

  EggQuery q;
  q.tenants = TenantScope::All();
  q.limit = 1000;
  do {
    auto page = (*store)->ListEggs(q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    for (const auto& item : page->items)
      out.rows.insert({item.prediction.tenant_id(), item.prediction.egg_id(), item.prediction.p_female(),
                       item.prediction.decision()});
    q.cursor = page->next_cursor;
  } while (!q.cursor.empty());

  bus::ConsumerOptions co;
  co.brokers = (*cluster)->bootstrap();
  co.group_id = "dead-letter-check";
  co.topics = {kDeadLetterTopic};
  auto consumer = std::move(bus::Consumer::Create(co)).value();
  // Until the expected ones came and a second passed without more, or 30 s without any.
  for (int idle = 0; idle < (out.dead.size() >= dead_letters ? 10 : 300);) {
    auto r = consumer->Poll(500, 100);
    if (!r.ok() || r->empty()) {
      ++idle;
      continue;
    }
    idle = 0;
    for (const auto& m : *r) {
      v1::DeadLetter dl;
      EXPECT_TRUE(dl.ParseFromString(m.value));
      EXPECT_EQ(dl.stage(), "store");
      out.dead.insert({dl.original_key(), dl.reason_kind(), dl.reason()});
    }
  }
  return out;
}

TEST(StoreWriterPropertyTest, BothBackendsStoreAndRefuseExactlyTheSameRecords) {
  const std::string pg_server = test_util::PgTestUrl();
  ASSERT_FALSE(pg_server.empty());
  const std::vector<Poison> poisons = Poisons();
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::vector<Input> inputs;
    std::set<std::pair<std::string, std::string>> good;  // tenant, egg
    std::vector<v1::Prediction> sent;
    int poisoned = 0;
    for (int i = 0; i < 160; ++i) {
      const std::string egg = "s" + std::to_string(seed) + "-egg-" + std::to_string(i);
      const unsigned roll = rng() % 100;
      if (roll < 15) {  // a poison record at a random position
        inputs.push_back(poisons[rng() % poisons.size()].make(egg));
        ++poisoned;
      } else if (roll < 25 && !sent.empty()) {  // a redelivery of an earlier good record
        inputs.push_back(Encode(sent[rng() % sent.size()]));
      } else {
        v1::Prediction p = Good(egg, rng);
        good.insert({p.tenant_id(), p.egg_id()});
        sent.push_back(p);
        inputs.push_back(Encode(p));
      }
    }
    const int max_batch = 1 + static_cast<int>(rng() % 64);

    ovoflow::testing::TempDir dir("writer-property");
    Outcome sqlite =
        RunWriter(inputs, "sqlite://" + dir.path() + "/t.db", max_batch, static_cast<std::size_t>(poisoned));
    test_util::PgTestDatabase db("writer_property_" + std::to_string(seed));
    ASSERT_FALSE(db.url().empty());
    Outcome pg = RunWriter(inputs, db.url(), max_batch, static_cast<std::size_t>(poisoned));

    EXPECT_EQ(sqlite.rows, pg.rows);
    EXPECT_EQ(sqlite.dead, pg.dead);
    EXPECT_EQ(sqlite.rows.size(), good.size()) << "each good record stored once";
    for (const auto& [tenant, egg, p, decision] : sqlite.rows) EXPECT_TRUE(good.count({tenant, egg})) << egg;
    EXPECT_EQ(static_cast<int>(sqlite.dead.size()), poisoned) << "each poison record dead-lettered once";
  }
}

}  // namespace
}  // namespace ovoflow::store
