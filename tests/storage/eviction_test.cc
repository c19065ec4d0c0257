// Eviction (storage/eviction.h): the planner's order and exclusions on catalog rows with a fake
// clock, and the execution on real sealed segments through the fault-injecting Env: a disk made
// "full" through the Env's free-space seam, a power cut after each step of the durability order
// followed by reconciliation, and the verifier after eviction.
#include "storage/eviction.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "base/log.h"
#include "storage/device_key.h"
#include "storage/reconcile.h"
#include "storage/sealer.h"
#include "storage/verify.h"
#include "tests/fault_injection_env.h"
#include "tests/storage/eviction_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using evictiontest::kEpochUtcNs;
using evictiontest::kNsPerDayForTests;
using evictiontest::kNsPerMinute;
using evictiontest::MakeSegment;
using ::testing::HasSubstr;

constexpr int64_t kNow = kEpochUtcNs + 60 * kNsPerDayForTests;
constexpr int64_t kDay = kNsPerDayForTests;

IncidentRecord Incident(const std::string& id, int64_t trigger_utc_ns, int64_t closed_utc_ns,
                        RetentionClass retention = RetentionClass::kOrdinary) {
  IncidentRecord incident;
  incident.id = id;
  incident.trigger = "dispatch";
  incident.trigger_utc_ns = trigger_utc_ns;
  incident.pre_event_s = 120;
  incident.post_event_s = 30;
  incident.closed_utc_ns = closed_utc_ns;
  if (closed_utc_ns != 0) {
    incident.phase = IncidentPhase::kClosed;
    incident.close_kind = "handover";
  }
  incident.retention = retention;
  return incident;
}

ServerCopy Copy(const SegmentRecord& s, const std::string& result = "COMPLIANCE until 2027",
                RetentionClass retention = RetentionClass::kOrdinary) {
  return ServerCopy{s.file, retention, result, 1, "copy of " + s.file};
}

std::vector<std::string> Files(const EvictionPlan& plan) {
  std::vector<std::string> files;
  for (const EvictionCandidate& c : plan.candidates) files.push_back(c.segment.file);
  return files;
}

TEST(EvictionPlanTest, BackgroundPastRetentionThenOtherBackgroundThenOldEvidenceOldestFirst) {
  EvictionInputs in;
  in.now_utc_ns = kNow;
  // Background 20 and 10 days old (past 7 days), background 2 days old, evidence of an incident
  // closed 40 days ago (past 30 days), all verified on the server.
  const SegmentRecord evidence = MakeSegment("road", 1, kNow - 45 * kDay);
  const SegmentRecord old_background = MakeSegment("road", 2, kNow - 20 * kDay);
  const SegmentRecord older_cabin = MakeSegment("cabin-rear", 1, kNow - 21 * kDay);
  const SegmentRecord background = MakeSegment("road", 3, kNow - 10 * kDay);
  const SegmentRecord recent_background = MakeSegment("road", 4, kNow - 2 * kDay);
  in.segments = {evidence, old_background, older_cabin, background, recent_background};
  for (const SegmentRecord& s : in.segments) in.server_copies.push_back(Copy(s));
  in.incidents = {Incident("i1", evidence.start_utc_ns + kNsPerMinute / 2, kNow - 40 * kDay)};

  EvictionPlan plan = PlanEvictions(in, EvictionPolicy{});
  EXPECT_THAT(Files(plan),
              ::testing::ElementsAre(older_cabin.file, old_background.file, background.file,
                                     recent_background.file, evidence.file));
  ASSERT_EQ(plan.candidates.size(), 5u);
  EXPECT_EQ(plan.candidates[0].tier, EvictionTier::kBackgroundPastRetention);
  EXPECT_EQ(plan.candidates[0].reason,
            "background past 7 days local retention, verified on the server");
  EXPECT_EQ(plan.candidates[3].tier, EvictionTier::kBackground);
  EXPECT_EQ(plan.candidates[4].tier, EvictionTier::kEvidencePastRetention);
  EXPECT_EQ(plan.candidates[4].segment_class, "evidence");
  EXPECT_EQ(plan.candidates[4].reason,
            "evidence past 30 days local retention, verified on the server");
  EXPECT_EQ(plan.evictable_evidence_bytes, evidence.bytes);
  EXPECT_EQ(plan.evictable_background_bytes, 4 * old_background.bytes);
}

