#include "store/postgres_store.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "store/cursor.h"
#include "store/lease_pool.h"
#include "store/outcome_sql.h"
#include "store/postgres_connection.h"
#include "store/postgres_migrator.h"
#include "store/postgres_partitions.h"
#include "store/postgres_sql.h"
#include "store/prediction_sql.h"

namespace ovoflow::store {
namespace {

constexpr SqlDialect kDialect = SqlDialect::kPostgres;
constexpr int kMaxReadConnections = 64;
constexpr const char* kInsertStatement = "ovoflow_insert_batch";
constexpr const char* kNoPartitionSqlState = "23514";  // "no partition of relation ... found for row"
// Row-level security (migration 4) reads the transaction's tenants from here.
constexpr const char* kSetTenantsSql = "SELECT set_config('ovoflow.tenant_ids', $1, true)";

Status SetTenants(PgSession& s, const TenantScope& scope) {
  return s.Query({kSetTenantsSql, {scope.Joined()}}, [](const RowReader&) {});
}

using Connector = std::function<Result<std::unique_ptr<PgConnection>>()>;

// A connection opened on demand and replaced once it is lost. Not
// thread-safe: one thread at a time (the writer mutex, or a pool lease).
class PgSlot {
 public:
  explicit PgSlot(Connector connect) : connect_(std::move(connect)) {}

  // A connection that was alive a moment ago: the current one, or a new one
  // when there is none yet or the server closed it (restart, terminated).
  Result<PgConnection*> Get() {
    if (conn_ && conn_->Alive()) return conn_.get();
    conn_.reset();
    OVOFLOW_ASSIGN_OR_RETURN(auto conn, connect_());
    conn_ = std::move(conn);
    return conn_.get();
  }

 private:
  Connector connect_;
  std::unique_ptr<PgConnection> conn_;
};

using ReaderPool = LeasePool<PgSlot>;  // reader connections, one thread at a time

Status CheckOptions(const PostgresOptions& o) {
  if (o.url.empty()) return Status::InvalidArgument("PostgreSQL store needs a URL (postgresql://user@host:port/db)");
  if (!o.url.starts_with("postgresql://") && !o.url.starts_with("postgres://"))
    return Status::InvalidArgument("PostgreSQL URL '" + RedactPgUrl(o.url) +
                                   "' must start with postgresql:// or postgres://");
  if (o.read_connections < 1 || o.read_connections > kMaxReadConnections)
    return Status::InvalidArgument("read_connections must be in 1.." + std::to_string(kMaxReadConnections));
  if (o.connect_timeout_s < 1 || o.connect_timeout_s > 3600)
    return Status::InvalidArgument("connect_timeout_s must be in 1..3600");
  if (o.statement_timeout_ms < 0) return Status::InvalidArgument("statement_timeout_ms must be >= 0");
  if (o.lock_timeout_ms < 1) return Status::InvalidArgument("lock_timeout_ms must be >= 1");
  return Status::Ok();
}

// Session settings run on every new connection.
std::string SetupSql(const PostgresOptions& o, bool reader) {
  std::string sql =
      "SET client_min_messages = warning; SET statement_timeout = " + std::to_string(o.statement_timeout_ms);
  if (reader) sql += "; SET default_transaction_read_only = on";
  return sql;
}

}  // namespace

struct PostgresStore::Impl {
  explicit Impl(int lock_timeout_ms) : partitions(lock_timeout_ms) {}

  int schema_version = 0;  // fixed after Open
  std::string label;       // the URL without its password, for messages

  std::mutex write_mu;
  std::unique_ptr<PgSlot> writer;  // guarded by write_mu
  DayPartitions partitions;        // guarded by write_mu

  ReaderPool readers;

  // Runs `query` on a pooled reader. A connection found lost while running
  // it (the server restarted since the last call) is replaced and the query
  // run once more: reads are safe to repeat, and rows reach `on_row` only
  // after the whole result arrived.
  // The statement runs in a transaction that first sets the scope's tenants
  // for row-level security.
  Status Read(const TenantScope& scope, const SqlQuery& query, const std::function<void(const RowReader&)>& on_row) {
    auto lease = readers.Acquire();
    for (int attempt = 0;; ++attempt) {
      OVOFLOW_ASSIGN_OR_RETURN(auto conn, lease->Get());
      Status st = (conn)->Transaction([&](PgSession& s) {
        OVOFLOW_RETURN_IF_ERROR(SetTenants(s, scope));
        return s.Query(query, on_row);
      });
      if (st.ok() || attempt > 0 || !(conn)->broken()) return st;
    }
  }

