// Tests of the SQLite catalog: schema versioning and upgrades (from a real version 1 file), refusal
// of files it must not touch (newer schema, not a database, somebody else's database), idempotent
// and conflicting inserts, missing segments, events, GPS track points, and the read-only open the
// offline verifier uses on a copy.
#include "storage/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
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
  r.time_source = "gps";
  r.clock_offset_ns = -1'200'000;
  r.track_file = r.file + ".gpx";
  r.track_sha256_hex = Hex('d');
  r.track_points = 60;
  r.sealed_utc_ns = r.end_utc_ns + 500'000'000;
  return r;
}

TrackPoint MakePoint(int64_t utc_ns) {
  TrackPoint p;
  p.utc_ns = utc_ns;
  p.gps_utc_ns = utc_ns + 1'200'000;  // the system clock 1.2 ms behind
  p.latitude_deg = 48.1371079;
  p.longitude_deg = 11.5753822;
  p.altitude_m = 519.5;
  p.speed_mps = 8.25;
  p.course_deg = 90.5;
  p.mode = 3;
  p.satellites_used = 11;
  p.horizontal_error_m = 3.5;
  p.vertical_error_m = 6.0;
  return p;
}

// Equal, with NaN equal to NaN (both "not reported").
bool SameReal(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool SamePoint(const TrackPoint& a, const TrackPoint& b) {
  return a.utc_ns == b.utc_ns && a.gps_utc_ns == b.gps_utc_ns &&
         SameReal(a.latitude_deg, b.latitude_deg) && SameReal(a.longitude_deg, b.longitude_deg) &&
         SameReal(a.altitude_m, b.altitude_m) && SameReal(a.speed_mps, b.speed_mps) &&
         SameReal(a.course_deg, b.course_deg) && a.mode == b.mode &&
         a.satellites_used == b.satellites_used &&
         SameReal(a.horizontal_error_m, b.horizontal_error_m) &&
         SameReal(a.vertical_error_m, b.vertical_error_m);
}

// The version 1 schema exactly as version 1 builds created it (storage/catalog.cc, upgrade step
// 1, which never changes), to make real version 1 files to upgrade.
constexpr char kVersionOneSchema[] = R"sql(
-- One row per segment file. Written only after the file and its seal sidecar are durable (write,
-- fsync the file, fsync the directory, then this row). The seal is the evidence; this row is its
-- index, and patrolrecd rebuilds the table from the seals if the catalog is lost.
CREATE TABLE segment (
  -- Row number in this catalog only; never leaves the device (seals and exports name a segment
  -- by camera and sequence).
  id INTEGER PRIMARY KEY,

  -- Device that recorded the segment, [A-Za-z0-9-]{1,64}, e.g. 'PR-0001'; as in the seal.
  device_id TEXT NOT NULL CHECK (length(device_id) BETWEEN 1 AND 64),

  -- Camera that recorded it, [a-z0-9-]{1,64}, e.g. 'cabin-rear'; as in the seal.
  camera TEXT NOT NULL CHECK (length(camera) BETWEEN 1 AND 64),

  -- Place of the segment in its camera's hash chain: 1, 2, 3 ... per camera, never reused and
  -- never skipped, so a gap in the sequence is a segment that is missing.
  sequence INTEGER NOT NULL CHECK (sequence >= 1),

  -- Path of the segment file relative to the data directory, e.g.
  -- 'segments/road/PR-0001_road_20261129T011630.250Z_000017.mp4'; its seal is file || '.seal'.
  file TEXT NOT NULL UNIQUE CHECK (length(file) > 0),

  -- Wall-clock time of the first frame: nanoseconds since 1970-01-01T00:00:00Z.
  start_utc_ns INTEGER NOT NULL CHECK (start_utc_ns >= 0),

  -- start_utc_ns + duration_ns: nanoseconds since 1970-01-01T00:00:00Z.
  end_utc_ns INTEGER NOT NULL CHECK (end_utc_ns >= start_utc_ns),

  -- Video duration as stored in the file, nanoseconds.
  duration_ns INTEGER NOT NULL CHECK (duration_ns >= 0),

  -- Number of video samples (frames) in the file.
  frames INTEGER NOT NULL CHECK (frames >= 0),

  -- Size of the file when it was sealed, bytes.
  bytes INTEGER NOT NULL CHECK (bytes >= 0),

  -- SHA-256 of the whole file: 64 lower-case hex digits.
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),

  -- chain of this camera's previous segment (sequence - 1): 64 lower-case hex digits, 64 zeros
  -- for sequence 1. Linking segments this way makes a removed or reordered segment detectable.
  prev_chain TEXT NOT NULL CHECK (length(prev_chain) = 64 AND prev_chain NOT GLOB '*[^0-9a-f]*'),

  -- SHA-256 over the seal body up to and including prev_chain (docs/seal-format.md): 64
  -- lower-case hex digits.
  chain TEXT NOT NULL CHECK (length(chain) = 64 AND chain NOT GLOB '*[^0-9a-f]*'),

  -- Ed25519 device signature of the seal body through the chain line: the 64-byte signature in
  -- standard padded base64 (RFC 4648), always 88 characters, as in the seal.
  signature TEXT NOT NULL
      CHECK (length(signature) = 88 AND signature NOT GLOB '*[^A-Za-z0-9+/=]*'),

  -- 'sealed': closed normally, then hashed, chained and signed.
  -- 'recovered': was being written at a crash or a pipeline error; cut at its last complete
  --   fragment, then sealed.
  -- 'missing': the file was gone when the catalog and the files were reconciled. The row is kept,
  --   so the gap in the chain stays explained.
  state TEXT NOT NULL CHECK (state IN ('sealed', 'recovered', 'missing')),

  -- When the seal was made: nanoseconds since 1970-01-01T00:00:00Z.
  sealed_utc_ns INTEGER NOT NULL CHECK (sealed_utc_ns >= 0),

  -- When the file was first found missing: nanoseconds since 1970-01-01T00:00:00Z; NULL unless
  -- state = 'missing'.
  missing_since_utc_ns INTEGER CHECK (missing_since_utc_ns >= 0),

  CHECK ((state = 'missing') = (missing_since_utc_ns IS NOT NULL)),

  -- One segment per place in a camera's chain. The index SQLite builds for this constraint is
  -- also the one LastSegment (camera = ? ORDER BY sequence DESC LIMIT 1) and the listing by
  -- camera and sequence use, so no separate index is needed.
  UNIQUE (camera, sequence)
);

