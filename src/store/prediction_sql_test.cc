#include "store/prediction_sql.h"

#include <gtest/gtest.h>

#include <cmath>

#include <google/protobuf/util/message_differencer.h>

#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

using google::protobuf::util::MessageDifferencer;

// A row held in memory, as a backend would return it.
class FakeRow final : public RowReader {
 public:
  explicit FakeRow(std::vector<SqlValue> values) : values_(std::move(values)) {}
  int64_t Int(int c) const override { return std::get<int64_t>(values_.at(static_cast<std::size_t>(c))); }
  double Real(int c) const override { return std::get<double>(values_.at(static_cast<std::size_t>(c))); }
  std::string Text(int c) const override { return std::get<std::string>(values_.at(static_cast<std::size_t>(c))); }

 private:
  std::vector<SqlValue> values_;
};

TEST(PredictionSqlTest, RowRoundTripKeepsEveryField) {
  v1::Prediction p =
      test_util::MakePrediction("t1", "egg-1", v1::SEX_MALE, v1::DECISION_DIVERT, 0.0625f, 1'764'000'000'123'456'789);
  auto params = InsertPredictionParams(p, 1'764'000'001'000'000'000);
  ASSERT_EQ(params.size(), static_cast<std::size_t>(kPredictionColumnCount));
  StoredPrediction back = PredictionFromRow(FakeRow(params));
  EXPECT_TRUE(MessageDifferencer::Equals(back.prediction, p)) << back.prediction.DebugString();
  EXPECT_EQ(back.stored_at_unix_nanos, 1'764'000'001'000'000'000);
}

TEST(PredictionSqlTest, UnsetStageTimesStayUnset) {
  v1::Prediction p;
  p.set_tenant_id("t");
  p.set_egg_id("e");
  *p.mutable_times()->mutable_captured_at() = ToTimestamp(5);
  StoredPrediction back = PredictionFromRow(FakeRow(InsertPredictionParams(p, 9)));
  EXPECT_TRUE(MessageDifferencer::Equals(back.prediction, p)) << back.prediction.DebugString();
  EXPECT_FALSE(back.prediction.times().has_published_at());
}

TEST(PredictionSqlTest, PlaceholdersFollowTheDialect) {
  EXPECT_NE(InsertPredictionSql(SqlDialect::kSqlite).find("?19)"), std::string::npos);
  EXPECT_NE(InsertPredictionSql(SqlDialect::kPostgres).find("$19)"), std::string::npos);
  EXPECT_NE(InsertPredictionSql(SqlDialect::kPostgres).find("ON CONFLICT (tenant_id, egg_id) DO NOTHING"),
            std::string::npos);

  EggQuery q;
  q.tenants = TenantScope::All();
  q.tenants = test_util::TenantOrAll("t");
  q.decision = v1::DECISION_RECHECK;
  CursorKey after{100, "t", "egg-9"};
  SqlQuery list = BuildListEggsQuery(SqlDialect::kPostgres, q, &after, 51);
  // tenant, decision, cursor (at, tenant, egg), limit; cursor values bound once.
  ASSERT_EQ(list.params.size(), 6u);
  EXPECT_EQ(std::get<std::string>(list.params[0]), "t");
  EXPECT_EQ(std::get<int64_t>(list.params[1]), v1::DECISION_RECHECK);
  EXPECT_EQ(std::get<int64_t>(list.params[2]), 100);
  EXPECT_EQ(std::get<int64_t>(list.params[5]), 51);
  EXPECT_NE(list.sql.find("captured_at_ns <= $3"), std::string::npos) << list.sql;
  EXPECT_NE(list.sql.find("(captured_at_ns < $3 OR tenant_id > $4 OR (tenant_id = $4 AND egg_id > $5))"),
            std::string::npos)
      << list.sql;
  EXPECT_NE(list.sql.find("ORDER BY captured_at_ns DESC, tenant_id, egg_id LIMIT $6"), std::string::npos);
  EXPECT_EQ(list.sql.find('?'), std::string::npos);
}

