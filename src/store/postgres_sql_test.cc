// The PostgreSQL backend's SQL and text encodings, without a server.
#include "store/postgres_sql.h"

#include <gtest/gtest.h>

#include <limits>

#include "store/migrations.h"
#include "store/postgres_partitions.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z
constexpr int64_t kDayNs = 86'400'000'000'000;

TEST(PostgresSqlTest, ArrayLiteralsQuoteEveryString) {
  EXPECT_EQ(PgArrayLiteral({}), "{}");
  EXPECT_EQ(PgArrayLiteral({std::string("a"), std::string(""), std::string("NULL")}), R"({"a","","NULL"})");
  EXPECT_EQ(PgArrayLiteral({std::string(R"(q"uo\te)"), std::string("{,} é")}), R"({"q\"uo\\te","{,} é"})");
  EXPECT_EQ(PgArrayLiteral({int64_t{-1}, int64_t{0}, std::numeric_limits<int64_t>::max()}),
            "{-1,0,9223372036854775807}");
  EXPECT_EQ(PgArrayLiteral({0.5, std::numeric_limits<double>::infinity()}), "{0.5,Infinity}");
}

TEST(PostgresSqlTest, DoublesAreShortestExact) {
  EXPECT_EQ(PgText(0.96875), "0.96875");
  EXPECT_EQ(PgText(static_cast<double>(0.1f)), "0.10000000149011612");
  EXPECT_EQ(PgText(1e-7), "1e-07");
  EXPECT_EQ(PgText(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(PgText(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(PgText(int64_t{-42}), "-42");
  EXPECT_EQ(PgText(std::string("x")), "x");
}

TEST(PostgresSqlTest, DaysAndPartitionNamesAreUtc) {
  EXPECT_EQ(UtcDay(0), 0);
  EXPECT_EQ(UtcDay(kDayNs - 1), 0);
  EXPECT_EQ(UtcDay(kDayNs), 1);
  EXPECT_EQ(UtcDay(-1), -1);
  EXPECT_EQ(UtcDay(-kDayNs), -1);
  EXPECT_EQ(UtcDay(-kDayNs - 1), -2);
  EXPECT_EQ(PartitionName(UtcDay(kT0)), "predictions_d20251124");
  EXPECT_EQ(PartitionName(0), "predictions_d19700101");
  EXPECT_EQ(PartitionName(-1), "predictions_d19691231");
  EXPECT_EQ(PartitionName(UtcDay(std::numeric_limits<int64_t>::max())), "predictions_d22620411");
  EXPECT_EQ(PartitionName(UtcDay(std::numeric_limits<int64_t>::min())), "predictions_d16770921");
  for (int64_t day : {int64_t{-106752}, int64_t{-1}, int64_t{0}, UtcDay(kT0), int64_t{106751}}) {
    EXPECT_EQ(PartitionDay(PartitionName(day)), day) << day;
  }
  for (const char* name : {"predictions", "predictions_d2025112", "predictions_d20251324", "predictions_d2025x124",
                           "egg_keys", "predictions_d20250230"}) {
    EXPECT_FALSE(PartitionDay(name).has_value()) << name;
  }
}

TEST(PostgresSqlTest, PartitionBoundsCoverTheDayAndNeverOverflow) {
  const int64_t day = UtcDay(kT0);
  auto sql = CreatePartitionSql(day);
  ASSERT_EQ(sql.size(), 2u);
  EXPECT_EQ(sql[0],
            "CREATE TABLE IF NOT EXISTS predictions_d20251124 (LIKE predictions INCLUDING DEFAULTS INCLUDING "
            "CONSTRAINTS)");
  EXPECT_EQ(sql[1], "ALTER TABLE predictions ATTACH PARTITION predictions_d20251124 FOR VALUES FROM (" +
                        std::to_string(day * kDayNs) + ") TO (" + std::to_string((day + 1) * kDayNs) + ")");
  EXPECT_NE(CreatePartitionSql(UtcDay(std::numeric_limits<int64_t>::max()))[1].find("TO (MAXVALUE)"),
            std::string::npos);
  EXPECT_NE(CreatePartitionSql(UtcDay(std::numeric_limits<int64_t>::min()))[1].find("FROM (MINVALUE)"),
            std::string::npos);
  EXPECT_NE(CreatePartitionSql(-1)[1].find("FROM (-86400000000000) TO (0)"), std::string::npos);
}

TEST(PostgresSqlTest, InsertBatchIsOneStatementOverColumnArrays) {
  const std::string& sql = PgInsertBatchSql();
  EXPECT_NE(sql.find("unnest($1::text[], $2::text[]"), std::string::npos) << sql;
  EXPECT_NE(sql.find("$19::text[]) WITH ORDINALITY"), std::string::npos) << sql;
  EXPECT_NE(sql.find("$18::bigint, f.worker_id"), std::string::npos) << sql;
  EXPECT_NE(sql.find("ON CONFLICT (tenant_id, egg_id) DO NOTHING RETURNING tenant_id, egg_id"), std::string::npos);
  EXPECT_EQ(sql.find("$20"), std::string::npos);

  auto a = test_util::MakePrediction("h-a", "egg-\"1\"", v1::SEX_FEMALE, v1::DECISION_KEEP, 0.75f, kT0);
  auto b = test_util::MakePrediction("h-b", "egg-2", v1::SEX_MALE, v1::DECISION_DIVERT, 0.25f, kT0 + 1);
  b.mutable_times()->clear_published_at();
  auto params = PgInsertBatchParams({a, b}, 99);
  ASSERT_EQ(params.size(), static_cast<std::size_t>(kPredictionColumnCount));
  EXPECT_EQ(std::get<std::string>(params[kColTenantId]), R"({"h-a","h-b"})");
  EXPECT_EQ(std::get<std::string>(params[kColEggId]), R"({"egg-\"1\"","egg-2"})");
  EXPECT_EQ(std::get<std::string>(params[kColSex]), "{1,2}");
  EXPECT_EQ(std::get<std::string>(params[kColPFemale]), "{0.75,0.25}");
  EXPECT_EQ(std::get<std::string>(params[kColCapturedAtNs]),
            "{" + std::to_string(kT0) + "," + std::to_string(kT0 + 1) + "}");
  EXPECT_EQ(std::get<std::string>(params[kColPublishedAtNs]), "{" + std::to_string(kT0 + 1'000'000) + ",0}");
  EXPECT_EQ(std::get<int64_t>(params[kColStoredAtNs]), 99);
}

TEST(PostgresSqlTest, GetEggGoesThroughEggKeys) {
  SqlQuery any = BuildPgGetEggQuery(TenantScope::All(), "egg-1");
  ASSERT_EQ(any.params.size(), 1u);
  EXPECT_NE(any.sql.find("FROM egg_keys WHERE egg_id = $1 ORDER BY tenant_id LIMIT 1"), std::string::npos) << any.sql;
  EXPECT_NE(any.sql.find("SELECT p.tenant_id, p.egg_id, p.scanner_id"), std::string::npos) << any.sql;
  SqlQuery one = BuildPgGetEggQuery(TenantScope::Only("h-a"), "egg-1");
  ASSERT_EQ(one.params.size(), 2u);
  EXPECT_EQ(std::get<std::string>(one.params[1]), "h-a");
  EXPECT_NE(one.sql.find("egg_id = $1 AND tenant_id = $2"), std::string::npos) << one.sql;
  EXPECT_NE(one.sql.find("captured_at_ns = k.captured_at_ns"), std::string::npos) << one.sql;
}

TEST(PostgresSqlTest, UrlsHideThePasswordAndGetDefaults) {
  EXPECT_EQ(RedactPgUrl("postgresql://ovo:s3cr@t@db:5432/ovoflow"), "postgresql://ovo:***@db:5432/ovoflow");
  EXPECT_EQ(RedactPgUrl("postgres://ovo@db/ovoflow"), "postgres://ovo@db/ovoflow");
  EXPECT_EQ(RedactPgUrl("postgresql://db/ovoflow?user=ovo&password=x&sslmode=require"),
            "postgresql://db/ovoflow?user=ovo&password=***&sslmode=require");
  EXPECT_EQ(RedactPgUrl("postgresql:///ovoflow?host=/run/pg"), "postgresql:///ovoflow?host=/run/pg");

  EXPECT_EQ(PgUrlWithDefaults("postgresql://db/ovoflow", 5),
            "postgresql://db/ovoflow?connect_timeout=5&application_name=ovoflow-store");
  EXPECT_EQ(PgUrlWithDefaults("postgresql://db/ovoflow?sslmode=require&connect_timeout=30", 5),
            "postgresql://db/ovoflow?sslmode=require&connect_timeout=30&application_name=ovoflow-store");
  EXPECT_EQ(PgUrlWithDefaults("postgresql://db/o?application_name=x", 2),
            "postgresql://db/o?application_name=x&connect_timeout=2");
}

TEST(PostgresSqlTest, MigrationListsMatchSqliteVersionsAndNames) {
  const auto& sqlite = PredictionMigrations();
  const auto& pg = PostgresPredictionMigrations();
  EXPECT_TRUE(CheckMigrationList(pg).empty()) << CheckMigrationList(pg);
  ASSERT_EQ(pg.size(), sqlite.size()) << "a migration was appended to one list only";
  for (std::size_t i = 0; i < pg.size(); ++i) {
    EXPECT_EQ(pg[i].version, sqlite[i].version);
    EXPECT_EQ(pg[i].name, sqlite[i].name);
  }
  EXPECT_NE(pg[0].sql.find("tenant_id TEXT COLLATE \"C\" NOT NULL"), std::string::npos);
  EXPECT_NE(pg[0].sql.find("egg_id TEXT COLLATE \"C\" NOT NULL"), std::string::npos);
  EXPECT_NE(pg[0].sql.find("PARTITION BY RANGE (captured_at_ns)"), std::string::npos);
}

TEST(PostgresSqlTest, AppliedMigrationsAreCheckedAgainstTheList) {
  const auto& list = PostgresPredictionMigrations();
  EXPECT_EQ(CheckAppliedMigrations({}, list, "db"), "");
  EXPECT_EQ(CheckAppliedMigrations({{1, "create_predictions"}}, list, "db"), "");
  EXPECT_NE(CheckAppliedMigrations({{1, "create_predictions"},
                                    {2, "predictions_query_indexes"},
                                    {3, "create_outcomes"},
                                    {4, "row_level_security"},
                                    {5, "x"}},
                                   list, "db")
                .find("database 'db' has schema version 5, newer than this build knows (4)"),
            std::string::npos);
  EXPECT_NE(CheckAppliedMigrations({{1, "other"}}, list, "db").find("records migration 1 as 'other'"),
            std::string::npos);
  EXPECT_NE(CheckAppliedMigrations({{2, "predictions_query_indexes"}}, list, "db").find("gaps"), std::string::npos);
}

TEST(PostgresSqlTest, NewPartitionsAreAnalyzedAsTheyGrow) {
  DayPartitions partitions(1000);
  EXPECT_EQ(partitions.NoteRows({{1, 999}, {2, 500}}), std::vector<int64_t>{});
  EXPECT_EQ(partitions.NoteRows({{1, 1}, {2, 499}}), std::vector<int64_t>{1});
  EXPECT_EQ(partitions.NoteRows({{1, 1}, {2, 1}}), (std::vector<int64_t>{2}));
  EXPECT_EQ(partitions.NoteRows({{1, 20'000}}), std::vector<int64_t>{1});  // crossed 10,000 (once)
  EXPECT_EQ(partitions.NoteRows({{1, 2'000'000}}), std::vector<int64_t>{1});
  EXPECT_EQ(partitions.NoteRows({{1, 1'000'000}}), std::vector<int64_t>{});  // autovacuum's job from here
}

}  // namespace
}  // namespace ovoflow::store
