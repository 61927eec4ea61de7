#include "phantom/phantom.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "common/volume.h"
#include "phantom/egg_anatomy.h"
#include "phantom/egg_render.h"
#include "phantom/phantom_random.h"

namespace ovoflow::phantom {
namespace internal {

const std::array<float, 1u << kNormalBits>& NormalTable() {
  static const auto table = [] {
    std::array<double, 1u << kNormalBits> q{};
    double sum_sq = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      const double p = (static_cast<double>(i) + 0.5) / static_cast<double>(q.size());
      double lo = -10, hi = 10;  // bisection on Phi(x) = erfc(-x / sqrt 2) / 2
      for (int it = 0; it < 80; ++it) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(-mid / std::numbers::sqrt2) < p ? lo : hi) = mid;
      }
      q[i] = 0.5 * (lo + hi);
      sum_sq += q[i] * q[i];
    }
    const double scale = 1.0 / std::sqrt(sum_sq / static_cast<double>(q.size()));
    std::array<float, 1u << kNormalBits> t{};
    for (std::size_t i = 0; i < q.size(); ++i) t[i] = static_cast<float>(q[i] * scale);
    return t;
  }();
  return table;
}

}  // namespace internal

namespace {

using internal::AcquireParams;
using internal::Blob;
using internal::Box;
using internal::Canvas;
using internal::EggModel;
using internal::ToVoxel;
using internal::VoxelCenter;

// One egg and the kRegion ROI offset, drawn from the (seed, index) stream.
struct Drawn {
  EggModel model;
  std::array<float, 3> region_offset_mm;
};

Drawn Draw(const PhantomOptions& o, uint64_t seed, uint64_t index) {
  internal::Rng rng(seed, index);
  Drawn d{internal::SampleEgg(o, rng), {}};
  for (float& v : d.region_offset_mm) v = rng.Uniform(-1, 1) * o.max_shift_mm;
  return d;
}

std::array<uint32_t, 3> RoiDims(const PhantomOptions& o) { return {o.dim_x, o.dim_y, o.dim_z}; }

std::array<uint32_t, 3> EggDims(const EggModel& m) {
  return {static_cast<uint32_t>(m.egg_dims[0]), static_cast<uint32_t>(m.egg_dims[1]),
          static_cast<uint32_t>(m.egg_dims[2])};
}

// Renders and acquires `box` into a raw volume: T2W uint8, or with maps all
// three channels as uint16.
v1::Volume RenderBox(const PhantomOptions& o, const EggModel& m, const Box& box, bool maps, uint64_t seed,
                     uint64_t index) {
  Canvas canvas(box, maps ? 3 : 1);
  internal::PaintScene(m, &canvas);
  const AcquireParams p{o.snr, seed, index};
  std::string data;
  v1::Volume v;
  if (maps) {
    std::vector<uint16_t> out(box.voxels() * 3);
    internal::AcquireU16(m, canvas, p, out.data());
    data.assign(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(uint16_t));
    for (v1::Channel c : {v1::CHANNEL_T2W, v1::CHANNEL_T1_MAP, v1::CHANNEL_T2_MAP}) v.add_channels(c);
    v.set_dtype(v1::DTYPE_UINT16);
  } else {
    data.resize(box.voxels());
    internal::AcquireT2wU8(m, canvas, p, reinterpret_cast<uint8_t*>(data.data()));
    v.add_channels(v1::CHANNEL_T2W);
    v.set_dtype(v1::DTYPE_UINT8);
  }
  v.set_dim_x(static_cast<uint32_t>(box.n[0]));
  v.set_dim_y(static_cast<uint32_t>(box.n[1]));
  v.set_dim_z(static_cast<uint32_t>(box.n[2]));
  v.set_spacing_x_mm(o.spacing_mm);
  v.set_spacing_y_mm(o.spacing_mm);
  v.set_spacing_z_mm(o.spacing_mm);
  v.set_encoding(v1::ENCODING_RAW);
  v.set_data(std::move(data));
  return v;
}

Box EggBox(const EggModel& m) { return Box{{0, 0, 0}, m.egg_dims}; }

// kRegion: the ROI around the true abdomen plus the drawn offset.
std::array<int, 3> RegionOrigin(const PhantomOptions& o, const Drawn& d) {
  std::array<float, 3> c{};
  for (std::size_t a = 0; a < 3; ++a)
    c[a] = ToVoxel(d.model, static_cast<int>(a), d.model.abdomen[a] + d.region_offset_mm[a]);
  return RoiOrigin(c, EggDims(d.model), RoiDims(o));
}

// kFullEgg: where the locator puts the ROI; without an embryo found, the
// top centre of the egg.
std::array<int, 3> LocatedOrigin(const PhantomOptions& o, const EggModel& m, const v1::Volume& egg, bool* located) {
  const std::optional<std::array<float, 3>> found = o.locate_abdomen(egg);
  *located = found.has_value();
  std::array<float, 3> c = {0.5f * static_cast<float>(m.egg_dims[0]), 0.5f * static_cast<float>(m.egg_dims[1]),
                            0.75f * static_cast<float>(m.egg_dims[2])};
  if (found) c = *found;
  return RoiOrigin(c, EggDims(m), RoiDims(o));
}

// Axis-aligned half-extent of a blob, voxels.
std::array<float, 3> ExtentVoxels(const EggModel& m, const Blob& b) {
  std::array<float, 3> e{};
  for (std::size_t i = 0; i < 3; ++i) {
    float s = 0;
    for (std::size_t j = 0; j < 3; ++j) s += b.rot[i][j] * b.rot[i][j] * b.semi[j] * b.semi[j];
    e[i] = std::sqrt(s) / m.spacing_mm;
  }
  return e;
}

void FillTruth(const PhantomOptions& o, const EggModel& m, const std::array<int, 3>& origin, bool located,
               PhantomTruth* t) {
  const std::array<uint32_t, 3> n = RoiDims(o);
  t->gonads_in_window = true;
  for (int side = 0; side < 2; ++side) {
    const Blob& b = m.embryo[static_cast<std::size_t>(side == 0 ? m.left_gonad : m.right_gonad)];
    float* voxel = side == 0 ? t->left_gonad_voxel : t->right_gonad_voxel;
    const std::array<float, 3> e = ExtentVoxels(m, b);
    for (std::size_t a = 0; a < 3; ++a) {
      voxel[a] = ToVoxel(m, static_cast<int>(a), b.center[a]) - static_cast<float>(origin[a]);
      const float margin = a < 2 ? static_cast<float>(kModelMarginVoxels) : 0.0f;
      if (voxel[a] - e[a] < margin - 0.5f || voxel[a] + e[a] > static_cast<float>(n[a]) - margin - 0.5f)
        t->gonads_in_window = false;
    }
  }
  t->left_gonad_mm3 = m.gonad_mm3[0];
  t->right_gonad_mm3 = m.gonad_mm3[1];
  for (std::size_t a = 0; a < 3; ++a) {
    const float centre =
        VoxelCenter(m, static_cast<int>(a), origin[a]) + 0.5f * static_cast<float>(n[a] - 1) * m.spacing_mm;
    t->roi_error_mm[a] = centre - m.abdomen[a];
  }
  t->motion = m.motion;
  t->located = located;
}

}  // namespace

