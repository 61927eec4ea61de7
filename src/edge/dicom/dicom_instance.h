// One received DICOM image (an MR Image Storage slice or an Enhanced MR
// Image Storage multi-frame), reduced to what the series assembler needs.
// Reading checks everything one image alone can get wrong; the answer to the
// scanner (a DICOM status) comes with the reason.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "edge/dicom/tag_map.h"

namespace ovoflow::edge {

inline constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";
inline constexpr const char* kEnhancedMrImageStorage = "1.2.840.10008.5.1.4.1.1.4.1";

// DIMSE C-STORE status codes the agent answers with (PS3.4 B.2.3).
inline constexpr uint16_t kDicomSuccess = 0x0000;
inline constexpr uint16_t kDicomOutOfResources = 0xA700;    // spool full: try again later
inline constexpr uint16_t kDicomDoesNotMatchSop = 0xA900;   // e.g. not MR, not monochrome
inline constexpr uint16_t kDicomCannotUnderstand = 0xC000;  // geometry or pixel data unusable
inline constexpr uint16_t kDicomNotAuthorized = 0x0124;     // refused (e.g. calling AE not allowed)

struct DicomInstance {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  uint32_t rows = 0;     // pixels along the column direction (y)
  uint32_t columns = 0;  // pixels along the row direction (x)
  uint32_t frames = 1;
  uint16_t bits_allocated = 16;  // 8 or 16
  bool is_signed = false;        // PixelRepresentation 1
  double rescale_slope = 1;
  double rescale_intercept = 0;
  std::array<double, 2> pixel_spacing_mm{};      // PixelSpacing: between rows (y), between columns (x)
  std::array<double, 6> orientation{};           // ImageOrientationPatient: row direction, column direction
  std::vector<std::array<double, 3>> positions;  // ImagePositionPatient of each frame, mm
  std::optional<uint32_t> images_in_series;      // ImagesInAcquisition (0020,1002), when stated
  MappedValues mapped;                           // the tag map's attributes
  std::string pixels;                            // frames x rows x columns samples of bits_allocated, host byte order
};

// A reading failure with the status the scanner gets.
struct DicomRejection {
  uint16_t status;
  std::string reason;
  std::string sop_instance_uid = {};  // from the C-STORE request when the image has none readable
};

struct ReadLimits {
  uint32_t max_rows = 1024;
  uint32_t max_columns = 1024;
  uint32_t max_frames = 2048;
  uint64_t max_pixel_bytes = 256u << 20;  // rows x columns x frames x bytes per sample
};

// Reads a DICOM Part 10 file (or a bare dataset in Explicit VR Little
// Endian) from memory. `tag_map` says which attributes to keep in `mapped`.
// Never throws; a rejection says why.
struct ReadResult {
  std::optional<DicomInstance> instance;
  std::optional<DicomRejection> rejection;
};
ReadResult ReadDicom(std::string_view bytes, const TagMap& tag_map, const ReadLimits& limits = {});
ReadResult ReadDicomFile(const std::string& path, const TagMap& tag_map, const ReadLimits& limits = {});

}  // namespace ovoflow::edge
