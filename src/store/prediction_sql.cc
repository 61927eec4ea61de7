#include "store/prediction_sql.h"

#include "common/clock.h"
#include "common/validation.h"

namespace ovoflow::store {
namespace {

constexpr const char* kColumnNames[kPredictionColumnCount] = {
    "tenant_id",
    "egg_id",
    "scanner_id",
    "tray_id",
    "tray_position",
    "incubation_day",
    "sex",
    "p_female",
    "decision",
    "model_name",
    "model_version",
    "keep_threshold",
    "divert_threshold",
    "captured_at_ns",
    "published_at_ns",
    "consumed_at_ns",
    "inferred_at_ns",
    "stored_at_ns",
    "worker_id",
};

constexpr const char* kOrderBy = " ORDER BY captured_at_ns DESC, tenant_id, egg_id";

// Builds a statement with numbered placeholders.
class SqlBuilder {
 public:
  explicit SqlBuilder(SqlDialect dialect) : dialect_(dialect) {}

  // Adds a parameter; returns its placeholder text.
  std::string Param(SqlValue v) {
    q_.params.push_back(std::move(v));
    return Placeholder(static_cast<int>(q_.params.size()));
  }
  std::string Placeholder(int n) const { return (dialect_ == SqlDialect::kSqlite ? "?" : "$") + std::to_string(n); }
  void Where(std::string condition) { conditions_.push_back(std::move(condition)); }
  // The scope's tenants: nothing for all, "1 = 0" for none, else = or IN.
  void WhereScope(const TenantScope& scope, const std::string& column = "tenant_id") {
    if (scope.all()) return;
    if (scope.none()) return Where("1 = 0");
    if (scope.tenants().size() == 1) return Where(column + " = " + Param(*scope.tenants().begin()));
    std::string in;
    for (const auto& t : scope.tenants()) in += (in.empty() ? "" : ", ") + Param(t);
    Where(column + " IN (" + in + ")");
  }
  // " WHERE a AND b" or "".
  std::string WhereClause() const {
    std::string out;
    for (std::size_t i = 0; i < conditions_.size(); ++i) out += (i == 0 ? " WHERE " : " AND ") + conditions_[i];
    return out;
  }
  SqlQuery Finish(std::string sql) {
    q_.sql = std::move(sql);
    return std::move(q_);
  }

