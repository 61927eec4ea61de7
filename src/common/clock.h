// Time source, injectable so tests can control it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <google/protobuf/timestamp.pb.h>

namespace ovoflow {

// Thread-safe. Wall time (unix epoch) for stamps that cross processes,
// monotonic time for pacing and durations.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowUnixNanos() const = 0;
  virtual int64_t MonotonicNanos() const = 0;
  // Waits `nanos` of this clock's monotonic time (a fake clock advances
  // itself instead of waiting). Thread-safe.
  virtual void SleepFor(int64_t nanos) const {
    if (nanos > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(nanos));
  }
};

// The real clock. Process-wide singleton, never destroyed.
const Clock& SystemClock();

google::protobuf::Timestamp ToTimestamp(int64_t unix_nanos);
int64_t FromTimestamp(const google::protobuf::Timestamp& ts);
// (to_ns - from_ns) in seconds, computed in double: no overflow for any
// two int64 times.
inline double SecondsBetween(int64_t from_ns, int64_t to_ns) {
  return (static_cast<double>(to_ns) - static_cast<double>(from_ns)) / 1e9;
}

// RFC 3339 in UTC with nanoseconds, e.g. "2026-11-25T06:44:54.123456789Z".
std::string FormatRfc3339(int64_t unix_nanos);

}  // namespace ovoflow
