// The sealer on real files: sequence numbers, empty files, torn tails, each segment's GPS track and
// time trust, and the order of the queue it shares with GPS fixes and events.
#include "storage/sealer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "base/clock.h"
#include "storage/fmp4.h"
#include "storage/reconcile.h"
#include "storage/seal.h"
#include "storage/segment_name.h"
#include "storage/track.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

class SealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = base::Env::Default();
    ASSERT_TRUE(env_->CreateDirs(dir_ / "segments/road").ok());
    auto key = DeviceKey::LoadOrCreate(*env_, dir_ / "keys/device.key", dir_ / "device.pub.pem");
    ASSERT_TRUE(key.ok()) << key.message();
    key_ = std::move(key).value();
    auto catalog = Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    sealer_ = std::make_unique<Sealer>(env_, base::Clock::System(), dir_.path(), "PR-0001",
                                       key_.get(), catalog_.get());
  }

  // A real fragmented MP4 placed as a segment of camera "road".
  std::string PlaceClip(const std::string& name) {
    std::string clip = testing::MakeFragmentedClip(dir_.path(), "clip.mp4", 2, false);
    EXPECT_FALSE(clip.empty());
    std::filesystem::rename(clip, dir_ / ("segments/road/" + name));
    return "segments/road/" + name;
  }

  // A 3D fix received at `utc_ns`, at a latitude that tells the points apart.
  static TrackPoint Point(int64_t utc_ns, double latitude_deg) {
    TrackPoint p;
    p.utc_ns = utc_ns;
    p.gps_utc_ns = utc_ns - 1'000'000;
    p.latitude_deg = latitude_deg;
    p.longitude_deg = 11.5;
    p.altitude_m = 500;
    p.mode = 3;
    p.satellites_used = 8;
    return p;
  }

  // The seal on disk of `file`, parsed.
  SegmentRecord SealOnDisk(const std::string& file) {
    auto text = env_->ReadFile(dir_ / (file + ".seal"));
    EXPECT_TRUE(text.ok()) << text.message();
    auto seal = text.ok() ? ParseSealFile(*text) : base::Result<SegmentRecord>(text.status());
    EXPECT_TRUE(seal.ok()) << seal.message();
    return seal.ok() ? *seal : SegmentRecord();
  }

  std::string ReadTrack(const std::string& file) {
    auto text = env_->ReadFile(dir_ / TrackPathFor(file));
    EXPECT_TRUE(text.ok()) << text.message();
    return text.ok() ? *text : "";
  }

  testing::TempDir dir_;
  base::Env* env_ = nullptr;
  std::unique_ptr<DeviceKey> key_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Sealer> sealer_;
};

TEST_F(SealerTest, EmptyFileIsRemovedWithoutSpendingASequenceNumber) {
  // A pipeline stopping at the instant it opened a file leaves a file of zero bytes: nothing to
  // seal, and sealing it must neither fail nor leave a hole in the chain.
  const std::string empty = "segments/road/PR-0001_road_20261129T010000.000Z.mp4";
  testing::WriteTextFile(dir_ / empty, "");
  SealOutcome outcome = sealer_->SealNow({"road", empty, 0, /*recover=*/true});
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(outcome.discarded_empty);
  EXPECT_EQ(outcome.error, "");
  EXPECT_FALSE(env_->Exists(dir_ / empty));

  const std::string real = PlaceClip("PR-0001_road_20261129T010001.000Z.mp4");
  outcome = sealer_->SealNow({"road", real, 1, /*recover=*/false});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.record.sequence, 1);
  EXPECT_EQ(outcome.record.prev_chain_hex, kGenesisChainHex);
  EXPECT_EQ(outcome.record.frames, 60);
  EXPECT_TRUE(env_->Exists(dir_ / (real + ".seal")));
}

TEST_F(SealerTest, ReconciliationRemovesEmptyFilesAndRecoversTheOthersInOrder) {
  const std::string first = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const std::string empty = "segments/road/PR-0001_road_20261129T010002.000Z.mp4";
  testing::WriteTextFile(dir_ / empty, "");
  auto report = Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, *sealer_);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->recovered, 1);
  EXPECT_EQ(report->problems, 0);
  EXPECT_FALSE(env_->Exists(dir_ / empty));
  auto rows = catalog_->Segments("road");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].file, first);
  EXPECT_EQ((*rows)[0].state, SegmentState::kRecovered);
}

