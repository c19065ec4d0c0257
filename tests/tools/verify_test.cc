// patrolrec-verify against real data directories: fragmented-MP4 clips made by GStreamer, sealed
// with the real key, seal and catalog code, then tampered with the way a forger would (flip a
// byte, delete, reorder, edit the catalog, forge a seal, edit or delete a GPS track, delete the
// newest footage) and checked
// by running the real binary. The shell commands of docs/seal-format.md are run here too, taken
// from the document itself, so that the document cannot drift from the format.
#include "storage/verify.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "storage/catalog.h"
#include "storage/device_key.h"
#include "storage/seal.h"
#include "storage/segment_name.h"
#include "storage/track.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using testing::BinaryPath;
using testing::CountOf;
using testing::CommandResult;
using testing::MakeFragmentedClip;
using testing::RunCommand;
using testing::TempDir;
using testing::WriteTextFile;

constexpr char kDevice[] = "PR-0001";
constexpr int64_t kStartUtcNs = 1'795'914'990'250'000'000;  // 2026-11-29T01:16:30.250Z

base::Env& TheEnv() { return *base::Env::Default(); }

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}


std::string Quoted(const std::string& s) { return "'" + s + "'"; }

// A fenced block of docs/seal-format.md, found by the marker comment in front of it.
std::string DocBlock(const std::string& name) {
  std::ifstream in(std::string(PATROLREC_SOURCE_DIR) + "/docs/seal-format.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string marker = "<!-- check: " + name + " -->\n```sh\n";
  size_t start = doc.find(marker);
  if (start == std::string::npos) return "";
  start += marker.size();
  size_t end = doc.find("\n```", start);
  return end == std::string::npos ? "" : doc.substr(start, end - start + 1);
}

// Runs a bash script with `set -eu -o pipefail` and the given variables exported.
CommandResult Shell(const std::map<std::string, std::string>& variables,
                    const std::string& script) {
  std::string prelude = "set -eu -o pipefail\n";
  for (const auto& [name, value] : variables)
    prelude += "export " + name + "=" + Quoted(value) + "\n";
  return RunCommand({"bash", "-c", prelude + script});
}

// Clips of 1..4 seconds (different lengths, so different bytes), made once for all tests.
class Clips {
 public:
  static const std::string& Get(int seconds) {
    static Clips clips;
    return clips.paths_.at(seconds);
  }

 private:
  Clips() {
    for (int seconds = 1; seconds <= 4; ++seconds) {
      paths_[seconds] = MakeFragmentedClip(dir_.path(), "clip" + std::to_string(seconds) + ".mp4",
                                           seconds, /*with_audio=*/seconds == 2);
    }
  }
  TempDir dir_;
  std::map<int, std::string> paths_;
};

// A data directory as the recorder leaves it: key, public key, sealed segments with chain heads,
// and a catalog.
class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int seconds = 1; seconds <= 4; ++seconds) {
      ASSERT_FALSE(Clips::Get(seconds).empty()) << "gst-launch-1.0 could not make a clip";
    }
    auto key =
        DeviceKey::LoadOrCreate(TheEnv(), data_ / "keys/device.key", data_ / "device.pub.pem");
    ASSERT_TRUE(key.ok()) << key.message();
    key_ = std::move(*key);
  }

  // Records segments of `camera` from clips of the given lengths, back to back from `start`,
  // except that `pause_after[i]` nanoseconds pass after segment i (a gap).
  std::vector<SegmentRecord> Record(const std::string& camera, const std::vector<int>& seconds,
                                    int64_t start_utc_ns = kStartUtcNs,
                                    std::map<size_t, int64_t> pause_after = {},
                                    bool catalogue = true) {
    std::vector<SegmentRecord> records;
    EXPECT_TRUE(TheEnv().CreateDirs(data_ / CameraDir(camera)).ok());
    std::unique_ptr<Catalog> catalog;
    if (catalogue) {
      auto opened = Catalog::Open(data_ / "catalog.sqlite");
      EXPECT_TRUE(opened.ok()) << opened.message();
      if (opened.ok()) catalog = std::move(*opened);
    }
    std::string prev_chain = kGenesisChainHex;
    int64_t sequence = 0;
    if (auto last = last_.find(camera); last != last_.end()) {
      prev_chain = last->second.chain_hex;
      sequence = last->second.sequence;
    }
    int64_t t = start_utc_ns;
    for (size_t i = 0; i < seconds.size(); ++i) {
      SegmentRecord r;
      r.device_id = kDevice;
      r.camera = camera;
      r.sequence = ++sequence;
      r.file = CameraDir(camera) + "/" + FormatSegmentName({kDevice, camera, t});
      std::filesystem::copy_file(Clips::Get(seconds[i]), data_ / r.file);
      r.start_utc_ns = t;
      r.duration_ns = seconds[i] * base::kNsPerSecond;
      r.end_utc_ns = t + r.duration_ns;
      r.frames = int64_t{seconds[i]} * 30;
      r.bytes = static_cast<int64_t>(*TheEnv().FileSize(data_ / r.file));
      r.sha256_hex = *Sha256File(TheEnv(), data_ / r.file);
      r.state = i % 3 == 2 ? SegmentState::kRecovered : SegmentState::kSealed;
      // A fix every second, as the recorder hands them over; recovered segments lost their
      // knowledge of the clock.
      std::vector<TrackPoint> points;
      for (int k = 0; k < seconds[i]; ++k) {
        TrackPoint p;
        p.utc_ns = t + k * base::kNsPerSecond + 100 * base::kNsPerMs;
        p.gps_utc_ns = p.utc_ns - 1'200'000;
        p.latitude_deg = 52.52 + 0.0001 * static_cast<double>(sequence * 10 + k);
        p.longitude_deg = 13.40;
        p.mode = 3;
        points.push_back(p);
      }
      const std::string gpx = FormatGpx(kDevice, camera, r.file, points);
      WriteTextFile(data_ / TrackPathFor(r.file), gpx);
      r.track_file = TrackPathFor(r.file);
      r.track_sha256_hex = Sha256Hex(gpx);
      r.track_points = static_cast<int64_t>(points.size());
      r.time_source = r.state == SegmentState::kRecovered ? "unknown" : "gps";
      if (r.state != SegmentState::kRecovered) r.clock_offset_ns = -1'200'000;
      r.sealed_utc_ns = r.end_utc_ns + 300 * base::kNsPerMs;
      r.prev_chain_hex = prev_chain;
      base::Status s = SealRecord(&r, *key_);
      EXPECT_TRUE(s.ok()) << s.message();
      EXPECT_TRUE(WriteSeal(TheEnv(), data_ / (r.file + ".seal"), r).ok());
      auto head = MakeChainHead(r, *key_);
      EXPECT_TRUE(head.ok()) << head.message();
      EXPECT_TRUE(WriteChainHead(TheEnv(), data_ / ChainHeadPath(camera), *head).ok());
      if (catalog) {
        s = catalog->InsertSegment(r);
        EXPECT_TRUE(s.ok()) << s.message();
      }
      prev_chain = r.chain_hex;
      t = r.end_utc_ns + (pause_after.count(i) ? pause_after[i] : 0);
      last_[camera] = r;
      records.push_back(r);
    }
    return records;
  }

  CommandResult Verify(std::vector<std::string> options = {}) {
    std::vector<std::string> argv = {BinaryPath("patrolrec-verify")};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(data_.path());
    return RunCommand(argv);
  }

  // Reads the report through the library, for assertions on its structure.
  VerifyReport Report(bool use_catalog = true) {
    VerifyOptions options;
    options.data_dir = data_.path();
    options.use_catalog = use_catalog;
    auto report = VerifyDataDir(TheEnv(), options);
    EXPECT_TRUE(report.ok()) << report.message();
    return report.ok() ? *report : VerifyReport();
  }

  void Remove(const std::string& relative) {
    ASSERT_TRUE(TheEnv().RemoveFile(data_ / relative).ok()) << relative;
  }

  void FlipByte(const std::string& relative, uint64_t offset) {
    std::fstream f(data_ / relative, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x01));
  }

  // Replaces line `key=...` of a seal; with `rechain`, recomputes the chain line as a forger
  // without the key would (the signature stays the old one).
  void EditSeal(const std::string& segment, const std::string& key, const std::string& value,
                bool rechain) {
    std::string text = *TheEnv().ReadFile(data_ / (segment + ".seal"));
    size_t at = text.find("\n" + key + "=") + 1;
    size_t end = text.find('\n', at);
    text.replace(at, end - at, key + "=" + value);
    if (rechain) {
      size_t body_end = text.find("\nchain=") + 1;
      size_t chain_end = text.find('\n', body_end);
      text.replace(body_end, chain_end - body_end, "chain=" + Sha256Hex(text.substr(0, body_end)));
    }
    WriteTextFile(data_ / (segment + ".seal"), text);
  }

  CommandResult Sql(const std::string& statement) {
    return RunCommand({"sqlite3", data_ / "catalog.sqlite", statement});
  }

  TempDir data_;
  std::unique_ptr<DeviceKey> key_;
  std::map<std::string, SegmentRecord> last_;  // per camera, for continuing a chain
};

