#include "store/outcome_sql.h"

#include <algorithm>

#include "common/clock.h"

namespace ovoflow::store {
namespace {

// Columns of an outcome row, in this order in every SELECT and the INSERT.
enum OutcomeColumn : int {
  kOcTenantId = 0,
  kOcEggId,
  kOcSex,
  kOcSource,
  kOcObservedAtNs,
  kOcRecordedAtNs,
  kOcRecordedBy,
  kOcNote,
  kOcPredictedSex,
  kOcPredictedDecision,
  kOcPFemale,
  kOcModelName,
  kOcModelVersion,
  kOcCapturedAtNs,
  kOutcomeColumnCount,
};

constexpr const char* kOutcomeColumns =
    "tenant_id, egg_id, sex, source, observed_at_ns, recorded_at_ns, recorded_by, note,"
    " predicted_sex, predicted_decision, p_female, model_name, model_version, captured_at_ns";

std::string Placeholder(SqlDialect dialect, int n) {
  return (dialect == SqlDialect::kSqlite ? "?" : "$") + std::to_string(n);
}

// " WHERE ..." for the tenant and the time range on captured_at_ns.
std::string ScopeClause(SqlDialect dialect, const StatsQuery& query, std::vector<SqlValue>* params) {
  std::vector<std::string> conditions;
  auto add = [&](const std::string& expr, SqlValue v) {
    params->push_back(std::move(v));
    conditions.push_back(expr + Placeholder(dialect, static_cast<int>(params->size())));
  };
  const TenantScope& scope = query.tenants;
  if (scope.none()) {
    conditions.push_back("1 = 0");
  } else if (!scope.all()) {
    std::string in;
    for (const auto& t : scope.tenants()) {
      params->push_back(t);
      in += (in.empty() ? "" : ", ") + Placeholder(dialect, static_cast<int>(params->size()));
    }
    conditions.push_back("tenant_id IN (" + in + ")");
  }
  if (query.from_unix_nanos) add("captured_at_ns >= ", *query.from_unix_nanos);
  if (query.to_unix_nanos) add("captured_at_ns < ", *query.to_unix_nanos);
  std::string out;
  for (std::size_t i = 0; i < conditions.size(); ++i) out += (i == 0 ? " WHERE " : " AND ") + conditions[i];
  return out;
}

std::string SexName(v1::Sex sex) { return v1::Sex_Name(sex); }

}  // namespace

const std::vector<std::string>& OutcomeSources() {
  static const auto* sources = new std::vector<std::string>{"hatch", "feather_sexing", "vent_sexing"};
  return *sources;
}

Status CheckOutcome(const Outcome& o, std::string* field) {
  auto bad = [&](const char* name, const std::string& detail) {
    if (field != nullptr) *field = name;
    return Status::InvalidArgument(std::string(name) + ": " + detail);
  };
  if (o.tenant_id.empty()) return bad("tenant_id", "is required");
  if (o.egg_id.empty()) return bad("egg_id", "is required");
  if (o.sex != v1::SEX_FEMALE && o.sex != v1::SEX_MALE)
    return bad("sex", "must be SEX_FEMALE or SEX_MALE, got " + std::to_string(static_cast<int>(o.sex)));
  const auto& sources = OutcomeSources();
  if (std::find(sources.begin(), sources.end(), o.source) == sources.end()) {
    std::string known;
    for (const auto& s : sources) known += (known.empty() ? "" : ", ") + s;
    return bad("source", "'" + o.source + "' is not one of " + known);
  }
  if (o.observed_at_unix_nanos <= 0) return bad("observed_at", "must be after 1970-01-01T00:00:00Z");
  if (o.recorded_at_unix_nanos <= 0) return bad("recorded_at", "must be after 1970-01-01T00:00:00Z");
  return Status::Ok();
}

SqlQuery BuildInsertOutcomeQuery(SqlDialect dialect, const StoredOutcome& s) {
  SqlQuery q;
  std::string values;
  for (int i = 1; i <= kOutcomeColumnCount; ++i) values += (i > 1 ? ", " : "") + Placeholder(dialect, i);
  q.sql = std::string("INSERT INTO outcomes (") + kOutcomeColumns + ") VALUES (" + values +
          ") ON CONFLICT (tenant_id, egg_id) DO NOTHING RETURNING tenant_id";
  const Outcome& o = s.outcome;
  const JudgedPrediction& p = s.prediction;
  q.params = {o.tenant_id,
              o.egg_id,
              static_cast<int64_t>(o.sex),
              o.source,
              o.observed_at_unix_nanos,
              o.recorded_at_unix_nanos,
              o.recorded_by,
              o.note,
              static_cast<int64_t>(p.sex),
              static_cast<int64_t>(p.decision),
              static_cast<double>(p.p_female),
              p.model_name,
              p.model_version,
              p.captured_at_unix_nanos};
  return q;
}

SqlQuery BuildGetOutcomeQuery(SqlDialect dialect, std::string_view tenant_id, std::string_view egg_id) {
  return {std::string("SELECT ") + kOutcomeColumns + " FROM outcomes WHERE tenant_id = " + Placeholder(dialect, 1) +
              " AND egg_id = " + Placeholder(dialect, 2),
          {std::string(tenant_id), std::string(egg_id)}};
}

StoredOutcome OutcomeFromRow(const RowReader& row) {
  StoredOutcome s;
  Outcome& o = s.outcome;
  o.tenant_id = row.Text(kOcTenantId);
  o.egg_id = row.Text(kOcEggId);
  o.sex = static_cast<v1::Sex>(row.Int(kOcSex));
  o.source = row.Text(kOcSource);
  o.observed_at_unix_nanos = row.Int(kOcObservedAtNs);
  o.recorded_at_unix_nanos = row.Int(kOcRecordedAtNs);
  o.recorded_by = row.Text(kOcRecordedBy);
  o.note = row.Text(kOcNote);
  JudgedPrediction& p = s.prediction;
  p.sex = static_cast<v1::Sex>(row.Int(kOcPredictedSex));
  p.decision = static_cast<v1::Decision>(row.Int(kOcPredictedDecision));
  p.p_female = static_cast<float>(row.Real(kOcPFemale));
  p.model_name = row.Text(kOcModelName);
  p.model_version = row.Text(kOcModelVersion);
  p.captured_at_unix_nanos = row.Int(kOcCapturedAtNs);
  return s;
}

SqlQuery BuildAccuracyQuery(SqlDialect dialect, const StatsQuery& query) {
  SqlQuery q;
  const std::string where = ScopeClause(dialect, query, &q.params);
  const std::string female = std::to_string(v1::SEX_FEMALE), male = std::to_string(v1::SEX_MALE);
  const std::string keep = std::to_string(v1::DECISION_KEEP), divert = std::to_string(v1::DECISION_DIVERT);
  const std::string recheck = std::to_string(v1::DECISION_RECHECK);
  q.sql =
      "SELECT tenant_id, model_version, COUNT(*),"
      " SUM(CASE WHEN predicted_sex = sex THEN 1 ELSE 0 END),"
      " SUM(CASE WHEN predicted_decision IN (" +
      keep + ", " + divert +
      ") THEN 1 ELSE 0 END),"
      " SUM(CASE WHEN (predicted_decision = " +
      keep + " AND sex = " + female + ") OR (predicted_decision = " + divert + " AND sex = " + male +
      ") THEN 1 ELSE 0 END),"
      " SUM(CASE WHEN predicted_decision = " +
      recheck +
      " THEN 1 ELSE 0 END)"
      " FROM outcomes" +
      where + " GROUP BY tenant_id, model_version ORDER BY tenant_id, model_version";
  return q;
}

ModelAccuracy AccuracyFromRow(const RowReader& row) {
  ModelAccuracy a;
  a.tenant_id = row.Text(0);
  a.model_version = row.Text(1);
  a.outcomes = row.Int(2);
  a.correct = row.Int(3);
  a.decided = row.Int(4);
  a.decided_correct = row.Int(5);
  a.rechecks = row.Int(6);
  return a;
}

Result<RecordedOutcome> RecordOutcomeWith(SqlDialect dialect, const Outcome& outcome, const SqlQuery& get_prediction,
                                          const QueryRunner& run) {
  OVOFLOW_RETURN_IF_ERROR(CheckOutcome(outcome));
  std::optional<StoredPrediction> prediction;
  OVOFLOW_RETURN_IF_ERROR(run(get_prediction, [&](const RowReader& row) { prediction = PredictionFromRow(row); }));
  if (!prediction)
    return Status::NotFound("tenant '" + outcome.tenant_id + "' has no prediction for egg '" + outcome.egg_id +
                            "'; an outcome is recorded against the egg's stored prediction");
  RecordedOutcome out;
  out.stored.outcome = outcome;
  const v1::Prediction& p = prediction->prediction;
  out.stored.prediction = {p.sex(),        p.decision(),      p.p_female(),
                           p.model_name(), p.model_version(), FromTimestamp(p.times().captured_at())};
  OVOFLOW_RETURN_IF_ERROR(
      run(BuildInsertOutcomeQuery(dialect, out.stored), [&](const RowReader&) { out.created = true; }));
  if (out.created) return out;

  OVOFLOW_ASSIGN_OR_RETURN(auto existing, GetOutcomeWith(dialect, outcome.tenant_id, outcome.egg_id, run));
  if (!existing.has_value())  // only if deleted between the two statements
    return Status::Unavailable("the outcome of egg '" + outcome.egg_id + "' changed meanwhile; retry");
  const Outcome& first = (existing)->outcome;
  if (first.sex != outcome.sex) {
    return Status{StatusCode::kAlreadyExists, "egg '" + outcome.egg_id + "' of tenant '" + outcome.tenant_id +
                                                  "' already has the outcome " + SexName(first.sex) + " (source " +
                                                  first.source + "); a recorded outcome is never overwritten"};
  }
  out.stored = std::move(*existing);
  return out;
}

Result<std::optional<StoredOutcome>> GetOutcomeWith(SqlDialect dialect, std::string_view tenant_id,
                                                    std::string_view egg_id, const QueryRunner& run) {
  if (tenant_id.empty() || egg_id.empty()) return Status::InvalidArgument("an outcome needs tenant_id and egg_id");
  std::optional<StoredOutcome> found;
  OVOFLOW_RETURN_IF_ERROR(run(BuildGetOutcomeQuery(dialect, tenant_id, egg_id),
                              [&](const RowReader& row) { found = OutcomeFromRow(row); }));
  return found;
}

Result<std::vector<ModelAccuracy>> GetAccuracyWith(SqlDialect dialect, const StatsQuery& query,
                                                   const QueryRunner& run) {
  OVOFLOW_RETURN_IF_ERROR(CheckStatsQuery(query));
  std::vector<ModelAccuracy> rows;
  OVOFLOW_RETURN_IF_ERROR(
      run(BuildAccuracyQuery(dialect, query), [&](const RowReader& row) { rows.push_back(AccuracyFromRow(row)); }));
  return rows;
}

}  // namespace ovoflow::store
