#include "phantom/egg_anatomy.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ovoflow::phantom::internal {
namespace {

// Assumed tissue values (docs/phantom.md, "Tissues"): the sources give only
// orderings (yolk has a short-T2 lipid component, the latebra stays bright
// when albumen is dark, fluid is bright), not numbers.
constexpr TissueParams kParams[] = {
    {0.90f, 1500, 52},   // albumen
    {0.70f, 300, 40},    // yolk: short T1 and T2 (lipid)
    {0.90f, 1200, 250},  // latebra (white yolk core)
    {1.00f, 2500, 600},  // amniotic fluid
    {0.85f, 1400, 85},   // embryo body
    {0.88f, 1500, 95},   // head
    {1.00f, 2200, 400},  // eye (vitreous)
    {0.90f, 1800, 150},  // mesonephros (fluid-filled tubules)
    {0.60f, 1000, 55},   // spine (cartilage)
    {0.95f, 1600, 250},  // flowing blood: aorta, vessel spots
    {0.95f, 1500, 260},  // gonad
};

float SpinEcho(float pd, float t1_ms, float t2_ms) {
  return pd * (1.0f - std::exp(-kTrMs / t1_ms)) * std::exp(-kTeMs / t2_ms);
}

// Relative signal scale: amniotic fluid maps to 0.85 (153 grey levels).
float SignalScale() {
  static const float scale = 0.85f / SpinEcho(kParams[3].pd, kParams[3].t1_ms, kParams[3].t2_ms);
  return scale;
}

// mean + sd * variation * N(0, 1), one draw per call.
struct Jitter {
  Rng* rng;
  float variation;
  float operator()(float mean, float sd) const { return mean + sd * variation * rng->Normal(); }
};

Mat3 Identity() { return {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}; }

Mat3 Multiply(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 3; ++k) c[i][j] += a[i][k] * b[k][j];
  return c;
}

Vec3 Apply(const Mat3& r, const Vec3& v) {
  Vec3 p{};
  for (std::size_t i = 0; i < 3; ++i) p[i] = r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2];
  return p;
}

// R = Rz(yaw) * Rx(pitch) * Ry(roll), angles in radians.
Mat3 Rotation(float yaw, float pitch, float roll) {
  const float cy = std::cos(yaw), sy = std::sin(yaw), cp = std::cos(pitch), sp = std::sin(pitch);
  const float cr = std::cos(roll), sr = std::sin(roll);
  const Mat3 rz = {{{cy, -sy, 0}, {sy, cy, 0}, {0, 0, 1}}};
  const Mat3 rx = {{{1, 0, 0}, {0, cp, -sp}, {0, sp, cp}}};
  const Mat3 ry = {{{cr, 0, sr}, {0, 1, 0}, {-sr, 0, cr}}};
  return Multiply(rz, Multiply(rx, ry));
}

// Height of the inner shell surface above (x, y), mm.
float InnerTop(const EggModel& m, float x, float y) {
  const float a = y >= 0 ? m.inner_semi_blunt : m.inner_semi_pointed;
  const float t = 1.0f - (x * x) / (m.inner_semi_xz * m.inner_semi_xz) - (y * y) / (a * a);
  return m.inner_semi_xz * std::sqrt(std::max(t, 0.0f));
}

// Embryo-frame anatomy (mm; x left(-) to right(+), y cranio-caudal, head at
// +y, z up; origin = the nominal abdomen, the yolk surface at yolk_top_e).
struct EmbryoPart {
  Vec3 center, semi;
  Tissue tissue;
};

struct EmbryoDraft {
  std::array<EmbryoPart, kMaxEmbryoBlobs> parts;
  int n = 0;
  int left_gonad = -1, right_gonad = -1;
  void Add(const EmbryoPart& p) { parts[static_cast<std::size_t>(n++)] = p; }
};

