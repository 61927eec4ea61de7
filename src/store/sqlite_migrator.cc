#include "store/sqlite_migrator.h"

#include <map>

namespace ovoflow::store {
namespace {

// Versions and names already applied, read inside the caller's transaction.
Result<std::map<int, std::string>> AppliedMigrations(SqliteConnection& db) {
  std::map<int, std::string> applied;
  Status st = db.Query({"SELECT version, name FROM schema_migrations ORDER BY version", {}},
                       [&](const RowReader& row) { applied[static_cast<int>(row.Int(0))] = row.Text(1); });
  if (!st.ok()) return st;
  return applied;
}

// One step under BEGIN IMMEDIATE: applies the next migration if one is due.
// Returns the version after the step and whether anything was applied.
Result<std::pair<int, bool>> MigrateOneStep(SqliteConnection& db, const std::vector<Migration>& migrations,
                                            const Clock& clock) {
  OVOFLOW_RETURN_IF_ERROR(db.Exec(kCreateSchemaMigrationsSql));
  OVOFLOW_ASSIGN_OR_RETURN(auto applied, AppliedMigrations(db));
  if (std::string bad = CheckAppliedMigrations(applied, migrations, db.path()); !bad.empty())
    return Status::FailedPrecondition(bad);
  const int current = applied.empty() ? 0 : applied.rbegin()->first;
  if (current == migrations.back().version) return std::pair{current, false};
  const Migration& next = migrations[static_cast<std::size_t>(current)];
  Status st = db.Exec(next.sql);
  if (st.ok()) {
    st = db.Query({"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                   {int64_t{next.version}, next.name, FormatRfc3339(clock.NowUnixNanos())}},
                  [](const RowReader&) {});
  }
  if (!st.ok()) {
    return Status(st.code(), "migration " + std::to_string(next.version) + " (" + next.name + ") failed on '" +
                                 db.path() + "': " + st.message());
  }
  return std::pair{next.version, true};
}

}  // namespace

Result<int> MigrateSqlite(SqliteConnection& db, const std::vector<Migration>& migrations, const Clock& clock) {
  if (std::string bad = CheckMigrationList(migrations); !bad.empty())
    return Status::InvalidArgument("bad migration list: " + bad);
  while (true) {
    OVOFLOW_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    auto step = MigrateOneStep(db, migrations, clock);
    Status end = step.ok() ? db.Exec("COMMIT") : Status::Ok();
    if (!step.ok() || !end.ok()) {
      (void)db.Exec("ROLLBACK");
      return step.ok() ? end : step.status();
    }
    if (!step->second) return step->first;
  }
}

}  // namespace ovoflow::store
