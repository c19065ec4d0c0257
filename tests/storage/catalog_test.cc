// Tests of the SQLite catalog: schema versioning and upgrades, refusal of files it must not touch
// (newer schema, not a database, somebody else's database), idempotent and conflicting inserts,
// missing segments, events, and the read-only open the offline verifier uses on a copy.
#include "storage/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using patrolrec::testing::TempDir;
using ::testing::HasSubstr;

std::string Hex(char digit) { return std::string(64, digit); }

SegmentRecord MakeRecord(const std::string& camera, int64_t sequence) {
  SegmentRecord r;
  r.device_id = "PR-0001";
  r.camera = camera;
  r.sequence = sequence;
  r.file = "segments/" + camera + "/PR-0001_" + camera + "_20261129T011630.250Z_" +
           std::to_string(1000000 + sequence).substr(1) + ".mp4";
  r.start_utc_ns = 1'795'000'000'000'000'000 + sequence * 60'000'000'000;
  r.duration_ns = 60'000'000'000;
  r.end_utc_ns = r.start_utc_ns + r.duration_ns;
  r.frames = 1800;
  r.bytes = 15'000'000 + sequence;
  r.sha256_hex = Hex("0123456789abcdef"[sequence % 16]);
  r.prev_chain_hex = sequence == 1 ? kGenesisChainHex : Hex('c');
  r.chain_hex = Hex('c');
  r.signature_b64 = std::string(86, 'S') + "==";
  r.state = SegmentState::kSealed;
  r.sealed_utc_ns = r.end_utc_ns + 500'000'000;
  return r;
}

bool SameRecord(const SegmentRecord& a, const SegmentRecord& b) {
  return a.device_id == b.device_id && a.camera == b.camera && a.sequence == b.sequence &&
         a.file == b.file && a.start_utc_ns == b.start_utc_ns && a.end_utc_ns == b.end_utc_ns &&
         a.duration_ns == b.duration_ns && a.frames == b.frames && a.bytes == b.bytes &&
         a.sha256_hex == b.sha256_hex && a.prev_chain_hex == b.prev_chain_hex &&
         a.chain_hex == b.chain_hex && a.signature_b64 == b.signature_b64 && a.state == b.state &&
         a.sealed_utc_ns == b.sealed_utc_ns;
}

std::vector<std::string> Files(const std::vector<SegmentRecord>& records) {
  std::vector<std::string> files;
  for (const auto& r : records) files.push_back(r.file);
  return files;
}

std::unique_ptr<Catalog> OpenOrDie(const std::string& path) {
  auto catalog = Catalog::Open(path);
  EXPECT_TRUE(catalog.ok()) << catalog.message();
  return catalog.ok() ? std::move(catalog).value() : nullptr;
}

// A second, raw connection: to look at the file the way sqlite3(1) would, or to prepare files
// the Catalog API cannot make (a newer version, a foreign database).
class RawDb {
 public:
  explicit RawDb(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << sql << ": " << (error ? error : "");
    sqlite3_free(error);
  }
  // All rows of a query, columns joined with '|'.
  std::vector<std::string> Query(const std::string& sql) {
    std::vector<std::string> rows;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
    while (s && sqlite3_step(s) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        if (i) row += "|";
        const unsigned char* text = sqlite3_column_text(s, i);
        row += text ? reinterpret_cast<const char*>(text) : "NULL";
      }
      rows.push_back(row);
    }
    sqlite3_finalize(s);
    return rows;
  }
  std::string One(const std::string& sql) {
    auto rows = Query(sql);
    return rows.empty() ? "<no row>" : rows.front();
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::set<std::string> DirEntries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

TEST(CatalogTest, CreatesCatalogAndKeepsRowsAcrossReopen) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    auto catalog = OpenOrDie(path);
    ASSERT_TRUE(catalog);
    ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  }
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  auto found = catalog->FindByFile(MakeRecord("road", 1).file);
  ASSERT_TRUE(found.ok()) << found.message();
  ASSERT_TRUE(found->has_value());
  EXPECT_TRUE(SameRecord(**found, MakeRecord("road", 1)));
}