TEST_F(VerifyTest, CleanDataDirectoryVerifiesWithExitZero) {
  Record("road", {1, 2, 3});
  Record("cabin-rear", {2, 1});
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "OK: 5 segments of 2 cameras verified")) << r.output;
  EXPECT_FALSE(Contains(r.output, "FAIL")) << r.output;
  EXPECT_TRUE(Contains(r.output, "camera road: 3 segments, sequences 1..3, 0 gaps")) << r.output;
  EXPECT_TRUE(Contains(r.output, "public key: " + (data_ / "device.pub.pem") + " (fingerprint " +
                                     key_->fingerprint() + "), taken from the data directory"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "proves only that the directory is consistent with itself"))
      << r.output;
}

TEST_F(VerifyTest, TrustedPublicKeyOptionIsUsedAndNamed) {
  Record("road", {1, 2});
  TempDir elsewhere;
  const std::string trusted = elsewhere / "trusted.pem";
  ASSERT_TRUE(std::filesystem::copy_file(data_ / "device.pub.pem", trusted));
  CommandResult r = Verify({"--public-key", trusted});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "public key: " + trusted)) << r.output;
  EXPECT_FALSE(Contains(r.output, "consistent with itself")) << r.output;
}

TEST_F(VerifyTest, FlippedByteInMiddleSegmentFailsNamingOnlyThatFile) {
  auto records = Record("road", {1, 2, 3});
  FlipByte(records[1].file, static_cast<uint64_t>(records[1].bytes / 2));
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file + ": sha256 mismatch (seal says " +
                                     records[1].sha256_hex + ", file is "))
      << r.output;
  EXPECT_EQ(CountOf(r.output, "FAIL "), 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAILED: 1 problem\n")) << r.output;
}

