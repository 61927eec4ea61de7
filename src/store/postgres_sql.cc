#include "store/postgres_sql.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

namespace ovoflow::store {
namespace {

constexpr int64_t kNsPerDay = 86'400'000'000'000;

// PostgreSQL element type of each column's array, in PredictionColumn order.
constexpr std::array<const char*, kPredictionColumnCount> kPgColumnTypes = {
    "text", "text",   "text",   "text",   "bigint", "bigint", "smallint", "float8", "smallint", "text",
    "text", "float8", "float8", "bigint", "bigint", "bigint", "bigint",   "bigint", "text",
};

std::vector<std::string> ColumnNames() {
  std::vector<std::string> names;
  const std::string& list = PredictionColumnList();
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = list.find(", ", start);
    names.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 2;
  }
  return names;
}

std::string Join(const std::vector<std::string>& parts, const std::string& prefix = "") {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + prefix + parts[i];
  return out;
}

std::chrono::sys_days DayPoint(int64_t utc_day) {
  return std::chrono::sys_days(std::chrono::days(static_cast<std::chrono::days::rep>(utc_day)));
}

}  // namespace

const std::string& PgInsertBatchSql() {
  static const std::string* sql = [] {
    const std::vector<std::string> cols = ColumnNames();
    std::vector<std::string> arrays, input_cols, select_cols;
    for (int c = 0; c < kPredictionColumnCount; ++c) {
      const std::string placeholder = "$" + std::to_string(c + 1);
      const auto i = static_cast<std::size_t>(c);
      if (c == kColStoredAtNs) {  // one value for the whole batch
        select_cols.push_back(placeholder + "::bigint");
        continue;
      }
      arrays.push_back(placeholder + "::" + kPgColumnTypes[i] + "[]");
      input_cols.push_back(cols[i]);
      select_cols.push_back("f." + cols[i]);
    }
    return new std::string(
        "WITH input AS ("
        "SELECT * FROM unnest(" +
        Join(arrays) + ") WITH ORDINALITY AS t(" + Join(input_cols) +
        ", ord)), "
        // The first copy of a key in the batch wins, as in SQLite.
        "firsts AS (SELECT DISTINCT ON (tenant_id, egg_id) * FROM input ORDER BY tenant_id, egg_id, ord), "
        // Claims in key order, so two writers with overlapping batches wait
        // on each other instead of deadlocking.
        "claimed AS (INSERT INTO egg_keys (tenant_id, egg_id, captured_at_ns)"
        " SELECT tenant_id, egg_id, captured_at_ns FROM firsts ORDER BY tenant_id, egg_id"
        " ON CONFLICT (tenant_id, egg_id) DO NOTHING RETURNING tenant_id, egg_id) "
        "INSERT INTO predictions (" +
        PredictionColumnList() +
        ") "
        "SELECT " +
        Join(select_cols) + " FROM firsts f JOIN claimed USING (tenant_id, egg_id)");
  }();
  return *sql;
}

std::vector<SqlValue> PgInsertBatchParams(const std::vector<v1::Prediction>& batch, int64_t stored_at_unix_nanos) {
  std::vector<std::vector<SqlValue>> columns(kPredictionColumnCount);
  for (auto& column : columns) column.reserve(batch.size());
  for (const v1::Prediction& p : batch) {
    std::vector<SqlValue> row = InsertPredictionParams(p, stored_at_unix_nanos);
    for (std::size_t c = 0; c < row.size(); ++c) columns[c].push_back(std::move(row[c]));
  }
  std::vector<SqlValue> params;
  params.reserve(kPredictionColumnCount);
  for (int c = 0; c < kPredictionColumnCount; ++c) {
    if (c == kColStoredAtNs)
      params.emplace_back(stored_at_unix_nanos);
    else
      params.emplace_back(PgArrayLiteral(columns[static_cast<std::size_t>(c)]));
  }
  return params;
}

std::string PgText(const SqlValue& value) {
  if (const auto* n = std::get_if<int64_t>(&value)) return std::to_string(*n);
  if (const auto* d = std::get_if<double>(&value)) {
    if (std::isnan(*d)) return "NaN";
    if (std::isinf(*d)) return *d > 0 ? "Infinity" : "-Infinity";
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *d);  // shortest exact form
    return std::string(buf, ec == std::errc() ? end : buf);
  }
  return std::get<std::string>(value);
}

std::string PgArrayLiteral(const std::vector<SqlValue>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (const auto* s = std::get_if<std::string>(&values[i])) {
      out += '"';
      for (char ch : *s) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
      out += '"';
    } else {
      out += PgText(values[i]);
    }
  }
  out += '}';
  return out;
}

int64_t UtcDay(int64_t unix_nanos) {
  int64_t day = unix_nanos / kNsPerDay;
  if (unix_nanos % kNsPerDay < 0) --day;  // floor, also before 1970
  return day;
}

