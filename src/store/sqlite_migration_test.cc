// Schema migrations: fresh database, reopen, upgrade, failure, refusal.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "store/migrations.h"
#include "store/sqlite_store.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;

// Wall time frozen at one instant (for applied_at); monotonic time runs.
class FixedClock final : public Clock {
 public:
  int64_t NowUnixNanos() const override { return kT0; }
  int64_t MonotonicNanos() const override { return SystemClock().MonotonicNanos(); }
};

// Raw access to the file, as an operator with the sqlite3 shell would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
  }
  // Rows as "a|b|c" lines.
  std::string Rows(const std::string& sql) {
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* t = sqlite3_column_text(stmt, i);
        out += (i ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
      }
      out += "\n";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::FreshDir(::testing::TempDir(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options_.path = dir_ + "/m.db";
    options_.clock = &clock_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<std::unique_ptr<SqliteStore>> Open(const std::vector<Migration>* migrations = nullptr) {
    SqliteOptions o = options_;
    o.migrations = migrations;
    return SqliteStore::Open(o);
  }

  FixedClock clock_;
  std::string dir_;
  SqliteOptions options_;
};

TEST_F(SqliteMigrationTest, FreshDatabaseGetsEveryMigrationOnce) {
  auto store = Open();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->SchemaVersion(), LatestSchemaVersion());
  EXPECT_EQ(LatestSchemaVersion(), 4);
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Rows("SELECT version, name, applied_at FROM schema_migrations ORDER BY version"),
            "1|create_predictions|2025-11-24T16:00:00.000000000Z\n"
            "2|predictions_query_indexes|2025-11-24T16:00:00.000000000Z\n"
            "3|create_outcomes|2025-11-24T16:00:00.000000000Z\n"
            "4|row_level_security|2025-11-24T16:00:00.000000000Z\n");
  EXPECT_EQ(raw.Rows("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'predictions_%'"), "7\n");
}

TEST_F(SqliteMigrationTest, ReopenKeepsVersionAndData) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok());
    auto p = test_util::MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
    ASSERT_EQ(*(*store)->InsertBatch({p}, kT0), 1);
  }
  for (int i = 0; i < 3; ++i) {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->SchemaVersion(), LatestSchemaVersion());
    EXPECT_EQ(*(*store)->Count(TenantScope::All()), 1);
  }
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Rows("SELECT count(*) FROM schema_migrations"), "4\n");
}

TEST_F(SqliteMigrationTest, UpgradesAnOlderDatabaseKeepingItsRows) {
  const std::vector<Migration> v1_only = {PredictionMigrations()[0]};
  {
    auto store = Open(&v1_only);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->SchemaVersion(), 1);
    auto p = test_util::MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
    ASSERT_EQ(*(*store)->InsertBatch({p}, kT0), 1);
  }
  std::vector<Migration> next = PredictionMigrations();
  next.push_back({5, "add_predictions_note", "ALTER TABLE predictions ADD COLUMN note TEXT NOT NULL DEFAULT ''"});
  auto store = Open(&next);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->SchemaVersion(), 5);
  EXPECT_EQ(*(*store)->Count(TenantScope::Only("h-a")), 1);
  auto egg = (*store)->GetEgg(TenantScope::Only("h-a"), "egg-1");
  ASSERT_TRUE(egg.ok() && egg->has_value());
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Rows("SELECT version FROM schema_migrations ORDER BY version"), "1\n2\n3\n4\n5\n");
  EXPECT_EQ(raw.Rows("SELECT note FROM predictions"), "\n");
}

TEST_F(SqliteMigrationTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(Open().ok());
  {
    RawDb raw(options_.path);
    raw.Exec("INSERT INTO schema_migrations VALUES (5, 'from_the_future', '2030-01-01T00:00:00Z')");
  }
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("schema version 5, newer than this build knows (4)"), std::string::npos)
      << store.status().message();
  EXPECT_FALSE(store.status().retryable());
}

TEST_F(SqliteMigrationTest, FailingMigrationRollsBackAndNamesItself) {
  std::vector<Migration> broken = PredictionMigrations();
  broken.push_back({5, "half_done", "CREATE TABLE half_done (x BIGINT); INSERT INTO no_such_table VALUES (1)"});
  auto store = Open(&broken);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("migration 5 (half_done) failed"), std::string::npos)
      << store.status().message();
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Rows("SELECT max(version) FROM schema_migrations"), "4\n");
  EXPECT_EQ(raw.Rows("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"), "0\n");
  // The good migrations stay applied; the built-in list opens the file.
  auto good = Open();
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)->SchemaVersion(), 4);
}

TEST_F(SqliteMigrationTest, RefusesADatabaseMigratedByADifferentList) {
  const std::vector<Migration> other = {
      PredictionMigrations()[0],
      {2, "something_else", "CREATE INDEX other_idx ON predictions (worker_id)"},
  };
  ASSERT_TRUE(Open(&other).ok());
  auto store = Open();
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("'something_else'"), std::string::npos) << store.status().message();
}

TEST_F(SqliteMigrationTest, RejectsMalformedMigrationLists) {
  const std::vector<Migration> gap = {PredictionMigrations()[0], {3, "skips_two", "SELECT 1"}};
  auto store = Open(&gap);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  const std::vector<Migration> empty;
  EXPECT_EQ(Open(&empty).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckMigrationList(PredictionMigrations()).empty());
}

TEST_F(SqliteMigrationTest, ConcurrentOpensMigrateOnce) {
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto store = Open();
      results[static_cast<std::size_t>(i)] = store.ok() ? Status::Ok() : store.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  RawDb raw(options_.path);
  EXPECT_EQ(raw.Rows("SELECT version FROM schema_migrations ORDER BY version"), "1\n2\n3\n4\n");
}

}  // namespace
}  // namespace ovoflow::store
