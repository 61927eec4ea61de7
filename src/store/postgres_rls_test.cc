// Tenant isolation inside PostgreSQL (migration 4): row-level security on
// every tenant table, forced, on the transaction's ovoflow.tenant_ids, for
// the application role ovoflow_app. Plain SQL through libpqxx as the roles
// a deployment uses, so a bug in the store's own filters could not hide it.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "store/postgres_store.h"
#include "store/postgres_test_util.h"
#include "store/store_test_util.h"

namespace ovoflow::store {
namespace {

using test_util::kPgT0;
using test_util::PgAdmin;
using test_util::PgBatch;
using test_util::PgStoreTest;
using test_util::PgTestUrl;

// `url` with its user replaced by `user` (trust authentication on the test server).
std::string AsUser(const std::string& url, const std::string& user) {
  const std::size_t authority = url.find("://") + 3;
  const std::size_t at = url.find('@', authority);
  return url.substr(0, authority) + user + (at == std::string::npos ? "@" + url.substr(authority) : url.substr(at));
}

class PgRlsTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    const std::string suffix = std::to_string(::getpid());
    app_ = "ovoflow_rls_app_" + suffix;
    probe_ = "ovoflow_rls_probe_" + suffix;
    PgAdmin server(db_->server_url());
    for (const auto& role : {app_, probe_}) server.Exec("DROP ROLE IF EXISTS " + role);
    // Migrated as the owner (the test server's superuser), with rows of two tenants.
    auto owner = OpenOk();
    ASSERT_NE(owner, nullptr);
    ASSERT_EQ(*owner->InsertBatch(PgBatch(0, 10), kPgT0), 10);  // eggs 0..9: odd h-a, even h-b
    Outcome o;
    o.tenant_id = "h-b";
    o.egg_id = "egg-0";
    o.sex = v1::SEX_MALE;
    o.source = "hatch";
    o.observed_at_unix_nanos = o.recorded_at_unix_nanos = kPgT0;
    ASSERT_TRUE(owner->RecordOutcome(o).ok());
    // A login role as deployments make it, and a probe with UPDATE and
    // DELETE granted too: row-level security alone must stop it.
    server.Exec("CREATE ROLE " + app_ + " LOGIN IN ROLE ovoflow_app");
    server.Exec("CREATE ROLE " + probe_ + " LOGIN IN ROLE ovoflow_app");
    Admin().Exec("GRANT UPDATE, DELETE ON predictions, egg_keys, outcomes TO " + probe_);
  }
  void TearDown() override {
    PgStoreTest::TearDown();  // drops the database, and with it the grants
    PgAdmin server(PgTestUrl());
    for (const auto& role : {app_, probe_}) server.Exec("DROP ROLE IF EXISTS " + role);
  }
  // Runs `sql` as `role` in one transaction after setting ovoflow.tenant_ids
  // to `tenants` (nullptr: not set at all); the affected or returned rows.
  long Rows(const std::string& role, const char* tenants, const std::string& sql) {
    pqxx::connection c(AsUser(db_->url(), role));
    pqxx::work tx(c);
    if (tenants) tx.exec_params("SELECT set_config('ovoflow.tenant_ids', $1, true)", tenants);
    pqxx::result r = tx.exec(sql);
    tx.commit();
    return r.columns() > 0 ? static_cast<long>(r.size()) : static_cast<long>(r.affected_rows());
  }
  long Count(const std::string& role, const char* tenants, const std::string& table, const std::string& where = "") {
    pqxx::connection c(AsUser(db_->url(), role));
    pqxx::work tx(c);
    if (tenants) tx.exec_params("SELECT set_config('ovoflow.tenant_ids', $1, true)", tenants);
    return tx.exec1("SELECT count(*) FROM " + table + (where.empty() ? "" : " WHERE " + where))[0].as<long>();
  }

  std::string app_, probe_;
};

TEST_F(PgRlsTest, EveryTenantTableForcesRowLevelSecurity) {
  EXPECT_EQ(Admin().Rows("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
                         " WHERE relname IN ('predictions', 'egg_keys', 'outcomes') ORDER BY relname"),
            "egg_keys|t|t\noutcomes|t|t\npredictions|t|t\n");
  EXPECT_EQ(Admin().Value("SELECT count(*) FROM pg_policies WHERE policyname = 'tenant_isolation'"), "3");
  // The application role: no superuser, no BYPASSRLS, no UPDATE or DELETE.
  EXPECT_EQ(Admin().Value("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'ovoflow_app'"), "f");
  EXPECT_EQ(Admin().Value("SELECT has_table_privilege('ovoflow_app', 'predictions', 'UPDATE') OR "
                          "has_table_privilege('ovoflow_app', 'outcomes', 'DELETE')"),
            "f");
}

