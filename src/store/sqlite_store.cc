#include "store/sqlite_store.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>

#include "store/cursor.h"
#include "store/lease_pool.h"
#include "store/outcome_sql.h"
#include "store/prediction_sql.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrator.h"

namespace ovoflow::store {
namespace {

constexpr SqlDialect kDialect = SqlDialect::kSqlite;
constexpr int kMaxReadConnections = 64;

using ReaderPool = LeasePool<SqliteConnection>;  // reader connections, one thread at a time

// Switches the file to WAL (persistent: later opens find it set). Switching
// needs an exclusive lock, and SQLite answers BUSY at once, without waiting
// (deadlock avoidance), when another process opens the new file at the same
// moment; retry for up to busy_timeout_ms.
Status EnableWal(SqliteConnection& db, int busy_timeout_ms, const Clock& clock) {
  auto mode = db.QueryText("PRAGMA journal_mode");
  if (!mode.ok()) return mode.status();
  const int64_t deadline = clock.MonotonicNanos() + int64_t{busy_timeout_ms} * 1'000'000;
  while (*mode != "wal") {
    mode = db.QueryText("PRAGMA journal_mode=WAL");
    if (mode.ok() && *mode != "wal") {
      return Status::FailedPrecondition("database '" + db.path() + "' cannot use WAL journaling (journal_mode is '" +
                                        *mode + "'); put it on a local file system");
    }
    if (mode.ok()) break;
    if (mode.status().code() != StatusCode::kUnavailable || clock.MonotonicNanos() >= deadline) return mode.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    mode = std::string();  // not yet switched: try again
  }
  return Status::Ok();
}

// Settings every connection gets (the writer first enables WAL).
Status Configure(SqliteConnection& db, bool writer) {
  OVOFLOW_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=NORMAL"));
  OVOFLOW_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));
  if (!writer) OVOFLOW_RETURN_IF_ERROR(db.Exec("PRAGMA query_only=ON"));
  return Status::Ok();
}

Status CheckOptions(const SqliteOptions& o) {
  if (o.path.empty()) return Status::InvalidArgument("SQLite store needs a database path");
  if (o.path == ":memory:" || o.path.starts_with("file::memory:"))
    return Status::InvalidArgument(
        "an in-memory SQLite database cannot be shared by the store's writer and reader connections; "
        "use a file path (e.g. sqlite:///tmp/ovoflow.db)");
  if (o.read_connections < 1 || o.read_connections > kMaxReadConnections)
    return Status::InvalidArgument("read_connections must be in 1.." + std::to_string(kMaxReadConnections));
  if (o.busy_timeout_ms < 0) return Status::InvalidArgument("busy_timeout_ms must be >= 0");
  return Status::Ok();
}

// Creates the directory that will hold the database file (and its -wal and
// -shm companions) if it is missing.
Status CreateParentDirectory(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return Status::Ok();  // the working directory
  std::error_code ec;
  if (fs::is_directory(parent, ec)) return Status::Ok();
  fs::create_directories(parent, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot create directory '" + parent.string() + "' for SQLite database '" + path +
                                      "': " + ec.message() + "; choose a path under a writable directory");
  }
  return Status::Ok();
}

}  // namespace

struct SqliteStore::Impl {
  int schema_version = 0;  // fixed after Open

  std::mutex write_mu;
  std::unique_ptr<SqliteConnection> writer;  // guarded by write_mu
  std::string insert_sql = InsertPredictionSql(kDialect);

  ReaderPool readers;

  // Runs `query` on a pooled reader.
  Status Read(const SqlQuery& query, const std::function<void(const RowReader&)>& on_row) {
    auto lease = readers.Acquire();
    return lease->Query(query, on_row);
  }

  Result<std::string> Explain(const SqlQuery& query) {
    SqlQuery explain{"EXPLAIN QUERY PLAN " + query.sql, query.params};
    std::string plan;
    Status st = Read(explain, [&](const RowReader& row) { plan += row.Text(3) + "\n"; });
    if (!st.ok()) return st;
    return plan;
  }

