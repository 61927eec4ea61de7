#include "api/query.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <climits>
#include <cstdint>

namespace ovoflow::api {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncodeSegment(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<ParamError> ParseTarget(std::string_view target, Target* out) {
  std::size_t q = target.find('?');
  out->path = std::string(target.substr(0, q));
  out->query.clear();
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!name || !value) return ParamError{std::string(pair.substr(0, eq)), "malformed percent-escape"};
    if (!out->query.emplace(*name, *value).second) return ParamError{*name, "given more than once"};
  }
  return std::nullopt;
}

Result<v1::Sex> ParseSex(std::string_view text) {
  std::string name = Upper(text);
  if (name.rfind("SEX_", 0) != 0) name = "SEX_" + name;
  v1::Sex sex;
  if (v1::Sex_Parse(name, &sex) && sex != v1::SEX_UNSPECIFIED) return sex;
  return Status::InvalidArgument("'" + std::string(text) + "' is not a sex; use FEMALE or MALE");
}

Result<v1::Decision> ParseDecision(std::string_view text) {
  std::string name = Upper(text);
  if (name.rfind("DECISION_", 0) != 0) name = "DECISION_" + name;
  v1::Decision decision;
  if (v1::Decision_Parse(name, &decision) && decision != v1::DECISION_UNSPECIFIED) return decision;
  return Status::InvalidArgument("'" + std::string(text) + "' is not a decision; use KEEP, DIVERT or RECHECK");
}

namespace {

// Reads exactly `n` digits at *pos; -1 when they are not all digits.
int Digits(std::string_view s, std::size_t* pos, std::size_t n) {
  if (*pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  return v;
}

bool Expect(std::string_view s, std::size_t* pos, char c) {
  if (*pos >= s.size() || std::toupper(static_cast<unsigned char>(s[*pos])) != c) return false;
  ++*pos;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Parses RFC 3339 section 5.6 date-time; nullopt with *why set otherwise.
std::optional<int64_t> ParseDateTime(std::string_view s, std::string* why) {
  auto fail = [why](const char* reason) {
    *why = reason;
    return std::optional<int64_t>();
  };
  std::size_t pos = 0;
  int year = Digits(s, &pos, 4);
  bool shape = year >= 0 && Expect(s, &pos, '-');
  int month = shape ? Digits(s, &pos, 2) : -1;
  shape = month >= 0 && Expect(s, &pos, '-');
  int day = shape ? Digits(s, &pos, 2) : -1;
  shape = day >= 0 && Expect(s, &pos, 'T');
  int hour = shape ? Digits(s, &pos, 2) : -1;
  shape = hour >= 0 && Expect(s, &pos, ':');
  int minute = shape ? Digits(s, &pos, 2) : -1;
  shape = minute >= 0 && Expect(s, &pos, ':');
  int second = shape ? Digits(s, &pos, 2) : -1;
  if (second < 0) return fail("expected YYYY-MM-DDTHH:MM:SS");
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (++digits > 9) return fail("more than 9 fractional digits");
      nanos += (s[pos++] - '0') * scale;
      scale /= 10;
    }
    if (digits == 0) return fail("a '.' must be followed by digits");
  }
  int offset_minutes = 0;
  if (Expect(s, &pos, 'Z')) {
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos++] == '-' ? -1 : 1;
    int oh = Digits(s, &pos, 2);
    int om = oh >= 0 && Expect(s, &pos, ':') ? Digits(s, &pos, 2) : -1;
    if (om < 0 || oh > 23 || om > 59) return fail("a bad UTC offset (use Z or +HH:MM)");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return fail("a time zone is required (Z or +HH:MM)");
  }
  if (pos != s.size()) return fail("unexpected text after the time zone");
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return fail("no such date");
  // Leap seconds (:60) have no unix time; refuse them rather than guess.
  if (hour > 23 || minute > 59 || second > 59) return fail("no such time of day");
  int64_t seconds = DaysFromCivil(year, month, day) * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 + second -
                    int64_t{offset_minutes} * 60;
  // Unix nanoseconds in an int64 span 1677-09-21 .. 2262-04-11.
  constexpr int64_t kMaxSeconds = INT64_MAX / 1000000000 - 1;
  if (seconds > kMaxSeconds || seconds < -kMaxSeconds) return fail("out of range (1678..2262)");
  return seconds * 1000000000 + nanos;
}

}  // namespace

Result<int64_t> ParseRfc3339(std::string_view text) {
  std::string why;
  auto nanos = ParseDateTime(text, &why);
  if (!nanos)
    return Status::InvalidArgument("'" + std::string(text) + "' is not an RFC 3339 timestamp (" + why +
                                   "; e.g. 2026-11-25T06:44:54Z)");
  return *nanos;
}

Result<int> ParseBoundedInt(std::string_view text, int min, int max) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    return Status::InvalidArgument("'" + std::string(text) + "' is not an integer in [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]");
  return value;
}

std::optional<ParamError> ParseFilter(const std::map<std::string, std::string>& query, PredictionFilter* out) {
  if (auto it = query.find("tenant_id"); it != query.end()) out->tenant_id = it->second;
  if (auto it = query.find("sex"); it != query.end()) {
    auto sex = ParseSex(it->second);
    if (!sex.ok()) return ParamError{"sex", sex.status().message()};
    out->sex = *sex;
  }
  if (auto it = query.find("decision"); it != query.end()) {
    auto decision = ParseDecision(it->second);
    if (!decision.ok()) return ParamError{"decision", decision.status().message()};
    out->decision = *decision;
  }
  return std::nullopt;
}

}  // namespace ovoflow::api
