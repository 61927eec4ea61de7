#include "phantom/egg_render.h"

#include <algorithm>
#include <cmath>

namespace ovoflow::phantom::internal {
namespace {

std::size_t Index(const Box& b, int x, int y, int z) {  // global voxel -> canvas offset
  return (static_cast<std::size_t>(z - b.lo[2]) * static_cast<std::size_t>(b.n[1]) +
          static_cast<std::size_t>(y - b.lo[1])) *
             static_cast<std::size_t>(b.n[0]) +
         static_cast<std::size_t>(x - b.lo[0]);
}

void Fill(const Tissue& t, Canvas* c) {
  const float v[3] = {t.t2w, t.t1_ms, t.t2_ms};
  for (int ch = 0; ch < c->channels; ++ch) std::fill_n(c->channel(ch), c->box.voxels(), v[ch]);
}

// Soft-edged ellipsoid, displaced by `shift`, over its bounding box. The edge
// ramps over about one voxel across the shortest axis (partial volume).
// kChannels: 1 paints T2W only, 3 also T1 and T2.
template <int kChannels>
void PaintBlobN(const EggModel& m, const Blob& b, const Vec3& shift, Canvas* canvas) {
  const Box& box = canvas->box;
  const Vec3 c = {b.center[0] + shift[0], b.center[1] + shift[1], b.center[2] + shift[2]};
  const auto& r = b.rot;
  float q[3][3];  // Q = R diag(1/s^2) R^T
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      q[i][j] = 0;
      for (std::size_t k = 0; k < 3; ++k) q[i][j] += r[i][k] * r[j][k] / (b.semi[k] * b.semi[k]);
    }
  const float k = std::min({b.semi[0], b.semi[1], b.semi[2]}) / (2.0f * m.spacing_mm);
  const float q_max = 1.0f + 0.5f / k;
  int lo[3], hi[3];
  for (std::size_t i = 0; i < 3; ++i) {
    float ext = 0;
    for (std::size_t j = 0; j < 3; ++j) ext += r[i][j] * r[i][j] * b.semi[j] * b.semi[j];
    ext = std::sqrt(ext * q_max);
    const int ai = static_cast<int>(i);
    lo[i] = std::max(box.lo[i], static_cast<int>(std::floor(ToVoxel(m, ai, c[i] - ext))));
    hi[i] = std::min(box.lo[i] + box.n[i] - 1, static_cast<int>(std::ceil(ToVoxel(m, ai, c[i] + ext))));
  }
  const float value[3] = {b.tissue.t2w, b.tissue.t1_ms, b.tissue.t2_ms};
  const std::size_t stride = box.voxels();
  const float q00 = q[0][0], sp = m.spacing_mm, origin_x = m.grid_origin[0], cx = c[0];
  for (int z = lo[2]; z <= hi[2]; ++z) {
    const float dz = VoxelCenter(m, 2, z) - c[2];
    for (int y = lo[1]; y <= hi[1]; ++y) {
      const float dy = VoxelCenter(m, 1, y) - c[1];
      // q(dx) = q00 dx^2 + lin dx + rest; the cover is positive only between the roots of q = q_max.
      const float lin = 2.0f * (q[0][1] * dy + q[0][2] * dz);
      const float rest = q[1][1] * dy * dy + q[2][2] * dz * dz + 2.0f * q[1][2] * dy * dz;
      const float disc = lin * lin - 4.0f * q00 * (rest - q_max);
      if (disc <= 0.0f) continue;
      const float root = std::sqrt(disc), inv = 0.5f / q00;
      const int x0 = std::max(lo[0], static_cast<int>(std::floor(ToVoxel(m, 0, c[0] + (-lin - root) * inv))));
      const int x1 = std::min(hi[0], static_cast<int>(std::ceil(ToVoxel(m, 0, c[0] + (-lin + root) * inv))));
      float* row = canvas->data.data() + Index(box, x0, y, z);
      const int count = x1 - x0 + 1;
      for (int i = 0; i < count; ++i) {
        // Same expression as VoxelCenter(m, 0, x) - c[0], so every box agrees.
        const float dx = (origin_x + (static_cast<float>(x0 + i) + 0.5f) * sp) - cx;
        const float qv = q00 * dx * dx + lin * dx + rest;
        const float cover = std::clamp((1.0f - qv) * k + 0.5f, 0.0f, 1.0f);
        for (int ch = 0; ch < kChannels; ++ch) {
          float& out = row[static_cast<std::size_t>(i) + static_cast<std::size_t>(ch) * stride];
          out += cover * (value[ch] - out);
        }
      }
    }
  }
}

void PaintBlob(const EggModel& m, const Blob& b, const Vec3& shift, Canvas* canvas) {
  if (canvas->channels == 1)
    PaintBlobN<1>(m, b, shift, canvas);
  else
    PaintBlobN<3>(m, b, shift, canvas);
}

// The embryo; when it moved, the mean of kMotionCopies displaced copies
// over the box part it can reach.
void PaintEmbryo(const EggModel& m, Canvas* canvas) {
  if (!m.motion) {
    for (int i = 0; i < m.n_embryo; ++i) PaintBlob(m, m.embryo[static_cast<std::size_t>(i)], {0, 0, 0}, canvas);
    return;
  }
  const Box& box = canvas->box;
  Box sub{};
  for (std::size_t a = 0; a < 3; ++a) {
    const int ai = static_cast<int>(a);
    const int lo = std::max(box.lo[a], static_cast<int>(std::floor(ToVoxel(m, ai, m.embryo_lo[a]))));
    const int hi = std::min(box.lo[a] + box.n[a], static_cast<int>(std::ceil(ToVoxel(m, ai, m.embryo_hi[a]))) + 1);
    if (hi <= lo) return;
    sub.lo[a] = lo;
    sub.n[a] = hi - lo;
  }
  std::vector<float> sum(sub.voxels() * static_cast<std::size_t>(canvas->channels), 0.0f);
  Canvas copy(sub, canvas->channels);
  auto each = [&](auto fn) {  // fn(canvas offset, copy offset) over the sub-box, every channel
    std::size_t j = 0;
    for (int ch = 0; ch < canvas->channels; ++ch)
      for (int z = sub.lo[2]; z < sub.lo[2] + sub.n[2]; ++z)
        for (int y = sub.lo[1]; y < sub.lo[1] + sub.n[1]; ++y)
          for (int x = sub.lo[0]; x < sub.lo[0] + sub.n[0]; ++x, ++j)
            fn(static_cast<std::size_t>(ch) * box.voxels() + Index(box, x, y, z), j);
  };
  for (int k = 0; k < kMotionCopies; ++k) {
    each([&](std::size_t i, std::size_t j) { copy.data[j] = canvas->data[i]; });
    for (int i = 0; i < m.n_embryo; ++i)
      PaintBlob(m, m.embryo[static_cast<std::size_t>(i)], m.motion_shift[static_cast<std::size_t>(k)], &copy);
    for (std::size_t j = 0; j < sum.size(); ++j) sum[j] += copy.data[j];
  }
  each([&](std::size_t i, std::size_t j) { canvas->data[i] = sum[j] * (1.0f / kMotionCopies); });
}

// Shell, outside and air cell: no signal. Scales each voxel by the cover of
// the egg's interior below the air cell; rows' voxels well inside are skipped.
void PaintNoSignal(const EggModel& m, Canvas* canvas) {
  const Box& box = canvas->box;
  const float b = m.inner_semi_xz, sp = m.spacing_mm;
  const float k = b / (2.0f * sp);  // edge ramp of about one voxel
  const float q_in = 1.0f - 0.5f / k;
  const std::size_t stride = box.voxels();
  for (int z = box.lo[2]; z < box.lo[2] + box.n[2]; ++z) {
    const float pz = VoxelCenter(m, 2, z);
    for (int y = box.lo[1]; y < box.lo[1] + box.n[1]; ++y) {
      const float py = VoxelCenter(m, 1, y);
      const float a = py >= 0 ? m.inner_semi_blunt : m.inner_semi_pointed;
      const float rest = py * py / (a * a) + pz * pz / (b * b);
      const float air = std::clamp((py - m.air_cell_y) / sp + 0.5f, 0.0f, 1.0f);
      // Fully inside (cover 1, no air) where x^2 / b^2 < q_in - rest.
      const float room = air > 0.0f ? -1.0f : q_in - rest;
      const float half = room > 0.0f ? b * std::sqrt(room) : -1.0f;
      float* row = canvas->data.data() + Index(box, box.lo[0], y, z);
      for (int x = box.lo[0]; x < box.lo[0] + box.n[0]; ++x) {
        const float px = VoxelCenter(m, 0, x);
        if (std::fabs(px) < half) continue;
        const float q = px * px / (b * b) + rest;
        const float keep = std::clamp((1.0f - q) * k + 0.5f, 0.0f, 1.0f) * (1.0f - air);
        const auto at = static_cast<std::size_t>(x - box.lo[0]);
        for (int ch = 0; ch < canvas->channels; ++ch) row[static_cast<std::size_t>(ch) * stride + at] *= keep;
      }
    }
  }
}

// Coil gain along one axis of the box: lin (p - ref) + quad (p - ref)^2.
std::vector<float> GainAxis(const EggModel& m, const Box& box, int axis) {
  const auto a = static_cast<std::size_t>(axis);
  std::vector<float> f(static_cast<std::size_t>(box.n[a]));
  for (int i = 0; i < box.n[a]; ++i) {
    const float d = VoxelCenter(m, axis, box.lo[a] + i) - m.bias_ref[a];
    f[static_cast<std::size_t>(i)] = m.bias_lin[a] * d + m.bias_quad[a] * d * d;
  }
  return f;
}

// Calls fn(offset, x, y, z, gain) for every voxel of the box.
template <typename Fn>
void ForEachVoxel(const EggModel& m, const Box& box, Fn fn) {
  const std::vector<float> gx = GainAxis(m, box, 0), gy = GainAxis(m, box, 1), gz = GainAxis(m, box, 2);
  std::size_t i = 0;
  for (int z = 0; z < box.n[2]; ++z)
    for (int y = 0; y < box.n[1]; ++y) {
      const float gyz = 1.0f + gy[static_cast<std::size_t>(y)] + gz[static_cast<std::size_t>(z)];
      for (int x = 0; x < box.n[0]; ++x, ++i)
        fn(i, box.lo[0] + x, box.lo[1] + y, box.lo[2] + z, std::max(gyz + gx[static_cast<std::size_t>(x)], 0.05f));
    }
}

// Magnitude of the complex signal with Gaussian noise in both parts, grey
// levels. `bits`: 24 random bits (12 per part).
inline float Rician(float s, float sigma, uint32_t bits, const std::array<float, 1u << kNormalBits>& table) {
  const float re = s + sigma * table[bits & kNormalMask];
  const float im = sigma * table[(bits >> kNormalBits) & kNormalMask];
  return std::sqrt(re * re + im * im) * kGain;
}

// One hash feeds two neighbouring voxels along x (global x even and odd).
inline uint32_t Half(uint64_t pair_bits, int x) { return static_cast<uint32_t>((x & 1) ? pair_bits >> 32 : pair_bits); }

}  // namespace

