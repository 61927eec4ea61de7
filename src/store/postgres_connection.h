// One PostgreSQL connection (libpqxx behind a pimpl) with libpqxx
// exceptions turned into Status at this boundary. Internal to the
// PostgreSQL backend: callers of the store never include this, nor pqxx.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/prediction_sql.h"

namespace ovoflow::store {

// Statements on a connection, inside the transaction (or autocommit run)
// that handed it out. Parameters travel as text (PgText). Not thread-safe.
class PgSession {
 public:
  virtual ~PgSession() = default;
  // One or more statements without parameters (simple query protocol).
  virtual Status Exec(const std::string& sql) = 0;
  // Binds query.params to $1..$n and calls `on_row` for each result row.
  virtual Status Query(const SqlQuery& query, const std::function<void(const RowReader&)>& on_row) = 0;
  // Runs a statement registered with PgConnection::Prepare; returns the
  // rows it affected (INSERT/UPDATE/DELETE) or returned.
  virtual Result<int64_t> ExecPrepared(const std::string& name, const std::vector<SqlValue>& params) = 0;
};

// Not thread-safe: the store hands each connection to one thread at a time.
// After an error that lost the connection (server restart, terminated
// backend, network), broken() is true and the connection is never used
// again: the owner opens a new one.
class PgConnection {
 public:
  // Connects to the libpq URL `url` and runs `setup_sql` (session settings).
  // `label` names the database in messages (the URL without its password).
  // Unavailable when the server cannot be reached (retry);
  // FailedPrecondition when it refuses us (no such database or role,
  // authentication failed).
  static Result<std::unique_ptr<PgConnection>> Open(const std::string& url, const std::string& label,
                                                    const std::string& setup_sql);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `fn` in one transaction: committed when fn returns OK, rolled back
  // otherwise. A commit whose outcome is unknown (connection lost while
  // committing) is Unavailable: retry only what is idempotent.
  Status Transaction(const std::function<Status(PgSession&)>& fn);
  // Runs `fn` with each statement in its own implicit transaction.
  Status Autocommit(const std::function<Status(PgSession&)>& fn);

  // Registers a statement for ExecPrepared; the server prepares it on first
  // use (once per connection).
  Status Prepare(const std::string& name, const std::string& sql);

  // Reads what the server sent meanwhile, without a round trip: false (and
  // broken() from then on) when the server has closed the connection, e.g.
  // after a restart or pg_terminate_backend while it was idle.
  bool Alive();
  bool broken() const;
  // SQLSTATE of the last failed statement ("" if none or not from the server).
  const std::string& last_sqlstate() const;

  struct Impl;  // opaque: libpqxx state, in postgres_connection.cc

 private:
  explicit PgConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::store
