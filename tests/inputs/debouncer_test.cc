// The Debouncer on made-up times: bounce trains, glitches, exactly-at-threshold, late
// observations, debounce 0.
#include "inputs/debouncer.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace patrolrec::inputs {
namespace {

constexpr int64_t kMs = 1'000'000;
using Change = Debouncer::Change;

// Feeds (level, time) pairs, polling every millisecond in between as a timer would, and returns
// every change reported.
std::vector<Change> Replay(Debouncer& debouncer, const std::vector<std::pair<bool, int64_t>>& edges,
                           int64_t until_ns) {
  std::vector<Change> changes;
  size_t next = 0;
  for (int64_t t = 0; t <= until_ns; t += kMs) {
    while (next < edges.size() && edges[next].second <= t) {
      if (auto c = debouncer.Observe(edges[next].first, edges[next].second)) changes.push_back(*c);
      ++next;
    }
    if (auto c = debouncer.Poll(t)) changes.push_back(*c);
  }
  return changes;
}

TEST(DebouncerTest, ReportsALevelThatHoldsForTheDebounceTime) {
  Debouncer debouncer(50 * kMs);
  debouncer.Reset(false, 0);
  EXPECT_EQ(debouncer.Observe(true, 10 * kMs), std::nullopt);
  EXPECT_EQ(debouncer.deadline_ns(), 60 * kMs);
  EXPECT_EQ(debouncer.Poll(59 * kMs), std::nullopt);
  EXPECT_EQ(debouncer.Poll(60 * kMs), (Change{true, 10 * kMs}));  // exactly at the threshold
  EXPECT_EQ(debouncer.Poll(61 * kMs), std::nullopt);              // reported once
  EXPECT_EQ(debouncer.deadline_ns(), std::nullopt);
  EXPECT_TRUE(debouncer.stable_level());
}

TEST(DebouncerTest, OneNanosecondShortOfTheThresholdIsNotEnough) {
  Debouncer debouncer(50 * kMs);
  debouncer.Reset(false, 0);
  debouncer.Observe(true, 0);
  EXPECT_EQ(debouncer.Poll(50 * kMs - 1), std::nullopt);
  EXPECT_EQ(debouncer.Observe(false, 50 * kMs - 1), std::nullopt);  // gone just before
  EXPECT_EQ(debouncer.Poll(500 * kMs), std::nullopt);
  EXPECT_FALSE(debouncer.stable_level());
}

TEST(DebouncerTest, SwallowsGlitchesShorterThanTheDebounceTime) {
  for (int64_t glitch_ms : {1, 10, 49}) {
    Debouncer debouncer(50 * kMs);
    debouncer.Reset(false, 0);
    auto changes =
        Replay(debouncer, {{true, 100 * kMs}, {false, (100 + glitch_ms) * kMs}}, 1000 * kMs);
    EXPECT_TRUE(changes.empty()) << glitch_ms << " ms glitch";
  }
}

TEST(DebouncerTest, ABounceTrainGivesOneChangeDatedFromItsLastEdge) {
  Debouncer debouncer(20 * kMs);
  debouncer.Reset(false, 0);
  // A relay closing: five bounces 3 ms apart, then closed for good at 112 ms.
  std::vector<std::pair<bool, int64_t>> edges;
  for (int i = 0; i < 5; ++i) {
    edges.push_back({true, (100 + 3 * i) * kMs});
    edges.push_back({false, (101 + 3 * i) * kMs});
  }
  edges.push_back({true, 115 * kMs});
  auto changes = Replay(debouncer, edges, 1000 * kMs);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], (Change{true, 115 * kMs}));
}

TEST(DebouncerTest, BouncesOnOpeningAndClosingGiveOnePressAndOneRelease) {
  Debouncer debouncer(30 * kMs);
  debouncer.Reset(false, 0);
  auto changes = Replay(debouncer,
                        {{true, 100 * kMs},
                         {false, 102 * kMs},
                         {true, 104 * kMs},  // press
                         {false, 500 * kMs},
                         {true, 501 * kMs},
                         {false, 503 * kMs}},  // release
                        1000 * kMs);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], (Change{true, 104 * kMs}));
  EXPECT_EQ(changes[1], (Change{false, 503 * kMs}));
}

TEST(DebouncerTest, RepeatedSameLevelDoesNotRestartTheRun) {
  Debouncer debouncer(50 * kMs);
  debouncer.Reset(false, 0);
  debouncer.Observe(true, 0);
  debouncer.Observe(true, 30 * kMs);  // a confirming read, or a duplicated edge
  EXPECT_EQ(debouncer.Poll(50 * kMs), (Change{true, 0}));
}

TEST(DebouncerTest, ALateObservationDoesNotSwallowACompletedChange) {
  // The timer did not run (a busy loop); the next edge arrives after the level had held.
  Debouncer debouncer(50 * kMs);
  debouncer.Reset(false, 0);
  debouncer.Observe(true, 0);
  EXPECT_EQ(debouncer.Observe(false, 80 * kMs), (Change{true, 0}));
  EXPECT_EQ(debouncer.deadline_ns(), 130 * kMs);
  EXPECT_EQ(debouncer.Poll(130 * kMs), (Change{false, 80 * kMs}));
}

TEST(DebouncerTest, AGlitchBackToTheStableLevelCancelsThePendingChange) {
  Debouncer debouncer(50 * kMs);
  debouncer.Reset(true, 0);
  debouncer.Observe(false, 10 * kMs);
  debouncer.Observe(true, 20 * kMs);
  EXPECT_EQ(debouncer.deadline_ns(), std::nullopt);
  EXPECT_EQ(debouncer.Poll(1000 * kMs), std::nullopt);
  EXPECT_TRUE(debouncer.stable_level());
}

TEST(DebouncerTest, ZeroDebounceReportsEveryChangeAtOnce) {
  for (int64_t debounce : {int64_t{0}, int64_t{-5}}) {
    Debouncer debouncer(debounce);
    debouncer.Reset(false, 0);
    EXPECT_EQ(debouncer.Observe(true, 1), (Change{true, 1}));
    EXPECT_EQ(debouncer.Observe(false, 2), (Change{false, 2}));
    EXPECT_EQ(debouncer.Observe(false, 3), std::nullopt);
  }
}

TEST(DebouncerTest, TimeGoingBackwardsIsTakenAsNoTimePassing) {
  Debouncer debouncer(50 * kMs);
  debouncer.Reset(false, 100 * kMs);
  debouncer.Observe(true, 40 * kMs);  // earlier than Reset: treated as 100 ms
  EXPECT_EQ(debouncer.Poll(149 * kMs), std::nullopt);
  EXPECT_EQ(debouncer.Poll(150 * kMs), (Change{true, 100 * kMs}));
}

TEST(DebouncerTest, ExhaustiveShortPulseTrainsNeverReportAnything) {
  // Every pattern of 8 one-millisecond slots after the stable low level, then low for good: no
  // high run reaches 10 ms, so nothing may ever be reported.
  for (int pattern = 0; pattern < 256; ++pattern) {
    Debouncer debouncer(10 * kMs);
    debouncer.Reset(false, 0);
    std::vector<std::pair<bool, int64_t>> edges;
    for (int slot = 0; slot < 8; ++slot)
      edges.push_back({((pattern >> slot) & 1) != 0, slot * kMs});
    edges.push_back({false, 8 * kMs});
    EXPECT_TRUE(Replay(debouncer, edges, 100 * kMs).empty()) << pattern;
  }
}

}  // namespace
}  // namespace patrolrec::inputs
