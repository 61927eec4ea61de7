#include "edge/dicom/tag_map.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dctag.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "common/validation.h"

namespace ovoflow::edge {
namespace {

constexpr std::pair<ScanField, std::string_view> kFieldNames[] = {
    {ScanField::kEggId, "egg_id"},
    {ScanField::kTrayId, "tray_id"},
    {ScanField::kTrayPosition, "tray_position"},
    {ScanField::kIncubationDay, "incubation_day"},
    {ScanField::kCapturedAt, "captured_at"},
};

std::string_view FieldName(ScanField f) {
  for (const auto& [field, name] : kFieldNames)
    if (field == f) return name;
  return "?";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool ParseHex16(std::string_view s, uint16_t* out) {
  if (s.size() != 4) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

Result<DicomTag> ParseAttribute(std::string_view a) {
  if (!a.empty() && a.front() == '(') {
    if (a.size() != 11 || a[5] != ',' || a.back() != ')')
      return Status::InvalidArgument("'" + std::string(a) + "' is not a tag like (0010,0020)");
    DicomTag t;
    if (!ParseHex16(a.substr(1, 4), &t.group) || !ParseHex16(a.substr(6, 4), &t.element))
      return Status::InvalidArgument("'" + std::string(a) + "' is not a tag like (0010,0020)");
    return t;
  }
  DcmTag tag;
  const std::string name(a);
  if (DcmTag::findTagFromName(name.c_str(), tag).bad())
    return Status::InvalidArgument("'" + name + "' is no keyword of the DICOM dictionary");
  return DicomTag{tag.getGroup(), tag.getElement()};
}

int ParseDigits(std::string_view s, std::size_t pos, std::size_t n, bool* ok) {
  int v = 0;
  if (pos + n > s.size()) {
    *ok = false;
    return 0;
  }
  const auto r = std::from_chars(s.data() + pos, s.data() + pos + n, v);
  if (r.ec != std::errc() || r.ptr != s.data() + pos + n) *ok = false;
  return v;
}

}  // namespace

TagMap::TagMap()
    : tags_{{ScanField::kEggId, {0x0010, 0x0020}},          // PatientID
            {ScanField::kTrayId, {0x0008, 0x0050}},         // AccessionNumber
            {ScanField::kTrayPosition, {0x0020, 0x0010}},   // StudyID
            {ScanField::kIncubationDay, {0x0010, 0x1010}},  // PatientAge
            {ScanField::kCapturedAt, {0x0008, 0x002A}}} {}  // AcquisitionDateTime

Result<TagMap> TagMap::Parse(std::string_view text) {
  TagMap map;
  std::map<ScanField, int> seen;
  int line_no = 0;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::string_view l = line;
    if (const auto hash = l.find('#'); hash != std::string_view::npos) l = l.substr(0, hash);
    l = Trim(l);
    if (l.empty()) continue;
    const auto where = "tag map line " + std::to_string(line_no) + ": ";
    const auto eq = l.find('=');
    if (eq == std::string_view::npos) return Status::InvalidArgument(where + "expected 'field = attribute'");
    const std::string_view field = Trim(l.substr(0, eq));
    const std::string_view attribute = Trim(l.substr(eq + 1));
    const ScanField* found = nullptr;
    for (const auto& fn : kFieldNames)
      if (fn.second == field) found = &fn.first;
    if (found == nullptr)
      return Status::InvalidArgument(where + "unknown field '" + std::string(field) +
                                     "' (egg_id, tray_id, tray_position, incubation_day, captured_at)");
    if (seen.count(*found) != 0)
      return Status::InvalidArgument(where + std::string(field) + " is already mapped on line " +
                                     std::to_string(seen[*found]));
    seen[*found] = line_no;
    auto tag = ParseAttribute(attribute);
    if (!tag.ok()) return Status::InvalidArgument(where + tag.status().message());
    map.tags_[*found] = *tag;
  }
  return map;
}

Result<TagMap> TagMap::Load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::InvalidArgument("tag map " + path + " cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  auto map = Parse(ss.str());
  if (!map.ok()) return Status::InvalidArgument(path + ": " + map.status().message());
  return map;
}

std::string FormatTag(DicomTag tag) {
  char buf[16];
  (void)std::snprintf(buf, sizeof buf, "(%04X,%04X)", tag.group, tag.element);
  return buf;
}

Result<int64_t> ParseDicomDateTime(std::string_view dt, std::string_view default_offset) {
  dt = Trim(dt);
  std::string_view offset = default_offset;
  if (const auto sign = dt.find_first_of("+-"); sign != std::string_view::npos) {
    offset = dt.substr(sign);
    dt = dt.substr(0, sign);
  }
  bool ok = dt.size() >= 8;
  const int year = ParseDigits(dt, 0, 4, &ok), month = ParseDigits(dt, 4, 2, &ok), day = ParseDigits(dt, 6, 2, &ok);
  int hour = 0, minute = 0, second = 0;
  int64_t nanos = 0;
  if (dt.size() >= 10) hour = ParseDigits(dt, 8, 2, &ok);
  if (dt.size() >= 12) minute = ParseDigits(dt, 10, 2, &ok);
  if (dt.size() >= 14) second = ParseDigits(dt, 12, 2, &ok);
  if (dt.size() > 14) {
    if (dt[14] != '.' || dt.size() > 21 || dt.size() == 15) ok = false;
    int64_t scale = 100'000'000;
    for (std::size_t i = 15; ok && i < dt.size(); ++i, scale /= 10) {
      if (dt[i] < '0' || dt[i] > '9') ok = false;
      nanos += (dt[i] - '0') * scale;
    }
  }
  if (dt.size() != 8 && dt.size() != 10 && dt.size() != 12 && dt.size() < 14) ok = false;
  int offset_minutes = 0;
  if (!offset.empty()) {
    if (offset.size() != 5 || (offset[0] != '+' && offset[0] != '-')) {
      ok = false;
    } else {
      const int oh = ParseDigits(offset, 1, 2, &ok), om = ParseDigits(offset, 3, 2, &ok);
      offset_minutes = (offset[0] == '-' ? -1 : 1) * (oh * 60 + om);
      if (oh > 14 || om > 59) ok = false;
    }
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ok || !ymd.ok() || year < 1678 || year > 2261 || hour > 23 || minute > 59 || second > 60)
    return Status::InvalidArgument("'" + std::string(dt) + std::string(offset) +
                                   "' is not a DICOM date-time YYYYMMDDHHMMSS.FFFFFF&ZZXX (years 1678-2261)");
  const int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  const int64_t seconds =
      days * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 + second - int64_t{offset_minutes} * 60;
  return seconds * 1'000'000'000 + nanos;
}

Status ApplyTagMap(const TagMap& map, const MappedValues& values, v1::EggScan* scan) {
  auto value = [&](ScanField f) -> std::string {
    const auto it = values.values.find(f);
    return it == values.values.end() ? std::string() : it->second;
  };
  auto bad = [&](ScanField f, const std::string& what) {
    return Status::InvalidArgument(std::string(FieldName(f)) + " from " + FormatTag(map.tag(f)) + ": " + what);
  };
  const std::string egg = value(ScanField::kEggId);
  if (egg.empty()) return bad(ScanField::kEggId, "missing or empty");
  scan->set_egg_id(egg);
  scan->set_tray_id(value(ScanField::kTrayId));
  if (const std::string pos = value(ScanField::kTrayPosition); !pos.empty()) {
    uint32_t p = 0;
    const auto r = std::from_chars(pos.data(), pos.data() + pos.size(), p);
    if (r.ec != std::errc() || r.ptr != pos.data() + pos.size() || p > 65535)
      return bad(ScanField::kTrayPosition, "'" + SanitizeUtf8(pos) + "' is not a position 0..65535");
    scan->set_tray_position(p);
  }
  if (std::string day = value(ScanField::kIncubationDay); !day.empty()) {
    // An age string counts days as "012D"; other units are no incubation day.
    if (day.size() == 4 && day.back() == 'D') day.pop_back();
    uint32_t d = 0;
    const auto r = std::from_chars(day.data(), day.data() + day.size(), d);
    if (r.ec != std::errc() || r.ptr != day.data() + day.size() || d > kMaxIncubationDay)
      return bad(ScanField::kIncubationDay,
                 "'" + SanitizeUtf8(value(ScanField::kIncubationDay)) + "' is not an incubation day 0..21 (e.g. 012D)");
    scan->set_incubation_day(d);
  }
  std::string when = value(ScanField::kCapturedAt);
  if (when.empty() && !values.acquisition_date.empty()) {
    std::string t = values.acquisition_time;
    if (const auto dot = t.find('.'); dot != std::string::npos && dot != 6) t.clear();  // HHMMSS.FFFFFF only
    when = values.acquisition_date + t;
  }
  if (when.empty()) return bad(ScanField::kCapturedAt, "missing (and no AcquisitionDate/AcquisitionTime)");
  const std::string offset = values.timezone_offset.empty() ? "+0000" : values.timezone_offset;
  auto ns = ParseDicomDateTime(when, offset);
  if (!ns.ok()) return bad(ScanField::kCapturedAt, ns.status().message());
  *scan->mutable_captured_at() = ToTimestamp(*ns);
  return Status::Ok();
}

}  // namespace ovoflow::edge
