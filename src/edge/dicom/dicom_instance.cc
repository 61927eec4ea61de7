#include "edge/dicom/dicom_instance.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edge/dicom/dicom_dataset.h"

namespace ovoflow::edge {
namespace dicom_internal {
namespace {

ReadResult Reject(uint16_t status, std::string reason) {
  return ReadResult{std::nullopt, DicomRejection{status, std::move(reason)}};
}

std::string GetString(DcmItem& item, const DcmTagKey& key) {
  OFString v;
  if (item.findAndGetOFStringArray(key, v).bad()) return {};
  std::string s(v.c_str(), v.length());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

// `n` decimal values of a multi-valued attribute (DS), or false.
template <std::size_t N>
bool GetDoubles(DcmItem& item, const DcmTagKey& key, std::array<double, N>* out) {
  for (std::size_t i = 0; i < N; ++i) {
    Float64 v = 0;
    if (item.findAndGetFloat64(key, v, static_cast<unsigned long>(i)).bad() || !std::isfinite(v)) return false;
    (*out)[i] = v;
  }
  return true;
}

// The item of a functional group `group` for frame `frame`: per-frame first,
// else shared; nullptr when neither has it.
DcmItem* FunctionalGroup(DcmItem& dataset, const DcmTagKey& group, long frame) {
  DcmItem* frame_item = nullptr;
  DcmItem* found = nullptr;
  if (dataset.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame_item, frame).good() &&
      frame_item->findAndGetSequenceItem(group, found).good())
    return found;
  DcmItem* shared = nullptr;
  if (dataset.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared).good() &&
      shared->findAndGetSequenceItem(group, found).good())
    return found;
  return nullptr;
}

bool Orthonormal(const std::array<double, 6>& o) {
  const double r = o[0] * o[0] + o[1] * o[1] + o[2] * o[2];
  const double c = o[3] * o[3] + o[4] * o[4] + o[5] * o[5];
  const double dot = o[0] * o[3] + o[1] * o[4] + o[2] * o[5];
  return std::fabs(r - 1) < 1e-3 && std::fabs(c - 1) < 1e-3 && std::fabs(dot) < 1e-3;
}

}  // namespace

ReadResult ReadDataset(DcmDataset& ds, const TagMap& tag_map, const ReadLimits& limits) {
  DicomInstance in;
  in.sop_class_uid = GetString(ds, DCM_SOPClassUID);
  in.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  in.series_instance_uid = GetString(ds, DCM_SeriesInstanceUID);
  if (in.sop_instance_uid.empty()) return Reject(kDicomCannotUnderstand, "SOPInstanceUID is missing");
  if (in.series_instance_uid.empty()) return Reject(kDicomCannotUnderstand, "SeriesInstanceUID is missing");
  const bool enhanced = in.sop_class_uid == kEnhancedMrImageStorage;
  if (!enhanced && in.sop_class_uid != kMrImageStorage)
    return Reject(kDicomDoesNotMatchSop,
                  "SOP class '" + in.sop_class_uid + "' is not MR Image Storage or Enhanced MR Image Storage");
  if (const std::string modality = GetString(ds, DCM_Modality); modality != "MR")
    return Reject(kDicomDoesNotMatchSop, "Modality is '" + modality + "', not MR");

  // Pixel format: one grey channel of 8 or 16 bits, stored as allocated.
  Uint16 samples = 0, allocated = 0, stored = 0, representation = 0, rows = 0, columns = 0;
  if (ds.findAndGetUint16(DCM_SamplesPerPixel, samples).bad() || samples != 1)
    return Reject(kDicomDoesNotMatchSop, "SamplesPerPixel must be 1 (a grey image)");
  if (const std::string pi = GetString(ds, DCM_PhotometricInterpretation); pi != "MONOCHROME2")
    return Reject(kDicomDoesNotMatchSop, "PhotometricInterpretation '" + pi + "' is not MONOCHROME2");
  if (ds.findAndGetUint16(DCM_BitsAllocated, allocated).bad() || (allocated != 8 && allocated != 16))
    return Reject(kDicomCannotUnderstand, "BitsAllocated must be 8 or 16");
  if (ds.findAndGetUint16(DCM_BitsStored, stored).bad() || stored == 0 || stored > allocated)
    return Reject(kDicomCannotUnderstand, "BitsStored must be 1.." + std::to_string(allocated));
  if (ds.findAndGetUint16(DCM_PixelRepresentation, representation).bad() || representation > 1)
    return Reject(kDicomCannotUnderstand, "PixelRepresentation must be 0 (unsigned) or 1 (signed)");
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, columns).bad() || rows == 0 ||
      columns == 0)
    return Reject(kDicomCannotUnderstand, "Rows and Columns must be present and non-zero");
  in.bits_allocated = allocated;
  in.is_signed = representation == 1;
  in.rows = rows;
  in.columns = columns;
  if (enhanced) {
    Sint32 frames = 0;
    if (ds.findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1)
      return Reject(kDicomCannotUnderstand, "NumberOfFrames is missing or below 1");
    in.frames = static_cast<uint32_t>(frames);
  }
  if (in.rows > limits.max_rows || in.columns > limits.max_columns || in.frames > limits.max_frames)
    return Reject(kDicomCannotUnderstand,
                  "an image of " + std::to_string(in.columns) + " x " + std::to_string(in.rows) + " x " +
                      std::to_string(in.frames) + " frames exceeds the limit " + std::to_string(limits.max_columns) +
                      " x " + std::to_string(limits.max_rows) + " x " + std::to_string(limits.max_frames));
  const uint64_t bytes = uint64_t{in.rows} * in.columns * in.frames * (allocated / 8);
  if (bytes > limits.max_pixel_bytes)
    return Reject(kDicomCannotUnderstand, "the image declares " + std::to_string(bytes) + " bytes of pixels (limit " +
                                              std::to_string(limits.max_pixel_bytes) + ")");

  // Geometry: per image (MR) or per frame (Enhanced MR).
  if (!enhanced) {
    if (!GetDoubles(ds, DCM_PixelSpacing, &in.pixel_spacing_mm))
      return Reject(kDicomCannotUnderstand, "PixelSpacing is missing or not two numbers");
    if (!GetDoubles(ds, DCM_ImageOrientationPatient, &in.orientation))
      return Reject(kDicomCannotUnderstand, "ImageOrientationPatient is missing or not six numbers");
    std::array<double, 3> pos{};
    if (!GetDoubles(ds, DCM_ImagePositionPatient, &pos))
      return Reject(kDicomCannotUnderstand, "ImagePositionPatient is missing or not three numbers");
    in.positions.push_back(pos);
    Float64 v = 1;
    if (ds.findAndGetFloat64(DCM_RescaleSlope, v).good()) in.rescale_slope = v;
    if (ds.findAndGetFloat64(DCM_RescaleIntercept, v).good()) in.rescale_intercept = v;
    Sint32 count = 0;
    if (ds.findAndGetSint32(DCM_ImagesInAcquisition, count).good() && count > 0)
      in.images_in_series = static_cast<uint32_t>(count);
  } else {
    for (uint32_t f = 0; f < in.frames; ++f) {
      const auto frame = static_cast<long>(f);
      DcmItem* measures = FunctionalGroup(ds, DCM_PixelMeasuresSequence, frame);
      DcmItem* orientation = FunctionalGroup(ds, DCM_PlaneOrientationSequence, frame);
      DcmItem* position = FunctionalGroup(ds, DCM_PlanePositionSequence, frame);
      std::array<double, 2> spacing{};
      std::array<double, 6> o{};
      std::array<double, 3> p{};
      if (measures == nullptr || !GetDoubles(*measures, DCM_PixelSpacing, &spacing))
        return Reject(kDicomCannotUnderstand, "frame " + std::to_string(f + 1) + ": no PixelSpacing");
      if (orientation == nullptr || !GetDoubles(*orientation, DCM_ImageOrientationPatient, &o))
        return Reject(kDicomCannotUnderstand, "frame " + std::to_string(f + 1) + ": no ImageOrientationPatient");
      if (position == nullptr || !GetDoubles(*position, DCM_ImagePositionPatient, &p))
        return Reject(kDicomCannotUnderstand, "frame " + std::to_string(f + 1) + ": no ImagePositionPatient");
      if (f == 0) {
        in.pixel_spacing_mm = spacing;
        in.orientation = o;
      } else if (spacing != in.pixel_spacing_mm || o != in.orientation) {
        return Reject(kDicomCannotUnderstand, "frame " + std::to_string(f + 1) +
                                                  ": PixelSpacing or ImageOrientationPatient differs from frame 1");
      }
      in.positions.push_back(p);
      if (f == 0) {
        if (DcmItem* t = FunctionalGroup(ds, DCM_PixelValueTransformationSequence, frame)) {
          Float64 v = 1;
          if (t->findAndGetFloat64(DCM_RescaleSlope, v).good()) in.rescale_slope = v;
          if (t->findAndGetFloat64(DCM_RescaleIntercept, v).good()) in.rescale_intercept = v;
        }
      }
    }
    in.images_in_series = 1;  // one multi-frame instance holds the series
  }
  if (!(in.pixel_spacing_mm[0] > 0 && in.pixel_spacing_mm[1] > 0))
    return Reject(kDicomCannotUnderstand, "PixelSpacing must be positive");
  if (!Orthonormal(in.orientation))
    return Reject(kDicomCannotUnderstand, "ImageOrientationPatient is not two orthogonal unit vectors");
  if (!std::isfinite(in.rescale_slope) || !std::isfinite(in.rescale_intercept) || in.rescale_slope == 0)
    return Reject(kDicomCannotUnderstand, "RescaleSlope/RescaleIntercept are not usable numbers");

  // Pixels: uncompressed only (the agent negotiates uncompressed transfer syntaxes).
  if (DcmXfer(ds.getOriginalXfer()).isEncapsulated())
    return Reject(kDicomCannotUnderstand, std::string("compressed pixel data (") +
                                              DcmXfer(ds.getOriginalXfer()).getXferName() +
                                              ") is not supported: send uncompressed");
  unsigned long count = 0;
  if (allocated == 16) {
    const Uint16* px = nullptr;
    if (ds.findAndGetUint16Array(DCM_PixelData, px, &count).bad() || px == nullptr)
      return Reject(kDicomCannotUnderstand, "PixelData is missing or not 16-bit words");
    if (uint64_t{count} * 2 < bytes)
      return Reject(kDicomCannotUnderstand, "PixelData holds " + std::to_string(uint64_t{count} * 2) +
                                                " bytes, the header declares " + std::to_string(bytes));
    in.pixels.assign(reinterpret_cast<const char*>(px), bytes);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  } else {
    const Uint8* px = nullptr;
    if (ds.findAndGetUint8Array(DCM_PixelData, px, &count).bad() || px == nullptr)
      return Reject(kDicomCannotUnderstand, "PixelData is missing or not bytes");
    if (uint64_t{count} < bytes)
      return Reject(kDicomCannotUnderstand, "PixelData holds " + std::to_string(count) +
                                                " bytes, the header declares " + std::to_string(bytes));
    in.pixels.assign(reinterpret_cast<const char*>(px), bytes);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  }

  for (const auto& [field, tag] : tag_map.tags())
    if (std::string v = GetString(ds, DcmTagKey(tag.group, tag.element)); !v.empty())
      in.mapped.values[field] = std::move(v);
  in.mapped.acquisition_date = GetString(ds, DCM_AcquisitionDate);
  in.mapped.acquisition_time = GetString(ds, DCM_AcquisitionTime);
  in.mapped.timezone_offset = GetString(ds, DCM_TimezoneOffsetFromUTC);
  return ReadResult{std::move(in), std::nullopt};
}

