// The statements only the PostgreSQL backend runs, and what they need from
// the data: the one-round-trip batch insert (arrays of columns), the daily
// partitions and GetEgg through egg_keys. (What may be stored at all is
// common/validation.h, the same for both backends.) No database library: unit-tested without a
// server. The queries both backends share are in prediction_sql.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_sql.h"

namespace ovoflow::store {

// ---- the batch insert

// One statement that stores a whole batch: $1..$19 are the columns in
// PredictionColumn order, each an array with one element per prediction,
// except $18 (stored_at_ns), a single value. The first copy of each
// (tenant_id, egg_id) in the batch is claimed in egg_keys (ON CONFLICT DO
// NOTHING); only claimed rows go into predictions. Its row count is the
// number of new rows.
const std::string& PgInsertBatchSql();
// The 19 parameters of PgInsertBatchSql for a non-empty, checked batch:
// PostgreSQL array literals ("{...}") and stored_at_unix_nanos.
std::vector<SqlValue> PgInsertBatchParams(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos);

// Text form of a value as PostgreSQL parses it: integers in decimal,
// doubles in the shortest form that reads back to the same double
// ("Infinity", "-Infinity", "NaN" for the specials), strings as they are.
std::string PgText(const SqlValue& value);
// A PostgreSQL array literal of `values` (all of one type); strings are
// quoted and escaped, so any text round-trips.
std::string PgArrayLiteral(const std::vector<SqlValue>& values);

// ---- daily partitions

// UTC day number (days since 1970-01-01, negative before) of a unix time.
int64_t UtcDay(int64_t unix_nanos);
// "predictions_d20251124" for the day of 2025-11-24.
std::string PartitionName(int64_t utc_day);
// Statements that create and attach the partition of `utc_day` to
// predictions, in this order, in one transaction. ATTACH takes only a SHARE
// UPDATE EXCLUSIVE lock on predictions, so readers and the insert of other
// days go on meanwhile (CREATE TABLE ... PARTITION OF would lock them out).
// The bounds are [day start, next day start) in ns; the first and last
// representable days get MINVALUE / MAXVALUE where a bound would overflow.
std::vector<std::string> CreatePartitionSql(int64_t utc_day);
// The same through ovoflow_create_partition (migration 4), which a role
// that does not own predictions (ovoflow_app) may call.
SqlQuery CreatePartitionCall(int64_t utc_day);
// One row, one boolean column: whether the partition `$1` (a name) is
// attached to predictions in the current schema.
const std::string& PartitionAttachedSql();
// Rows of one column: the names of the partitions attached to predictions.
const std::string& ListPartitionsSql();
// The day a partition name stands for; nullopt for any other name.
std::optional<int64_t> PartitionDay(std::string_view name);

// ---- reads that differ from prediction_sql.h

// GetEgg: the (tenant, egg) key in egg_keys first (egg_keys_pkey, or
// egg_keys_egg_idx for any tenant: the first by tenant_id), then the one
// partition holding its captured_at_ns (partitions pruned at run time).
// Columns in PredictionColumn order, like BuildGetEggQuery.
SqlQuery BuildPgGetEggQuery(const TenantScope& scope, std::string_view egg_id);

// ---- connection URLs

// `url` with any password replaced by "***" (user:password@ and
// ?password=...), for error messages and logs.
std::string RedactPgUrl(const std::string& url);
// `url` with connect_timeout=seconds and application_name=ovoflow-store added
// as URI parameters, unless it sets them already.
std::string PgUrlWithDefaults(const std::string& url, int connect_timeout_s);

}  // namespace ovoflow::store
