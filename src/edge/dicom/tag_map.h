// Which DICOM attributes fill which EggScan fields (docs/edge.md, "Tag map").
// Scanners and hatcheries differ in where they put an egg's id or its tray
// slot; the map is a small text file, one `field = attribute` per line:
//
//   # ovoflow edge tag map
//   egg_id = PatientID
//   tray_id = AccessionNumber
//   tray_position = (0020,0010)
//   incubation_day = PatientAge
//   captured_at = AcquisitionDateTime
//
// An attribute is a DICOM keyword of the standard dictionary or a tag as
// (gggg,eeee) in hex (private tags too). tenant_id and scanner_id never come
// from the image: they are the agent's own (its configuration, its identity).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "ovoflow/v1/egg_scan.pb.h"

namespace ovoflow::edge {

// A DICOM tag (group, element).
struct DicomTag {
  uint16_t group = 0;
  uint16_t element = 0;
  friend bool operator==(const DicomTag&, const DicomTag&) = default;
  friend auto operator<=>(const DicomTag&, const DicomTag&) = default;
};

// Fields the map fills, in this order.
enum class ScanField { kEggId, kTrayId, kTrayPosition, kIncubationDay, kCapturedAt };

class TagMap {
 public:
  // The defaults above.
  TagMap();
  // Parses the text of a map file: unknown fields, unknown keywords, bad tags
  // and duplicates are InvalidArgument naming the line. Fields the text does
  // not name keep their defaults.
  static Result<TagMap> Parse(std::string_view text);
  static Result<TagMap> Load(const std::string& path);

  DicomTag tag(ScanField field) const { return tags_.at(field); }
  const std::map<ScanField, DicomTag>& tags() const { return tags_; }

 private:
  std::map<ScanField, DicomTag> tags_;
};

// The attribute values read for one image (the map's tags, as text, trimmed;
// absent attributes are missing), and the capture time's parts.
struct MappedValues {
  std::map<ScanField, std::string> values;
  std::string acquisition_date;  // DA, fallback when captured_at's attribute is missing
  std::string acquisition_time;  // TM
  std::string timezone_offset;   // TimezoneOffsetFromUTC (0008,0201), e.g. "+0100"
};

// Fills egg_id, tray_id, tray_position, incubation_day and captured_at of
// `scan` from `values`: egg_id required; tray_position an integer 0..65535;
// incubation_day an age string in days ("012D") or an integer, 0..21;
// captured_at a DT ("YYYYMMDDHHMMSS.FFFFFF&ZZXX"), or the acquisition date
// and time, with the offset when given, else UTC. InvalidArgument names the
// field, the tag and the value.
Status ApplyTagMap(const TagMap& map, const MappedValues& values, v1::EggScan* scan);

// "(gggg,eeee)" in hex.
std::string FormatTag(DicomTag tag);
// Parses a DICOM DT (or a DA + TM pair joined as "DATETIME") with an
// optional "&ZZXX" offset (else `default_offset`, e.g. "+0000"): unix ns.
Result<int64_t> ParseDicomDateTime(std::string_view dt, std::string_view default_offset);

}  // namespace ovoflow::edge
