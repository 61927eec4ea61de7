#include "common/volume.h"
#include "common/validation.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "common/clock.h"
#include "common/testing/test_scan.h"

namespace ovoflow {
namespace {

v1::EggScan ValidScan() {
  return testing::MakeTestScan("egg-1", "hatchery-a", 1'700'000'000'000'000'000, {4, 3, 2},
                               [](std::size_t i) { return static_cast<uint8_t>(i * 10); });
}

TEST(VolumeTest, AcceptsValidScan) { EXPECT_TRUE(ValidateScan(ValidScan()).ok()); }

TEST(VolumeTest, RejectsEachBrokenField) {
  auto expect_invalid = [](const v1::EggScan& s, const std::string& needle) {
    Status st = ValidateScan(s);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  auto s = ValidScan();
  s.clear_egg_id();
  expect_invalid(s, "egg_id");
  s = ValidScan();
  s.clear_tenant_id();
  expect_invalid(s, "tenant_id");
  s = ValidScan();
  s.clear_captured_at();
  expect_invalid(s, "captured_at");
  s = ValidScan();
  s.clear_volume();
  expect_invalid(s, "volume is missing");
  s = ValidScan();
  s.mutable_volume()->set_dim_x(0);
  expect_invalid(s, "dims");
  s = ValidScan();
  s.mutable_volume()->set_data("short");
  expect_invalid(s, "geometry needs");
  s = ValidScan();
  s.mutable_volume()->clear_channels();
  expect_invalid(s, "no channels");
  s = ValidScan();
  s.mutable_volume()->set_dtype(v1::DTYPE_UNSPECIFIED);
  expect_invalid(s, "dtype");
  s = ValidScan();
  s.mutable_volume()->set_encoding(v1::ENCODING_UNSPECIFIED);
  expect_invalid(s, "encoding");
  s = ValidScan();
  s.mutable_volume()->set_spacing_y_mm(0);
  expect_invalid(s, "spacing");
  s = ValidScan();
  s.mutable_volume()->set_encoding(v1::ENCODING_ZSTD);
  expect_invalid(s, "zstd");
}

TEST(VolumeTest, RejectsOversizedGeometry) {
  auto s = ValidScan();
  ScanLimits limits;
  limits.max_plain_bytes = 10;
  EXPECT_NE(ValidateScan(s, limits).message().find("exceeds"), std::string::npos);
}

TEST(VolumeTest, ZstdRoundTrip) {
  auto s = ValidScan();
  std::string plain = s.volume().data();
  ASSERT_TRUE(CompressVolume(s.mutable_volume()).ok());
  EXPECT_EQ(s.volume().encoding(), v1::ENCODING_ZSTD);
  EXPECT_TRUE(ValidateScan(s).ok());
  auto decoded = PlainVoxels(s.volume());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, plain);
  auto floats = VolumeToFloat(s.volume());
  ASSERT_TRUE(floats.ok());
  ASSERT_EQ(floats->size(), 24u);
  EXPECT_FLOAT_EQ((*floats)[3], 30.0f);
}

TEST(VolumeTest, Uint16AndFloat32) {
  auto s = ValidScan();
  auto* v = s.mutable_volume();
  v->set_dtype(v1::DTYPE_UINT16);
  std::string data(48, '\0');
  data[2] = 0x34;
  data[3] = 0x12;  // little-endian 0x1234 at voxel 1
  v->set_data(data);
  auto f = VolumeToFloat(*v);
  ASSERT_TRUE(f.ok());
  EXPECT_FLOAT_EQ((*f)[1], 4660.0f);
  v->set_dtype(v1::DTYPE_FLOAT32);
  EXPECT_FALSE(VolumeToFloat(*v).ok());  // 48 bytes but geometry needs 96
}

TEST(VolumeTest, CropKeepsChannelsAndClampsTheOrigin) {
  EXPECT_EQ(RoiOrigin({-5, 50, 3.5f}, {20, 40, 10}, {8, 8, 4}), (std::array<int, 3>{0, 32, 2}));
  v1::Volume v;
  v.set_dim_x(4);
  v.set_dim_y(3);
  v.set_dim_z(2);
  v.add_channels(v1::CHANNEL_T2W);
  v.add_channels(v1::CHANNEL_T2_MAP);
  v.set_dtype(v1::DTYPE_UINT8);
  v.set_encoding(v1::ENCODING_RAW);
  std::string d(48, '\0');
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>(i);
  v.set_data(d);
  auto crop = CropVolume(v, {1, 1, 1}, {2, 2, 1});
  ASSERT_TRUE(crop.ok()) << crop.status().ToString();
  // Channel 0: z 1, y 1..2, x 1..2 -> 12 + 4 + 1 = 17, 18, 21, 22; channel 1: +24.
  EXPECT_EQ(crop->data(), std::string({17, 18, 21, 22, 41, 42, 45, 46}));
  EXPECT_EQ(crop->channels_size(), 2);
  EXPECT_EQ(CropVolume(v, {3, 0, 0}, {2, 1, 1}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovoflow
