// JSON bodies of the API: the protobuf JSON mapping for predictions (proto
// field names, enums as names, RFC 3339 timestamps) and a small writer for
// the few hand-shaped objects (pages, stats, problems).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ovoflow/v1/prediction.pb.h"
#include "store/prediction_store.h"

namespace ovoflow::api {

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

// The live-feed message: the Prediction's JSON object.
std::string PredictionJson(const v1::Prediction& prediction);
// The egg resource: the Prediction's JSON object plus "stored_at", and
// "outcome" (OutcomeJson) when `outcome` is not null.
std::string EggJson(const store::StoredPrediction& stored, const store::StoredOutcome* outcome = nullptr);
// {"tenant_id","egg_id","sex","source","observed_at","recorded_at",
//  "recorded_by","note","prediction":{...},"correct"}: ground truth and the
// prediction it judged.
std::string OutcomeJson(const store::StoredOutcome& outcome);
// [{"model_version","outcomes","correct","accuracy","decided",
//   "decided_correct","decided_accuracy","rechecks"}...] in the order given.
std::string AccuracyJson(const std::vector<store::ModelAccuracy>& rows);
// {"items":[egg...],"next_cursor":"..."}
std::string EggPageJson(const store::EggPage& page);
// {"total",...,"accuracy":[...],"tenants":[{"tenant_id",...,"accuracy":[...]}]}:
// `accuracy` rows (sorted by tenant, then model version) go to their
// tenant's entry, and summed per model version into the overall "accuracy".
std::string StatsJson(const store::Stats& stats, const std::vector<store::ModelAccuracy>& accuracy = {});

// Appends members to a JSON object under construction; the caller writes
// the braces. Not thread-safe.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string* out) : out_(out) {}
  JsonObjectWriter& String(std::string_view key, std::string_view value);
  JsonObjectWriter& Int(std::string_view key, int64_t value);
  JsonObjectWriter& Double(std::string_view key, double value);
  JsonObjectWriter& Bool(std::string_view key, bool value);
  JsonObjectWriter& Raw(std::string_view key, std::string_view json);

 private:
  void Key(std::string_view key);
  std::string* out_;
  bool first_ = true;
};

}  // namespace ovoflow::api
