// Tests of the catalog's eviction table (schema version 5) and of the query that says which
// segments the server holds a verified copy of: the upgrade from version 4 keeps every row, a
// segment counts as verified only when its video, seal and track all are, and no eviction row
// is ever written for a segment without a verified server copy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "storage/catalog.h"
#include "tests/storage/eviction_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using patrolrec::testing::TempDir;
using evictiontest::MakeSegment;
using evictiontest::ServerFiles;
using evictiontest::VerifyOnServer;
using ::testing::HasSubstr;

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

EvictionRecord Eviction(const SegmentRecord& s) {
  EvictionRecord e;
  e.file = s.file;
  e.segment_class = "background";
  e.reason = "background past 7 days local retention, verified on the server";
  e.marked_utc_ns = 100;
  return e;
}

TEST(CatalogEvictionTest, UpgradeFromVersionFourKeepsRowsAndAddsTheEvictionTable) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  const SegmentRecord s = MakeSegment("road", 1, evictiontest::kEpochUtcNs);
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    ASSERT_TRUE((*catalog)->InsertSegment(s).ok());
    VerifyOnServer(**catalog, s);
  }
  // A version 4 file: steps 5 and 6 only add tables and indexes, so removing them and the
  // version number gives exactly what a version 4 build left.
  Sql(path,
      "DROP TABLE export_request; DROP TABLE IF EXISTS interruption; DROP TABLE selfcheck_item; DROP TABLE selfcheck_run; "
      "DROP TABLE health_event; DROP TABLE eviction; DROP INDEX upload_by_file; "
      "DROP INDEX segment_local; ALTER TABLE segment DROP COLUMN evicted; "
      "PRAGMA user_version = 4;");
  {
    auto old = Catalog::OpenReadOnly(path);
    ASSERT_TRUE(old.ok()) << old.message();
    EXPECT_EQ((*old)->schema_version(), 4);
    auto none = (*old)->Evictions();  // a version 4 catalog has none, and reading it is no error
    ASSERT_TRUE(none.ok()) << none.message();
    EXPECT_TRUE(none->empty());
  }
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
  auto rows = (*catalog)->Segments();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  auto uploads = (*catalog)->Uploads();
  ASSERT_TRUE(uploads.ok());
  EXPECT_EQ(uploads->size(), 3u);
  ASSERT_TRUE((*catalog)->MarkEvicting(Eviction(s)).ok());
}

TEST(CatalogEvictionTest, ASegmentIsVerifiedOnTheServerOnlyWhenVideoSealAndTrackAre) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  Catalog& c = **opened;
  std::vector<SegmentRecord> s;
  for (int i = 1; i <= 6; ++i) {
    s.push_back(
        MakeSegment("road", i, evictiontest::kEpochUtcNs + i * evictiontest::kNsPerMinute));
    ASSERT_TRUE(c.InsertSegment(s.back()).ok());
  }
  VerifyOnServer(c, s[0]);                                         // all three: verified
  VerifyOnServer(c, s[1], RetentionClass::kOrdinary, "x", {.video = false});  // no video
  VerifyOnServer(c, s[2], RetentionClass::kOrdinary, "x", {.seal = false});   // no seal
  VerifyOnServer(c, s[3], RetentionClass::kOrdinary, "x", {.track = false});  // no track
  // Video uploaded but only completed, not read back: not verified.
  evictiontest::UploadFile(c, s[4].file, s[4].sha256_hex, RetentionClass::kOrdinary, "", false);
  VerifyOnServer(c, s[4], RetentionClass::kOrdinary, "x", {.video = false});
  // A verified upload of other bytes than the sealed ones does not count.
  evictiontest::UploadFile(c, s[5].file, std::string(64, 'f'), RetentionClass::kOrdinary, "x");
  VerifyOnServer(c, s[5], RetentionClass::kOrdinary, "x", {.video = false});

  auto copies = c.ServerCopies();
  ASSERT_TRUE(copies.ok()) << copies.message();
  ASSERT_EQ(copies->size(), 1u);
  EXPECT_EQ((*copies)[0].file, s[0].file);
  EXPECT_EQ((*copies)[0].retention_result, "COMPLIANCE until 2027-06-01T00:00:00Z");
  EXPECT_THAT((*copies)[0].description, HasSubstr("patrolrec/PR-0001/road/"));
  EXPECT_THAT((*copies)[0].description, HasSubstr(".mp4.seal"));
  EXPECT_THAT((*copies)[0].description, HasSubstr(".mp4.gpx verified"));
  for (size_t i = 1; i < s.size(); ++i) {
    auto one = c.FindServerCopy(s[i].file);
    ASSERT_TRUE(one.ok());
    EXPECT_FALSE(one->has_value()) << s[i].file;
  }
  auto first = c.FindServerCopy(s[0].file);
  ASSERT_TRUE(first.ok() && first->has_value());
}

TEST(CatalogEvictionTest, MarkEvictingRefusesASegmentWithoutAVerifiedServerCopy) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  Catalog& c = **opened;
  const SegmentRecord s = MakeSegment("cabin-rear", 1, evictiontest::kEpochUtcNs);
  ASSERT_TRUE(c.InsertSegment(s).ok());
  VerifyOnServer(c, s, RetentionClass::kPermanent, "legal hold ON", {.track = false});
  base::Status refused = c.MarkEvicting(Eviction(s));
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("no verified copy"));
  EXPECT_THAT(refused.message(), HasSubstr("R9"));
  auto none = c.Evictions();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  EXPECT_THAT(c.MarkEvicting(Eviction(MakeSegment("road", 9, 1))).message(),
              HasSubstr("no such segment"));
  EvictionRecord bad = Eviction(s);
  bad.segment_class = "other";
  EXPECT_FALSE(c.MarkEvicting(bad).ok());
}

TEST(CatalogEvictionTest, AnEvictionIsMarkedThenFinalisedOnceAndNeverTwice) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  Catalog& c = **opened;
  const SegmentRecord s = MakeSegment("road", 1, evictiontest::kEpochUtcNs);
  ASSERT_TRUE(c.InsertSegment(s).ok());
  VerifyOnServer(c, s);
  ASSERT_TRUE(c.MarkEvicting(Eviction(s)).ok());
  EXPECT_THAT(c.MarkEvicting(Eviction(s)).message(), HasSubstr("already evicted"));

  auto unfinished = c.Evictions(/*unfinished_only=*/true);
  ASSERT_TRUE(unfinished.ok());
  ASSERT_EQ(unfinished->size(), 1u);
  const EvictionRecord& e = (*unfinished)[0];
  EXPECT_EQ(e.camera, "road");
  EXPECT_EQ(e.bytes, s.bytes);
  EXPECT_FALSE(e.finished());
  EXPECT_THAT(e.server_copy, HasSubstr("COMPLIANCE until"));  // the catalog's, not the caller's

  ASSERT_TRUE(c.FinishEviction(s.file, 200).ok());
  ASSERT_TRUE(c.FinishEviction(s.file, 300).ok());  // recovery may re-run: keeps the first time
  auto found = c.FindEviction(s.file);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->removed_utc_ns, 200);
  auto left = c.Evictions(/*unfinished_only=*/true);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  EXPECT_THAT(c.FinishEviction("segments/road/other.mp4", 1).message(),
              HasSubstr("never marked"));
  // The segment row itself is unchanged.
  auto row = c.FindByFile(s.file);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->state, SegmentState::kSealed);
}

}  // namespace
}  // namespace patrolrec::storage
