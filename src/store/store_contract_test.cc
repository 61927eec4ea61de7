// The PredictionStore contract, run against every backend (see
// store_contract_test.h): idempotent inserts, tenant isolation, filters,
// keyset pagination in byte order, stats, readers beside the writer.
#include "store/store_contract_test.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include <google/protobuf/util/message_differencer.h>

#include "store/migrations.h"
#include "store/store_test_util.h"

namespace ovoflow::store::test_util {

using google::protobuf::util::MessageDifferencer;

namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z, ns
constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kDay = 86'400 * kSec;

}  // namespace

void StoreContractTest::SetUp() {
  harness_ = GetParam().make();
  auto store = harness_->Create(::testing::UnitTest::GetInstance()->current_test_info()->name());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(store).value();
}

void StoreContractTest::TearDown() {
  store_.reset();
  if (harness_) harness_->Destroy();
}

int64_t StoreContractTest::Insert(const std::vector<v1::Prediction>& batch, int64_t stored_at) {
  auto n = store_->InsertBatch(batch, stored_at);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? *n : -1;
}

int64_t StoreContractTest::Insert(const std::vector<v1::Prediction>& batch) { return Insert(batch, kT0 + 100 * kSec); }

std::vector<StoredPrediction> StoreContractTest::ListAll(EggQuery q, int* pages) {
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

std::vector<std::string> EggIds(const std::vector<StoredPrediction>& items) {
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (const auto& i : items) ids.push_back(i.prediction.tenant_id() + "/" + i.prediction.egg_id());
  return ids;
}

namespace {

// True when `a` comes before `b` in list order: captured_at DESC, then
// tenant_id, egg_id by bytes.
bool ListedBefore(const v1::Prediction& a, const v1::Prediction& b) {
  const int64_t ta = FromTimestamp(a.times().captured_at()), tb = FromTimestamp(b.times().captured_at());
  if (ta != tb) return ta > tb;
  if (a.tenant_id() != b.tenant_id()) return a.tenant_id() < b.tenant_id();  // std::string: byte order
  return a.egg_id() < b.egg_id();
}

TEST_P(StoreContractTest, InsertThenGetReturnsEveryField) {
  v1::Prediction p = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.96875f, kT0 + 123);
  EXPECT_EQ(Insert({p}, kT0 + 2 * kSec), 1);
  auto got = store_->GetEgg(TenantScope::Only("h-a"), "egg-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals((*got)->prediction, p)) << (*got)->prediction.DebugString();
  EXPECT_EQ((*got)->stored_at_unix_nanos, kT0 + 2 * kSec);

  // Awkward floats and unset stage times come back exactly.
  v1::Prediction q = MakePrediction("h-a", "egg-2", v1::SEX_MALE, v1::DECISION_RECHECK, 0.1f, kT0);
  q.set_keep_threshold(1e-7f);
  q.set_divert_threshold(0.333333343f);
  q.mutable_times()->clear_published_at();
  q.mutable_times()->clear_inferred_at();
  EXPECT_EQ(Insert({q}), 1);
  auto got_q = store_->GetEgg(TenantScope::All(), "egg-2");
  ASSERT_TRUE(got_q.ok() && got_q->has_value()) << got_q.status().ToString();
  EXPECT_TRUE(MessageDifferencer::Equals((*got_q)->prediction, q)) << (*got_q)->prediction.DebugString();

  auto missing = store_->GetEgg(TenantScope::Only("h-a"), "egg-3");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_EQ(store_->GetEgg(TenantScope::Only("h-a"), "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->Count(TenantScope::All()), 2);
  EXPECT_EQ(store_->SchemaVersion(), LatestSchemaVersion());
}

TEST_P(StoreContractTest, DuplicatesAreStoredOnceAndNotCounted) {
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
  EXPECT_EQ(*store_->Count(TenantScope::Only("h-a")), 3);
  EXPECT_FLOAT_EQ((*store_->GetEgg(TenantScope::Only("h-a"), "egg-1"))->prediction.p_female(), 0.95f);
}

TEST_P(StoreContractTest, RedeliveryWithAnotherCaptureTimeKeepsTheFirstRow) {
  // A partitioned backend must not store the copy in another day's partition.
  auto a = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto a_later = MakePrediction("h-a", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + 3 * kDay);
  auto a_earlier = MakePrediction("h-a", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 - 2 * kDay);
  EXPECT_EQ(Insert({a}), 1);
  EXPECT_EQ(Insert({a_later}), 0);
  EXPECT_EQ(Insert({a_earlier, a_later}), 0);
  // In one batch, the first copy wins whatever its day.
  auto b_late = MakePrediction("h-b", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.25f, kT0 + 5 * kDay);
  auto b_early = MakePrediction("h-b", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.75f, kT0 - 5 * kDay);
  EXPECT_EQ(Insert({b_late, b_early}), 1);

  EXPECT_EQ(*store_->Count(TenantScope::All()), 2);
  auto got = store_->GetEgg(TenantScope::Only("h-a"), "egg-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals((*got)->prediction, a));
  got = store_->GetEgg(TenantScope::Only("h-b"), "egg-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_TRUE(MessageDifferencer::Equals((*got)->prediction, b_late));
  EggQuery all;
  all.tenants = TenantScope::All();
  all.limit = 10;
  EXPECT_EQ(EggIds(ListAll(all)), (std::vector<std::string>{"h-b/egg-1", "h-a/egg-1"}));
  EXPECT_EQ(store_->GetStats(test_util::AllStats())->overall.total, 2);
}

TEST_P(StoreContractTest, SameEggUnderTwoTenantsIsTwoRows) {
  auto a = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto b = MakePrediction("h-b", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kSec);
  EXPECT_EQ(Insert({a, b}), 2);
  EXPECT_EQ(*store_->Count(TenantScope::All()), 2);
  EXPECT_EQ(*store_->Count(TenantScope::Only("h-a")), 1);
  EXPECT_EQ(*store_->Count(TenantScope::Only("h-b")), 1);
  EXPECT_EQ(*store_->Count(TenantScope::Only("h-c")), 0);
  EXPECT_EQ((*store_->GetEgg(TenantScope::Only("h-a"), "egg-1"))->prediction.sex(), v1::SEX_FEMALE);
  EXPECT_EQ((*store_->GetEgg(TenantScope::Only("h-b"), "egg-1"))->prediction.sex(), v1::SEX_MALE);
  EXPECT_FALSE(store_->GetEgg(TenantScope::Only("h-c"), "egg-1")->has_value());
  // Any tenant: deterministic, the first by tenant_id.
  EXPECT_EQ((*store_->GetEgg(TenantScope::All(), "egg-1"))->prediction.tenant_id(), "h-a");
  auto only_b = MakePrediction("h-b", "egg-2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0);
  Insert({only_b});
  EXPECT_EQ((*store_->GetEgg(TenantScope::All(), "egg-2"))->prediction.tenant_id(), "h-b");
  EXPECT_FALSE(store_->GetEgg(TenantScope::Only("h-a"), "egg-2")->has_value());
}

// Every read goes through a TenantScope (the store has no other read), and
// a scope lets nothing of another tenant through: not by id, not in a list,
// not in stats, counts or accuracy. The default scope sees nothing.
TEST_P(StoreContractTest, EveryReadSeesOnlyItsScope) {
  ASSERT_EQ(Insert({MakePrediction("h-a", "egg-a", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0),
                    MakePrediction("h-b", "egg-b", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kSec),
                    MakePrediction("h-c", "egg-c", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + 2 * kSec)}),
            3);
  Outcome o;
  o.tenant_id = "h-b";
  o.egg_id = "egg-b";
  o.sex = v1::SEX_MALE;
  o.source = "hatch";
  o.observed_at_unix_nanos = o.recorded_at_unix_nanos = kT0 + 5 * kSec;
  ASSERT_TRUE(store_->RecordOutcome(o).ok());

  auto tenants_seen = [&](const TenantScope& scope) {
    std::set<std::string> seen;
    for (const char* egg : {"egg-a", "egg-b", "egg-c"})
      if (auto e = store_->GetEgg(scope, egg); e.ok() && e->has_value())
        seen.insert("get:" + (*e)->prediction.tenant_id());
    EggQuery q;
    q.tenants = scope;
    for (const auto& s : ListAll(q)) seen.insert("list:" + s.prediction.tenant_id());
    StatsQuery sq;
    sq.tenants = scope;
    auto stats = store_->GetStats(sq);
    auto accuracy = store_->GetAccuracy(sq);
    auto count = store_->Count(scope);
    EXPECT_TRUE(stats.ok() && accuracy.ok() && count.ok())
        << stats.status().ToString() << accuracy.status().ToString() << count.status().ToString();
    if (!stats.ok() || !accuracy.ok() || !count.ok()) return seen;
    for (const auto& t : stats->tenants) seen.insert("stats:" + t.tenant_id);
    for (const auto& a : *accuracy) seen.insert("accuracy:" + a.tenant_id);
    if (*count > 0) seen.insert("count:" + std::to_string(*count));
    return seen;
  };
  EXPECT_EQ(tenants_seen(TenantScope()), std::set<std::string>{});
  EXPECT_EQ(tenants_seen(TenantScope::Only("")), std::set<std::string>{});
  EXPECT_EQ(tenants_seen(TenantScope::Only("h-z")), std::set<std::string>{});
  EXPECT_EQ(tenants_seen(TenantScope::Only("h-a")),
            (std::set<std::string>{"get:h-a", "list:h-a", "stats:h-a", "count:1"}));
  EXPECT_EQ(tenants_seen(TenantScope::Of({"h-b", "h-c"})),
            (std::set<std::string>{"get:h-b", "get:h-c", "list:h-b", "list:h-c", "stats:h-b", "stats:h-c",
                                   "accuracy:h-b", "count:2"}));
  EXPECT_EQ(store_->GetStats(StatsQuery{})->overall.total, 0);
  EXPECT_EQ(store_->GetStats(test_util::AllStats())->overall.total, 3);
}

TEST_P(StoreContractTest, BatchWithAnEmptyIdIsRejectedWhole) {
  auto good = MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto no_egg = MakePrediction("h-a", "", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  auto no_tenant = MakePrediction("", "egg-2", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0);
  for (const auto& bad : {no_egg, no_tenant}) {
    auto n = store_->InsertBatch({good, bad}, kT0);
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(n.status().retryable());
  }
  EXPECT_EQ(*store_->Count(TenantScope::All()), 0);
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

TEST_P(StoreContractTest, ListFiltersEachDimension) {
  const auto data = MixedDataset();
  ASSERT_EQ(Insert(data), 72);
  auto matching = [&](const EggQuery& q) {
    std::set<std::string> ids;
    for (const auto& p : data) {
      const int64_t at = FromTimestamp(p.times().captured_at());
      if (!q.tenants.Contains(p.tenant_id())) continue;
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
          q.tenants = TenantScope::All();
          q.tenants = test_util::TenantOrAll(tenant);
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
    EXPECT_EQ(unique, matching(q)) << "tenants '" << q.tenants.Joined() << "' sex "
                                   << q.sex.value_or(v1::SEX_UNSPECIFIED) << " decision "
                                   << q.decision.value_or(v1::DECISION_UNSPECIFIED);
    EXPECT_FALSE(unique.empty());
  }
  EggQuery rechecks;
  rechecks.tenants = TenantScope::All();
  rechecks.tenants = test_util::TenantOrAll("h-a");
  rechecks.decision = v1::DECISION_RECHECK;
  rechecks.sex = v1::SEX_FEMALE;
  EXPECT_EQ(ListAll(rechecks).size(), 4u);  // i = 2, 8, 14, 20
  EggQuery empty_range;
  empty_range.tenants = TenantScope::All();
  empty_range.from_unix_nanos = empty_range.to_unix_nanos = kT0;
  EXPECT_TRUE(ListAll(empty_range).empty());
  empty_range.to_unix_nanos = kT0 - 1;
  EXPECT_EQ(store_->ListEggs(empty_range).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, PaginationVisitsEveryRowOnceInOrder) {
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
  ASSERT_EQ(*store_->Count(TenantScope::All()), 1050);

  EggQuery q;
  q.tenants = TenantScope::All();
  q.limit = 100;
  int pages = 0;
  auto all = ListAll(q, &pages);
  EXPECT_EQ(pages, 11);
  ASSERT_EQ(all.size(), 1050u);
  auto ids = EggIds(all);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1050u);
  for (std::size_t i = 1; i < all.size(); ++i) {
    ASSERT_TRUE(ListedBefore(all[i - 1].prediction, all[i].prediction))
        << "rows " << i - 1 << " and " << i << " out of order";
  }
  // A single tenant with a limit that divides its rows exactly: no empty last page.
  q.tenants = test_util::TenantOrAll("h-b");  // i % 3 == 0: 350 rows
  q.limit = 50;
  auto b_rows = ListAll(q, &pages);
  EXPECT_EQ(b_rows.size(), 350u);
  EXPECT_EQ(pages, 7);
  q.limit = 1000;
  q.tenants = TenantScope::All();
  EXPECT_EQ(ListAll(q, &pages).size(), 1050u);
  EXPECT_EQ(pages, 2);
}

TEST_P(StoreContractTest, PaginationCrossesDaysAndSeesLateRowsOnce) {
  // 60 eggs a day over 5 UTC days (some captured exactly at midnight), in
  // batches that each span several days.
  std::vector<v1::Prediction> data;
  const int64_t midnight = kT0 - kT0 % kDay;
  for (int day = 0; day < 5; ++day) {
    for (int i = 0; i < 60; ++i) {
      const int64_t at = midnight + day * kDay + (i % 6 == 0 ? 0 : int64_t{i} * 1'000 * kSec);
      data.push_back(MakePrediction(i % 2 ? "h-a" : "h-b", "d" + std::to_string(day) + "-" + std::to_string(i),
                                    i % 3 ? v1::SEX_MALE : v1::SEX_FEMALE, v1::DECISION_RECHECK, 0.5f, at));
    }
  }
  std::vector<v1::Prediction> shuffled = data;
  std::reverse(shuffled.begin(), shuffled.end());
  for (std::size_t i = 0; i < shuffled.size(); i += 70) {
    const auto end = shuffled.begin() + static_cast<std::ptrdiff_t>(std::min(shuffled.size(), i + 70));
    Insert({shuffled.begin() + static_cast<std::ptrdiff_t>(i), end});
  }
  ASSERT_EQ(*store_->Count(TenantScope::All()), 300);

  EggQuery q;
  q.tenants = TenantScope::All();
  q.limit = 45;  // pages straddle midnights
  auto first_page = store_->ListEggs(q);
  ASSERT_TRUE(first_page.ok());
  std::vector<StoredPrediction> seen = first_page->items;
  // Rows captured later than the cursor arrive meanwhile: the next pages
  // neither repeat nor shift; the new rows only show on a new first page.
  Insert({MakePrediction("h-a", "late-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.9f, midnight + 9 * kDay)});
  q.cursor = first_page->next_cursor;
  for (auto& item : ListAll(q)) seen.push_back(std::move(item));
  ASSERT_EQ(seen.size(), 300u);
  std::vector<v1::Prediction> expected = data;
  std::sort(expected.begin(), expected.end(), ListedBefore);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].prediction.egg_id(), expected[i].egg_id()) << "row " << i;
  }
  // A range over two whole days, filtered by sex.
  EggQuery two_days;
  two_days.tenants = TenantScope::All();
  two_days.from_unix_nanos = midnight + kDay;
  two_days.to_unix_nanos = midnight + 3 * kDay;
  two_days.sex = v1::SEX_FEMALE;
  two_days.limit = 7;
  auto range = ListAll(two_days);
  EXPECT_EQ(range.size(), 2u * 20u);
  for (const auto& r : range) {
    EXPECT_TRUE(r.prediction.egg_id().starts_with("d1-") || r.prediction.egg_id().starts_with("d2-"));
  }
}

TEST_P(StoreContractTest, TextSortsByBytesWhateverTheLocale) {
  // Byte order: "B" (0x42) < "a" (0x61) < "b" < "z" < "é" (0xC3 0xA9); a
  // linguistic collation would sort a < B < b < é or ignore case and accents.
  // (Tenant ids are ASCII, common/validation.h; egg ids may be any text.)
  const std::vector<std::string> tenants = {"t-a", "t-B", "t-z", "t-b"};
  const std::vector<std::string> eggs = {"egg-b", "EGG-a", "egg-A", "egg-é", "egg_a", "egg-a"};
  std::vector<v1::Prediction> batch;
  for (const auto& t : tenants) {
    for (const auto& e : eggs) batch.push_back(MakePrediction(t, e, v1::SEX_MALE, v1::DECISION_DIVERT, 0.1f, kT0));
  }
  ASSERT_EQ(Insert(batch), 24);
  std::vector<std::string> expected;
  expected.reserve(batch.size());
  for (const auto& p : batch) expected.push_back(p.tenant_id() + "/" + p.egg_id());
  std::sort(expected.begin(), expected.end(), [](const std::string& a, const std::string& b) {
    const std::size_t sa = a.find('/'), sb = b.find('/');
    const std::string ta = a.substr(0, sa), tb = b.substr(0, sb);
    return ta != tb ? ta < tb : a.substr(sa + 1) < b.substr(sb + 1);
  });
  EggQuery q;
  q.tenants = TenantScope::All();
  q.limit = 5;  // cursors carry these keys across pages
  EXPECT_EQ(EggIds(ListAll(q)), expected);
  EXPECT_EQ((*store_->GetEgg(TenantScope::All(), "egg-é"))->prediction.tenant_id(), "t-B");
  auto stats = store_->GetStats(test_util::AllStats());
  ASSERT_EQ(stats->tenants.size(), 4u);
  EXPECT_EQ(stats->tenants[0].tenant_id, "t-B");
  EXPECT_EQ(stats->tenants[3].tenant_id, "t-z");
}

TEST_P(StoreContractTest, MalformedCursorAndBadLimitAreInvalidArgument) {
  Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0)});
  EggQuery q;
  q.tenants = TenantScope::All();
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

TEST_P(StoreContractTest, StatsAreExactOnAKnownDataset) {
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

  auto stats = store_->GetStats(test_util::AllStats());
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
  b_only.tenants = TenantScope::All();
  b_only.tenants = test_util::TenantOrAll("h-b");
  auto b = store_->GetStats(b_only);
  ASSERT_EQ(b->tenants.size(), 1u);
  EXPECT_EQ(b->overall.total, 2);
  EXPECT_DOUBLE_EQ(b->overall.mean_p_female, 0.5);

  StatsQuery later;  // only b2 was captured at or after kT0 + 1 s
  later.tenants = TenantScope::All();
  later.from_unix_nanos = kT0 + kSec;
  auto l = store_->GetStats(later);
  EXPECT_EQ(l->overall.total, 1);
  EXPECT_EQ(l->overall.male, 1);
  EXPECT_DOUBLE_EQ(l->overall.mean_end_to_end_seconds, 20.0);
  StatsQuery earlier;
  earlier.tenants = TenantScope::All();
  earlier.to_unix_nanos = kT0 + kSec;
  EXPECT_EQ(store_->GetStats(earlier)->overall.total, 5);
  StatsQuery none;
  none.tenants = TenantScope::All();
  none.tenants = test_util::TenantOrAll("h-z");
  auto z = store_->GetStats(none);
  EXPECT_EQ(z->overall.total, 0);
  EXPECT_TRUE(z->tenants.empty());
  StatsQuery backwards;
  backwards.tenants = TenantScope::All();
  backwards.from_unix_nanos = 2;
  backwards.to_unix_nanos = 1;
  EXPECT_EQ(store_->GetStats(backwards).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, ReopenedStoreSeesTheSameRows) {
  Insert({MakePrediction("h-a", "egg-1", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.95f, kT0),
          MakePrediction("h-b", "egg-2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kDay)});
  store_.reset();
  auto reopened = harness_->Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  store_ = std::move(reopened).value();
  EXPECT_EQ(store_->SchemaVersion(), LatestSchemaVersion());
  EXPECT_EQ(*store_->Count(TenantScope::All()), 2);
  EXPECT_EQ(Insert({MakePrediction("h-b", "egg-2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kDay),
                    MakePrediction("h-b", "egg-3", v1::SEX_MALE, v1::DECISION_DIVERT, 0.05f, kT0 + kDay)}),
            1);
}

std::vector<v1::Prediction> Batch(int first, int n) {
  std::vector<v1::Prediction> batch;
  for (int i = first; i < first + n; ++i) {
    batch.push_back(MakePrediction(i % 2 ? "h-a" : "h-b", "egg-" + std::to_string(i),
                                   i % 3 ? v1::SEX_FEMALE : v1::SEX_MALE, v1::DECISION_RECHECK, 0.5f, kT0 + i * kMs));
  }
  return batch;
}

TEST_P(StoreContractTest, ReadersRunWhileTheWriterInserts) {
  // The default pool has 4 reader connections, fewer than the readers here:
  // they also queue for the pool.
  PredictionStore& store = *store_;
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
      if (n.ok())
        writer_new += *n;
      else
        ADD_FAILURE() << n.status().ToString();
    }
    writer_done = true;
  });
  std::vector<std::thread> readers;
  readers.reserve(kReaders);
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
        auto count = store.Count(TenantScope::All());
        if (!count.ok())
          fail(count.status());
        else if (*count < last_count)
          ++regressions;  // committed rows never disappear
        else
          last_count = *count;
        EggQuery q;
        q.tenants = TenantScope::All();
        q.tenants = test_util::TenantOrAll(r % 2 ? "h-a" : "");
        q.limit = 50;
        auto page = store.ListEggs(q);
        if (!page.ok()) fail(page.status());
        auto egg = store.GetEgg(test_util::TenantOrAll(r % 2 ? "h-a" : ""), "egg-" + std::to_string(i * 7 + 1));
        if (!egg.ok()) fail(egg.status());
        auto stats = store.GetStats(test_util::AllStats());
        if (!stats.ok())
          fail(stats.status());
        else if (stats->overall.total != stats->overall.female + stats->overall.male)
          ++regressions;
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
  EXPECT_EQ(*store.Count(TenantScope::All()), kBatches * kBatchSize);
  EXPECT_EQ(*store.Count(TenantScope::Only("h-a")), kBatches * kBatchSize / 2);
  auto stats = store.GetStats(test_util::AllStats());
  EXPECT_EQ(stats->overall.recheck, kBatches * kBatchSize);
}

TEST_P(StoreContractTest, TwoStoresOnOneDatabaseStoreEachEggOnce) {
  // Two writers (two processes in production) with overlapping batches.
  auto other = harness_->Open();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  std::atomic<int64_t> inserted{0};
  auto write = [&](PredictionStore* store, int offset) {
    for (int i = 0; i < 20; ++i) {
      for (int attempt = 0;; ++attempt) {
        auto n = store->InsertBatch(Batch(i * 50 + offset, 50), kT0);
        if (n.ok()) {
          inserted += *n;
          break;
        }
        // Busy (SQLite) or a deadlock between the two (PostgreSQL): retry, as the store writer does.
        ASSERT_TRUE(n.status().retryable() && attempt < 50) << n.status().ToString();
      }
    }
  };
  std::thread ta(write, store_.get(), 0);
  std::thread tb(write, other->get(), 25);
  ta.join();
  tb.join();
  EXPECT_EQ(inserted.load(), 20 * 50 + 25);
  EXPECT_EQ(*store_->Count(TenantScope::All()), 20 * 50 + 25);
  EXPECT_EQ(*(*other)->Count(TenantScope::All()), 20 * 50 + 25);
}

}  // namespace
}  // namespace ovoflow::store::test_util
