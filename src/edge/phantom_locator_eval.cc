// phantom_locator_eval: how often the edge EmbryoLocator misses, how far off
// it is, and how fast both acquisitions render (docs/phantom.md). Not a test.
//
//   phantom_locator_eval [--eggs N] [--seed S] [--threads T] [--quick]
//   phantom_locator_eval --dump DIR [--seed S] [--index I]   # PGM slices of one egg
//
// Prints one Markdown table row per setting: the default options, then SNR
// 5/10/20/40 and incubation days 9..14 at the default SNR. A miss is a crop
// whose gonads are not both fully inside the model's window
// (PhantomTruth::gonads_in_window).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "edge/embryo_locator.h"
#include "phantom/phantom.h"

namespace {

namespace edge = ovoflow::edge;
using ovoflow::phantom::Acquisition;
using ovoflow::phantom::PhantomGenerator;
using ovoflow::phantom::PhantomOptions;
using ovoflow::phantom::PhantomTruth;

struct Row {
  std::string name;
  PhantomOptions options;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void Evaluate(const Row& row, int eggs, uint64_t seed, int threads) {
  PhantomOptions o = row.options;
  o.acquisition = Acquisition::kFullEgg;
  o.locate_abdomen = edge::AbdomenLocator();
  const PhantomGenerator gen(o);
  std::vector<PhantomTruth> truths(static_cast<std::size_t>(eggs));
  std::atomic<int> next{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::vector<uint8_t> voxels(std::size_t{o.dim_x} * o.dim_y * o.dim_z);
      for (int i; (i = next++) < eggs;)
        gen.GenerateVoxels(seed, static_cast<uint64_t>(i), voxels.data(), &truths[static_cast<std::size_t>(i)]);
    });
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int misses = 0, not_found = 0;
  std::vector<double> err, ex, ey, ez;
  double mean[3] = {0, 0, 0};
  for (const PhantomTruth& t : truths) {
    misses += !t.gonads_in_window;
    not_found += !t.located;
    const float* e = t.roi_error_mm;
    err.push_back(std::sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]));
    ex.push_back(std::fabs(e[0]));
    ey.push_back(std::fabs(e[1]));
    ez.push_back(std::fabs(e[2]));
    for (int a = 0; a < 3; ++a) mean[a] += e[a] / static_cast<float>(eggs);
  }
  std::printf(
      "| %s | %d | %.2f %% | %.2f %% | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | %.2f | %.1f |\n",
      row.name.c_str(), eggs, 100.0 * misses / eggs, 100.0 * not_found / eggs, mean[0], mean[1], mean[2],
      Percentile(ex, 0.95), Percentile(ey, 0.95), Percentile(ez, 0.95), Percentile(err, 0.5), Percentile(err, 0.95),
      Percentile(err, 0.99), *std::max_element(err.begin(), err.end()), 1e3 * secs * threads / eggs);
  (void)std::fflush(stdout);
}

double MsPerScan(PhantomOptions o, Acquisition acquisition, int scans, uint64_t seed) {
  o.acquisition = acquisition;
  const PhantomGenerator gen(o);
  std::vector<uint8_t> voxels(std::size_t{o.dim_x} * o.dim_y * o.dim_z);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < scans; ++i) gen.GenerateVoxels(seed, static_cast<uint64_t>(i), voxels.data());
  return 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / scans;
}