-- What an auditor needs to know that is not a segment: a segment recovered after a power cut, a
-- file found missing, a camera error. Rows are only ever added.
CREATE TABLE event (
  -- Order in which the events were recorded. Events are listed in this order, not by utc_ns,
  -- because the wall clock can jump.
  id INTEGER PRIMARY KEY,

  -- When it happened, by the device's wall clock: nanoseconds since 1970-01-01T00:00:00Z.
  utc_ns INTEGER NOT NULL CHECK (utc_ns >= 0),

  -- What happened, lower-case words joined by '-': 'segment-recovered', 'segment-missing',
  -- 'camera-error', ...
  kind TEXT NOT NULL CHECK (length(kind) > 0),

  -- Camera concerned, as segment.camera; NULL when the event concerns no camera.
  camera TEXT CHECK (camera IS NULL OR length(camera) > 0),

  -- Segment file concerned, relative to the data directory as segment.file; NULL when none. Not
  -- a foreign key: an event may be about a file that never got a row.
  file TEXT CHECK (file IS NULL OR length(file) > 0),

  -- Human-readable cause, e.g. 'power lost while writing; cut at fragment 42'.
  detail TEXT NOT NULL
);
PRAGMA user_version = 1;
)sql";

bool SameRecord(const SegmentRecord& a, const SegmentRecord& b) {
  return a.device_id == b.device_id && a.camera == b.camera && a.sequence == b.sequence &&
         a.file == b.file && a.start_utc_ns == b.start_utc_ns && a.end_utc_ns == b.end_utc_ns &&
         a.duration_ns == b.duration_ns && a.frames == b.frames && a.bytes == b.bytes &&
         a.sha256_hex == b.sha256_hex && a.prev_chain_hex == b.prev_chain_hex &&
         a.chain_hex == b.chain_hex && a.signature_b64 == b.signature_b64 && a.state == b.state &&
         a.sealed_utc_ns == b.sealed_utc_ns && a.time_source == b.time_source &&
         a.clock_offset_ns == b.clock_offset_ns && a.track_file == b.track_file &&
         a.track_sha256_hex == b.track_sha256_hex && a.track_points == b.track_points &&
         CompareSegmentRecords(a, b).empty();
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
  for (const std::string table : {"segment", "event", "track_point", "upload", "upload_part"}) {
    std::string sql = raw.One("SELECT sql FROM sqlite_master WHERE name = '" + table + "'");
    for (const std::string& column :
         raw.Query("SELECT name FROM pragma_table_info('" + table + "')")) {
      size_t at = sql.find("\n  " + column + " ");
      if (at == std::string::npos) {
        // A column added by ALTER TABLE (an upgrade step) follows the last column's definition
        // as ", name ..." with its comment inside its own definition.
        const size_t added = sql.find(", " + column + " ");
        ASSERT_NE(added, std::string::npos) << table << "." << column;
        EXPECT_NE(sql.find("\n  -- ", added), std::string::npos)
            << table << "." << column << " has no comment";
        continue;
      }
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
  const std::string newer = std::to_string(Catalog::kSchemaVersion + 1);
  { RawDb(path).Exec("PRAGMA user_version = " + newer); }
  const std::string before = ReadBytes(path);

  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.message(), "catalog " + path + " was written by a newer patrolrec (schema " +
                                   newer + "; this build knows " +
                                   std::to_string(Catalog::kSchemaVersion) +
                                   "): refusing to open it");
  EXPECT_EQ(ReadBytes(path), before) << "a refused catalog must be left untouched";

  auto read_only = Catalog::OpenReadOnly(path);
  ASSERT_FALSE(read_only.ok());
  EXPECT_THAT(read_only.message(), HasSubstr("schema " + newer + "; this build knows " +
                                             std::to_string(Catalog::kSchemaVersion)));
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
  EXPECT_EQ(catalog->schema_version(), Catalog::kSchemaVersion);
  EXPECT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  RawDb raw(path);
  EXPECT_EQ(raw.One("PRAGMA user_version"), std::to_string(Catalog::kSchemaVersion));
  EXPECT_EQ(raw.One("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
            (std::vector<std::string>{"event", "eviction", "export_request", "health_event", "incident",
                                      "incident_entry", "interruption", "segment",
                                      "selfcheck_item", "selfcheck_run", "track_point", "upload",
                                      "upload_part"}));
}

TEST(CatalogTest, UpgradesZeroLengthFile) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  patrolrec::testing::WriteTextFile(path, "");
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  EXPECT_EQ(catalog->schema_version(), Catalog::kSchemaVersion);
}

TEST(CatalogTest, UpgradesAVersionOneCatalogKeepingEveryRow) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  const SegmentRecord sealed = MakeRecord("road", 1);
  {
    // A catalog as a version 1 build left it: WAL mode, a sealed row, a missing row, an event.
    RawDb raw(path);
    raw.Exec("PRAGMA journal_mode = WAL");
    raw.Exec(kVersionOneSchema);
    raw.Exec(
        "INSERT INTO segment (device_id, camera, sequence, file, start_utc_ns, end_utc_ns, "
        "duration_ns, frames, bytes, sha256, prev_chain, chain, signature, state, sealed_utc_ns) "
        "VALUES ('PR-0001', 'road', 1, '" +
        sealed.file + "', " + std::to_string(sealed.start_utc_ns) + ", " +
        std::to_string(sealed.end_utc_ns) + ", " + std::to_string(sealed.duration_ns) + ", 1800, " +
        std::to_string(sealed.bytes) + ", '" + sealed.sha256_hex + "', '" + sealed.prev_chain_hex +
        "', '" + sealed.chain_hex + "', '" + sealed.signature_b64 + "', 'sealed', " +
        std::to_string(sealed.sealed_utc_ns) + ")");
    raw.Exec(
        "INSERT INTO segment SELECT 2, device_id, camera, 2, 'segments/road/gone.mp4', "
        "start_utc_ns, end_utc_ns, duration_ns, frames, bytes, sha256, chain, chain, signature, "
        "'missing', sealed_utc_ns, 1800000000000000000 FROM segment WHERE id = 1");
    raw.Exec(
        "INSERT INTO event (utc_ns, kind, camera, file, detail) "
        "VALUES (5, 'segment-missing', 'road', 'segments/road/gone.mp4', 'not found')");
    ASSERT_EQ(raw.One("PRAGMA user_version"), "1");
  }
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  EXPECT_EQ(catalog->schema_version(), Catalog::kSchemaVersion);

  // The rows are all there, with what version 1 did not know marked as not known.
  auto rows = catalog->Segments("road");
  ASSERT_TRUE(rows.ok()) << rows.message();
  ASSERT_EQ(rows->size(), 2u);
  SegmentRecord expected = sealed;
  expected.time_source = "unknown";
  expected.clock_offset_ns.reset();
  expected.track_file.clear();
  expected.track_sha256_hex.clear();
  expected.track_points = 0;
  EXPECT_TRUE(SameRecord((*rows)[0], expected))
      << ::testing::PrintToString(CompareSegmentRecords((*rows)[0], expected).size());
  EXPECT_EQ((*rows)[1].state, SegmentState::kMissing);
  auto events = catalog->Events();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, "segment-missing");

  // The upgraded schema is the one a new catalog gets: same tables, constraints and comments.
  {
    TempDir fresh_dir;
    ASSERT_TRUE(OpenOrDie(fresh_dir / "catalog.db"));
    RawDb fresh(fresh_dir / "catalog.db");
    RawDb upgraded(path);
    const std::string schema =
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name";
    EXPECT_EQ(upgraded.Query(schema), fresh.Query(schema));
    EXPECT_EQ(upgraded.One("PRAGMA user_version"), std::to_string(Catalog::kSchemaVersion));
    EXPECT_EQ(upgraded.One("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(upgraded.Query("PRAGMA foreign_key_check"), std::vector<std::string>{});
  }

  // And it takes version 2 rows, keeps the chain constraint, and stores track points.
  EXPECT_TRUE(catalog->InsertSegment(MakeRecord("road", 3)).ok());
  EXPECT_FALSE(catalog->InsertSegment(MakeRecord("road", 1)).ok());  // conflicts with the old row
  EXPECT_TRUE(catalog->InsertTrackPoint(MakePoint(sealed.start_utc_ns)).ok());
  auto last = catalog->LastSegment("road");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_TRUE(SameRecord(**last, MakeRecord("road", 3)));
}

TEST(CatalogTest, ReadOnlyOpenRefusesAVersionOneCatalogWithoutTouchingIt) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  { RawDb(path).Exec(kVersionOneSchema); }
  const std::string before = ReadBytes(path);
  auto catalog = Catalog::OpenReadOnly(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_THAT(catalog.message(), HasSubstr("has schema version 1; this build reads versions 2 to " +
                                           std::to_string(Catalog::kSchemaVersion)));
  EXPECT_EQ(ReadBytes(path), before);
}

// A device still running a version-2 build (no incidents yet): the verifier must read its
// segments without upgrading anything. Found when the appliance image (an older build) was
// checked with a newer host verifier.
TEST(CatalogTest, ReadOnlyOpenReadsAVersionTwoCatalogWithoutTouchingIt) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  {
    auto catalog = OpenOrDie(path);
    ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 1)).ok());
  }
  {
    RawDb raw(path);
    raw.Exec(
        "DROP TABLE export_request; DROP TABLE IF EXISTS interruption; DROP TABLE upload_part; DROP TABLE upload; "
        "DROP INDEX segment_by_time; "
        "DROP TABLE incident_entry; DROP TABLE incident; PRAGMA user_version = 2; "
        "PRAGMA wal_checkpoint(TRUNCATE)");
  }
  const std::string before = ReadBytes(path);
  auto catalog = Catalog::OpenReadOnly(path);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ((*catalog)->schema_version(), 2);
  auto rows = (*catalog)->Segments();
  ASSERT_TRUE(rows.ok()) << rows.message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE(SameRecord((*rows)[0], MakeRecord("road", 1)));
  EXPECT_EQ(ReadBytes(path), before);
}

