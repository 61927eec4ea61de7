// The PostgreSQL backend on a real server (CTest fixture: scripts/pg on port
// 15432), one fresh database per test: the shared PredictionStore contract,
// then what is PostgreSQL's own: daily partitions, their statistics, several
// writers, query plans, data it refuses, URLs. Migrations and faults:
// postgres_migration_test.cc, postgres_fault_test.cc (the same binary).
#include "store/postgres_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/cursor.h"
#include "store/postgres_sql.h"
#include "store/postgres_test_util.h"
#include "store/store_contract_test.h"

namespace ovoflow::store {
namespace {

using test_util::MakePrediction;
using test_util::PgAdmin;
using test_util::PgBatch;
using test_util::Retrying;
using test_util::StoreContractTest;

constexpr int64_t kT0 = test_util::kPgT0;  // 2025-11-24T16:00:00Z
constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kDay = 86'400 * kSec;

// ---- the shared contract

class PgHarness final : public test_util::StoreHarness {
 public:
  Result<std::unique_ptr<PredictionStore>> Create(const std::string& name) override {
    db_ = std::make_unique<test_util::PgTestDatabase>(name);
    if (db_->url().empty()) return Status::FailedPrecondition("no test database");
    return Open();
  }
  Result<std::unique_ptr<PredictionStore>> Open() override { return OpenStore(db_->url()); }
  void Destroy() override { db_.reset(); }

 private:
  std::unique_ptr<test_util::PgTestDatabase> db_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(test_util::StoreBackend{"Postgres",
                                                                   [] { return std::make_unique<PgHarness>(); }}),
                         test_util::BackendName);

// ---- PostgreSQL only

class PostgresStoreTest : public test_util::PgStoreTest {};

TEST_F(PostgresStoreTest, EachRowLivesInItsUtcDaysPartition) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  const int64_t midnight = kT0 - kT0 % kDay + kDay;  // 2025-11-25T00:00:00Z
  std::vector<v1::Prediction> batch = {
      MakePrediction("h-a", "afternoon", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0),
      MakePrediction("h-a", "last-ns", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, midnight - 1),
      MakePrediction("h-a", "midnight", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, midnight),
      MakePrediction("h-b", "five-days", v1::SEX_MALE, v1::DECISION_DIVERT, 0.1f, kT0 + 5 * kDay),
      MakePrediction("h-b", "before-1970", v1::SEX_MALE, v1::DECISION_DIVERT, 0.1f, -1),
  };
  ASSERT_EQ(*store->InsertBatch(batch, kT0), 5);

