// A locked database is a retryable error, not a failure. (Readers beside
// the writer and two stores on one database: store_contract_test.cc.)
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/sqlite_store.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;
constexpr int64_t kMs = 1'000'000;

class SqliteConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::FreshDir(::testing::TempDir(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ + "/c.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::string path_;
};

std::vector<v1::Prediction> Batch(int first, int n) {
  std::vector<v1::Prediction> batch;
  for (int i = first; i < first + n; ++i) {
    batch.push_back(test_util::MakePrediction(i % 2 ? "h-a" : "h-b", "egg-" + std::to_string(i),
                                              i % 3 ? v1::SEX_FEMALE : v1::SEX_MALE, v1::DECISION_RECHECK, 0.5f,
                                              kT0 + i * kMs));
  }
  return batch;
}

TEST_F(SqliteConcurrencyTest, LockedDatabaseIsUnavailableAndRetryable) {
  SqliteOptions o;
  o.path = path_;
  o.busy_timeout_ms = 0;  // fail at once instead of waiting
  auto store = SqliteStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);  // holds the write lock

  auto n = (*store)->InsertBatch(Batch(0, 10), kT0);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnavailable) << n.status().ToString();
  EXPECT_TRUE(n.status().retryable());
  EXPECT_NE(n.status().message().find("busy"), std::string::npos) << n.status().message();
  // Readers are not blocked by the other writer (WAL).
  EXPECT_EQ(*(*store)->Count(TenantScope::All()), 0);

  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  auto retry = (*store)->InsertBatch(Batch(0, 10), kT0);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_EQ(*retry, 10);
}

}  // namespace
}  // namespace ovoflow::store
