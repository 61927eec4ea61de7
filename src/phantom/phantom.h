// Synthetic MRI phantom of a whole chicken egg at incubation day 9-14, a
// stand-in for a real scanner: no public egg-MRI data set exists.
// Deterministic: the same (options, seed, index) always gives the same scan.
//
// docs/phantom.md describes what is drawn and which numbers are assumptions.
// In short: one anatomy model of the whole egg in egg coordinates (mm): the
// shell (no signal), the air cell at the blunt end (dark), albumen, the yolk
// with its bright latebra, the amniotic fluid and the embryo lying on the yolk
// under the top of the shell (head, eyes, body, mesonephroi, spine, aorta,
// vessel spots and the gonads: females keep a large left ovary while the right
// gonad regresses with the days; males have two testes of similar size).
// Grey levels come from tissue T1, T2 and proton density through a spin-echo
// signal equation; a smooth surface-coil bias field, partial volume at every
// edge, occasional motion blur and Rician noise at a given SNR come on top.
//
// Any axis-aligned box of the scanner's voxel grid can be rendered; the noise
// is a pure function of (seed, index, channel, voxel), so a box rendered alone
// equals the same box cropped from the whole-egg render.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::phantom {

enum class TrueSex { kFemale, kMale };

// How a scan's region of interest (ROI) is obtained.
enum class Acquisition {
  // Render only the ROI box: centred on the true abdomen plus a random
  // offset (uniform +-max_shift_mm per axis) standing in for the embryo
  // locator's error. Fast (about 0.16 ms on one core): training, load tests.
  kRegion,
  // Render the whole egg, find the abdomen with `locate_abdomen` (the edge
  // agent's EmbryoLocator: edge::AbdomenLocator()), crop the ROI. Realistic
  // (about 13 ms on one core): scanner simulation, locator evaluation.
  kFullEgg,
};

// Finds the embryo's abdomen in a whole egg: voxel coordinates (x, y, z), or
// nothing when no embryo is seen. Must be thread-safe.
using AbdomenLocator = std::function<std::optional<std::array<float, 3>>(const v1::Volume& egg)>;

struct PhantomOptions {
  uint32_t dim_x = 32;               // ROI voxels along x (left-right of the egg and the embryo)
  uint32_t dim_y = 32;               // ROI voxels along y (the egg's long axis; cranio-caudal)
  uint32_t dim_z = 16;               // ROI voxels along z (vertical: yolk below, shell above)
  float spacing_mm = 0.5f;           // the scanner's isotropic voxel size, mm (0.05..5)
  uint32_t incubation_day = 12;      // 9..14: embryo and gonads grow, the female right gonad regresses
  float snr = 20.0f;                 // embryo tissue T2W signal / Rician noise sigma (> 0)
  float bias_strength = 0.3f;        // surface-coil fall-off: relative gain lost from the embryo to
                                     // the bottom of the egg, 0..0.9 (lateral terms scale with it)
  float motion_probability = 0.05f;  // chance that the embryo moved during the scan (blur), 0..1
  float motion_max_mm = 1.5f;        // largest displacement of a moving embryo, mm (0..5)
  float max_shift_mm = 1.5f;         // kRegion only: ROI centre offset from the true abdomen, uniform
                                     // in +- this per axis, mm (models the locator's error; 0..20)
  float max_rotation_deg = 20;       // embryo yaw about the vertical axis, uniform in +-, degrees
  float max_tilt_deg = 5;            // embryo tilt about the two horizontal axes, uniform in +-, degrees
  float variation = 1.0f;            // scales the natural spread between eggs and embryos (sizes,
                                     // positions, intensities, gonad asymmetry); 0 = all alike, 0..3
  bool quantitative_maps = false;    // Generate(): add CHANNEL_T1_MAP and CHANNEL_T2_MAP (ms);
                                     // the volume is then DTYPE_UINT16 (see PhantomScan)
  Acquisition acquisition = Acquisition::kRegion;
  AbdomenLocator locate_abdomen;  // kFullEgg: required (the phantom simulates the scanner, not the edge)
};

// InvalidArgument naming the first bad field.
Status ValidatePhantomOptions(const PhantomOptions& options);

// The anatomy behind one scan, for tests and evaluation; never sent on the wire.
struct PhantomTruth {
  float left_gonad_voxel[3];   // centre of the left gonad, ROI voxel coordinates (x, y, z)
  float right_gonad_voxel[3];  // centre of the right gonad, ROI voxel coordinates (x, y, z)
  float left_gonad_mm3;        // gonad volumes, mm^3
  float right_gonad_mm3;
  float roi_error_mm[3];  // ROI centre minus the true abdomen (gonads' midpoint), mm
  bool gonads_in_window;  // both gonads lie fully inside the model's window (the ROI less
                          // kModelMarginVoxels in x and y); false = the crop missed
  bool motion;            // the embryo moved during this scan (blurred)
  bool located;           // kFullEgg: the locator found an embryo (else the ROI is the egg's top)
};

// The CNN crops this many voxels from each side of x and y (docs/model.md):
// the sex signal must lie inside the rest.
constexpr int kModelMarginVoxels = 4;

struct PhantomScan {
  // ROI, ENCODING_RAW, channel-major then z, y, x. Default: one channel,
  // CHANNEL_T2W, DTYPE_UINT8 (grey levels, 255 clips). With
  // quantitative_maps: CHANNEL_T2W (the same grey levels, unclipped),
  // CHANNEL_T1_MAP and CHANNEL_T2_MAP (ms; 0 where there is too little signal
  // to fit), all DTYPE_UINT16.
  v1::Volume volume;
  TrueSex sex;
  PhantomTruth truth;
};

// The whole egg: the box of the scanner grid that covers the egg.
struct EggVolume {
  v1::Volume volume;  // same channels and dtypes as PhantomScan::volume
  TrueSex sex;
  float abdomen_voxel[3];     // the true abdomen (gonads' midpoint), voxel coordinates (x, y, z)
  float left_gonad_voxel[3];  // gonad centres, voxel coordinates
  float right_gonad_voxel[3];
  float yolk_center_voxel[3];  // centre of the yolk sphere (the latebra sits there), voxel coordinates
  float yolk_radius_mm;
  bool motion;
};

// Thread-safe (all methods const).
class PhantomGenerator {
 public:
  // Bad options are a start-up configuration error: Fatal. Callers that take
  // options from users check them with ValidatePhantomOptions first.
  explicit PhantomGenerator(const PhantomOptions& options);
  // The ROI of scan number `index` of the stream seeded by `seed`, obtained as
  // options().acquisition says.
  PhantomScan Generate(uint64_t seed, uint64_t index) const;
  // Same scan as Generate(), writing only the T2W channel as uint8
  // (dim_x * dim_y * dim_z bytes, layout z, y, x) to `voxels`; returns the
  // sex. Ignores quantitative_maps. For bulk data generation.
  TrueSex GenerateVoxels(uint64_t seed, uint64_t index, uint8_t* voxels, PhantomTruth* truth = nullptr) const;
  // The whole egg of scan (seed, index), at options().spacing_mm; the same
  // voxels kFullEgg crops from. About 1 M voxels at 0.5 mm.
  EggVolume RenderEgg(uint64_t seed, uint64_t index) const;
  const PhantomOptions& options() const { return options_; }

 private:
  PhantomOptions options_;
};

}  // namespace ovoflow::phantom
