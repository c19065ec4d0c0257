// Tests of the catalog's interruption table (schema version 7, docs/interruptions.md): the upgrade
// from version 5 keeps every row and adds the table; interruptions are numbered per incident,
// belong to an incident that exists, only gain an end, explanations and the flag, and are listed
// open or by incident.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "storage/catalog.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using patrolrec::testing::TempDir;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'795'000'000'000'000'000;  // 2026-11-18
constexpr int64_t kS = 1'000'000'000;

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

IncidentRecord Incident(const std::string& id, int64_t trigger_utc_ns) {
  IncidentRecord i;
  i.id = id;
  i.trigger = "record-button";
  i.trigger_utc_ns = trigger_utc_ns;
  i.phase = IncidentPhase::kOnScene;
  return i;
}

InterruptionRecord Interruption(const std::string& incident, const std::string& camera,
                                const std::string& cause, int64_t start_utc_ns) {
  InterruptionRecord r;
  r.incident_id = incident;
  r.camera = camera;
  r.cause = cause;
  r.detail = "test";
  r.start_utc_ns = start_utc_ns;
  return r;
}

TEST(CatalogInterruptionTest, UpgradeFromVersionFiveKeepsRowsAndAddsTheInterruptionTable) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    ASSERT_TRUE((*catalog)->SaveIncident(Incident("PR-1-a", kT0), {}).ok());
  }
  // A version 6 file: step 7 only adds a table and an index, step 8 a column and an index.
  Sql(path,
      "DROP TABLE export_request; DROP TABLE interruption; DROP INDEX segment_local; ALTER TABLE segment DROP COLUMN evicted; "
      "PRAGMA user_version = 6;");
  {
    auto old = Catalog::OpenReadOnly(path);
    ASSERT_TRUE(old.ok()) << old.message();
    EXPECT_EQ((*old)->schema_version(), 6);
    auto none = (*old)->Interruptions("PR-1-a");  // none before 7, and no error
    ASSERT_TRUE(none.ok()) << none.message();
    EXPECT_TRUE(none->empty());
    auto open = (*old)->OpenInterruptions();
    ASSERT_TRUE(open.ok()) << open.message();
    EXPECT_TRUE(open->empty());
  }
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
  auto incident = (*catalog)->FindIncident("PR-1-a");
  ASSERT_TRUE(incident.ok() && incident->has_value());
  auto added = (*catalog)->AddInterruption(Interruption("PR-1-a", "road", "camera-failed", kT0));
  ASSERT_TRUE(added.ok()) << added.message();
  EXPECT_EQ(added->number, 1);
}

TEST(CatalogInterruptionTest, NumberedPerIncidentAndUpdatedUntilExplained) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  Catalog& c = **opened;
  IncidentRecord first = Incident("PR-1-a", kT0);
  ASSERT_TRUE(c.SaveIncident(first, {}).ok());
  auto a1 = c.AddInterruption(Interruption("PR-1-a", "road", "camera-failed", kT0 + 1 * kS));
  auto a2 = c.AddInterruption(Interruption("PR-1-a", "cabin", "probe:covered", kT0 + 2 * kS));
  ASSERT_TRUE(a1.ok() && a2.ok());
  EXPECT_EQ(a1->number, 1);
  EXPECT_EQ(a2->number, 2);
  first.closed_utc_ns = kT0 + 100 * kS;
  first.close_kind = "override";
  first.phase = IncidentPhase::kClosed;
  ASSERT_TRUE(c.SaveIncident(first, {}).ok());
  ASSERT_TRUE(c.SaveIncident(Incident("PR-1-b", kT0 + 200 * kS), {}).ok());
  auto b1 = c.AddInterruption(Interruption("PR-1-b", "", "daemon-restarted", kT0 + 201 * kS));
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(b1->number, 1);  // numbers start again in every incident

  auto open = c.OpenInterruptions();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 3u);
  EXPECT_EQ((*open)[2].incident_id, "PR-1-b");

  InterruptionRecord r = *a2;
  r.end_utc_ns = kT0 + 5 * kS;
  r.spoken_from_utc_ns = kT0 + 6 * kS;
  r.spoken_to_utc_ns = kT0 + 9 * kS;
  r.spoken_by = "officer";
  r.explanation = "a bag was put on the rear shelf and covered the lens";
  r.explained_by = "officer";
  r.explained_utc_ns = kT0 + 10 * kS;
  r.unexplained_at_close_utc_ns = kT0 + 100 * kS;
  ASSERT_TRUE(c.UpdateInterruption(r).ok());
  auto list = c.Interruptions("PR-1-a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1], r);
  EXPECT_TRUE((*list)[0].open());
  open = c.OpenInterruptions();
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->size(), 2u);
}

TEST(CatalogInterruptionTest, RefusesAnUnknownIncidentCauseOrInterruption) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  Catalog& c = **opened;
  auto no_incident = c.AddInterruption(Interruption("PR-nope", "road", "camera-failed", kT0));
  ASSERT_FALSE(no_incident.ok());
  EXPECT_THAT(no_incident.message(), HasSubstr("no such incident"));
  ASSERT_TRUE(c.SaveIncident(Incident("PR-1-a", kT0), {}).ok());
  auto bad_cause = c.AddInterruption(Interruption("PR-1-a", "road", "gremlins", kT0));
  ASSERT_FALSE(bad_cause.ok());
  EXPECT_THAT(bad_cause.message(), HasSubstr("known cause"));
  EXPECT_FALSE(c.AddInterruption(Interruption("PR-1-a", "road", "probe:", kT0)).ok());
  InterruptionRecord ghost = Interruption("PR-1-a", "road", "camera-failed", kT0);
  ghost.number = 7;
  base::Status updated = c.UpdateInterruption(ghost);
  ASSERT_FALSE(updated.ok());
  EXPECT_THAT(updated.message(), HasSubstr("no such interruption"));
  // An end before the start is refused by the schema, and nothing changes.
  auto r = c.AddInterruption(Interruption("PR-1-a", "road", "camera-failed", kT0));
  ASSERT_TRUE(r.ok());
  InterruptionRecord backwards = *r;
  backwards.end_utc_ns = kT0 - kS;
  EXPECT_FALSE(c.UpdateInterruption(backwards).ok());
  auto list = c.Interruptions("PR-1-a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].open());
}

}  // namespace
}  // namespace patrolrec::storage
