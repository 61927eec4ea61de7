#include "store/sqlite_connection.h"

#include <sqlite3.h>

#include <filesystem>
#include <system_error>

namespace ovoflow::store {
namespace {

// A hint for a file SQLite could not open, from what the file system says.
std::string OpenHint(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::exists(parent, ec)) return "directory '" + parent.string() + "' does not exist; create it first";
  if (!fs::is_directory(parent, ec)) return "'" + parent.string() + "' is not a directory";
  if (fs::is_directory(path, ec)) return "'" + path + "' is a directory, not a database file";
  return "check that the directory is writable and the file is readable and writable";
}

}  // namespace

Status SqliteStatus(int rc, sqlite3* db, const std::string& context) {
  std::string detail = sqlite3_errstr(rc);
  if (db != nullptr && (sqlite3_extended_errcode(db) & 0xff) == (rc & 0xff)) detail = sqlite3_errmsg(db);
  const std::string message = context + ": " + detail + " (SQLite code " + std::to_string(rc) + ")";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(message + "; the database is busy, retry");
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOLFS:
      return Status::Unavailable(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
      return Status::FailedPrecondition(message);
    default:
      return Status::Internal(message);
  }
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

Status SqliteStatement::Bind(const std::vector<SqlValue>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int idx = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    if (const auto* n = std::get_if<int64_t>(&params[i])) {
      rc = sqlite3_bind_int64(stmt_, idx, *n);
    } else if (const auto* d = std::get_if<double>(&params[i])) {
      rc = sqlite3_bind_double(stmt_, idx, *d);
    } else {
      const std::string& s = std::get<std::string>(params[i]);
      rc = sqlite3_bind_text64(stmt_, idx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "binding parameter " + std::to_string(idx));
  }
  return Status::Ok();
}

Result<bool> SqliteStatement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteStatus(rc, db_, std::string("running \"") + sqlite3_sql(stmt_) + "\"");
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);  // repeats the last step's error, already reported
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStatement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

double SqliteStatement::Real(int column) const { return sqlite3_column_double(stmt_, column); }

std::string SqliteStatement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path, bool create,
                                                                 int busy_timeout_ms) {
  sqlite3* db = nullptr;
  // NOMUTEX: the store never shares a connection between threads at once.
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status st = SqliteStatus(rc, db, "cannot open SQLite database '" + path + "'");
    sqlite3_close(db);
    return Status(st.code(), st.message() + "; " + OpenHint(path));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(db, path));
}

SqliteConnection::~SqliteConnection() {
  statements_.clear();  // finalize before close
  sqlite3_close(db_);
}

Status SqliteConnection::Exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the same text is in sqlite3_errmsg
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "running \"" + sql + "\" on '" + path_ + "'");
  return Status::Ok();
}

Result<SqliteStatement*> SqliteConnection::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteStatus(rc, db_, "preparing \"" + sql + "\" on '" + path_ + "'");
  }
  auto owned = std::make_unique<SqliteStatement>(db_, stmt);
  SqliteStatement* raw = owned.get();
  statements_.emplace(sql, std::move(owned));
  return raw;
}

Status SqliteConnection::Query(const SqlQuery& query, const std::function<void(const RowReader&)>& on_row) {
  OVOFLOW_ASSIGN_OR_RETURN(auto stmt, Prepare(query.sql));
  SqliteStatement& s = *stmt;
  Status st = s.Bind(query.params);
  while (st.ok()) {
    auto row = s.Step();
    if (!row.ok()) {
      st = row.status();
    } else if (*row) {
      on_row(s);
      continue;
    }
    break;
  }
  s.Reset();
  return st;
}

Result<std::string> SqliteConnection::QueryText(const std::string& sql) {
  std::string out;
  bool first = true;
  Status st = Query({sql, {}}, [&](const RowReader& row) {
    if (first) out = row.Text(0);
    first = false;
  });
  if (!st.ok()) return st;
  return out;
}

int64_t SqliteConnection::Changes() const { return sqlite3_changes64(db_); }

}  // namespace ovoflow::store
