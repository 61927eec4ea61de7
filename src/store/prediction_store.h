// Where predictions live after the pipeline. One interface, two backends:
// SQLite (embedded default) and PostgreSQL (partitioned by day, pooled
// connections), behaving the same (docs/store.md). Every query is scoped by
// tenant: an empty tenant_id means "all tenants" and is for the operator
// only, until JWT roles arrive (the API will then force the caller's tenant).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::store {

struct StoredPrediction {
  v1::Prediction prediction;
  int64_t stored_at_unix_nanos = 0;
};

struct EggQuery {
  std::string tenant_id;                    // empty: all tenants
  std::optional<v1::Sex> sex;
  std::optional<v1::Decision> decision;
  std::optional<int64_t> from_unix_nanos;   // captured_at >= from
  std::optional<int64_t> to_unix_nanos;     // captured_at < to
  std::string cursor;                       // opaque, from EggPage::next_cursor
  int limit = 100;                          // 1..1000
};

// Newest first: captured_at descending, ties by tenant_id then egg_id
// (byte order), so keyset pagination visits every row exactly once.
struct EggPage {
  std::vector<StoredPrediction> items;
  std::string next_cursor;  // empty when there is no further page
};

struct StatsQuery {
  std::string tenant_id;  // empty: all tenants
  std::optional<int64_t> from_unix_nanos;
  std::optional<int64_t> to_unix_nanos;
};

struct Counts {
  int64_t total = 0;
  int64_t female = 0;
  int64_t male = 0;
  int64_t keep = 0;
  int64_t divert = 0;
  int64_t recheck = 0;
  double mean_p_female = 0;
  // captured_at -> stored, seconds, over the rows counted
  double mean_end_to_end_seconds = 0;
};

struct TenantCounts {
  std::string tenant_id;
  Counts counts;
};

struct Stats {
  Counts overall;
  std::vector<TenantCounts> tenants;  // sorted by tenant_id
};

// Thread-safe: the store writer and many API threads use one instance.
class PredictionStore {
 public:
  virtual ~PredictionStore() = default;

  // Inserts the batch in one transaction. A prediction whose
  // (tenant_id, egg_id) is already stored is skipped, never a second row.
  // Returns how many rows were new. Unavailable when the database is busy
  // or away (retry), InvalidArgument for a prediction without ids.
  virtual Result<int64_t> InsertBatch(const std::vector<v1::Prediction>& batch,
                                      int64_t stored_at_unix_nanos) = 0;

  // nullopt when not stored (or stored for another tenant when tenant_id is set).
  // With an empty tenant_id and the egg stored under several tenants, the
  // first by tenant_id. InvalidArgument for an empty egg_id.
  virtual Result<std::optional<StoredPrediction>> GetEgg(std::string_view tenant_id,
                                                         std::string_view egg_id) = 0;
  // InvalidArgument for a malformed cursor, a limit out of range or from > to.
  virtual Result<EggPage> ListEggs(const EggQuery& query) = 0;
  // One grouped query; InvalidArgument when from > to.
  virtual Result<Stats> GetStats(const StatsQuery& query) = 0;
  // Rows stored for the tenant (empty: all tenants).
  virtual Result<int64_t> Count(std::string_view tenant_id) = 0;
  // Schema version after migrations.
  virtual int SchemaVersion() const = 0;
};

// Opens and migrates a store from a URL:
//   "sqlite:///abs/path.db", "sqlite://relative.db", or a plain path -> SQLite (WAL)
//   "postgresql://...", "postgres://..." (libpq URI) -> PostgreSQL; the
//                        database must exist (PostgresStore::Open)
// Fails with a message that says what to fix: InvalidArgument for a URL it
// does not accept (unknown scheme, empty path, ":memory:"), FailedPrecondition
// for a file or database it cannot use or a schema newer than this build
// (SqliteStore::Open), Unavailable for a PostgreSQL server it cannot reach.
Result<std::unique_ptr<PredictionStore>> OpenStore(const std::string& url);

}  // namespace ovoflow::store