TEST_F(VerifyTest, AppendedBytesAreASizeMismatch) {
  auto records = Record("road", {1, 2});
  std::ofstream(data_ / records[0].file, std::ios::app | std::ios::binary) << "extra";
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[0].file + ": size mismatch (seal says " +
                                     std::to_string(records[0].bytes) + " bytes, file has " +
                                     std::to_string(records[0].bytes + 5) + ")"))
      << r.output;
}

TEST_F(VerifyTest, DeletedMiddleSegmentIsReportedBetweenItsNeighbours) {
  auto records = Record("road", {1, 2, 3, 4});
  Remove(records[1].file);
  Remove(records[1].file + ".seal");
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[2].file + ": segment 2 missing between " +
                                     records[0].file + " and " + records[2].file))
      << r.output;
  // The catalog still knows it: the deletion is named there too.
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file +
                                     ": catalogued, but neither the file nor its seal exists"))
      << r.output;
  // Without the catalog the chain alone still catches it.
  CommandResult no_catalog = Verify({"--no-catalog"});
  EXPECT_EQ(no_catalog.exit_code, 1) << no_catalog.output;
  EXPECT_TRUE(Contains(no_catalog.output, "segment 2 missing between")) << no_catalog.output;
}

TEST_F(VerifyTest, DeletedFirstSegmentIsReported) {
  auto records = Record("road", {1, 2, 3});
  Remove(records[0].file);
  Remove(records[0].file + ".seal");
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file +
                                     ": segment 1 missing before this one (sequences start at 1)"))
      << r.output;
}

TEST_F(VerifyTest, SwappedSegmentContentsAreDetected) {
  auto records = Record("road", {1, 2, 3, 4});
  const std::string a = data_ / records[1].file, b = data_ / records[2].file;
  ASSERT_TRUE(TheEnv().Rename(a, a + ".x").ok());
  ASSERT_TRUE(TheEnv().Rename(b, a).ok());
  ASSERT_TRUE(TheEnv().Rename(a + ".x", b).ok());
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file + ": size mismatch")) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[2].file + ": size mismatch")) << r.output;
}

TEST_F(VerifyTest, SegmentsReorderedWithTheirSealsAreDetected) {
  auto records = Record("road", {1, 2, 3, 4});
  // Swap segments 2 and 3 together with their seals, under each other's names.
  for (const std::string suffix : {"", ".seal"}) {
    const std::string a = data_ / (records[1].file + suffix),
                      b = data_ / (records[2].file + suffix);
    ASSERT_TRUE(TheEnv().Rename(a, a + ".x").ok());
    ASSERT_TRUE(TheEnv().Rename(b, a).ok());
    ASSERT_TRUE(TheEnv().Rename(a + ".x", b).ok());
  }
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file + ": the seal names file \"" +
                                     records[2].file + "\" but lies beside this one"))
      << r.output;
  EXPECT_TRUE(Contains(
      r.output, "FAIL " + records[2].file + ": the seal names file \"" + records[1].file + "\""))
      << r.output;
}