TEST(PredictionSqlTest, OptionalFiltersAddOnlyTheirConditions) {
  EggQuery everyone;
  everyone.tenants = TenantScope::All();
  SqlQuery all = BuildListEggsQuery(SqlDialect::kSqlite, everyone, nullptr, 101);
  EXPECT_EQ(all.sql.find("WHERE"), std::string::npos) << all.sql;
  ASSERT_EQ(all.params.size(), 1u);
  // No tenant in scope: a condition no row meets, never "no condition".
  SqlQuery nobody = BuildListEggsQuery(SqlDialect::kSqlite, EggQuery{}, nullptr, 101);
  EXPECT_NE(nobody.sql.find("WHERE 1 = 0"), std::string::npos) << nobody.sql;
  EggQuery two;
  two.tenants = TenantScope::Of({"a", "b"});
  SqlQuery both = BuildListEggsQuery(SqlDialect::kPostgres, two, nullptr, 101);
  EXPECT_NE(both.sql.find("WHERE tenant_id IN ($1, $2)"), std::string::npos) << both.sql;

  StatsQuery sq;
  sq.tenants = TenantScope::All();
  sq.from_unix_nanos = 10;
  sq.to_unix_nanos = 20;
  SqlQuery stats = BuildStatsQuery(SqlDialect::kSqlite, sq);
  EXPECT_NE(stats.sql.find("WHERE captured_at_ns >= ?1 AND captured_at_ns < ?2 GROUP BY tenant_id"), std::string::npos)
      << stats.sql;
  EXPECT_EQ(BuildCountQuery(SqlDialect::kSqlite, TenantScope::All()).sql, "SELECT COUNT(*) FROM predictions");
  EXPECT_EQ(BuildCountQuery(SqlDialect::kPostgres, TenantScope::Only("t")).sql,
            "SELECT COUNT(*) FROM predictions WHERE tenant_id = $1");
}

TEST(PredictionSqlTest, StatsFromSumsWeightsMeansByRows) {
  std::vector<TenantSums> sums = {
      {"a", 2, 1, 1, 1, 1, 0, 1.0, 4e9},  // mean p 0.5, mean e2e 2 s
      {"b", 6, 6, 0, 3, 0, 3, 4.5, 6e9},  // mean p 0.75, mean e2e 1 s
  };
  Stats s = StatsFromSums(sums);
  ASSERT_EQ(s.tenants.size(), 2u);
  EXPECT_EQ(s.tenants[0].tenant_id, "a");
  EXPECT_DOUBLE_EQ(s.tenants[0].counts.mean_p_female, 0.5);
  EXPECT_DOUBLE_EQ(s.tenants[0].counts.mean_end_to_end_seconds, 2.0);
  EXPECT_DOUBLE_EQ(s.tenants[1].counts.mean_p_female, 0.75);
  EXPECT_EQ(s.overall.total, 8);
  EXPECT_EQ(s.overall.female, 7);
  EXPECT_EQ(s.overall.male, 1);
  EXPECT_EQ(s.overall.keep, 4);
  EXPECT_EQ(s.overall.divert, 1);
  EXPECT_EQ(s.overall.recheck, 3);
  EXPECT_DOUBLE_EQ(s.overall.mean_p_female, 5.5 / 8);
  EXPECT_DOUBLE_EQ(s.overall.mean_end_to_end_seconds, 10.0 / 8);
  Stats empty = StatsFromSums({});
  EXPECT_EQ(empty.overall.total, 0);
  EXPECT_EQ(empty.overall.mean_p_female, 0.0);
}

TEST(PredictionSqlTest, ArgumentChecks) {
  EggQuery q;
  q.tenants = TenantScope::All();
  for (int limit : {0, -1, 1001}) {
    q.limit = limit;
    EXPECT_EQ(CheckEggQuery(q).code(), StatusCode::kInvalidArgument) << limit;
  }
  for (int limit : {1, 100, 1000}) {
    q.limit = limit;
    EXPECT_TRUE(CheckEggQuery(q).ok()) << limit;
  }
  q.from_unix_nanos = 10;
  q.to_unix_nanos = 9;
  EXPECT_EQ(CheckEggQuery(q).code(), StatusCode::kInvalidArgument);
  q.to_unix_nanos = 10;  // empty range, allowed
  EXPECT_TRUE(CheckEggQuery(q).ok());
}

// Both backends refuse exactly what common/validation.h refuses, with the
// record's position in the batch (the rules themselves: validation_test.cc).
TEST(PredictionSqlTest, CheckInsertBatchNamesTheFirstRecordNeitherBackendStores) {
  auto good =
      test_util::MakePrediction("h-a", "egg-é", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.75f, 1'700'000'000'000'000'000);
  EXPECT_TRUE(CheckInsertBatch({good, good}).ok());
  auto nul = good;
  nul.set_scanner_id(std::string("scan\0ner", 8));
  auto bad_utf8 = good;
  bad_utf8.set_worker_id("w\xC3");
  auto no_egg = good;
  no_egg.clear_egg_id();
  auto nan = good;
  nan.set_p_female(std::nanf(""));
  const std::pair<v1::Prediction, std::string> cases[] = {
      {nul, "scanner_id contains a NUL byte at offset 4"},
      {bad_utf8, "worker_id is not valid UTF-8 at offset 1"},
      {no_egg, "egg_id is empty"},
      {nan, "p_female must be a finite number in [0, 1]"},
  };
  for (const auto& [p, want] : cases) {
    Status st = CheckInsertBatch({good, p});
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("prediction #1 (egg_id '" + p.egg_id() + "'): " + want), std::string::npos)
        << st.message();
  }
}

}  // namespace
}  // namespace ovoflow::store