TEST(CatalogTest, NewCatalogHasCurrentSchemaVersion) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  EXPECT_EQ(catalog->schema_version(), Catalog::kSchemaVersion);
  RawDb raw(dir / "catalog.db");
  EXPECT_EQ(raw.One("PRAGMA user_version"), std::to_string(Catalog::kSchemaVersion));
}

TEST(CatalogTest, RunsInWalMode) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  RawDb raw(dir / "catalog.db");
  EXPECT_EQ(raw.One("PRAGMA journal_mode"), "wal");
}

TEST(CatalogTest, SchemaCommentsEveryColumn) {
  // SQLite keeps the CREATE TABLE text, comments included; every column line must carry a
  // comment above it, so `.schema` explains the units to whoever opens the file.
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  RawDb raw(dir / "catalog.db");
  for (const std::string table : {"segment", "event"}) {
    std::string sql = raw.One("SELECT sql FROM sqlite_master WHERE name = '" + table + "'");
    for (const std::string& column :
         raw.Query("SELECT name FROM pragma_table_info('" + table + "')")) {
      size_t at = sql.find("\n  " + column + " ");
      ASSERT_NE(at, std::string::npos) << table << "." << column;
      size_t previous_line = sql.rfind('\n', at - 1);
      EXPECT_EQ(sql.substr(previous_line + 1, 5), "  -- ")
          << table << "." << column << " has no comment";
    }
  }
}

TEST(CatalogTest, RefusesCatalogFromNewerSchema) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  { ASSERT_TRUE(OpenOrDie(path)); }
  { RawDb(path).Exec("PRAGMA user_version = 3"); }
  const std::string before = ReadBytes(path);

  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.message(), "catalog " + path +
                                   " was written by a newer patrolrec (schema 3; this build "
                                   "knows 1): refusing to open it");
  EXPECT_EQ(ReadBytes(path), before) << "a refused catalog must be left untouched";

  auto read_only = Catalog::OpenReadOnly(path);
  ASSERT_FALSE(read_only.ok());
  EXPECT_THAT(read_only.message(), HasSubstr("schema 3; this build knows 1"));
}

TEST(CatalogTest, RefusesFileThatIsNotADatabaseAndSaysWhatToDo) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  std::string garbage;
  for (int i = 0; i < 200; ++i) garbage += "this is not an SQLite database. ";
  patrolrec::testing::WriteTextFile(path, garbage);

  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr(path));
  EXPECT_THAT(catalog.message(), HasSubstr("file is not a database"));
  EXPECT_THAT(catalog.message(),
              HasSubstr("move it aside and restart: patrolrecd rebuilds it from the seals"));
  EXPECT_EQ(ReadBytes(path), garbage);

  auto read_only = Catalog::OpenReadOnly(path);
  ASSERT_FALSE(read_only.ok());
  EXPECT_THAT(read_only.message(), HasSubstr("file is not a database"));
  EXPECT_THAT(read_only.message(), HasSubstr("checked from their seals"));
}

TEST(CatalogTest, RefusesShortGarbageFile) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  patrolrec::testing::WriteTextFile(path, "garbage");
  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr(path));
  EXPECT_THAT(catalog.message(), HasSubstr("rebuilds it from the seals"));
}

TEST(CatalogTest, OpenFailsNamingPathAndErrnoWhenDirectoryIsMissing) {
  TempDir dir;
  const std::string path = dir / "no-such-dir/catalog.db";
  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr(path));
  EXPECT_THAT(catalog.message(), HasSubstr("ENOENT"));
}

TEST(CatalogTest, UpgradesEmptyVersionZeroDatabase) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    // A real, empty database in rollback-journal mode, as an old or hand-made file would be.
    RawDb raw(path);
    raw.Exec("CREATE TABLE scratch (x); DROP TABLE scratch;");
    EXPECT_EQ(raw.One("PRAGMA user_version"), "0");
  }
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  EXPECT_EQ(catalog->schema_version(), 1);
  EXPECT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  RawDb raw(path);
  EXPECT_EQ(raw.One("PRAGMA user_version"), "1");
  EXPECT_EQ(raw.One("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
            (std::vector<std::string>{"event", "segment"}));
}

TEST(CatalogTest, UpgradesZeroLengthFile) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  patrolrec::testing::WriteTextFile(path, "");
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  EXPECT_EQ(catalog->schema_version(), 1);
}