 private:
  SqlDialect dialect_;
  SqlQuery q_;
  std::vector<std::string> conditions_;
};

int64_t NsOrZero(bool has, const google::protobuf::Timestamp& ts) { return has ? FromTimestamp(ts) : 0; }

double Mean(double sum, int64_t n) { return n == 0 ? 0.0 : sum / static_cast<double>(n); }

}  // namespace

const std::string& PredictionColumnList() {
  static const std::string* list = [] {
    auto* s = new std::string;
    for (int i = 0; i < kPredictionColumnCount; ++i) *s += (i ? ", " : "") + std::string(kColumnNames[i]);
    return s;
  }();
  return *list;
}

std::string InsertPredictionSql(SqlDialect dialect) {
  SqlBuilder b(dialect);
  std::string values;
  for (int i = 1; i <= kPredictionColumnCount; ++i) values += (i > 1 ? ", " : "") + b.Placeholder(i);
  return "INSERT INTO predictions (" + PredictionColumnList() + ") VALUES (" + values +
         ") ON CONFLICT (tenant_id, egg_id) DO NOTHING";
}

std::vector<SqlValue> InsertPredictionParams(const v1::Prediction& p, int64_t stored_at_unix_nanos) {
  const v1::StageTimes& t = p.times();
  std::vector<SqlValue> v(kPredictionColumnCount);
  v[kColTenantId] = p.tenant_id();
  v[kColEggId] = p.egg_id();
  v[kColScannerId] = p.scanner_id();
  v[kColTrayId] = p.tray_id();
  v[kColTrayPosition] = static_cast<int64_t>(p.tray_position());
  v[kColIncubationDay] = static_cast<int64_t>(p.incubation_day());
  v[kColSex] = static_cast<int64_t>(p.sex());
  v[kColPFemale] = static_cast<double>(p.p_female());
  v[kColDecision] = static_cast<int64_t>(p.decision());
  v[kColModelName] = p.model_name();
  v[kColModelVersion] = p.model_version();
  v[kColKeepThreshold] = static_cast<double>(p.keep_threshold());
  v[kColDivertThreshold] = static_cast<double>(p.divert_threshold());
  v[kColCapturedAtNs] = NsOrZero(t.has_captured_at(), t.captured_at());
  v[kColPublishedAtNs] = NsOrZero(t.has_published_at(), t.published_at());
  v[kColConsumedAtNs] = NsOrZero(t.has_consumed_at(), t.consumed_at());
  v[kColInferredAtNs] = NsOrZero(t.has_inferred_at(), t.inferred_at());
  v[kColStoredAtNs] = stored_at_unix_nanos;
  v[kColWorkerId] = p.worker_id();
  return v;
}

StoredPrediction PredictionFromRow(const RowReader& row) {
  StoredPrediction out;
  v1::Prediction& p = out.prediction;
  p.set_tenant_id(row.Text(kColTenantId));
  p.set_egg_id(row.Text(kColEggId));
  p.set_scanner_id(row.Text(kColScannerId));
  p.set_tray_id(row.Text(kColTrayId));
  p.set_tray_position(static_cast<uint32_t>(row.Int(kColTrayPosition)));
  p.set_incubation_day(static_cast<uint32_t>(row.Int(kColIncubationDay)));
  p.set_sex(static_cast<v1::Sex>(row.Int(kColSex)));
  p.set_p_female(static_cast<float>(row.Real(kColPFemale)));
  p.set_decision(static_cast<v1::Decision>(row.Int(kColDecision)));
  p.set_model_name(row.Text(kColModelName));
  p.set_model_version(row.Text(kColModelVersion));
  p.set_keep_threshold(static_cast<float>(row.Real(kColKeepThreshold)));
  p.set_divert_threshold(static_cast<float>(row.Real(kColDivertThreshold)));
  p.set_worker_id(row.Text(kColWorkerId));
  // 0 means the stage time was never set: leave the field absent.
  auto set_time = [&](int col, google::protobuf::Timestamp* (v1::StageTimes::*mut)()) {
    const int64_t ns = row.Int(col);
    if (ns != 0) *(p.mutable_times()->*mut)() = ToTimestamp(ns);
  };
  set_time(kColCapturedAtNs, &v1::StageTimes::mutable_captured_at);
  set_time(kColPublishedAtNs, &v1::StageTimes::mutable_published_at);
  set_time(kColConsumedAtNs, &v1::StageTimes::mutable_consumed_at);
  set_time(kColInferredAtNs, &v1::StageTimes::mutable_inferred_at);
  out.stored_at_unix_nanos = row.Int(kColStoredAtNs);
  return out;
}

std::string TenantScope::Joined() const {
  if (all_) return "*";
  std::string out;
  for (const auto& t : tenants_) out += (out.empty() ? "" : ",") + t;
  return out;
}

SqlQuery BuildGetEggQuery(SqlDialect dialect, const TenantScope& scope, std::string_view egg_id) {
  SqlBuilder b(dialect);
  b.Where("egg_id = " + b.Param(std::string(egg_id)));
  b.WhereScope(scope);
  return b.Finish("SELECT " + PredictionColumnList() + " FROM predictions" + b.WhereClause() +
                  " ORDER BY tenant_id LIMIT 1");
}

SqlQuery BuildListEggsQuery(SqlDialect dialect, const EggQuery& query, const CursorKey* after, int fetch_limit) {
  SqlBuilder b(dialect);
  b.WhereScope(query.tenants);
  if (query.sex) b.Where("sex = " + b.Param(static_cast<int64_t>(*query.sex)));
  if (query.decision) b.Where("decision = " + b.Param(static_cast<int64_t>(*query.decision)));
  if (query.from_unix_nanos) b.Where("captured_at_ns >= " + b.Param(*query.from_unix_nanos));
  if (query.to_unix_nanos) b.Where("captured_at_ns < " + b.Param(*query.to_unix_nanos));
  if (after != nullptr) {
    // Strictly after `after` in (captured_at_ns DESC, tenant_id, egg_id).
    // The redundant "<=" bounds the index range; the OR picks within it.
    const std::string at = b.Param(after->captured_at_ns);
    const std::string tenant = b.Param(after->tenant_id);
    const std::string egg = b.Param(after->egg_id);
    b.Where("captured_at_ns <= " + at);
    b.Where("(captured_at_ns < " + at + " OR tenant_id > " + tenant + " OR (tenant_id = " + tenant + " AND egg_id > " +
            egg + "))");
  }
  const std::string limit = b.Param(static_cast<int64_t>(fetch_limit));
  return b.Finish("SELECT " + PredictionColumnList() + " FROM predictions" + b.WhereClause() + kOrderBy + " LIMIT " +
                  limit);
}

SqlQuery BuildCountQuery(SqlDialect dialect, const TenantScope& scope) {
  SqlBuilder b(dialect);
  b.WhereScope(scope);
  return b.Finish("SELECT COUNT(*) FROM predictions" + b.WhereClause());
}

SqlQuery BuildStatsQuery(SqlDialect dialect, const StatsQuery& query) {
  SqlBuilder b(dialect);
  b.WhereScope(query.tenants);
  if (query.from_unix_nanos) b.Where("captured_at_ns >= " + b.Param(*query.from_unix_nanos));
  if (query.to_unix_nanos) b.Where("captured_at_ns < " + b.Param(*query.to_unix_nanos));
  auto count_if = [](const std::string& column, int value) {
    return "SUM(CASE WHEN " + column + " = " + std::to_string(value) + " THEN 1 ELSE 0 END)";
  };
  return b.Finish(
      "SELECT tenant_id, COUNT(*), " + count_if("sex", v1::SEX_FEMALE) + ", " + count_if("sex", v1::SEX_MALE) + ", " +
      count_if("decision", v1::DECISION_KEEP) + ", " + count_if("decision", v1::DECISION_DIVERT) + ", " +
      count_if("decision", v1::DECISION_RECHECK) +
      ", SUM(p_female), SUM(CAST(stored_at_ns - captured_at_ns AS DOUBLE PRECISION))"
      " FROM predictions" +
      // Without statistics SQLite prefers a full scan in tenant order (no
      // sort for GROUP BY) over the time range; pin the range scan.
      (dialect == SqlDialect::kSqlite && query.tenants.all() && (query.from_unix_nanos || query.to_unix_nanos)
           ? " INDEXED BY predictions_time_idx"
           : "") +
      b.WhereClause() + " GROUP BY tenant_id ORDER BY tenant_id");
}

TenantSums TenantSumsFromRow(const RowReader& row) {
  TenantSums s;
  s.tenant_id = row.Text(0);
  s.total = row.Int(1);
  s.female = row.Int(2);
  s.male = row.Int(3);
  s.keep = row.Int(4);
  s.divert = row.Int(5);
  s.recheck = row.Int(6);
  s.sum_p_female = row.Real(7);
  s.sum_end_to_end_ns = row.Real(8);
  return s;
}

Stats StatsFromSums(const std::vector<TenantSums>& sums) {
  Stats stats;
  double all_p = 0, all_e2e_ns = 0;
  auto to_counts = [](const TenantSums& s) {
    Counts c;
    c.total = s.total;
    c.female = s.female;
    c.male = s.male;
    c.keep = s.keep;
    c.divert = s.divert;
    c.recheck = s.recheck;
    c.mean_p_female = Mean(s.sum_p_female, s.total);
    c.mean_end_to_end_seconds = Mean(s.sum_end_to_end_ns, s.total) / 1e9;
    return c;
  };
  for (const TenantSums& s : sums) {
    stats.tenants.push_back({s.tenant_id, to_counts(s)});
    Counts& o = stats.overall;
    o.total += s.total;
    o.female += s.female;
    o.male += s.male;
    o.keep += s.keep;
    o.divert += s.divert;
    o.recheck += s.recheck;
    all_p += s.sum_p_female;
    all_e2e_ns += s.sum_end_to_end_ns;
  }
  stats.overall.mean_p_female = Mean(all_p, stats.overall.total);
  stats.overall.mean_end_to_end_seconds = Mean(all_e2e_ns, stats.overall.total) / 1e9;
  return stats;
}

Status CheckEggQuery(const EggQuery& query) {
  if (query.limit < 1 || query.limit > kMaxListLimit)
    return Status::InvalidArgument("limit must be in 1.." + std::to_string(kMaxListLimit) + ", got " +
                                   std::to_string(query.limit));
  if (query.from_unix_nanos && query.to_unix_nanos && *query.from_unix_nanos > *query.to_unix_nanos)
    return Status::InvalidArgument("the time range ends before it starts (from > to)");
  return Status::Ok();
}

Status CheckStatsQuery(const StatsQuery& query) {
  if (query.from_unix_nanos && query.to_unix_nanos && *query.from_unix_nanos > *query.to_unix_nanos)
    return Status::InvalidArgument("the time range ends before it starts (from > to)");
  return Status::Ok();
}

Status CheckInsertBatch(const std::vector<v1::Prediction>& batch) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const v1::Prediction& p = batch[i];
    if (Status st = ValidatePrediction(p); !st.ok())
      return Status::InvalidArgument("prediction #" + std::to_string(i) + " (egg_id '" +
                                     SanitizeUtf8(p.egg_id().substr(0, kMaxEggIdBytes)) + "'): " + st.message() +
                                     "; the batch was not stored");
  }
  return Status::Ok();
}

