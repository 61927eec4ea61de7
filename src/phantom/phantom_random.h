// Randomness for the phantom (internal to src/phantom).
//
// Two kinds: a sequential stream (Rng) for the anatomy of one egg, seeded by
// (seed, index), and a counter-based hash (VoxelNoise) for the per-voxel
// noise, a pure function of (seed, index, channel, global voxel coordinates),
// so that rendering a sub-box gives exactly the voxels of the full render.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace ovoflow::phantom::internal {

inline uint64_t Mix64(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// xoshiro256** seeded from (seed, index); the stream of one egg's anatomy.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t index) {
    uint64_t sm = Mix64(seed ^ 0x6A09E667F3BCC908ull) ^ Mix64(index + 0x9E3779B97F4A7C15ull);
    for (uint64_t& w : s_) {
      sm += 0x9E3779B97F4A7C15ull;
      w = Mix64(sm);
    }
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  float Uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(Uniform()); }
  // Standard normal by Box-Muller, clipped to +-3 (anatomy never goes absurd).
  float Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
    return static_cast<float>(std::clamp(z, -3.0, 3.0));
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

// Standard normal quantiles at the midpoints of 4096 equal-probability bins,
// rescaled to unit variance: 12 random bits give one Gaussian draw. Tails are
// cut at 3.6 sigma. Built once (thread-safe static); call early to keep the
// build off the hot path.
constexpr int kNormalBits = 12;
constexpr uint64_t kNormalMask = (1u << kNormalBits) - 1;
const std::array<float, 1u << kNormalBits>& NormalTable();

// Counter-based noise: 64 random bits per (channel, global voxel). Voxel
// coordinates are taken modulo 2^20 (the pattern repeats after a million voxels).
class VoxelNoise {
 public:
  VoxelNoise(uint64_t seed, uint64_t index, uint32_t channel)
      : key_(Mix64(Mix64(seed ^ 0xD1B54A32D192ED03ull) ^ Mix64(index ^ 0x8CB92BA72F3D8DD7ull) ^ channel)) {}
  uint64_t Bits(int x, int y, int z) const {
    constexpr uint64_t kMask = (1u << 20) - 1;
    const uint64_t c = (static_cast<uint64_t>(x) & kMask) | ((static_cast<uint64_t>(y) & kMask) << 20) |
                       ((static_cast<uint64_t>(z) & kMask) << 40);
    return Mix64(key_ + c * 0x9E3779B97F4A7C15ull);
  }

 private:
  uint64_t key_;
};

}  // namespace ovoflow::phantom::internal
