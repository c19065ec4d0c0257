// ClockTrust under a hand-driven clock: offsets, delivery delay, staleness, NTP fallback, spans.
#include "gps/clock_trust.h"

#include <gtest/gtest.h>

namespace patrolrec::gps {
namespace {

constexpr int64_t kS = base::kNsPerSecond;
constexpr int64_t kMs = base::kNsPerMs;

class ManualClock : public base::Clock {
 public:
  int64_t NowUtcNs() const override { return utc_ns; }
  int64_t MonotonicNs() const override { return mono_ns; }
  void Advance(int64_t ns) {
    utc_ns += ns;
    mono_ns += ns;
  }
  int64_t utc_ns = 1'795'000'000 * kS;
  int64_t mono_ns = 1000 * kS;
};

class ClockTrustTest : public ::testing::Test {
 protected:
  // A fix whose GPS time is `gps_utc_ns`, received now.
  Fix FixAt(int64_t gps_utc_ns) {
    Fix fix;
    fix.mode = FixMode::k3D;
    fix.latitude_deg = 41.72;
    fix.longitude_deg = 125.93;
    fix.gps_utc_ns = gps_utc_ns;
    fix.received_utc_ns = clock_.NowUtcNs();
    fix.received_mono_ns = clock_.MonotonicNs();
    return fix;
  }
  // One fix a second for `seconds`, the system clock ahead of GPS by `offset_ns`, each delivered
  // `delay_ns` late (delays cycle through the given list).
  void Feed(ClockTrust& trust, int seconds, int64_t offset_ns, std::vector<int64_t> delays) {
    for (int i = 0; i < seconds; ++i) {
      int64_t delay = delays[i % delays.size()];
      // The receiver stamps the fix at true time t; we get it `delay` later on a clock that is
      // `offset` ahead: received - gps = offset + delay.
      int64_t gps_time = clock_.NowUtcNs() - offset_ns - delay;
      trust.OnFix(FixAt(gps_time));
      trust.Evaluate();
      clock_.Advance(kS);
    }
  }