void PaintScene(const EggModel& m, Canvas* canvas) {
  Fill(m.albumen, canvas);
  for (const Blob& b : m.contents) PaintBlob(m, b, {0, 0, 0}, canvas);
  PaintEmbryo(m, canvas);
  PaintNoSignal(m, canvas);
}

void AcquireT2wU8(const EggModel& m, const Canvas& canvas, const AcquireParams& p, uint8_t* out) {
  const auto& table = NormalTable();
  const VoxelNoise noise(p.seed, p.index, 0);
  const float sigma = ReferenceSignal() / p.snr;
  const Box& box = canvas.box;
  const std::vector<float> gx = GainAxis(m, box, 0), gy = GainAxis(m, box, 1), gz = GainAxis(m, box, 2);
  const float* img = canvas.channel(0);
  std::size_t i = 0;
  for (int z = 0; z < box.n[2]; ++z)
    for (int y = 0; y < box.n[1]; ++y) {
      const float gyz = 1.0f + gy[static_cast<std::size_t>(y)] + gz[static_cast<std::size_t>(z)];
      uint64_t bits = 0;
      for (int x = 0; x < box.n[0]; ++x, ++i) {
        const int vx = box.lo[0] + x;
        if (x == 0 || (vx & 1) == 0) bits = noise.Bits(vx >> 1, box.lo[1] + y, box.lo[2] + z);
        const float gain = std::max(gyz + gx[static_cast<std::size_t>(x)], 0.05f);
        const float grey = Rician(img[i] * gain, sigma, Half(bits, vx), table) + 0.5f;
        out[i] = static_cast<uint8_t>(std::min(grey, 255.0f));
      }
    }
}

