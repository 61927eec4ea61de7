// Thin RAII layer over one SQLite connection and its prepared statements,
// with SQLite result codes turned into Status. Internal to the SQLite
// backend: callers of the store never include this (or sqlite3.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "store/prediction_sql.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ovoflow::store {

// The Status for SQLite result code `rc` (primary or extended):
// BUSY/LOCKED/FULL/IOERR -> Unavailable (retry), READONLY/PERM/CANTOPEN/
// NOTADB -> FailedPrecondition (fix the file), anything else -> Internal.
// `db` (may be null) supplies the detailed message.
Status SqliteStatus(int rc, sqlite3* db, const std::string& context);

// A prepared statement owned by its connection. Not thread-safe.
class SqliteStatement final : public RowReader {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Binds params[i] to placeholder i + 1 (values are copied).
  Status Bind(const std::vector<SqlValue>& params);
  // true: a row is ready to read; false: done.
  Result<bool> Step();
  // Ends the statement (releasing its read snapshot) and clears bindings.
  void Reset();

  int64_t Int(int column) const override;
  double Real(int column) const override;
  std::string Text(int column) const override;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// One connection. Not thread-safe: the store hands each to one thread at a time.
class SqliteConnection {
 public:
  // `create`: create the file if missing (the writer); readers never create.
  static Result<std::unique_ptr<SqliteConnection>> Open(const std::string& path, bool create, int busy_timeout_ms);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs one or more statements that return no rows of interest.
  Status Exec(const std::string& sql);
  // The prepared statement for `sql`, prepared once per connection and kept
  // until the connection closes. The pointer stays valid as long as this.
  Result<SqliteStatement*> Prepare(const std::string& sql);
  // Binds, calls `on_row` for each row, and always resets the statement.
  Status Query(const SqlQuery& query, const std::function<void(const RowReader&)>& on_row);
  // Text of the first column of the first row of `sql` ("" when no row).
  Result<std::string> QueryText(const std::string& sql);
  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  const std::string& path() const { return path_; }

 private:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> statements_;
};

}  // namespace ovoflow::store
