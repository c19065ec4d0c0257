// Tests of the catalog's export requests (schema version 9, docs/export.md): the upgrade from
// version 8 keeps every row and adds the table (older versions: catalog_test.cc and the other
// upgrade tests go through step 9 too); a request only moves forward, so an approval is used for
// one export; the schema refuses an unknown purpose or requester kind.
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

ExportRequest Request() {
  ExportRequest r;
  r.requested_utc_ns = kT0;
  r.requester = "officer";
  r.requester_role = "officer";
  r.requester_kind = "judicial";
  r.requester_unit = "通化市东昌区人民法院";
  r.legal_document = "(2026)吉0502刑初123号 调取证据通知书";
  r.purpose = "court";
  r.incident_id = "PR-1-a";
  r.from_utc_ns = kT0 - 60 * kS;
  r.to_utc_ns = kT0;
  r.note = "for the hearing";
  return r;
}

TEST(CatalogExportTest, UpgradeFromVersionEightKeepsRowsAndAddsTheExportTable) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    IncidentRecord incident;
    incident.id = "PR-1-a";
    incident.trigger = "record-button";
    incident.trigger_utc_ns = kT0;
    ASSERT_TRUE((*catalog)->SaveIncident(incident, {}).ok());
  }
  Sql(path, "DROP TABLE export_request; PRAGMA user_version = 8;");
  {
    auto old = Catalog::OpenReadOnly(path);
    ASSERT_TRUE(old.ok()) << old.message();
    EXPECT_EQ((*old)->schema_version(), 8);
    auto none = (*old)->ExportRequests();  // none before 9, and no error
    ASSERT_TRUE(none.ok()) << none.message();
    EXPECT_TRUE(none->empty());
  }
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
  auto incident = (*catalog)->FindIncident("PR-1-a");
  ASSERT_TRUE(incident.ok() && incident->has_value());
  auto added = (*catalog)->AddExportRequest(Request());
  ASSERT_TRUE(added.ok()) << added.message();
  EXPECT_EQ(added->id, 1);
}

TEST(CatalogExportTest, RequestMovesForwardOnceAndAnApprovalIsUsedOnce) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  Catalog& c = **opened;
  auto added = c.AddExportRequest(Request());
  ASSERT_TRUE(added.ok()) << added.message();
  ExportRequest r = *added;
  r.state = "approved";
  r.decided_utc_ns = kT0 + kS;
  r.decided_by = "supervisor";
  r.decision_reason = "court order seen";
  r.approval_kind = "legal-review-and-county-head";
  r.expires_utc_ns = kT0 + 3600 * kS;
  ASSERT_TRUE(c.UpdateExportRequest(r, "requested").ok());
  // Deciding again is refused: the row is no longer requested.
  base::Status again = c.UpdateExportRequest(r, "requested");
  EXPECT_FALSE(again.ok());
  EXPECT_THAT(again.message(), HasSubstr("already decided or used"));
  r.state = "exported";
  r.exported_utc_ns = kT0 + 2 * kS;
  r.exported_by = "supervisor";
  r.medium = "evidence-usb-1";
  r.package = "export-1";
  r.manifest_sha256 = std::string(64, 'a');
  ASSERT_TRUE(c.UpdateExportRequest(r, "approved").ok());
  EXPECT_FALSE(c.UpdateExportRequest(r, "approved").ok());  // a second export with it
  auto found = c.FindExportRequest(r.id);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->state, "exported");
  EXPECT_EQ((*found)->legal_document, Request().legal_document);
  EXPECT_EQ((*found)->approval_kind, "legal-review-and-county-head");
  EXPECT_EQ((*found)->expires_utc_ns, kT0 + 3600 * kS);
  EXPECT_EQ((*found)->medium, "evidence-usb-1");
  auto missing = c.FindExportRequest(99);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST(CatalogExportTest, SchemaRefusesUnknownPurposeAndRequesterKind) {
  TempDir dir;
  auto opened = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(opened.ok());
  ExportRequest bad = Request();
  bad.purpose = "curiosity";
  EXPECT_FALSE((*opened)->AddExportRequest(bad).ok());
  bad = Request();
  bad.requester_kind = "journalist";
  EXPECT_FALSE((*opened)->AddExportRequest(bad).ok());
  bad = Request();
  bad.to_utc_ns = bad.from_utc_ns;
  EXPECT_FALSE((*opened)->AddExportRequest(bad).ok());
  EXPECT_EQ(RequiredApproval("own-department"), "department-head");
  EXPECT_EQ(RequiredApproval("journalist"), "");
}

}  // namespace
}  // namespace patrolrec::storage
