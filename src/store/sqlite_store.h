// The SQLite backend of PredictionStore: one database file in WAL mode, one
// writer connection behind a mutex, and a pool of reader connections that
// serve API threads concurrently with the writer (WAL readers see the last
// committed transaction and never block on, or block, the writer).
//
// Most callers use OpenStore("sqlite:///path.db"); this header is for code
// that needs the SQLite-only options or the query plans (tests, tools).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/migrations.h"
#include "store/prediction_store.h"

namespace ovoflow::store {

struct SqliteOptions {
  // Database file; created if missing, with its parent directories. ":memory:"
  // is refused: the writer and the readers are separate connections.
  std::string path;
  // Reader connections in the pool, 1..64; a reader call waits for a free one.
  int read_connections = 4;
  // How long a statement waits for a lock held by another connection or
  // process before the call fails with Unavailable, ms. >= 0.
  int busy_timeout_ms = 5000;
  // Schema to migrate to; nullptr: PredictionMigrations(). Tests pass their own.
  const std::vector<Migration>* migrations = nullptr;
  // Stamps schema_migrations.applied_at and bounds retries at open;
  // nullptr: SystemClock(). Not owned.
  const Clock* clock = nullptr;
};

// Thread-safe (see PredictionStore). Destroy only after every call returned.
class SqliteStore final : public PredictionStore {
 public:
  // Opens (creating the file and its directory if needed) and migrates the
  // database: WAL journal, synchronous=NORMAL, busy timeout, foreign keys on
  // every connection. InvalidArgument for bad options; FailedPrecondition
  // when the directory cannot be created, the file cannot be opened or
  // written, is not a SQLite database, or has a newer schema than this
  // build knows; Unavailable when it stays locked by another process.
  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteOptions& options);
  ~SqliteStore() override;

  Result<int64_t> InsertBatch(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos) override;
  Result<std::optional<StoredPrediction>> GetEgg(const TenantScope& scope, std::string_view egg_id) override;
  Result<EggPage> ListEggs(const EggQuery& query) override;
  Result<Stats> GetStats(const StatsQuery& query) override;
  Result<int64_t> Count(const TenantScope& scope) override;
  Result<RecordedOutcome> RecordOutcome(const Outcome& outcome) override;
  Result<std::optional<StoredOutcome>> GetOutcome(std::string_view tenant_id, std::string_view egg_id) override;
  Result<std::vector<ModelAccuracy>> GetAccuracy(const StatsQuery& query) override;
  int SchemaVersion() const override;

  // SQLite's EXPLAIN QUERY PLAN for the statement ListEggs / GetStats would
  // run, one step per line (e.g. "SEARCH predictions USING INDEX ...").
  // For tests and docs/store.md: each query must use its index, no sort.
  Result<std::string> ExplainListEggs(const EggQuery& query);
  Result<std::string> ExplainStats(const StatsQuery& query);

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::store
