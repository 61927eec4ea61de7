// A Clock that moves only when told to (or when something sleeps on it), for
// tests of timing behaviour (backoff, batch deadlines) without real waits.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace ovoflow::testing {

// Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_unix_nanos = 1'700'000'000'000'000'000) : unix_(start_unix_nanos) {}
  int64_t NowUnixNanos() const override { return unix_.load(); }
  int64_t MonotonicNanos() const override { return mono_.load(); }
  // Sleeping advances the clock at once.
  void SleepFor(int64_t nanos) const override {
    if (nanos <= 0) return;
    slept_ += nanos;
    Advance(nanos);
  }
  void Advance(int64_t nanos) const {
    unix_ += nanos;
    mono_ += nanos;
  }
  // Total time spent in SleepFor, ns.
  int64_t slept_nanos() const { return slept_.load(); }

 private:
  mutable std::atomic<int64_t> unix_;
  mutable std::atomic<int64_t> mono_{1'000'000'000};
  mutable std::atomic<int64_t> slept_{0};
};

}  // namespace ovoflow::testing
