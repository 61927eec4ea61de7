#include "common/clock.h"

#include <gtest/gtest.h>

namespace ovoflow {
namespace {

TEST(ClockTest, TimestampRoundTrip) {
  int64_t ns = 1'764'052'294'123'456'789;
  EXPECT_EQ(FromTimestamp(ToTimestamp(ns)), ns);
  EXPECT_EQ(FromTimestamp(ToTimestamp(-1)), -1);
}

TEST(ClockTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(FormatRfc3339(1'500'000'000'000'000'001), "2017-07-14T02:40:00.000000001Z");
}

TEST(ClockTest, SystemClockAdvances) {
  const Clock& c = SystemClock();
  int64_t a = c.MonotonicNanos();
  int64_t b = c.MonotonicNanos();
  EXPECT_LE(a, b);
  EXPECT_GT(c.NowUnixNanos(), 1'700'000'000'000'000'000);
}

}  // namespace
}  // namespace ovoflow
