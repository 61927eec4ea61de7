#include "store/postgres_connection.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <pqxx/pqxx>
#include <string_view>

#include "store/postgres_sql.h"

namespace ovoflow::store {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\n')) ++start;
  return s.substr(start);
}

// libpq messages span lines ("ERROR:  x\nDETAIL:  y"): one line for a Status.
std::string OneLine(const std::string& text) {
  std::string out;
  for (char c : Trim(text)) {
    if (c == '\n')
      out += "; ";
    else if (c != '\t')
      out += c;
  }
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Server notices and warnings, and libpqxx's own messages, go to the log
// instead of stderr.
class NoticeLogger final : public pqxx::errorhandler {
 public:
  NoticeLogger(pqxx::connection_base& conn, std::string label) : pqxx::errorhandler(conn), label_(std::move(label)) {}
  bool operator()(const char msg[]) noexcept override {
    try {
      spdlog::warn("store: postgres {}: {}", label_, OneLine(msg));
    } catch (...) {  // logging must not throw out of libpqxx
    }
    return false;  // handled: not printed to stderr
  }

 private:
  std::string label_;
};

class PgRow final : public RowReader {
 public:
  explicit PgRow(const pqxx::row& row) : row_(row) {}
  int64_t Int(int column) const override {
    const pqxx::field f = Field(column);
    int64_t v = 0;
    if (!f.is_null()) std::from_chars(f.c_str(), f.c_str() + f.size(), v);
    return v;
  }
  double Real(int column) const override {
    const pqxx::field f = Field(column);
    if (f.is_null()) return 0;
    const std::string_view text(f.c_str(), f.size());
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    double v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return v;
  }
  std::string Text(int column) const override {
    const pqxx::field f = Field(column);
    return f.is_null() ? std::string() : std::string(f.c_str(), f.size());
  }

 private:
  pqxx::field Field(int column) const { return row_[static_cast<pqxx::row::size_type>(column)]; }
  const pqxx::row& row_;
};

std::vector<std::string> TextParams(const std::vector<SqlValue>& params) {
  std::vector<std::string> texts;
  texts.reserve(params.size());
  for (const SqlValue& v : params) texts.push_back(PgText(v));
  return texts;
}

}  // namespace

struct PgConnection::Impl {
  std::string label;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<NoticeLogger> notices;  // declared after conn: destroyed first
  bool broken = false;
  std::string last_sqlstate;

  // Called inside a catch block: maps the exception in flight to a Status,
  // and notes a lost connection. `context` says what was being done.
  Status Fail(const std::string& context) {
    last_sqlstate.clear();
    Status st = MapCurrentException(context);
    if (conn && !conn->is_open()) broken = true;
    return st;
  }

  Status MapCurrentException(const std::string& context) {
    const std::string where = context + " on " + label + ": ";
    try {
      throw;
    } catch (const pqxx::in_doubt_error& e) {
      broken = true;
      return Status::Unavailable(where + "the connection was lost while committing, the outcome is unknown (" +
                                 OneLine(e.what()) + ")");
    } catch (const pqxx::broken_connection& e) {
      broken = true;
      return Status::Unavailable(where + "lost the connection (" + OneLine(e.what()) +
                                 "); retry: the store reconnects on the next call");
    } catch (const pqxx::sql_error& e) {
      last_sqlstate = e.sqlstate();
      return FromSqlState(e.sqlstate(), where + OneLine(e.what()) + " (SQLSTATE " + e.sqlstate() + ")");
    } catch (const std::exception& e) {
      return Status::Internal(where + OneLine(e.what()));
    } catch (...) {
      return Status::Internal(where + "unknown exception");
    }
  }

  // Error classes: https://www.postgresql.org/docs/15/errcodes-appendix.html
  Status FromSqlState(const std::string& code, const std::string& message) {
    const std::string cls = code.substr(0, 2);
    if (cls == "08" || code == "57P01" || code == "57P02" || code == "57P03") {
      broken = true;  // connection failure, or the server shuts down / restarts
      return Status::Unavailable(message + "; retry: the store reconnects on the next call");
    }
    if (code == "25006") {  // read-only transaction: a standby, e.g. after a failover
      broken = true;
      return Status::Unavailable(message + "; the server is read-only (a standby?); retry after reconnecting");
    }
    if (cls == "40" || cls == "53" || cls == "58" || code == "55P03" || code == "55006")
      return Status::Unavailable(message + "; retry");  // serialization, deadlock, resources, locks
    if (code == "57014") return Status::DeadlineExceeded(message + " (statement_timeout?)");
    if (cls == "22" || cls == "23") return Status::InvalidArgument(message);
    if (cls == "28" || cls == "3D" || code == "42501")
      return Status::FailedPrecondition(message + "; check the URL's user, password and database, and grants");
    if (code == "42P01" || code == "42703")
      return Status::FailedPrecondition(message + "; the schema is not what this build expects");
    return Status::Internal(message);
  }
};

PgConnection::PgConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgConnection::~PgConnection() = default;

