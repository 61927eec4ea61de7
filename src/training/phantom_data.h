// Phantom scans in bulk for training, calibration and evaluation: raw
// voxels and labels in memory, generated on several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "phantom/phantom.h"

namespace ovoflow::training {

inline std::size_t VoxelsPerScan(const phantom::PhantomOptions& o) { return std::size_t{o.dim_x} * o.dim_y * o.dim_z; }

// Phantom scans [first, first + count) of stream `seed` into voxels/female
// (count * VoxelsPerScan bytes, count labels: 1 = female), on `threads`
// threads. Deterministic whatever the thread count.
void GenerateScans(const phantom::PhantomGenerator& gen, uint64_t seed, uint64_t first, int64_t count, int threads,
                   uint8_t* voxels, uint8_t* female);

// Phantom scans [first, first + count) of one stream, in memory.
struct ScanSet {
  std::vector<uint8_t> voxels;  // count * VoxelsPerScan
  std::vector<uint8_t> female;  // 1 = female
};

ScanSet GenerateScanSet(const phantom::PhantomGenerator& gen, uint64_t seed, uint64_t first, int64_t count,
                        int threads);

}  // namespace ovoflow::training
