// PostgreSQL schema migrations: fresh database, reopen, upgrade (partitions
// included), failure, refusal, concurrent openers.
#include <gtest/gtest.h>

#include <thread>

#include "store/migrations.h"
#include "store/postgres_store.h"
#include "store/postgres_test_util.h"

namespace ovoflow::store {
namespace {

using test_util::PgAdmin;
using test_util::PgBatch;

constexpr int64_t kT0 = test_util::kPgT0;  // 2025-11-24T16:00:00Z
constexpr int64_t kDay = 86'400'000'000'000;
constexpr const char* kMigrationLockKey = "8031729471158449969";  // postgres_migrator.cc

class PostgresMigrationTest : public test_util::PgStoreTest {};

TEST_F(PostgresMigrationTest, FreshDatabaseGetsEveryMigrationOnce) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), LatestSchemaVersion());
  PgAdmin admin = Admin();
  EXPECT_EQ(admin.Rows("SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                       " FROM schema_migrations ORDER BY version"),
            "1|create_predictions|2025-11-24T16:00:00\n2|predictions_query_indexes|2025-11-24T16:00:00\n"
            "3|create_outcomes|2025-11-24T16:00:00\n4|row_level_security|2025-11-24T16:00:00\n");
  EXPECT_EQ(admin.Value("SELECT relkind FROM pg_class WHERE relname = 'predictions'"), "p");  // partitioned
  EXPECT_EQ(admin.Value("SELECT pg_get_partkeydef('predictions'::regclass)"), "RANGE (captured_at_ns)");
  EXPECT_EQ(admin.Rows("SELECT relname FROM pg_class WHERE relkind = 'I' ORDER BY relname"),
            "predictions_decision_time_idx\npredictions_sex_time_idx\npredictions_tenant_decision_time_idx\n"
            "predictions_tenant_sex_time_idx\npredictions_tenant_time_idx\npredictions_time_idx\n");
  EXPECT_EQ(admin.Rows("SELECT indexname FROM pg_indexes WHERE tablename = 'egg_keys' ORDER BY 1"),
            "egg_keys_egg_idx\negg_keys_pkey\n");
  EXPECT_EQ(admin.Rows("SELECT table_name, column_name, collation_name FROM information_schema.columns"
                       " WHERE column_name IN ('tenant_id', 'egg_id') ORDER BY 1, 2"),
            "egg_keys|egg_id|C\negg_keys|tenant_id|C\noutcomes|egg_id|C\noutcomes|tenant_id|C\n"
            "predictions|egg_id|C\npredictions|tenant_id|C\n");
}

TEST_F(PostgresMigrationTest, ReopenOnlyReadsAndKeepsData) {
  {
    auto store = OpenOk();
    ASSERT_NE(store, nullptr);
    ASSERT_EQ(*store->InsertBatch(PgBatch(0, 3), kT0), 3);
  }
  // Another session holds the migration lock: an up-to-date database opens
  // anyway, because reopening takes no lock and runs no DDL.
  PgAdmin locker(db_->url());
  locker.Exec(std::string("SELECT pg_advisory_lock(") + kMigrationLockKey + ")");
  for (int i = 0; i < 3; ++i) {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->SchemaVersion(), LatestSchemaVersion());
    EXPECT_EQ(*(*store)->Count(TenantScope::All()), 3);
  }
  EXPECT_EQ(Admin().Value("SELECT count(*) FROM schema_migrations"), "4");
}

TEST_F(PostgresMigrationTest, UpgradesAnOlderDatabaseKeepingItsRowsAndPartitions) {
  const std::vector<Migration> v1_only = {PostgresPredictionMigrations()[0]};
  {
    auto store = Open(&v1_only);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->SchemaVersion(), 1);
    ASSERT_EQ(*(*store)->InsertBatch(PgBatch(0, 2), kT0), 2);
  }
  std::vector<Migration> next = PostgresPredictionMigrations();
  next.push_back({5, "add_predictions_note", "ALTER TABLE predictions ADD COLUMN note TEXT NOT NULL DEFAULT ''"});
  auto store = Open(&next);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->SchemaVersion(), 5);
  EXPECT_EQ(*(*store)->Count(TenantScope::All()), 2);
  ASSERT_EQ(*(*store)->InsertBatch(PgBatch(2, 1, kT0 + 2 * kDay), kT0), 1);  // a new day's partition
  PgAdmin admin = Admin();
  EXPECT_EQ(admin.Rows("SELECT version FROM schema_migrations ORDER BY version"), "1\n2\n3\n4\n5\n");
  // The new column reached the old partition and the one created after it,
  // and so did the indexes of migration 2.
  EXPECT_EQ(admin.Rows("SELECT table_name FROM information_schema.columns WHERE column_name = 'note'"
                       " AND table_name LIKE 'predictions%' ORDER BY 1"),
            "predictions\npredictions_d20251124\npredictions_d20251126\n");
  EXPECT_EQ(admin.Value("SELECT count(*) FROM pg_indexes WHERE tablename = 'predictions_d20251124'"), "6");
}

TEST_F(PostgresMigrationTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(Open().ok());
  Admin().Exec("INSERT INTO schema_migrations VALUES (5, 'from_the_future', now())");
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("database '" + db_->url() +
                                          "' has schema version 5, newer than this build knows (4)"),
            std::string::npos)
      << store.status().message();
  EXPECT_FALSE(store.status().retryable());
}

TEST_F(PostgresMigrationTest, RefusesADatabaseMigratedByADifferentList) {
  const std::vector<Migration> other = {
      PostgresPredictionMigrations()[0],
      {2, "something_else", "CREATE INDEX other_idx ON predictions (worker_id)"},
  };
  ASSERT_TRUE(Open(&other).ok());
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("'something_else'"), std::string::npos) << store.status().message();
}

TEST_F(PostgresMigrationTest, FailingMigrationRollsBackAndNamesItself) {
  std::vector<Migration> broken = PostgresPredictionMigrations();
  broken.push_back({5, "half_done", "CREATE TABLE half_done (x BIGINT); INSERT INTO no_such_table VALUES (1)"});
  auto store = Open(&broken);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("migration 5 (half_done) failed"), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("no_such_table"), std::string::npos) << store.status().message();
  PgAdmin admin = Admin();
  EXPECT_EQ(admin.Value("SELECT max(version) FROM schema_migrations"), "4");
  EXPECT_EQ(admin.Value("SELECT to_regclass('half_done') IS NULL"), "t");
  auto good = Open();
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)->SchemaVersion(), 4);
}

TEST_F(PostgresMigrationTest, ConcurrentOpensMigrateOnce) {
  std::vector<std::thread> threads;
  std::vector<Status> results(6);
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      auto store = Open();
      results[i] = store.ok() ? Status::Ok() : store.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Admin().Rows("SELECT version FROM schema_migrations ORDER BY version"), "1\n2\n3\n4\n");
}

}  // namespace
}  // namespace ovoflow::store
