// Decoding and checking of scan volumes as they arrive from the wire. The
// whole-scan rules are in common/validation.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow {

struct ScanLimits {
  uint64_t max_plain_bytes = 8u << 20;  // largest decoded volume accepted, bytes
  uint32_t max_dim = 512;               // largest extent along any axis, voxels
  uint32_t max_channels = 8;
  // captured_at may lie at most this far ahead of the validating clock, s; a
  // scan from further ahead is refused (a scanner clock gone wrong, or a scan
  // posted to win an egg's latest-scan slot). Negative: not checked.
  int64_t max_future_skew_s = 300;
};

std::size_t DTypeSize(v1::DType dtype);  // 0 for UNSPECIFIED/unknown

// Checks geometry, channels, dtype, encoding, that the (decoded) data size
// matches the geometry and, for float volumes, that every voxel is finite
// (NaN or infinity would reach the model and the store as p_female).
// InvalidArgument says what is wrong.
Status CheckVolume(const v1::Volume& volume, const ScanLimits& limits = {});

// Decoded voxel bytes (zstd frames are decompressed). Assumes nothing:
// returns InvalidArgument for a bad frame or a size that does not match.
Result<std::string> PlainVoxels(const v1::Volume& volume, const ScanLimits& limits = {});

// The plain voxel bytes of `volume`: its data when raw, else decoded into
// `storage` (which must outlive the result).
Result<const std::string*> PlainVoxelsRef(const v1::Volume& volume, std::string* storage,
                                          const ScanLimits& limits = {});

// Voxel values as float, layout channel-major then z, y, x.
Result<std::vector<float>> VolumeToFloat(const v1::Volume& volume, const ScanLimits& limits = {});

// Replaces volume->data (plain) by a zstd frame and sets ENCODING_ZSTD.
Status CompressVolume(v1::Volume* volume, int level = 1);

// First voxel of the dims-sized box centred on `center_voxel`, clamped so the
// box lies inside a volume of `volume_dims` (when it fits).
std::array<int, 3> RoiOrigin(const std::array<float, 3>& center_voxel, const std::array<uint32_t, 3>& volume_dims,
                             const std::array<uint32_t, 3>& dims);

// The box [origin, origin + dims) of every channel of `egg` (raw or zstd),
// raw, same dtype and spacing. InvalidArgument if the box leaves the volume.
Result<v1::Volume> CropVolume(const v1::Volume& egg, const std::array<int, 3>& origin,
                              const std::array<uint32_t, 3>& dims);

}  // namespace ovoflow