TEST(CatalogTest, RefusesVersionZeroDatabaseThatAlreadyHasTables) {
  TempDir dir;
  const std::string path = dir / "other.db";
  { RawDb(path).Exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)"); }
  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr(path));
  EXPECT_THAT(catalog.message(), HasSubstr("not a patrolrec catalog"));
  RawDb raw(path);
  EXPECT_EQ(raw.Query("SELECT name FROM sqlite_master ORDER BY name"),
            (std::vector<std::string>{"photos"}));
}

TEST(CatalogTest, ListsSegmentsByCameraThenSequenceAndFindsLast) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  // Inserted out of order: the listing order must come from the query, not from insertion.
  for (auto [camera, sequence] : std::vector<std::pair<std::string, int64_t>>{
           {"road", 2}, {"cabin-rear", 1}, {"road", 10}, {"road", 1}, {"cabin-rear", 2}}) {
    ASSERT_TRUE(catalog->InsertSegment(MakeRecord(camera, sequence)).ok());
  }
  auto all = catalog->Segments();
  ASSERT_TRUE(all.ok()) << all.message();
  EXPECT_EQ(Files(*all),
            (std::vector<std::string>{MakeRecord("cabin-rear", 1).file,
                                      MakeRecord("cabin-rear", 2).file, MakeRecord("road", 1).file,
                                      MakeRecord("road", 2).file, MakeRecord("road", 10).file}));
  auto road = catalog->Segments("road");
  ASSERT_TRUE(road.ok());
  EXPECT_EQ(Files(*road),
            (std::vector<std::string>{MakeRecord("road", 1).file, MakeRecord("road", 2).file,
                                      MakeRecord("road", 10).file}));

  auto last = catalog->LastSegment("road");
  ASSERT_TRUE(last.ok()) << last.message();
  ASSERT_TRUE(last->has_value());
  EXPECT_TRUE(SameRecord(**last, MakeRecord("road", 10)));

  auto none = catalog->LastSegment("cabin-front");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto absent = catalog->FindByFile("segments/road/nothing.mp4");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  auto empty = catalog->Segments("cabin-front");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(CatalogTest, LastSegmentQueryUsesAnIndex) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  RawDb raw(dir / "catalog.db");
  auto plan = raw.Query(
      "EXPLAIN QUERY PLAN SELECT * FROM segment WHERE camera = 'road' "
      "ORDER BY sequence DESC LIMIT 1");
  ASSERT_FALSE(plan.empty());
  std::string joined;
  for (const auto& row : plan) joined += row + "\n";
  EXPECT_THAT(joined, HasSubstr("USING INDEX"));
  EXPECT_THAT(joined, ::testing::Not(HasSubstr("TEMP B-TREE")));
}

TEST(CatalogTest, ReinsertingIdenticalSegmentIsOkAndAddsNothing) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  base::Status again = catalog->InsertSegment(MakeRecord("road", 1));
  EXPECT_TRUE(again.ok()) << again.message();
  auto all = catalog->Segments();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST(CatalogTest, RefusesConflictingSegmentAndLeavesCatalogUnchanged) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 2)).ok());
  auto before = catalog->Segments();
  ASSERT_TRUE(before.ok());

  // Same file, different hash: somebody's bytes changed.
  SegmentRecord changed_hash = MakeRecord("road", 1);
  changed_hash.sha256_hex = Hex('e');
  base::Status status = catalog->InsertSegment(changed_hash);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(status.message(), HasSubstr(changed_hash.file));
  EXPECT_THAT(status.message(), HasSubstr("camera \"road\", sequence 1"));
  EXPECT_THAT(status.message(), HasSubstr("sha256 differs"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("bytes differs")));

  // Same place in the chain, another file.
  SegmentRecord other_file = MakeRecord("road", 2);
  other_file.file = "segments/road/elsewhere.mp4";
  status = catalog->InsertSegment(other_file);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("elsewhere.mp4"));
  EXPECT_THAT(status.message(), HasSubstr("camera \"road\", sequence 2"));
  EXPECT_THAT(status.message(), HasSubstr("file differs"));

  // Same file, another place in the chain.
  SegmentRecord moved = MakeRecord("road", 1);
  moved.sequence = 3;
  status = catalog->InsertSegment(moved);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("sequence differs (catalog 1, new 3)"));

  auto after = catalog->Segments();
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i) EXPECT_TRUE(SameRecord((*after)[i], (*before)[i]));

  // The refused inserts left no transaction open: the catalog still takes writes.
  EXPECT_TRUE(catalog->InsertSegment(MakeRecord("road", 3)).ok());
}

