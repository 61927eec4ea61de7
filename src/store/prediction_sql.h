// The store's SQL and the mapping between rows and v1::Prediction, kept
// apart from any database library so that every backend runs the same
// statements: a backend only prepares `SqlQuery::sql`, binds `params` by
// position (1-based, in order) and hands result rows back through RowReader.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ovoflow/v1/prediction.pb.h"
#include "store/cursor.h"
#include "store/prediction_store.h"

namespace ovoflow::store {

// Placeholder syntax: SQLite "?N", PostgreSQL "$N". A placeholder may appear
// more than once in a statement; it always binds params[N - 1].
enum class SqlDialect { kSqlite, kPostgres };

using SqlValue = std::variant<int64_t, double, std::string>;

struct SqlQuery {
  std::string sql;
  std::vector<SqlValue> params;
};

// Columns of a prediction row, in the order of kPredictionColumns: every
// SELECT of predictions and the INSERT use this order.
enum PredictionColumn : int {
  kColTenantId = 0,
  kColEggId,
  kColScannerId,
  kColTrayId,
  kColTrayPosition,
  kColIncubationDay,
  kColSex,
  kColPFemale,
  kColDecision,
  kColModelName,
  kColModelVersion,
  kColKeepThreshold,
  kColDivertThreshold,
  kColCapturedAtNs,
  kColPublishedAtNs,
  kColConsumedAtNs,
  kColInferredAtNs,
  kColStoredAtNs,
  kColWorkerId,
  kPredictionColumnCount,
};

// "tenant_id, egg_id, ..." in PredictionColumn order.
const std::string& PredictionColumnList();

// Reads one result row; column indexes are 0-based. Implemented per backend.
class RowReader {
 public:
  virtual ~RowReader() = default;
  virtual int64_t Int(int column) const = 0;
  virtual double Real(int column) const = 0;
  virtual std::string Text(int column) const = 0;
};

// INSERT of one prediction that does nothing when (tenant_id, egg_id) exists.
std::string InsertPredictionSql(SqlDialect dialect);
// The INSERT's parameters, in PredictionColumn order.
std::vector<SqlValue> InsertPredictionParams(const v1::Prediction& p, int64_t stored_at_unix_nanos);
// The inverse of InsertPredictionParams for a row in PredictionColumn order.
StoredPrediction PredictionFromRow(const RowReader& row);

// Any tenant of the scope (first by tenant_id if several hold the egg).
SqlQuery BuildGetEggQuery(SqlDialect dialect, const TenantScope& scope, std::string_view egg_id);
// Rows of the page after `after` (if any), `fetch_limit` rows at most, in
// the order captured_at_ns DESC, tenant_id, egg_id. Ignores query.cursor and
// query.limit: the caller decodes and checks them.
SqlQuery BuildListEggsQuery(SqlDialect dialect, const EggQuery& query, const CursorKey* after, int fetch_limit);
// One row: COUNT(*).
SqlQuery BuildCountQuery(SqlDialect dialect, const TenantScope& scope);

// One row per tenant, ordered by tenant_id; read with TenantSumsFromRow.
SqlQuery BuildStatsQuery(SqlDialect dialect, const StatsQuery& query);

struct TenantSums {
  std::string tenant_id;
  int64_t total = 0, female = 0, male = 0, keep = 0, divert = 0, recheck = 0;
  double sum_p_female = 0;
  double sum_end_to_end_ns = 0;
};
TenantSums TenantSumsFromRow(const RowReader& row);
// Per-tenant means and the overall counts (means weighted by row count).
Stats StatsFromSums(const std::vector<TenantSums>& sums);

// Shared argument checks; the same rules for every backend.
Status CheckEggQuery(const EggQuery& query);
Status CheckStatsQuery(const StatsQuery& query);
// InvalidArgument naming the first prediction that ValidatePrediction
// (common/validation.h) refuses: both backends store exactly the same records.
Status CheckInsertBatch(const std::vector<v1::Prediction>& batch);

inline constexpr int kMaxListLimit = 1000;

// The read paths every backend shares, over a backend's way of running one
// statement and handing back its rows.
using RowSink = std::function<void(const RowReader&)>;
using QueryRunner = std::function<Status(const SqlQuery&, const RowSink&)>;

// The query's cursor, decoded; nullopt when it has none. InvalidArgument for
// a malformed cursor.
Result<std::optional<CursorKey>> DecodeQueryCursor(const EggQuery& query);
// PredictionStore::ListEggs, GetStats and Count on `run` (same checks, same
// paging: one row more than asked tells whether another page exists).
Result<EggPage> ListEggsWith(SqlDialect dialect, const EggQuery& query, const QueryRunner& run);
Result<Stats> GetStatsWith(SqlDialect dialect, const StatsQuery& query, const QueryRunner& run);
Result<int64_t> CountWith(SqlDialect dialect, const TenantScope& scope, const QueryRunner& run);

}  // namespace ovoflow::store
