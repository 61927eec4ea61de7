// The statements and rules of ground-truth outcomes (PredictionStore::
// RecordOutcome, GetOutcome, GetAccuracy), shared by both backends like
// prediction_sql.h: no database library, a backend only runs the
// statements. The outcomes table (migration 3, docs/store.md) holds one row
// per (tenant_id, egg_id) with a copy of the prediction it judged, so
// accuracy is one GROUP BY over outcomes, without a join on predictions.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "store/prediction_sql.h"
#include "store/prediction_store.h"

namespace ovoflow::store {

// INSERT of one outcome row that does nothing when the egg has one; returns
// one row (RETURNING) only when it inserted.
SqlQuery BuildInsertOutcomeQuery(SqlDialect dialect, const StoredOutcome& outcome);
// The egg's outcome row, if any; read with OutcomeFromRow.
SqlQuery BuildGetOutcomeQuery(SqlDialect dialect, std::string_view tenant_id, std::string_view egg_id);
StoredOutcome OutcomeFromRow(const RowReader& row);
// One row per (tenant_id, model_version), ordered by both; read with
// AccuracyFromRow.
SqlQuery BuildAccuracyQuery(SqlDialect dialect, const StatsQuery& query);
ModelAccuracy AccuracyFromRow(const RowReader& row);

// PredictionStore::RecordOutcome over `run`, which must run every statement
// in one transaction (the caller commits on OK, rolls back otherwise).
// `get_prediction` is the backend's GetEgg statement for
// (outcome.tenant_id, outcome.egg_id), columns in PredictionColumn order.
Result<RecordedOutcome> RecordOutcomeWith(SqlDialect dialect, const Outcome& outcome, const SqlQuery& get_prediction,
                                          const QueryRunner& run);
Result<std::optional<StoredOutcome>> GetOutcomeWith(SqlDialect dialect, std::string_view tenant_id,
                                                    std::string_view egg_id, const QueryRunner& run);
Result<std::vector<ModelAccuracy>> GetAccuracyWith(SqlDialect dialect, const StatsQuery& query, const QueryRunner& run);

}  // namespace ovoflow::store