void AcquireU16(const EggModel& m, const Canvas& canvas, const AcquireParams& p, uint16_t* out) {
  const auto& table = NormalTable();
  const float sigma = ReferenceSignal() / p.snr;
  const std::size_t n = canvas.box.voxels();
  const VoxelNoise noise(p.seed, p.index, 0), t1_noise(p.seed, p.index, 1), t2_noise(p.seed, p.index, 2);
  const float* img = canvas.channel(0);
  auto u16 = [](float v) { return static_cast<uint16_t>(std::clamp(v + 0.5f, 0.0f, 65535.0f)); };
  ForEachVoxel(m, canvas.box, [&](std::size_t i, int x, int y, int z, float gain) {
    const float s = img[i] * gain;
    out[i] = u16(Rician(s, sigma, Half(noise.Bits(x >> 1, y, z), x), table));
    if (canvas.channels < 3) return;
    const float local_snr = s / sigma;
    if (local_snr < kMinFitSnr) {
      out[n + i] = 0;
      out[2 * n + i] = 0;
      return;
    }
    const float t1 = canvas.channel(1)[i], t2 = canvas.channel(2)[i];
    out[n + i] = u16(t1 * (1.0f + kT1FitNoise / local_snr * table[t1_noise.Bits(x, y, z) & kNormalMask]));
    out[2 * n + i] = u16(t2 * (1.0f + kT2FitNoise / local_snr * table[t2_noise.Bits(x, y, z) & kNormalMask]));
  });
}

}  // namespace ovoflow::phantom::internal
