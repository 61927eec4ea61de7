#include "common/volume.h"

#include <zstd.h>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace ovoflow {

std::size_t DTypeSize(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_UINT8:
      return 1;
    case v1::DTYPE_UINT16:
      return 2;
    case v1::DTYPE_FLOAT32:
      return 4;
    default:
      return 0;
  }
}

namespace {

Result<uint64_t> ExpectedPlainBytes(const v1::Volume& v, const ScanLimits& limits) {
  if (v.dim_x() == 0 || v.dim_y() == 0 || v.dim_z() == 0)
    return Status::InvalidArgument("volume dims must be positive, got " + std::to_string(v.dim_x()) + "x" +
                                   std::to_string(v.dim_y()) + "x" + std::to_string(v.dim_z()));
  if (v.dim_x() > limits.max_dim || v.dim_y() > limits.max_dim || v.dim_z() > limits.max_dim)
    return Status::InvalidArgument("volume dim exceeds " + std::to_string(limits.max_dim));
  if (v.channels_size() == 0) return Status::InvalidArgument("volume has no channels");
  if (static_cast<uint32_t>(v.channels_size()) > limits.max_channels)
    return Status::InvalidArgument("volume has more than " + std::to_string(limits.max_channels) + " channels");
  for (int c : v.channels()) {
    if (c == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(c))
      return Status::InvalidArgument("volume channel is unspecified or unknown");
  }
  std::size_t elem = DTypeSize(v.dtype());
  if (elem == 0) return Status::InvalidArgument("volume dtype is unspecified or unknown");
  uint64_t n = uint64_t{v.dim_x()} * v.dim_y() * v.dim_z() * static_cast<uint64_t>(v.channels_size()) * elem;
  if (n > limits.max_plain_bytes)
    return Status::InvalidArgument("volume of " + std::to_string(n) + " bytes exceeds the limit of " +
                                   std::to_string(limits.max_plain_bytes));
  if (!(v.spacing_x_mm() > 0 && v.spacing_y_mm() > 0 && v.spacing_z_mm() > 0))
    return Status::InvalidArgument("voxel spacing must be positive (mm)");
  return n;
}

}  // namespace

