#include "common/testing/test_scan.h"

#include "common/clock.h"

namespace ovoflow::testing {

v1::EggScan MakeTestScan(const std::string& egg_id, const std::string& tenant_id, int64_t captured_unix_nanos,
                         TestScanShape shape, const std::function<uint8_t(std::size_t)>& voxel) {
  v1::EggScan s;
  s.set_egg_id(egg_id);
  s.set_tenant_id(tenant_id);
  *s.mutable_captured_at() = ToTimestamp(captured_unix_nanos);
  s.set_incubation_day(12);
  auto* v = s.mutable_volume();
  v->set_dim_x(shape.dim_x);
  v->set_dim_y(shape.dim_y);
  v->set_dim_z(shape.dim_z);
  v->set_spacing_x_mm(0.5f);
  v->set_spacing_y_mm(0.5f);
  v->set_spacing_z_mm(0.5f);
  v->add_channels(v1::CHANNEL_T2W);
  v->set_dtype(v1::DTYPE_UINT8);
  v->set_encoding(v1::ENCODING_RAW);
  std::string data(std::size_t{shape.dim_x} * shape.dim_y * shape.dim_z, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(voxel ? voxel(i) : i % 200);
  v->set_data(std::move(data));
  return s;
}

}  // namespace ovoflow::testing
