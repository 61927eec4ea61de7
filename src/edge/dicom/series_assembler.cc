#include "edge/dicom/series_assembler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace ovoflow::edge {
namespace {

using Vec3 = std::array<double, 3>;

double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec3 Sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }

std::string Mm(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// The first way `b` differs from `a` in what all images of a series share.
std::optional<std::string> Mismatch(const DicomInstance& a, const DicomInstance& b) {
  if (a.rows != b.rows || a.columns != b.columns)
    return "is " + std::to_string(b.columns) + " x " + std::to_string(b.rows) + " pixels, the series " +
           std::to_string(a.columns) + " x " + std::to_string(a.rows);
  if (a.bits_allocated != b.bits_allocated || a.is_signed != b.is_signed)
    return std::string("has another pixel format (BitsAllocated, PixelRepresentation) than the series");
  for (std::size_t i = 0; i < 6; ++i)
    if (std::fabs(a.orientation[i] - b.orientation[i]) > 1e-4)
      return std::string("has another ImageOrientationPatient than the series (mixed orientations)");
  for (std::size_t i = 0; i < 2; ++i)
    if (std::fabs(a.pixel_spacing_mm[i] - b.pixel_spacing_mm[i]) > 1e-4 * a.pixel_spacing_mm[i])
      return std::string("has another PixelSpacing than the series");
  return std::nullopt;
}

struct Slice {
  const DicomInstance* image;
  uint32_t frame;
  double along;  // position along the slice normal, mm
};

}  // namespace

Result<AssembledSeries> AssembleSeries(const std::vector<DicomInstance>& images, double gap_tolerance) {
  if (images.empty()) return Status::InvalidArgument("series has no images");
  const DicomInstance& ref = images.front();
  for (const DicomInstance& im : images)
    if (auto why = Mismatch(ref, im)) return Status::InvalidArgument("image " + im.sop_instance_uid + " " + *why);
  const Vec3 row{ref.orientation[0], ref.orientation[1], ref.orientation[2]};
  const Vec3 col{ref.orientation[3], ref.orientation[4], ref.orientation[5]};
  const Vec3 normal = Cross(row, col);
  std::vector<Slice> slices;
  for (const DicomInstance& im : images)
    for (uint32_t f = 0; f < im.frames; ++f) slices.push_back({&im, f, Dot(im.positions[f], normal)});
  if (slices.size() < 2)
    return Status::InvalidArgument("series has " + std::to_string(slices.size()) + " slice: no volume");
  std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) { return a.along < b.along; });

  // Every slice on the same in-plane grid (no shift along row or column).
  const Vec3& p0 = slices.front().image->positions[slices.front().frame];
  for (const Slice& s : slices) {
    const Vec3 d = Sub(s.image->positions[s.frame], p0);
    if (std::fabs(Dot(d, row)) > 0.5 * ref.pixel_spacing_mm[1] ||
        std::fabs(Dot(d, col)) > 0.5 * ref.pixel_spacing_mm[0])
      return Status::InvalidArgument("slice at " + Mm(s.along) + " mm is shifted in-plane against the first slice");
  }
  std::vector<double> steps;
  for (std::size_t i = 1; i < slices.size(); ++i) steps.push_back(slices[i].along - slices[i - 1].along);
  const double min_inplane = std::min(ref.pixel_spacing_mm[0], ref.pixel_spacing_mm[1]);
  for (std::size_t i = 0; i < steps.size(); ++i)
    if (steps[i] < 1e-3 * min_inplane)
      return Status::InvalidArgument("two slices at the same position " + Mm(slices[i].along) +
                                     " mm along the slice normal");
  std::vector<double> sorted = steps;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  const double spacing = sorted[sorted.size() / 2];
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] > (1 + gap_tolerance) * spacing) {
      const long missing = std::lround(steps[i] / spacing) - 1;
      return Status::InvalidArgument("missing slices: a gap of " + Mm(steps[i]) + " mm after the slice at " +
                                     Mm(slices[i].along) + " mm (the series steps " + Mm(spacing) + " mm; about " +
                                     std::to_string(std::max(1L, missing)) + " slice(s) missing)");
    }
    if (steps[i] < (1 - gap_tolerance) * spacing)
      return Status::InvalidArgument("irregular slice spacing: " + Mm(steps[i]) + " mm after the slice at " +
                                     Mm(slices[i].along) + " mm (the series steps " + Mm(spacing) + " mm)");
  }

  // Rescaled values, then the narrowest type that holds them exactly.
  const std::size_t plane = std::size_t{ref.rows} * ref.columns;
  const std::size_t bytes_per = ref.bits_allocated / 8;
  std::vector<float> values(plane * slices.size());
  bool integral = true;
  float lo = 0, hi = 0;
  for (std::size_t z = 0; z < slices.size(); ++z) {
    const DicomInstance& im = *slices[z].image;
    const char* src = im.pixels.data() + std::size_t{slices[z].frame} * plane * bytes_per;
    float* dst = values.data() + z * plane;
    const auto slope = static_cast<float>(im.rescale_slope), intercept = static_cast<float>(im.rescale_intercept);
    for (std::size_t i = 0; i < plane; ++i) {
      float stored = 0;
      if (bytes_per == 2) {
        uint16_t u = 0;
        std::memcpy(&u, src + 2 * i, 2);
        stored = im.is_signed ? static_cast<float>(static_cast<int16_t>(u)) : static_cast<float>(u);
      } else {
        const auto u = static_cast<uint8_t>(src[i]);
        stored = im.is_signed ? static_cast<float>(static_cast<int8_t>(u)) : static_cast<float>(u);
      }
      dst[i] = stored * slope + intercept;
    }
    if (slope != 1.0f || intercept != std::floor(intercept))
      integral = integral && std::all_of(dst, dst + plane, [](float x) { return x == std::floor(x); });
  }
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  lo = *mn;
  hi = *mx;
  AssembledSeries out;
  out.series_instance_uid = ref.series_instance_uid;
  for (const DicomInstance& im : images) out.sop_instance_uids.push_back(im.sop_instance_uid);
  out.mapped = ref.mapped;
  v1::Volume& v = out.volume;
  v.set_dim_x(ref.columns);
  v.set_dim_y(ref.rows);
  v.set_dim_z(static_cast<uint32_t>(slices.size()));
  v.set_spacing_x_mm(static_cast<float>(ref.pixel_spacing_mm[1]));
  v.set_spacing_y_mm(static_cast<float>(ref.pixel_spacing_mm[0]));
  v.set_spacing_z_mm(static_cast<float>(spacing));
  v.add_channels(v1::CHANNEL_T2W);
  v.set_encoding(v1::ENCODING_RAW);
  std::string data;
  if (integral && lo >= 0 && hi <= 255) {
    v.set_dtype(v1::DTYPE_UINT8);
    data.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) data[i] = static_cast<char>(static_cast<uint8_t>(values[i]));
  } else if (integral && lo >= 0 && hi <= 65535) {
    v.set_dtype(v1::DTYPE_UINT16);
    data.resize(values.size() * 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto u = static_cast<uint16_t>(values[i]);
      std::memcpy(data.data() + 2 * i, &u, 2);
    }
  } else {
    v.set_dtype(v1::DTYPE_FLOAT32);
    data.resize(values.size() * 4);
    std::memcpy(data.data(), values.data(), data.size());
  }
  v.set_data(std::move(data));
  return out;
}