Result<std::string> SerializeDataset(DcmDataset& ds) {
  const E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  if (ds.chooseRepresentation(xfer, nullptr).bad() || !ds.canWriteXfer(xfer))
    return Status::InvalidArgument("the dataset cannot be written as Explicit VR Little Endian");
  const Uint32 length = ds.calcElementLength(xfer, EET_ExplicitLength);
  std::string out(length, '\0');
  DcmOutputBufferStream stream(out.data(), static_cast<offile_off_t>(out.size()));
  ds.transferInit();
  const OFCondition c = ds.write(stream, xfer, EET_ExplicitLength, nullptr);
  ds.transferEnd();
  if (c.bad()) return Status::Internal(std::string("writing the dataset: ") + c.text());
  void* buffer = nullptr;
  offile_off_t written = 0;
  stream.flushBuffer(buffer, written);
  out.resize(static_cast<std::size_t>(written));
  return out;
}

}  // namespace dicom_internal

ReadResult ReadDicom(std::string_view bytes, const TagMap& tag_map, const ReadLimits& limits) {
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  const bool part10 = bytes.size() > 132 && bytes.substr(128, 4) == "DICM";
  if (part10) {
    DcmFileFormat file;
    file.transferInit();
    const OFCondition c = file.read(in, EXS_Unknown);
    file.transferEnd();
    if (c.bad() || file.getDataset() == nullptr)
      return ReadResult{std::nullopt,
                        DicomRejection{kDicomCannotUnderstand, std::string("not a readable DICOM file: ") + c.text()}};
    return dicom_internal::ReadDataset(*file.getDataset(), tag_map, limits);
  }
  DcmDataset ds;
  ds.transferInit();
  const OFCondition c = ds.read(in, EXS_LittleEndianExplicit);
  ds.transferEnd();
  if (c.bad())
    return ReadResult{std::nullopt,
                      DicomRejection{kDicomCannotUnderstand, std::string("not a readable DICOM dataset: ") + c.text()}};
  return dicom_internal::ReadDataset(ds, tag_map, limits);
}

ReadResult ReadDicomFile(const std::string& path, const TagMap& tag_map, const ReadLimits& limits) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return ReadResult{std::nullopt, DicomRejection{kDicomCannotUnderstand, path + " cannot be read"}};
  std::stringstream ss;
  ss << f.rdbuf();
  return ReadDicom(ss.str(), tag_map, limits);
}

}  // namespace ovoflow::edge