// An embryo structure's tissue: PD and T2 vary between embryos.
Tissue OrganTissue(Kind k, const Jitter& jitter) {
  const float pd = jitter(1.0f, 0.055f);
  const float t2 = jitter(1.0f, 0.03f);
  return MakeTissue(k, pd, t2);
}

// Gonads on the ventromedial face of each mesonephros. Female: large left
// ovary, the right gonad regresses progressively with the days; male: two
// testes of similar size, the left slightly larger.
void AddGonads(float days, float scale, float kidney_y, float organ_z, TrueSex sex, const Jitter& jitter,
               EmbryoDraft* d) {
  const bool female = sex == TrueSex::kFemale;
  const Vec3 left_base = female ? Vec3{0.65f, 1.7f, 0.5f} : Vec3{0.55f, 1.4f, 0.5f};
  const float female_ratio = std::clamp(0.55f - 0.07f * days, 0.3f, 0.9f);
  const float right_ratio = female ? jitter(female_ratio, 0.07f) : jitter(0.93f, 0.07f);
  const float left_size = scale * (1.0f + 0.08f * days) * jitter(1.0f, 0.08f);
  const float gonad_x = jitter(1.1f, 0.08f) * scale;
  const float gonad_y = kidney_y + jitter(0.2f, 0.3f);
  for (float side : {-1.0f, 1.0f}) {
    const float size = side < 0 ? left_size : left_size * std::max(right_ratio, 0.2f);
    EmbryoPart p{{side * gonad_x + jitter(0, 0.08f), gonad_y + jitter(0, 0.15f), organ_z + 0.5f * scale},
                 {},
                 OrganTissue(Kind::kGonad, jitter)};
    for (std::size_t k = 0; k < 3; ++k) p.semi[k] = left_base[k] * size * jitter(1.0f, 0.05f);
    (side < 0 ? d->left_gonad : d->right_gonad) = d->n;
    d->Add(p);
  }
}

// The embryo in its own frame (docs/phantom.md, "What is drawn").
EmbryoDraft SampleEmbryo(const PhantomOptions& o, float yolk_top_e, TrueSex sex, Rng& rng) {
  const Jitter jitter{&rng, o.variation};
  auto tissue = [&](Kind k) { return OrganTissue(k, jitter); };
  const float days = static_cast<float>(o.incubation_day) - 12.0f;  // the day model (docs/phantom.md)
  const float scale = jitter(1.0f, 0.06f) * (1.0f + 0.05f * days);
  EmbryoDraft d;
  const Vec3 body_semi = {jitter(5.2f, 0.3f) * scale, jitter(9.0f, 0.5f) * scale, jitter(2.6f, 0.15f) * scale};
  const float body_z = yolk_top_e + 0.8f * body_semi[2];  // lies on the yolk, slightly sunk in
  d.Add({{jitter(0, 0.2f), jitter(0, 0.4f), body_z}, body_semi, tissue(Kind::kBody)});

  // Head with two large eyes, cranial to the body (outside the default ROI).
  const Vec3 head_semi = {jitter(4.0f, 0.25f) * scale, jitter(4.5f, 0.3f) * scale, jitter(3.3f, 0.2f) * scale};
  const float head_y = body_semi[1] + 0.9f * head_semi[1];  // a short neck
  const float head_z = yolk_top_e + 0.85f * head_semi[2];
  d.Add({{jitter(0, 0.2f), head_y, head_z}, head_semi, tissue(Kind::kHead)});
  for (float side : {-1.0f, 1.0f}) {
    const float r = jitter(1.8f, 0.1f) * scale;
    d.Add({{side * 0.55f * head_semi[0], head_y + 0.35f * head_semi[1], head_z + 0.3f * head_semi[2]},
           {r, r, r},
           tissue(Kind::kEye)});
  }

  const float organ_z = body_z - 0.5f * scale;  // dorsal half of the abdomen
  const float kidney_x = jitter(2.0f, 0.12f) * scale;
  const float kidney_y = jitter(0, 0.3f);
  for (float side : {-1.0f, 1.0f}) {
    const float s = scale * jitter(1.0f, 0.05f);
    d.Add({{side * kidney_x, kidney_y + jitter(0, 0.15f), organ_z},
           {0.9f * s, 3.0f * s, 0.7f * s},
           tissue(Kind::kKidney)});
  }
  d.Add({{jitter(0, 0.1f), 0, organ_z - 1.2f * scale}, {0.6f * scale, 12, 0.6f * scale}, tissue(Kind::kSpine)});
  d.Add({{jitter(0, 0.1f), 0, organ_z - 0.3f * scale}, {0.35f * scale, 12, 0.35f * scale}, tissue(Kind::kBlood)});

  AddGonads(days, scale, kidney_y, organ_z, sex, jitter, &d);

  // Flowing blood shows as bright spots anywhere in the abdomen (confounders).
  const int spots = static_cast<int>(rng.Uniform() * 3);  // 0, 1 or 2
  for (int i = 0; i < spots; ++i) {
    const float r = rng.Uniform(0.3f, 0.6f);
    d.Add({{rng.Uniform(-3.5f, 3.5f), rng.Uniform(-6, 6), body_z + rng.Uniform(-1.2f, 1.2f)},
           {r, r, r},
           tissue(Kind::kBlood)});
  }
  return d;
}