Status ValidatePhantomOptions(const PhantomOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("phantom: " + m); };
  for (uint32_t d : {o.dim_x, o.dim_y, o.dim_z})
    if (d < 4 || d > 512) return bad("dims must be 4..512 voxels");
  if (!(o.spacing_mm >= 0.05f && o.spacing_mm <= 5.0f)) return bad("spacing_mm must be 0.05..5");
  if (o.incubation_day < 9 || o.incubation_day > 14) return bad("incubation_day must be 9..14");
  if (!(o.snr > 0 && o.snr <= 1e6f)) return bad("snr must be > 0 (and at most 1e6)");
  if (!(o.bias_strength >= 0 && o.bias_strength <= 0.9f)) return bad("bias_strength must be 0..0.9");
  if (!(o.motion_probability >= 0 && o.motion_probability <= 1)) return bad("motion_probability must be 0..1");
  if (!(o.motion_max_mm >= 0 && o.motion_max_mm <= 5)) return bad("motion_max_mm must be 0..5");
  if (!(o.max_shift_mm >= 0 && o.max_shift_mm <= 20)) return bad("max_shift_mm must be 0..20");
  if (!(o.max_rotation_deg >= 0 && o.max_rotation_deg <= 180)) return bad("max_rotation_deg must be 0..180");
  if (!(o.max_tilt_deg >= 0 && o.max_tilt_deg <= 45)) return bad("max_tilt_deg must be 0..45");
  if (!(o.variation >= 0 && o.variation <= 3)) return bad("variation must be 0..3");
  if (o.acquisition != Acquisition::kRegion && o.acquisition != Acquisition::kFullEgg)
    return bad("acquisition must be kRegion or kFullEgg");
  if (o.acquisition == Acquisition::kFullEgg) {
    if (!o.locate_abdomen) return bad("full-egg acquisition needs locate_abdomen (edge::AbdomenLocator())");
    if (!(o.spacing_mm >= 0.25f && o.spacing_mm <= 2.0f)) return bad("full-egg acquisition needs spacing_mm 0.25..2");
    if (static_cast<float>(std::max(o.dim_x, o.dim_z)) * o.spacing_mm > 30.0f ||
        static_cast<float>(o.dim_y) * o.spacing_mm > 40.0f)
      return bad("full-egg acquisition needs an ROI of at most 30 x 40 x 30 mm (dims * spacing_mm)");
  }
  return Status::Ok();
}

