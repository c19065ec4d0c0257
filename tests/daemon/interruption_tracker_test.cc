// The interruption tracker's rules on their own (daemon/interruptions.h), with the real catalog
// and incident manager and a manual clock: a fault going at the incident's start opens at the
// trigger; a camera retrying is one interruption; storage full and cameras stopped for space open
// and end with the disk guard's reports; alerts and events are raised for each; rows a crashed run
// left open end at the last recorded moment; a clean stop opens daemon-restarted; the spoken
// explanation's start and stop are checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/interruptions.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;
using storage::InterruptionRecord;
using ::testing::HasSubstr;

constexpr int64_t kS = base::kNsPerSecond;
constexpr int64_t kT0 = 1'795'000'000 * kS;

class InterruptionTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // A fresh manager and tracker on the same catalog, as after a restart.
  void Reopen() {
    tracker_.reset();
    incidents_.reset();
    catalog_.reset();
    auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    incidents_ = std::make_unique<IncidentManager>(catalog_.get(), &clock_, "PR-TEST",
                                                   IncidentPolicy{}, IncidentHooks{});
    ASSERT_TRUE(incidents_->Load().ok());
    InterruptionHooks hooks;
    hooks.raise_alert = [this](const uplink::Alert& alert) { alerts_.push_back(alert); };
    hooks.publish = [this](const std::string& event, const json&) { events_.push_back(event); };
    tracker_ = std::make_unique<InterruptionTracker>(catalog_.get(), incidents_.get(), &clock_,
                                                     std::move(hooks));
  }

  std::string Open() {
    IncidentReply reply = incidents_->Trigger("record-button", "", officer_);
    EXPECT_TRUE(reply.ok()) << reply.reason;
    tracker_->OnIncidentChanged(reply.incident, "opened");
    return reply.incident.id;
  }

  void Close(const std::string& id) {
    IncidentReply reply = incidents_->OverrideClose(id, "the test scene is over", supervisor_);
    ASSERT_TRUE(reply.ok()) << reply.reason;
    tracker_->OnIncidentChanged(reply.incident, "close");
  }

  std::vector<InterruptionRecord> Rows(const std::string& id) {
    auto rows = tracker_->List(id);
    EXPECT_TRUE(rows.ok()) << rows.message();
    return rows.ok() ? *rows : std::vector<InterruptionRecord>{};
  }

  testing::TempDir dir_;
  testing::ManualClock clock_{kT0};
  Actor officer_{"li-wei", "officer"};
  Actor supervisor_{"wang-fang", "supervisor"};
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<IncidentManager> incidents_;
  std::unique_ptr<InterruptionTracker> tracker_;
  std::vector<uplink::Alert> alerts_;
  std::vector<std::string> events_;
};

TEST_F(InterruptionTrackerTest, AFailureBeforeTheIncidentOpensAtTheTriggerAndRetriesAreOne) {
  tracker_->OnCameraFailure("cabin-rear", "device disconnected");
  EXPECT_TRUE(alerts_.empty()) << "no incident open: nothing to alert";
  clock_.AdvanceSeconds(5);
  const std::string id = Open();
  const int64_t trigger = clock_.NowUtcNs();
  clock_.AdvanceSeconds(2);
  tracker_->OnCameraFailure("cabin-rear", "device disconnected");  // its retry fails too
  auto rows = Rows(id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].start_utc_ns, trigger);
  EXPECT_EQ(rows[0].detail, "device disconnected");
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].kind, "interruption");
  EXPECT_EQ(alerts_[0].incident_id, id);
  clock_.AdvanceSeconds(1);
  tracker_->OnCameraRecording("road");  // another camera: nothing ends
  EXPECT_TRUE(Rows(id)[0].open());
  tracker_->OnCameraRecording("cabin-rear");
  rows = Rows(id);
  EXPECT_EQ(rows[0].end_utc_ns, trigger + 3 * kS);
  EXPECT_THAT(events_, ::testing::ElementsAre("interruption", "interruption", "prompt"));
  EXPECT_EQ(alerts_.back().kind, "interruption-ended");
}

TEST_F(InterruptionTrackerTest, StorageFullAndCamerasStoppedForSpaceFollowTheDiskGuard) {
  tracker_->FaultBegan("cabin-rear", storage::kCauseStoppedForSpace, "stopped: disk full", kT0);
  const std::string id = Open();
  clock_.AdvanceSeconds(1);
  tracker_->FaultBegan("", storage::kCauseStorageFull, "DISK FULL, NOTHING EVICTABLE",
                       clock_.NowUtcNs());
  clock_.AdvanceSeconds(1);
  tracker_->OnCameraRecording("cabin-rear");  // the trigger restarted it
  clock_.AdvanceSeconds(8);
  tracker_->FaultEnded("", storage::kCauseStorageFull, clock_.NowUtcNs());
  auto rows = Rows(id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].cause, "stopped-for-space");
  EXPECT_EQ(rows[0].end_utc_ns - rows[0].start_utc_ns, 2 * kS);
  EXPECT_EQ(rows[1].cause, "storage-full");
  EXPECT_EQ(rows[1].camera, "");
  EXPECT_EQ(rows[1].end_utc_ns - rows[1].start_utc_ns, 9 * kS);
}

