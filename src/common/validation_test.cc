// The shared record rules: every field the store writes, for scans and
// predictions, and the text rules both store backends rely on.
#include "common/validation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "common/clock.h"
#include "common/testing/manual_clock.h"
#include "common/testing/test_scan.h"

namespace ovoflow {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000'000;

v1::Prediction GoodPrediction() {
  v1::Prediction p;
  p.set_egg_id("egg-é-1");
  p.set_tenant_id("hatchery-a");
  p.set_scanner_id("mri-1");
  p.set_tray_id("tray 7");
  p.set_tray_position(3);
  p.set_incubation_day(12);
  p.set_sex(v1::SEX_FEMALE);
  p.set_p_female(0.9f);
  p.set_decision(v1::DECISION_KEEP);
  p.set_model_name("gonad-cnn");
  p.set_model_version("2.1.0");
  p.set_keep_threshold(0.86f);
  p.set_divert_threshold(0.1f);
  p.set_worker_id("w-1");
  *p.mutable_times()->mutable_captured_at() = ToTimestamp(kT0);
  *p.mutable_times()->mutable_inferred_at() = ToTimestamp(kT0 + 5'000'000);
  return p;
}

void ExpectInvalid(const Status& st, const std::string& needle) {
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << needle;
  EXPECT_NE(st.message().find(needle), std::string::npos) << "want '" << needle << "' in: " << st.message();
}

TEST(ValidationTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("Brüterei 🐣"));
  for (const char* bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "a\x80"})
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("ü"), "ü");
}

TEST(ValidationTest, TextRules) {
  EXPECT_TRUE(CheckText("f", "Tray 7 / Ü", 64, true).ok());
  EXPECT_TRUE(CheckText("f", "", 64, false).ok());
  ExpectInvalid(CheckText("f", "", 64, true), "f is empty");
  ExpectInvalid(CheckText("f", std::string("nul-\0-0", 7), 64, true), "f contains a NUL byte at offset 4");
  ExpectInvalid(CheckText("f", "tab\there", 64, true), "f contains a control character at offset 3");
  ExpectInvalid(CheckText("f", "del\x7F", 64, true), "control character at offset 3");
  ExpectInvalid(CheckText("f", "c1\xC2\x85", 64, true), "control character at offset 2");
  ExpectInvalid(CheckText("f", "bad\xC3", 64, true), "f is not valid UTF-8 at offset 3");
  ExpectInvalid(CheckText("f", std::string(65, 'x'), 64, true), "f is 65 bytes long; at most 64");
}

TEST(ValidationTest, TenantIds) {
  for (const char* ok : {"hatchery-a", "h", "A.b_c-9", "0abc"}) EXPECT_TRUE(CheckTenantId("tenant_id", ok).ok()) << ok;
  ExpectInvalid(CheckTenantId("tenant_id", "hatch%ry-a"), "outside A-Z a-z 0-9 . _ - at offset 5");
  ExpectInvalid(CheckTenantId("tenant_id", "-a"), "must start with a letter or digit");
  ExpectInvalid(CheckTenantId("tenant_id", "tenant a"), "offset 6");
  ExpectInvalid(CheckTenantId("tenant_id", std::string(65, 'a')), "at most 64");
}