// Axis-aligned half-extent of a blob, mm.
Vec3 Extent(const Blob& b) {
  Vec3 e{};
  for (std::size_t i = 0; i < 3; ++i) {
    float s = 0;
    for (std::size_t j = 0; j < 3; ++j) s += b.rot[i][j] * b.rot[i][j] * b.semi[j] * b.semi[j];
    e[i] = std::sqrt(s);
  }
  return e;
}

}  // namespace

TissueParams NominalParams(Kind kind) { return kParams[static_cast<int>(kind)]; }

Tissue MakeTissue(Kind kind, float pd_scale, float t2_scale) {
  const TissueParams p = NominalParams(kind);
  const float t2 = p.t2_ms * t2_scale;
  return {SpinEcho(p.pd * pd_scale, p.t1_ms, t2) * SignalScale(), p.t1_ms, t2};
}

float ReferenceSignal() {
  static const float ref = MakeTissue(Kind::kBody).t2w;
  return ref;
}

namespace {

// Shell, air cell and albumen.
void SampleShell(const PhantomOptions& o, const Jitter& jitter, EggModel* m) {
  const float length = jitter(57.0f, 2.0f);
  const float breadth = jitter(44.0f, 1.2f);
  const float shell = jitter(0.35f, 0.03f);
  m->outer_semi_xz = 0.5f * breadth;
  m->outer_semi_blunt = 0.46f * length;
  m->outer_semi_pointed = 0.54f * length;
  m->inner_semi_xz = m->outer_semi_xz - shell;
  m->inner_semi_blunt = m->outer_semi_blunt - shell;
  m->inner_semi_pointed = m->outer_semi_pointed - shell;
  const float air_depth = jitter(3.5f + 0.3f * static_cast<float>(o.incubation_day), 1.0f);
  m->air_cell_y = m->inner_semi_blunt - std::max(air_depth, 1.0f);
  const float pd = jitter(1.0f, 0.04f);
  const float t2 = jitter(1.0f, 0.04f);
  m->albumen = MakeTissue(Kind::kAlbumen, pd, t2);
}

Tissue JitteredTissue(Kind kind, const Jitter& jitter, float pd_sd, float t2_sd) {
  const float pd = jitter(1.0f, pd_sd);
  const float t2 = jitter(1.0f, t2_sd);
  return MakeTissue(kind, pd, t2);
}

// The embryo moves along a random direction during the scan (or not), and
// the box its blobs can reach.
void SampleMotion(const PhantomOptions& o, Rng& rng, EggModel* m) {
  const bool moved = rng.Uniform() < o.motion_probability;
  const float amp = rng.Uniform(0.3f, 1.0f) * o.motion_max_mm;
  const Vec3 dir = {rng.Normal(), rng.Normal(), 0.5f * rng.Normal()};
  const float norm = std::max(std::sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]), 1e-3f);
  m->motion = moved && amp > 0;
  for (int k = 0; k < kMotionCopies; ++k) {
    const float t = m->motion ? (static_cast<float>(k) / (kMotionCopies - 1) - 0.5f) * amp / norm : 0.0f;
    for (std::size_t a = 0; a < 3; ++a) m->motion_shift[static_cast<std::size_t>(k)][a] = t * dir[a];
  }
  const float reach = m->motion ? 0.5f * amp + 0.1f : 0.0f;
  m->embryo_lo = {1e9f, 1e9f, 1e9f};
  m->embryo_hi = {-1e9f, -1e9f, -1e9f};
  for (int i = 0; i < m->n_embryo; ++i) {
    const Blob& b = m->embryo[static_cast<std::size_t>(i)];
    const Vec3 e = Extent(b);
    for (std::size_t a = 0; a < 3; ++a) {
      m->embryo_lo[a] = std::min(m->embryo_lo[a], b.center[a] - 1.5f * e[a] - reach);
      m->embryo_hi[a] = std::max(m->embryo_hi[a], b.center[a] + 1.5f * e[a] + reach);
    }
  }
}

