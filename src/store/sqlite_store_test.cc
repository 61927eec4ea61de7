// The SQLite backend through the PredictionStore interface: idempotent
// inserts, tenant isolation, filters, keyset pagination and stats.
#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <google/protobuf/util/message_differencer.h>

#include "store/cursor.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

using google::protobuf::util::MessageDifferencer;
using test_util::MakePrediction;

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24, ns
constexpr int64_t kSec = 1'000'000'000;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_util::FreshDir(::testing::TempDir(),
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
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

  // Every page of `q`, checking page sizes; returns the eggs in order.
  std::vector<StoredPrediction> ListAll(EggQuery q, int* pages = nullptr) {
    std::vector<StoredPrediction> all;
    int n = 0;
    while (true) {
      auto page = store_->ListEggs(q);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      ++n;
      if (!page->next_cursor.empty()) {
        EXPECT_EQ(page->items.size(), static_cast<std::size_t>(q.limit));
      }
      for (auto& item : page->items) all.push_back(std::move(item));
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    if (pages != nullptr) *pages = n;
    return all;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<PredictionStore> store_;
};

std::vector<std::string> EggIds(const std::vector<StoredPrediction>& items) {
  std::vector<std::string> ids;
  for (const auto& i : items) ids.push_back(i.prediction.tenant_id() + "/" + i.prediction.egg_id());
  return ids;
}

TEST_F(SqliteStoreTest, InsertThenGetReturnsEveryField) {
  v1::Prediction p = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.96875f, kT0);
  EXPECT_EQ(Insert({p}, kT0 + 2 * kSec), 1);
  auto got = store_->GetEgg("h-a", "egg-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals((*got)->prediction, p)) << (*got)->prediction.DebugString();
  EXPECT_EQ((*got)->stored_at_unix_nanos, kT0 + 2 * kSec);

  auto missing = store_->GetEgg("h-a", "egg-2");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_EQ(store_->GetEgg("h-a", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->Count(""), 1);
  EXPECT_EQ(store_->SchemaVersion(), LatestSchemaVersion());
}

TEST_F(SqliteStoreTest, DuplicatesAreStoredOnceAndNotCounted) {
  auto a = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto b = MakePrediction("h-a", "egg-2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0);
  // Within one batch: the second copy is skipped.
  EXPECT_EQ(Insert({a, b, a}), 2);
  // Across batches (a redelivery), even with different contents: the first row wins.
  auto a_again = a;
  a_again.set_p_female(0.5f);
  EXPECT_EQ(Insert({a_again, b}), 0);
  auto c = MakePrediction("h-a", "egg-3", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0);
  EXPECT_EQ(Insert({b, c, c, a}), 1);
  EXPECT_EQ(*store_->Count("h-a"), 3);
  EXPECT_FLOAT_EQ((*store_->GetEgg("h-a", "egg-1"))->prediction.p_female(), 0.95f);
}

TEST_F(SqliteStoreTest, SameEggUnderTwoTenantsIsTwoRows) {
  auto a = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto b = MakePrediction("h-b", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kSec);
  EXPECT_EQ(Insert({a, b}), 2);
  EXPECT_EQ(*store_->Count(""), 2);
  EXPECT_EQ(*store_->Count("h-a"), 1);
  EXPECT_EQ(*store_->Count("h-b"), 1);
  EXPECT_EQ(*store_->Count("h-c"), 0);
  EXPECT_EQ((*store_->GetEgg("h-a", "egg-1"))->prediction.sex(), v1::SEX_FEMALE);
  EXPECT_EQ((*store_->GetEgg("h-b", "egg-1"))->prediction.sex(), v1::SEX_MALE);
  EXPECT_FALSE(store_->GetEgg("h-c", "egg-1")->has_value());
  // Any tenant: deterministic, the first by tenant_id.
  EXPECT_EQ((*store_->GetEgg("", "egg-1"))->prediction.tenant_id(), "h-a");
  auto only_b = MakePrediction("h-b", "egg-2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0);
  Insert({only_b});
  EXPECT_EQ((*store_->GetEgg("", "egg-2"))->prediction.tenant_id(), "h-b");
  EXPECT_FALSE(store_->GetEgg("h-a", "egg-2")->has_value());
}

TEST_F(SqliteStoreTest, BatchWithAnEmptyIdIsRejectedWhole) {
  auto good = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto no_egg = MakePrediction("h-a", "", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto no_tenant = MakePrediction("", "egg-2", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  for (const auto& bad : {no_egg, no_tenant}) {
    auto n = store_->InsertBatch({good, bad}, kT0);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(n.status().retryable());
  }
  EXPECT_EQ(*store_->Count(""), 0);
  EXPECT_EQ(Insert({}), 0);
}

// 3 tenants x 24 eggs; sex, decision and capture time vary with the index.
std::vector<v1::Prediction> MixedDataset() {
  std::vector<v1::Prediction> out;
  const v1::Decision decisions[] = {v1::DECISION_KEEP, v1::DECISION_DIVERT, v1::DECISION_RECHECK};
  for (const std::string tenant : {"h-a", "h-b", "h-c"}) {
    for (int i = 0; i < 24; ++i) {
      const v1::Sex sex = i % 2 ? v1::SEX_MALE : v1::SEX_FEMALE;
      out.push_back(MakePrediction(tenant, "egg-" + std::to_string(i), sex, decisions[i % 3], 0.5f,
                                   kT0 + (i / 4) * kSec));  // four eggs per second
    }
  }
  return out;
}

TEST_F(SqliteStoreTest, ListFiltersEachDimension) {
  const auto data = MixedDataset();
  ASSERT_EQ(Insert(data), 72);
  auto matching = [&](const EggQuery& q) {
    std::set<std::string> ids;
    for (const auto& p : data) {
      const int64_t at = FromTimestamp(p.times().captured_at());
      if (!q.tenant_id.empty() && p.tenant_id() != q.tenant_id) continue;
      if (q.sex && p.sex() != *q.sex) continue;
      if (q.decision && p.decision() != *q.decision) continue;
      if (q.from_unix_nanos && at < *q.from_unix_nanos) continue;
      if (q.to_unix_nanos && at >= *q.to_unix_nanos) continue;
      ids.insert(p.tenant_id() + "/" + p.egg_id());
    }
    return ids;
  };
  std::vector<EggQuery> queries;
  for (const std::string tenant : {"", "h-b"}) {
    for (int sex = 0; sex <= 2; ++sex) {
      for (int decision = 0; decision <= 3; ++decision) {
        for (int range = 0; range < 3; ++range) {
          EggQuery q;
          q.tenant_id = tenant;
          if (sex) q.sex = static_cast<v1::Sex>(sex);
          if (decision) q.decision = static_cast<v1::Decision>(decision);
          if (range >= 1) q.from_unix_nanos = kT0 + 2 * kSec;  // inclusive
          if (range >= 2) q.to_unix_nanos = kT0 + 4 * kSec;    // exclusive
          q.limit = 7;
          queries.push_back(q);
        }
      }
    }
  }
  for (const EggQuery& q : queries) {
    auto got = ListAll(q);
    auto ids = EggIds(got);
    const std::set<std::string> unique(ids.begin(), ids.end());
    EXPECT_EQ(unique.size(), ids.size());
    EXPECT_EQ(unique, matching(q)) << "tenant '" << q.tenant_id << "' sex " << q.sex.value_or(v1::SEX_UNSPECIFIED)
                                   << " decision " << q.decision.value_or(v1::DECISION_UNSPECIFIED);
    EXPECT_FALSE(unique.empty());
  }
  EggQuery rechecks;
  rechecks.tenant_id = "h-a";
  rechecks.decision = v1::DECISION_RECHECK;
  rechecks.sex = v1::SEX_FEMALE;
  EXPECT_EQ(ListAll(rechecks).size(), 4u);  // i = 2, 8, 14, 20
}

TEST_F(SqliteStoreTest, PaginationVisitsEveryRowOnceInOrder) {
  // 1,050 rows over two tenants; groups of 7 share a capture time, so page
  // boundaries fall inside ties and the tie-break (tenant, egg) decides.
  std::vector<v1::Prediction> batch;
  for (int i = 0; i < 1050; ++i) {
    const std::string tenant = i % 3 ? "h-a" : "h-b";
    batch.push_back(MakePrediction(tenant, "egg-" + std::to_string(i), v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f,
                                   kT0 + (i / 7) * kSec));
    if (batch.size() == 250) {
      Insert(batch);
      batch.clear();
    }
  }
  Insert(batch);
  ASSERT_EQ(*store_->Count(""), 1050);

  EggQuery q;
  q.limit = 100;
  int pages = 0;
  auto all = ListAll(q, &pages);
  EXPECT_EQ(pages, 11);
  ASSERT_EQ(all.size(), 1050u);
  auto ids = EggIds(all);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1050u);
  for (std::size_t i = 1; i < all.size(); ++i) {
    const auto& a = all[i - 1].prediction;
    const auto& b = all[i].prediction;
    const int64_t ta = FromTimestamp(a.times().captured_at()), tb = FromTimestamp(b.times().captured_at());
    const bool ordered = ta > tb || (ta == tb && (a.tenant_id() < b.tenant_id() ||
                                                  (a.tenant_id() == b.tenant_id() && a.egg_id() < b.egg_id())));
    ASSERT_TRUE(ordered) << "rows " << i - 1 << " and " << i << " out of order";
  }
  // A single tenant with a limit that divides its rows exactly: no empty last page.
  q.tenant_id = "h-b";  // i % 3 == 0: 350 rows
  q.limit = 50;
  auto b_rows = ListAll(q, &pages);
  EXPECT_EQ(b_rows.size(), 350u);
  EXPECT_EQ(pages, 7);
  q.limit = 1000;
  q.tenant_id.clear();
  EXPECT_EQ(ListAll(q, &pages).size(), 1050u);
  EXPECT_EQ(pages, 2);
}

TEST_F(SqliteStoreTest, MalformedCursorAndBadLimitAreInvalidArgument) {
  Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0)});
  EggQuery q;
  for (const char* cursor : {"%%%", "AAAA", "eyJvZmZzZXQiOjEwMH0"}) {
    q.cursor = cursor;
    auto page = store_->ListEggs(q);
    ASSERT_FALSE(page.ok()) << cursor;
    EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument);
  }
  q.cursor.clear();
  for (int limit : {0, -5, 1001}) {
    q.limit = limit;
    auto page = store_->ListEggs(q);
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(page.status().message().find("limit"), std::string::npos);
  }
  q.limit = 1;
  auto page = store_->ListEggs(q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 1u);
  EXPECT_TRUE(page->next_cursor.empty());
}

TEST_F(SqliteStoreTest, StatsAreExactOnAKnownDataset) {
  // h-a: 4 rows, p = 1, .75, .25, 0; end-to-end 1, 2, 3, 4 s.
  // h-b: 2 rows, p = .5, .5; end-to-end 10, 20 s; one captured later.
  std::vector<std::pair<v1::Prediction, int64_t>> rows = {
      {MakePrediction("h-a", "a1", v1::SEX_FEMALE, v1::DECISION_KEEP, 1.0f, kT0), 1},
      {MakePrediction("h-a", "a2", v1::SEX_FEMALE, v1::DECISION_RECHECK, 0.75f, kT0), 2},
      {MakePrediction("h-a", "a3", v1::SEX_MALE, v1::DECISION_RECHECK, 0.25f, kT0), 3},
      {MakePrediction("h-a", "a4", v1::SEX_MALE, v1::DECISION_DIVERT, 0.0f, kT0), 4},
      {MakePrediction("h-b", "b1", v1::SEX_FEMALE, v1::DECISION_RECHECK, 0.5f, kT0), 10},
      {MakePrediction("h-b", "b2", v1::SEX_MALE, v1::DECISION_RECHECK, 0.5f, kT0 + 60 * kSec), 20},
  };
  for (const auto& [p, e2e_s] : rows) Insert({p}, FromTimestamp(p.times().captured_at()) + e2e_s * kSec);

  auto stats = store_->GetStats({});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const Counts& o = stats->overall;
  EXPECT_EQ(o.total, 6);
  EXPECT_EQ(o.female, 3);
  EXPECT_EQ(o.male, 3);
  EXPECT_EQ(o.keep, 1);
  EXPECT_EQ(o.divert, 1);
  EXPECT_EQ(o.recheck, 4);
  EXPECT_DOUBLE_EQ(o.mean_p_female, 3.0 / 6);
  EXPECT_DOUBLE_EQ(o.mean_end_to_end_seconds, 40.0 / 6);
  ASSERT_EQ(stats->tenants.size(), 2u);
  EXPECT_EQ(stats->tenants[0].tenant_id, "h-a");
  EXPECT_EQ(stats->tenants[0].counts.total, 4);
  EXPECT_EQ(stats->tenants[0].counts.female, 2);
  EXPECT_EQ(stats->tenants[0].counts.recheck, 2);
  EXPECT_DOUBLE_EQ(stats->tenants[0].counts.mean_p_female, 0.5);
  EXPECT_DOUBLE_EQ(stats->tenants[0].counts.mean_end_to_end_seconds, 2.5);
  EXPECT_EQ(stats->tenants[1].tenant_id, "h-b");
  EXPECT_EQ(stats->tenants[1].counts.total, 2);
  EXPECT_EQ(stats->tenants[1].counts.keep, 0);
  EXPECT_DOUBLE_EQ(stats->tenants[1].counts.mean_end_to_end_seconds, 15.0);

  StatsQuery b_only;
  b_only.tenant_id = "h-b";
  auto b = store_->GetStats(b_only);
  ASSERT_EQ(b->tenants.size(), 1u);
  EXPECT_EQ(b->overall.total, 2);
  EXPECT_DOUBLE_EQ(b->overall.mean_p_female, 0.5);

  StatsQuery later;  // only b2 was captured at or after kT0 + 1 s
  later.from_unix_nanos = kT0 + kSec;
  auto l = store_->GetStats(later);
  EXPECT_EQ(l->overall.total, 1);
  EXPECT_EQ(l->overall.male, 1);
  EXPECT_DOUBLE_EQ(l->overall.mean_end_to_end_seconds, 20.0);
  StatsQuery earlier;
  earlier.to_unix_nanos = kT0 + kSec;
  EXPECT_EQ(store_->GetStats(earlier)->overall.total, 5);
  StatsQuery none;
  none.tenant_id = "h-z";
  auto z = store_->GetStats(none);
  EXPECT_EQ(z->overall.total, 0);
  EXPECT_TRUE(z->tenants.empty());
  StatsQuery backwards;
  backwards.from_unix_nanos = 2;
  backwards.to_unix_nanos = 1;
  EXPECT_EQ(store_->GetStats(backwards).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, EveryQueryUsesAnIndexWithoutSorting) {
  auto* sqlite = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sqlite, nullptr);
  const std::string cursor = EncodeCursor({kT0, "h-a", "egg-1"});
  for (const std::string tenant : {"", "h-a"}) {
    for (int filter = 0; filter < 3; ++filter) {
      for (bool paged : {false, true}) {
        EggQuery q;
        q.tenant_id = tenant;
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
  sq.tenant_id = "h-a";
  sq.from_unix_nanos = kT0;
  auto plan = sqlite->ExplainStats(sq);
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->find("SEARCH predictions USING INDEX predictions_tenant_time_idx"), std::string::npos) << *plan;
  sq.tenant_id.clear();
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
  EXPECT_EQ(*(*rel)->Count(""), 1);
  EXPECT_EQ(*(*plain)->Count(""), 1);
  auto abs = OpenStore(path_);
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(*(*abs)->Count("h-a"), 1);
}

TEST_F(SqliteStoreTest, MissingParentDirectoriesAreCreated) {
  const std::string nested = dir_ + "/new/nested/dir/p.db";
  auto s = OpenStore("sqlite://" + nested);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(std::filesystem::is_regular_file(nested));
  EXPECT_EQ((*s)->InsertBatch({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, kT0)}, kT0)
                .value(),
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
