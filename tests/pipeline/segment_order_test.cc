#include "pipeline/segment_order.h"

#include <gtest/gtest.h>

namespace patrolrec::pipeline {
namespace {

SegmentOpened File(const std::string& path) { return {"road", path, 0}; }

TEST(SegmentOrder, NewerFileFinishedFirstIsHeldUntilTheOlderOneIsReported) {
  // At stop, the short last file can be finalised before the previous one, which splitmuxsink
  // (async-finalize) is still finishing: the seals must still follow opening order.
  SegmentOrder order;
  order.Add(File("a.mp4"));
  order.Add(File("b.mp4"));
  EXPECT_TRUE(order.MarkClosed("b.mp4").empty());
  auto ready = order.MarkClosed("a.mp4");
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0].path, "a.mp4");
  EXPECT_EQ(ready[1].path, "b.mp4");
  EXPECT_TRUE(order.empty());
}

TEST(SegmentOrder, TakeAllKeepsOrderAndSaysWhichWereFinalised) {
  SegmentOrder order;
  order.Add(File("a.mp4"));
  order.Add(File("b.mp4"));
  order.Add(File("c.mp4"));
  EXPECT_TRUE(order.MarkClosed("b.mp4").empty());
  auto all = order.TakeAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].first.path, "a.mp4");
  EXPECT_FALSE(all[0].second);
  EXPECT_EQ(all[1].first.path, "b.mp4");
  EXPECT_TRUE(all[1].second);
  EXPECT_FALSE(all[2].second);
  EXPECT_TRUE(order.empty());
}

TEST(SegmentOrder, UnknownPathsChangeNothing) {
  SegmentOrder order;
  order.Add(File("a.mp4"));
  EXPECT_TRUE(order.MarkClosed("x.mp4").empty());
  EXPECT_FALSE(order.Find("x.mp4").has_value());
  EXPECT_TRUE(order.Find("a.mp4").has_value());
  EXPECT_FALSE(order.empty());
}

}  // namespace
}  // namespace patrolrec::pipeline
