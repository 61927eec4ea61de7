#include "edge/embryo_locator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "phantom/phantom.h"

namespace ovoflow::edge {
namespace {

using phantom::EggVolume;
using phantom::PhantomGenerator;
using phantom::PhantomOptions;

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

}  // namespace
}  // namespace ovoflow::edge
