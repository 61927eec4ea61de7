// Synthetic MRI phantom of the embryo region of a chicken egg at incubation
// day 11-12. Stand-in for a real scanner: no public egg-MRI data set exists.
// Deterministic: the same (seed, index) always gives the same scan and sex.
//
// What it draws (docs/model.md has the details and the assumptions): a
// T2-weighted 16 x 16 x 8 mm region of interest around the embryo's abdomen,
// which lies on the yolk. Yolk (dark, short-T2 lipid), extra-embryonic fluid
// (bright), the embryo body, spine, aorta, the paired mesonephroi, bright
// vessel spots, and the gonads: females keep a large left ovary while the
// right gonad regresses; males have two testes of similar size. Each embryo
// varies in size, shape, position and intensity; the pose is random; a
// smooth multiplicative bias field and Rician noise come on top.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::edge {

enum class TrueSex { kFemale, kMale };

struct PhantomOptions {
  uint32_t dim_x = 32;          // voxels, left-right axis of the embryo (before the pose)
  uint32_t dim_y = 32;          // voxels, cranio-caudal axis
  uint32_t dim_z = 16;          // voxels, vertical axis (yolk below, shell above)
  float spacing_mm = 0.5f;      // isotropic voxel size, mm
  uint32_t incubation_day = 12; // 11 or 12 (sex visible in the gonads; the right ovary regresses less on day 11)
  float snr = 20.0f;            // embryo tissue signal / Rician noise sigma (> 0)
  float bias_strength = 0.2f;   // peak relative amplitude of the smooth bias field, 0..0.9
  float max_shift_mm = 1.5f;    // random translation of the embryo, mm, per axis (uniform in +-)
  float max_rotation_deg = 20;  // random in-plane rotation (about the vertical axis), degrees
  float max_tilt_deg = 5;       // random tilt about the two horizontal axes, degrees
  float variation = 1.0f;       // scales the natural spread between embryos (sizes, positions,
                                // intensities, gonad asymmetry); 0 = every embryo of a sex alike
};

// InvalidArgument naming the first bad field.
Status ValidatePhantomOptions(const PhantomOptions& options);

// The anatomy behind one scan, for tests and evaluation; never sent on the wire.
struct PhantomTruth {
  float left_gonad_voxel[3];   // centre of the left gonad, voxel coordinates (x, y, z)
  float right_gonad_voxel[3];  // centre of the right gonad, voxel coordinates (x, y, z)
  float left_gonad_mm3;        // gonad volumes, mm^3
  float right_gonad_mm3;
};

struct PhantomScan {
  v1::Volume volume;  // one channel, T2-weighted, DTYPE_UINT8, ENCODING_RAW
  TrueSex sex;
  PhantomTruth truth;
};

// Thread-safe (all methods const). Generate() takes about 130 us at the
// default size on one core (model_bench measures it).
class PhantomGenerator {
 public:
  // Bad options are a start-up configuration error: Fatal. Callers that take
  // options from users check them with ValidatePhantomOptions first.
  explicit PhantomGenerator(const PhantomOptions& options);
  // The scan number `index` of the stream seeded by `seed`.
  PhantomScan Generate(uint64_t seed, uint64_t index) const;
  // Same as Generate(), writing only the voxels (dim_x * dim_y * dim_z bytes,
  // layout z, y, x) to `voxels`; returns the sex. For bulk data generation.
  TrueSex GenerateVoxels(uint64_t seed, uint64_t index, uint8_t* voxels, PhantomTruth* truth = nullptr) const;
  const PhantomOptions& options() const { return options_; }

 private:
  PhantomOptions options_;
};

}  // namespace ovoflow::edge
