// The PostgreSQL backend of PredictionStore: predictions partitioned by UTC
// day of capture, one writer connection behind a mutex that stores a batch
// in one statement (one round trip), and a pool of reader connections that
// serve API threads concurrently with the writer. Lost connections (server
// restart, failover, terminated backend) are reopened on the next call.
//
// Most callers use OpenStore("postgresql://..."); this header is for code
// that needs the PostgreSQL-only options or the query plans (tests, tools).
// libpqxx stays behind postgres_connection.cc.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/migrations.h"
#include "store/prediction_store.h"

namespace ovoflow::store {

struct PostgresOptions {
  // libpq connection URI, e.g. "postgresql://ovoflow@127.0.0.1:5432/ovoflow"
  // (postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]).
  // The database must exist; the store creates its tables in it.
  std::string url;
  // Reader connections in the pool, 1..64; a reader call waits for a free
  // one. The writer has one more connection of its own.
  int read_connections = 4;
  // How long opening a connection may take, s (libpq connect_timeout, unless
  // the URL sets one). 1..3600.
  int connect_timeout_s = 5;
  // Server-side statement_timeout on every connection, ms; 0: none. A
  // statement running longer fails with DeadlineExceeded. >= 0.
  int statement_timeout_ms = 30'000;
  // How long DDL (migrations at open, attaching a new day's partition) waits
  // for locks held by other sessions before failing with Unavailable, ms. >= 1.
  int lock_timeout_ms = 10'000;
  // Schema to migrate to; nullptr: PostgresPredictionMigrations(). Tests pass their own.
  const std::vector<Migration>* migrations = nullptr;
  // Stamps schema_migrations.applied_at; nullptr: SystemClock(). Not owned.
  const Clock* clock = nullptr;
};

// Thread-safe (see PredictionStore). Destroy only after every call returned.
//
// Errors: a lost connection, a server shutting down or read-only, a
// deadlock or serialization failure, too many connections, a lock or
// connect timeout are Unavailable (retryable; the next call reconnects);
// data PostgreSQL refuses is InvalidArgument; a statement over
// statement_timeout_ms is DeadlineExceeded. Reads that find their
// connection lost retry once on a new one. InsertBatch does not retry by
// itself: the store writer retries, and a batch is idempotent.
class PostgresStore final : public PredictionStore {
 public:
  // Connects (writer and readers) and migrates the database. InvalidArgument
  // for bad options or URL; Unavailable when the server cannot be reached;
  // FailedPrecondition when it refuses us (no such database, role or
  // password) or has a newer schema than this build knows.
  static Result<std::unique_ptr<PostgresStore>> Open(const PostgresOptions& options);
  ~PostgresStore() override;

  Result<int64_t> InsertBatch(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos) override;
  Result<std::optional<StoredPrediction>> GetEgg(const TenantScope& scope, std::string_view egg_id) override;
  Result<EggPage> ListEggs(const EggQuery& query) override;
  Result<Stats> GetStats(const StatsQuery& query) override;
  Result<int64_t> Count(const TenantScope& scope) override;
  Result<RecordedOutcome> RecordOutcome(const Outcome& outcome) override;
  Result<std::optional<StoredOutcome>> GetOutcome(std::string_view tenant_id, std::string_view egg_id) override;
  Result<std::vector<ModelAccuracy>> GetAccuracy(const StatsQuery& query) override;
  int SchemaVersion() const override;

  // PostgreSQL's EXPLAIN for the statement ListEggs / GetStats / GetEgg
  // would run, one plan line per line (e.g. "Index Scan using
  // predictions_d20251124_tenant_id_captured_at_ns_egg_id_idx on ...").
  // For tests and docs/store.md: every query must use its indexes.
  Result<std::string> ExplainListEggs(const EggQuery& query);
  Result<std::string> ExplainStats(const StatsQuery& query);
  Result<std::string> ExplainGetEgg(const TenantScope& scope, std::string_view egg_id);

 private:
  struct Impl;
  explicit PostgresStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::store
