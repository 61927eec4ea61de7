// Rendering any axis-aligned box of the scanner grid of one EggModel
// (internal to src/phantom).
//
// Every voxel's value is a pure function of the model, the acquisition
// parameters and the voxel's global grid coordinates: a box rendered alone
// holds exactly the voxels of the same box cropped from a larger render.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "phantom/egg_anatomy.h"

namespace ovoflow::phantom::internal {

// Voxels [lo, lo + n) of the scanner grid, per axis x, y, z.
struct Box {
  std::array<int, 3> lo;
  std::array<int, 3> n;
  std::size_t voxels() const {
    return static_cast<std::size_t>(n[0]) * static_cast<std::size_t>(n[1]) * static_cast<std::size_t>(n[2]);
  }
};

// The noiseless scene over a box: 1 channel (T2W) or 3 (T2W, T1 ms, T2 ms),
// channel-major then z, y, x.
struct Canvas {
  Canvas(const Box& b, int channel_count)
      : box(b), channels(channel_count), data(b.voxels() * static_cast<std::size_t>(channel_count)) {}
  float* channel(int c) { return data.data() + static_cast<std::size_t>(c) * box.voxels(); }
  const float* channel(int c) const { return data.data() + static_cast<std::size_t>(c) * box.voxels(); }
  Box box;
  int channels;
  std::vector<float> data;
};

// Paints the egg into `canvas`: albumen, amnion, yolk, latebra, the embryo
// (the mean of displaced copies when it moved), the air cell and the shell
// and outside (no signal). Soft edges over about one voxel give partial volume.
void PaintScene(const EggModel& model, Canvas* canvas);

struct AcquireParams {
  float snr;      // reference signal / noise sigma
  uint64_t seed;  // with index: keys the voxel noise
  uint64_t index;
};

// Coil gain, Rician noise and the receiver gain: T2W grey levels, clipped to 255.
void AcquireT2wU8(const EggModel& model, const Canvas& canvas, const AcquireParams& p, uint8_t* out);
// Every channel of `canvas` as uint16: T2W grey levels (unclipped but for
// 65535), then, with 3 channels, the fitted T1 and T2 maps in ms (0 where
// the local SNR is below kMinFitSnr).
void AcquireU16(const EggModel& model, const Canvas& canvas, const AcquireParams& p, uint16_t* out);

constexpr float kMinFitSnr = 3.0f;   // maps are 0 below this local SNR (no fit)
constexpr float kT1FitNoise = 1.5f;  // relative sd of fitted T1 = this / local SNR
constexpr float kT2FitNoise = 1.0f;  // relative sd of fitted T2 = this / local SNR

}  // namespace ovoflow::phantom::internal
