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
      {3, "create_outcomes",
       // Ground truth, one row per (tenant, egg) that has a prediction (the
       // foreign key), with a copy of the prediction it judged (predictions
       // never change), so accuracy needs no join. true sex in `sex`.
       "CREATE TABLE outcomes ("
       " tenant_id TEXT NOT NULL,"
       " egg_id TEXT NOT NULL,"
       " sex SMALLINT NOT NULL CHECK (sex IN (1, 2)),"
       " source TEXT NOT NULL,"
       " observed_at_ns BIGINT NOT NULL,"
       " recorded_at_ns BIGINT NOT NULL,"
       " recorded_by TEXT NOT NULL DEFAULT '',"
       " note TEXT NOT NULL DEFAULT '',"
       " predicted_sex SMALLINT NOT NULL,"
       " predicted_decision SMALLINT NOT NULL,"
       " p_female DOUBLE PRECISION NOT NULL,"
       " model_name TEXT NOT NULL,"
       " model_version TEXT NOT NULL,"
       " captured_at_ns BIGINT NOT NULL,"
       " PRIMARY KEY (tenant_id, egg_id),"
       " FOREIGN KEY (tenant_id, egg_id) REFERENCES predictions (tenant_id, egg_id))"},
      {4, "row_level_security",
       // PostgreSQL's row-level security (see PostgresPredictionMigrations).
       // SQLite has none: every read goes through the store's TenantScope
       // (prediction_store.h), the only read the store offers. Kept so that
       // both backends share versions and names.
       "SELECT 1"},
  };
  return *migrations;
}

