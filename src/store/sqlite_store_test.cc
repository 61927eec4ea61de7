// The SQLite backend: the shared PredictionStore contract
// (store_contract_test.cc) on database files, and what is SQLite's own:
// query plans, WAL, paths.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/cursor.h"
#include "store/store_contract_test.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

using test_util::MakePrediction;
using test_util::StoreContractTest;

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24, ns
constexpr int64_t kSec = 1'000'000'000;

// One database file per test, in its own temporary directory.
class SqliteHarness final : public test_util::StoreHarness {
 public:
  Result<std::unique_ptr<PredictionStore>> Create(const std::string& name) override {
    dir_ = test_util::FreshDir(::testing::TempDir(), "contract_" + name);
    return Open();
  }
  Result<std::unique_ptr<PredictionStore>> Open() override { return OpenStore("sqlite://" + dir_ + "/predictions.db"); }
  void Destroy() override { std::filesystem::remove_all(dir_); }

 private:
  std::string dir_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
                         ::testing::Values(test_util::StoreBackend{"Sqlite",
                                                                   [] { return std::make_unique<SqliteHarness>(); }}),
                         test_util::BackendName);

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::FreshDir(::testing::TempDir(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ + "/predictions.db";
    auto store = OpenStore("sqlite://" + path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  int64_t Insert(const std::vector<v1::Prediction>& batch, int64_t stored_at = kT0 + 100 * kSec) {
    auto n = store_->InsertBatch(batch, stored_at);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<PredictionStore> store_;
};

TEST_F(SqliteStoreTest, EveryQueryUsesAnIndexWithoutSorting) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  const std::string cursor = EncodeCursor({kT0, "h-a", "egg-1"});
  for (const std::string tenant : {"", "h-a"}) {
    for (int filter = 0; filter < 3; ++filter) {
      for (bool paged : {false, true}) {
        EggQuery q;
        q.tenants = TenantScope::All();
        q.tenants = test_util::TenantOrAll(tenant);
        if (filter == 1) q.sex = v1::SEX_MALE;
        if (filter == 2) q.decision = v1::DECISION_RECHECK;
        q.from_unix_nanos = kT0;
        if (paged) q.cursor = cursor;
        auto plan = sqlite->ExplainListEggs(q);
        ASSERT_TRUE(plan.ok()) << plan.status().ToString();
        EXPECT_NE(plan->find("USING INDEX predictions_"), std::string::npos) << *plan;
        EXPECT_EQ(plan->find("TEMP B-TREE"), std::string::npos) << *plan;
        EXPECT_EQ(plan->find("SCAN predictions\n"), std::string::npos) << *plan;
      }
    }
  }
  StatsQuery sq;
  sq.tenants = TenantScope::All();
  sq.tenants = test_util::TenantOrAll("h-a");
  sq.from_unix_nanos = kT0;
  auto plan = sqlite->ExplainStats(sq);
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->find("SEARCH predictions USING INDEX predictions_tenant_time_idx"), std::string::npos) << *plan;
  sq.tenants = TenantScope::All();
  plan = sqlite->ExplainStats(sq);
  EXPECT_NE(plan->find("SEARCH predictions USING INDEX predictions_time_idx"), std::string::npos) << *plan;
}

TEST_F(SqliteStoreTest, FileIsInWalModeWithForeignKeys) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, RelativeAndPlainPathsOpenTheSameFile) {
  Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0)});
  store_.reset();
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  auto rel = OpenStore("sqlite://predictions.db");
  auto plain = OpenStore("predictions.db");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*(*rel)->Count(TenantScope::All()), 1);
  EXPECT_EQ(*(*plain)->Count(TenantScope::All()), 1);
  auto abs = OpenStore(path_);
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(*(*abs)->Count(TenantScope::Only("h-a")), 1);
}

TEST_F(SqliteStoreTest, MissingParentDirectoriesAreCreated) {
  const std::string nested = dir_ + "/new/nested/dir/p.db";
  auto s = OpenStore("sqlite://" + nested);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(std::filesystem::is_regular_file(nested));
  EXPECT_EQ(
      (*s)->InsertBatch({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0)}, kT0).value(),
      1);
}

TEST_F(SqliteStoreTest, UnusablePathsFailWithAClearMessage) {
  {
    const std::string file = dir_ + "/plain-file";
    std::ofstream(file) << "x";
    auto s = OpenStore("sqlite://" + file + "/p.db");  // a file where a directory should be
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.status().message().find("cannot create directory '" + file + "'"), std::string::npos)
        << s.status().message();
  }
  {
    // Unwritable even for root: /proc accepts no new directories.
    auto s = OpenStore("sqlite:///proc/ovoflow-store-test/p.db");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.status().message().find("cannot create directory '/proc/ovoflow-store-test'"), std::string::npos)
        << s.status().message();
  }
  {
    auto s = OpenStore(dir_);  // a directory
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.status().message().find("is a directory"), std::string::npos) << s.status().message();
  }
  {
    const std::string junk = dir_ + "/junk.db";
    std::ofstream(junk) << std::string(4096, 'j');
    auto s = OpenStore(junk);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(s.status().message().find("not a database"), std::string::npos) << s.status().message();
  }
  if (::geteuid() != 0) {  // root writes through permission bits
    const std::string ro = dir_ + "/read-only";
    std::filesystem::create_directories(ro);
    std::filesystem::permissions(ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    auto s = OpenStore(ro + "/p.db");
    std::filesystem::permissions(ro, std::filesystem::perms::owner_all);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  }
}

TEST(SqliteOptionsTest, RejectsBadOptions) {
  SqliteOptions o;
  EXPECT_EQ(SqliteStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.path = ":memory:";
  EXPECT_EQ(SqliteStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.path = ::testing::TempDir() + "/never-created.db";
  o.read_connections = 0;
  EXPECT_EQ(SqliteStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.read_connections = 4;
  o.busy_timeout_ms = -1;
  EXPECT_EQ(SqliteStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(o.path));
}

}  // namespace
}  // namespace ovoflow::store
