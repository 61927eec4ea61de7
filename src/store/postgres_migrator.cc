#include "store/postgres_migrator.h"

#include <map>

namespace ovoflow::store {
namespace {

// pg_advisory_xact_lock key held while migrating ("ovoflow1" in ASCII).
constexpr int64_t kMigrationLockKey = 0x6f766f666c6f7731;

Result<std::map<int, std::string>> AppliedMigrations(PgSession& s) {
  std::map<int, std::string> applied;
  Status st = s.Query({"SELECT version, name FROM schema_migrations ORDER BY version", {}},
                      [&](const RowReader& row) { applied[static_cast<int>(row.Int(0))] = row.Text(1); });
  if (!st.ok()) return st;
  return applied;
}

// Without a lock: the version when the database is up to date and was
// migrated with `migrations`, else 0 (the caller then takes the lock).
Result<int> UpToDateVersion(PgConnection& db, const std::vector<Migration>& migrations, const std::string& label) {
  int version = 0;
  Status st = db.Autocommit([&](PgSession& s) {
    bool exists = false;
    OVOFLOW_RETURN_IF_ERROR(s.Query({"SELECT to_regclass('schema_migrations') IS NOT NULL", {}},
                                    [&](const RowReader& row) { exists = row.Text(0) == "t"; }));
    if (!exists) return Status::Ok();
    OVOFLOW_ASSIGN_OR_RETURN(auto applied, AppliedMigrations(s));
    if (std::string bad = CheckAppliedMigrations(applied, migrations, label); !bad.empty())
      return Status::FailedPrecondition(bad);
    if (!applied.empty() && applied.rbegin()->first == migrations.back().version) version = applied.rbegin()->first;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return version;
}

// One transaction under the advisory lock: applies the next migration if
// one is due. Returns the version after the step and whether it applied one.
Result<std::pair<int, bool>> MigrateOneStep(PgConnection& db, const std::vector<Migration>& migrations,
                                            const Clock& clock, const std::string& label, int lock_timeout_ms) {
  std::pair<int, bool> step{0, false};
  Status st = db.Transaction([&](PgSession& s) {
    OVOFLOW_RETURN_IF_ERROR(s.Exec("SET LOCAL lock_timeout = " + std::to_string(lock_timeout_ms)));
    OVOFLOW_RETURN_IF_ERROR(
        s.Query({"SELECT pg_advisory_xact_lock($1)", {kMigrationLockKey}}, [](const RowReader&) {}));
    OVOFLOW_RETURN_IF_ERROR(s.Exec(kPgCreateSchemaMigrationsSql));
    OVOFLOW_ASSIGN_OR_RETURN(auto applied, AppliedMigrations(s));
    if (std::string bad = CheckAppliedMigrations(applied, migrations, label); !bad.empty())
      return Status::FailedPrecondition(bad);
    const int current = applied.empty() ? 0 : applied.rbegin()->first;
    step = {current, false};
    if (current == migrations.back().version) return Status::Ok();
    const Migration& next = migrations[static_cast<std::size_t>(current)];
    Status applied_st = s.Exec(next.sql);
    if (applied_st.ok()) {
      applied_st =
          s.Query({"INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3::timestamptz)",
                   {int64_t{next.version}, next.name, FormatRfc3339(clock.NowUnixNanos())}},
                  [](const RowReader&) {});
    }
    if (!applied_st.ok()) {
      return Status(applied_st.code(), "migration " + std::to_string(next.version) + " (" + next.name +
                                           ") failed on '" + label + "': " + applied_st.message());
    }
    step = {next.version, true};
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return step;
}

}  // namespace

Result<int> MigratePostgres(PgConnection& db, const std::vector<Migration>& migrations, const Clock& clock,
                            const std::string& label, int lock_timeout_ms) {
  if (std::string bad = CheckMigrationList(migrations); !bad.empty())
    return Status::InvalidArgument("bad migration list: " + bad);
  auto current = UpToDateVersion(db, migrations, label);
  if (!current.ok() || *current != 0) return current;
  while (true) {
    OVOFLOW_ASSIGN_OR_RETURN(auto step, MigrateOneStep(db, migrations, clock, label, lock_timeout_ms));
    if (!step.second) return step.first;
  }
}

}  // namespace ovoflow::store