TEST_F(SealerTest, SequencesFollowSealingOrderAndChainEachToThePrevious) {
  const std::string a = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const std::string b = PlaceClip("PR-0001_road_20261129T010002.000Z.mp4");
  SealOutcome first = sealer_->SealNow({"road", a, 0, false});
  SealOutcome second = sealer_->SealNow({"road", b, 0, false});
  ASSERT_TRUE(first.ok && second.ok) << first.error << second.error;
  EXPECT_EQ(second.record.sequence, first.record.sequence + 1);
  EXPECT_EQ(second.record.prev_chain_hex, first.record.chain_hex);
  auto head = env_->ReadFile(dir_ / ChainHeadPath("road"));
  ASSERT_TRUE(head.ok());
  auto parsed = ParseChainHead(*head);
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed->sequence, second.record.sequence);
  EXPECT_EQ(parsed->chain_hex, second.record.chain_hex);
}

TEST_F(SealerTest, ReconciliationBringsALaggingChainHeadUpToTheNewestSeal) {
  // The head write failed after seal #2 (disk full): the head still names #1.
  const std::string a = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  SealOutcome first = sealer_->SealNow({"road", a, 0, false});
  ASSERT_TRUE(first.ok) << first.error;
  const std::string head_path = dir_ / ChainHeadPath("road");
  auto head_after_first = env_->ReadFile(head_path);
  ASSERT_TRUE(head_after_first.ok());
  const std::string b = PlaceClip("PR-0001_road_20261129T010002.000Z.mp4");
  SealOutcome second = sealer_->SealNow({"road", b, 0, false});
  ASSERT_TRUE(second.ok) << second.error;
  testing::WriteTextFile(head_path, *head_after_first);

  Sealer restarted(env_, base::Clock::System(), dir_.path(), "PR-0001", key_.get(), catalog_.get());
  auto report = Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, restarted);
  ASSERT_TRUE(report.ok()) << report.message();
  auto head = ParseChainHead(*env_->ReadFile(head_path));
  ASSERT_TRUE(head.ok()) << head.message();
  EXPECT_EQ(head->sequence, 2);
  EXPECT_EQ(head->chain_hex, second.record.chain_hex);
}

TEST_F(SealerTest, ReconciliationNeverRewritesAHeadThatIsAheadOfTheSeals) {
  // Newest segment and seal deleted behind our back: the head, still naming #2, is the evidence.
  const std::string a = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const std::string b = PlaceClip("PR-0001_road_20261129T010002.000Z.mp4");
  ASSERT_TRUE(sealer_->SealNow({"road", a, 0, false}).ok);
  ASSERT_TRUE(sealer_->SealNow({"road", b, 0, false}).ok);
  const std::string head_path = dir_ / ChainHeadPath("road");
  const std::string head_before = *env_->ReadFile(head_path);
  std::filesystem::remove(dir_ / b);
  std::filesystem::remove(dir_ / (b + ".seal"));

  Sealer restarted(env_, base::Clock::System(), dir_.path(), "PR-0001", key_.get(), catalog_.get());
  ASSERT_TRUE(Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, restarted).ok());
  EXPECT_EQ(*env_->ReadFile(head_path), head_before);
}

