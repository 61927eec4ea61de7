// Assembles the images of a DICOM series into one volume (docs/edge.md,
// "Series"). Images are grouped by SeriesInstanceUID; a series is complete
// when it holds the number of images it states (ImagesInAcquisition; an
// Enhanced MR instance holds its series alone) or when no image came for a
// quiet period. Its slices are sorted by ImagePositionPatient along the slice
// normal (the cross product of the orientation's row and column directions);
// the slice spacing comes from their positions, the in-plane spacing from
// PixelSpacing, and RescaleSlope/RescaleIntercept are applied. A series whose
// images disagree (orientation, size, pixel spacing, pixel format), repeat a
// position or leave gaps is an error that says so.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "edge/dicom/dicom_instance.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::edge {

struct SeriesOptions {
  int64_t quiet_ms = 5000;                 // a series without a new image this long is assembled as it is, ms
  std::size_t max_open_series = 256;       // series being received at once; more: the oldest is closed
  uint64_t max_series_bytes = 512u << 20;  // pixel bytes of one series, summed over its images
  double gap_tolerance = 0.2;              // a slice step off the median by more than this fraction is a gap
};

struct AssembledSeries {
  std::string series_instance_uid;
  std::vector<std::string> sop_instance_uids;  // every image it was made of
  MappedValues mapped;                         // the first image's tag-map values
  // T2W, z y x with x along the rows' direction, y along the columns', z the
  // slice normal; DTYPE_UINT8 when every rescaled value fits 0..255, else
  // DTYPE_UINT16 when it fits 0..65535, else DTYPE_FLOAT32. ENCODING_RAW.
  v1::Volume volume;
};

// The outcome of one series: the volume, or why it could not be made.
struct SeriesOutcome {
  std::string series_instance_uid;
  std::vector<std::string> sop_instance_uids;
  MappedValues mapped;
  Result<AssembledSeries> result;
};

// Thread-safe.
class SeriesAssembler {
 public:
  explicit SeriesAssembler(const SeriesOptions& options = {}) : options_(options) {}

  // Adds one image at `now_ms` (a monotonic time). InvalidArgument when it
  // contradicts the images of its series already held (different size,
  // orientation, spacing or pixel format): the image is not kept and the
  // series goes on. A duplicate SOPInstanceUID is ignored (Ok). Returns the
  // series this image completed, if any.
  Result<std::optional<SeriesOutcome>> Add(DicomInstance instance, int64_t now_ms);

  // Series quiet since `now_ms - quiet_ms`, and the oldest beyond
  // max_open_series: assembled (or failed) and forgotten.
  std::vector<SeriesOutcome> Expire(int64_t now_ms);

  // Every open series, assembled or failed, and forgotten (shutdown).
  std::vector<SeriesOutcome> Flush();

  std::size_t open_series() const;

 private:
  struct Open {
    std::vector<DicomInstance> images;
    int64_t last_ms = 0;
    uint64_t bytes = 0;
  };
  SeriesOutcome Finish(const std::string& uid, Open open) const;

  const SeriesOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Open> open_;  // GUARDED_BY(mu_)
};

// Builds the volume of one series from its images (any order).
Result<AssembledSeries> AssembleSeries(const std::vector<DicomInstance>& images, double gap_tolerance = 0.2);

}  // namespace ovoflow::edge