// Surface coil above the egg: the gain falls off downwards, with weaker
// lateral terms; 1 at the abdomen.
void SampleCoil(const PhantomOptions& o, Rng& rng, EggModel* m) {
  const float s = o.bias_strength, depth = 2.0f * m->inner_semi_xz, half = 0.5f * depth;
  m->bias_ref = m->abdomen;
  m->bias_lin = {0.25f * s * rng.Uniform(-1, 1) / depth, 0.25f * s * rng.Uniform(-1, 1) / depth,
                 s * rng.Uniform(0.7f, 1.0f) / depth};
  m->bias_quad = {-0.25f * s * rng.Uniform(0, 1) / (half * half), -0.25f * s * rng.Uniform(0, 1) / (half * half), 0};
}

// Scanner grid: covers the outer shell plus 1 mm, random sub-voxel offset.
void SampleGrid(const PhantomOptions& o, Rng& rng, EggModel* m) {
  m->spacing_mm = o.spacing_mm;
  const Vec3 lo = {-m->outer_semi_xz - 1.0f, -m->outer_semi_pointed - 1.0f, -m->outer_semi_xz - 1.0f};
  const Vec3 hi = {m->outer_semi_xz + 1.0f, m->outer_semi_blunt + 1.0f, m->outer_semi_xz + 1.0f};
  for (std::size_t a = 0; a < 3; ++a) {
    m->grid_origin[a] = lo[a] - rng.Uniform(0, 1) * o.spacing_mm;
    m->egg_dims[a] = static_cast<int>(std::ceil((hi[a] - m->grid_origin[a]) / o.spacing_mm));
  }
}

}  // namespace