Result<std::unique_ptr<PgConnection>> PgConnection::Open(const std::string& url, const std::string& label,
                                                         const std::string& setup_sql) {
  auto impl = std::make_unique<Impl>();
  impl->label = "'" + label + "'";
  try {
    impl->conn = std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    const std::string why = OneLine(e.what());
    const std::string message = "cannot connect to PostgreSQL " + impl->label + ": " + why;
    if (Contains(why, "database") && Contains(why, "does not exist"))
      return Status::FailedPrecondition(message + "; create the database first (createdb), or fix the URL");
    if (Contains(why, "does not exist"))  // a role
      return Status::FailedPrecondition(message + "; create the role first (createuser), or fix the URL's user");
    if (Contains(why, "authentication failed") || Contains(why, "pg_hba.conf") || Contains(why, "password"))
      return Status::FailedPrecondition(message + "; check the user and password in the URL");
    if (Contains(why, "invalid") || Contains(why, "missing"))
      return Status::InvalidArgument(message + "; see libpq connection URIs");
    return Status::Unavailable(message + "; is the server running and reachable? (scripts/pg start runs one)");
  }
  impl->notices = std::make_unique<NoticeLogger>(*impl->conn, impl->label);
  auto conn = std::unique_ptr<PgConnection>(new PgConnection(std::move(impl)));
  if (!setup_sql.empty()) {
    OVOFLOW_RETURN_IF_ERROR(conn->Autocommit([&](PgSession& s) { return s.Exec(setup_sql); }));
  }
  return conn;
}

namespace {

class PgSessionImpl final : public PgSession {
 public:
  PgSessionImpl(pqxx::transaction_base& tx, PgConnection::Impl& conn) : tx_(tx), conn_(conn) {}

  Status Exec(const std::string& sql) override {
    try {
      tx_.exec(sql);
      return Status::Ok();
    } catch (...) {
      return conn_.Fail("running \"" + Abbreviate(sql) + "\"");
    }
  }

  Status Query(const SqlQuery& query, const std::function<void(const RowReader&)>& on_row) override {
    try {
      const std::vector<std::string> params = TextParams(query.params);
      const pqxx::result result = tx_.exec_params(query.sql, pqxx::prepare::make_dynamic_params(params));
      for (const pqxx::row& row : result) on_row(PgRow(row));
      return Status::Ok();
    } catch (...) {
      return conn_.Fail("running \"" + Abbreviate(query.sql) + "\"");
    }
  }

  Result<int64_t> ExecPrepared(const std::string& name, const std::vector<SqlValue>& params) override {
    try {
      const std::vector<std::string> texts = TextParams(params);
      const pqxx::result result = tx_.exec_prepared(name, pqxx::prepare::make_dynamic_params(texts));
      return static_cast<int64_t>(result.affected_rows());
    } catch (...) {
      return conn_.Fail("running prepared statement " + name);
    }
  }

 private:
  static std::string Abbreviate(const std::string& sql) {
    constexpr std::size_t kMax = 120;
    return sql.size() <= kMax ? sql : sql.substr(0, kMax) + "...";
  }

  pqxx::transaction_base& tx_;
  PgConnection::Impl& conn_;
};

}  // namespace

Status PgConnection::Transaction(const std::function<Status(PgSession&)>& fn) {
  if (impl_->broken) return Status::Unavailable("the connection to " + impl_->label + " is lost");
  try {
    pqxx::work tx(*impl_->conn);
    PgSessionImpl session(tx, *impl_);
    Status st = fn(session);
    if (!st.ok()) {
      try {
        tx.abort();
      } catch (...) {
        (void)impl_->Fail("rolling back");  // notes a lost connection; `st` says what went wrong
      }
      return st;
    }
    tx.commit();
    return Status::Ok();
  } catch (...) {
    return impl_->Fail("committing a transaction");
  }
}

Status PgConnection::Autocommit(const std::function<Status(PgSession&)>& fn) {
  if (impl_->broken) return Status::Unavailable("the connection to " + impl_->label + " is lost");
  try {
    pqxx::nontransaction tx(*impl_->conn);
    PgSessionImpl session(tx, *impl_);
    return fn(session);
  } catch (...) {
    return impl_->Fail("starting a statement");
  }
}

Status PgConnection::Prepare(const std::string& name, const std::string& sql) {
  try {
    impl_->conn->prepare(name, sql);
    return Status::Ok();
  } catch (...) {
    return impl_->Fail("preparing statement " + name);
  }
}

bool PgConnection::Alive() {
  if (impl_->broken) return false;
  try {
    impl_->conn->get_notifs();  // reads pending input: notices, or the end of the connection
  } catch (...) {
    impl_->broken = true;
  }
  if (!impl_->conn->is_open()) impl_->broken = true;
  return !impl_->broken;
}

bool PgConnection::broken() const { return impl_->broken; }
const std::string& PgConnection::last_sqlstate() const { return impl_->last_sqlstate; }

}  // namespace ovoflow::store
