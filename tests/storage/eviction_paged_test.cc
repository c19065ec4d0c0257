// The eviction planner on a real catalog, a page at a time (storage/eviction.h, schema 8's
// segment.evicted and segment_local): it plans exactly what the pure planner plans from the whole
// catalog, stops early only once its candidates cover its budget, never reads an evicted or
// missing segment, and a version 7 catalog upgrades with its evicted segments marked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <random>

#include "storage/eviction.h"
#include "tests/storage/eviction_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using evictiontest::kEpochUtcNs;
using evictiontest::kNsPerDayForTests;
using evictiontest::kNsPerMinute;
using evictiontest::MakeSegment;
using evictiontest::VerifyOnServer;

constexpr int64_t kDay = kNsPerDayForTests;

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}
constexpr int64_t kNow = kEpochUtcNs + 40 * kDay;

std::vector<std::string> Files(const EvictionPlan& plan) {
  std::vector<std::string> files;
  for (const EvictionCandidate& c : plan.candidates) files.push_back(c.segment.file);
  return files;
}

IncidentRecord Closed(const std::string& id, int64_t trigger_utc_ns, int64_t closed_utc_ns) {
  IncidentRecord incident;
  incident.id = id;
  incident.trigger = "dispatch";
  incident.trigger_utc_ns = trigger_utc_ns;
  incident.pre_event_s = 120;
  incident.post_event_s = 30;
  incident.closed_utc_ns = closed_utc_ns;
  incident.phase = IncidentPhase::kClosed;
  incident.close_kind = "handover";
  return incident;
}

class PagedEvictionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = Catalog::Open(dir_.path() + "/catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
  }

  // Two cameras, a segment a minute for `minutes` ending `end_utc_ns`, in a shuffled insert
  // order; most verified on the server, some not, some missing; two incidents.
  void Fill(int minutes, int64_t end_utc_ns) {
    std::vector<SegmentRecord> all;
    for (const char* camera : {"road", "cabin-rear"}) {
      for (int i = 0; i < minutes; ++i) {
        all.push_back(MakeSegment(camera, i + 1, end_utc_ns - (minutes - i) * kNsPerMinute,
                                  (5 + i % 7) * 1024 * 1024));
      }
    }
    std::mt19937 random(7);
    std::shuffle(all.begin(), all.end(), random);
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_TRUE(catalog_->InsertSegment(all[i]).ok());
      if (i % 11 != 0) VerifyOnServer(*catalog_, all[i]);
      if (i % 29 == 0) {
        ASSERT_TRUE(catalog_->MarkMissing(all[i].file, kNow).ok());
      }
    }
    const int64_t begin = end_utc_ns - minutes * kNsPerMinute;
    ASSERT_TRUE(
        catalog_
            ->SaveIncident(Closed("i1", begin + 30 * kNsPerMinute, begin + 90 * kNsPerMinute), {})
            .ok());
    ASSERT_TRUE(
        catalog_
            ->SaveIncident(
                Closed("i2", end_utc_ns - 5 * kDay, end_utc_ns - 5 * kDay + 40 * kNsPerMinute), {})
            .ok());
  }

  // What the pure planner plans from the whole catalog.
  EvictionPlan Whole(const EvictionPolicy& policy) {
    EvictionInputs in;
    in.now_utc_ns = kNow;
    in.segments = catalog_->Segments().value();
    in.evictions = catalog_->Evictions().value();
    in.incidents = catalog_->Incidents().value();
    in.server_copies = catalog_->ServerCopies().value();
    return PlanEvictions(in, policy);
  }

  patrolrec::testing::TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(PagedEvictionTest, PlansWhatThePurePlannerPlansOverManyPages) {
  // A minute each over 1.5 days, two cameras: 4320 segments, 17 pages.
  Fill(36 * 60, kNow - 6 * kDay);
  EvictionPolicy policy;
  policy.background_retention_days = 7;
  auto paged = PlanEvictions(*catalog_, policy, kNow);
  ASSERT_TRUE(paged.ok()) << paged.message();
  const EvictionPlan whole = Whole(policy);
  EXPECT_TRUE(paged->complete);
  EXPECT_EQ(Files(*paged), Files(whole));
  EXPECT_EQ(paged->evictable_background_bytes, whole.evictable_background_bytes);
  EXPECT_EQ(paged->evictable_evidence_bytes, whole.evictable_evidence_bytes);
  EXPECT_EQ(paged->waiting_for_upload_bytes, whole.waiting_for_upload_bytes);
  EXPECT_EQ(paged->evidence_kept_bytes, whole.evidence_kept_bytes);
  EXPECT_EQ(paged->recent_bytes, whole.recent_bytes);
  EXPECT_GT(whole.candidates.size(), 3000u);
  EXPECT_GT(whole.waiting_for_upload_bytes, 0);
}