TEST_F(PgRlsTest, WithNothingSetTheAppRoleSeesNothing) {
  for (const char* table : {"predictions", "egg_keys", "outcomes"}) {
    EXPECT_EQ(Count(app_, nullptr, table), 0) << table;
    EXPECT_EQ(Count(app_, "", table), 0) << table;
    EXPECT_EQ(Count(probe_, nullptr, table), 0) << table;
  }
  EXPECT_EQ(Rows(probe_, nullptr, "UPDATE predictions SET p_female = 0"), 0);
  EXPECT_EQ(Rows(probe_, nullptr, "DELETE FROM outcomes"), 0);
  EXPECT_EQ(Admin().Value("SELECT set_config('ovoflow.tenant_ids', '*', false); SELECT count(*) FROM outcomes"), "1");
}

TEST_F(PgRlsTest, WithTenantASetTenantBRowsAreUntouchable) {
  EXPECT_EQ(Count(app_, "h-a", "predictions"), 5);
  EXPECT_EQ(Count(app_, "h-a", "predictions", "tenant_id = 'h-b'"), 0);
  EXPECT_EQ(Count(app_, "h-a", "egg_keys", "tenant_id = 'h-b'"), 0);
  EXPECT_EQ(Count(app_, "h-a", "outcomes"), 0);
  // Even with UPDATE and DELETE granted, tenant B's rows are not there.
  EXPECT_EQ(Rows(probe_, "h-a", "UPDATE predictions SET p_female = 0 WHERE tenant_id = 'h-b'"), 0);
  EXPECT_EQ(Rows(probe_, "h-a", "DELETE FROM outcomes WHERE tenant_id = 'h-b'"), 0);
  EXPECT_EQ(Rows(probe_, "h-a", "DELETE FROM egg_keys WHERE tenant_id = 'h-b'"), 0);
  EXPECT_EQ(Rows(probe_, "h-a", "SELECT * FROM predictions WHERE egg_id = 'egg-1' AND tenant_id <> 'h-a'"), 0);
  // Nor can a row be written for B, or moved to B.
  EXPECT_THROW(Rows(app_, "h-a", "INSERT INTO egg_keys (tenant_id, egg_id, captured_at_ns) VALUES ('h-b', 'x', 1)"),
               pqxx::sql_error);
  EXPECT_THROW(Rows(probe_, "h-a", "UPDATE predictions SET tenant_id = 'h-b' WHERE tenant_id = 'h-a'"),
               pqxx::sql_error);
  // The application role itself may not update or delete at all.
  EXPECT_THROW(Rows(app_, "h-a", "UPDATE predictions SET p_female = 0 WHERE tenant_id = 'h-a'"), pqxx::sql_error);
  // Tenant B's rows are all still there.
  EXPECT_EQ(Count(app_, "h-b", "predictions"), 5);
  EXPECT_EQ(Count(app_, "h-b", "outcomes"), 1);
  EXPECT_EQ(Count(app_, "h-a,h-b", "predictions"), 10);
}

TEST_F(PgRlsTest, TheStoreRunsAsTheAppRoleWithinItsScope) {
  PostgresOptions o = options_;
  o.url = AsUser(db_->url(), app_);
  auto store = PostgresStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // A new day: the partition comes through ovoflow_create_partition.
  const int64_t next_day = kPgT0 + 86'400'000'000'000LL;
  ASSERT_EQ(*(*store)->InsertBatch(PgBatch(100, 2, next_day), next_day), 2);
  EXPECT_EQ(*(*store)->Count(TenantScope::Only("h-a")), 6);
  EXPECT_EQ(*(*store)->Count(TenantScope()), 0);
  EXPECT_TRUE((*store)->GetEgg(TenantScope::Only("h-a"), "egg-101")->has_value());
  EXPECT_FALSE((*store)->GetEgg(TenantScope::Only("h-a"), "egg-100")->has_value());  // h-b's
  auto stats = (*store)->GetStats(test_util::AllStats());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->overall.total, 12);
}

}  // namespace
}  // namespace ovoflow::store