  // Inserts `batch` inside the caller's transaction; returns new rows.
  Result<int64_t> InsertRows(const std::vector<v1::Prediction>& batch, int64_t stored_at) {
    OVOFLOW_ASSIGN_OR_RETURN(auto stmt, writer->Prepare(insert_sql));
    int64_t inserted = 0;
    for (const v1::Prediction& p : batch) {
      Status st = (stmt)->Bind(InsertPredictionParams(p, stored_at));
      auto step = st.ok() ? (stmt)->Step() : Result<bool>(st);
      (stmt)->Reset();
      if (!step.ok()) return step.status();
      inserted += writer->Changes();
    }
    return inserted;
  }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  OVOFLOW_RETURN_IF_ERROR(CheckOptions(options));
  OVOFLOW_RETURN_IF_ERROR(CreateParentDirectory(options.path));
  auto impl = std::make_unique<Impl>();
  OVOFLOW_ASSIGN_OR_RETURN(impl->writer,
                           SqliteConnection::Open(options.path, /*create=*/true, options.busy_timeout_ms));
  const Clock& clock = options.clock ? *options.clock : SystemClock();
  OVOFLOW_RETURN_IF_ERROR(EnableWal(*impl->writer, options.busy_timeout_ms, clock));
  OVOFLOW_RETURN_IF_ERROR(Configure(*impl->writer, /*writer=*/true));
  const auto& migrations = options.migrations ? *options.migrations : PredictionMigrations();
  OVOFLOW_ASSIGN_OR_RETURN(auto version, MigrateSqlite(*impl->writer, migrations, clock));
  impl->schema_version = version;
  // Prepared now so that a schema without the predictions table fails here.
  if (auto stmt = impl->writer->Prepare(impl->insert_sql); !stmt.ok()) return stmt.status();
  for (int i = 0; i < options.read_connections; ++i) {
    OVOFLOW_ASSIGN_OR_RETURN(auto reader,
                             SqliteConnection::Open(options.path, /*create=*/false, options.busy_timeout_ms));
    OVOFLOW_RETURN_IF_ERROR(Configure(*reader, /*writer=*/false));
    impl->readers.Add(std::move(reader));
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

Result<int64_t> SqliteStore::InsertBatch(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos) {
  OVOFLOW_RETURN_IF_ERROR(CheckInsertBatch(batch));
  if (batch.empty()) return int64_t{0};
  std::lock_guard lock(impl_->write_mu);
  SqliteConnection& db = *impl_->writer;
  OVOFLOW_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto inserted = impl_->InsertRows(batch, stored_at_unix_nanos);
  Status end = inserted.ok() ? db.Exec("COMMIT") : inserted.status();
  if (!end.ok()) {
    (void)db.Exec("ROLLBACK");  // fails harmlessly if SQLite already rolled back
    return end;
  }
  return inserted;
}

Result<std::optional<StoredPrediction>> SqliteStore::GetEgg(const TenantScope& scope, std::string_view egg_id) {
  if (egg_id.empty()) return Status::InvalidArgument("egg_id is empty");
  std::optional<StoredPrediction> found;
  Status st = impl_->Read(BuildGetEggQuery(kDialect, scope, egg_id),
                          [&](const RowReader& row) { found = PredictionFromRow(row); });
  if (!st.ok()) return st;
  return found;
}

Result<EggPage> SqliteStore::ListEggs(const EggQuery& query) {
  return ListEggsWith(kDialect, query,
                      [this](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(q, on_row); });
}

Result<Stats> SqliteStore::GetStats(const StatsQuery& query) {
  return GetStatsWith(kDialect, query,
                      [this](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(q, on_row); });
}

Result<int64_t> SqliteStore::Count(const TenantScope& scope) {
  return CountWith(kDialect, scope,
                   [this](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(q, on_row); });
}

Result<RecordedOutcome> SqliteStore::RecordOutcome(const Outcome& outcome) {
  OVOFLOW_RETURN_IF_ERROR(CheckOutcome(outcome));
  std::lock_guard lock(impl_->write_mu);
  SqliteConnection& db = *impl_->writer;
  OVOFLOW_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto recorded = RecordOutcomeWith(kDialect, outcome,
                                    BuildGetEggQuery(kDialect, TenantScope::Only(outcome.tenant_id), outcome.egg_id),
                                    [&db](const SqlQuery& q, const RowSink& on_row) { return db.Query(q, on_row); });
  Status end = recorded.ok() ? db.Exec("COMMIT") : recorded.status();
  if (!end.ok() || !recorded.ok()) {
    (void)db.Exec("ROLLBACK");  // fails harmlessly if SQLite already rolled back
    return end;
  }
  return recorded;
}

Result<std::optional<StoredOutcome>> SqliteStore::GetOutcome(std::string_view tenant_id, std::string_view egg_id) {
  return GetOutcomeWith(kDialect, tenant_id, egg_id,
                        [this](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(q, on_row); });
}

Result<std::vector<ModelAccuracy>> SqliteStore::GetAccuracy(const StatsQuery& query) {
  return GetAccuracyWith(kDialect, query,
                         [this](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(q, on_row); });
}

int SqliteStore::SchemaVersion() const { return impl_->schema_version; }

Result<std::string> SqliteStore::ExplainListEggs(const EggQuery& query) {
  OVOFLOW_ASSIGN_OR_RETURN(auto after, DecodeQueryCursor(query));
  return impl_->Explain(BuildListEggsQuery(kDialect, query, after ? &*after : nullptr, query.limit + 1));
}

Result<std::string> SqliteStore::ExplainStats(const StatsQuery& query) {
  return impl_->Explain(BuildStatsQuery(kDialect, query));
}

}  // namespace ovoflow::store