TEST_F(InterruptionTrackerTest, RowsACrashLeftOpenEndAtTheLastRecordedMomentAndAPowerCutOpensOne) {
  const std::string id = Open();
  clock_.AdvanceSeconds(2);
  tracker_->OnHealthChange(
      {"cabin-rear", HealthChannel::kVideo, "covered", "ok", "dark", clock_.NowUtcNs()});
  const int64_t covered = clock_.NowUtcNs();
  // The power goes: nothing more is written. The last frame on disk is 3 s after the cover.
  clock_.AdvanceSeconds(60);
  Reopen();
  storage::ReconcileReport report;
  report.recovered = 2;
  tracker_->OnStart(report, covered + 3 * kS);
  auto rows = Rows(id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].cause, "probe:covered");
  EXPECT_EQ(rows[0].end_utc_ns, covered + 3 * kS);
  EXPECT_EQ(rows[1].cause, "recovered-after-power-cut");
  EXPECT_EQ(rows[1].start_utc_ns, covered + 3 * kS);
  EXPECT_THAT(rows[1].detail, HasSubstr("2 segment(s) recovered"));
  EXPECT_TRUE(rows[1].open());
  clock_.AdvanceSeconds(1);
  tracker_->OnCameraRecording("road");
  EXPECT_EQ(Rows(id)[1].end_utc_ns, clock_.NowUtcNs());

  // A clean stop, twice (Stop and the destructor): one daemon-restarted row, ended at the next
  // start's first frame; no power cut is assumed then.
  tracker_->OnStop();
  tracker_->OnStop();
  clock_.AdvanceSeconds(10);
  Reopen();
  tracker_->OnStart(storage::ReconcileReport{}, clock_.NowUtcNs() - 10 * kS);
  clock_.AdvanceSeconds(1);
  tracker_->OnCameraRecording("road");
  rows = Rows(id);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].cause, "daemon-restarted");
  EXPECT_EQ(rows[2].end_utc_ns - rows[2].start_utc_ns, 11 * kS);
}

TEST_F(InterruptionTrackerTest, SpokenAndWrittenExplanationsAreCheckedAndTheFlagSetAtTheClose) {
  const std::string id = Open();
  tracker_->OnHealthChange({"cabin", HealthChannel::kAudio, "silent", "ok", "-80 dBFS", kT0});
  clock_.AdvanceSeconds(3);
  tracker_->OnHealthChange({"cabin", HealthChannel::kAudio, "ok", "silent", "", kT0 + 2 * kS});
  EXPECT_EQ(tracker_->Spoken(id, 1, "stop", officer_).outcome, IncidentOutcome::kConflict);
  EXPECT_EQ(tracker_->Spoken(id, 1, "pause", officer_).outcome, IncidentOutcome::kInvalid);
  EXPECT_EQ(tracker_->Spoken(id, 2, "start", officer_).outcome, IncidentOutcome::kNotFound);
  EXPECT_EQ(tracker_->Spoken("PR-nope", 1, "start", officer_).outcome, IncidentOutcome::kNotFound);
  ASSERT_TRUE(tracker_->Spoken(id, 1, "start", officer_).ok());
  EXPECT_EQ(tracker_->Spoken(id, 1, "start", officer_).outcome, IncidentOutcome::kConflict);
  clock_.AdvanceSeconds(4);
  InterruptionReply spoken = tracker_->Spoken(id, 1, "stop", officer_);
  ASSERT_TRUE(spoken.ok());
  EXPECT_EQ(spoken.interruption.spoken_to_utc_ns - spoken.interruption.spoken_from_utc_ns, 4 * kS);
  EXPECT_EQ(tracker_->Spoken(id, 1, "start", officer_).outcome, IncidentOutcome::kConflict);
  EXPECT_EQ(tracker_->Explain(id, 1, "bad\x01text", officer_).outcome, IncidentOutcome::kInvalid);
  EXPECT_EQ(tracker_->Explain(id, 1, std::string(5000, 'x'), officer_).outcome,
            IncidentOutcome::kInvalid);

  // A second one, never explained: flagged at the close; the first is not.
  tracker_->OnCameraFailure("road", "stall");
  ASSERT_TRUE(tracker_->Explain(id, 1, " the microphone was switched off ", officer_).ok());
  Close(id);
  auto rows = Rows(id);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].explanation, "the microphone was switched off");
  EXPECT_EQ(rows[0].unexplained_at_close_utc_ns, 0);
  EXPECT_EQ(rows[1].end_utc_ns, rows[1].unexplained_at_close_utc_ns) << "ended at the close";
  EXPECT_NE(rows[1].unexplained_at_close_utc_ns, 0);
  EXPECT_EQ(alerts_.back().kind, "interruption-unexplained");
  // Explained afterwards: accepted, once.
  ASSERT_TRUE(tracker_->Explain(id, 2, "the road camera froze in the cold", officer_).ok());
  EXPECT_EQ(tracker_->Explain(id, 2, "again", officer_).outcome, IncidentOutcome::kConflict);
  // After the close, the camera's recovery opens nothing and ends nothing.
  tracker_->OnCameraRecording("road");
  EXPECT_EQ(Rows(id).size(), 2u);
}

}  // namespace
}  // namespace patrolrec::daemon
