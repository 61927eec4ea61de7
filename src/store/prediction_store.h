// Where predictions live after the pipeline. One interface, two backends:
// SQLite (embedded default) and PostgreSQL (partitioned by day, pooled
// connections), behaving the same (docs/store.md). Every read is scoped by a
// TenantScope: there is no read without one, and the default scope sees
// nothing. On PostgreSQL the scope is also set in the transaction, where
// row-level security enforces it (docs/security.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
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

// The tenants a read may see. Default-constructed: none (every read answers
// nothing); All(): every tenant, for platform administrators and the
// pipeline's own tools; Only()/Of(): those tenants.
class TenantScope {
 public:
  TenantScope() = default;
  static TenantScope All() {
    TenantScope s;
    s.all_ = true;
    return s;
  }
  // An empty name is no tenant: the scope then sees nothing.
  static TenantScope Only(std::string tenant) {
    TenantScope s;
    if (!tenant.empty()) s.tenants_.insert(std::move(tenant));
    return s;
  }
  static TenantScope Of(std::set<std::string> tenants) {
    TenantScope s;
    tenants.erase(std::string());
    s.tenants_ = std::move(tenants);
    return s;
  }
  bool all() const { return all_; }
  bool none() const { return !all_ && tenants_.empty(); }
  const std::set<std::string>& tenants() const { return tenants_; }  // empty when all()
  bool Contains(std::string_view tenant) const { return all_ || tenants_.count(std::string(tenant)) > 0; }
  // "*" for all, "" for none, else the names joined by ',' (tenant ids hold no ',').
  std::string Joined() const;

 private:
  bool all_ = false;
  std::set<std::string> tenants_;
};

struct EggQuery {
  TenantScope tenants;  // default: none
  std::optional<v1::Sex> sex;
  std::optional<v1::Decision> decision;
  std::optional<int64_t> from_unix_nanos;  // captured_at >= from
  std::optional<int64_t> to_unix_nanos;    // captured_at < to
  std::string cursor;                      // opaque, from EggPage::next_cursor
  int limit = 100;                         // 1..1000
};

// Newest first: captured_at descending, ties by tenant_id then egg_id
// (byte order), so keyset pagination visits every row exactly once.
struct EggPage {
  std::vector<StoredPrediction> items;
  std::string next_cursor;  // empty when there is no further page
};

struct StatsQuery {
  TenantScope tenants;  // default: none
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

// Ground truth for one egg, learnt days after its prediction (at hatch, or
// by sexing the chick). One per (tenant_id, egg_id); see RecordOutcome.
struct Outcome {
  std::string tenant_id;               // required
  std::string egg_id;                  // required
  v1::Sex sex = v1::SEX_UNSPECIFIED;   // the true sex: SEX_FEMALE or SEX_MALE
  std::string source;                  // one of OutcomeSources()
  int64_t observed_at_unix_nanos = 0;  // when the sex was seen; > 0
  int64_t recorded_at_unix_nanos = 0;  // when it reached ovoflow; > 0
  std::string recorded_by;             // optional: person or system that reported it
  std::string note;                    // optional, free text
};

// "hatch" (sexed at hatch), "feather_sexing", "vent_sexing".
const std::vector<std::string>& OutcomeSources();

// The checks RecordOutcome applies before touching the database: both ids
// non-empty, sex SEX_FEMALE or SEX_MALE, source one of OutcomeSources(),
// both times > 0. InvalidArgument saying what is wrong; `field` (optional)
// receives the name of the offending member ("tenant_id", "sex", ...).
Status CheckOutcome(const Outcome& outcome, std::string* field = nullptr);

// What an outcome was compared with: the egg's stored prediction, copied
// into the outcome row when it is recorded (predictions never change, so
// the copy cannot go stale; it is the per-egg audit lineage).
struct JudgedPrediction {
  v1::Sex sex = v1::SEX_UNSPECIFIED;
  v1::Decision decision = v1::DECISION_UNSPECIFIED;
  float p_female = 0;
  std::string model_name;
  std::string model_version;
  int64_t captured_at_unix_nanos = 0;
};

struct StoredOutcome {
  Outcome outcome;
  JudgedPrediction prediction;
  bool correct() const { return prediction.sex == outcome.sex; }
};

struct RecordedOutcome {
  StoredOutcome stored;  // as stored: the first record when it already existed
  bool created = false;  // false: the same sex was already recorded (idempotent repeat)
};

// Live accuracy of one model version for one tenant, over the eggs that
// have an outcome (and whose prediction falls in the query's time range).
struct ModelAccuracy {
  std::string tenant_id;
  std::string model_version;
  int64_t outcomes = 0;         // eggs with an outcome
  int64_t correct = 0;          // predicted sex == true sex
  int64_t decided = 0;          // of those, decision KEEP or DIVERT
  int64_t decided_correct = 0;  // KEEP and female, or DIVERT and male
  int64_t rechecks = 0;         // decision RECHECK
};

// Thread-safe: the store writer and many API threads use one instance.
class PredictionStore {
 public:
  virtual ~PredictionStore() = default;

  // Inserts the batch in one transaction. A prediction whose
  // (tenant_id, egg_id) is already stored is skipped, never a second row.
  // Returns how many rows were new. Unavailable when the database is busy
  // or away (retry), InvalidArgument for a prediction without ids.
  virtual Result<int64_t> InsertBatch(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos) = 0;

  // nullopt when not stored under a tenant of the scope. With the egg
  // stored under several tenants of the scope, the first by tenant_id.
  // InvalidArgument for an empty egg_id.
  virtual Result<std::optional<StoredPrediction>> GetEgg(const TenantScope& scope, std::string_view egg_id) = 0;
  // InvalidArgument for a malformed cursor, a limit out of range or from > to.
  virtual Result<EggPage> ListEggs(const EggQuery& query) = 0;
  // One grouped query; InvalidArgument when from > to.
  virtual Result<Stats> GetStats(const StatsQuery& query) = 0;
  // Rows stored for the tenants of the scope.
  virtual Result<int64_t> Count(const TenantScope& scope) = 0;

  // Records the true sex of a stored egg, in one transaction with the read
  // of the prediction it judges. The first outcome of an egg stays: the
  // same sex again is an idempotent repeat (created false, the first record
  // returned unchanged, whatever its source or times); another sex is
  // AlreadyExists (a conflict: outcomes are never overwritten). NotFound
  // when the tenant has no prediction for the egg; InvalidArgument naming
  // the field for a bad outcome (CheckOutcome); Unavailable as InsertBatch.
  virtual Result<RecordedOutcome> RecordOutcome(const Outcome& outcome) = 0;
  // The egg's outcome; nullopt when none is recorded. Both ids required
  // (InvalidArgument otherwise).
  virtual Result<std::optional<StoredOutcome>> GetOutcome(std::string_view tenant_id, std::string_view egg_id) = 0;
  // One row per (tenant, model version) with outcomes, ordered by
  // tenant_id then model_version, over the query's tenants; the
  // time range applies to the prediction's captured_at. InvalidArgument
  // when from > to.
  virtual Result<std::vector<ModelAccuracy>> GetAccuracy(const StatsQuery& query) = 0;

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
