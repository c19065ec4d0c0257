// Tests of the catalog's health history (schema version 6): the upgrade from version 5 keeps
// every row and adds the tables, a self-check run comes back with every item in order, the CHECK
// constraints refuse a result or trigger outside the contract, and pruning by age deletes in
// batches, oldest first, runs together with their items.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "storage/catalog.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using patrolrec::testing::TempDir;

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

SelfCheckRecord MakeRun(int64_t utc_ns, const std::string& overall) {
  SelfCheckRecord run;
  run.utc_ns = utc_ns;
  run.trigger = "daily";
  run.requested_by = "patrolrecd";
  run.overall = overall;
  run.items = {{"camera:road", "pass", "recording, picture ok"},
               {"gps", overall, "no fix (state no-fix)"},
               {"storage", "pass", "61.2 h at 4128 kbit/s"}};
  return run;
}

TEST(CatalogHealthTest, UpgradeFromVersionFiveKeepsRowsAndAddsTheHealthTables) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    ASSERT_TRUE((*catalog)->AddEvent({5, "camera-error", "road", "", "unplugged"}).ok());
  }
  // A version 5 file: steps 6 (this history) and 7 (interruptions) only add tables and indexes.
  Sql(path,
      "DROP TABLE export_request; DROP TABLE interruption; DROP TABLE selfcheck_item; DROP TABLE selfcheck_run; "
      "DROP TABLE health_event; DROP INDEX segment_local; ALTER TABLE segment DROP COLUMN evicted; "
      "PRAGMA user_version = 5;");
  {
    auto old = Catalog::OpenReadOnly(path);
    ASSERT_TRUE(old.ok()) << old.message();
    EXPECT_EQ((*old)->schema_version(), 5);
    auto none = (*old)->SelfChecks();  // a version 5 catalog has none, and that is no error
    ASSERT_TRUE(none.ok()) << none.message();
    EXPECT_TRUE(none->empty());
    auto events = (*old)->HealthEvents();
    ASSERT_TRUE(events.ok()) << events.message();
    EXPECT_TRUE(events->empty());
  }
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
  auto events = (*catalog)->Events();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].detail, "unplugged");
  auto id = (*catalog)->InsertSelfCheck(MakeRun(10, "fail"));
  ASSERT_TRUE(id.ok()) << id.message();
}

TEST(CatalogHealthTest, SelfCheckRunsComeBackNewestFirstWithEveryItemInOrder) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  auto first = (*catalog)->InsertSelfCheck(MakeRun(10, "pass"));
  auto second = (*catalog)->InsertSelfCheck(MakeRun(20, "fail"));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_LT(*first, *second);
  auto all = (*catalog)->SelfChecks();
  ASSERT_TRUE(all.ok()) << all.message();
  ASSERT_EQ(all->size(), 2u);
  SelfCheckRecord expected = MakeRun(20, "fail");
  expected.id = *second;
  EXPECT_EQ((*all)[0], expected);
  EXPECT_EQ((*all)[1].id, *first);
  auto newest = (*catalog)->SelfChecks(1);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 1u);
  EXPECT_EQ((*newest)[0].id, *second);
}

TEST(CatalogHealthTest, ResultsAndTriggersOutsideTheContractAreRefusedAndNothingIsStored) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  SelfCheckRecord bad_item = MakeRun(10, "fail");
  bad_item.items[1].result = "maybe";
  auto refused = (*catalog)->InsertSelfCheck(bad_item);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("item \"gps\""));
  SelfCheckRecord bad_trigger = MakeRun(10, "pass");
  bad_trigger.trigger = "whenever";
  EXPECT_FALSE((*catalog)->InsertSelfCheck(bad_trigger).ok());
  auto none = (*catalog)->SelfChecks();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "a refused run leaves no half-stored run";
  EXPECT_FALSE((*catalog)->AddHealthEvent({0, 5, "road", "sideways", "ok", "covered", ""}).ok());
}

TEST(CatalogHealthTest, PruningByAgeDeletesInBatchesOldestFirst) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok());
  for (int64_t t = 1; t <= 5; ++t) {
    ASSERT_TRUE((*catalog)->AddHealthEvent({0, t, "road", "video", "covered", "ok", "dark"}).ok());
    ASSERT_TRUE((*catalog)->InsertSelfCheck(MakeRun(t, "pass")).ok());
  }
  auto pruned = (*catalog)->PruneHealthHistory(/*before_utc_ns=*/4, /*max_rows=*/2);
  ASSERT_TRUE(pruned.ok()) << pruned.message();
  EXPECT_EQ(*pruned, 4);  // 2 events, 2 runs
  auto events = (*catalog)->HealthEvents();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].utc_ns, 3);
  pruned = (*catalog)->PruneHealthHistory(4, 2);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  pruned = (*catalog)->PruneHealthHistory(4, 2);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 0) << "nothing older is left";
  auto runs = (*catalog)->SelfChecks();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ(runs->back().utc_ns, 4);
  // The items went with their runs.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM selfcheck_item", -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), 6);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(CatalogHealthTest, LastEventBeforeAWindowIsFoundForEachCameraAndChannel) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  ASSERT_TRUE((*catalog)->AddHealthEvent({0, 1, "road", "video", "covered", "ok", "dark"}).ok());
  ASSERT_TRUE((*catalog)->AddHealthEvent({0, 2, "road", "video", "ok", "covered", ""}).ok());
  ASSERT_TRUE(
      (*catalog)->AddHealthEvent({0, 3, "road", "pipeline", "failed", "recording", "x"}).ok());
  ASSERT_TRUE((*catalog)->AddHealthEvent({0, 9, "road", "video", "black", "ok", ""}).ok());
  auto last = (*catalog)->LastHealthEventsBefore(5);
  ASSERT_TRUE(last.ok()) << last.message();
  ASSERT_EQ(last->size(), 2u);
  EXPECT_EQ((*last)[0].state, "ok");
  EXPECT_EQ((*last)[0].channel, "video");
  EXPECT_EQ((*last)[1].state, "failed");
}

}  // namespace
}  // namespace patrolrec::storage