TEST(EvictionPlanTest, NeverUnverifiedOpenIncidentRecentEvictedMissingOrPermanentWithoutHold) {
  EvictionInputs in;
  in.now_utc_ns = kNow;
  const SegmentRecord unverified_background = MakeSegment("road", 1, kNow - 50 * kDay);
  const SegmentRecord unverified_evidence = MakeSegment("road", 2, kNow - 49 * kDay);
  const SegmentRecord young_evidence = MakeSegment("road", 3, kNow - 20 * kDay);
  const SegmentRecord permanent_no_hold = MakeSegment("road", 4, kNow - 48 * kDay);
  const SegmentRecord permanent_hold = MakeSegment("road", 5, kNow - 47 * kDay);
  const SegmentRecord open_incident = MakeSegment("road", 6, kNow - 40 * kDay);
  const SegmentRecord pre_event = MakeSegment("road", 7, kNow - 2 * kNsPerMinute);
  SegmentRecord missing = MakeSegment("road", 8, kNow - 46 * kDay);
  missing.state = SegmentState::kMissing;
  const SegmentRecord evicted = MakeSegment("road", 9, kNow - 45 * kDay);
  in.segments = {unverified_background,
                 unverified_evidence,
                 young_evidence,
                 permanent_no_hold,
                 permanent_hold,
                 open_incident,
                 pre_event,
                 missing,
                 evicted};
  for (const SegmentRecord& s : in.segments) {
    if (s.file == unverified_background.file || s.file == unverified_evidence.file) continue;
    if (s.file == permanent_no_hold.file) {
      // Uploaded as ordinary: the server's copy has a retention date, not a legal hold.
      in.server_copies.push_back(Copy(s, "COMPLIANCE until 2027"));
    } else if (s.file == permanent_hold.file) {
      in.server_copies.push_back(Copy(s, "legal hold ON", RetentionClass::kPermanent));
    } else {
      in.server_copies.push_back(Copy(s));
    }
  }
  in.evictions = {EvictionRecord{evicted.file, "road", "background", "r", 1, "c", 1, 2}};
  auto at = [](const SegmentRecord& s) { return s.start_utc_ns + kNsPerMinute / 2; };
  in.incidents = {
      Incident("old", at(unverified_evidence), kNow - 45 * kDay),
      Incident("young", at(young_evidence), kNow - 19 * kDay),  // 19 days < 30
      Incident("perm-a", at(permanent_no_hold), kNow - 45 * kDay, RetentionClass::kPermanent),
      Incident("perm-b", at(permanent_hold), kNow - 45 * kDay, RetentionClass::kPermanent),
      Incident("open", at(open_incident), 0),  // open: covers everything after it, too
  };

  EvictionPlan plan = PlanEvictions(in, EvictionPolicy{});
  EXPECT_THAT(Files(plan), ::testing::ElementsAre(permanent_hold.file));
  EXPECT_EQ(plan.candidates[0].reason,
            "evidence past 30 days local retention, verified on the server under legal hold");
  EXPECT_EQ(plan.waiting_for_upload_bytes, 2 * unverified_evidence.bytes);
  EXPECT_EQ(plan.evidence_kept_bytes, 3 * young_evidence.bytes);  // young, no hold, open
  EXPECT_EQ(plan.recent_bytes, pre_event.bytes);

  // With the incident closed, the pre-event guard still keeps the newest minutes.
  in.incidents.pop_back();
  plan = PlanEvictions(in, EvictionPolicy{});
  EXPECT_THAT(Files(plan), ::testing::ElementsAre(open_incident.file, permanent_hold.file));
}