  PgAdmin admin = Admin();
  EXPECT_EQ(admin.Rows("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                       " WHERE i.inhparent = 'predictions'::regclass ORDER BY 1"),
            "predictions_d19691231\npredictions_d20251124\npredictions_d20251125\npredictions_d20251129\n");
  EXPECT_EQ(admin.Rows("SELECT egg_id, tableoid::regclass FROM predictions ORDER BY egg_id"),
            "afternoon|predictions_d20251124\nbefore-1970|predictions_d19691231\n"
            "five-days|predictions_d20251129\nlast-ns|predictions_d20251124\nmidnight|predictions_d20251125\n");
  EXPECT_EQ(admin.Value("SELECT count(*) FROM egg_keys"), "5");
  auto got = store->GetEgg(TenantScope::Only("h-b"), "before-1970");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(FromTimestamp((*got)->prediction.times().captured_at()), -1);

  // A second store finds the partitions (no DDL) and adds to them.
  auto other = OpenOk();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(*other->InsertBatch(PgBatch(0, 10), kT0), 10);
  EXPECT_EQ(admin.Value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'predictions'::regclass"), "4");
  EXPECT_EQ(admin.Value("SELECT count(*) FROM predictions_d20251124"), "12");
}

TEST_F(PostgresStoreTest, NewDayPartitionsGetStatisticsEarly) {
  // Without statistics the planner would sort a tenant's whole day for a
  // page; the writer analyzes a new partition at 1,000 rows.
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(*store->InsertBatch(PgBatch(0, 999), kT0), 999);
  PgAdmin admin = Admin();
  // -1: never analyzed (or 999, had autovacuum come by meanwhile).
  EXPECT_NE(admin.Value("SELECT reltuples FROM pg_class WHERE relname = 'predictions_d20251124'"), "1000");
  ASSERT_EQ(*store->InsertBatch(PgBatch(999, 1), kT0), 1);
  EXPECT_EQ(admin.Value("SELECT reltuples FROM pg_class WHERE relname = 'predictions_d20251124'"), "1000");
}

TEST_F(PostgresStoreTest, WritersInSeveralProcessesCreateEachDayOnce) {
  // Four stores (four processes) insert overlapping batches over the same
  // ten new days at once: the partitions and the eggs exist once each.
  constexpr int kStores = 4, kDays = 10;
  std::vector<std::unique_ptr<PostgresStore>> stores;
  for (int i = 0; i < kStores; ++i) {
    stores.push_back(OpenOk());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::atomic<int> ready{0};
  std::atomic<int64_t> inserted{0};
  std::vector<std::string> errors(kStores);
  std::vector<std::thread> threads;
  threads.reserve(kStores);
  for (int s = 0; s < kStores; ++s) {
    threads.emplace_back([&, s] {
      std::vector<v1::Prediction> batch;
      for (int d = 0; d < kDays; ++d) {
        for (int e = 0; e < 20; ++e) {  // eggs 0..9 shared by every store, 10..19 its own
          const std::string egg = e < 10 ? "shared-" + std::to_string(d) + "-" + std::to_string(e)
                                         : "s" + std::to_string(s) + "-" + std::to_string(d) + "-" + std::to_string(e);
          batch.push_back(MakePrediction("h-a", egg, v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0 + d * kDay + e));
        }
      }
      ++ready;
      while (ready.load() < kStores) std::this_thread::yield();
      auto n = Retrying([&] { return stores[static_cast<std::size_t>(s)]->InsertBatch(batch, kT0); });
      if (n.ok())
        inserted += *n;
      else
        errors[static_cast<std::size_t>(s)] = n.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(inserted.load(), kDays * (10 + kStores * 10));
  EXPECT_EQ(*stores[0]->Count(TenantScope::Only("h-a")), kDays * (10 + kStores * 10));
  EXPECT_EQ(Admin().Value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'predictions'::regclass"),
            std::to_string(kDays));
}

// Plan lines that read a table without an index.
std::string SeqScans(const std::string& plan) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = plan.find("Seq Scan", pos)) != std::string::npos) {
    const std::size_t end = plan.find('\n', pos);
    out += plan.substr(pos, end - pos) + "\n";
    pos = end;
  }
  return out;
}

TEST_F(PostgresStoreTest, EveryQueryUsesItsIndexes) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  // 10 days x 2,400 rows (one every 36 s), 8 tenants; statistics as the
  // autovacuum daemon would gather them.
  constexpr int kDays = 10, kPerDay = 2400;
  const int64_t midnight = kT0 - kT0 % kDay;
  const v1::Decision decisions[] = {v1::DECISION_KEEP, v1::DECISION_DIVERT, v1::DECISION_RECHECK};
  for (int d = 0; d < kDays; ++d) {
    std::vector<v1::Prediction> batch;
    for (int i = 0; i < kPerDay; ++i) {
      const int n = d * kPerDay + i;
      batch.push_back(MakePrediction("h-" + std::to_string(n % 8), "egg-" + std::to_string(n),
                                     n % 2 ? v1::SEX_MALE : v1::SEX_FEMALE, decisions[n % 3], 0.5f,
                                     midnight + d * kDay + int64_t{i} * 36 * kSec));
    }
    ASSERT_EQ(*store->InsertBatch(batch, kT0), kPerDay);
  }
  Admin().Exec("ANALYZE");

  const std::string cursor = EncodeCursor({midnight + 5 * kDay + 3600 * kSec, "h-3", "egg-12000"});
  for (const std::string tenant : {"", "h-3"}) {
    for (int filter = 0; filter < 4; ++filter) {
      for (int shape = 0; shape < 3; ++shape) {
        EggQuery q;
        q.tenants = TenantScope::All();
        q.tenants = test_util::TenantOrAll(tenant);
        if (filter == 1 || filter == 3) q.sex = v1::SEX_MALE;
        if (filter == 2 || filter == 3) q.decision = v1::DECISION_RECHECK;
        if (shape >= 1) q.from_unix_nanos = midnight + 2 * kDay;
        if (shape == 2) q.cursor = cursor;
        auto plan = store->ExplainListEggs(q);
        ASSERT_TRUE(plan.ok()) << plan.status().ToString();
        const std::string what = "tenant '" + tenant + "' filter " + std::to_string(filter) + " shape " +
                                 std::to_string(shape) + ":\n" + *plan;
        EXPECT_NE(plan->find("Index Scan using predictions_d"), std::string::npos) << what;
        EXPECT_EQ(SeqScans(*plan), "") << what;
        if (filter == 3) continue;  // sex and decision: the planner may sort the few rows both match
        // Partitions in time order (an ordered Append), each read in index
        // order: no sort, and the LIMIT stops after the first pages.
        EXPECT_EQ(plan->find("Sort"), std::string::npos) << what;
        EXPECT_EQ(plan->find("Merge Append"), std::string::npos) << what;
      }
    }
  }
  // Stats over an hour: one partition, read through an index.
  for (const std::string tenant : {"", "h-3"}) {
    StatsQuery sq;
    sq.tenants = TenantScope::All();
    sq.tenants = test_util::TenantOrAll(tenant);
    sq.from_unix_nanos = midnight + 4 * kDay + 3600 * kSec;
    sq.to_unix_nanos = midnight + 4 * kDay + 7200 * kSec;
    auto plan = store->ExplainStats(sq);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_NE(plan->find("Index"), std::string::npos) << *plan;
    EXPECT_NE(plan->find("predictions_d20251128"), std::string::npos) << *plan;
    EXPECT_EQ(plan->find("predictions_d20251127"), std::string::npos) << "not pruned:\n" << *plan;
    EXPECT_EQ(SeqScans(*plan), "") << *plan;
  }
  // GetEgg: the key's index, then the tenant-time index of each partition,
  // all but one of which are pruned while it runs.
  for (const std::string tenant : {"", "h-3"}) {
    auto plan = store->ExplainGetEgg(test_util::TenantOrAll(tenant), "egg-12003");
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_NE(plan->find("Index Scan using egg_keys_"), std::string::npos) << *plan;
    EXPECT_NE(plan->find("_tenant_id_captured_at_ns_egg_id_idx"), std::string::npos) << *plan;
    EXPECT_EQ(SeqScans(*plan), "") << *plan;
  }
  // Run for real: the partitions not holding the egg are never read.
  std::string sql = BuildPgGetEggQuery(TenantScope::Only("h-3"), "egg-12003").sql;
  sql.replace(sql.find("$1"), 2, "'egg-12003'");
  sql.replace(sql.find("$2"), 2, "'h-3'");
  const std::string analyzed = Admin().Rows("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql);
  int never_executed = 0;
  for (std::size_t pos = 0; (pos = analyzed.find("(never executed)", pos)) != std::string::npos; ++pos) {
    ++never_executed;
  }
  EXPECT_EQ(never_executed, kDays - 1) << analyzed;
}

TEST_F(PostgresStoreTest, DataPostgresRefusesIsInvalidArgumentAndStoresNothing) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  auto good = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0);
  auto nul = MakePrediction("h-a", std::string("egg\0-2", 6), v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0);
  auto n = store->InsertBatch({good, nul}, kT0);
  EXPECT_EQ(n.status().code(), StatusCode::kInvalidArgument) << n.status().ToString();
  EXPECT_NE(n.status().message().find("prediction #1"), std::string::npos) << n.status().message();
  // Out of SMALLINT range, once refused by the server alone: now by the
  // shared rules, as on SQLite, before the statement runs.
  auto huge = MakePrediction("h-a", "egg-3", static_cast<v1::Sex>(70000), v1::DECISION_KEEP, 0.9f, kT0);
  n = store->InsertBatch({good, huge}, kT0);
  EXPECT_EQ(n.status().code(), StatusCode::kInvalidArgument) << n.status().ToString();
  EXPECT_NE(n.status().message().find("prediction #1 (egg_id 'egg-3'): sex is unspecified or unknown"),
            std::string::npos)
      << n.status().message();
  EXPECT_FALSE(n.status().retryable());
  EXPECT_EQ(*store->Count(TenantScope::All()), 0);
  EXPECT_EQ(Admin().Value("SELECT count(*) FROM egg_keys"), "0");
  EXPECT_EQ(*store->InsertBatch({good}, kT0), 1);  // the connection is fine
}

TEST_F(PostgresStoreTest, OpenStoreAcceptsBothSchemes) {
  const std::string rest = db_->url().substr(db_->url().find("://"));
  auto a = OpenStore("postgresql" + rest);
  auto b = OpenStore("postgres" + rest);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(*(*a)->InsertBatch(PgBatch(0, 3), kT0), 3);
  EXPECT_EQ(*(*b)->Count(TenantScope::All()), 3);
  auto egg = (*b)->GetEgg(TenantScope::Only("h-a"), "egg-1");
  ASSERT_TRUE(egg.ok() && egg->has_value());
  EXPECT_EQ((*egg)->prediction.egg_id(), "egg-1");
  EXPECT_NE(dynamic_cast<PostgresStore*>(a->get()), nullptr);
}

TEST_F(PostgresStoreTest, ConnectionProblemsSayWhatToFix) {
  auto missing = OpenStore(test_util::PgUrlForDatabase(db_->url(), "no_such_database_x"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("create the database first"), std::string::npos)
      << missing.status().message();
  const std::string url = db_->url();
  auto role = OpenStore("postgresql://no_such_role_x@" + url.substr(url.find('@') + 1));
  EXPECT_EQ(role.status().code(), StatusCode::kFailedPrecondition) << role.status().ToString();
  EXPECT_NE(role.status().message().find("create the role first"), std::string::npos) << role.status().message();
  auto bad_param = OpenStore(url + "?no_such_parameter=1");
  EXPECT_EQ(bad_param.status().code(), StatusCode::kInvalidArgument) << bad_param.status().ToString();

  PostgresOptions o;
  o.url = "postgresql://ovoflow@127.0.0.1:1/ovoflow";
  auto refused = PostgresStore::Open(o);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();

  for (auto bad :
       {+[](PostgresOptions& x) { x.url.clear(); }, +[](PostgresOptions& x) { x.url = "sqlite:///x"; },
        +[](PostgresOptions& x) { x.read_connections = 0; }, +[](PostgresOptions& x) { x.read_connections = 65; },
        +[](PostgresOptions& x) { x.connect_timeout_s = 0; }, +[](PostgresOptions& x) { x.statement_timeout_ms = -1; },
        +[](PostgresOptions& x) { x.lock_timeout_ms = 0; }}) {
    PostgresOptions opts = options_;
    bad(opts);
    EXPECT_EQ(PostgresStore::Open(opts).status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace ovoflow::store
