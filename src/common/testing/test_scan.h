// Builds valid EggScans for tests: one T2-weighted uint8 channel, raw
// encoding, 0.5 mm voxels. Test code only (library ovoflow_common_testing).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::testing {

struct TestScanShape {
  uint32_t dim_x = 32, dim_y = 32, dim_z = 16;  // the default model's input
};

// voxel(i) gives byte i of the volume (layout z, y, x); the default is i % 200.
v1::EggScan MakeTestScan(const std::string& egg_id, const std::string& tenant_id, int64_t captured_unix_nanos,
                         TestScanShape shape = {}, const std::function<uint8_t(std::size_t)>& voxel = {});

}  // namespace ovoflow::testing