TEST_F(SealerTest, TrackHoldsExactlyThePointsReceivedFromStartToEnd) {
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const int64_t start = 1'795'914'990'250'000'000;
  auto inspection = InspectMp4(*env_, dir_ / file);
  ASSERT_TRUE(inspection.ok()) << inspection.message();
  const int64_t end = start + inspection->video_duration_ns();
  // Just before, at the start, inside, at the last nanosecond, at the end, after.
  for (auto [t, latitude] :
       std::vector<std::pair<int64_t, double>>{{start - 1, 10},
                                               {start, 11},
                                               {start + base::kNsPerSecond, 12},
                                               {end - 1, 13},
                                               {end, 14},
                                               {end + base::kNsPerSecond, 15}}) {
    ASSERT_TRUE(catalog_->InsertTrackPoint(Point(t, latitude)).ok());
  }
  SealRequest request{"road", file, start, false};
  request.time_source = "gps";
  request.clock_offset_ns = -1'200'000;
  SealOutcome outcome = sealer_->SealNow(request);
  ASSERT_TRUE(outcome.ok) << outcome.error;
  ASSERT_EQ(outcome.record.end_utc_ns, end);

  const std::string gpx = ReadTrack(file);
  EXPECT_EQ(gpx, FormatGpx("PR-0001", "road", file,
                           {Point(start, 11), Point(start + base::kNsPerSecond, 12),
                            Point(end - 1, 13)}));
  const SegmentRecord seal = SealOnDisk(file);
  EXPECT_EQ(seal.track_file, file + ".gpx");
  EXPECT_EQ(seal.track_points, 3);
  EXPECT_EQ(seal.track_sha256_hex, Sha256Hex(gpx));
  EXPECT_EQ(seal.time_source, "gps");
  EXPECT_EQ(seal.clock_offset_ns, -1'200'000);
  EXPECT_TRUE(CompareSegmentRecords(seal, outcome.record).empty());
  // The catalog row carries the same fields.
  auto row = catalog_->FindByFile(file);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_TRUE(CompareSegmentRecords(**row, seal).empty());
  EXPECT_FALSE(env_->Exists(dir_ / (file + ".gpx.tmp")));
}

