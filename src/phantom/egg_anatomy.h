// The anatomy model of one egg, in continuous egg coordinates (internal to
// src/phantom; docs/phantom.md lists every number and which are assumptions).
//
// Egg frame, mm: origin at the egg's centre, x across, y along the long axis
// (blunt end and air cell at +y), z up. The egg lies on its side; the embryo
// lies on top of the yolk under the top of the shell. The scanner's voxel
// grid is axis-aligned with the egg frame, offset by a random sub-voxel shift.
#pragma once

#include <array>

#include "phantom/phantom.h"
#include "phantom/phantom_random.h"

namespace ovoflow::phantom::internal {

using Vec3 = std::array<float, 3>;
using Mat3 = std::array<Vec3, 3>;  // row-major

// What a voxel holds before acquisition.
struct Tissue {
  float t2w;    // T2-weighted signal, relative: 1.0 = kGain grey levels at unit coil gain
  float t1_ms;  // longitudinal relaxation time, ms (0 for no signal)
  float t2_ms;  // transverse relaxation time, ms (0 for no signal)
};

// The T2-weighted spin-echo acquisition: S = PD (1 - exp(-TR/T1)) exp(-TE/T2).
constexpr float kTrMs = 2000.0f;
constexpr float kTeMs = 60.0f;
constexpr float kGain = 180.0f;  // grey levels per unit of relative signal (fixed receiver gain)

enum class Kind { kAlbumen, kYolk, kLatebra, kFluid, kBody, kHead, kEye, kKidney, kSpine, kBlood, kGonad };

struct TissueParams {
  float pd;  // proton density relative to water
  float t1_ms;
  float t2_ms;
};
TissueParams NominalParams(Kind kind);
// Tissue through the signal equation; pd and T2 scaled by the given factors.
Tissue MakeTissue(Kind kind, float pd_scale = 1.0f, float t2_scale = 1.0f);
// The noise reference: nominal embryo body T2W signal (sigma = this / snr).
float ReferenceSignal();

// A soft-edged ellipsoid in the egg frame.
struct Blob {
  Vec3 center;  // mm
  Mat3 rot;     // blob axes -> egg frame
  Vec3 semi;    // semi-axes along the blob's own axes, mm
  Tissue tissue;
};

constexpr int kMaxEmbryoBlobs = 16;
constexpr int kMotionCopies = 4;  // a moving embryo is the mean of this many displaced copies

struct EggModel {
  TrueSex sex;
  // Inner shell surface: two half-ellipsoids of revolution about y sharing
  // the equator y = 0. The shell (no signal) lies between it and the outer
  // surface.
  float inner_semi_xz, inner_semi_blunt, inner_semi_pointed;  // mm
  float outer_semi_xz, outer_semi_blunt, outer_semi_pointed;  // mm
  float air_cell_y;                                           // the interior above this y is the air cell, mm
  Tissue albumen;                                             // fills the interior not covered by anything else
  std::array<Blob, 4> contents;                               // painted in order: amnion, yolk, latebra, latebra neck
  std::array<Blob, kMaxEmbryoBlobs> embryo;                   // painted in order after the contents
  int n_embryo = 0;
  int left_gonad = -1, right_gonad = -1;  // indices into embryo
  Vec3 embryo_lo, embryo_hi;              // box holding every embryo blob at every motion shift, mm
  bool motion = false;
  std::array<Vec3, kMotionCopies> motion_shift{};  // mm, used when motion
  // Coil gain 1 + sum over axes of lin (p - ref) + quad (p - ref)^2; 1 at ref.
  Vec3 bias_ref, bias_lin, bias_quad;
  float gonad_mm3[2];  // left, right
  Vec3 abdomen;        // the gonads' midpoint, mm
  // Scanner grid: voxel (i, j, k) has its centre at grid_origin + (index + 0.5) * spacing.
  Vec3 grid_origin;
  float spacing_mm;
  std::array<int, 3> egg_dims;  // the whole-egg box is [0, egg_dims)
};

// Draws one egg; consumes `rng` deterministically.
EggModel SampleEgg(const PhantomOptions& options, Rng& rng);

// Continuous voxel coordinate (voxel centres at integers) of a point, mm.
inline float ToVoxel(const EggModel& m, int axis, float mm) {
  const auto a = static_cast<std::size_t>(axis);
  return (mm - m.grid_origin[a]) / m.spacing_mm - 0.5f;
}
// Centre of voxel `i` along `axis`, mm. Every renderer uses exactly this.
inline float VoxelCenter(const EggModel& m, int axis, int i) {
  const auto a = static_cast<std::size_t>(axis);
  return m.grid_origin[a] + (static_cast<float>(i) + 0.5f) * m.spacing_mm;
}

}  // namespace ovoflow::phantom::internal