TEST_F(VerifyTest, SegmentReplacedBySomeoneElsesSealIsAChainBreak) {
  auto records = Record("road", {1, 2, 3});
  // A forger with their own key re-seals segment 2 with an edited clip and a valid-looking seal
  // that links to segment 1; segment 3 no longer links to it, and the signature is not the
  // device's.
  TempDir forger;
  auto forged_key =
      DeviceKey::LoadOrCreate(TheEnv(), forger / "k/device.key", forger / "device.pub.pem");
  ASSERT_TRUE(forged_key.ok());
  SegmentRecord forged = records[1];
  std::filesystem::copy_file(Clips::Get(4), data_ / forged.file,
                             std::filesystem::copy_options::overwrite_existing);
  forged.bytes = static_cast<int64_t>(*TheEnv().FileSize(data_ / forged.file));
  forged.sha256_hex = *Sha256File(TheEnv(), data_ / forged.file);
  ASSERT_TRUE(SealRecord(&forged, **forged_key).ok());
  ASSERT_TRUE(WriteSeal(TheEnv(), data_ / (forged.file + ".seal"), forged).ok());
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + forged.file + ": signature does not verify"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[2].file + ": chain broken between " +
                                     forged.file + " and " + records[2].file +
                                     ": a segment is missing, reordered or replaced"))
      << r.output;
}

TEST_F(VerifyTest, ForgedSealFieldWithRecomputedChainFailsTheSignature) {
  auto records = Record("road", {1, 2, 3});
  EditSeal(records[1].file, "frames", "59", /*rechain=*/true);
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file + ": signature does not verify"))
      << r.output;
  EXPECT_FALSE(Contains(r.output, "chain value does not match")) << r.output;
  // The next seal still links to the chain value that was signed, so the chain breaks too.
  EXPECT_TRUE(Contains(r.output, "chain broken between " + records[1].file)) << r.output;
}

TEST_F(VerifyTest, EditedSealWithoutRecomputedChainFailsTheChainValueToo) {
  auto records = Record("road", {1, 2});
  EditSeal(records[0].file, "start_utc", "2026-11-29T01:16:29.250000000Z", /*rechain=*/false);
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[0].file +
                                     ": chain value does not match the "
                                     "seal's contents"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[0].file + ": signature does not verify"))
      << r.output;
}

TEST_F(VerifyTest, MalformedSealIsReportedWithItsLine) {
  auto records = Record("road", {1, 2});
  EditSeal(records[1].file, "bytes", "lots", /*rechain=*/false);
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file +
                                     ".seal: the seal is malformed: seal "
                                     "line 6 (bytes)"))
      << r.output;
}

TEST_F(VerifyTest, EditedCatalogRowIsDetectedNamingTheFile) {
  auto records = Record("road", {1, 2, 3});
  CommandResult sql = Sql("UPDATE segment SET frames = frames + 1 WHERE file = '" +
                          records[1].file + "'; UPDATE segment SET sha256 = '" +
                          std::string(64, 'e') + "' WHERE file = '" + records[2].file + "';");
  ASSERT_EQ(sql.exit_code, 0) << sql.output;
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file +
                                     ": the catalog row differs from the seal: frames (catalog 61, "
                                     "seal 60)"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[2].file +
                                     ": the catalog row differs from the seal: sha256 (catalog " +
                                     std::string(64, 'e') + ", seal " + records[2].sha256_hex))
      << r.output;
  EXPECT_EQ(CountOf(r.output, "FAIL "), 2) << r.output;
  // The catalog is not evidence: with --no-catalog the footage itself verifies.
  EXPECT_EQ(Verify({"--no-catalog"}).exit_code, 0);
}

TEST_F(VerifyTest, CatalogRowMarkedMissingIsAProblem) {
  auto records = Record("road", {1, 2});
  {
    auto catalog = Catalog::Open(data_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    ASSERT_TRUE((*catalog)->MarkMissing(records[0].file).ok());
  }
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(
      Contains(r.output, "FAIL " + records[0].file + ": the catalog marks this segment missing"))
      << r.output;
}

TEST_F(VerifyTest, SealedSegmentWithoutCatalogRowIsOnlyANote) {
  Record("road", {1});
  Record("road", {2}, kStartUtcNs + base::kNsPerSecond, {}, /*catalogue=*/false);
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, ": sealed but not in the catalog (the catalog can be rebuilt"))
      << r.output;
}

TEST_F(VerifyTest, AbsentCatalogIsANoteNotAFailure) {
  Record("road", {1, 2}, kStartUtcNs, {}, /*catalogue=*/false);
  ASSERT_FALSE(TheEnv().Exists(data_ / "catalog.sqlite"));
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "NOTE catalog.sqlite: absent")) << r.output;
}

TEST_F(VerifyTest, DeletedNewestSegmentIsDetectedThroughTheChainHead) {
  auto records = Record("road", {1, 2, 3});
  Remove(records[2].file);
  Remove(records[2].file + ".seal");
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "FAIL segments/road/chain-head: newest segment 3 deleted: the "
                       "chain head says sequence 3, the last seal is 2 (" +
                           records[1].file + ")"))
      << r.output;
}

