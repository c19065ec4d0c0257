// Tests of the catalog's upload tables (schema version 4): the upgrade from version 3 keeps every
// row, uploads and their parts round-trip, a row only moves forward, and an object has at most
// one live upload.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "storage/catalog.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using patrolrec::testing::TempDir;
using ::testing::HasSubstr;

UploadRecord MakeUpload(const std::string& key) {
  UploadRecord u;
  u.file = "segments/road/" + key + ".mp4";
  u.bucket = "patrolrec-evidence";
  u.key = "PR-0001/road/" + key + ".mp4";
  u.upload_id = "2~" + key;
  u.part_size = 5 * 1024 * 1024;
  u.size = 12 * 1024 * 1024;
  u.sha256_hex = std::string(64, 'a');
  u.retention = RetentionClass::kPermanent;
  u.started_utc_ns = 1'795'000'000'000'000'000;
  return u;
}

UploadPartRecord MakePart(int number, char digit) {
  return {number,
          5 * 1024 * 1024,
          std::string(32, digit),
          std::string(32, digit),
          std::string(64, digit),
          1'795'000'001'000'000'000 + number};
}

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(CatalogUploadTest, UpgradeFromVersionThreeKeepsRowsAndAddsUploadTables) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    ASSERT_TRUE((*catalog)->AddEvent({5, "segment-missing", "road", "x.mp4", "gone"}).ok());
  }
  // A version 3 file: steps 4 to 6 only add tables and indexes, so removing them and the
  // version number gives exactly what a version 3 build left.
  Sql(path,
      "DROP TABLE export_request; DROP TABLE IF EXISTS interruption; DROP TABLE IF EXISTS selfcheck_item; "
      "DROP TABLE IF EXISTS selfcheck_run; DROP TABLE IF EXISTS health_event; "
      "DROP TABLE IF EXISTS eviction; DROP TABLE upload_part; DROP TABLE upload; "
      "DROP INDEX segment_local; ALTER TABLE segment DROP COLUMN evicted; "
      "PRAGMA user_version = 3;");
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
  auto events = (*catalog)->Events();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].detail, "gone");
  EXPECT_TRUE((*catalog)->BeginUpload(MakeUpload("a")).ok());
}

TEST(CatalogUploadTest, UploadAndPartsRoundTripThroughVerification) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  auto id = c.BeginUpload(MakeUpload("a"));
  ASSERT_TRUE(id.ok()) << id.message();
  ASSERT_TRUE(c.AddUploadPart(*id, MakePart(2, 'b')).ok());
  ASSERT_TRUE(c.AddUploadPart(*id, MakePart(1, 'c')).ok());
  ASSERT_TRUE(c.AddUploadPart(*id, MakePart(1, 'd')).ok());  // sent again: replaces
  auto found = c.FindLiveUpload("patrolrec-evidence", "PR-0001/road/a.mp4");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.message();
  EXPECT_EQ((*found)->upload_id, "2~a");
  EXPECT_EQ((*found)->state, UploadState::kUploading);
  EXPECT_EQ((*found)->retention, RetentionClass::kPermanent);
  ASSERT_EQ((*found)->parts.size(), 2u);
  EXPECT_EQ((*found)->parts[0].number, 1);
  EXPECT_EQ((*found)->parts[0].md5_hex, std::string(32, 'd'));
  EXPECT_EQ((*found)->parts[1].number, 2);

  ASSERT_TRUE(c.MarkUploadCompleted(*id, "abc-2", 7).ok());
  ASSERT_TRUE(c.MarkUploadVerified(*id, "legal hold ON", 8).ok());
  auto by_id = c.FindUploadById("2~a");
  ASSERT_TRUE(by_id.ok() && by_id->has_value());
  EXPECT_EQ((*by_id)->state, UploadState::kVerified);
  EXPECT_EQ((*by_id)->remote_etag, "abc-2");
  EXPECT_EQ((*by_id)->retention_result, "legal hold ON");
  EXPECT_EQ((*by_id)->completed_utc_ns, 7);
  EXPECT_EQ((*by_id)->verified_utc_ns, 8);
}

TEST(CatalogUploadTest, StatesOnlyMoveForward) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  auto id = c.BeginUpload(MakeUpload("a"));
  ASSERT_TRUE(id.ok());
  base::Status verified = c.MarkUploadVerified(*id, "legal hold ON", 8);
  EXPECT_FALSE(verified.ok());
  EXPECT_THAT(verified.message(), HasSubstr("it is uploading"));
  ASSERT_TRUE(c.MarkUploadAborted(*id, "NoSuchUpload").ok());
  EXPECT_THAT(c.MarkUploadCompleted(*id, "x", 9).message(), HasSubstr("it is aborted"));
  EXPECT_THAT(c.MarkUploadAborted(12345, "x").message(), HasSubstr("no such upload"));
  EXPECT_FALSE(c.AddUploadPart(12345, MakePart(1, 'a')).ok());  // foreign key
}

TEST(CatalogUploadTest, AnObjectHasOneLiveUploadAndAbortedRowsAreKept) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  auto first = c.BeginUpload(MakeUpload("a"));
  ASSERT_TRUE(first.ok());
  UploadRecord again = MakeUpload("a");
  again.upload_id = "2~second";
  auto refused = c.BeginUpload(again);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("already has a live upload (2~a, uploading)"));
  ASSERT_TRUE(c.MarkUploadAborted(*first, "the server forgot it").ok());
  auto second = c.BeginUpload(again);
  ASSERT_TRUE(second.ok()) << second.message();
  auto all = c.Uploads();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].state, UploadState::kAborted);
  EXPECT_EQ((*all)[0].detail, "the server forgot it");
  auto live = c.FindLiveUpload(again.bucket, again.key);
  ASSERT_TRUE(live.ok() && live->has_value());
  EXPECT_EQ((*live)->upload_id, "2~second");
}

}  // namespace
}  // namespace patrolrec::storage
