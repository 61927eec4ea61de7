#include "edge/embryo_locator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "edge/phantom.h"

namespace ovoflow::edge {
namespace {

TEST(EmbryoLocatorTest, FindsTheAbdomenOfPhantomEggs) {
  const PhantomGenerator gen{PhantomOptions{}};
  const EmbryoLocator locator;
  for (uint64_t i = 0; i < 20; ++i) {
    const EggVolume egg = gen.RenderEgg(31, i);
    auto found = locator.Locate(egg.volume);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    const float sp = egg.volume.spacing_x_mm();
    for (int a = 0; a < 3; ++a)
      EXPECT_LT(std::fabs(found->abdomen_voxel[static_cast<std::size_t>(a)] - egg.abdomen_voxel[a]) * sp, 3.0f)
          << "egg " << i << " axis " << a;
  }
}

TEST(EmbryoLocatorTest, RejectsWhatItCannotRead) {
  const EmbryoLocator locator;
  v1::Volume v;
  EXPECT_EQ(locator.Locate(v).status().code(), StatusCode::kInvalidArgument);
  v.add_channels(v1::CHANNEL_T2W);
  v.set_dtype(v1::DTYPE_FLOAT32);
  EXPECT_EQ(locator.Locate(v).status().code(), StatusCode::kInvalidArgument);
  v.set_dtype(v1::DTYPE_UINT8);
  v.set_encoding(v1::ENCODING_RAW);
  v.set_dim_x(8);
  v.set_dim_y(8);
  v.set_dim_z(8);
  v.set_spacing_x_mm(0.5f);
  v.set_data(std::string(10, '\0'));  // too short
  EXPECT_EQ(locator.Locate(v).status().code(), StatusCode::kInvalidArgument);
  v.set_data(std::string(512, '\0'));  // all dark: no embryo
  EXPECT_EQ(locator.Locate(v).status().code(), StatusCode::kNotFound);
}

TEST(EmbryoLocatorTest, CropKeepsChannelsAndClampsTheOrigin) {
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
}  // namespace ovoflow::edge