const std::vector<Migration>& PostgresPredictionMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
      {1, "create_predictions",
       // The columns of the SQLite table; tenant_id and egg_id compare by
       // bytes (COLLATE "C") whatever the database's locale. Partitioned by
       // UTC day of capture: PostgresStore attaches predictions_dYYYYMMDD
       // before the first insert of a day. A partitioned table's unique
       // keys must contain captured_at_ns, so the one-row-per-egg rule lives
       // in egg_keys, written by the same statement as predictions.
       "CREATE TABLE predictions ("
       " tenant_id TEXT COLLATE \"C\" NOT NULL,"
       " egg_id TEXT COLLATE \"C\" NOT NULL,"
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
       " worker_id TEXT NOT NULL DEFAULT '')"
       " PARTITION BY RANGE (captured_at_ns);"
       "CREATE TABLE egg_keys ("
       " tenant_id TEXT COLLATE \"C\" NOT NULL,"
       " egg_id TEXT COLLATE \"C\" NOT NULL,"
       " captured_at_ns BIGINT NOT NULL,"  // locates the egg's partition
       " PRIMARY KEY (tenant_id, egg_id))"},
      {2, "predictions_query_indexes",
       // The SQLite indexes, created on every partition (present and
       // future), except predictions_egg_idx: GetEgg goes through egg_keys
       // (egg_keys_egg_idx for any tenant), then one partition's
       // predictions_tenant_time_idx.
       "CREATE INDEX egg_keys_egg_idx ON egg_keys (egg_id, tenant_id);"
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
      {3, "create_outcomes",
       // As on SQLite; text in byte order, and the foreign key on egg_keys
       // (predictions is partitioned: its rows are unique there).
       "CREATE TABLE outcomes ("
       " tenant_id TEXT COLLATE \"C\" NOT NULL,"
       " egg_id TEXT COLLATE \"C\" NOT NULL,"
       " sex SMALLINT NOT NULL CHECK (sex IN (1, 2)),"
       " source TEXT NOT NULL,"
       " observed_at_ns BIGINT NOT NULL,"
       " recorded_at_ns BIGINT NOT NULL,"
       " recorded_by TEXT NOT NULL DEFAULT '',"
       " note TEXT NOT NULL DEFAULT '',"
       " predicted_sex SMALLINT NOT NULL,"
       " predicted_decision SMALLINT NOT NULL,"
       " p_female DOUBLE PRECISION NOT NULL,"
       " model_name TEXT NOT NULL,"
       " model_version TEXT COLLATE \"C\" NOT NULL,"
       " captured_at_ns BIGINT NOT NULL,"
       " PRIMARY KEY (tenant_id, egg_id),"
       " FOREIGN KEY (tenant_id, egg_id) REFERENCES egg_keys (tenant_id, egg_id))"},
      {4, "row_level_security",
       // Tenant isolation in the database (docs/security.md): every tenant
       // table has FORCE ROW LEVEL SECURITY and a policy on the transaction's
       // setting ovoflow.tenant_ids ('a,b', or '*' for every tenant), which
       // PostgresStore sets with set_config(..., true) in each transaction.
       // Nothing set: nothing seen, nothing written. The application role
       // ovoflow_app (NOLOGIN; login roles are granted it) may read and
       // insert, never update or delete, and creates day partitions only
       // through ovoflow_create_partition (SECURITY DEFINER, owned by the
       // migrating role, which needs CREATEROLE the first time).
       "CREATE FUNCTION ovoflow_tenant_visible(t TEXT) RETURNS BOOLEAN LANGUAGE sql STABLE AS $f$"
       " SELECT coalesce(current_setting('ovoflow.tenant_ids', true), '') = '*'"
       " OR t = ANY (string_to_array(nullif(current_setting('ovoflow.tenant_ids', true), ''), ','))"
       " $f$;"
       "ALTER TABLE predictions ENABLE ROW LEVEL SECURITY;"
       "ALTER TABLE predictions FORCE ROW LEVEL SECURITY;"
       "CREATE POLICY tenant_isolation ON predictions"
       " USING (ovoflow_tenant_visible(tenant_id)) WITH CHECK (ovoflow_tenant_visible(tenant_id));"
       "ALTER TABLE egg_keys ENABLE ROW LEVEL SECURITY;"
       "ALTER TABLE egg_keys FORCE ROW LEVEL SECURITY;"
       "CREATE POLICY tenant_isolation ON egg_keys"
       " USING (ovoflow_tenant_visible(tenant_id)) WITH CHECK (ovoflow_tenant_visible(tenant_id));"
       "ALTER TABLE outcomes ENABLE ROW LEVEL SECURITY;"
       "ALTER TABLE outcomes FORCE ROW LEVEL SECURITY;"
       "CREATE POLICY tenant_isolation ON outcomes"
       " USING (ovoflow_tenant_visible(tenant_id)) WITH CHECK (ovoflow_tenant_visible(tenant_id));"
       // Created with the migrating schema in its search_path (objects it
       // makes land there; pg_catalog is searched first, pg_temp last).
       "DO $d$ BEGIN EXECUTE replace($q$"
       "CREATE FUNCTION ovoflow_create_partition(name TEXT, from_ns TEXT, to_ns TEXT) RETURNS VOID"
       " LANGUAGE plpgsql SECURITY DEFINER SET search_path = @schema@, pg_temp AS $f$"
       " BEGIN"
       "  IF name !~ '^predictions_d[0-9]{8}$' OR from_ns !~ '^(MINVALUE|-?[0-9]{1,19})$'"
       "     OR to_ns !~ '^(MAXVALUE|-?[0-9]{1,19})$' THEN"
       "   RAISE EXCEPTION 'ovoflow_create_partition: bad arguments % % %', name, from_ns, to_ns;"
       "  END IF;"
       "  IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
       "             WHERE i.inhparent = 'predictions'::regclass AND c.relname = name) THEN RETURN; END IF;"
       "  EXECUTE format('CREATE TABLE IF NOT EXISTS %I (LIKE predictions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',"
       "                 name);"
       "  EXECUTE format('ALTER TABLE predictions ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',"
       "                 name, from_ns, to_ns);"
       " END $f$"
       "$q$, '@schema@', quote_ident(current_schema())); END $d$;"
       "REVOKE ALL ON FUNCTION ovoflow_create_partition(TEXT, TEXT, TEXT) FROM PUBLIC;"
       "DO $d$ BEGIN"
       " IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ovoflow_app') THEN"
       "  CREATE ROLE ovoflow_app NOLOGIN;"
       " END IF;"
       " END $d$;"
       "GRANT SELECT, INSERT ON predictions, egg_keys, outcomes TO ovoflow_app;"
       "GRANT SELECT ON schema_migrations TO ovoflow_app;"
       "GRANT EXECUTE ON FUNCTION ovoflow_create_partition(TEXT, TEXT, TEXT) TO ovoflow_app;"
       "GRANT EXECUTE ON FUNCTION ovoflow_tenant_visible(TEXT) TO ovoflow_app"},
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

std::string CheckAppliedMigrations(const std::map<int, std::string>& applied, const std::vector<Migration>& migrations,
                                   const std::string& database) {
  const int known = migrations.back().version;
  if (!applied.empty() && applied.rbegin()->first > known) {
    return "database '" + database + "' has schema version " + std::to_string(applied.rbegin()->first) +
           ", newer than this build knows (" + std::to_string(known) +
           "): it was migrated by a newer ovoflow; run that version or point this one at another database";
  }
  for (const auto& [version, name] : applied) {
    if (version < 1 || migrations[static_cast<std::size_t>(version) - 1].name != name) {
      std::string problem = "database '";
      problem += database;
      problem += "' records migration ";
      problem += std::to_string(version);
      problem += " as '";
      problem += name;
      problem += "', which this build does not know at that version; it was migrated by a different build";
      return problem;
    }
  }
  const int current = applied.empty() ? 0 : applied.rbegin()->first;
  if (static_cast<std::size_t>(current) != applied.size()) {
    return "database '" + database + "' has gaps in schema_migrations (" + std::to_string(applied.size()) +
           " rows up to version " + std::to_string(current) + "); it was not migrated by ovoflow";
  }
  return {};
}

}  // namespace ovoflow::store
