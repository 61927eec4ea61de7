#include "api/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "common/clock.h"
#include "common/status.h"

namespace ovoflow::api {

std::string JsonQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
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

std::string EggJson(const store::StoredPrediction& stored) {
  std::string out = PredictionJson(stored.prediction);
  // The printer always yields an object: "{...}". Splice stored_at in before the brace.
  out.pop_back();
  if (out.size() > 1) out.push_back(',');
  // Printed like the mapping prints Timestamps (0, 3, 6 or 9 fractional digits).
  std::string stored_at = google::protobuf::util::TimeUtil::ToString(ToTimestamp(stored.stored_at_unix_nanos));
  out += "\"stored_at\":" + JsonQuote(stored_at) + "}";
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

}  // namespace

std::string StatsJson(const store::Stats& stats) {
  std::string out = "{";
  JsonObjectWriter w(&out);
  WriteCounts(w, stats.overall);
  std::string tenants = "[";
  for (std::size_t i = 0; i < stats.tenants.size(); ++i) {
    if (i) tenants.push_back(',');
    tenants.push_back('{');
    JsonObjectWriter t(&tenants);
    t.String("tenant_id", stats.tenants[i].tenant_id);
    WriteCounts(t, stats.tenants[i].counts);
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

JsonObjectWriter& JsonObjectWriter::Raw(std::string_view key, std::string_view json) {
  Key(key);
  *out_ += json;
  return *this;
}

}  // namespace ovoflow::api
