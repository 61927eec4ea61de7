// Versioned schema migrations for the prediction store.
//
// Policy: migrations are append-only. A released migration is never edited
// or renumbered; a schema change is a new entry with the next version. Each
// migration runs in its own transaction together with its row in
// schema_migrations, so a database is always at exactly one known version.
// A database whose version is higher than the newest migration this build
// knows is refused (FailedPrecondition): an older binary must not write to
// a schema it does not understand.
//
// The SQL sticks to what SQLite and PostgreSQL both accept (BIGINT,
// SMALLINT, TEXT, DOUBLE PRECISION, composite primary keys, DESC index
// columns, IF NOT EXISTS). The PostgreSQL backend keeps a list with the same
// versions and names; its one difference is `COLLATE "C"` on tenant_id and
// egg_id so that text sorts by bytes as in SQLite (pagination order and
// cursors must agree across backends). See docs/store.md.
#pragma once

#include <string>
#include <vector>

namespace ovoflow::store {

struct Migration {
  int version = 0;   // 1, 2, 3, ... strictly increasing, no gaps
  std::string name;  // short snake_case description, stored in schema_migrations
  std::string sql;   // one or more statements separated by ';'
};

// The built-in migrations, oldest first.
const std::vector<Migration>& PredictionMigrations();

// Version of the last built-in migration.
int LatestSchemaVersion();

// Creates the bookkeeping table; run before reading the current version.
inline constexpr const char* kCreateSchemaMigrationsSql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version BIGINT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)";  // RFC 3339, UTC

// Empty when `migrations` is well formed (versions 1..n in order, names and
// SQL non-empty), else what is wrong.
std::string CheckMigrationList(const std::vector<Migration>& migrations);

}  // namespace ovoflow::store