TEST_F(SealerTest, SegmentWithoutFixesHasAnEmptyTrackAndUnknownTimeByDefault) {
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  SealOutcome outcome = sealer_->SealNow({"road", file, 1'000, false});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.record.track_points, 0);
  EXPECT_TRUE(ReadTrack(file).find("<trkseg/>") != std::string::npos);
  EXPECT_EQ(outcome.record.time_source, "unknown");
  EXPECT_FALSE(outcome.record.clock_offset_ns.has_value());
  EXPECT_EQ(SealOnDisk(file).time_source, "unknown");
}

TEST_F(SealerTest, TrackPointsThatCannotBeReadDoNotStopTheSeal) {
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  ASSERT_TRUE(catalog_->InsertTrackPoint(Point(1'000, 10)).ok());
  {
    // The table is gone behind the catalog's back (a damaged catalog): the query fails.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "catalog.sqlite").c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "DROP TABLE track_point", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  SealOutcome outcome = sealer_->SealNow({"road", file, 0, false});
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.record.sequence, 1);
  EXPECT_EQ(outcome.record.track_points, 0);
  EXPECT_EQ(SealOnDisk(file).track_sha256_hex, Sha256Hex(ReadTrack(file)));
}

TEST_F(SealerTest, TrackThatCannotBeWrittenFailsTheSealWithoutSpendingASequence) {
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  // A directory where the track should go: the rename of the written track fails.
  std::filesystem::create_directory(dir_ / (file + ".gpx"));
  SealOutcome failed = sealer_->SealNow({"road", file, 0, false});
  EXPECT_FALSE(failed.ok);
  EXPECT_NE(failed.error.find("writing the track"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("NOT sealed"), std::string::npos) << failed.error;
  EXPECT_FALSE(env_->Exists(dir_ / (file + ".seal")));

  std::filesystem::remove_all(dir_ / (file + ".gpx"));
  SealOutcome retried = sealer_->SealNow({"road", file, 0, false});
  ASSERT_TRUE(retried.ok) << retried.error;
  EXPECT_EQ(retried.record.sequence, 1);
}

TEST_F(SealerTest, FixesAndEventsAreQueuedInOrderWithSeals) {
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  const int64_t start = 1'795'914'990'250'000'000;
  std::vector<SealOutcome> outcomes;
  std::mutex mutex;
  sealer_->Start([&](const SealOutcome& o) {
    std::lock_guard lock(mutex);
    outcomes.push_back(o);
  });
  // Queued before the seal: in the track. Queued after it, though inside the segment's time:
  // in the catalog, not in this track (the recorder hands fixes over as they arrive).
  sealer_->RecordEvent({start, "gps-fix", "", "", "3D fix"});
  sealer_->RecordTrackPoint(Point(start + 100, 10));
  sealer_->RecordTrackPoint(Point(start + 200, 11));
  TrackPoint no_position;
  no_position.utc_ns = start + 300;
  sealer_->RecordTrackPoint(no_position);  // logged and dropped
  sealer_->Submit({"road", file, start, /*recover=*/true});
  sealer_->RecordTrackPoint(Point(start + 400, 12));
  sealer_->RecordEvent({start + 500, "gps-lost", "", "", "no fix for 5 s"});
  sealer_->Stop();

  ASSERT_EQ(outcomes.size(), 1u);
  ASSERT_TRUE(outcomes[0].ok) << outcomes[0].error;
  EXPECT_EQ(outcomes[0].record.track_points, 2);
  EXPECT_EQ(ReadTrack(file),
            FormatGpx("PR-0001", "road", file, {Point(start + 100, 10), Point(start + 200, 11)}));
  auto points = catalog_->TrackPoints(start, start + base::kNsPerSecond);
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 3u);
  auto events = catalog_->Events();
  ASSERT_TRUE(events.ok());
  std::vector<std::string> kinds;
  for (const CatalogEvent& e : *events) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"gps-fix", "segment-recovered", "gps-lost"}));
}

TEST_F(SealerTest, RecoveryWritesTheTrackAgainWithUnknownTimeSource) {
  // A crash after the track was written but before the seal: an unsealed file with a stray
  // track, and the fixes received meanwhile in the catalog.
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  auto name = ParseSegmentName(base::BaseName(file));
  ASSERT_TRUE(name.has_value());
  ASSERT_TRUE(catalog_->InsertTrackPoint(Point(name->start_utc_ns + 500'000'000, 10)).ok());
  testing::WriteTextFile(dir_ / (file + ".gpx"), "<gpx>half written by the crashed daemon");

  Sealer restarted(env_, base::Clock::System(), dir_.path(), "PR-0001", key_.get(), catalog_.get());
  auto report = Reconcile(*env_, *base::Clock::System(), dir_.path(), *catalog_, restarted);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->recovered, 1);
  EXPECT_EQ(report->problems, 0);
  const SegmentRecord seal = SealOnDisk(file);
  EXPECT_EQ(seal.state, SegmentState::kRecovered);
  EXPECT_EQ(seal.time_source, "unknown");
  EXPECT_FALSE(seal.clock_offset_ns.has_value());
  EXPECT_EQ(seal.track_points, 1);
  const std::string gpx = ReadTrack(file);
  EXPECT_EQ(seal.track_sha256_hex, Sha256Hex(gpx));
  EXPECT_EQ(gpx, FormatGpx("PR-0001", "road", file, {Point(name->start_utc_ns + 500'000'000, 10)}));
}

TEST_F(SealerTest, CatalogRebuiltFromSealsCarriesTimeTrustAndTrack) {
  const std::string file = PlaceClip("PR-0001_road_20261129T010000.000Z.mp4");
  ASSERT_TRUE(catalog_->InsertTrackPoint(Point(100, 10)).ok());
  SealRequest request{"road", file, 0, false};
  request.time_source = "ntp";
  request.clock_offset_ns = 4'500'000;
  SealOutcome outcome = sealer_->SealNow(request);
  ASSERT_TRUE(outcome.ok) << outcome.error;

  // The catalog is lost; the next start rebuilds it from the seals.
  auto fresh = Catalog::Open(dir_ / "rebuilt.sqlite");
  ASSERT_TRUE(fresh.ok()) << fresh.message();
  Sealer restarted(env_, base::Clock::System(), dir_.path(), "PR-0001", key_.get(), fresh->get());
  auto report = Reconcile(*env_, *base::Clock::System(), dir_.path(), **fresh, restarted);
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->rows_rebuilt, 1);
  auto row = (*fresh)->FindByFile(file);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_TRUE(CompareSegmentRecords(**row, outcome.record).empty());
  EXPECT_EQ((*row)->time_source, "ntp");
  EXPECT_EQ((*row)->clock_offset_ns, 4'500'000);
  EXPECT_EQ((*row)->track_points, 1);
  EXPECT_EQ((*row)->track_file, file + ".gpx");
}

}  // namespace
}  // namespace patrolrec::storage