TEST_F(PagedEvictionTest, ABudgetStopsEarlyWithTheSameFirstCandidates) {
  Fill(36 * 60, kNow - 6 * kDay);
  EvictionPolicy policy;
  const EvictionPlan whole = Whole(policy);
  for (int64_t budget : {int64_t{1}, int64_t{300} << 20, int64_t{3} << 30}) {
    auto paged = PlanEvictions(*catalog_, policy, kNow, budget);
    ASSERT_TRUE(paged.ok()) << paged.message();
    EXPECT_FALSE(paged->complete) << budget;
    EXPECT_LT(paged->candidates.size(), whole.candidates.size()) << budget;
    // The candidates that cover the budget are the whole plan's first ones, in its order.
    int64_t covered = 0;
    size_t n = 0;
    while (covered < budget) {
      ASSERT_LT(n, paged->candidates.size()) << budget;
      EXPECT_EQ(paged->candidates[n].segment.file, whole.candidates[n].segment.file) << n;
      covered += paged->candidates[n++].segment.bytes;
    }
  }
  // More than everything: the whole disk is read.
  auto all = PlanEvictions(*catalog_, policy, kNow, int64_t{1} << 50);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->complete);
  EXPECT_EQ(Files(*all), Files(whole));
}

TEST_F(PagedEvictionTest, EvictedAndMissingSegmentsAreNeverReadAndMarkingOneTakesItOut) {
  Fill(600, kNow - 10 * kDay);
  auto first = catalog_->LocalSegments(LocalSegmentCursor{}, 1000000);
  ASSERT_TRUE(first.ok()) << first.message();
  const size_t local = first->size();
  EXPECT_EQ(local, 1200u - (1200u + 28) / 29);  // the missing ones are not on the disk
  for (const LocalSegment& s : *first) EXPECT_NE(s.segment.state, SegmentState::kMissing);
  for (size_t i = 1; i < first->size(); ++i) {
    EXPECT_LE((*first)[i - 1].segment.start_utc_ns, (*first)[i].segment.start_utc_ns);
  }
  auto plan = PlanEvictions(*catalog_, EvictionPolicy{}, kNow);
  ASSERT_TRUE(plan.ok());
  const EvictionCandidate& c = plan->candidates.front();
  EvictionRecord e{c.segment.file, c.segment.camera, c.segment_class, c.reason, 0, "", kNow, 0};
  ASSERT_TRUE(catalog_->MarkEvicting(e, false).ok());
  auto after = catalog_->LocalSegments(LocalSegmentCursor{}, 1000000);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), local - 1);
  for (const LocalSegment& s : *after) EXPECT_NE(s.segment.file, c.segment.file);
}

TEST(CatalogLocalSegmentsTest, UpgradeFromVersionSevenMarksTheEvictedSegments) {
  patrolrec::testing::TempDir dir;
  const std::string path = dir.path() + "/catalog.sqlite";
  const SegmentRecord kept = MakeSegment("road", 1, kNow - 20 * kDay);
  const SegmentRecord gone = MakeSegment("road", 2, kNow - 19 * kDay);
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    ASSERT_TRUE((*catalog)->InsertSegment(kept).ok());
    ASSERT_TRUE((*catalog)->InsertSegment(gone).ok());
  }
  // A version 7 file that had evicted `gone`: the eviction row without the column.
  Sql(path,
      "DROP TABLE export_request; DROP INDEX segment_local; ALTER TABLE segment DROP COLUMN evicted; "
      "INSERT INTO eviction (file, camera, class, reason, bytes, server_copy, "
      "marked_utc_ns, removed_utc_ns) VALUES ('" +
          gone.file +
          "', 'road', 'background', 'background past 7 days local retention', 1, "
          "'copy', 5, 6); PRAGMA user_version = 7;");
  {
    auto old = Catalog::OpenReadOnly(path);
    ASSERT_TRUE(old.ok()) << old.message();
    EXPECT_EQ((*old)->schema_version(), 7);
    auto refused = (*old)->LocalSegments(LocalSegmentCursor{}, 10);
    EXPECT_FALSE(refused.ok());
    EXPECT_THAT(refused.message(), ::testing::HasSubstr("needs schema version 8"));
  }
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
  auto local = (*catalog)->LocalSegments(LocalSegmentCursor{}, 10);
  ASSERT_TRUE(local.ok()) << local.message();
  ASSERT_EQ(local->size(), 1u);
  EXPECT_EQ(local->front().segment.file, kept.file);
  auto segments = (*catalog)->Segments();
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(segments->size(), 2u);  // the row itself stays
}

}  // namespace
}  // namespace patrolrec::storage
