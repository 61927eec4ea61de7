#include "edge/embryo_locator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/volume.h"

namespace ovoflow::edge {
namespace {

struct Grid3 {
  int n[3];
  std::size_t At(int x, int y, int z) const {
    return (static_cast<std::size_t>(z) * static_cast<std::size_t>(n[1]) + static_cast<std::size_t>(y)) *
               static_cast<std::size_t>(n[0]) +
           static_cast<std::size_t>(x);
  }
  std::size_t size() const {
    return static_cast<std::size_t>(n[0]) * static_cast<std::size_t>(n[1]) * static_cast<std::size_t>(n[2]);
  }
};

// Channel 0 averaged over f x f x f blocks (partial blocks at the far edges dropped).
template <typename T>
std::vector<float> Downsample(const T* v, const int dims[3], int f, Grid3* out) {
  for (int a = 0; a < 3; ++a) out->n[a] = std::max(dims[a] / f, 1);
  std::vector<float> d(out->size(), 0.0f);
  const float inv = 1.0f / static_cast<float>(f * f * f);
  const Grid3 in{{dims[0], dims[1], dims[2]}};
  for (int z = 0; z < out->n[2] * f && z < dims[2]; ++z)
    for (int y = 0; y < out->n[1] * f && y < dims[1]; ++y) {
      const T* row = v + in.At(0, y, z);
      float* drow = d.data() + out->At(0, y / f, z / f);
      for (int x = 0; x < out->n[0] * f && x < dims[0]; ++x) drow[x / f] += static_cast<float>(row[x]);
    }
  for (float& x : d) x *= inv;
  return d;
}

// Summed-volume table with a zero border: S(x, y, z) = sum over [0, x) x [0, y) x [0, z).
std::vector<double> Integral(const std::vector<float>& m, const Grid3& g, Grid3* s) {
  *s = Grid3{{g.n[0] + 1, g.n[1] + 1, g.n[2] + 1}};
  std::vector<double> t(s->size(), 0.0);
  for (int z = 1; z <= g.n[2]; ++z)
    for (int y = 1; y <= g.n[1]; ++y)
      for (int x = 1; x <= g.n[0]; ++x)
        t[s->At(x, y, z)] = m[g.At(x - 1, y - 1, z - 1)] + t[s->At(x - 1, y, z)] + t[s->At(x, y - 1, z)] +
                            t[s->At(x, y, z - 1)] - t[s->At(x - 1, y - 1, z)] - t[s->At(x - 1, y, z - 1)] -
                            t[s->At(x, y - 1, z - 1)] + t[s->At(x - 1, y - 1, z - 1)];
  return t;
}

double BoxSum(const std::vector<double>& t, const Grid3& s, const int lo[3], const int hi[3]) {  // [lo, hi)
  return t[s.At(hi[0], hi[1], hi[2])] - t[s.At(lo[0], hi[1], hi[2])] - t[s.At(hi[0], lo[1], hi[2])] -
         t[s.At(hi[0], hi[1], lo[2])] + t[s.At(lo[0], lo[1], hi[2])] + t[s.At(lo[0], hi[1], lo[2])] +
         t[s.At(hi[0], lo[1], lo[2])] - t[s.At(lo[0], lo[1], lo[2])];
}

struct Window {
  int lo[3], hi[3];  // [lo, hi)
};

Window ClampedWindow(const Grid3& g, const float c[3], const std::array<float, 3>& half) {
  Window w{};
  for (int a = 0; a < 3; ++a) {
    w.lo[a] = std::max(0, static_cast<int>(std::floor(c[a] - half[static_cast<std::size_t>(a)])));
    w.hi[a] = std::min(g.n[a], static_cast<int>(std::ceil(c[a] + half[static_cast<std::size_t>(a)])) + 1);
  }
  return w;
}

// Sum of the mask and its first moments (x, y, z) over a window.
std::array<double, 4> Moments(const std::vector<float>& d, const Grid3& g, const Window& w) {
  std::array<double, 4> m = {0, 0, 0, 0};
  for (int z = w.lo[2]; z < w.hi[2]; ++z)
    for (int y = w.lo[1]; y < w.hi[1]; ++y)
      for (int x = w.lo[0]; x < w.hi[0]; ++x) {
        const double v = d[g.At(x, y, z)];
        m[0] += v;
        m[1] += v * x;
        m[2] += v * y;
        m[3] += v * z;
      }
  return m;
}

// Tissue per y slab around (c[0], c[2]); from c[1] walks both ways while the
// slab holds at least kRunFraction of the peak near c[1], and returns the
// middle of that run (linear interpolation at the ends), block units.
float BodyMiddleY(const std::vector<float>& d, const Grid3& g, const float c[3], const std::array<float, 3>& half_mm,
                  float mm) {
  constexpr float kRunFraction = 0.35f;
  const Window w = ClampedWindow(g, c, {half_mm[0] / mm * 0.8f, 0, half_mm[2] / mm * 0.8f});
  std::vector<double> slab(static_cast<std::size_t>(g.n[1]), 0.0);
  for (int y = 0; y < g.n[1]; ++y)
    for (int z = w.lo[2]; z < w.hi[2]; ++z)
      for (int x = w.lo[0]; x < w.hi[0]; ++x) slab[static_cast<std::size_t>(y)] += d[g.At(x, y, z)];
  const int cy = std::clamp(static_cast<int>(std::lround(c[1])), 0, g.n[1] - 1);
  const int near = std::max(1, static_cast<int>(std::lround(3.0f / mm)));
  double peak = 0;
  for (int y = std::max(0, cy - near); y <= std::min(g.n[1] - 1, cy + near); ++y)
    peak = std::max(peak, slab[static_cast<std::size_t>(y)]);
  if (peak <= 0) return c[1];
  const double level = kRunFraction * peak;
  // A run also ends at the first local minimum below kNeckFraction of the
  // peak: the neck between the body and the head.
  constexpr double kNeckFraction = 0.6;
  auto end = [&](int step) {  // continuous y where the run ends
    int y = cy;
    auto at = [&](int i) { return slab[static_cast<std::size_t>(i)]; };
    auto inside = [&](int i) { return i >= 0 && i < g.n[1]; };
    while (inside(y + step) && at(y + step) >= level) {
      if (at(y) < kNeckFraction * peak && at(y + step) > at(y)) return static_cast<float>(y);  // neck
      y += step;
    }
    if (!inside(y + step)) return static_cast<float>(y);
    const double in = at(y), out = at(y + step);
    const double t = in > out ? (in - level) / (in - out) : 0.5;
    return static_cast<float>(y + step * t);
  };
  return 0.5f * (end(-1) + end(1));
}

}  // namespace

Result<LocatedEmbryo> EmbryoLocator::Locate(const v1::Volume& egg) const {
  const LocatorOptions& o = options_;
  if (egg.channels_size() < 1 || egg.channels(0) != v1::CHANNEL_T2W)
    return Status::InvalidArgument("locator: channel 0 must be CHANNEL_T2W");
  if (egg.dtype() != v1::DTYPE_UINT8 && egg.dtype() != v1::DTYPE_UINT16)
    return Status::InvalidArgument("locator: dtype must be uint8 or uint16");
  const int dims[3] = {static_cast<int>(egg.dim_x()), static_cast<int>(egg.dim_y()), static_cast<int>(egg.dim_z())};
  const float spacing = egg.spacing_x_mm();
  if (!(spacing > 0) || dims[0] < 1 || dims[1] < 1 || dims[2] < 1)
    return Status::InvalidArgument("locator: empty volume or bad spacing");
  std::string plain;
  OVOFLOW_ASSIGN_OR_RETURN(auto raw, PlainVoxelsRef(egg, &plain, ScanLimits{64u << 20, 4096, 8}));
  const std::string* data = raw;
  const std::size_t voxels =
      static_cast<std::size_t>(dims[0]) * static_cast<std::size_t>(dims[1]) * static_cast<std::size_t>(dims[2]);
  const std::size_t elem = egg.dtype() == v1::DTYPE_UINT8 ? 1 : 2;
  if (data->size() < voxels * elem) return Status::InvalidArgument("locator: data shorter than the geometry");

  const int f = std::max(1, static_cast<int>(std::lround(o.target_mm / spacing)));
  const float mm = spacing * static_cast<float>(f);  // working voxel size
  Grid3 g{};
  std::vector<float> d;
  if (elem == 1) {
    d = Downsample(reinterpret_cast<const uint8_t*>(data->data()), dims, f, &g);
  } else {
    std::vector<uint16_t> v(voxels);
    std::memcpy(v.data(), data->data(), voxels * 2);
    d = Downsample(v.data(), dims, f, &g);
  }
  for (float& v : d) v = (v >= o.tissue_min_grey && v <= o.tissue_max_grey) ? 1.0f : 0.0f;
  // Keep voxels whose 3 x 3 x 3 neighbourhood is mostly tissue: drops the
  // one-voxel sheets that partial volume leaves in the band at every
  // fluid/yolk and fluid/albumen interface.
  Grid3 s{};
  const std::vector<double> mask_table = Integral(d, g, &s);
  for (int z = 0; z < g.n[2]; ++z)
    for (int y = 0; y < g.n[1]; ++y)
      for (int x = 0; x < g.n[0]; ++x) {
        const int lo[3] = {std::max(x - 1, 0), std::max(y - 1, 0), std::max(z - 1, 0)};
        const int hi[3] = {std::min(x + 2, g.n[0]), std::min(y + 2, g.n[1]), std::min(z + 2, g.n[2])};
        const double n = (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
        d[g.At(x, y, z)] = BoxSum(mask_table, s, lo, hi) >= o.core_fraction * n ? 1.0f : 0.0f;
      }
  const std::vector<double> table = Integral(d, g, &s);

  // Best body-sized box in the upper half.
  int box[3];
  for (int a = 0; a < 3; ++a)
    box[a] = std::clamp(static_cast<int>(std::lround(o.body_box_mm[static_cast<std::size_t>(a)] / mm)), 1, g.n[a]);
  double best = -1;
  int best_lo[3] = {0, 0, 0};
  for (int z = g.n[2] / 2; z + box[2] <= g.n[2]; ++z)
    for (int y = 0; y + box[1] <= g.n[1]; ++y)
      for (int x = 0; x + box[0] <= g.n[0]; ++x) {
        const int lo[3] = {x, y, z}, hi[3] = {x + box[0], y + box[1], z + box[2]};
        const double sum = BoxSum(table, s, lo, hi);
        if (sum > best) {
          best = sum;
          std::copy(lo, lo + 3, best_lo);
        }
      }
  const float fraction = static_cast<float>(best / (box[0] * box[1] * box[2]));
  if (best < 0 || fraction < o.min_tissue_fraction) return Status::NotFound("locator: no embryo-like region");

  // x and z: the tissue centroid in a short window (clear of the head); y:
  // the middle of the body's run of tissue along y (the head beyond a neck).
  float c[3];
  for (int a = 0; a < 3; ++a) c[a] = static_cast<float>(best_lo[a]) + 0.5f * static_cast<float>(box[a] - 1);
  const std::array<float, 3> half = {o.refine_half_mm[0] / mm, 0.5f * o.refine_half_mm[1] / mm,
                                     o.refine_half_mm[2] / mm};
  const Window w = ClampedWindow(g, c, half);
  const std::array<double, 4> m = Moments(d, g, w);
  if (m[0] > 0) {
    c[0] = static_cast<float>(m[1] / m[0]);
    c[2] = static_cast<float>(m[3] / m[0]);
  }
  c[1] = BodyMiddleY(d, g, c, o.refine_half_mm, mm);
  LocatedEmbryo out;
  out.tissue_fraction = fraction;
  for (int a = 0; a < 3; ++a)  // block b covers input voxels [b f, b f + f): its centre is b f + (f - 1) / 2
    out.abdomen_voxel[static_cast<std::size_t>(a)] = c[a] * static_cast<float>(f) + 0.5f * static_cast<float>(f - 1) +
                                                     o.offset_mm[static_cast<std::size_t>(a)] / spacing;
  return out;
}

std::function<std::optional<std::array<float, 3>>(const v1::Volume& egg)> AbdomenLocator(
    const LocatorOptions& options) {
  return [locator = EmbryoLocator(options)](const v1::Volume& egg) -> std::optional<std::array<float, 3>> {
    auto found = locator.Locate(egg);
    if (!found.ok()) return std::nullopt;
    return found->abdomen_voxel;
  };
}

}  // namespace ovoflow::edge