TEST_F(VerifyTest, ChainHeadOneBehindAfterACrashIsAccepted) {
  auto records = Record("road", {1, 2, 3});
  auto head = MakeChainHead(records[1], *key_);
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(WriteChainHead(TheEnv(), data_ / ChainHeadPath("road"), *head).ok());
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(VerifyTest, MissingOrForgedChainHeadIsAProblem) {
  Record("road", {1, 2});
  std::string head = *TheEnv().ReadFile(data_ / ChainHeadPath("road"));
  Remove(ChainHeadPath("road"));
  CommandResult missing = Verify();
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_TRUE(Contains(missing.output, "FAIL segments/road/chain-head: chain-head missing"))
      << missing.output;

  head.replace(head.find("sequence=2"), 10, "sequence=1");
  WriteTextFile(data_ / ChainHeadPath("road"), head);
  CommandResult forged = Verify();
  EXPECT_EQ(forged.exit_code, 1) << forged.output;
  EXPECT_TRUE(Contains(forged.output, "FAIL segments/road/chain-head: signature does not verify"))
      << forged.output;
}

TEST_F(VerifyTest, UnsealedFileAndSealWithoutFileAreProblems) {
  auto records = Record("road", {1, 2});
  std::filesystem::copy_file(Clips::Get(3), data_ / "segments/road/added.mp4");
  Remove(records[1].file);
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL segments/road/added.mp4: unsealed file")) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file + ": video absent (evicted or deleted)"))
      << r.output;
}

TEST_F(VerifyTest, ResealedDirectoryPassesOnlyAgainstItsOwnKey) {
  // A forger who replaces every seal, chain head and device.pub.pem with their own key makes a
  // self-consistent directory; only the device's registered key exposes it.
  TempDir elsewhere;
  const std::string genuine_key = elsewhere / "genuine.pem";
  std::filesystem::copy_file(data_ / "device.pub.pem", genuine_key);
  ASSERT_TRUE(TheEnv().RemoveFile(data_ / "keys/device.key").ok());
  ASSERT_TRUE(TheEnv().RemoveFile(data_ / "device.pub.pem").ok());
  auto forger =
      DeviceKey::LoadOrCreate(TheEnv(), data_ / "keys/device.key", data_ / "device.pub.pem");
  ASSERT_TRUE(forger.ok());
  key_ = std::move(*forger);
  Record("road", {1, 2});
  CommandResult self = Verify();
  CommandResult trusted = Verify({"--public-key=" + genuine_key});
  EXPECT_EQ(self.exit_code, 0) << self.output;
  EXPECT_EQ(trusted.exit_code, 1) << trusted.output;
  EXPECT_EQ(CountOf(trusted.output, ": signature does not verify"), 3) << trusted.output;
}

TEST_F(VerifyTest, JsonOutputParsesAndShowsRangesAndGap) {
  // road: 1 s, 2 s, then 10 s of nothing, then 3 s; cabin-rear: one segment.
  auto road = Record("road", {1, 2, 3}, kStartUtcNs, {{1, 10 * base::kNsPerSecond}});
  Record("cabin-rear", {1});
  const std::string check = R"PY(
import json, sys
d = json.load(sys.stdin)
assert d["ok"] is True, d
assert d["segments"] == 4, d
assert d["public_key"]["from_data_dir"] is True, d
assert len(d["public_key"]["fingerprint"]) == 64, d
assert d["problems"] == [], d
cams = {c["camera"]: c for c in d["cameras"]}
road = cams["road"]
assert road["segments"] == 3 and road["first_sequence"] == 1 and road["last_sequence"] == 3, road
assert road["ranges"] == [
    {"start_utc": "2026-11-29T01:16:30.250000000Z", "end_utc": "2026-11-29T01:16:33.250000000Z"},
    {"start_utc": "2026-11-29T01:16:43.250000000Z", "end_utc": "2026-11-29T01:16:46.250000000Z"},
], road["ranges"]
assert len(road["gaps"]) == 1, road
g = road["gaps"][0]
assert g["seconds"] == 10.0 and g["from_utc"] == "2026-11-29T01:16:33.250000000Z", g
assert g["to_utc"] == "2026-11-29T01:16:43.250000000Z", g
assert g["after_file"].endswith("PR-0001_road_20261129T011631.250Z.mp4"), g
assert g["before_file"].endswith("PR-0001_road_20261129T011643.250Z.mp4"), g
assert cams["cabin-rear"]["gaps"] == [], cams
print("json ok")
)PY";
  CommandResult r =
      RunCommand({"bash", "-c",
                  "set -o pipefail; " + BinaryPath("patrolrec-verify") + " --json " +
                      Quoted(data_.path()) + " 2>/dev/null | python3 -c " + Quoted(check)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "json ok\n");
  EXPECT_EQ(road[2].start_utc_ns - road[1].end_utc_ns, 10 * base::kNsPerSecond);

  // With problems, the object still parses and lists them.
  FlipByte(road[0].file, 100);
  CommandResult failed =
      RunCommand({"bash", "-c",
                  BinaryPath("patrolrec-verify") + " --json " + Quoted(data_.path()) +
                      " 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); "
                      "assert d[\"ok\"] is False; print(d[\"problems\"][0][\"file\"])'"});
  EXPECT_EQ(failed.exit_code, 0) << failed.output;
  EXPECT_EQ(failed.output, road[0].file + "\n");
}

TEST_F(VerifyTest, SmallTimestampJitterIsNotAGap) {
  // 20 ms between segments is less than 1.5 frame periods at 30 fps (50 ms).
  Record("road", {1, 1, 1}, kStartUtcNs, {{0, 20 * base::kNsPerMs}, {1, 60 * base::kNsPerMs}});
  VerifyReport report = Report();
  ASSERT_EQ(report.cameras.size(), 1u);
  EXPECT_EQ(report.cameras[0].ranges.size(), 2u);
  ASSERT_EQ(report.cameras[0].gaps.size(), 1u);
  EXPECT_EQ(report.cameras[0].gaps[0].to_utc_ns - report.cameras[0].gaps[0].from_utc_ns,
            60 * base::kNsPerMs);
  EXPECT_TRUE(report.ok());
}

TEST_F(VerifyTest, LibraryReportsProgressForEverySegment) {
  Record("road", {1, 2, 3});
  VerifyOptions options;
  options.data_dir = data_.path();
  std::vector<VerifyProgress> seen;
  auto report =
      VerifyDataDir(TheEnv(), options, [&seen](const VerifyProgress& p) { seen.push_back(p); });
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.back().seals_done, 3);
  EXPECT_EQ(seen.back().seals_total, 3);
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
  EXPECT_EQ(report->bytes_hashed, seen.back().bytes_total);
  EXPECT_EQ(report->files_checked, 3 + 3 + 3 + 1);  // seals, segment files, tracks, chain head
}

