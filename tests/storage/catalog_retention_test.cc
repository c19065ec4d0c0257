// Tests of the catalog's retention pass (storage/catalog_retention.h) on a real SQLite catalog:
// it deletes the track points that only evicted segments contained and never one of a segment
// whose video is still on the device, keeps recent points, deletes old events except an
// incident's, drops the parts of finished uploads, and does it in batches of the given size.
#include "storage/catalog_retention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "storage/catalog.h"
#include "tests/storage/eviction_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using evictiontest::kEpochUtcNs;
using evictiontest::kNsPerDayForTests;
using evictiontest::kNsPerMinute;
using evictiontest::MakeSegment;
using evictiontest::VerifyOnServer;
using patrolrec::testing::TempDir;

constexpr int64_t kNsPerSecond = 1'000'000'000;

void AddPointsEverySecond(Catalog& c, int64_t from_utc_ns, int64_t to_utc_ns) {
  for (int64_t t = from_utc_ns; t < to_utc_ns; t += kNsPerSecond) {
    TrackPoint p;
    p.utc_ns = t;
    p.latitude_deg = 48.1;
    p.longitude_deg = 11.5;
    p.mode = 3;
    ASSERT_TRUE(c.InsertTrackPoint(p).ok());
  }
}

size_t PointsIn(Catalog& c, int64_t from_utc_ns, int64_t to_utc_ns) {
  auto points = c.TrackPoints(from_utc_ns, to_utc_ns);
  EXPECT_TRUE(points.ok()) << points.message();
  return points.ok() ? points->size() : 0;
}

void Evict(Catalog& c, const SegmentRecord& s) {
  VerifyOnServer(c, s);
  EvictionRecord e;
  e.file = s.file;
  e.segment_class = "background";
  e.reason = "background past 7 days local retention, verified on the server";
  e.marked_utc_ns = 100;
  ASSERT_TRUE(c.MarkEvicting(e).ok());
  ASSERT_TRUE(c.FinishEviction(s.file, 200).ok());
}

TEST(CatalogRetentionTest, TrackPointsGoOnlyWhenNoSegmentWithItsVideoContainsThem) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok()) << opened.message();
  Catalog& c = **opened;
  const int64_t t0 = kEpochUtcNs;
  // Minute 0: road evicted, cabin kept. Minute 1: road evicted only. Minute 2: no segment at all
  // (points with nothing to belong to). Minute 3: road kept. A day later: road evicted.
  const SegmentRecord road1 = MakeSegment("road", 1, t0);
  const SegmentRecord cabin1 = MakeSegment("cabin", 1, t0);
  const SegmentRecord road2 = MakeSegment("road", 2, t0 + kNsPerMinute);
  const SegmentRecord road3 = MakeSegment("road", 3, t0 + 3 * kNsPerMinute);
  const SegmentRecord road4 = MakeSegment("road", 4, t0 + kNsPerDayForTests);
  for (const auto* s : {&road1, &cabin1, &road2, &road3, &road4}) {
    ASSERT_TRUE(c.InsertSegment(*s).ok());
  }
  Evict(c, road1);
  Evict(c, road2);
  Evict(c, road4);
  AddPointsEverySecond(c, t0, t0 + 4 * kNsPerMinute);
  AddPointsEverySecond(c, t0 + kNsPerDayForTests, t0 + kNsPerDayForTests + kNsPerMinute);
  // A minute of recent points, newer than the guard, belonging to no row yet (being recorded).
  const int64_t now = t0 + 10 * kNsPerDayForTests;
  AddPointsEverySecond(c, now - kNsPerMinute, now);

  CatalogRetentionPolicy policy;
  policy.batch_rows = 50;
  CatalogPruneCursor cursor;
  int callbacks = 0;
  auto result = PruneCatalog(c, policy, now, /*max_batches=*/1000, &cursor, [&] { ++callbacks; });
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_FALSE(result->more);
  EXPECT_EQ(callbacks, result->batches);
  // 60 (minute 1) + 60 (minute 2) + 60 (a day later) deleted, in windows of about 50 points.
  EXPECT_EQ(result->track_points, 180);
  EXPECT_GE(result->batches, 300 / 50);

  EXPECT_EQ(PointsIn(c, t0, t0 + kNsPerMinute), 60u);  // cabin1 still has its video
  EXPECT_EQ(PointsIn(c, t0 + kNsPerMinute, t0 + 3 * kNsPerMinute), 0u);
  EXPECT_EQ(PointsIn(c, t0 + 3 * kNsPerMinute, t0 + 4 * kNsPerMinute), 60u);  // road3 kept
  EXPECT_EQ(PointsIn(c, t0 + kNsPerDayForTests, t0 + 2 * kNsPerDayForTests), 0u);
  EXPECT_EQ(PointsIn(c, now - kNsPerMinute, now), 60u);  // within the guard
  // Every kept segment's track is whole: the rule holds for each, not on a total.
  for (const auto* s : {&cabin1, &road3}) {
    EXPECT_EQ(PointsIn(c, s->start_utc_ns, s->end_utc_ns), 60u) << s->file;
  }

  // A second pass finds nothing more: the kept points are scanned, never deleted.
  auto again = PruneCatalog(c, policy, now, 1000, &cursor);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->total(), 0);
  EXPECT_EQ(PointsIn(c, t0, now), 180u);
}