Result<std::optional<CursorKey>> DecodeQueryCursor(const EggQuery& query) {
  if (query.cursor.empty()) return std::optional<CursorKey>();
  OVOFLOW_ASSIGN_OR_RETURN(auto key, DecodeCursor(query.cursor));
  return std::optional<CursorKey>(std::move(key));
}

Result<EggPage> ListEggsWith(SqlDialect dialect, const EggQuery& query, const QueryRunner& run) {
  OVOFLOW_RETURN_IF_ERROR(CheckEggQuery(query));
  OVOFLOW_ASSIGN_OR_RETURN(auto after, DecodeQueryCursor(query));
  EggPage page;
  page.items.reserve(static_cast<std::size_t>(query.limit) + 1);
  Status st = run(BuildListEggsQuery(dialect, query, after ? &*after : nullptr, query.limit + 1),
                  [&](const RowReader& row) { page.items.push_back(PredictionFromRow(row)); });
  if (!st.ok()) return st;
  if (page.items.size() > static_cast<std::size_t>(query.limit)) {
    page.items.resize(static_cast<std::size_t>(query.limit));
    const v1::Prediction& last = page.items.back().prediction;
    page.next_cursor = EncodeCursor({FromTimestamp(last.times().captured_at()), last.tenant_id(), last.egg_id()});
  }
  return page;
}

Result<Stats> GetStatsWith(SqlDialect dialect, const StatsQuery& query, const QueryRunner& run) {
  OVOFLOW_RETURN_IF_ERROR(CheckStatsQuery(query));
  std::vector<TenantSums> sums;
  Status st =
      run(BuildStatsQuery(dialect, query), [&](const RowReader& row) { sums.push_back(TenantSumsFromRow(row)); });
  if (!st.ok()) return st;
  return StatsFromSums(sums);
}

Result<int64_t> CountWith(SqlDialect dialect, const TenantScope& scope, const QueryRunner& run) {
  int64_t n = 0;
  Status st = run(BuildCountQuery(dialect, scope), [&](const RowReader& row) { n = row.Int(0); });
  if (!st.ok()) return st;
  return n;
}

}  // namespace ovoflow::store
