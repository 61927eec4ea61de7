#include "api/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/validation.h"

namespace ovoflow::api {

std::string JsonQuote(std::string_view raw) {
  // Invalid UTF-8 (from a request path or body echoed in a problem) would
  // make the whole document invalid JSON: replace it.
  const std::string valid = IsValidUtf8(raw) ? std::string() : SanitizeUtf8(raw);
  const std::string_view s = valid.empty() ? raw : std::string_view(valid);
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          (void)std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));  // fits: 6 characters
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string PredictionJson(const v1::Prediction& prediction) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(prediction, &out, options);
  // Only invalid messages (e.g. a timestamp out of range) fail to print.
  if (!status.ok()) return "{\"egg_id\":" + JsonQuote(prediction.egg_id()) + "}";
  return out;
}

namespace {

// Printed like the protobuf JSON mapping prints Timestamps (0, 3, 6 or 9
// fractional digits).
std::string TimeJson(int64_t unix_nanos) {
  return JsonQuote(google::protobuf::util::TimeUtil::ToString(ToTimestamp(unix_nanos)));
}

}  // namespace

std::string EggJson(const store::StoredPrediction& stored, const store::StoredOutcome* outcome) {
  std::string out = PredictionJson(stored.prediction);
  // The printer always yields an object: "{...}". Splice stored_at in before the brace.
  out.pop_back();
  if (out.size() > 1) out.push_back(',');
  out += "\"stored_at\":" + TimeJson(stored.stored_at_unix_nanos);
  if (outcome != nullptr) out += ",\"outcome\":" + OutcomeJson(*outcome);
  out.push_back('}');
  return out;
}

std::string OutcomeJson(const store::StoredOutcome& stored) {
  const store::Outcome& o = stored.outcome;
  const store::JudgedPrediction& p = stored.prediction;
  std::string prediction = "{";
  JsonObjectWriter(&prediction)
      .String("sex", v1::Sex_Name(p.sex))
      .String("decision", v1::Decision_Name(p.decision))
      .Double("p_female", p.p_female)
      .String("model_name", p.model_name)
      .String("model_version", p.model_version)
      .Raw("captured_at", TimeJson(p.captured_at_unix_nanos));
  prediction.push_back('}');
  std::string out = "{";
  JsonObjectWriter(&out)
      .String("tenant_id", o.tenant_id)
      .String("egg_id", o.egg_id)
      .String("sex", v1::Sex_Name(o.sex))
      .String("source", o.source)
      .Raw("observed_at", TimeJson(o.observed_at_unix_nanos))
      .Raw("recorded_at", TimeJson(o.recorded_at_unix_nanos))
      .String("recorded_by", o.recorded_by)
      .String("note", o.note)
      .Raw("prediction", prediction)
      .Bool("correct", stored.correct());
  out.push_back('}');
  return out;
}

std::string AccuracyJson(const std::vector<store::ModelAccuracy>& rows) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const store::ModelAccuracy& a = rows[i];
    if (i) out.push_back(',');
    out.push_back('{');
    auto ratio = [](int64_t part, int64_t whole) { return static_cast<double>(part) / static_cast<double>(whole); };
    JsonObjectWriter w(&out);
    w.String("model_version", a.model_version)
        .Int("outcomes", a.outcomes)
        .Int("correct", a.correct)
        .Double("accuracy", a.outcomes > 0 ? ratio(a.correct, a.outcomes) : 0.0)
        .Int("decided", a.decided)
        .Int("decided_correct", a.decided_correct);
    // No KEEP/DIVERT egg judged yet: no decided accuracy, rather than a 0.
    if (a.decided > 0)
      w.Double("decided_accuracy", ratio(a.decided_correct, a.decided));
    else
      w.Raw("decided_accuracy", "null");
    w.Int("rechecks", a.rechecks);
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

std::string EggPageJson(const store::EggPage& page) {
  std::string out = "{\"items\":[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i) out.push_back(',');
    out += EggJson(page.items[i]);
  }
  out += "],\"next_cursor\":" + JsonQuote(page.next_cursor) + "}";
  return out;
}

namespace {

void WriteCounts(JsonObjectWriter& w, const store::Counts& c) {
  w.Int("total", c.total)
      .Int("female", c.female)
      .Int("male", c.male)
      .Int("keep", c.keep)
      .Int("divert", c.divert)
      .Int("recheck", c.recheck)
      .Double("female_ratio", c.total > 0 ? static_cast<double>(c.female) / static_cast<double>(c.total) : 0.0)
      .Double("mean_p_female", c.mean_p_female)
      .Double("mean_end_to_end_seconds", c.mean_end_to_end_seconds);
}

// The rows of `tenant_id` from `accuracy`.
std::vector<store::ModelAccuracy> TenantAccuracy(const std::vector<store::ModelAccuracy>& accuracy,
                                                 const std::string& tenant_id) {
  std::vector<store::ModelAccuracy> out;
  for (const auto& a : accuracy)
    if (a.tenant_id == tenant_id) out.push_back(a);
  return out;
}

// The rows summed per model version over tenants, sorted by model_version.
std::vector<store::ModelAccuracy> AccuracyPerVersion(const std::vector<store::ModelAccuracy>& accuracy) {
  std::map<std::string, store::ModelAccuracy> by_version;
  for (const auto& a : accuracy) {
    store::ModelAccuracy& sum = by_version[a.model_version];
    sum.model_version = a.model_version;
    sum.outcomes += a.outcomes;
    sum.correct += a.correct;
    sum.decided += a.decided;
    sum.decided_correct += a.decided_correct;
    sum.rechecks += a.rechecks;
  }
  std::vector<store::ModelAccuracy> out;
  out.reserve(by_version.size());
  for (auto& [version, sum] : by_version) out.push_back(std::move(sum));
  return out;
}

}  // namespace

std::string StatsJson(const store::Stats& stats, const std::vector<store::ModelAccuracy>& accuracy) {
  std::string out = "{";
  JsonObjectWriter w(&out);
  WriteCounts(w, stats.overall);
  w.Raw("accuracy", AccuracyJson(AccuracyPerVersion(accuracy)));
  std::string tenants = "[";
  for (std::size_t i = 0; i < stats.tenants.size(); ++i) {
    if (i) tenants.push_back(',');
    tenants.push_back('{');
    JsonObjectWriter t(&tenants);
    t.String("tenant_id", stats.tenants[i].tenant_id);
    WriteCounts(t, stats.tenants[i].counts);
    t.Raw("accuracy", AccuracyJson(TenantAccuracy(accuracy, stats.tenants[i].tenant_id)));
    tenants.push_back('}');
  }
  tenants.push_back(']');
  w.Raw("tenants", tenants);
  out.push_back('}');
  return out;
}

void JsonObjectWriter::Key(std::string_view key) {
  if (!first_) out_->push_back(',');
  first_ = false;
  *out_ += JsonQuote(key);
  out_->push_back(':');
}

JsonObjectWriter& JsonObjectWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  *out_ += JsonQuote(value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  *out_ += std::to_string(value);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Double(std::string_view key, double value) {
  Key(key);
  if (!std::isfinite(value)) value = 0;  // JSON has no NaN/Inf
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out_->append(buf, ec == std::errc() ? end : buf);
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Bool(std::string_view key, bool value) {
  Key(key);
  *out_ += value ? "true" : "false";
  return *this;
}

JsonObjectWriter& JsonObjectWriter::Raw(std::string_view key, std::string_view json) {
  Key(key);
  *out_ += json;
  return *this;
}

}  // namespace ovoflow::api
