#include "training/phantom_data.h"

#include <algorithm>
#include <thread>

namespace ovoflow::training {

void GenerateScans(const phantom::PhantomGenerator& gen, uint64_t seed, uint64_t first, int64_t count, int threads,
                   uint8_t* voxels, uint8_t* female) {
  const std::size_t per_scan = VoxelsPerScan(gen.options());
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto k = static_cast<std::size_t>(i);
      female[k] =
          gen.GenerateVoxels(seed, first + static_cast<uint64_t>(i), voxels + k * per_scan) == phantom::TrueSex::kFemale
              ? 1
              : 0;
    }
  };
  threads = std::max(1, threads);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, count * t / threads, count * (t + 1) / threads);
  work(0, count / threads);
  for (auto& th : pool) th.join();
}

ScanSet GenerateScanSet(const phantom::PhantomGenerator& gen, uint64_t seed, uint64_t first, int64_t count,
                        int threads) {
  ScanSet s;
  s.voxels.resize(static_cast<std::size_t>(count) * VoxelsPerScan(gen.options()));
  s.female.resize(static_cast<std::size_t>(count));
  GenerateScans(gen, seed, first, count, threads, s.voxels.data(), s.female.data());
  return s;
}

}  // namespace ovoflow::training
