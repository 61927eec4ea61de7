#include "common/validation.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ovoflow {
namespace {

Status Bad(std::string_view field, const std::string& what) {
  return Status::InvalidArgument(std::string(field) + " " + what);
}

// The first C0, DEL or C1 control character in valid UTF-8 text, or npos.
std::size_t FirstControl(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return i;
    // C1 controls U+0080..U+009F are encoded as C2 80..C2 9F.
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return i;
  }
  return std::string_view::npos;
}

// The int64 nanosecond range, in whole seconds: the last (first) second
// whose every nanosecond still fits.
constexpr int64_t kMaxTimestampSeconds = 9'223'372'035;
constexpr int64_t kMinTimestampSeconds = -9'223'372'036;

Status CheckUnknown(const google::protobuf::Message& m, const std::string& path) {
  const google::protobuf::Reflection* r = m.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty())
    return Status::InvalidArgument((path.empty() ? std::string("the message") : path) + " has a field number " +
                                   std::to_string(unknown.field(0).number()) + " that " +
                                   m.GetDescriptor()->full_name() + " does not define");
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string sub = path.empty() ? f->name() : path + "." + f->name();
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i)
        OVOFLOW_RETURN_IF_ERROR(CheckUnknown(r->GetRepeatedMessage(m, f, i), sub + "[" + std::to_string(i) + "]"));
    } else {
      OVOFLOW_RETURN_IF_ERROR(CheckUnknown(r->GetMessage(m, f), sub));
    }
  }
  return Status::Ok();
}

Status CheckUnitInterval(std::string_view field, float x) {
  if (!std::isfinite(x) || x < 0.0f || x > 1.0f) return Bad(field, "must be a finite number in [0, 1]");
  return Status::Ok();
}

Status CheckIncubationDay(uint32_t day) {
  if (day > kMaxIncubationDay)
    return Bad("incubation_day", std::to_string(day) + " is past day " + std::to_string(kMaxIncubationDay) +
                                     " (hatch); 0 means not stated");
  return Status::Ok();
}

// The identity fields scans and predictions share.
template <typename Record>
Status CheckIdentity(const Record& r) {
  OVOFLOW_RETURN_IF_ERROR(CheckText("egg_id", r.egg_id(), kMaxEggIdBytes, true));
  OVOFLOW_RETURN_IF_ERROR(CheckTenantId("tenant_id", r.tenant_id()));
  OVOFLOW_RETURN_IF_ERROR(CheckText("scanner_id", r.scanner_id(), kMaxNameBytes, false));
  OVOFLOW_RETURN_IF_ERROR(CheckText("tray_id", r.tray_id(), kMaxNameBytes, false));
  return CheckIncubationDay(r.incubation_day());
}

}  // namespace

std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF)
    n = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF)
    n = 3;
  else if (b0 >= 0xF0 && b0 <= 0xF4)
    n = 4;
  else
    return 0;
  // A few lead bytes narrow the second byte's range: no overlong forms
  // (E0, F0), no UTF-16 surrogates (ED), nothing past U+10FFFF (F4).
  if (b0 == 0xE0)
    lo = 0xA0;
  else if (b0 == 0xED)
    hi = 0x9F;
  else if (b0 == 0xF0)
    lo = 0x90;
  else if (b0 == 0xF4)
    hi = 0x8F;
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

Status CheckText(std::string_view field, std::string_view value, std::size_t max_bytes, bool required) {
  if (value.empty()) return required ? Bad(field, "is empty") : Status::Ok();
  if (value.size() > max_bytes)
    return Bad(field, "is " + std::to_string(value.size()) + " bytes long; at most " + std::to_string(max_bytes));
  for (std::size_t i = 0; i < value.size();) {
    const std::size_t n = Utf8SequenceLength(value, i);
    if (n == 0) return Bad(field, "is not valid UTF-8 at offset " + std::to_string(i));
    i += n;
  }
  if (std::size_t at = FirstControl(value); at != std::string_view::npos) {
    if (value[at] == '\0') return Bad(field, "contains a NUL byte at offset " + std::to_string(at));
    return Bad(field, "contains a control character at offset " + std::to_string(at));
  }
  return Status::Ok();
}

Status CheckTenantId(std::string_view field, std::string_view value) {
  OVOFLOW_RETURN_IF_ERROR(CheckText(field, value, kMaxTenantIdBytes, true));
  const auto alnum = [](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  if (!alnum(static_cast<unsigned char>(value.front()))) return Bad(field, "must start with a letter or digit");
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return Bad(field, "has a character outside A-Z a-z 0-9 . _ - at offset " + std::to_string(i));
  }
  return Status::Ok();
}

Status CheckRegistryName(std::string_view field, std::string_view value) {
  const bool ok = !value.empty() && value.size() <= kMaxRegistryNameBytes && value.front() != '.' &&
                  std::all_of(value.begin(), value.end(), [](unsigned char c) {
                    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                           c == '_' || c == '-';
                  });
  if (ok) return Status::Ok();
  return Status::InvalidArgument(std::string(field) + " '" + SanitizeUtf8(value.substr(0, 80)) +
                                 "' must be 1-64 characters of A-Z a-z 0-9 . _ - and not start with '.'");
}