  ManualClock clock_;
  KernelClockState kernel_;
  std::function<KernelClockState()> kernel_fn_ = [this] { return kernel_; };
};

TEST_F(ClockTrustTest, GpsTimeWithinOneSecondIsVerified) {
  ClockTrust trust(&clock_, kernel_fn_);
  Feed(trust, 5, 200 * kMs, {100 * kMs});
  ClockStatus status = trust.Evaluate();
  EXPECT_EQ(status.source, TimeSource::kGps);
  EXPECT_TRUE(status.verified) << status.reason;
  ASSERT_TRUE(status.offset_ns);
  EXPECT_EQ(*status.offset_ns, 300 * kMs);
}

TEST_F(ClockTrustTest, OffsetOverOneSecondIsUnverifiedAndSaysBy) {
  ClockTrust trust(&clock_, kernel_fn_);
  Feed(trust, 5, 3 * kS + 210 * kMs, {0});
  ClockStatus status = trust.Evaluate();
  EXPECT_EQ(status.source, TimeSource::kGps);
  EXPECT_FALSE(status.verified);
  EXPECT_EQ(*status.offset_ns, 3 * kS + 210 * kMs);
  EXPECT_NE(status.reason.find("+3.21 s"), std::string::npos) << status.reason;
}

TEST_F(ClockTrustTest, ClockBehindGpsIsCaughtToo) {
  ClockTrust trust(&clock_, kernel_fn_);
  Feed(trust, 3, -2 * kS, {50 * kMs});
  ClockStatus status = trust.Evaluate();
  EXPECT_FALSE(status.verified);
  EXPECT_EQ(*status.offset_ns, -2 * kS + 50 * kMs);
}

TEST_F(ClockTrustTest, DeliveryDelayDoesNotMakeAGoodClockLookBad) {
  // Most fixes arrive 0.9 s late, one in five arrives after 0.1 s: the estimate takes the quick
  // one, so a clock 0.5 s ahead stays verified although most differences are 1.4 s.
  ClockTrust trust(&clock_, kernel_fn_);
  Feed(trust, 10, 500 * kMs, {900 * kMs, 900 * kMs, 900 * kMs, 900 * kMs, 100 * kMs});
  ClockStatus status = trust.Evaluate();
  EXPECT_TRUE(status.verified) << status.reason;
  EXPECT_EQ(*status.offset_ns, 600 * kMs);
}

TEST_F(ClockTrustTest, StaleGpsTimeFallsBackToNtpWhenTheKernelIsSynchronised) {
  ClockTrust trust(&clock_, kernel_fn_);
  Feed(trust, 3, 0, {100 * kMs});
  kernel_.synchronized = true;
  kernel_.max_error_ns = 20 * kMs;
  clock_.Advance(11 * kS);  // no fix for 11 s: GPS time no longer vouches
  ClockStatus status = trust.Evaluate();
  EXPECT_EQ(status.source, TimeSource::kNtp);
  EXPECT_TRUE(status.verified);
  EXPECT_FALSE(status.offset_ns);
}

TEST_F(ClockTrustTest, NoGpsAndNoSynchronisationIsUnverified) {
  ClockTrust trust(&clock_, kernel_fn_);
  ClockStatus status = trust.Evaluate();
  EXPECT_EQ(status.source, TimeSource::kNone);
  EXPECT_FALSE(status.verified);
  EXPECT_NE(status.reason.find("not synchronised"), std::string::npos);
  kernel_.synchronized = true;
  kernel_.max_error_ns = 4 * kS;  // synchronised, but the kernel itself admits 4 s of error
  status = trust.Evaluate();
  EXPECT_EQ(status.source, TimeSource::kNone);
  EXPECT_FALSE(status.verified);
}

TEST_F(ClockTrustTest, FixesWithoutTimeAreIgnored) {
  ClockTrust trust(&clock_, kernel_fn_);
  trust.OnFix(FixAt(0));
  EXPECT_EQ(trust.Evaluate().source, TimeSource::kNone);
}

TEST_F(ClockTrustTest, SpanSummaryReportsTheWorstSourceAndTheLargestOffset) {
  ClockTrust trust(&clock_, kernel_fn_);
  int64_t start = clock_.NowUtcNs();
  Feed(trust, 5, 200 * kMs, {0});
  Feed(trust, 5, -1500 * kMs, {0});  // clock falls 1.5 s behind
  int64_t middle = clock_.NowUtcNs();
  clock_.Advance(15 * kS);  // GPS gone, kernel not synchronised
  trust.Evaluate();
  int64_t end = clock_.NowUtcNs();

  ClockSpan first = trust.SpanSummary(start, start + 4 * kS);
  EXPECT_EQ(first.worst_source, TimeSource::kGps);
  EXPECT_TRUE(first.always_verified);
  EXPECT_EQ(*first.max_offset_ns, 200 * kMs);

  ClockSpan gps_part = trust.SpanSummary(start, middle);
  EXPECT_EQ(gps_part.worst_source, TimeSource::kGps);
  EXPECT_FALSE(gps_part.always_verified);
  EXPECT_EQ(*gps_part.max_offset_ns, -1500 * kMs);

  ClockSpan all = trust.SpanSummary(start, end);
  EXPECT_EQ(all.worst_source, TimeSource::kNone);
  EXPECT_FALSE(all.always_verified);

  ClockSpan nothing = trust.SpanSummary(end + kS, end + 2 * kS);
  EXPECT_EQ(nothing.worst_source, TimeSource::kNone);
  EXPECT_FALSE(nothing.always_verified);
  EXPECT_FALSE(nothing.max_offset_ns);
}

TEST(KernelClockStateTest, ReadsTheMachineClockWithoutPrivilege) {
  // Whatever this machine's state, the call answers and reports a non-negative error bound.
  KernelClockState state = ReadKernelClockState();
  EXPECT_GE(state.max_error_ns, 0);
}

}  // namespace
}  // namespace patrolrec::gps
