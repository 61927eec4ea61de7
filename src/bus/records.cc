#include "bus/records.h"

#include "common/validation.h"

namespace ovoflow::bus {

std::optional<Rejection> ReadPrediction(const Message& message, std::size_t index, v1::Prediction* out) {
  if (auto bad = ParseMessage(message, index, kMaxPredictionMessageBytes, out)) return bad;
  if (Status st = ValidatePrediction(*out); !st.ok()) return Rejection{index, "invalid", st.message()};
  return std::nullopt;
}

std::optional<Rejection> ReadScan(const Message& message, std::size_t index, std::size_t max_bytes,
                                  const ScanLimits& limits, v1::EggScan* out) {
  if (auto bad = ParseMessage(message, index, max_bytes, out)) return bad;
  if (Status st = ValidateScan(*out, limits); !st.ok()) return Rejection{index, "invalid", st.message()};
  return std::nullopt;
}

}  // namespace ovoflow::bus