TEST(EvictionPlanTest, BytesToFreeBringsFreeSpaceFromBelowTheMinimumToTheTarget) {
  EvictionPolicy policy;                            // 10 % / 15 %
  EXPECT_EQ(BytesToFree({100, 1000}, policy), 0u);  // exactly 10 %: not below
  EXPECT_EQ(BytesToFree({50, 1000}, policy), 100u);
  EXPECT_EQ(BytesToFree({0, 1000}, policy), 150u);
  EXPECT_EQ(BytesToFree({0, 0}, policy), 0u);
}

// Real sealed segments in a data directory, written through the fault-injecting Env.
class EvictionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.CreateDirs(dir_ / "segments", 0755).ok());
    // Outside the data directory, which the power cuts act on.
    clip_ = testing::MakeFragmentedClip(clip_dir_.path(), "clip.mp4", 1, false);
    ASSERT_FALSE(clip_.empty());
    auto key = DeviceKey::LoadOrCreate(env_, dir_ / "keys/device.key", dir_ / "device.pub.pem");
    ASSERT_TRUE(key.ok()) << key.message();
    key_ = std::move(key).value();
    OpenCatalog();
  }

  void OpenCatalog() {
    sealer_.reset();
    catalog_.reset();
    auto catalog = Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    sealer_ = std::make_unique<Sealer>(&env_, &clock_, dir_.path(), "PR-0001", key_.get(),
                                       catalog_.get());
  }

  SegmentRecord Seal(const std::string& camera, int64_t start_utc_ns) {
    const std::string dir = "segments/" + camera;
    EXPECT_TRUE(env_.CreateDirs(dir_ / dir, 0755).ok());
    const std::string file =
        dir + "/PR-0001_" + camera + "_" + base::FormatUtcCompact(start_utc_ns) + ".mp4";
    std::filesystem::copy_file(clip_, dir_ / file);
    SealOutcome outcome = sealer_->SealNow({camera, file, start_utc_ns, false, "gps"});
    EXPECT_TRUE(outcome.ok) << outcome.error;
    return outcome.record;
  }

  VerifyReport Verify(bool use_catalog = true) {
    VerifyOptions options;
    options.data_dir = dir_.path();
    options.public_key_path = dir_ / "device.pub.pem";
    options.use_catalog = use_catalog;
    auto report = VerifyDataDir(*base::Env::Default(), options);
    EXPECT_TRUE(report.ok()) << report.message();
    return report.ok() ? *report : VerifyReport();
  }

  bool Exists(const SegmentRecord& s) { return env_.Exists(dir_ / s.file); }

  testing::TempDir dir_;
  testing::TempDir clip_dir_;
  testing::FaultInjectionEnv env_{base::Env::Default()};
  testing::ManualClock clock_{kNow};
  std::string clip_;
  std::unique_ptr<DeviceKey> key_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Sealer> sealer_;
};

std::string Findings(const std::vector<VerifyFinding>& findings) {
  std::string out;
  for (const VerifyFinding& f : findings) out += f.file + ": " + f.reason + "\n";
  return out;
}

