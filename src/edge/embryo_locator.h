// Edge preprocessing: finds the embryo's abdomen in a whole-egg MRI volume
// and crops the region of interest the model reads (docs/phantom.md,
// "Locator"). Runs on the scanner side before publishing.
//
// Method: the T2W channel is averaged down to about 1 mm voxels; voxels whose
// grey level lies in the embryo-tissue band (brighter than yolk and albumen,
// darker than the amniotic fluid) and whose neighbours mostly do too (no
// partial-volume sheets at interfaces) form a mask; in the upper half of the egg
// (the embryo lies on the yolk under the top of the shell) the body-sized box
// holding the most tissue is taken; the abdomen is the tissue centroid
// across (x, z) and the middle of the body's run of tissue along y, which
// stops at the neck before the head. The grey-level band assumes the
// scanner's calibrated receiver gain (the phantom's fixed gain).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::edge {

struct LocatorOptions {
  float tissue_min_grey = 77;  // embryo-tissue band, T2W grey levels (inclusive)
  float tissue_max_grey = 128;
  float target_mm = 1.0f;                           // working voxel size after averaging, mm
  std::array<float, 3> body_box_mm = {6, 10, 2};    // box scored for tissue content, mm (x, y, z)
  std::array<float, 3> refine_half_mm = {6, 8, 3};  // centroid window half-sizes, mm
  std::array<float, 3> offset_mm = {0, 0, 0};       // added to the estimate, mm (no calibration by default)
  float core_fraction = 0.7f;                       // a tissue voxel needs this fraction of tissue in its 3x3x3 block
  float min_tissue_fraction = 0.2f;                 // below this best-box fraction: NotFound
};

struct LocatedEmbryo {
  std::array<float, 3> abdomen_voxel;  // estimated abdomen centre, voxel coordinates of the input (x, y, z)
  float tissue_fraction;               // tissue fraction of the best box, 0..1
};

// Thread-safe (const).
class EmbryoLocator {
 public:
  explicit EmbryoLocator(const LocatorOptions& options = {}) : options_(options) {}
  // `egg`: the whole egg, channel 0 T2W (uint8 or uint16, raw or zstd).
  // InvalidArgument for a volume it cannot read; NotFound when no region
  // looks like an embryo.
  Result<LocatedEmbryo> Locate(const v1::Volume& egg) const;

 private:
  LocatorOptions options_;
};

// The locator as the phantom's full-egg acquisition takes it
// (phantom::PhantomOptions::locate_abdomen): the abdomen's voxel
// coordinates, or nothing when Locate() fails.
std::function<std::optional<std::array<float, 3>>(const v1::Volume& egg)> AbdomenLocator(
    const LocatorOptions& options = {});

}  // namespace ovoflow::edge
