#include "edge/phantom.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

namespace ovoflow::edge {
namespace {

// ---- Randomness: one counter-seeded xoshiro256** stream per (seed, index) ----

uint64_t Mix64(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

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
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    return static_cast<float>(std::clamp(z, -3.0, 3.0));
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

// Standard normal quantiles at the midpoints of 4096 equal-probability bins,
// rescaled to unit variance: 12 random bits give one Gaussian draw (one
// 64-bit draw feeds the real and imaginary noise of a voxel). Tails are cut
// at 3.6 sigma.
constexpr int kNormalBits = 12;
constexpr uint64_t kNormalMask = (1u << kNormalBits) - 1;

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

// ---- Anatomy, in the embryo frame (mm; x: left(-) to right(+), y: cranio-caudal, z: up) ----

// T2-weighted intensities, relative (gain maps 1.0 to 180 grey levels).
// Literature gives the ordering fluid > tissue > yolk; the values are assumptions.
constexpr float kFluid = 0.85f;       // extra-embryonic fluid: long T2, bright
constexpr float kYolk = 0.35f;        // yolk: short-T2 lipid component, dark
constexpr float kTissue = 0.55f;      // embryo body; the noise reference for snr
constexpr float kKidney = 0.70f;      // mesonephros (fluid-filled tubules)
constexpr float kSpine = 0.30f;       // cartilage/bone
constexpr float kBlood = 0.92f;       // flowing blood: aorta, vessel spots
constexpr float kGonad = 0.95f;
constexpr float kGain = 180.0f;       // grey levels per unit intensity (fixed receiver gain)

struct Blob {  // a soft-edged ellipsoid
  std::array<float, 3> center;  // mm, embryo frame
  std::array<float, 3> semi;    // semi-axes along the embryo axes, mm
  float intensity;
};

constexpr int kMaxBlobs = 12;

struct Anatomy {
  TrueSex sex;
  float yolk_top_mm;     // height of the yolk surface under the embryo
  float yolk_radius_mm;  // curvature of the yolk surface
  float fluid, yolk;     // intensities
  std::array<Blob, kMaxBlobs> blobs;  // painted in order, later over earlier
  int n_blobs = 0;
  int left_gonad = -1, right_gonad = -1;
  void Add(const Blob& b) { blobs[static_cast<std::size_t>(n_blobs++)] = b; }
};

Anatomy SampleAnatomy(const PhantomOptions& o, Rng& rng) {
  Anatomy a;
  a.sex = rng.Uniform() < 0.5 ? TrueSex::kFemale : TrueSex::kMale;
  const float g = o.variation;
  auto jitter = [&](float mean, float sd) { return mean + sd * g * rng.Normal(); };
  const float scale = jitter(1.0f, 0.06f);  // overall embryo size
  a.yolk_top_mm = jitter(-2.0f, 0.3f);
  a.yolk_radius_mm = jitter(14.0f, 1.5f);
  a.fluid = jitter(kFluid, 0.03f);
  a.yolk = jitter(kYolk, 0.03f);

  const std::array<float, 3> body_semi = {jitter(5.2f, 0.3f) * scale, jitter(9.0f, 0.5f) * scale,
                                          jitter(2.6f, 0.15f) * scale};
  const float body_z = a.yolk_top_mm + 0.8f * body_semi[2];  // lies on the yolk, slightly sunk in
  a.Add({{jitter(0, 0.2f), jitter(0, 0.4f), body_z}, body_semi, jitter(kTissue, 0.03f)});

  const float organ_z = body_z - 0.5f * scale;  // dorsal half of the abdomen
  const float kidney_x = jitter(2.0f, 0.12f) * scale;
  const float kidney_y = jitter(0, 0.3f);
  for (float side : {-1.0f, 1.0f}) {
    const float s = scale * jitter(1.0f, 0.05f);
    a.Add({{side * kidney_x, kidney_y + jitter(0, 0.15f), organ_z}, {0.9f * s, 3.0f * s, 0.7f * s},
           jitter(kKidney, 0.03f)});
  }
  a.Add({{jitter(0, 0.1f), 0, organ_z - 1.2f * scale}, {0.6f * scale, 12, 0.6f * scale}, jitter(kSpine, 0.03f)});
  a.Add({{jitter(0, 0.1f), 0, organ_z - 0.3f * scale}, {0.35f * scale, 12, 0.35f * scale}, jitter(kBlood, 0.03f)});

  // Gonads on the ventromedial face of each mesonephros. Female: large left
  // ovary, regressing right gonad; male: two testes of similar size, the left
  // slightly larger (sex-independent asymmetry). Day 11: less regression.
  const bool female = a.sex == TrueSex::kFemale;
  const float day = o.incubation_day <= 11 ? 0.92f : 1.0f;  // gonads grow with age
  const std::array<float, 3> left_base = female ? std::array<float, 3>{0.65f, 1.7f, 0.5f}
                                                : std::array<float, 3>{0.55f, 1.4f, 0.5f};
  const float right_ratio = female ? jitter(o.incubation_day <= 11 ? 0.62f : 0.55f, 0.07f) : jitter(0.93f, 0.07f);
  const float left_size = scale * day * jitter(1.0f, 0.08f);
  const float gonad_x = jitter(1.1f, 0.08f) * scale;
  const float gonad_y = kidney_y + jitter(0.2f, 0.3f);
  for (float side : {-1.0f, 1.0f}) {
    const float size = side < 0 ? left_size : left_size * std::max(right_ratio, 0.2f);
    Blob b{{side * gonad_x + jitter(0, 0.08f), gonad_y + jitter(0, 0.15f), organ_z + 0.5f * scale},
           {}, jitter(kGonad, 0.04f)};
    for (int k = 0; k < 3; ++k) b.semi[static_cast<std::size_t>(k)] = left_base[static_cast<std::size_t>(k)] * size * jitter(1.0f, 0.05f);
    (side < 0 ? a.left_gonad : a.right_gonad) = a.n_blobs;
    a.Add(b);
  }

  // Flowing blood shows as bright spots anywhere in the abdomen (confounders).
  const int spots = static_cast<int>(rng.Uniform() * 3);  // 0, 1 or 2
  for (int i = 0; i < spots; ++i) {
    const float r = rng.Uniform(0.3f, 0.6f);
    a.Add({{rng.Uniform(-3.5f, 3.5f), rng.Uniform(-6, 6), body_z + rng.Uniform(-1.2f, 1.2f)}, {r, r, r},
           jitter(kBlood, 0.03f)});
  }
  return a;
}

// ---- Pose and rendering, in the volume frame (mm, origin at the volume centre) ----

struct Pose {
  std::array<std::array<float, 3>, 3> rot;  // embryo frame -> volume frame
  std::array<float, 3> shift;               // mm
  std::array<float, 3> Apply(const std::array<float, 3>& e) const {
    std::array<float, 3> p{};
    for (std::size_t i = 0; i < 3; ++i) p[i] = rot[i][0] * e[0] + rot[i][1] * e[1] + rot[i][2] * e[2] + shift[i];
    return p;
  }
};

Pose SamplePose(const PhantomOptions& o, Rng& rng) {
  const float deg = std::numbers::pi_v<float> / 180.0f;
  const float yaw = rng.Uniform(-1, 1) * o.max_rotation_deg * deg;
  const float pitch = rng.Uniform(-1, 1) * o.max_tilt_deg * deg;
  const float roll = rng.Uniform(-1, 1) * o.max_tilt_deg * deg;
  const float cy = std::cos(yaw), sy = std::sin(yaw), cp = std::cos(pitch), sp = std::sin(pitch);
  const float cr = std::cos(roll), sr = std::sin(roll);
  Pose pose;
  // R = Rz(yaw) * Rx(pitch) * Ry(roll)
  pose.rot = {{{cy * cr - sy * sp * sr, -sy * cp, cy * sr + sy * sp * cr},
               {sy * cr + cy * sp * sr, cy * cp, sy * sr - cy * sp * cr},
               {-cp * sr, sp, cp * cr}}};
  for (float& s : pose.shift) s = rng.Uniform(-1, 1) * o.max_shift_mm;
  return pose;
}

struct Grid {
  int n[3];     // x, y, z
  float sp;     // mm
  float Coord(int axis, int i) const { return (static_cast<float>(i) + 0.5f - 0.5f * static_cast<float>(n[axis])) * sp; }
  float Voxel(int axis, float mm) const { return mm / sp + 0.5f * static_cast<float>(n[axis]) - 0.5f; }
};

// Yolk below a curved surface, fluid above: every voxel.
void PaintBackground(const Grid& g, const Anatomy& a, const Pose& pose, float* img) {
  const auto& r = pose.rot;
  const float edge = 1.0f / g.sp;
  const float inv_2r = 0.5f / a.yolk_radius_mm;
  for (int z = 0; z < g.n[2]; ++z) {
    for (int y = 0; y < g.n[1]; ++y) {
      // e = R^T (p - t), stepping p along x.
      const std::array<float, 3> d0 = {g.Coord(0, 0) - pose.shift[0], g.Coord(1, y) - pose.shift[1],
                                       g.Coord(2, z) - pose.shift[2]};
      float e[3], de[3];
      for (int j = 0; j < 3; ++j) {
        e[j] = r[0][static_cast<std::size_t>(j)] * d0[0] + r[1][static_cast<std::size_t>(j)] * d0[1] +
               r[2][static_cast<std::size_t>(j)] * d0[2];
        de[j] = r[0][static_cast<std::size_t>(j)] * g.sp;
      }
      float* row = img + (static_cast<std::ptrdiff_t>(z) * g.n[1] + y) * g.n[0];
      for (int x = 0; x < g.n[0]; ++x) {
        const float u = e[0] + de[0] * static_cast<float>(x), v = e[1] + de[1] * static_cast<float>(x);
        const float w = e[2] + de[2] * static_cast<float>(x);
        const float surface = a.yolk_top_mm - (u * u + v * v) * inv_2r;
        const float yolk = std::clamp((surface - w) * edge + 0.5f, 0.0f, 1.0f);
        row[x] = a.fluid + yolk * (a.yolk - a.fluid);
      }
    }
  }
}

// Soft-edged ellipsoid over its bounding box. The edge ramps over one voxel
// (partial volume) across the shortest axis.
void PaintBlob(const Grid& g, const Blob& b, const Pose& pose, float* img) {
  const std::array<float, 3> c = pose.Apply(b.center);
  const auto& r = pose.rot;
  float m[3][3];  // M = R diag(1/s^2) R^T
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      m[i][j] = 0;
      for (std::size_t k = 0; k < 3; ++k) m[i][j] += r[i][k] * r[j][k] / (b.semi[k] * b.semi[k]);
    }
  const float k = std::min({b.semi[0], b.semi[1], b.semi[2]}) / (2.0f * g.sp);
  const float q_max = 1.0f + 0.5f / k;
  int lo[3], hi[3];
  for (std::size_t i = 0; i < 3; ++i) {
    float ext = 0;
    for (std::size_t j = 0; j < 3; ++j) ext += r[i][j] * r[i][j] * b.semi[j] * b.semi[j];
    ext = std::sqrt(ext * q_max);
    const int ai = static_cast<int>(i);
    lo[i] = std::max(0, static_cast<int>(std::floor(g.Voxel(ai, c[i] - ext))));
    hi[i] = std::min(g.n[i] - 1, static_cast<int>(std::ceil(g.Voxel(ai, c[i] + ext))));
  }
  for (int z = lo[2]; z <= hi[2]; ++z) {
    const float dz = g.Coord(2, z) - c[2];
    for (int y = lo[1]; y <= hi[1]; ++y) {
      const float dy = g.Coord(1, y) - c[1];
      // q(dx) = m00 dx^2 + 2 dx (m01 dy + m02 dz) + rest
      const float lin = 2.0f * (m[0][1] * dy + m[0][2] * dz);
      const float rest = m[1][1] * dy * dy + m[2][2] * dz * dz + 2.0f * m[1][2] * dy * dz;
      // Only where q(dx) < q_max is the cover positive: between the roots.
      const float disc = lin * lin - 4.0f * m[0][0] * (rest - q_max);
      if (disc <= 0.0f) continue;
      const float root = std::sqrt(disc), inv = 0.5f / m[0][0];
      const int x0 = std::max(lo[0], static_cast<int>(std::floor(g.Voxel(0, c[0] + (-lin - root) * inv))));
      const int x1 = std::min(hi[0], static_cast<int>(std::ceil(g.Voxel(0, c[0] + (-lin + root) * inv))));
      float* row = img + (static_cast<std::ptrdiff_t>(z) * g.n[1] + y) * g.n[0];
      for (int x = x0; x <= x1; ++x) {
        const float dx = g.Coord(0, x) - c[0];
        const float q = m[0][0] * dx * dx + lin * dx + rest;
        const float cover = std::clamp((1.0f - q) * k + 0.5f, 0.0f, 1.0f);
        row[x] += cover * (b.intensity - row[x]);
      }
    }
  }
}

// Smooth multiplicative field 1 + f(x) + f(y) + f(z), |f| summed <= strength.
struct BiasField {
  std::vector<float> fx, fy, fz;
};

BiasField SampleBias(const PhantomOptions& o, const Grid& g, Rng& rng) {
  float c[5];
  float total = 0;
  for (float& v : c) {
    v = rng.Uniform(-1, 1);
    total += std::fabs(v);
  }
  const float amp = o.bias_strength * rng.Uniform(0.5f, 1.0f) / std::max(total, 1e-6f);
  BiasField b;
  auto axis = [&](int ax, float lin, float quad) {
    std::vector<float> f(static_cast<std::size_t>(g.n[ax]));
    const float half = 0.5f * static_cast<float>(g.n[ax]) * g.sp;
    for (int i = 0; i < g.n[ax]; ++i) {
      const float t = g.Coord(ax, i) / half;  // -1..1
      f[static_cast<std::size_t>(i)] = amp * (lin * t + quad * t * t);
    }
    return f;
  };
  b.fx = axis(0, c[0], c[3]);
  b.fy = axis(1, c[1], c[4]);
  b.fz = axis(2, c[2], 0);
  return b;
}

// Bias, Rician noise (magnitude of a complex signal with Gaussian noise in
// both parts) and the fixed receiver gain to uint8.
void Acquire(const Grid& g, const BiasField& bias, float sigma, const float* img, Rng& rng, uint8_t* out) {
  const auto& table = NormalTable();
  std::size_t i = 0;
  for (int z = 0; z < g.n[2]; ++z) {
    for (int y = 0; y < g.n[1]; ++y) {
      const float byz = 1.0f + bias.fy[static_cast<std::size_t>(y)] + bias.fz[static_cast<std::size_t>(z)];
      for (int x = 0; x < g.n[0]; ++x, ++i) {
        const uint64_t bits = rng.Next();  // one draw: the real and imaginary noise
        const float s = img[i] * (byz + bias.fx[static_cast<std::size_t>(x)]);
        const float re = s + sigma * table[bits & kNormalMask];
        const float im = sigma * table[(bits >> 32) & kNormalMask];
        const float grey = std::sqrt(re * re + im * im) * kGain + 0.5f;
        out[i] = static_cast<uint8_t>(std::min(grey, 255.0f));
      }
    }
  }
}

float EllipsoidVolume(const Blob& b) {
  return 4.0f / 3.0f * std::numbers::pi_v<float> * b.semi[0] * b.semi[1] * b.semi[2];
}

}  // namespace

Status ValidatePhantomOptions(const PhantomOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("phantom: " + m); };
  for (uint32_t d : {o.dim_x, o.dim_y, o.dim_z})
    if (d < 4 || d > 512) return bad("dims must be 4..512 voxels");
  if (!(o.spacing_mm >= 0.05f && o.spacing_mm <= 5.0f)) return bad("spacing_mm must be 0.05..5");
  if (o.incubation_day != 11 && o.incubation_day != 12) return bad("incubation_day must be 11 or 12");
  if (!(o.snr > 0 && o.snr <= 1e6f)) return bad("snr must be > 0");
  if (!(o.bias_strength >= 0 && o.bias_strength <= 0.9f)) return bad("bias_strength must be 0..0.9");
  if (!(o.max_shift_mm >= 0 && o.max_shift_mm <= 20)) return bad("max_shift_mm must be 0..20");
  if (!(o.max_rotation_deg >= 0 && o.max_rotation_deg <= 180)) return bad("max_rotation_deg must be 0..180");
  if (!(o.max_tilt_deg >= 0 && o.max_tilt_deg <= 45)) return bad("max_tilt_deg must be 0..45");
  if (!(o.variation >= 0 && o.variation <= 3)) return bad("variation must be 0..3");
  return Status::Ok();
}