TEST_F(EvictionTest, EvictionNeverTouchesUnverifiedEvidenceEvenWithTheDiskFull) {
  // Evidence of an incident closed 40 days ago, never verified on the server (the upload reached
  // a server, but nothing read it back), beside verified background and verified old evidence.
  const SegmentRecord unverified = Seal("cabin-rear", kNow - 45 * kDay);
  const SegmentRecord completed_only = Seal("cabin-rear", kNow - 45 * kDay + kNsPerMinute);
  const SegmentRecord verified_evidence = Seal("road", kNow - 45 * kDay);
  const SegmentRecord background = Seal("road", kNow - 10 * kDay);
  const SegmentRecord unverified_background = Seal("road", kNow - 9 * kDay);
  base::Status saved = catalog_->SaveIncident(
      Incident("PR-0001-1", kNow - 45 * kDay + kNsPerMinute / 2, kNow - 40 * kDay), {});
  ASSERT_TRUE(saved.ok()) << saved.message();
  evictiontest::VerifyOnServer(*catalog_, verified_evidence);
  evictiontest::VerifyOnServer(*catalog_, background);
  evictiontest::UploadFile(*catalog_, completed_only.file, completed_only.sha256_hex,
                           RetentionClass::kOrdinary, "", /*verified=*/false);

  // The disk is full and stays full whatever is removed.
  env_.SetFakeFreeSpace(base::DiskSpace{0, uint64_t{1} << 40});
  auto pass = RunEvictionPass(env_, clock_, dir_.path(), *catalog_, EvictionPolicy{});
  ASSERT_TRUE(pass.ok()) << pass.message();
  EXPECT_TRUE(pass->below_threshold);
  EXPECT_TRUE(pass->nothing_evictable);
  ASSERT_EQ(pass->evicted.size(), 2u);
  EXPECT_EQ(pass->evicted[0].file, background.file);  // background first
  EXPECT_EQ(pass->evicted[1].file, verified_evidence.file);
  EXPECT_TRUE(pass->plan.candidates.empty());
  EXPECT_EQ(pass->plan.waiting_for_upload_bytes,
            unverified.bytes + completed_only.bytes + unverified_background.bytes);

  EXPECT_TRUE(Exists(unverified));
  EXPECT_TRUE(Exists(completed_only));
  EXPECT_TRUE(Exists(unverified_background));
  EXPECT_FALSE(Exists(background));
  EXPECT_FALSE(Exists(verified_evidence));
  // Seals and tracks stay.
  for (const SegmentRecord& s : {background, verified_evidence}) {
    EXPECT_TRUE(env_.Exists(dir_ / (s.file + ".seal")));
    EXPECT_TRUE(env_.Exists(dir_ / s.track_file));
  }

  // Even a candidate made up by hand is refused by the catalog, and the file stays.
  EvictionCandidate forced{unverified, EvictionTier::kEvidencePastRetention, "evidence", "forced"};
  auto refused = EvictSegment(env_, clock_, dir_.path(), *catalog_, forced);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("no verified copy"));
  EXPECT_TRUE(Exists(unverified));

  // Passes again and again with the disk full change nothing more.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(365 * kDay);
    auto again = RunEvictionPass(env_, clock_, dir_.path(), *catalog_, EvictionPolicy{});
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->evicted.empty());
    EXPECT_TRUE(again->nothing_evictable);
  }
  EXPECT_TRUE(Exists(unverified));
  EXPECT_TRUE(Exists(completed_only));
}

// [storage] evict_unuploaded_background = true: an agency's decision that background footage need
// not reach the server (issue 5's order). Background then goes without a server copy, oldest first
// within its tier; evidence never does, and the catalog refuses it even when asked.
TEST_F(EvictionTest, WithEvictUnuploadedBackgroundOnlyBackgroundGoesWithoutAServerCopy) {
  const SegmentRecord unverified_evidence = Seal("cabin-rear", kNow - 45 * kDay);
  const SegmentRecord verified_evidence = Seal("road", kNow - 45 * kDay);
  const SegmentRecord old_background = Seal("road", kNow - 10 * kDay);
  const SegmentRecord new_background = Seal("road", kNow - 2 * kDay);  // within 7 days
  ASSERT_TRUE(
      catalog_
          ->SaveIncident(
              Incident("PR-0001-1", kNow - 45 * kDay + kNsPerMinute / 2, kNow - 40 * kDay), {})
          .ok());
  evictiontest::VerifyOnServer(*catalog_, verified_evidence);
  env_.SetFakeFreeSpace(base::DiskSpace{0, uint64_t{1} << 40});
  EvictionPolicy policy;
  policy.evict_unuploaded_background = true;
  auto pass = RunEvictionPass(env_, clock_, dir_.path(), *catalog_, policy);
  ASSERT_TRUE(pass.ok()) << pass.message();
  ASSERT_EQ(pass->evicted.size(), 3u);
  EXPECT_EQ(pass->evicted[0].file, old_background.file);  // past retention first
  EXPECT_EQ(pass->evicted[1].file, new_background.file);  // then other background
  EXPECT_EQ(pass->evicted[2].file, verified_evidence.file);
  EXPECT_THAT(pass->evicted[0].server_copy, HasSubstr("none: background never verified"));
  EXPECT_THAT(pass->evicted[0].reason, HasSubstr("never verified on the server"));
  EXPECT_TRUE(Exists(unverified_evidence));
  EXPECT_EQ(pass->plan.waiting_for_upload_bytes, unverified_evidence.bytes);

  EvictionCandidate forced{unverified_evidence, EvictionTier::kEvidencePastRetention, "evidence",
                           "forced", /*without_server_copy=*/true};
  auto refused = EvictSegment(env_, clock_, dir_.path(), *catalog_, forced);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr("no verified copy"));
  EXPECT_TRUE(Exists(unverified_evidence));

  // The verifier tells the two kinds of eviction apart.
  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << Findings(report.problems);
  EXPECT_THAT(Findings(report.notes),
              HasSubstr(old_background.file + ": evicted without a server copy (none: background"));
  EXPECT_THAT(Findings(report.notes),
              HasSubstr(verified_evidence.file + ": evicted after verified upload"));
}

