// The pipeline's records as a stage reads them off a topic: the message and
// key size limits, the protobuf parse and the record rules
// (common/validation.h), with the Rejection a stage dead-letters when one
// fails ("oversized", "parse" or "invalid").
#pragma once

#include <cstddef>
#include <optional>

#include "bus/message.h"
#include "bus/stage_runtime.h"
#include "common/volume.h"
#include "ovoflow/v1/egg_scan.pb.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::bus {

// A prediction (at most kMaxPredictionMessageBytes) that ValidatePrediction accepts.
std::optional<Rejection> ReadPrediction(const Message& message, std::size_t index, v1::Prediction* out);
// A scan of at most `max_bytes` that ValidateScan accepts under `limits`.
std::optional<Rejection> ReadScan(const Message& message, std::size_t index, std::size_t max_bytes,
                                  const ScanLimits& limits, v1::EggScan* out);

}  // namespace ovoflow::bus