Status CheckTimestamp(std::string_view field, const google::protobuf::Timestamp& ts) {
  if (ts.nanos() < 0 || ts.nanos() > 999'999'999) return Bad(field, "has nanos outside 0..999999999");
  if (ts.seconds() < kMinTimestampSeconds || ts.seconds() > kMaxTimestampSeconds)
    return Bad(field, "at " + std::to_string(ts.seconds()) +
                          " s is outside what the store holds (1677-09-21 to 2262-04-11 UTC)");
  return Status::Ok();
}

Status CheckKey(std::string_view key) {
  if (key.size() > kMaxKeyBytes)
    return Status::InvalidArgument("key of " + std::to_string(key.size()) + " bytes exceeds " +
                                   std::to_string(kMaxKeyBytes));
  return Status::Ok();
}

Status CheckNoUnknownFields(const google::protobuf::Message& message) { return CheckUnknown(message, ""); }

Status CheckNotInFuture(std::string_view field, const google::protobuf::Timestamp& ts, int64_t now_unix_ns,
                        int64_t max_future_skew_s) {
  if (max_future_skew_s < 0) return Status::Ok();
  // In seconds (both in range): no overflow for any representable time.
  const int64_t now_s = now_unix_ns / 1'000'000'000;
  const int64_t ahead_s = ts.seconds() - now_s;
  if (ahead_s > max_future_skew_s)
    return Bad(field, "is " + std::to_string(ahead_s) + " s ahead of this clock (at most " +
                          std::to_string(max_future_skew_s) + " s allowed: check the scanner's clock)");
  return Status::Ok();
}

Status ValidateScan(const v1::EggScan& scan, const ScanLimits& limits, const Clock& clock) {
  OVOFLOW_RETURN_IF_ERROR(CheckIdentity(scan));
  if (!scan.has_captured_at()) return Status::InvalidArgument("captured_at is missing");
  OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("captured_at", scan.captured_at()));
  OVOFLOW_RETURN_IF_ERROR(
      CheckNotInFuture("captured_at", scan.captured_at(), clock.NowUnixNanos(), limits.max_future_skew_s));
  OVOFLOW_RETURN_IF_ERROR(CheckText("scan_id", scan.scan_id(), kMaxEggIdBytes, false));
  OVOFLOW_RETURN_IF_ERROR(CheckText("line_id", scan.line_id(), kMaxNameBytes, false));
  if (scan.has_deadline()) {
    OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("deadline", scan.deadline()));
    if (FromTimestamp(scan.deadline()) < FromTimestamp(scan.captured_at()))
      return Status::InvalidArgument("deadline is before captured_at");
  }
  if (!scan.has_volume()) return Status::InvalidArgument("volume is missing");
  return CheckVolume(scan.volume(), limits);
}

Status CheckModelInput(const v1::Volume& v, const v1::InputSpec& in) {
  if (v.dim_x() == in.dim_x() && v.dim_y() == in.dim_y() && v.dim_z() == in.dim_z() &&
      static_cast<uint32_t>(v.channels_size()) == in.channels())
    return Status::Ok();
  return Status::InvalidArgument(
      "volume " + std::to_string(v.dim_x()) + "x" + std::to_string(v.dim_y()) + "x" + std::to_string(v.dim_z()) + "x" +
      std::to_string(v.channels_size()) + "ch does not match model input " + std::to_string(in.dim_x()) + "x" +
      std::to_string(in.dim_y()) + "x" + std::to_string(in.dim_z()) + "x" + std::to_string(in.channels()) + "ch");
}

Status ValidatePrediction(const v1::Prediction& p) {
  OVOFLOW_RETURN_IF_ERROR(CheckIdentity(p));
  OVOFLOW_RETURN_IF_ERROR(CheckText("worker_id", p.worker_id(), kMaxNameBytes, false));
  OVOFLOW_RETURN_IF_ERROR(CheckText("scan_id", p.scan_id(), kMaxEggIdBytes, false));
  OVOFLOW_RETURN_IF_ERROR(CheckText("line_id", p.line_id(), kMaxNameBytes, false));
  if (p.has_deadline()) OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("deadline", p.deadline()));
  OVOFLOW_RETURN_IF_ERROR(CheckRegistryName("model_name", p.model_name()));
  OVOFLOW_RETURN_IF_ERROR(CheckRegistryName("model_version", p.model_version()));
  if (p.sex() == v1::SEX_UNSPECIFIED || !v1::Sex_IsValid(p.sex()))
    return Status::InvalidArgument("sex is unspecified or unknown");
  if (p.decision() == v1::DECISION_UNSPECIFIED || !v1::Decision_IsValid(p.decision()))
    return Status::InvalidArgument("decision is unspecified or unknown");
  OVOFLOW_RETURN_IF_ERROR(CheckUnitInterval("p_female", p.p_female()));
  OVOFLOW_RETURN_IF_ERROR(CheckUnitInterval("keep_threshold", p.keep_threshold()));
  OVOFLOW_RETURN_IF_ERROR(CheckUnitInterval("divert_threshold", p.divert_threshold()));
  if (!p.times().has_captured_at()) return Status::InvalidArgument("times.captured_at is missing");
  OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("times.captured_at", p.times().captured_at()));
  if (p.times().has_published_at())
    OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("times.published_at", p.times().published_at()));
  if (p.times().has_consumed_at())
    OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("times.consumed_at", p.times().consumed_at()));
  if (p.times().has_inferred_at())
    OVOFLOW_RETURN_IF_ERROR(CheckTimestamp("times.inferred_at", p.times().inferred_at()));
  return Status::Ok();
}

}  // namespace ovoflow
