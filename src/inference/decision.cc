#include "inference/decision.h"

#include <string>

namespace ovoflow::inference {

Status ValidateThresholds(const Thresholds& t) {
  if (!(t.divert_max_p_female >= 0.0f && t.divert_max_p_female < 0.5f))
    return Status::InvalidArgument("divert threshold must be in [0, 0.5), got " +
                                   std::to_string(t.divert_max_p_female));
  if (!(t.keep_min_p_female > 0.5f && t.keep_min_p_female <= 1.0f))
    return Status::InvalidArgument("keep threshold must be in (0.5, 1], got " + std::to_string(t.keep_min_p_female));
  return Status::Ok();
}

v1::Decision Decide(float p_female, const Thresholds& t) {
  if (p_female >= t.keep_min_p_female) return v1::DECISION_KEEP;
  if (p_female <= t.divert_max_p_female) return v1::DECISION_DIVERT;
  return v1::DECISION_RECHECK;  // also NaN
}

v1::Sex SexOf(float p_female) { return p_female >= 0.5f ? v1::SEX_FEMALE : v1::SEX_MALE; }

}  // namespace ovoflow::inference