TEST(CatalogTest, RefusesMalformedHashThroughSchemaChecks) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  SegmentRecord upper = MakeRecord("road", 1);
  upper.sha256_hex = std::string(64, 'A');
  base::Status status = catalog->InsertSegment(upper);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("CHECK constraint failed"));
  EXPECT_THAT(status.message(), HasSubstr(upper.file));

  SegmentRecord negative = MakeRecord("road", 1);
  negative.bytes = -1;
  EXPECT_FALSE(catalog->InsertSegment(negative).ok());
  SegmentRecord short_chain = MakeRecord("road", 1);
  short_chain.chain_hex = "abc";
  EXPECT_FALSE(catalog->InsertSegment(short_chain).ok());

  auto all = catalog->Segments();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST(CatalogTest, RefusesNewSegmentInMissingState) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  SegmentRecord missing = MakeRecord("road", 1);
  missing.state = SegmentState::kMissing;
  base::Status status = catalog->InsertSegment(missing);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("not missing"));
}

TEST(CatalogTest, RecoveredStateRoundTrips) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  SegmentRecord recovered = MakeRecord("cabin-rear", 7);
  recovered.state = SegmentState::kRecovered;
  ASSERT_TRUE(catalog->InsertSegment(recovered).ok());
  auto found = catalog->FindByFile(recovered.file);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->state, SegmentState::kRecovered);
}

TEST(CatalogTest, MarkMissingKeepsTheRowAndTheFirstTimeItWasMissed) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  const SegmentRecord record = MakeRecord("road", 1);
  ASSERT_TRUE(catalog->InsertSegment(record).ok());

  base::Status marked = catalog->MarkMissing(record.file, 1'800'000'000'000'000'000);
  ASSERT_TRUE(marked.ok()) << marked.message();
  auto found = catalog->FindByFile(record.file);
  ASSERT_TRUE(found.ok() && found->has_value());
  SegmentRecord expected = record;
  expected.state = SegmentState::kMissing;
  EXPECT_TRUE(SameRecord(**found, expected));

  // Marking again (recovery re-running) keeps the first time.
  ASSERT_TRUE(catalog->MarkMissing(record.file, 1'900'000'000'000'000'000).ok());
  RawDb raw(path);
  EXPECT_EQ(raw.One("SELECT state, missing_since_utc_ns FROM segment"),
            "missing|1800000000000000000");

  // The missing row still holds its place in the chain.
  EXPECT_FALSE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  auto last = catalog->LastSegment("road");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->sequence, 1);
}

TEST(CatalogTest, MarkMissingWithoutTimeUsesTheSystemClock) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  ASSERT_TRUE(catalog->MarkMissing(MakeRecord("road", 1).file).ok());
  RawDb raw(path);
  EXPECT_GT(std::stoll(raw.One("SELECT missing_since_utc_ns FROM segment")),
            1'700'000'000'000'000'000);
}

TEST(CatalogTest, MarkMissingOfUnknownFileFails) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  base::Status status = catalog->MarkMissing("segments/road/ghost.mp4", 1);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("segments/road/ghost.mp4"));
  EXPECT_THAT(status.message(), HasSubstr("no such segment"));
}