// Every draw is its own statement (or in a braced list): the draw order, and
// so every egg, does not depend on the compiler's argument evaluation order.
EggModel SampleEgg(const PhantomOptions& o, Rng& rng) {
  const Jitter jitter{&rng, o.variation};
  const float days = static_cast<float>(o.incubation_day) - 12.0f;
  const float deg = std::numbers::pi_v<float> / 180.0f;
  EggModel m;
  m.sex = rng.Uniform() < 0.5 ? TrueSex::kFemale : TrueSex::kMale;
  SampleShell(o, jitter, &m);

  // Yolk floating up under the top of the shell; the embryo lies on its apex.
  const float yolk_r = jitter(14.0f - 0.3f * days, 1.2f);
  const float yolk_x = jitter(0, 1.0f);
  const float yolk_y = jitter(0, 2.0f);
  const float apex_z = InnerTop(m, yolk_x, yolk_y) - jitter(10.5f, 0.7f);
  const Vec3 yolk_c = {yolk_x, yolk_y, apex_z - yolk_r};
  const float yolk_top_e = jitter(-2.0f, 0.3f);  // the yolk surface in the embryo frame

  // Embryo pose: yaw about the vertical, small tilts; origin above the apex.
  const float yaw = rng.Uniform(-1, 1) * o.max_rotation_deg * deg;
  const float pitch = rng.Uniform(-1, 1) * o.max_tilt_deg * deg;
  const float roll = rng.Uniform(-1, 1) * o.max_tilt_deg * deg;
  const Mat3 rot = Rotation(yaw, pitch, roll);
  const Vec3 origin = {yolk_x, yolk_y, apex_z - yolk_top_e};
  auto posed = [&](const Vec3& c, const Vec3& semi, const Tissue& t) {
    const Vec3 p = Apply(rot, c);
    return Blob{{p[0] + origin[0], p[1] + origin[1], p[2] + origin[2]}, rot, semi, t};
  };

  const Tissue fluid = JitteredTissue(Kind::kFluid, jitter, 0.035f, 0.03f);
  const Tissue yolk = JitteredTissue(Kind::kYolk, jitter, 0.08f, 0.05f);
  const Tissue latebra = JitteredTissue(Kind::kLatebra, jitter, 0.04f, 0.05f);
  const float scale = 1.0f + 0.05f * days;
  const Vec3 amnion_semi = {jitter(10.0f, 0.5f) * scale, jitter(15.0f, 0.8f) * scale, 7.5f};
  m.contents[0] = posed({0, 1.0f, yolk_top_e + 2.5f}, amnion_semi, fluid);
  m.contents[1] = {yolk_c, Identity(), {yolk_r, yolk_r, yolk_r}, yolk};
  const float lat_r = jitter(3.0f, 0.4f);
  const Vec3 lat_c = {yolk_c[0] + jitter(0, 0.5f), yolk_c[1] + jitter(0, 0.5f), yolk_c[2]};
  m.contents[2] = {lat_c, Identity(), {lat_r, lat_r, lat_r}, latebra};
  m.contents[3] = {{yolk_c[0], yolk_c[1], yolk_c[2] + 0.4f * yolk_r},
                   Identity(),
                   {0.35f * lat_r, 0.35f * lat_r, 0.35f * yolk_r},
                   latebra};  // neck, up to 0.75 R

  const EmbryoDraft d = SampleEmbryo(o, yolk_top_e, m.sex, rng);
  for (int i = 0; i < d.n; ++i) {
    const EmbryoPart& p = d.parts[static_cast<std::size_t>(i)];
    m.embryo[static_cast<std::size_t>(i)] = posed(p.center, p.semi, p.tissue);
  }
  m.n_embryo = d.n;
  m.left_gonad = d.left_gonad;
  m.right_gonad = d.right_gonad;
  const Blob& lg = m.embryo[static_cast<std::size_t>(d.left_gonad)];
  const Blob& rg = m.embryo[static_cast<std::size_t>(d.right_gonad)];
  for (std::size_t k = 0; k < 3; ++k) m.abdomen[k] = 0.5f * (lg.center[k] + rg.center[k]);
  auto volume = [](const Blob& b) {
    return 4.0f / 3.0f * std::numbers::pi_v<float> * b.semi[0] * b.semi[1] * b.semi[2];
  };
  m.gonad_mm3[0] = volume(lg);
  m.gonad_mm3[1] = volume(rg);

  SampleMotion(o, rng, &m);
  SampleCoil(o, rng, &m);
  SampleGrid(o, rng, &m);
  return m;
}

}  // namespace ovoflow::phantom::internal
