#include "edge/phantom.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/volume.h"

namespace ovoflow::edge {
namespace {

TEST(PhantomTest, SameSeedAndIndexGiveIdenticalScans) {
  PhantomGenerator gen{PhantomOptions{}};
  for (uint64_t index : {0ull, 1ull, 12345ull}) {
    PhantomScan a = gen.Generate(7, index);
    PhantomScan b = gen.Generate(7, index);
    EXPECT_EQ(a.volume.SerializeAsString(), b.volume.SerializeAsString());
    EXPECT_EQ(a.sex, b.sex);
  }
  // A second generator with the same options agrees too (no hidden state).
  PhantomGenerator other{PhantomOptions{}};
  EXPECT_EQ(gen.Generate(7, 3).volume.data(), other.Generate(7, 3).volume.data());
}

TEST(PhantomTest, DifferentIndexOrSeedGivesDifferentScans) {
  PhantomGenerator gen{PhantomOptions{}};
  const std::string base = gen.Generate(7, 0).volume.data();
  EXPECT_NE(base, gen.Generate(7, 1).volume.data());
  EXPECT_NE(base, gen.Generate(8, 0).volume.data());
}

TEST(PhantomTest, GenerateVoxelsMatchesGenerate) {
  PhantomGenerator gen{PhantomOptions{}};
  PhantomScan scan = gen.Generate(3, 99);
  std::vector<uint8_t> voxels(scan.volume.data().size());
  PhantomTruth truth{};
  EXPECT_EQ(gen.GenerateVoxels(3, 99, voxels.data(), &truth), scan.sex);
  EXPECT_EQ(std::string(voxels.begin(), voxels.end()), scan.volume.data());
  EXPECT_EQ(truth.left_gonad_mm3, scan.truth.left_gonad_mm3);
  EXPECT_EQ(truth.right_gonad_voxel[0], scan.truth.right_gonad_voxel[0]);
  // Without a truth pointer it still works.
  EXPECT_EQ(gen.GenerateVoxels(3, 99, voxels.data()), scan.sex);
}

TEST(PhantomTest, SexesAreBalanced) {
  PhantomGenerator gen{PhantomOptions{}};
  std::vector<uint8_t> voxels(32 * 32 * 16);
  int females = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) females += gen.GenerateVoxels(11, static_cast<uint64_t>(i), voxels.data()) == TrueSex::kFemale;
  // Binomial(2000, 0.5): sd 22.4; +-100 is 4.5 sd.
  EXPECT_GT(females, n / 2 - 100);
  EXPECT_LT(females, n / 2 + 100);
}

TEST(PhantomTest, ScanPassesWireValidation) {
  PhantomOptions opts;
  PhantomGenerator gen{opts};
  PhantomScan ph = gen.Generate(1, 0);
  const v1::Volume& v = ph.volume;
  EXPECT_EQ(v.dim_x(), 32u);
  EXPECT_EQ(v.dim_y(), 32u);
  EXPECT_EQ(v.dim_z(), 16u);
  EXPECT_FLOAT_EQ(v.spacing_x_mm(), 0.5f);
  EXPECT_FLOAT_EQ(v.spacing_y_mm(), 0.5f);
  EXPECT_FLOAT_EQ(v.spacing_z_mm(), 0.5f);
  ASSERT_EQ(v.channels_size(), 1);
  EXPECT_EQ(v.channels(0), v1::CHANNEL_T2W);
  EXPECT_EQ(v.dtype(), v1::DTYPE_UINT8);
  EXPECT_EQ(v.encoding(), v1::ENCODING_RAW);
  EXPECT_EQ(v.data().size(), 32u * 32u * 16u);

  v1::EggScan scan;
  scan.set_egg_id("egg-1");
  scan.set_tenant_id("hatchery-a");
  *scan.mutable_captured_at() = ToTimestamp(SystemClock().NowUnixNanos());
  scan.set_incubation_day(opts.incubation_day);
  *scan.mutable_volume() = v;
  EXPECT_TRUE(ValidateScan(scan).ok()) << ValidateScan(scan).ToString();

  // Other sizes work too.
  PhantomOptions small;
  small.dim_x = 16;
  small.dim_y = 20;
  small.dim_z = 8;
  small.spacing_mm = 1.0f;
  PhantomScan s = PhantomGenerator{small}.Generate(1, 0);
  EXPECT_EQ(s.volume.data().size(), 16u * 20u * 8u);
  EXPECT_FLOAT_EQ(s.volume.spacing_z_mm(), 1.0f);
}

TEST(PhantomTest, ValidateRejectsBadOptions) {
  EXPECT_TRUE(ValidatePhantomOptions(PhantomOptions{}).ok());
  auto with = [](auto mutate) {
    PhantomOptions o;
    mutate(o);
    return ValidatePhantomOptions(o);
  };
  EXPECT_EQ(with([](PhantomOptions& o) { o.dim_x = 0; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.dim_z = 10000; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.spacing_mm = 0; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.incubation_day = 13; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.snr = 0; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.snr = std::nanf(""); }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.bias_strength = 1.5f; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.max_shift_mm = -1; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.max_rotation_deg = 400; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.max_tilt_deg = -2; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.variation = -0.1f; }).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(with([](PhantomOptions& o) { o.snr = -1; }).message().find("snr"), std::string::npos);
}

TEST(PhantomDeathTest, BadOptionsAreFatal) {
  PhantomOptions o;
  o.snr = -1;
  EXPECT_DEATH(PhantomGenerator{o}, "snr");
}

// Mean grey level in a 3x3x3 box around a voxel position.
double BoxMean(const std::string& data, const PhantomOptions& o, const float* at) {
  double sum = 0;
  int n = 0;
  const int cx = static_cast<int>(std::lround(at[0])), cy = static_cast<int>(std::lround(at[1]));
  const int cz = static_cast<int>(std::lround(at[2]));
  for (int z = cz - 1; z <= cz + 1; ++z)
    for (int y = cy - 1; y <= cy + 1; ++y)
      for (int x = cx - 1; x <= cx + 1; ++x) {
        if (x < 0 || y < 0 || z < 0 || x >= static_cast<int>(o.dim_x) || y >= static_cast<int>(o.dim_y) ||
            z >= static_cast<int>(o.dim_z))
          continue;
        sum += static_cast<unsigned char>(data[(static_cast<std::size_t>(z) * o.dim_y + static_cast<std::size_t>(y)) * o.dim_x +
                                               static_cast<std::size_t>(x)]);
        ++n;
      }
  return n ? sum / n : 0.0;
}

TEST(PhantomTest, FemalesHaveALargerLeftGonadSignal) {
  PhantomOptions o;
  PhantomGenerator gen{o};
  double diff[2] = {0, 0}, ratio[2] = {0, 0};  // [female, male]: mean left-right box signal, right/left volume
  int count[2] = {0, 0};
  for (uint64_t i = 0; i < 400; ++i) {
    PhantomScan s = gen.Generate(5, i);
    const int k = s.sex == TrueSex::kFemale ? 0 : 1;
    // The truth lies inside the volume.
    for (const float* at : {s.truth.left_gonad_voxel, s.truth.right_gonad_voxel}) {
      EXPECT_GT(at[0], -0.5f);
      EXPECT_LT(at[0], static_cast<float>(o.dim_x) - 0.5f);
      EXPECT_GT(at[2], -0.5f);
      EXPECT_LT(at[2], static_cast<float>(o.dim_z) - 0.5f);
    }
    EXPECT_LT(s.truth.left_gonad_voxel[0], s.truth.right_gonad_voxel[0]);  // left at -x (rotation <= 20 deg)
    diff[k] += BoxMean(s.volume.data(), o, s.truth.left_gonad_voxel) - BoxMean(s.volume.data(), o, s.truth.right_gonad_voxel);
    ratio[k] += s.truth.right_gonad_mm3 / s.truth.left_gonad_mm3;
    ++count[k];
  }
  ASSERT_GT(count[0], 100);
  ASSERT_GT(count[1], 100);
  for (int k = 0; k < 2; ++k) {
    diff[k] /= count[k];
    ratio[k] /= count[k];
  }
  // Females: the right gonad regresses (volume ratio well below 1) and the
  // box around it is darker; males: two similar testes.
  EXPECT_LT(ratio[0], 0.35);
  EXPECT_GT(ratio[1], 0.6);
  EXPECT_GT(diff[0], diff[1] + 5.0) << "female " << diff[0] << " male " << diff[1];
}

// Mean absolute difference of horizontal neighbours in the top slice
// (extra-embryonic fluid): a measure of the noise.
double TopSliceRoughness(const PhantomOptions& o, uint64_t index) {
  PhantomScan s = PhantomGenerator{o}.Generate(9, index);
  const auto* p = reinterpret_cast<const unsigned char*>(s.volume.data().data()) +
                  std::size_t{o.dim_x} * o.dim_y * (o.dim_z - 1);
  double sum = 0;
  for (uint32_t y = 0; y < o.dim_y; ++y)
    for (uint32_t x = 0; x + 1 < o.dim_x; ++x) sum += std::abs(p[y * o.dim_x + x + 1] - p[y * o.dim_x + x]);
  return sum / (o.dim_y * (o.dim_x - 1));
}

TEST(PhantomTest, SnrControlsTheNoise) {
  PhantomOptions noisy, clean;
  noisy.snr = 10;
  clean.snr = 200;
  double r_noisy = 0, r_clean = 0;
  for (uint64_t i = 0; i < 10; ++i) {
    r_noisy += TopSliceRoughness(noisy, i);
    r_clean += TopSliceRoughness(clean, i);
  }
  EXPECT_GT(r_noisy, 4 * r_clean) << r_noisy << " vs " << r_clean;
}

TEST(PhantomTest, ZeroVariationMakesEggsOfASexAlike) {
  PhantomOptions o;
  o.variation = 0;
  PhantomGenerator gen{o};
  float volume[2] = {-1, -1};
  for (uint64_t i = 0; i < 40; ++i) {
    PhantomScan s = gen.Generate(2, i);
    float& v = volume[s.sex == TrueSex::kFemale ? 0 : 1];
    if (v < 0) v = s.truth.left_gonad_mm3;
    EXPECT_FLOAT_EQ(s.truth.left_gonad_mm3, v);
  }
}

}  // namespace
}  // namespace ovoflow::edge
