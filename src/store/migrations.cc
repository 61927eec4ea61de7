#include "store/migrations.h"

namespace ovoflow::store {

const std::vector<Migration>& PredictionMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
      {1, "create_predictions",
       // One row per (tenant, egg): the key that makes redelivery harmless.
       // Enums are the v1 proto numbers; times are unix nanoseconds, 0 when
       // the stage time was not set (captured_at and stored_at always are).
       "CREATE TABLE predictions ("
       " tenant_id TEXT NOT NULL,"
       " egg_id TEXT NOT NULL,"
       " scanner_id TEXT NOT NULL DEFAULT '',"
       " tray_id TEXT NOT NULL DEFAULT '',"
       " tray_position BIGINT NOT NULL DEFAULT 0,"
       " incubation_day BIGINT NOT NULL DEFAULT 0,"
       " sex SMALLINT NOT NULL,"
       " p_female DOUBLE PRECISION NOT NULL,"
       " decision SMALLINT NOT NULL,"
       " model_name TEXT NOT NULL DEFAULT '',"
       " model_version TEXT NOT NULL DEFAULT '',"
       " keep_threshold DOUBLE PRECISION NOT NULL DEFAULT 0,"
       " divert_threshold DOUBLE PRECISION NOT NULL DEFAULT 0,"
       " captured_at_ns BIGINT NOT NULL,"
       " published_at_ns BIGINT NOT NULL DEFAULT 0,"
       " consumed_at_ns BIGINT NOT NULL DEFAULT 0,"
       " inferred_at_ns BIGINT NOT NULL DEFAULT 0,"
       " stored_at_ns BIGINT NOT NULL,"
       " worker_id TEXT NOT NULL DEFAULT '',"
       " PRIMARY KEY (tenant_id, egg_id))"},
      {2, "predictions_query_indexes",
       // Each index matches one query shape exactly (equality columns first,
       // then the sort key), so every list is a range scan in index order
       // with no sort step. docs/store.md maps each index to its query.
       "CREATE INDEX predictions_egg_idx ON predictions (egg_id);"
       "CREATE INDEX predictions_time_idx"
       " ON predictions (captured_at_ns DESC, tenant_id, egg_id);"
       "CREATE INDEX predictions_sex_time_idx"
       " ON predictions (sex, captured_at_ns DESC, tenant_id, egg_id);"
       "CREATE INDEX predictions_decision_time_idx"
       " ON predictions (decision, captured_at_ns DESC, tenant_id, egg_id);"
       "CREATE INDEX predictions_tenant_time_idx"
       " ON predictions (tenant_id, captured_at_ns DESC, egg_id);"
       "CREATE INDEX predictions_tenant_sex_time_idx"
       " ON predictions (tenant_id, sex, captured_at_ns DESC, egg_id);"
       "CREATE INDEX predictions_tenant_decision_time_idx"
       " ON predictions (tenant_id, decision, captured_at_ns DESC, egg_id)"},
  };
  return *migrations;
}

int LatestSchemaVersion() { return PredictionMigrations().back().version; }

std::string CheckMigrationList(const std::vector<Migration>& migrations) {
  if (migrations.empty()) return "the migration list is empty";
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    const int want = static_cast<int>(i) + 1;
    if (m.version != want)
      return "migration #" + std::to_string(i) + " has version " + std::to_string(m.version) + ", expected " +
             std::to_string(want);
    if (m.name.empty()) return "migration " + std::to_string(m.version) + " has no name";
    if (m.sql.empty()) return "migration " + std::to_string(m.version) + " has no SQL";
  }
  return {};
}

}  // namespace ovoflow::store
