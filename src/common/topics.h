// Kafka topic names (versioned with the wire schemas) and shared defaults.
#pragma once

namespace ovoflow {

inline constexpr const char* kScansTopic = "ovoflow.scans.v1";
inline constexpr const char* kPredictionsTopic = "ovoflow.predictions.v1";
inline constexpr const char* kDeadLetterTopic = "ovoflow.deadletter.v1";
// Compacted, one partition: ModelActivation records keyed by role (docs/models.md).
inline constexpr const char* kModelsTopic = "ovoflow.models.v1";

// Default bootstrap address of the local broker started by scripts/kafka.
inline constexpr const char* kDefaultBrokers = "127.0.0.1:9092";

// Default consumer groups of the inference workers and the store writers.
inline constexpr const char* kInferGroup = "ovoflow-infer";
inline constexpr const char* kStoreGroup = "ovoflow-store";

}  // namespace ovoflow
