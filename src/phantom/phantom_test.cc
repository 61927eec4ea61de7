#include "phantom/phantom.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/validation.h"
#include "common/volume.h"
#include "edge/embryo_locator.h"

namespace ovoflow::phantom {
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
  PhantomOptions full;
  full.acquisition = Acquisition::kFullEgg;
  full.locate_abdomen = edge::AbdomenLocator();
  for (const PhantomOptions& o : {PhantomOptions{}, full}) {
    PhantomGenerator gen{o};
    PhantomScan scan = gen.Generate(3, 99);
    std::vector<uint8_t> voxels(scan.volume.data().size());
    PhantomTruth truth{};
    EXPECT_EQ(gen.GenerateVoxels(3, 99, voxels.data(), &truth), scan.sex);
    EXPECT_EQ(std::string(voxels.begin(), voxels.end()), scan.volume.data());
    EXPECT_EQ(truth.left_gonad_mm3, scan.truth.left_gonad_mm3);
    EXPECT_EQ(truth.right_gonad_voxel[0], scan.truth.right_gonad_voxel[0]);
    EXPECT_EQ(truth.roi_error_mm[1], scan.truth.roi_error_mm[1]);
    EXPECT_EQ(truth.gonads_in_window, scan.truth.gonads_in_window);
    // Without a truth pointer it still works.
    EXPECT_EQ(gen.GenerateVoxels(3, 99, voxels.data()), scan.sex);
  }
}

TEST(PhantomTest, SexesAreBalanced) {
  PhantomGenerator gen{PhantomOptions{}};
  std::vector<uint8_t> voxels(std::size_t{32} * 32 * 16);
  int females = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i)
    females += gen.GenerateVoxels(11, static_cast<uint64_t>(i), voxels.data()) == TrueSex::kFemale;
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
  EXPECT_EQ(with([](PhantomOptions& o) { o.incubation_day = 8; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.incubation_day = 15; }).code(), StatusCode::kInvalidArgument);
  for (uint32_t day = 9; day <= 14; ++day)
    EXPECT_TRUE(with([day](PhantomOptions& o) { o.incubation_day = day; }).ok()) << day;
  EXPECT_EQ(with([](PhantomOptions& o) { o.motion_probability = 1.5f; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.motion_probability = std::nanf(""); }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.motion_max_mm = -1; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.motion_max_mm = 6; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) { o.acquisition = static_cast<Acquisition>(7); }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) {
              o.acquisition = Acquisition::kFullEgg;
              o.locate_abdomen = edge::AbdomenLocator();
              o.spacing_mm = 0.1f;
            }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PhantomOptions& o) {
              o.acquisition = Acquisition::kFullEgg;
              o.locate_abdomen = edge::AbdomenLocator();
              o.dim_x = 100;
            }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_NE(with([](PhantomOptions& o) { o.motion_probability = 2; }).message().find("motion_probability"),
            std::string::npos);
  EXPECT_NE(with([](PhantomOptions& o) { o.incubation_day = 20; }).message().find("incubation_day"), std::string::npos);
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
        sum += static_cast<unsigned char>(
            data[(static_cast<std::size_t>(z) * o.dim_y + static_cast<std::size_t>(y)) * o.dim_x +
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
    diff[k] +=
        BoxMean(s.volume.data(), o, s.truth.left_gonad_voxel) - BoxMean(s.volume.data(), o, s.truth.right_gonad_voxel);
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

// Mean absolute difference from the noise-free scan of the same egg (the
// noise is the only thing the SNR changes).
double NoiseLevel(float snr, uint64_t index) {
  PhantomOptions noisy, clean;
  noisy.snr = snr;
  clean.snr = 1e6f;
  const std::string a = PhantomGenerator{noisy}.Generate(9, index).volume.data();
  const std::string b = PhantomGenerator{clean}.Generate(9, index).volume.data();
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    sum += std::abs(static_cast<unsigned char>(a[i]) - static_cast<unsigned char>(b[i]));
  return sum / static_cast<double>(a.size());
}

TEST(PhantomTest, SnrControlsTheNoise) {
  double r_noisy = 0, r_clean = 0;
  for (uint64_t i = 0; i < 10; ++i) {
    r_noisy += NoiseLevel(10, i);
    r_clean += NoiseLevel(40, i);
  }
  // Near-Gaussian at these SNRs: the mean |noise| scales with 1 / snr.
  EXPECT_GT(r_noisy, 3 * r_clean) << r_noisy << " vs " << r_clean;
  EXPECT_LT(r_noisy, 5 * r_clean) << r_noisy << " vs " << r_clean;
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
}  // namespace ovoflow::phantom