TEST(ValidationTest, Timestamps) {
  google::protobuf::Timestamp ts;
  EXPECT_TRUE(CheckTimestamp("t", ts).ok());
  ts.set_seconds(9'223'372'035);
  ts.set_nanos(999'999'999);
  EXPECT_TRUE(CheckTimestamp("t", ts).ok());
  // Its nanoseconds still fit in int64.
  EXPECT_GT(FromTimestamp(ts), 0);
  ts.set_seconds(9'223'372'036);
  ExpectInvalid(CheckTimestamp("t", ts), "outside what the store holds");
  ts.set_seconds(-9'223'372'036);  // 1677: still int64 nanoseconds
  EXPECT_TRUE(CheckTimestamp("t", ts).ok());
  EXPECT_LT(FromTimestamp(ts), 0);
  ts.set_seconds(-9'223'372'037);
  ExpectInvalid(CheckTimestamp("t", ts), "outside what the store holds");
  ts.set_seconds(1);
  ts.set_nanos(-1);
  ExpectInvalid(CheckTimestamp("t", ts), "nanos");
}

TEST(ValidationTest, PredictionEveryField) {
  EXPECT_TRUE(ValidatePrediction(GoodPrediction()).ok()) << ValidatePrediction(GoodPrediction()).ToString();
  auto bad = [](const std::function<void(v1::Prediction&)>& edit, const std::string& needle) {
    v1::Prediction p = GoodPrediction();
    edit(p);
    ExpectInvalid(ValidatePrediction(p), needle);
  };
  bad([](auto& p) { p.clear_egg_id(); }, "egg_id is empty");
  bad([](auto& p) { p.set_egg_id(std::string(129, 'e')); }, "egg_id is 129 bytes long");
  bad([](auto& p) { p.set_egg_id(std::string("nul-\0-0", 7)); }, "egg_id contains a NUL byte");
  bad([](auto& p) { p.set_tenant_id("hatch%ry-a"); }, "tenant_id has a character outside");
  bad([](auto& p) { p.set_scanner_id("mri\n1"); }, "scanner_id contains a control character");
  bad([](auto& p) { p.set_tray_id(std::string(200, 't')); }, "tray_id is 200 bytes long");
  bad([](auto& p) { p.set_worker_id("w\x1b[31m"); }, "worker_id contains a control character");
  bad([](auto& p) { p.set_model_name(""); }, "model_name '' must be");
  bad([](auto& p) { p.set_model_version("../../etc"); }, "model_version '../../etc' must be");
  bad([](auto& p) { p.set_sex(v1::SEX_UNSPECIFIED); }, "sex is unspecified");
  bad([](auto& p) { p.set_sex(static_cast<v1::Sex>(7)); }, "sex is unspecified or unknown");
  bad([](auto& p) { p.set_decision(static_cast<v1::Decision>(9)); }, "decision is unspecified or unknown");
  bad([](auto& p) { p.set_p_female(std::nanf("")); }, "p_female must be a finite number in [0, 1]");
  bad([](auto& p) { p.set_p_female(1.5f); }, "p_female");
  bad([](auto& p) { p.set_keep_threshold(std::numeric_limits<float>::infinity()); }, "keep_threshold");
  bad([](auto& p) { p.set_divert_threshold(-0.1f); }, "divert_threshold");
  bad([](auto& p) { p.set_incubation_day(40); }, "incubation_day 40 is past day 21");
  bad([](auto& p) { p.mutable_times()->clear_captured_at(); }, "times.captured_at is missing");
  bad([](auto& p) { p.mutable_times()->mutable_captured_at()->set_seconds(int64_t{1} << 40); }, "times.captured_at at");
  bad([](auto& p) { p.mutable_times()->mutable_consumed_at()->set_nanos(-5); }, "times.consumed_at");
}

TEST(ValidationTest, ScanIdentityAndVoxels) {
  v1::EggScan good = testing::MakeTestScan("egg-1", "hatchery-a", kT0, {4, 3, 2});
  EXPECT_TRUE(ValidateScan(good).ok()) << ValidateScan(good).ToString();
  auto s = good;
  s.set_egg_id(std::string("nul-\0-1", 7));
  ExpectInvalid(ValidateScan(s), "egg_id contains a NUL byte at offset 4");
  s = good;
  s.set_incubation_day(22);
  ExpectInvalid(ValidateScan(s), "incubation_day 22");
  s = good;
  s.mutable_captured_at()->set_seconds(int64_t{1} << 40);
  ExpectInvalid(ValidateScan(s), "captured_at at");
  // Year 1 and day 1000, as a new user tried them: refused, never stored wrapped.
  s = good;
  s.mutable_captured_at()->set_seconds(-62135596800);
  ExpectInvalid(ValidateScan(s), "captured_at at -62135596800 s is outside what the store holds");
  s = good;
  s.set_incubation_day(1000);
  ExpectInvalid(ValidateScan(s), "incubation_day 1000 is past day 21");
  // Ahead of the validating clock by more than the allowed skew.
  testing::ManualClock clock(kT0);
  ScanLimits limits;
  limits.max_future_skew_s = 300;
  s = good;
  *s.mutable_captured_at() = ToTimestamp(kT0 + 300'000'000'000);
  EXPECT_TRUE(ValidateScan(s, limits, clock).ok()) << ValidateScan(s, limits, clock).ToString();
  *s.mutable_captured_at() = ToTimestamp(kT0 + 3'600'000'000'000);
  ExpectInvalid(ValidateScan(s, limits, clock), "captured_at is 3600 s ahead of this clock (at most 300 s allowed");
  limits.max_future_skew_s = -1;
  EXPECT_TRUE(ValidateScan(s, limits, clock).ok());
  // A deadline before the capture, or unprintable scan and line ids.
  s = good;
  *s.mutable_deadline() = ToTimestamp(kT0 - 1);
  ExpectInvalid(ValidateScan(s), "deadline is before captured_at");
  s = good;
  s.set_scan_id(
      std::string("a\x01"
                  "b"));
  ExpectInvalid(ValidateScan(s), "scan_id");

  // A float volume must be finite, raw or zstd.
  v1::EggScan f = good;
  f.mutable_volume()->set_dtype(v1::DTYPE_FLOAT32);
  std::string data(24 * sizeof(float), '\0');
  float x = 1.0f;
  for (std::size_t i = 0; i < 24; ++i) std::memcpy(data.data() + sizeof(float) * i, &x, 4);
  f.mutable_volume()->set_data(data);
  EXPECT_TRUE(ValidateScan(f).ok()) << ValidateScan(f).ToString();
  const float nan = std::nanf("");
  std::memcpy(data.data() + sizeof(float) * 17, &nan, 4);
  f.mutable_volume()->set_data(data);
  ExpectInvalid(ValidateScan(f), "volume voxel 17 is NaN");
  ASSERT_TRUE(CompressVolume(f.mutable_volume()).ok());
  ExpectInvalid(ValidateScan(f), "volume voxel 17 is NaN");
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(data.data() + sizeof(float) * 3, &inf, 4);
  f.mutable_volume()->set_encoding(v1::ENCODING_RAW);
  f.mutable_volume()->set_data(data);
  ExpectInvalid(ValidateScan(f), "volume voxel 3 is infinite");
}

TEST(ValidationTest, UnknownFieldsAreNamed) {
  v1::EggScan s = testing::MakeTestScan("egg-1", "hatchery-a", kT0, {4, 3, 2});
  EXPECT_TRUE(CheckNoUnknownFields(s).ok());
  std::string wire = s.SerializeAsString();
  wire += std::string(
      "\xA2\x06\x03"
      "pad",
      6);  // field 100, length-delimited, "pad"
  v1::EggScan padded;
  ASSERT_TRUE(padded.ParseFromString(wire));
  ExpectInvalid(CheckNoUnknownFields(padded), "has a field number 100 that ovoflow.v1.EggScan does not define");
  // Inside the volume too.
  v1::EggScan inner = s;
  std::string vol = s.volume().SerializeAsString() + std::string("\xF8\x01\x01", 3);  // field 31, varint 1
  ASSERT_TRUE(inner.mutable_volume()->ParseFromString(vol));
  ExpectInvalid(CheckNoUnknownFields(inner), "volume has a field number 31");
}

TEST(ValidationTest, KeysAndRegistryNames) {
  EXPECT_TRUE(CheckKey(std::string(256, 'k')).ok());
  ExpectInvalid(CheckKey(std::string(257, 'k')), "key of 257 bytes exceeds 256");
  EXPECT_TRUE(CheckRegistryName("version", "2.1.0").ok());
  ExpectInvalid(CheckRegistryName("version", ".hidden"), "must be 1-64 characters");
  ExpectInvalid(CheckRegistryName("version", std::string(65, 'v')), "must be 1-64 characters");
}

}  // namespace
}  // namespace ovoflow