TEST(CatalogRetentionTest, StopsAfterMaxBatchesAndResumesFromItsCursor) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok()) << opened.message();
  Catalog& c = **opened;
  AddPointsEverySecond(c, kEpochUtcNs, kEpochUtcNs + 10 * kNsPerMinute);  // no segment: all go
  const int64_t now = kEpochUtcNs + 10 * kNsPerDayForTests;
  CatalogRetentionPolicy policy;
  policy.batch_rows = 100;
  CatalogPruneCursor cursor;
  auto first = PruneCatalog(c, policy, now, /*max_batches=*/5, &cursor);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_TRUE(first->more);
  EXPECT_EQ(first->batches, 5);
  EXPECT_LE(first->track_points, 2 * 100);  // 3 batches on events and uploads, 2 on points
  EXPECT_GT(first->track_points, 0);
  EXPECT_EQ(PointsIn(c, 0, now), 600u - static_cast<size_t>(first->track_points));
  auto rest = PruneCatalog(c, policy, now, 1000, &cursor);
  ASSERT_TRUE(rest.ok()) << rest.message();
  EXPECT_FALSE(rest->more);
  EXPECT_EQ(PointsIn(c, 0, now), 0u);
}

TEST(CatalogRetentionTest, OldEventsGoExceptAnIncidentsAndFinishedUploadsLoseTheirParts) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok()) << opened.message();
  Catalog& c = **opened;
  const int64_t t0 = kEpochUtcNs;
  const int64_t now = t0 + 400 * kNsPerDayForTests;
  IncidentRecord incident;
  incident.id = "PR-0001-20261101T000000.000Z";
  incident.trigger = "record-button";
  incident.trigger_utc_ns = t0 + 10 * kNsPerMinute;
  incident.pre_event_s = 120;
  incident.post_event_s = 30;
  incident.phase = IncidentPhase::kClosed;
  incident.closed_utc_ns = t0 + 20 * kNsPerMinute;
  incident.close_kind = "handover";
  incident.close_reason = "handed over";
  ASSERT_TRUE(c.SaveIncident(incident, {}).ok());
  ASSERT_TRUE(c.AddEvent({t0, "camera-error", "road", "", "old, no incident"}).ok());
  ASSERT_TRUE(c.AddEvent({t0 + 9 * kNsPerMinute, "camera-error", "road", "",
                          "in the "
                          "incident's pre-event range"})
                  .ok());
  ASSERT_TRUE(c.AddEvent({now - kNsPerDayForTests, "camera-error", "road", "", "recent"}).ok());

  UploadRecord u;
  u.file = "segments/road/x.mp4";
  u.bucket = "patrolrec";
  u.key = "PR-0001/road/x.mp4";
  u.upload_id = "id-1";
  u.part_size = 5 * 1024 * 1024;
  u.size = 12 * 1024 * 1024;
  u.sha256_hex = std::string(64, 'a');
  u.started_utc_ns = t0;
  auto done = c.BeginUpload(u);
  ASSERT_TRUE(done.ok()) << done.message();
  u.key = "PR-0001/road/y.mp4";
  u.file = "segments/road/y.mp4";
  u.upload_id = "id-2";
  auto live = c.BeginUpload(u);
  ASSERT_TRUE(live.ok()) << live.message();
  for (int64_t id : {*done, *live}) {
    for (int n = 1; n <= 3; ++n) {
      ASSERT_TRUE(
          c.AddUploadPart(id, {n, 5, "etag", std::string(32, 'b'), std::string(64, 'c'), t0}).ok());
    }
  }
  ASSERT_TRUE(c.MarkUploadCompleted(*done, "etag-3", t0 + 1).ok());
  ASSERT_TRUE(c.MarkUploadVerified(*done, "COMPLIANCE until 2027-06-01T00:00:00Z", t0 + 2).ok());

  auto result = PruneCatalog(c, CatalogRetentionPolicy{}, now, 1000, nullptr);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->events, 1);
  EXPECT_EQ(result->upload_parts, 3);
  auto events = c.Events();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].detail, "in the incident's pre-event range");
  EXPECT_EQ((*events)[0].id, 2);  // ids stay as they were: the uplink's alert cursor uses them
  EXPECT_EQ((*events)[1].detail, "recent");
  auto uploads = c.Uploads();
  ASSERT_TRUE(uploads.ok());
  ASSERT_EQ(uploads->size(), 2u);  // the verified row stays: the uplink would send it again
  EXPECT_TRUE((*uploads)[0].parts.empty());
  EXPECT_EQ((*uploads)[1].parts.size(), 3u);  // still uploading: its parts resume it
}

}  // namespace
}  // namespace patrolrec::storage
