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
// Two lists, one per backend, with the same versions and names: a schema
// change is appended to both. The PostgreSQL list differs where PostgreSQL
// needs it: `COLLATE "C"` on tenant_id and egg_id, so that text sorts by
// bytes as in SQLite (pagination order and cursors must agree across
// backends), predictions partitioned by UTC day of captured_at_ns, and the
// egg_keys table that keeps (tenant_id, egg_id) unique across partitions.
// See docs/store.md.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ovoflow::store {

struct Migration {
  int version = 0;   // 1, 2, 3, ... strictly increasing, no gaps
  std::string name;  // short snake_case description, stored in schema_migrations
  std::string sql;   // one or more statements separated by ';'
};

// The built-in migrations, oldest first: SQLite.
const std::vector<Migration>& PredictionMigrations();
// The same versions and names for PostgreSQL (PostgresStore).
const std::vector<Migration>& PostgresPredictionMigrations();

// Version of the last built-in migration (the same for both lists).
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

// Checks what a database records as applied (version -> name, read from
// schema_migrations) against a well-formed `migrations` list. Empty when the
// database can be migrated with the list, else the reason it cannot, naming
// `database`: a version newer than the list knows, a name that differs from
// the list's at that version (migrated by a different build), or gaps.
std::string CheckAppliedMigrations(const std::map<int, std::string>& applied, const std::vector<Migration>& migrations,
                                   const std::string& database);

}  // namespace ovoflow::store