Result<std::optional<SeriesOutcome>> SeriesAssembler::Add(DicomInstance instance, int64_t now_ms) {
  std::lock_guard lock(mu_);
  const std::string uid = instance.series_instance_uid;
  Open& open = open_[uid];
  for (const DicomInstance& held : open.images)
    if (held.sop_instance_uid == instance.sop_instance_uid) return std::optional<SeriesOutcome>();
  if (!open.images.empty()) {
    if (auto why = Mismatch(open.images.front(), instance))
      return Status::InvalidArgument("image " + instance.sop_instance_uid + " " + *why);
  }
  const uint64_t bytes = instance.pixels.size();
  if (open.bytes + bytes > options_.max_series_bytes) {
    if (open.images.empty()) open_.erase(uid);
    return Status::InvalidArgument("series " + uid + " exceeds " + std::to_string(options_.max_series_bytes) +
                                   " bytes of pixels");
  }
  open.bytes += bytes;
  open.last_ms = now_ms;
  const std::optional<uint32_t> stated = instance.images_in_series;
  open.images.push_back(std::move(instance));
  if (stated && open.images.size() >= *stated) {
    Open done = std::move(open);
    open_.erase(uid);
    return std::optional<SeriesOutcome>(Finish(uid, std::move(done)));
  }
  return std::optional<SeriesOutcome>();
}

std::vector<SeriesOutcome> SeriesAssembler::Expire(int64_t now_ms) {
  std::vector<std::pair<std::string, Open>> due;
  {
    std::lock_guard lock(mu_);
    for (auto it = open_.begin(); it != open_.end();) {
      if (now_ms - it->second.last_ms >= options_.quiet_ms) {
        due.emplace_back(it->first, std::move(it->second));
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
    while (open_.size() > options_.max_open_series) {
      auto oldest = std::min_element(open_.begin(), open_.end(),
                                     [](const auto& a, const auto& b) { return a.second.last_ms < b.second.last_ms; });
      due.emplace_back(oldest->first, std::move(oldest->second));
      open_.erase(oldest);
    }
  }
  std::vector<SeriesOutcome> out;
  out.reserve(due.size());
  for (auto& [uid, open] : due) out.push_back(Finish(uid, std::move(open)));
  return out;
}

std::vector<SeriesOutcome> SeriesAssembler::Flush() {
  std::map<std::string, Open> all;
  {
    std::lock_guard lock(mu_);
    all.swap(open_);
  }
  std::vector<SeriesOutcome> out;
  out.reserve(all.size());
  for (auto& [uid, open] : all) out.push_back(Finish(uid, std::move(open)));
  return out;
}

std::size_t SeriesAssembler::open_series() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

SeriesOutcome SeriesAssembler::Finish(const std::string& uid, Open open) const {
  SeriesOutcome out{uid, {}, {}, Status::Internal("unset")};
  for (const DicomInstance& im : open.images) out.sop_instance_uids.push_back(im.sop_instance_uid);
  if (!open.images.empty()) out.mapped = open.images.front().mapped;
  const std::optional<uint32_t> stated = open.images.empty() ? std::nullopt : open.images.front().images_in_series;
  if (stated && open.images.size() < *stated) {
    out.result = Status::InvalidArgument("incomplete series: " + std::to_string(open.images.size()) + " of the " +
                                         std::to_string(*stated) + " images it states arrived within " +
                                         std::to_string(options_.quiet_ms) + " ms");
    return out;
  }
  out.result = AssembleSeries(open.images, options_.gap_tolerance);
  return out;
}

}  // namespace ovoflow::edge
