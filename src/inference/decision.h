// The rule that turns p_female into what the sorting line does.
#pragma once

#include "common/status.h"
#include "ovoflow/v1/prediction.pb.h"

namespace ovoflow::inference {

// KEEP when p_female >= keep_min_p_female, DIVERT when p_female <=
// divert_max_p_female, RECHECK in between (the safe default: the egg is
// scanned again, never sorted on a doubtful result).
struct Thresholds {
  float keep_min_p_female = 0.90f;    // probability in (0.5, 1]
  float divert_max_p_female = 0.10f;  // probability in [0, 0.5)
};

// InvalidArgument unless 0 <= divert < 0.5 < keep <= 1.
Status ValidateThresholds(const Thresholds& t);

v1::Decision Decide(float p_female, const Thresholds& t);
v1::Sex SexOf(float p_female);  // FEMALE when p_female >= 0.5

}  // namespace ovoflow::inference