TEST(CatalogTest, TrackPointsRoundTripWithUnknownsAsNaN) {
  TempDir dir;
  const std::string path = dir / "catalog.db";
  auto catalog = OpenOrDie(path);
  ASSERT_TRUE(catalog);
  TrackPoint full = MakePoint(1'000);
  TrackPoint bare;  // a 2D fix with nothing but its position
  bare.utc_ns = 2'000;
  bare.latitude_deg = -33.8688197;
  bare.longitude_deg = 151.2092955;
  bare.mode = 2;
  ASSERT_TRUE(catalog->InsertTrackPoint(full).ok());
  ASSERT_TRUE(catalog->InsertTrackPoint(bare).ok());
  auto points = catalog->TrackPoints(0, 3'000);
  ASSERT_TRUE(points.ok()) << points.message();
  ASSERT_EQ(points->size(), 2u);
  EXPECT_TRUE(SamePoint((*points)[0], full));
  EXPECT_TRUE(SamePoint((*points)[1], bare));
  EXPECT_EQ((*points)[1].gps_utc_ns, 0);
  EXPECT_EQ((*points)[1].satellites_used, -1);
  EXPECT_TRUE(std::isnan((*points)[1].altitude_m));
  // Not reported is NULL in the file, not 0 or -1.
  RawDb raw(path);
  EXPECT_EQ(raw.One("SELECT gps_utc_ns, altitude_m, speed_mps, course_deg, satellites_used, "
                    "horizontal_error_m, vertical_error_m FROM track_point WHERE utc_ns = 2000"),
            "NULL|NULL|NULL|NULL|NULL|NULL|NULL");
}

TEST(CatalogTest, TrackPointsAreSelectedByReceivedTimeHalfOpenAndInOrder) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  // Added out of time order (the wall clock can be stepped): the query orders by utc_ns, then
  // by the order added.
  for (int64_t t : {150, 99, 100, 200, 120, 199, 120}) {
    TrackPoint p = MakePoint(t);
    p.satellites_used = static_cast<int>(t % 50);
    ASSERT_TRUE(catalog->InsertTrackPoint(p).ok());
  }
  auto points = catalog->TrackPoints(100, 200);
  ASSERT_TRUE(points.ok()) << points.message();
  std::vector<int64_t> times;
  for (const TrackPoint& p : *points) times.push_back(p.utc_ns);
  EXPECT_EQ(times, (std::vector<int64_t>{100, 120, 120, 150, 199}));
  auto none = catalog->TrackPoints(300, 400);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto empty_range = catalog->TrackPoints(150, 150);
  ASSERT_TRUE(empty_range.ok());
  EXPECT_TRUE(empty_range->empty());
}

TEST(CatalogTest, TrackPointsQueryUsesTheTimeIndex) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  RawDb raw(dir / "catalog.db");
  std::string joined;
  for (const auto& row : raw.Query("EXPLAIN QUERY PLAN SELECT * FROM track_point "
                                   "WHERE utc_ns >= 1 AND utc_ns < 2 ORDER BY utc_ns, id")) {
    joined += row + "\n";
  }
  EXPECT_THAT(joined, HasSubstr("track_point_by_time"));
}