Result<std::string> PlainVoxels(const v1::Volume& v, const ScanLimits& limits) {
  OVOFLOW_ASSIGN_OR_RETURN(uint64_t expected, ExpectedPlainBytes(v, limits));
  switch (v.encoding()) {
    case v1::ENCODING_RAW:
      if (v.data().size() != expected)
        return Status::InvalidArgument("volume data has " + std::to_string(v.data().size()) +
                                       " bytes, geometry needs " + std::to_string(expected));
      return v.data();
    case v1::ENCODING_ZSTD: {
      unsigned long long content = ZSTD_getFrameContentSize(v.data().data(), v.data().size());
      if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
        return Status::InvalidArgument("volume data is not a zstd frame with a known size");
      if (content != expected)
        return Status::InvalidArgument("zstd frame holds " + std::to_string(content) + " bytes, geometry needs " +
                                       std::to_string(expected));
      std::string out(expected, '\0');
      std::size_t n = ZSTD_decompress(out.data(), out.size(), v.data().data(), v.data().size());
      if (ZSTD_isError(n) || n != expected)
        return Status::InvalidArgument(std::string("zstd decode failed: ") +
                                       (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
      return out;
    }
    default:
      return Status::InvalidArgument("volume encoding is unspecified or unknown");
  }
}

namespace {

// InvalidArgument naming the first NaN or infinite voxel of plain float32 data.
Status CheckFiniteFloats(const std::string& plain) {
  const std::size_t n = plain.size() / 4;
  for (std::size_t i = 0; i < n; ++i) {
    float x;
    std::memcpy(&x, plain.data() + 4 * i, 4);
    if (!std::isfinite(x))
      return Status::InvalidArgument("volume voxel " + std::to_string(i) + " is " +
                                     (std::isnan(x) ? "NaN" : "infinite") + "; float volumes must be finite");
  }
  return Status::Ok();
}

}  // namespace

Status CheckVolume(const v1::Volume& v, const ScanLimits& limits) {
  OVOFLOW_ASSIGN_OR_RETURN(uint64_t expected, ExpectedPlainBytes(v, limits));
  if (v.encoding() == v1::ENCODING_RAW) {
    if (v.data().size() != expected)
      return Status::InvalidArgument("volume data has " + std::to_string(v.data().size()) + " bytes, geometry needs " +
                                     std::to_string(expected));
    return v.dtype() == v1::DTYPE_FLOAT32 ? CheckFiniteFloats(v.data()) : Status::Ok();
  }
  OVOFLOW_ASSIGN_OR_RETURN(std::string plain, PlainVoxels(v, limits));
  return v.dtype() == v1::DTYPE_FLOAT32 ? CheckFiniteFloats(plain) : Status::Ok();
}

Result<std::vector<float>> VolumeToFloat(const v1::Volume& v, const ScanLimits& limits) {
  std::string decoded;
  const std::string* plain = &v.data();
  if (v.encoding() != v1::ENCODING_RAW) {
    OVOFLOW_ASSIGN_OR_RETURN(std::string r, PlainVoxels(v, limits));
    decoded = std::move(r);
    plain = &decoded;
  } else {
    OVOFLOW_ASSIGN_OR_RETURN(uint64_t expected, ExpectedPlainBytes(v, limits));
    if (v.data().size() != expected) return Status::InvalidArgument("volume data size does not match geometry");
  }
  std::size_t elem = DTypeSize(v.dtype());
  std::size_t n = plain->size() / elem;
  std::vector<float> out(n);
  const auto* p = reinterpret_cast<const unsigned char*>(plain->data());
  switch (v.dtype()) {
    case v1::DTYPE_UINT8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
      break;
    case v1::DTYPE_UINT16:
      for (std::size_t i = 0; i < n; ++i) {
        uint16_t x;
        std::memcpy(&x, p + 2 * i, 2);
        out[i] = static_cast<float>(x);
      }
      break;
    case v1::DTYPE_FLOAT32:
      std::memcpy(out.data(), p, n * 4);
      break;
    default:
      return Status::InvalidArgument("volume dtype is unspecified or unknown");
  }
  return out;
}

Status CompressVolume(v1::Volume* v, int level) {
  if (v->encoding() != v1::ENCODING_RAW) return Status::FailedPrecondition("volume is not raw");
  std::string out(ZSTD_compressBound(v->data().size()), '\0');
  std::size_t n = ZSTD_compress(out.data(), out.size(), v->data().data(), v->data().size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  v->set_data(std::move(out));
  v->set_encoding(v1::ENCODING_ZSTD);
  return Status::Ok();
}

Result<const std::string*> PlainVoxelsRef(const v1::Volume& volume, std::string* storage, const ScanLimits& limits) {
  if (volume.encoding() == v1::ENCODING_RAW) return &volume.data();
  OVOFLOW_ASSIGN_OR_RETURN(auto p, PlainVoxels(volume, limits));
  *storage = std::move(p);
  return static_cast<const std::string*>(storage);
}

std::array<int, 3> RoiOrigin(const std::array<float, 3>& center_voxel, const std::array<uint32_t, 3>& volume_dims,
                             const std::array<uint32_t, 3>& dims) {
  std::array<int, 3> origin{};
  for (std::size_t a = 0; a < 3; ++a) {
    const int o = static_cast<int>(std::lround(center_voxel[a] - 0.5f * static_cast<float>(dims[a] - 1)));
    const int max_o = static_cast<int>(volume_dims[a]) - static_cast<int>(dims[a]);
    origin[a] = max_o < 0 ? o : std::clamp(o, 0, max_o);
  }
  return origin;
}

Result<v1::Volume> CropVolume(const v1::Volume& egg, const std::array<int, 3>& origin,
                              const std::array<uint32_t, 3>& dims) {
  const uint32_t in[3] = {egg.dim_x(), egg.dim_y(), egg.dim_z()};
  for (std::size_t a = 0; a < 3; ++a)
    if (origin[a] < 0 || static_cast<uint64_t>(origin[a]) + dims[a] > in[a] || dims[a] == 0)
      return Status::InvalidArgument("crop: box leaves the volume");
  const std::size_t elem = DTypeSize(egg.dtype());
  if (elem == 0) return Status::InvalidArgument("crop: unknown dtype");
  std::string plain;
  OVOFLOW_ASSIGN_OR_RETURN(auto raw, PlainVoxelsRef(egg, &plain, ScanLimits{64u << 20, 4096, 8}));
  const std::string* data = raw;
  const std::size_t channels = static_cast<std::size_t>(egg.channels_size());
  const std::size_t in_voxels = std::size_t{in[0]} * in[1] * in[2];
  if (data->size() != in_voxels * channels * elem) return Status::InvalidArgument("crop: data size mismatch");
  v1::Volume out;
  out.set_spacing_x_mm(egg.spacing_x_mm());
  out.set_spacing_y_mm(egg.spacing_y_mm());
  out.set_spacing_z_mm(egg.spacing_z_mm());
  *out.mutable_channels() = egg.channels();
  out.set_dtype(egg.dtype());
  out.set_dim_x(dims[0]);
  out.set_dim_y(dims[1]);
  out.set_dim_z(dims[2]);
  out.set_encoding(v1::ENCODING_RAW);
  std::string bytes(std::size_t{dims[0]} * dims[1] * dims[2] * channels * elem, '\0');
  const std::size_t row = std::size_t{dims[0]} * elem;
  char* dst = bytes.data();
  for (std::size_t c = 0; c < channels; ++c)
    for (uint32_t z = 0; z < dims[2]; ++z)
      for (uint32_t y = 0; y < dims[1]; ++y, dst += row) {
        const std::size_t src =
            c * in_voxels +
            (std::size_t{z + static_cast<uint32_t>(origin[2])} * in[1] + y + static_cast<uint32_t>(origin[1])) * in[0] +
            static_cast<uint32_t>(origin[0]);
        std::memcpy(dst, data->data() + src * elem, row);
      }
  out.set_data(std::move(bytes));
  return out;
}

}  // namespace ovoflow