PhantomGenerator::PhantomGenerator(const PhantomOptions& options) : options_(options) {
  const Status st = ValidatePhantomOptions(options_);
  if (!st.ok()) Fatal(st.message());
  NormalTable();  // built once, outside the hot path
}

PhantomScan PhantomGenerator::Generate(uint64_t seed, uint64_t index) const {
  const PhantomOptions& o = options_;
  PhantomScan out;
  std::string data(std::size_t{o.dim_x} * o.dim_y * o.dim_z, '\0');
  out.sex = GenerateVoxels(seed, index, reinterpret_cast<uint8_t*>(data.data()), &out.truth);
  v1::Volume& v = out.volume;
  v.set_dim_x(o.dim_x);
  v.set_dim_y(o.dim_y);
  v.set_dim_z(o.dim_z);
  v.set_spacing_x_mm(o.spacing_mm);
  v.set_spacing_y_mm(o.spacing_mm);
  v.set_spacing_z_mm(o.spacing_mm);
  v.add_channels(v1::CHANNEL_T2W);
  v.set_dtype(v1::DTYPE_UINT8);
  v.set_encoding(v1::ENCODING_RAW);
  v.set_data(std::move(data));
  return out;
}

TrueSex PhantomGenerator::GenerateVoxels(uint64_t seed, uint64_t index, uint8_t* voxels,
                                         PhantomTruth* truth) const {
  const PhantomOptions& o = options_;
  Rng rng(seed, index);
  const Anatomy a = SampleAnatomy(o, rng);
  const Pose pose = SamplePose(o, rng);
  const Grid g{{static_cast<int>(o.dim_x), static_cast<int>(o.dim_y), static_cast<int>(o.dim_z)}, o.spacing_mm};
  std::vector<float> img(std::size_t{o.dim_x} * o.dim_y * o.dim_z);
  PaintBackground(g, a, pose, img.data());
  for (int i = 0; i < a.n_blobs; ++i) PaintBlob(g, a.blobs[static_cast<std::size_t>(i)], pose, img.data());
  const BiasField bias = SampleBias(o, g, rng);
  Acquire(g, bias, kTissue / o.snr, img.data(), rng, voxels);
  if (truth) {
    auto fill = [&](int blob, float* voxel, float* mm3) {
      const Blob& b = a.blobs[static_cast<std::size_t>(blob)];
      const std::array<float, 3> c = pose.Apply(b.center);
      for (int ax = 0; ax < 3; ++ax) voxel[ax] = g.Voxel(ax, c[static_cast<std::size_t>(ax)]);
      *mm3 = EllipsoidVolume(b);
    };
    fill(a.left_gonad, truth->left_gonad_voxel, &truth->left_gonad_mm3);
    fill(a.right_gonad, truth->right_gonad_voxel, &truth->right_gonad_mm3);
  }
  return a.sex;
}

}  // namespace ovoflow::edge