// Writes three slices of the whole egg through the true abdomen, and the
// kFullEgg ROI's middle slice, as binary PGM files.
int Dump(const std::string& dir, uint64_t seed, uint64_t index) {
  PhantomOptions o;
  const PhantomGenerator gen(o);
  const auto egg = gen.RenderEgg(seed, index);
  const auto& v = egg.volume;
  const int nx = static_cast<int>(v.dim_x()), ny = static_cast<int>(v.dim_y()), nz = static_cast<int>(v.dim_z());
  const auto* p = reinterpret_cast<const unsigned char*>(v.data().data());
  auto at = [&](int x, int y, int z) { return p[(static_cast<std::size_t>(z) * ny + y) * nx + x]; };
  auto write = [&](const std::string& name, int w, int h, auto pixel) {
    const std::string path = dir + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    bool written = std::fprintf(f, "P5\n%d %d\n255\n", w, h) > 0;
    for (int r = 0; r < h && written; ++r)
      for (int c = 0; c < w && written; ++c) written = std::fputc(pixel(c, r), f) != EOF;
    if (std::fclose(f) != 0 || !written) return false;
    std::printf("wrote %s (%d x %d)\n", path.c_str(), w, h);
    return true;
  };
  const int cx = static_cast<int>(std::lround(egg.abdomen_voxel[0])),
            cy = static_cast<int>(std::lround(egg.abdomen_voxel[1]));
  const int cz = static_cast<int>(std::lround(egg.abdomen_voxel[2]));
  bool ok = write("egg_xz.pgm", nx, nz, [&](int c, int r) { return at(c, cy, nz - 1 - r); });
  ok = ok && write("egg_yz.pgm", ny, nz, [&](int c, int r) { return at(cx, c, nz - 1 - r); });
  ok = ok && write("egg_xy.pgm", nx, ny, [&](int c, int r) { return at(c, ny - 1 - r, cz); });
  o.acquisition = Acquisition::kFullEgg;
  o.locate_abdomen = edge::AbdomenLocator();
  const auto roi = PhantomGenerator(o).Generate(seed, index);
  const auto* q = reinterpret_cast<const unsigned char*>(roi.volume.data().data());
  const int rx = static_cast<int>(roi.volume.dim_x()), ry = static_cast<int>(roi.volume.dim_y());
  const int rz = static_cast<int>(std::lround(0.5f * (roi.truth.left_gonad_voxel[2] + roi.truth.right_gonad_voxel[2])));
  ok = ok && write("roi_xy.pgm", rx, ry, [&](int c, int r) {
         return q[(static_cast<std::size_t>(std::clamp(rz, 0, static_cast<int>(roi.volume.dim_z()) - 1)) * ry +
                   (ry - 1 - r)) *
                      rx +
                  c];
       });
  std::printf("sex %s, abdomen voxel %.1f %.1f %.1f, ROI error %.2f %.2f %.2f mm, in window %d, motion %d\n",
              egg.sex == ovoflow::phantom::TrueSex::kFemale ? "F" : "M", egg.abdomen_voxel[0], egg.abdomen_voxel[1],
              egg.abdomen_voxel[2], roi.truth.roi_error_mm[0], roi.truth.roi_error_mm[1], roi.truth.roi_error_mm[2],
              roi.truth.gonads_in_window, egg.motion);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int eggs = 2000, threads = 1;
  uint64_t seed = 2026, index = 0;
  bool quick = false;
  std::string dump;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    // The next argument as a whole integer; false (with a message) when it is not one.
    auto next_int = [&](int* out) {
      const std::string v = next();
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
      if (!v.empty() && ec == std::errc() && end == v.data() + v.size()) return true;
      (void)std::fprintf(stderr, "%s: %s needs an integer, not '%s'\n", argv[0], a.c_str(), v.c_str());
      return false;
    };
    if (a == "--eggs") {
      if (!next_int(&eggs)) return 2;
    } else if (a == "--seed") {
      seed = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--threads") {
      if (!next_int(&threads)) return 2;
      threads = std::max(1, threads);
    } else if (a == "--index") {
      index = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--dump") {
      dump = next();
    } else if (a == "--quick") {
      quick = true;
    } else {
      (void)std::fprintf(
          stderr, "usage: %s [--eggs N] [--seed S] [--threads T] [--quick] | --dump DIR [--seed S] [--index I]\n",
          argv[0]);
      return 2;
    }
  }
  if (!dump.empty()) return Dump(dump, seed, index);
  if (eggs < 1) return 2;

  PhantomOptions defaults;
  defaults.locate_abdomen = edge::AbdomenLocator();
  std::printf("render, one core: kRegion %.3f ms/scan, kFullEgg %.2f ms/scan (render egg + locate + crop)\n\n",
              MsPerScan(defaults, Acquisition::kRegion, 2000, seed),
              MsPerScan(defaults, Acquisition::kFullEgg, 50, seed));
  std::printf(
      "| setting | eggs | miss | not found | mean error x/y/z mm | p95 abs error x/y/z mm "
      "| 3D error p50/p95/p99 mm | max mm | ms/egg |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::vector<Row> rows = {{"default (SNR 20, day 12)", defaults}};
  if (!quick) {
    for (float snr : {5.0f, 10.0f, 40.0f}) {
      Row r{"SNR " + std::to_string(static_cast<int>(snr)), defaults};
      r.options.snr = snr;
      rows.push_back(r);
    }
    for (uint32_t day = 9; day <= 14; ++day) {
      if (day == 12) continue;
      Row r{"day " + std::to_string(day), defaults};
      r.options.incubation_day = day;
      rows.push_back(r);
    }
    Row m{"every embryo moving", defaults};
    m.options.motion_probability = 1;
    rows.push_back(m);
    Row v{"variation 2", defaults};
    v.options.variation = 2;
    rows.push_back(v);
  }
  for (const Row& r : rows) Evaluate(r, eggs, seed, threads);
  return 0;
}
