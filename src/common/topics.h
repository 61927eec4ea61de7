// Kafka topic names (versioned with the wire schemas) and shared defaults.
#pragma once

#include <string>
#include <string_view>

namespace ovoflow {

inline constexpr const char* kScansTopic = "ovoflow.scans.v1";
// One scan topic per tenant, ovoflow.scans.v1.<tenant> (docs/kafka-security.md):
// a scanner's Kafka credentials may write its tenant's topic only, and the
// workers dead-letter a scan whose tenant_id is not its topic's tenant.
// Workers subscribe to the shared topic and every tenant's by this regex.
inline constexpr const char* kScanTopicsPattern = "^ovoflow\\.scans\\.v1(\\.[A-Za-z0-9._-]+)?$";
inline std::string ScanTopicFor(std::string_view tenant) {
  return std::string(kScansTopic) + "." + std::string(tenant);
}
// The tenant of a per-tenant scan topic; empty for the shared topic (which
// carries any tenant's scans) and for any other topic.
inline std::string_view ScanTopicTenant(std::string_view topic) {
  const std::string_view prefix = "ovoflow.scans.v1.";
  return topic.substr(0, prefix.size()) == prefix ? topic.substr(prefix.size()) : std::string_view();
}
inline constexpr const char* kPredictionsTopic = "ovoflow.predictions.v1";
inline constexpr const char* kDeadLetterTopic = "ovoflow.deadletter.v1";
// What the edge agents told their sorting lines (SortDecision, key: egg_id).
inline constexpr const char* kDecisionsTopic = "ovoflow.decisions.v1";
// Compacted, one partition: ModelActivation records keyed by role (docs/models.md).
inline constexpr const char* kModelsTopic = "ovoflow.models.v1";

// Default bootstrap address of the local broker started by scripts/kafka.
inline constexpr const char* kDefaultBrokers = "127.0.0.1:9092";

// Default consumer groups of the inference workers and the store writers.
inline constexpr const char* kInferGroup = "ovoflow-infer";
inline constexpr const char* kStoreGroup = "ovoflow-store";

}  // namespace ovoflow