PhantomGenerator::PhantomGenerator(const PhantomOptions& options) : options_(options) {
  const Status st = ValidatePhantomOptions(options_);
  if (!st.ok()) Fatal(st.message());
  internal::NormalTable();  // built once, outside the hot path
  internal::ReferenceSignal();
}

PhantomScan PhantomGenerator::Generate(uint64_t seed, uint64_t index) const {
  const PhantomOptions& o = options_;
  const Drawn d = Draw(o, seed, index);
  PhantomScan out;
  out.sex = d.model.sex;
  std::array<int, 3> origin{};
  bool located = true;
  if (o.acquisition == Acquisition::kRegion) {
    origin = RegionOrigin(o, d);
    const Box box{origin, {static_cast<int>(o.dim_x), static_cast<int>(o.dim_y), static_cast<int>(o.dim_z)}};
    out.volume = RenderBox(o, d.model, box, o.quantitative_maps, seed, index);
  } else {
    const v1::Volume egg = RenderBox(o, d.model, EggBox(d.model), o.quantitative_maps, seed, index);
    origin = LocatedOrigin(o, d.model, egg, &located);
    auto roi = CropVolume(egg, origin, RoiDims(o));
    if (!roi.ok()) Fatal("phantom: ROI outside the egg volume (options validated): " + roi.status().ToString());
    out.volume = std::move(roi).value();
  }
  FillTruth(o, d.model, origin, located, &out.truth);
  return out;
}

TrueSex PhantomGenerator::GenerateVoxels(uint64_t seed, uint64_t index, uint8_t* voxels, PhantomTruth* truth) const {
  const PhantomOptions& o = options_;
  const Drawn d = Draw(o, seed, index);
  std::array<int, 3> origin{};
  bool located = true;
  const std::size_t bytes = std::size_t{o.dim_x} * o.dim_y * o.dim_z;
  if (o.acquisition == Acquisition::kRegion) {
    origin = RegionOrigin(o, d);
    const Box box{origin, {static_cast<int>(o.dim_x), static_cast<int>(o.dim_y), static_cast<int>(o.dim_z)}};
    Canvas canvas(box, 1);
    internal::PaintScene(d.model, &canvas);
    internal::AcquireT2wU8(d.model, canvas, AcquireParams{o.snr, seed, index}, voxels);
  } else {
    const v1::Volume egg = RenderBox(o, d.model, EggBox(d.model), false, seed, index);
    origin = LocatedOrigin(o, d.model, egg, &located);
    auto roi = CropVolume(egg, origin, RoiDims(o));
    if (!roi.ok()) Fatal("phantom: ROI outside the egg volume (options validated): " + roi.status().ToString());
    std::memcpy(voxels, roi->data().data(), bytes);
  }
  if (truth) FillTruth(o, d.model, origin, located, truth);
  return d.model.sex;
}

EggVolume PhantomGenerator::RenderEgg(uint64_t seed, uint64_t index) const {
  const PhantomOptions& o = options_;
  const Drawn d = Draw(o, seed, index);
  const EggModel& m = d.model;
  EggVolume out;
  out.volume = RenderBox(o, m, EggBox(m), o.quantitative_maps, seed, index);
  out.sex = m.sex;
  out.motion = m.motion;
  for (std::size_t a = 0; a < 3; ++a) {
    const int ai = static_cast<int>(a);
    out.abdomen_voxel[a] = ToVoxel(m, ai, m.abdomen[a]);
    out.left_gonad_voxel[a] = ToVoxel(m, ai, m.embryo[static_cast<std::size_t>(m.left_gonad)].center[a]);
    out.right_gonad_voxel[a] = ToVoxel(m, ai, m.embryo[static_cast<std::size_t>(m.right_gonad)].center[a]);
    out.yolk_center_voxel[a] = ToVoxel(m, ai, m.contents[1].center[a]);
  }
  out.yolk_radius_mm = m.contents[1].semi[0];
  return out;
}

}  // namespace ovoflow::phantom
