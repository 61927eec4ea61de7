// Synthetic MRI phantom of the embryo region of a chicken egg at incubation
// day 11-12. Stand-in for a real scanner: no public egg-MRI data set exists.
// Deterministic: the same (seed, index) always gives the same scan and sex.
#pragma once

#include <cstdint>

#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::edge {

enum class TrueSex { kFemale, kMale };

struct PhantomOptions {
  uint32_t dim_x = 32;          // voxels
  uint32_t dim_y = 32;          // voxels
  uint32_t dim_z = 16;          // voxels
  float spacing_mm = 0.5f;      // isotropic voxel size, mm
  uint32_t incubation_day = 12; // 11 or 12 (sex visible in the gonads)
  float snr = 20.0f;            // signal-to-noise ratio of tissue vs Rician noise sigma
  float bias_strength = 0.2f;   // peak relative amplitude of the smooth bias field
  float max_shift_mm = 1.5f;    // random translation of the embryo, mm, per axis
  float max_rotation_deg = 20;  // random in-plane rotation, degrees
};

struct PhantomScan {
  v1::Volume volume;  // one channel, T2-weighted, DTYPE_UINT8, ENCODING_RAW
  TrueSex sex;
};

// Thread-safe (all methods const).
class PhantomGenerator {
 public:
  explicit PhantomGenerator(const PhantomOptions& options);
  // The scan number `index` of the stream seeded by `seed`.
  PhantomScan Generate(uint64_t seed, uint64_t index) const;
  const PhantomOptions& options() const { return options_; }

 private:
  PhantomOptions options_;
};

}  // namespace ovoflow::edge
