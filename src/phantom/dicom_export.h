// The phantom as a DICOM scanner: a volume as an MR series, either one MR
// Image Storage instance per slice or one Enhanced MR Image Storage
// multi-frame instance, written as Part 10 files or sent with C-STORE (the
// simulator's `ovoflow scanner --dicom`). docs/edge.md lists the attributes
// and where the edge agent's default tag map reads each EggScan field.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::phantom {

enum class DicomLayout { kSingleFrame, kEnhancedMultiFrame };

// What the series says about its egg (the default tag map's attributes).
struct DicomSeriesInfo {
  std::string egg_id;               // PatientID (and PatientName)
  std::string tray_id;              // AccessionNumber
  uint32_t tray_position = 0;       // StudyID
  uint32_t incubation_day = 0;      // PatientAge as "012D"
  int64_t captured_at_ns = 0;       // AcquisitionDateTime (UTC, with TimezoneOffsetFromUTC +0000)
  std::string station_name;         // StationName (the scanner)
  std::string series_instance_uid;  // empty: a new unique one
  DicomLayout layout = DicomLayout::kSingleFrame;
};

// The series as Part 10 files in memory (Explicit VR Little Endian), one per
// slice or one multi-frame. `volume`: channel 0 (T2W), uint8 or uint16, raw
// or zstd; written as 16-bit unsigned pixels. Slice k lies at z = k *
// spacing_z_mm, rows along y, columns along x.
Result<std::vector<std::string>> MakeDicomSeries(const v1::Volume& volume, const DicomSeriesInfo& info);

// MakeDicomSeries written to `dir` (created if missing) as <egg_id>-NNNN.dcm
// (unsafe characters of the egg id replaced by '_'); returns the paths.
Result<std::vector<std::string>> WriteDicomSeries(const v1::Volume& volume, const DicomSeriesInfo& info,
                                                  const std::string& dir);

// A C-STORE client (SCU) that keeps one association open. Not thread-safe.
class DicomSender {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 11112;
    std::string calling_ae = "OVOFLOW-SIM";
    std::string called_ae = "OVOFLOW";
  };
  ~DicomSender();
  static Result<std::unique_ptr<DicomSender>> Connect(const Options& options);
  // Sends every file of a series; the first non-success status is an error
  // naming it (0xA700: ResourceExhausted, the agent's spool is full).
  Status SendSeries(const std::vector<std::string>& part10_files);

 private:
  DicomSender() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::phantom
