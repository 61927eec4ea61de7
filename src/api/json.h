// JSON bodies of the API: the protobuf JSON mapping for predictions (proto
// field names, enums as names, RFC 3339 timestamps) and a small writer for
// the few hand-shaped objects (pages, stats, problems).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_store.h"

namespace ovoflow::api {

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

// The live-feed message: the Prediction's JSON object.
std::string PredictionJson(const v1::Prediction& prediction);
// The egg resource: the Prediction's JSON object plus "stored_at".
std::string EggJson(const store::StoredPrediction& stored);
// {"items":[egg...],"next_cursor":"..."}
std::string EggPageJson(const store::EggPage& page);
// {"total",...,"tenants":[{"tenant_id",...}]}
std::string StatsJson(const store::Stats& stats);

// Appends members to a JSON object under construction; the caller writes
// the braces. Not thread-safe.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string* out) : out_(out) {}
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  JsonObjectWriter& Double(std::string_view key, double value);
  JsonObjectWriter& Raw(std::string_view key, std::string_view json);

 private:
  void Key(std::string_view key);
  std::string* out_;
  bool first_ = true;
};

}  // namespace ovoflow::api
