#include "common/clock.h"

#include <ctime>
#include <string>

namespace ovoflow {
namespace {

class RealClock final : public Clock {
 public:
  int64_t NowUnixNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

const Clock& SystemClock() {
  static const RealClock* clock = new RealClock();
  return *clock;
}

google::protobuf::Timestamp ToTimestamp(int64_t unix_nanos) {
  google::protobuf::Timestamp ts;
  int64_t secs = unix_nanos / 1'000'000'000;
  int64_t nanos = unix_nanos % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --secs;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(nanos));
  return ts;
}

int64_t FromTimestamp(const google::protobuf::Timestamp& ts) { return ts.seconds() * 1'000'000'000 + ts.nanos(); }

std::string FormatRfc3339(int64_t unix_nanos) {
  google::protobuf::Timestamp ts = ToTimestamp(unix_nanos);
  std::time_t secs = static_cast<std::time_t>(ts.seconds());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  (void)std::snprintf(frac, sizeof frac, ".%09dZ", ts.nanos());
  return std::string(buf, n) + frac;
}

}  // namespace ovoflow