TEST_F(EvictionTest, EvictsOnlyUntilTheTargetAndLogsEachWithItsReason) {
  std::vector<SegmentRecord> s;
  for (int i = 0; i < 8; ++i) s.push_back(Seal("road", kNow - (20 - i) * kDay));
  for (const SegmentRecord& r : s) evictiontest::VerifyOnServer(*catalog_, r);
  // Each segment is 1 % of the disk; 9 % is free: 6 segments bring it to the target of 15 %.
  const uint64_t total = static_cast<uint64_t>(s[0].bytes) * 100;
  env_.SetFakeFreeSpace(base::DiskSpace{static_cast<uint64_t>(s[0].bytes) * 9, total});
  std::vector<std::string> logged;
  base::SetLogSinkForTesting(
      [&logged](base::Severity, std::string_view message, std::initializer_list<base::LogField>) {
        logged.emplace_back(message);
      });
  auto pass = RunEvictionPass(env_, clock_, dir_.path(), *catalog_, EvictionPolicy{});
  base::SetLogSinkForTesting(nullptr);
  ASSERT_TRUE(pass.ok()) << pass.message();
  ASSERT_EQ(pass->evicted.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(pass->evicted[i].file, s[i].file);  // oldest first
  EXPECT_TRUE(Exists(s[6]));
  EXPECT_TRUE(Exists(s[7]));
  EXPECT_FALSE(pass->nothing_evictable);
  EXPECT_EQ(pass->after.free_bytes, static_cast<uint64_t>(s[0].bytes) * 15);
  ASSERT_FALSE(logged.empty());
  EXPECT_THAT(logged[0], HasSubstr("evicted " + s[0].file +
                                   ": background past 7 days local retention, verified on the "
                                   "server, "));
  EXPECT_THAT(logged[0], HasSubstr(" MiB"));

  // Above the minimum: nothing happens.
  auto idle = RunEvictionPass(env_, clock_, dir_.path(), *catalog_, EvictionPolicy{});
  ASSERT_TRUE(idle.ok());
  EXPECT_FALSE(idle->below_threshold);
  EXPECT_TRUE(idle->evicted.empty());
}

TEST_F(EvictionTest, APowerCutAtEveryStepIsFinishedByReconciliationAndNothingIsMissing) {
  for (EvictionStep crash_after :
       {EvictionStep::kMarked, EvictionStep::kRemoved, EvictionStep::kDirSynced}) {
    SCOPED_TRACE(static_cast<int>(crash_after));
    const int64_t start = kNow - (30 - 3 * static_cast<int>(crash_after)) * kDay;
    const SegmentRecord s = Seal("road", start);
    const SegmentRecord kept = Seal("road", start + kDay);
    evictiontest::VerifyOnServer(*catalog_, s);
    auto plan = PlanEvictions(*catalog_, EvictionPolicy{}, clock_.NowUtcNs());
    ASSERT_TRUE(plan.ok());
    ASSERT_FALSE(plan->candidates.empty());
    ASSERT_EQ(plan->candidates[0].segment.file, s.file);
    auto stopped = EvictSegment(env_, clock_, dir_.path(), *catalog_, plan->candidates[0],
                                [crash_after](EvictionStep step) { return step != crash_after; });
    EXPECT_FALSE(stopped.ok());

    // Power is cut: whatever was not durable is lost (SQLite keeps its own durability).
    env_.SimulatePowerCut(dir_.path(), "catalog.sqlite");
    OpenCatalog();
    auto unfinished = catalog_->Evictions(/*unfinished_only=*/true);
    ASSERT_TRUE(unfinished.ok());
    ASSERT_EQ(unfinished->size(), 1u);  // marked before anything was touched

    auto report = Reconcile(env_, clock_, dir_.path(), *catalog_, *sealer_);
    ASSERT_TRUE(report.ok()) << report.message();
    EXPECT_EQ(report->evictions_finished, 1);
    EXPECT_EQ(report->missing, 0);
    EXPECT_EQ(report->problems, 0);
    EXPECT_FALSE(Exists(s));
    EXPECT_TRUE(Exists(kept));
    auto row = catalog_->FindEviction(s.file);
    ASSERT_TRUE(row.ok() && row->has_value());
    EXPECT_TRUE((*row)->finished());
    auto segment = catalog_->FindByFile(s.file);
    ASSERT_TRUE(segment.ok() && segment->has_value());
    EXPECT_EQ((*segment)->state, SegmentState::kSealed);  // never re-marked missing

    VerifyReport verified = Verify();
    EXPECT_TRUE(verified.ok()) << Findings(verified.problems);
  }
  // A second start changes nothing.
  auto again = Reconcile(env_, clock_, dir_.path(), *catalog_, *sealer_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->evictions_finished, 0);
  EXPECT_EQ(again->missing, 0);
}

TEST_F(EvictionTest, VerifierReportsAnEvictedVideoAsExpectedAndADeletedOneAsAProblem) {
  const SegmentRecord evicted = Seal("road", kNow - 20 * kDay);
  const SegmentRecord deleted = Seal("road", kNow - 19 * kDay);
  const SegmentRecord kept = Seal("road", kNow - 18 * kDay);
  evictiontest::VerifyOnServer(*catalog_, evicted);
  auto plan = PlanEvictions(*catalog_, EvictionPolicy{}, clock_.NowUtcNs());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->candidates.size(), 1u);
  ASSERT_TRUE(EvictSegment(env_, clock_, dir_.path(), *catalog_, plan->candidates[0]).ok());

  VerifyReport report = Verify();
  EXPECT_TRUE(report.ok()) << Findings(report.problems);
  EXPECT_THAT(Findings(report.notes),
              HasSubstr(evicted.file + ": evicted after verified upload (patrolrec/PR-0001/road/"));
  EXPECT_EQ(report.segments(), 3);  // the chain still holds all three seals

  // Without the catalog, an absent video cannot be told from a deleted one.
  VerifyReport without = Verify(/*use_catalog=*/false);
  EXPECT_FALSE(without.ok());
  EXPECT_THAT(Findings(without.problems),
              HasSubstr(evicted.file + ": video absent (evicted or deleted)"));

  // A video deleted behind the recorder's back is a problem even with the catalog.
  std::filesystem::remove(dir_ / deleted.file);
  VerifyReport tampered = Verify();
  EXPECT_FALSE(tampered.ok());
  EXPECT_THAT(Findings(tampered.problems),
              HasSubstr(deleted.file + ": video absent (evicted or deleted): its seal exists but "
                                       "the segment file does not, and the catalog records no "
                                       "eviction of it"));
  EXPECT_THAT(Findings(tampered.problems), ::testing::Not(HasSubstr(evicted.file)));
  EXPECT_TRUE(Exists(kept));
}

}  // namespace
}  // namespace patrolrec::storage