TEST_F(VerifyTest, VerifierChangesNothingInTheDirectory) {
  Record("road", {1, 2});
  auto listing = [this] {
    std::string out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(data_.path())) {
      out += e.path().string() + " " +
             std::to_string(std::filesystem::last_write_time(e.path()).time_since_epoch().count()) +
             "\n";
    }
    return out;
  };
  const std::string before = listing();
  EXPECT_EQ(Verify().exit_code, 0);
  EXPECT_EQ(listing(), before);
}

TEST_F(VerifyTest, UsageErrorsExitTwoAndSayWhatToDo) {
  const std::string tool = BinaryPath("patrolrec-verify");
  CommandResult none = RunCommand({tool});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(Contains(none.output, "missing DIR")) << none.output;
  EXPECT_TRUE(Contains(none.output, "Try 'patrolrec-verify --help'")) << none.output;

  CommandResult bad = RunCommand({tool, "--frobnicate", data_.path()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(Contains(bad.output, "unknown option \"--frobnicate\"")) << bad.output;

  CommandResult no_key_arg = RunCommand({tool, data_.path(), "--public-key"});
  EXPECT_EQ(no_key_arg.exit_code, 2);
  EXPECT_TRUE(Contains(no_key_arg.output, "--public-key needs a FILE")) << no_key_arg.output;

  CommandResult two = RunCommand({tool, data_.path(), data_.path()});
  EXPECT_EQ(two.exit_code, 2);

  CommandResult not_dir = RunCommand({tool, data_ / "device.pub.pem"});
  EXPECT_EQ(not_dir.exit_code, 2);
  EXPECT_TRUE(Contains(not_dir.output, "is it a directory?")) << not_dir.output;

  CommandResult absent = RunCommand({tool, data_ / "no-such-dir"});
  EXPECT_EQ(absent.exit_code, 2);
  EXPECT_TRUE(Contains(absent.output, "ENOENT")) << absent.output;

  TempDir empty;
  CommandResult no_key = RunCommand({tool, empty.path()});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_TRUE(Contains(no_key.output, "--public-key FILE")) << no_key.output;

  WriteTextFile(empty / "device.pub.pem", "not a key\n");
  CommandResult bad_key = RunCommand({tool, empty.path()});
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_TRUE(Contains(bad_key.output, "not a PEM Ed25519 public key")) << bad_key.output;

  CommandResult help = RunCommand({tool, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(Contains(help.output, "Usage: patrolrec-verify [--json] [--public-key FILE]"))
      << help.output;
}

TEST_F(VerifyTest, EmptyDataDirectoryWithAKeyVerifies) {
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "OK: 0 segments of 0 cameras verified")) << r.output;
}

TEST_F(VerifyTest, DocumentedShellCommandsCheckASegmentByHand) {
  auto records = Record("road", {1, 2, 3});
  const std::string block = DocBlock("segment");
  ASSERT_FALSE(block.empty()) << "no <!-- check: segment --> block in docs/seal-format.md";
  CommandResult good = Shell({{"D", data_.path()}, {"S", records[1].file}}, block);
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_TRUE(Contains(good.output,
                       "size ok\nsha256 ok\ntrack ok\nchain ok\nSignature Verified "
                       "Successfully\n"))
      << good.output;

  FlipByte(records[1].file, 1000);
  CommandResult flipped = Shell({{"D", data_.path()}, {"S", records[1].file}}, block);
  EXPECT_TRUE(
      Contains(flipped.output, "size ok\nsha256 MISMATCH: seal says " + records[1].sha256_hex))
      << flipped.output;
  EXPECT_TRUE(Contains(flipped.output, "\ntrack ok\nchain ok\nSignature Verified Successfully"))
      << flipped.output;

  // The track is checked by hand the same way.
  std::ofstream(data_ / (records[0].file + ".gpx"), std::ios::app) << "<!-- -->\n";
  CommandResult track = Shell({{"D", data_.path()}, {"S", records[0].file}}, block);
  EXPECT_TRUE(
      Contains(track.output, "sha256 ok\ntrack MISMATCH: seal says " + records[0].track_sha256_hex))
      << track.output;

  EditSeal(records[2].file, "frames", "89", /*rechain=*/true);
  CommandResult forged = Shell({{"D", data_.path()}, {"S", records[2].file}}, block);
  EXPECT_NE(forged.exit_code, 0) << forged.output;
  EXPECT_TRUE(Contains(forged.output, "chain ok\nSignature Verification Failure")) << forged.output;
}

TEST_F(VerifyTest, DocumentedShellCommandsWalkTheChainAndCheckTheHead) {
  auto records = Record("road", {1, 2, 3, 1});
  const std::string chain = DocBlock("chain");
  const std::string head = DocBlock("head");
  const std::string fingerprint = DocBlock("fingerprint");
  ASSERT_FALSE(chain.empty() || head.empty() || fingerprint.empty()) << "doc blocks missing";
  const std::map<std::string, std::string> vars = {{"D", data_.path()}, {"C", "road"}};

  CommandResult walked = Shell(vars, chain);
  EXPECT_EQ(walked.exit_code, 0) << walked.output;
  EXPECT_FALSE(Contains(walked.output, "BROKEN")) << walked.output;
  EXPECT_TRUE(Contains(walked.output, "last: sequence 4, chain " + records[3].chain_hex + "\n"))
      << walked.output;

  CommandResult checked = Shell(vars, head);
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
  EXPECT_TRUE(Contains(checked.output, "Signature Verified Successfully\nhead: sequence 4, chain " +
                                           records[3].chain_hex + "\n"))
      << checked.output;

  CommandResult printed = Shell(vars, fingerprint);
  EXPECT_EQ(printed.exit_code, 0) << printed.output;
  EXPECT_EQ(printed.output.substr(0, 64), key_->fingerprint());

  // Deleting segment 2 shows up in the walk; deleting the newest shows up against the head.
  Remove(records[1].file + ".seal");
  Remove(records[3].file + ".seal");
  CommandResult broken = Shell(vars, chain);
  EXPECT_TRUE(Contains(broken.output, "BROKEN: sequence 2 expected")) << broken.output;
  EXPECT_TRUE(Contains(broken.output, "last: sequence 3, chain " + records[2].chain_hex))
      << broken.output;
}

TEST_F(VerifyTest, EditedTrackFailsNamingTheTrackFile) {
  auto records = Record("road", {1, 2, 3});
  const std::string track = records[1].file + ".gpx";
  std::string gpx = *TheEnv().ReadFile(data_ / track);
  const size_t at = gpx.find("lat=\"52.5");
  ASSERT_NE(at, std::string::npos);
  gpx.replace(at, 9, "lat=\"48.1");  // moved the car to another city
  WriteTextFile(data_ / track, gpx);
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + track + ": SHA-256 mismatch (seal says " +
                                     records[1].track_sha256_hex + ", file is "))
      << r.output;
  EXPECT_EQ(CountOf(r.output, "FAIL "), 1) << r.output;  // the video itself is intact
}

