// Applies Migrations to a PostgreSQL database (see migrations.h for the policy).
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/migrations.h"
#include "store/postgres_connection.h"

namespace ovoflow::store {

// schema_migrations on PostgreSQL: applied_at is a TIMESTAMPTZ.
inline constexpr const char* kPgCreateSchemaMigrationsSql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version BIGINT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TIMESTAMPTZ NOT NULL)";

// Brings the database to the last version in `migrations`, each migration
// in its own transaction together with its schema_migrations row. Every
// such transaction first takes a transaction-level advisory lock
// (pg_advisory_xact_lock) and re-reads the version under it, so processes
// opening one database at once apply each migration once. An up-to-date
// database is only read (no lock, no DDL). Returns the version reached.
// FailedPrecondition when the database is at a newer version than
// `migrations` knows or records different names (another build); a failing
// migration is rolled back and reported with its version and name.
// `label` names the database in messages; DDL waits at most lock_timeout_ms
// for locks held by other sessions (then Unavailable).
Result<int> MigratePostgres(PgConnection& db, const std::vector<Migration>& migrations, const Clock& clock,
                            const std::string& label, int lock_timeout_ms);

}  // namespace ovoflow::store
