// Many API threads read while the writer inserts; a locked database is a
// retryable error, not a failure.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "store/sqlite_store.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;
constexpr int64_t kMs = 1'000'000;

class SqliteConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::FreshDir(::testing::TempDir(),
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
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

TEST_F(SqliteConcurrencyTest, ReadersRunWhileTheWriterInserts) {
  SqliteOptions o;
  o.path = path_;
  o.read_connections = 4;  // fewer than the readers: they also queue for the pool
  auto opened = SqliteStore::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SqliteStore& store = **opened;

  constexpr int kBatches = 40, kBatchSize = 100, kReaders = 8;
  std::atomic<bool> writer_done{false};
  std::atomic<int64_t> writer_new{0};
  std::atomic<int> read_errors{0}, reads{0}, regressions{0};
  std::vector<std::string> first_error(kReaders);

  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      // Each batch repeats the previous batch's last 10 eggs (redelivery).
      const int first = std::max(0, b * kBatchSize - 10);
      auto n = store.InsertBatch(Batch(first, b * kBatchSize + kBatchSize - first), kT0 + b * kMs);
      if (n.ok()) writer_new += *n;
      else ADD_FAILURE() << n.status().ToString();
    }
    writer_done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      int64_t last_count = 0;
      auto fail = [&](const Status& st) {
        ++read_errors;
        std::string& first = first_error[static_cast<std::size_t>(r)];
        if (first.empty()) first = st.ToString();
      };
      // Loop until the writer is done, and at least a few times.
      for (int i = 0; !writer_done.load() || i < 5; ++i) {
        auto count = store.Count("");
        if (!count.ok()) fail(count.status());
        else if (*count < last_count) ++regressions;  // committed rows never disappear
        else last_count = *count;
        EggQuery q;
        q.tenant_id = r % 2 ? "h-a" : "";
        q.limit = 50;
        auto page = store.ListEggs(q);
        if (!page.ok()) fail(page.status());
        auto egg = store.GetEgg(r % 2 ? "h-a" : "", "egg-" + std::to_string(i * 7 + 1));
        if (!egg.ok()) fail(egg.status());
        auto stats = store.GetStats({});
        if (!stats.ok()) fail(stats.status());
        else if (stats->overall.total != stats->overall.female + stats->overall.male) ++regressions;
        reads += 4;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(read_errors.load(), 0);
  for (const auto& e : first_error) EXPECT_EQ(e, "");
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_GT(reads.load(), kReaders * 4 * 5 - 1);
  EXPECT_EQ(writer_new.load(), kBatches * kBatchSize);
  EXPECT_EQ(*store.Count(""), kBatches * kBatchSize);
  EXPECT_EQ(*store.Count("h-a"), kBatches * kBatchSize / 2);
  auto stats = store.GetStats({});
  EXPECT_EQ(stats->overall.recheck, kBatches * kBatchSize);
}

TEST_F(SqliteConcurrencyTest, TwoStoresOnOneFileShareTheWriteLock) {
  SqliteOptions o;
  o.path = path_;
  auto a = SqliteStore::Open(o);
  auto b = SqliteStore::Open(o);
  ASSERT_TRUE(a.ok() && b.ok());
  std::thread ta([&] {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*a)->InsertBatch(Batch(i * 50, 50), kT0).ok());
  });
  std::thread tb([&] {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*b)->InsertBatch(Batch(i * 50 + 25, 50), kT0).ok());
  });
  ta.join();
  tb.join();
  EXPECT_EQ(*(*a)->Count(""), 20 * 50 + 25);
  EXPECT_EQ(*(*b)->Count(""), 20 * 50 + 25);
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
  EXPECT_EQ(*(*store)->Count(""), 0);

  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  auto retry = (*store)->InsertBatch(Batch(0, 10), kT0);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_EQ(*retry, 10);
}

}  // namespace
}  // namespace ovoflow::store
