// Applies Migrations to a SQLite database (see migrations.h for the policy).
#pragma once

#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/migrations.h"
#include "store/sqlite_connection.h"

namespace ovoflow::store {

// Brings the database to the last version in `migrations`, one transaction
// (BEGIN IMMEDIATE) per migration, re-reading the version under the write
// lock so that processes opening the same file at once apply each migration
// once. Returns the version reached. Idempotent: on an up-to-date database
// it only reads. FailedPrecondition when the database is at a version newer
// than `migrations` knows, or when an applied migration's name differs from
// the list's (the database was migrated by a different build); a failing
// migration is rolled back and reported with its version and name.
Result<int> MigrateSqlite(SqliteConnection& db, const std::vector<Migration>& migrations, const Clock& clock);

}  // namespace ovoflow::store
