#include "storage/segment_name.h"

#include <gtest/gtest.h>

#include "base/clock.h"

namespace patrolrec::storage {
namespace {

TEST(SegmentName, NameShowsDeviceCameraAndUtcStart) {
  SegmentName name{"PR-0001", "cabin-rear", 1795914990LL * base::kNsPerSecond + 250'000'000};
  EXPECT_EQ(FormatSegmentName(name), "PR-0001_cabin-rear_20261129T011630.250Z.mp4");
}

TEST(SegmentName, RoundTrips) {
  SegmentName name{"PR-DEMO-0001", "road", 1795914990LL * base::kNsPerSecond + 7'000'000};
  auto parsed = ParseSegmentName(FormatSegmentName(name));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->device_id, "PR-DEMO-0001");
  EXPECT_EQ(parsed->camera, "road");
  EXPECT_EQ(parsed->start_utc_ns, name.start_utc_ns);
}

TEST(SegmentName, RejectsOtherNames) {
  for (const char* bad : {"", "x.mp4", "PR_road_20261129T011630.250Z.mkv",
                          "PR_Road_20261129T011630.250Z.mp4", "PR_road_20261329T011630.250Z.mp4",
                          "PR_road_x_20261129T011630.250Z.mp4", "PR_road_20261129T011630Z.mp4"}) {
    EXPECT_FALSE(ParseSegmentName(bad).has_value()) << bad;
  }
}

TEST(SegmentName, ValidatesIdentifiers) {
  EXPECT_TRUE(IsValidDeviceId("PR-0001"));
  EXPECT_FALSE(IsValidDeviceId("PR 0001"));
  EXPECT_FALSE(IsValidDeviceId("PR_0001"));
  EXPECT_TRUE(IsValidCameraName("cabin-rear"));
  EXPECT_FALSE(IsValidCameraName("Cabin"));
  EXPECT_FALSE(IsValidCameraName(""));
}

}  // namespace
}  // namespace patrolrec::storage
