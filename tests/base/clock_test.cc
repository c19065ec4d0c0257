#include "base/clock.h"

#include <gtest/gtest.h>

namespace patrolrec::base {
namespace {

TEST(ClockFormat, FormatsUtcWithNanoseconds) {
  // 2026-11-29T01:16:30.25Z
  const int64_t t = 1795914990LL * kNsPerSecond + 250'000'000;
  EXPECT_EQ(FormatUtcNs(t), "2026-11-29T01:16:30.250000000Z");
  EXPECT_EQ(FormatUtcCompact(t), "20261129T011630.250Z");
}

TEST(ClockFormat, ParsesWhatItFormats) {
  const int64_t t = 1795914990LL * kNsPerSecond + 123'456'789;
  int64_t back = 0;
  ASSERT_TRUE(ParseUtcNs(FormatUtcNs(t), &back));
  EXPECT_EQ(back, t);
}

TEST(ClockFormat, RejectsMalformedTimes) {
  int64_t out = 0;
  EXPECT_FALSE(ParseUtcNs("", &out));
  EXPECT_FALSE(ParseUtcNs("2026-11-29T01:16:30Z", &out));
  EXPECT_FALSE(ParseUtcNs("2026-13-29T01:16:30.000000000Z", &out));  // month 13
  EXPECT_FALSE(ParseUtcNs("2026-02-30T01:16:30.000000000Z", &out));  // 30 February
  EXPECT_FALSE(ParseUtcNs("2026-11-29T01:16:30.000000000+", &out));
}

TEST(SystemClock, MonotonicNeverGoesBack) {
  Clock* clock = Clock::System();
  int64_t a = clock->MonotonicNs();
  int64_t b = clock->MonotonicNs();
  EXPECT_LE(a, b);
  EXPECT_GT(clock->NowUtcNs(), 1'700'000'000LL * kNsPerSecond);
}

}  // namespace
}  // namespace patrolrec::base