  Result<std::string> Explain(const SqlQuery& query) {
    std::string plan;
    Status st = Read(TenantScope::All(), {"EXPLAIN " + query.sql, query.params},
                     [&](const RowReader& row) { plan += row.Text(0) + "\n"; });
    if (!st.ok()) return st;
    return plan;
  }

  // One statement for the whole batch; requires write_mu and the batch's
  // partitions. Returns the rows that were new.
  Result<int64_t> InsertOnce(PgConnection& conn, const TenantScope& tenants, const std::vector<SqlValue>& params) {
    int64_t inserted = 0;
    Status st = conn.Transaction([&](PgSession& s) {
      OVOFLOW_RETURN_IF_ERROR(SetTenants(s, tenants));
      OVOFLOW_ASSIGN_OR_RETURN(auto n, s.ExecPrepared(kInsertStatement, params));
      inserted = n;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return inserted;
  }
};

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStore::~PostgresStore() = default;

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const PostgresOptions& options) {
  OVOFLOW_RETURN_IF_ERROR(CheckOptions(options));
  auto impl = std::make_unique<Impl>(options.lock_timeout_ms);
  impl->label = RedactPgUrl(options.url);
  const std::string url = PgUrlWithDefaults(options.url, options.connect_timeout_s);
  const std::string label = impl->label;
  auto connector = [url, label](std::string setup, bool writer) -> Connector {
    return [url, label, setup = std::move(setup), writer]() -> Result<std::unique_ptr<PgConnection>> {
      auto conn = PgConnection::Open(url, label, setup);
      if (conn.ok() && writer) OVOFLOW_RETURN_IF_ERROR((*conn)->Prepare(kInsertStatement, PgInsertBatchSql()));
      return conn;
    };
  };

  impl->writer = std::make_unique<PgSlot>(connector(SetupSql(options, /*reader=*/false), /*writer=*/true));
  OVOFLOW_ASSIGN_OR_RETURN(auto writer, impl->writer->Get());
  const Clock& clock = options.clock ? *options.clock : SystemClock();
  const auto& migrations = options.migrations ? *options.migrations : PostgresPredictionMigrations();
  OVOFLOW_ASSIGN_OR_RETURN(auto version, MigratePostgres(*writer, migrations, clock, label, options.lock_timeout_ms));
  impl->schema_version = version;
  OVOFLOW_RETURN_IF_ERROR(impl->partitions.Load(*writer));
  bool bypasses = false;
  Status role = writer->Autocommit([&](PgSession& s) {
    return s.Query({"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", {}},
                   [&](const RowReader& row) { bypasses = row.Text(0) == "t"; });
  });
  if (role.ok() && bypasses)
    spdlog::warn(
        "store: {} connects as a role that bypasses row-level security (superuser or BYPASSRLS); "
        "connect the API and writers as a member of ovoflow_app (docs/security.md)",
        impl->label);

  for (int i = 0; i < options.read_connections; ++i) {
    auto slot = std::make_unique<PgSlot>(connector(SetupSql(options, /*reader=*/true), /*writer=*/false));
    OVOFLOW_RETURN_IF_ERROR(slot->Get().status());  // connect now: a wrong URL fails here, not on the first API call
    impl->readers.Add(std::move(slot));
  }
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

Result<int64_t> PostgresStore::InsertBatch(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos) {
  OVOFLOW_RETURN_IF_ERROR(CheckInsertBatch(batch));
  if (batch.empty()) return int64_t{0};
  std::map<int64_t, int64_t> rows_per_day;
  for (const v1::Prediction& p : batch) {
    ++rows_per_day[UtcDay(p.times().has_captured_at() ? FromTimestamp(p.times().captured_at()) : 0)];
  }
  std::set<int64_t> days;
  for (const auto& [day, rows] : rows_per_day) days.insert(day);
  std::set<std::string> tenant_ids;
  for (const v1::Prediction& p : batch) tenant_ids.insert(p.tenant_id());
  const TenantScope tenants = TenantScope::Of(std::move(tenant_ids));
  const std::vector<SqlValue> params = PgInsertBatchParams(batch, stored_at_unix_nanos);

  std::lock_guard lock(impl_->write_mu);
  OVOFLOW_ASSIGN_OR_RETURN(auto conn, impl_->writer->Get());
  OVOFLOW_RETURN_IF_ERROR(impl_->partitions.Ensure(*conn, days));
  auto inserted = impl_->InsertOnce(*conn, tenants, params);
  if (!inserted.ok() && (conn)->last_sqlstate() == kNoPartitionSqlState) {
    // A partition in the cache is gone (dropped or detached meanwhile):
    // check every day again and insert once more.
    impl_->partitions.Forget();
    OVOFLOW_RETURN_IF_ERROR(impl_->partitions.Load(*conn));
    OVOFLOW_RETURN_IF_ERROR(impl_->partitions.Ensure(*conn, days));
    inserted = impl_->InsertOnce(*conn, tenants, params);
  }
  if (inserted.ok()) {
    for (int64_t day : impl_->partitions.NoteRows(rows_per_day)) {
      // Statistics only: the batch is stored whatever happens here.
      if (Status st = impl_->partitions.Analyze(*conn, day); !st.ok()) {
        spdlog::warn("store: could not analyze {} (autovacuum will): {}", PartitionName(day), st.ToString());
      }
    }
  }
  return inserted;
}

Result<std::optional<StoredPrediction>> PostgresStore::GetEgg(const TenantScope& scope, std::string_view egg_id) {
  if (egg_id.empty()) return Status::InvalidArgument("egg_id is empty");
  std::optional<StoredPrediction> found;
  Status st = impl_->Read(scope, BuildPgGetEggQuery(scope, egg_id),
                          [&](const RowReader& row) { found = PredictionFromRow(row); });
  if (!st.ok()) return st;
  return found;
}

Result<EggPage> PostgresStore::ListEggs(const EggQuery& query) {
  return ListEggsWith(kDialect, query,
                      [&](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(query.tenants, q, on_row); });
}

Result<Stats> PostgresStore::GetStats(const StatsQuery& query) {
  return GetStatsWith(kDialect, query,
                      [&](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(query.tenants, q, on_row); });
}

Result<int64_t> PostgresStore::Count(const TenantScope& scope) {
  return CountWith(kDialect, scope,
                   [&](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(scope, q, on_row); });
}

Result<RecordedOutcome> PostgresStore::RecordOutcome(const Outcome& outcome) {
  OVOFLOW_RETURN_IF_ERROR(CheckOutcome(outcome));
  std::lock_guard lock(impl_->write_mu);
  OVOFLOW_ASSIGN_OR_RETURN(auto conn, impl_->writer->Get());
  std::optional<Result<RecordedOutcome>> recorded;
  // Committed only when RecordOutcomeWith returns OK (a conflict or a
  // missing prediction rolls back, having written nothing).
  Status st = (conn)->Transaction([&](PgSession& s) {
    OVOFLOW_RETURN_IF_ERROR(SetTenants(s, TenantScope::Only(outcome.tenant_id)));
    recorded =
        RecordOutcomeWith(kDialect, outcome, BuildPgGetEggQuery(TenantScope::Only(outcome.tenant_id), outcome.egg_id),
                          [&s](const SqlQuery& q, const RowSink& on_row) { return s.Query(q, on_row); });
    return recorded->ok() ? Status::Ok() : recorded->status();
  });
  if (!st.ok()) return st;
  return std::move(*recorded);
}

Result<std::optional<StoredOutcome>> PostgresStore::GetOutcome(std::string_view tenant_id, std::string_view egg_id) {
  const TenantScope scope = TenantScope::Only(std::string(tenant_id));
  return GetOutcomeWith(kDialect, tenant_id, egg_id,
                        [&](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(scope, q, on_row); });
}

Result<std::vector<ModelAccuracy>> PostgresStore::GetAccuracy(const StatsQuery& query) {
  return GetAccuracyWith(
      kDialect, query, [&](const SqlQuery& q, const RowSink& on_row) { return impl_->Read(query.tenants, q, on_row); });
}

int PostgresStore::SchemaVersion() const { return impl_->schema_version; }

Result<std::string> PostgresStore::ExplainListEggs(const EggQuery& query) {
  OVOFLOW_ASSIGN_OR_RETURN(auto after, DecodeQueryCursor(query));
  return impl_->Explain(BuildListEggsQuery(kDialect, query, after ? &*after : nullptr, query.limit + 1));
}

Result<std::string> PostgresStore::ExplainStats(const StatsQuery& query) {
  return impl_->Explain(BuildStatsQuery(kDialect, query));
}

Result<std::string> PostgresStore::ExplainGetEgg(const TenantScope& scope, std::string_view egg_id) {
  return impl_->Explain(BuildPgGetEggQuery(scope, egg_id));
}

}  // namespace ovoflow::store