TEST_F(VerifyTest, DeletedTrackIsAProblem) {
  auto records = Record("road", {1, 2});
  Remove(records[0].file + ".gpx");
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[0].file + ".gpx: track file missing"))
      << r.output;
  EXPECT_EQ(CountOf(r.output, "FAIL "), 1) << r.output;
}

TEST_F(VerifyTest, TrackWithoutASealIsAnUnsealedFile) {
  auto records = Record("road", {1, 2});
  // A track added beside a file nobody sealed, and one whose segment and seal were removed.
  std::filesystem::copy_file(Clips::Get(3), data_ / "segments/road/added.mp4");
  WriteTextFile(data_ / "segments/road/added.mp4.gpx", FormatGpx(kDevice, "road", "x", {}));
  Remove(records[1].file);
  Remove(records[1].file + ".seal");
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL segments/road/added.mp4: unsealed file")) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "FAIL segments/road/added.mp4.gpx: unsealed file: no seal names "
                       "this track"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[1].file + ".gpx: unsealed file")) << r.output;
}

TEST_F(VerifyTest, EditedTimeSourceInASealIsDetected) {
  auto records = Record("road", {1, 2, 3});
  ASSERT_EQ(records[2].time_source, "unknown");  // a recovered segment
  // Claim GPS time for a segment whose clock was unknown; a forger without the key can only
  // recompute the chain value.
  EditSeal(records[2].file, "time_source", "gps", /*rechain=*/true);
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[2].file + ": signature does not verify"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "FAIL " + records[2].file +
                                     ": the catalog row differs from the seal: time_source "
                                     "(catalog unknown, seal gps)"))
      << r.output;

  // Without recomputing the chain, the chain value gives it away as well.
  EditSeal(records[1].file, "clock_offset_ns", "0", /*rechain=*/false);
  CommandResult again = Verify({"--no-catalog"});
  EXPECT_TRUE(Contains(
      again.output, "FAIL " + records[1].file + ": chain value does not match the seal's contents"))
      << again.output;
}