TEST(CatalogTest, InsertTrackPointRefusesPointsWithoutAPosition) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  TrackPoint no_position;
  no_position.utc_ns = 5;
  TrackPoint off_the_globe = MakePoint(6);
  off_the_globe.longitude_deg = 180.5;
  TrackPoint no_fix = MakePoint(7);
  no_fix.mode = 1;
  for (const TrackPoint& p : {no_position, off_the_globe, no_fix}) {
    base::Status s = catalog->InsertTrackPoint(p);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("no valid position"));
  }
  auto points = catalog->TrackPoints(0, 100);
  ASSERT_TRUE(points.ok());
  EXPECT_TRUE(points->empty());
}

TEST(CatalogTest, TimeTrustAndTrackFieldsRoundTripAndConflict) {
  TempDir dir;
  auto catalog = OpenOrDie(dir / "catalog.db");
  ASSERT_TRUE(catalog);
  SegmentRecord unknown = MakeRecord("road", 1);
  unknown.time_source = "unknown";
  unknown.clock_offset_ns.reset();
  ASSERT_TRUE(catalog->InsertSegment(unknown).ok());
  ASSERT_TRUE(catalog->InsertSegment(MakeRecord("road", 2)).ok());
  auto rows = catalog->Segments("road");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_TRUE(SameRecord((*rows)[0], unknown));
  EXPECT_FALSE((*rows)[0].clock_offset_ns.has_value());
  EXPECT_TRUE(SameRecord((*rows)[1], MakeRecord("road", 2)));

  // A row that differs only in its time trust or track is a conflict, named by field.
  SegmentRecord other = MakeRecord("road", 2);
  other.time_source = "ntp";
  other.clock_offset_ns = 5;
  other.track_sha256_hex = Hex('e');
  other.track_points = 59;
  base::Status s = catalog->InsertSegment(other);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("time_source differs (catalog gps, new ntp)"));
  EXPECT_THAT(s.message(), HasSubstr("clock_offset_ns differs (catalog -1200000, new 5)"));
  EXPECT_THAT(s.message(), HasSubstr("track_points differs (catalog 60, new 59)"));
  EXPECT_THAT(s.message(), HasSubstr("track_sha256 differs"));

  // The schema holds the track file to its segment and the time source to its four words.
  SegmentRecord elsewhere = MakeRecord("road", 3);
  elsewhere.track_file = "segments/road/other.gpx";
  EXPECT_THAT(catalog->InsertSegment(elsewhere).message(), HasSubstr("CHECK constraint failed"));
  SegmentRecord sundial = MakeRecord("road", 3);
  sundial.time_source = "sundial";
  EXPECT_THAT(catalog->InsertSegment(sundial).message(), HasSubstr("CHECK constraint failed"));
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
    EXPECT_EQ((*catalog)->schema_version(), Catalog::kSchemaVersion);
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