std::string PartitionName(int64_t utc_day) {
  const std::chrono::year_month_day ymd(DayPoint(utc_day));
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "predictions_d%04d%02u%02u", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::vector<std::string> CreatePartitionSql(int64_t utc_day) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  // Division truncates toward zero: day * kNsPerDay stays in range for
  // kMin / kNsPerDay <= day <= kMax / kNsPerDay.
  const std::string from = utc_day < kMin / kNsPerDay ? "MINVALUE" : std::to_string(utc_day * kNsPerDay);
  const std::string to = utc_day + 1 > kMax / kNsPerDay ? "MAXVALUE" : std::to_string((utc_day + 1) * kNsPerDay);
  const std::string name = PartitionName(utc_day);
  return {
      "CREATE TABLE IF NOT EXISTS " + name + " (LIKE predictions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
      "ALTER TABLE predictions ATTACH PARTITION " + name + " FOR VALUES FROM (" + from + ") TO (" + to + ")",
  };
}

SqlQuery CreatePartitionCall(int64_t utc_day) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  const std::string from = utc_day < kMin / kNsPerDay ? "MINVALUE" : std::to_string(utc_day * kNsPerDay);
  const std::string to = utc_day + 1 > kMax / kNsPerDay ? "MAXVALUE" : std::to_string((utc_day + 1) * kNsPerDay);
  return {"SELECT ovoflow_create_partition($1, $2, $3)", {PartitionName(utc_day), from, to}};
}

const std::string& PartitionAttachedSql() {
  static const std::string* sql = new std::string(
      "SELECT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
      " WHERE i.inhparent = 'predictions'::regclass AND c.relname = $1)");
  return *sql;
}

const std::string& ListPartitionsSql() {
  static const std::string* sql = new std::string(
      "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
      " WHERE i.inhparent = 'predictions'::regclass ORDER BY c.relname");
  return *sql;
}

std::optional<int64_t> PartitionDay(std::string_view name) {
  constexpr std::string_view kPrefix = "predictions_d";
  if (!name.starts_with(kPrefix) || name.size() != kPrefix.size() + 8) return std::nullopt;
  int y = 0;
  unsigned m = 0, d = 0;
  const std::string_view digits = name.substr(kPrefix.size());
  auto parse = [&](std::size_t at, std::size_t len, auto& out) {
    const char* first = digits.data() + at;
    const auto [end, ec] = std::from_chars(first, first + len, out);
    return ec == std::errc() && end == first + len;
  };
  if (!parse(0, 4, y) || !parse(4, 2, m) || !parse(6, 2, d)) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<int64_t>(std::chrono::sys_days(ymd).time_since_epoch().count());
}

SqlQuery BuildPgGetEggQuery(const TenantScope& scope, std::string_view egg_id) {
  SqlQuery q;
  q.params.emplace_back(std::string(egg_id));
  std::string key_filter = "egg_id = $1";
  if (scope.none()) {
    key_filter += " AND 1 = 0";
  } else if (!scope.all()) {
    std::string in;
    for (const auto& t : scope.tenants()) {
      q.params.emplace_back(t);
      in += (in.empty() ? "$" : ", $") + std::to_string(q.params.size());
    }
    key_filter += scope.tenants().size() == 1 ? " AND tenant_id = " + in : " AND tenant_id IN (" + in + ")";
  }
  const std::vector<std::string> cols = ColumnNames();
  q.sql = "SELECT " + Join(cols, "p.") + " FROM (SELECT tenant_id, egg_id, captured_at_ns FROM egg_keys WHERE " +
          key_filter +
          " ORDER BY tenant_id LIMIT 1) k"
          " CROSS JOIN LATERAL (SELECT " +
          Join(cols) +
          " FROM predictions WHERE tenant_id = k.tenant_id AND captured_at_ns = k.captured_at_ns"
          " AND egg_id = k.egg_id) p";
  return q;
}

std::string RedactPgUrl(const std::string& url) {
  std::string out = url;
  // user:password@ in the authority (before the first '/', '?' after "//").
  if (const std::size_t scheme = out.find("://"); scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t end = std::min(out.find_first_of("/?", start), out.size());
    const std::size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= start) {
      const std::size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... among the parameters.
  for (std::size_t pos = out.find("password="); pos != std::string::npos; pos = out.find("password=", pos)) {
    const bool is_key = pos > 0 && (out[pos - 1] == '?' || out[pos - 1] == '&');
    pos += 9;
    if (!is_key) continue;
    const std::size_t end = std::min(out.find('&', pos), out.size());
    out.replace(pos, end - pos, "***");
  }
  return out;
}

std::string PgUrlWithDefaults(const std::string& url, int connect_timeout_s) {
  std::string out = url;
  const std::size_t query = out.find('?');
  auto has_param = [&](const std::string& key) {
    if (query == std::string::npos) return false;
    for (std::size_t pos = out.find(key + "=", query); pos != std::string::npos; pos = out.find(key + "=", pos + 1)) {
      if (out[pos - 1] == '?' || out[pos - 1] == '&') return true;
    }
    return false;
  };
  std::vector<std::string> add;
  if (!has_param("connect_timeout")) add.push_back("connect_timeout=" + std::to_string(connect_timeout_s));
  if (!has_param("application_name")) add.push_back("application_name=ovoflow-store");
  for (std::size_t i = 0; i < add.size(); ++i) out += (query == std::string::npos && i == 0 ? "?" : "&") + add[i];
  return out;
}

}  // namespace ovoflow::store
