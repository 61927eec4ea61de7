#include "edge/dicom/tag_map.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace ovoflow::edge {
namespace {

TEST(TagMapTest, DefaultsAndOverrides) {
  const TagMap defaults;
  EXPECT_EQ(FormatTag(defaults.tag(ScanField::kEggId)), "(0010,0020)");
  auto map = TagMap::Parse("# a hatchery's map\n egg_id = PatientComments \ntray_position = (0019,10a0)\n\n");
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(FormatTag(map->tag(ScanField::kEggId)), "(0010,4000)");
  EXPECT_EQ(FormatTag(map->tag(ScanField::kTrayPosition)), "(0019,10A0)");
  EXPECT_EQ(FormatTag(map->tag(ScanField::kTrayId)), "(0008,0050)") << "unnamed fields keep their default";
}

TEST(TagMapTest, RefusesWhatItCannotRead) {
  auto expect_bad = [](const char* text, const char* what) {
    auto map = TagMap::Parse(text);
    ASSERT_FALSE(map.ok()) << text;
    EXPECT_NE(map.status().message().find(what), std::string::npos) << map.status().message();
  };
  expect_bad("egg_id PatientID", "line 1: expected 'field = attribute'");
  expect_bad("\nsex = PatientSex", "line 2: unknown field 'sex'");
  expect_bad("egg_id = NoSuchKeyword", "'NoSuchKeyword' is no keyword");
  expect_bad("egg_id = (0010,00zz)", "is not a tag");
  expect_bad("egg_id = PatientID\negg_id = PatientName", "egg_id is already mapped on line 1");
}

TEST(TagMapTest, FillsTheScan) {
  const TagMap map;
  MappedValues v;
  v.values[ScanField::kEggId] = "egg-7";
  v.values[ScanField::kTrayId] = "T-3";
  v.values[ScanField::kTrayPosition] = "42";
  v.values[ScanField::kIncubationDay] = "012D";
  v.values[ScanField::kCapturedAt] = "20261205103000.250000+0100";
  v1::EggScan scan;
  ASSERT_TRUE(ApplyTagMap(map, v, &scan).ok());
  EXPECT_EQ(scan.egg_id(), "egg-7");
  EXPECT_EQ(scan.tray_position(), 42u);
  EXPECT_EQ(scan.incubation_day(), 12u);
  EXPECT_EQ(FormatRfc3339(FromTimestamp(scan.captured_at())), "2026-12-05T09:30:00.250000000Z");

  // Without AcquisitionDateTime: date + time + offset.
  v.values.erase(ScanField::kCapturedAt);
  v.acquisition_date = "20261205";
  v.acquisition_time = "103000";
  v.timezone_offset = "-0200";
  ASSERT_TRUE(ApplyTagMap(map, v, &scan).ok());
  EXPECT_EQ(FormatRfc3339(FromTimestamp(scan.captured_at())), "2026-12-05T12:30:00.000000000Z");
}

TEST(TagMapTest, RefusesValuesThatCannotBeRepresented) {
  const TagMap map;
  auto error = [&](ScanField f, const std::string& value) {
    MappedValues v;
    v.values[ScanField::kEggId] = "egg-7";
    v.values[ScanField::kCapturedAt] = "20261205103000";
    v.values[f] = value;
    v1::EggScan scan;
    const Status st = ApplyTagMap(map, v, &scan);
    return st.ok() ? std::string("ok") : st.message();
  };
  EXPECT_NE(error(ScanField::kIncubationDay, "1000").find("not an incubation day 0..21"), std::string::npos);
  EXPECT_NE(error(ScanField::kIncubationDay, "012W").find("not an incubation day"), std::string::npos);
  EXPECT_NE(error(ScanField::kTrayPosition, "-1").find("not a position"), std::string::npos);
  EXPECT_NE(error(ScanField::kCapturedAt, "00010101000000").find("years 1678-2261"), std::string::npos);
  EXPECT_NE(error(ScanField::kCapturedAt, "20261332000000").find("not a DICOM date-time"), std::string::npos);
  EXPECT_NE(error(ScanField::kEggId, "").find("egg_id from (0010,0020): missing"), std::string::npos);
}

}  // namespace
}  // namespace ovoflow::edge