TEST(CatalogTest, EventsRoundTripInTheOrderAdded) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  std::vector<CatalogEvent> events = {
      {2000, "segment-recovered", "road", "segments/road/a.mp4", "power lost; cut at fragment 42"},
      // Earlier wall-clock time, added later: the clock jumped back. Order is by addition.
      {1000, "camera-error", "cabin-rear", "", "/dev/video2: device disconnected (ENODEV)"},
      {3000, "catalog-rebuilt", "", "", "rebuilt from 12 seals; 'quotes' and \"quotes\" kept"},
  };
  {
    auto catalog = OpenOrDie(path);
    ASSERT_TRUE(catalog);
    for (const auto& event : events) ASSERT_TRUE(catalog->AddEvent(event).ok());
  }
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  auto read = catalog->Events();
  ASSERT_TRUE(read.ok()) << read.message();
  ASSERT_EQ(read->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*read)[i].utc_ns, events[i].utc_ns);
    EXPECT_EQ((*read)[i].kind, events[i].kind);
    EXPECT_EQ((*read)[i].camera, events[i].camera);
    EXPECT_EQ((*read)[i].file, events[i].file);
    EXPECT_EQ((*read)[i].detail, events[i].detail);
  }
  // Empty camera and file are stored as NULL ("none"), not as empty text.
  RawDb raw(path);
  EXPECT_EQ(raw.One("SELECT count(*) FROM event WHERE camera IS NULL AND file IS NULL"), "1");

  EXPECT_FALSE(catalog->AddEvent({1, "", "", "", "no kind"}).ok());
}

TEST(CatalogTest, ReadOnlyOpenOfCopyWithWalSeesRowsAndCreatesNothing) {
  TempDir live;
  TempDir copy;
  const std::string path = live / "catalog.db";
  auto writer = OpenOrDie(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->InsertSegment(MakeRecord("road", 1)).ok());
  ASSERT_TRUE(writer->InsertSegment(MakeRecord("road", 2)).ok());
  ASSERT_TRUE(writer->AddEvent({5, "segment-recovered", "road", "", "test"}).ok());
  // Copy while the writer is open, as after a power cut: the rows are still only in the WAL.
  std::filesystem::copy_file(path, copy / "catalog.db");
  std::filesystem::copy_file(path + "-wal", copy / "catalog.db-wal");
  ASSERT_GT(std::filesystem::file_size(copy / "catalog.db-wal"), 0u);
  writer.reset();

  const auto entries_before = DirEntries(copy.path());
  const std::string db_before = ReadBytes(copy / "catalog.db");
  const std::string wal_before = ReadBytes(copy / "catalog.db-wal");
  {
    auto catalog = Catalog::OpenReadOnly(copy / "catalog.db");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    EXPECT_EQ((*catalog)->schema_version(), 1);
    auto all = (*catalog)->Segments();
    ASSERT_TRUE(all.ok()) << all.message();
    EXPECT_EQ(all->size(), 2u);
    auto last = (*catalog)->LastSegment("road");
    ASSERT_TRUE(last.ok() && last->has_value());
    EXPECT_EQ((*last)->sequence, 2);
    auto events = (*catalog)->Events();
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), 1u);
    // Writes fail cleanly and change nothing.
    EXPECT_FALSE((*catalog)->InsertSegment(MakeRecord("road", 3)).ok());
    EXPECT_FALSE((*catalog)->MarkMissing(MakeRecord("road", 1).file, 1).ok());
    EXPECT_FALSE((*catalog)->AddEvent({6, "x", "", "", ""}).ok());
  }
  EXPECT_EQ(DirEntries(copy.path()), entries_before) << "no -shm or other file may appear";
  EXPECT_EQ(ReadBytes(copy / "catalog.db"), db_before);
  EXPECT_EQ(ReadBytes(copy / "catalog.db-wal"), wal_before) << "the WAL must not be checkpointed";
}

TEST(CatalogTest, ReadOnlyOpenOfMainFileWithoutItsWalIsRefusedAsNotACatalog) {
  // The same copy without the -wal holds no schema yet: that must be an error, not an empty list.
  TempDir live;
  TempDir copy;
  const std::string path = live / "catalog.db";
  auto writer = OpenOrDie(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->InsertSegment(MakeRecord("road", 1)).ok());
  std::filesystem::copy_file(path, copy / "catalog.db");
  auto catalog = Catalog::OpenReadOnly(copy / "catalog.db");
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr("schema version 0"));
  EXPECT_EQ(DirEntries(copy.path()), std::set<std::string>{"catalog.db"});
}

TEST(CatalogTest, ReadOnlyOpenOfAbsentFileFailsAndCreatesNothing) {
  TempDir dir;
  auto catalog = Catalog::OpenReadOnly(dir / "catalog.db");
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr(dir / "catalog.db"));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

}  // namespace
}  // namespace patrolrec::storage