TEST_F(VerifyTest, EditedCatalogTimeTrustIsDetected) {
  auto records = Record("road", {1, 2});
  CommandResult sql =
      Sql("UPDATE segment SET time_source = 'gps', clock_offset_ns = 0, "
          "track_points = 0 WHERE file = '" +
          records[1].file + "'");
  ASSERT_EQ(sql.exit_code, 0) << sql.output;
  CommandResult r = Verify();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(
      Contains(r.output, "FAIL " + records[1].file +
                             ": the catalog row differs from the seal: clock_offset_ns "
                             "(catalog 0, seal -1200000); track_points (catalog 0, seal 2)"))
      << r.output;
}

TEST_F(VerifyTest, ReportShowsTimeTrustAndTracks) {
  auto records = Record("road", {1, 2, 3});
  CommandResult text = Verify();
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(Contains(text.output,
                       "  time: 2 gps, 1 unknown; largest clock offset -1200000 ns; 6 track "
                       "points\n"))
      << text.output;
  const std::string check = R"PY(
import json, sys
d = json.load(sys.stdin)
seals = d["cameras"][0]["seals"]
assert [s["sequence"] for s in seals] == [1, 2, 3], seals
assert [s["time_source"] for s in seals] == ["gps", "gps", "unknown"], seals
assert [s["clock_offset_ns"] for s in seals] == [-1200000, -1200000, None], seals
assert [s["track_points"] for s in seals] == [1, 2, 3], seals
assert all(s["track_file"] == s["file"] + ".gpx" and len(s["track_sha256"]) == 64 for s in seals)
assert seals[2]["state"] == "recovered" and seals[0]["start_utc"].endswith("Z"), seals
print("json ok")
)PY";
  CommandResult json =
      RunCommand({"bash", "-c",
                  "set -o pipefail; " + BinaryPath("patrolrec-verify") + " --json " +
                      Quoted(data_.path()) + " 2>/dev/null | python3 -c " + Quoted(check)});
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(json.output, "json ok\n");
}

TEST_F(VerifyTest, SealOfTheDevelopmentFormatIsReportedAsUnsupported) {
  auto records = Record("road", {1});
  std::string text = *TheEnv().ReadFile(data_ / (records[0].file + ".seal"));
  text.replace(0, text.find('\n'), "patrolrec-seal 1");
  WriteTextFile(data_ / (records[0].file + ".seal"), text);
  CommandResult r = Verify({"--no-catalog"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output,
                       "the seal is malformed: seal line 1 (header): seal format 1 was "
                       "written by a development build before 2026-11-29"))
      << r.output;
}

TEST(JsonQuoteTest, EscapesControlCharactersAndKeepsUtf8) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("\n\t\r\x01\x1f\x7f"), "\"\\n\\t\\r\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonQuote("车内摄像头 é 🚓"), "\"车内摄像头 é 🚓\"");
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a\\ufffdb\"");
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a UTF-16 surrogate
  EXPECT_EQ(JsonQuote("\xe8\xbd"), "\"\\ufffd\\ufffd\"");             // cut short
}

}  // namespace
}  // namespace patrolrec::storage
