// Test-only access to the PostgreSQL server the integration tests run on
// (CTest starts it with scripts/pg and passes OVOFLOW_TEST_PG_URL): a raw
// libpqxx connection for checks the store does not expose, one fresh
// database per test case, and the fixture of the postgres_*_test.cc files.
// Header-only; tests link libpqxx themselves.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "store/postgres_store.h"
#include "store/store_test_util.h"

namespace ovoflow::store::test_util {

// The server's URL (a database that exists, e.g. .../ovoflow), or "" with a
// test failure saying how to provide one.
inline std::string PgTestUrl() {
  std::string url = EnvOr("OVOFLOW_TEST_PG_URL", "");
  if (url.empty()) {
    ADD_FAILURE() << "OVOFLOW_TEST_PG_URL is not set. Run this test through ctest (it starts PostgreSQL with "
                     "scripts/pg), or: scripts/pg start && OVOFLOW_TEST_PG_URL=$(scripts/pg url) "
                  << "build/src/store/postgres_store_test";
    return {};
  }
  return url;
}

// `url` with its database replaced by `database` (parameters kept).
inline std::string PgUrlForDatabase(const std::string& url, const std::string& database) {
  const std::size_t query = url.find('?');
  const std::string base = url.substr(0, query);
  const std::size_t authority = base.find("://") + 3;
  const std::size_t slash = base.find('/', authority);
  return (slash == std::string::npos ? base : base.substr(0, slash)) + "/" + database +
         (query == std::string::npos ? "" : url.substr(query));
}

// A plain connection (autocommit) for setup and checks.
class PgAdmin {
 public:
  explicit PgAdmin(const std::string& url) : conn_(url) {}

  void Exec(const std::string& sql) {
    pqxx::nontransaction tx(conn_);
    tx.exec(sql);
  }
  // Rows as "a|b|c" lines, like the sqlite3 shell.
  std::string Rows(const std::string& sql) {
    pqxx::nontransaction tx(conn_);
    std::string out;
    for (const pqxx::row& row : tx.exec(sql)) {
      for (pqxx::row::size_type i = 0; i < row.size(); ++i) out += (i ? "|" : "") + std::string(row[i].c_str());
      out += "\n";
    }
    return out;
  }
  // The first column of the first row.
  std::string Value(const std::string& sql) {
    pqxx::nontransaction tx(conn_);
    return tx.exec1(sql)[0].c_str();
  }

 private:
  pqxx::connection conn_;
};

// One new database per test case, dropped at the end: tests never see each
// other's rows or partitions. Its default collation is ICU "en-US" where
// the server has ICU, so text that sorts by bytes proves COLLATE "C".
class PgTestDatabase {
 public:
  // Creates the database; url() is empty (and the test failed) on error.
  explicit PgTestDatabase(const std::string& test_name) {
    server_url_ = PgTestUrl();
    if (server_url_.empty()) return;
    static std::atomic<int> counter{0};
    std::string name = "t_";
    for (char c : test_name.substr(0, 32)) {
      const auto u = static_cast<unsigned char>(c);
      name += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
    }
    name_ = name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    try {
      PgAdmin admin(server_url_);
      admin.Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
      try {
        admin.Exec("CREATE DATABASE " + name_ +
                   " TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'");
      } catch (const pqxx::sql_error&) {  // a server without ICU
        admin.Exec("CREATE DATABASE " + name_);
      }
      url_ = PgUrlForDatabase(server_url_, name_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot create test database " << name_ << " on " << server_url_ << ": " << e.what();
    }
  }
  ~PgTestDatabase() {
    if (url_.empty()) return;
    try {
      PgAdmin(server_url_).Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
    }
  }
  PgTestDatabase(const PgTestDatabase&) = delete;
  PgTestDatabase& operator=(const PgTestDatabase&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  const std::string& server_url() const { return server_url_; }

 private:
  std::string server_url_;
  std::string name_;
  std::string url_;
};

inline constexpr int64_t kPgT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z

// Wall time frozen at kPgT0 (for applied_at); monotonic time runs.
class PgFixedClock final : public Clock {
 public:
  int64_t NowUnixNanos() const override { return kPgT0; }
  int64_t MonotonicNanos() const override { return SystemClock().MonotonicNanos(); }
};

// A fresh database per test and PostgresOptions pointing at it.
class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<PgTestDatabase>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_FALSE(db_->url().empty());
    options_.url = db_->url();
    options_.clock = &clock_;
  }
  void TearDown() override { db_.reset(); }

  Result<std::unique_ptr<PostgresStore>> Open(const std::vector<Migration>* migrations = nullptr) {
    PostgresOptions o = options_;
    o.migrations = migrations;
    return PostgresStore::Open(o);
  }
  std::unique_ptr<PostgresStore> OpenOk() {
    auto store = Open();
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  PgAdmin Admin() { return PgAdmin(db_->url()); }
  // Ends every connection to the test database but the caller's, and waits
  // until they are gone.
  void TerminateStoreConnections() {
    PgAdmin(db_->server_url())
        .Exec("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '" + db_->name() +
              "' AND pid <> pg_backend_pid()");
  }

  PgFixedClock clock_;
  std::unique_ptr<PgTestDatabase> db_;
  PostgresOptions options_;
};

// Eggs first..first+n-1 of two tenants, captured 1 ms apart from t0.
inline std::vector<v1::Prediction> PgBatch(int first, int n, int64_t t0 = kPgT0) {
  std::vector<v1::Prediction> batch;
  for (int i = first; i < first + n; ++i) {
    batch.push_back(MakePrediction(i % 2 ? "h-a" : "h-b", "egg-" + std::to_string(i),
                                   i % 3 ? v1::SEX_FEMALE : v1::SEX_MALE, v1::DECISION_RECHECK, 0.5f,
                                   t0 + int64_t{i} * 1'000'000));
  }
  return batch;
}

// Calls `call` again while it fails with a retryable status (as the store
// writer does), for up to `seconds`; counts the failures.
template <typename F>
auto Retrying(F call, int seconds = 30, int* failures = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (true) {
    auto r = call();
    if (r.ok() || !r.status().retryable() || std::chrono::steady_clock::now() > deadline) return r;
    if (failures != nullptr) ++*failures;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace ovoflow::store::test_util
