// The incident lifecycle on a real SQLite catalog with a manual clock: opening on triggers, the
// phases, the no-stop rule, handover only inside a holding area, closes, case links and the
// overdue flag, retention classes, the evidence range, and an open incident surviving a restart.
#include "daemon/incidents.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/catalog.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using storage::IncidentPhase;
using storage::IncidentRecord;
using ::testing::HasSubstr;
using testing::ManualClock;
using testing::TempDir;

constexpr int64_t kNs = base::kNsPerSecond;
constexpr int64_t kStart = 1'795'000'000'000'000'000;  // 2026-11-18T...

const Actor kOfficer{"wang", "officer"};
const Actor kOfficer2{"li", "officer"};
const Actor kSupervisor{"zhao", "supervisor"};

DispatchOrder Order(const std::string& alarm = "J2026112900017") {
  DispatchOrder order;
  order.alarm_number = alarm;
  order.incident_type = "dispatch-110";
  order.address = "通化市东昌区新华大街 88 号";
  order.officers = {"031234", "031235"};
  return order;
}

storage::SegmentRecord Segment(const std::string& camera, int64_t sequence, int64_t start_utc_ns,
                               int64_t seconds) {
  storage::SegmentRecord r;
  r.device_id = "PR-0001";
  r.camera = camera;
  r.sequence = sequence;
  r.file = "segments/" + camera + "/PR-0001_" + camera + "_" +
           base::FormatUtcCompact(start_utc_ns) + ".mp4";
  r.start_utc_ns = start_utc_ns;
  r.duration_ns = seconds * kNs;
  r.end_utc_ns = start_utc_ns + seconds * kNs;
  r.frames = seconds * 30;
  r.bytes = 1000;
  r.sha256_hex = std::string(64, 'a');
  r.prev_chain_hex = std::string(64, sequence == 1 ? '0' : 'c');
  r.chain_hex = std::string(64, 'c');
  r.signature_b64 = std::string(86, 'S') + "==";
  r.state = storage::SegmentState::kSealed;
  r.time_source = "gps";
  r.sealed_utc_ns = r.end_utc_ns;
  return r;
}

class IncidentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    manager_ = MakeManager();
  }

  std::unique_ptr<IncidentManager> MakeManager() {
    IncidentHooks hooks;
    hooks.start_recording = [this] { ++recording_starts_; };
    hooks.inside_holding_area = [this](std::string* where) {
      *where = where_;
      return inside_;
    };
    hooks.on_change = [this](const IncidentRecord& incident, const std::string& change) {
      changes_.push_back(incident.id + " " + change);
    };
    IncidentPolicy policy;
    policy.speed_trigger_kmh = 80;
    return std::make_unique<IncidentManager>(catalog_.get(), &clock_, "PR-0001", policy, hooks);
  }

  IncidentRecord Reload(const std::string& id) {
    auto found = catalog_->FindIncident(id);
    EXPECT_TRUE(found.ok() && found->has_value());
    return found.ok() && found->has_value() ? **found : IncidentRecord{};
  }

  std::string DispatchAndTransport() {
    IncidentReply opened = manager_->Dispatch(Order(), kOfficer);
    EXPECT_TRUE(opened.ok()) << opened.reason;
    clock_.AdvanceSeconds(60);
    EXPECT_TRUE(manager_->SetPhase(opened.incident.id, "on-scene", kOfficer).ok());
    clock_.AdvanceSeconds(60);
    EXPECT_TRUE(manager_->SetPhase(opened.incident.id, "transporting", kOfficer).ok());
    return opened.incident.id;
  }

  TempDir dir_;
  ManualClock clock_{kStart};
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<IncidentManager> manager_;
  int recording_starts_ = 0;
  bool inside_ = false;
  std::string where_ = "outside every holding area, 41.72000N 125.93000E";
  std::vector<std::string> changes_;
};

TEST_F(IncidentsTest, DispatchOpensAnIncidentThatIsStoredWithItsOrder) {
  IncidentReply reply = manager_->Dispatch(Order(), kOfficer);
  ASSERT_TRUE(reply.ok()) << reply.reason;
  const IncidentRecord& incident = reply.incident;
  EXPECT_EQ(incident.id, "PR-0001-" + base::FormatUtcCompact(kStart));
  EXPECT_EQ(incident.phase, IncidentPhase::kDispatched);
  EXPECT_TRUE(incident.open());
  EXPECT_EQ(recording_starts_, 1);
  ASSERT_TRUE(manager_->open_incident().has_value());

  IncidentRecord stored = Reload(incident.id);
  EXPECT_EQ(stored.trigger, "dispatch");
  EXPECT_EQ(stored.trigger_utc_ns, kStart);
  EXPECT_EQ(stored.alarm_number, "J2026112900017");
  EXPECT_EQ(stored.address, "通化市东昌区新华大街 88 号");
  EXPECT_EQ(stored.officers, (std::vector<std::string>{"031234", "031235"}));
  EXPECT_EQ(stored.retention, storage::RetentionClass::kOrdinary);
  ASSERT_EQ(stored.entries.size(), 2u);
  EXPECT_EQ(stored.entries[0].kind, "trigger");
  EXPECT_EQ(stored.entries[1].value, "dispatched");
  EXPECT_EQ(stored.entries[1].actor, "wang");
  EXPECT_EQ(changes_, (std::vector<std::string>{incident.id + " opened"}));
}

TEST_F(IncidentsTest, DispatchWithoutAlarmNumberOrWithUnknownTypeIsRefused) {
  DispatchOrder order = Order("");
  IncidentReply reply = manager_->Dispatch(order, kOfficer);
  EXPECT_EQ(reply.outcome, IncidentOutcome::kInvalid);
  EXPECT_THAT(reply.reason, HasSubstr("alarm number"));
  order = Order();
  order.incident_type = "jaywalking";
  reply = manager_->Dispatch(order, kOfficer);
  EXPECT_EQ(reply.outcome, IncidentOutcome::kInvalid);
  EXPECT_THAT(reply.reason, HasSubstr("stop-and-check"));
  order = Order();
  order.address = "line\nbreak";
  EXPECT_EQ(manager_->Dispatch(order, kOfficer).outcome, IncidentOutcome::kInvalid);
  EXPECT_FALSE(manager_->open_incident().has_value());
  auto all = catalog_->Incidents();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST_F(IncidentsTest, SecondDispatchWhileAnIncidentIsOpenIsRefused) {
  ASSERT_TRUE(manager_->Dispatch(Order(), kOfficer).ok());
  clock_.AdvanceSeconds(5);
  IncidentReply second = manager_->Dispatch(Order("J2026112900018"), kOfficer);
  EXPECT_EQ(second.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(second.reason, HasSubstr("J2026112900017"));
  auto all = catalog_->Incidents();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(IncidentsTest, LightBarOpensAnIncidentThatALaterDispatchCompletes) {
  IncidentReply bar =
      manager_->Trigger("light-bar", "gpiochip0 line 17", Actor{"input:light-bar", "input"});
  ASSERT_TRUE(bar.ok());
  EXPECT_EQ(bar.incident.phase, IncidentPhase::kOnScene);
  EXPECT_TRUE(bar.incident.alarm_number.empty());
  clock_.AdvanceSeconds(30);
  IncidentReply dispatch = manager_->Dispatch(Order(), kOfficer);
  ASSERT_TRUE(dispatch.ok()) << dispatch.reason;
  EXPECT_EQ(dispatch.incident.id, bar.incident.id);
  EXPECT_EQ(dispatch.incident.trigger, "light-bar");
  EXPECT_EQ(Reload(bar.incident.id).alarm_number, "J2026112900017");
}

TEST_F(IncidentsTest, TriggersDuringAnOpenIncidentAreAddedToItsHistory) {
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  clock_.AdvanceSeconds(10);
  IncidentReply siren = manager_->Trigger("siren", "", Actor{"input:siren", "input"});
  ASSERT_TRUE(siren.ok());
  EXPECT_EQ(siren.incident.id, id);
  IncidentRecord stored = Reload(id);
  EXPECT_EQ(stored.entries.back().kind, "trigger");
  EXPECT_EQ(stored.entries.back().value, "siren");
  EXPECT_EQ(stored.entries.back().actor, "input:siren");
}

TEST_F(IncidentsTest, PhasesMoveForwardOnly) {
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  EXPECT_TRUE(manager_->SetPhase(id, "on-scene", kOfficer).ok());  // en-route skipped
  IncidentReply back = manager_->SetPhase(id, "en-route", kOfficer);
  EXPECT_EQ(back.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(back.reason, HasSubstr("forward"));
  EXPECT_EQ(manager_->SetPhase(id, "on-scene", kOfficer).outcome, IncidentOutcome::kConflict);
  EXPECT_EQ(manager_->SetPhase(id, "closed", kOfficer).outcome, IncidentOutcome::kInvalid);
  EXPECT_EQ(manager_->SetPhase(id, "handed-over", kOfficer).outcome, IncidentOutcome::kInvalid);
  EXPECT_EQ(manager_->SetPhase(id, "teleported", kOfficer).outcome, IncidentOutcome::kInvalid);
  EXPECT_EQ(manager_->SetPhase("PR-0001-nope", "on-scene", kOfficer).outcome,
            IncidentOutcome::kNotFound);
  EXPECT_EQ(Reload(id).phase, IncidentPhase::kOnScene);
}

TEST_F(IncidentsTest, StopIsRefusedDuringAnIncidentAndTheAttemptIsRecorded) {
  EXPECT_TRUE(manager_->CheckStopAllowed("stop camera cabin-rear", kOfficer).ok());
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  IncidentReply refused = manager_->CheckStopAllowed("stop camera cabin-rear", kOfficer2);
  EXPECT_EQ(refused.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(refused.reason, HasSubstr(id));
  EXPECT_THAT(refused.reason, HasSubstr("handed over"));
  IncidentRecord stored = Reload(id);
  EXPECT_EQ(stored.entries.back().kind, "refusal");
  EXPECT_EQ(stored.entries.back().value, "stop camera cabin-rear");
  EXPECT_EQ(stored.entries.back().actor, "li");
  EXPECT_TRUE(stored.open());
  // A supervisor cannot stop the cameras either: only close the incident with a reason.
  EXPECT_EQ(manager_->CheckStopAllowed("stop recording", kSupervisor).outcome,
            IncidentOutcome::kConflict);
}

TEST_F(IncidentsTest, HandoverOutsideAHoldingAreaIsRefused) {
  std::string id = DispatchAndTransport();
  IncidentReply refused = manager_->Handover(id, kOfficer);
  EXPECT_EQ(refused.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(refused.reason, HasSubstr("not inside a holding-area geofence"));
  EXPECT_THAT(refused.reason, HasSubstr("41.72000N"));
  IncidentRecord stored = Reload(id);
  EXPECT_TRUE(stored.open());
  EXPECT_EQ(stored.phase, IncidentPhase::kTransporting);
  EXPECT_EQ(stored.entries.back().kind, "refusal");
}

TEST_F(IncidentsTest, HandoverNeedsASuspectOnBoard) {
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  inside_ = true;
  IncidentReply refused = manager_->Handover(id, kOfficer);
  EXPECT_EQ(refused.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(refused.reason, HasSubstr("no suspect on board"));
}

TEST_F(IncidentsTest, HandoverInsideTheHoldingAreaEndsTheIncident) {
  std::string id = DispatchAndTransport();
  clock_.AdvanceSeconds(600);
  inside_ = true;
  where_ = "inside holding area dongchang-holding-area";
  IncidentReply done = manager_->Handover(id, kOfficer);
  ASSERT_TRUE(done.ok()) << done.reason;
  EXPECT_FALSE(done.incident.open());
  EXPECT_EQ(done.incident.phase, IncidentPhase::kClosed);
  EXPECT_EQ(done.incident.close_kind, "handover");
  EXPECT_EQ(done.incident.closed_utc_ns, kStart + 720 * kNs);
  EXPECT_FALSE(manager_->open_incident().has_value());
  IncidentRecord stored = Reload(id);
  std::vector<std::string> phases;
  for (const auto& e : stored.entries) {
    if (e.kind == "phase") phases.push_back(e.value);
  }
  EXPECT_EQ(phases, (std::vector<std::string>{"dispatched", "on-scene", "transporting",
                                              "handed-over", "closed"}));
  // Closed: the stop rule no longer applies, and the incident cannot be closed again.
  EXPECT_TRUE(manager_->CheckStopAllowed("stop recording", kOfficer).ok());
  EXPECT_EQ(manager_->Handover(id, kOfficer).outcome, IncidentOutcome::kConflict);
}

TEST_F(IncidentsTest, CloseWithNoSuspectNeedsAReasonAndNobodyOnBoard) {
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  EXPECT_EQ(manager_->CloseNoSuspect(id, "  ", kOfficer).outcome, IncidentOutcome::kInvalid);
  ASSERT_TRUE(manager_->SetPhase(id, "transporting", kOfficer).ok());
  IncidentReply refused = manager_->CloseNoSuspect(id, "false alarm", kOfficer);
  EXPECT_EQ(refused.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(refused.reason, HasSubstr("suspect is on board"));
  EXPECT_TRUE(Reload(id).open());
}

TEST_F(IncidentsTest, CloseWithNoSuspect) {
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  ASSERT_TRUE(manager_->SetPhase(id, "on-scene", kOfficer).ok());
  IncidentReply closed = manager_->CloseNoSuspect(id, "dispute settled on scene", kOfficer);
  ASSERT_TRUE(closed.ok()) << closed.reason;
  IncidentRecord stored = Reload(id);
  EXPECT_EQ(stored.close_kind, "no-suspect");
  EXPECT_EQ(stored.close_reason, "dispute settled on scene");
}

TEST_F(IncidentsTest, SupervisorOverrideClosesWithAWrittenReason) {
  std::string id = DispatchAndTransport();
  EXPECT_EQ(manager_->OverrideClose(id, "ok", kSupervisor).outcome, IncidentOutcome::kInvalid);
  IncidentReply closed = manager_->OverrideClose(
      id, "suspect taken to hospital by ambulance, escorted by unit 3", kSupervisor);
  ASSERT_TRUE(closed.ok()) << closed.reason;
  IncidentRecord stored = Reload(id);
  EXPECT_EQ(stored.close_kind, "override");
  EXPECT_EQ(stored.entries.back().actor, "zhao");
  EXPECT_THAT(stored.entries.back().value, HasSubstr("hospital"));
}

TEST_F(IncidentsTest, CaseNumberAttachedLaterAndReplacingTakesASupervisor) {
  std::string id = manager_->Trigger("record-button", "", kOfficer).incident.id;
  ASSERT_TRUE(manager_->CloseNoSuspect(id, "checked, nothing found", kOfficer).ok());
  clock_.AdvanceSeconds(3600);
  IncidentReply linked = manager_->Link(id, "J1", "A2026-0042", kOfficer);
  ASSERT_TRUE(linked.ok()) << linked.reason;
  EXPECT_EQ(Reload(id).case_number, "A2026-0042");
  EXPECT_EQ(Reload(id).alarm_number, "J1");
  IncidentReply replace = manager_->Link(id, "", "A2026-0043", kOfficer);
  EXPECT_EQ(replace.outcome, IncidentOutcome::kConflict);
  EXPECT_THAT(replace.reason, HasSubstr("supervisor"));
  ASSERT_TRUE(manager_->Link(id, "", "A2026-0043", kSupervisor).ok());
  IncidentRecord stored = Reload(id);
  EXPECT_EQ(stored.case_number, "A2026-0043");
  EXPECT_EQ(stored.entries.back().value, "case_number=A2026-0043 (was A2026-0042)");
  EXPECT_EQ(manager_->Link(id, "", "", kOfficer).outcome, IncidentOutcome::kInvalid);
}

TEST_F(IncidentsTest, IncidentWithoutCaseNumberIsFlaggedOverdueOnce24HoursAfterItsClose) {
  std::string unlinked = manager_->Dispatch(Order(), kOfficer).incident.id;
  ASSERT_TRUE(manager_->CloseNoSuspect(unlinked, "no one there", kOfficer).ok());
  clock_.AdvanceSeconds(10);
  std::string linked = manager_->Trigger("record-button", "", kOfficer).incident.id;
  ASSERT_TRUE(manager_->CloseNoSuspect(linked, "checked", kOfficer).ok());
  ASSERT_TRUE(manager_->Link(linked, "", "A2026-0001", kOfficer).ok());

  clock_.AdvanceSeconds(23 * 3600);
  EXPECT_TRUE(manager_->CheckOverdue().empty());
  clock_.AdvanceSeconds(3600);
  std::vector<IncidentRecord> flagged = manager_->CheckOverdue();
  ASSERT_EQ(flagged.size(), 1u);
  EXPECT_EQ(flagged[0].id, unlinked);
  EXPECT_NE(Reload(unlinked).link_overdue_utc_ns, 0);
  EXPECT_EQ(Reload(linked).link_overdue_utc_ns, 0);
  EXPECT_EQ(Reload(unlinked).entries.back().kind, "link-overdue");
  EXPECT_TRUE(manager_->CheckOverdue().empty());  // flagged once
}

TEST_F(IncidentsTest, MajorEmergencyIsPermanentAndASupervisorCanSetTheClass) {
  DispatchOrder order = Order();
  order.incident_type = "major-emergency";
  IncidentReply major = manager_->Dispatch(order, kOfficer);
  ASSERT_TRUE(major.ok());
  EXPECT_EQ(major.incident.retention, storage::RetentionClass::kPermanent);
  EXPECT_THAT(major.incident.retention_reason, HasSubstr("第十六条"));
  ASSERT_TRUE(
      manager_->OverrideClose(major.incident.id, "exercise ended, all units back", kSupervisor)
          .ok());

  std::string id = manager_->Trigger("record-button", "", kOfficer).incident.id;
  EXPECT_EQ(manager_->SetRetention(id, "forever", "x", kSupervisor).outcome,
            IncidentOutcome::kInvalid);
  EXPECT_EQ(manager_->SetRetention(id, "permanent", "", kSupervisor).outcome,
            IncidentOutcome::kInvalid);
  ASSERT_TRUE(manager_->SetRetention(id, "permanent", "obstruction of duty", kSupervisor).ok());
  EXPECT_EQ(Reload(id).retention, storage::RetentionClass::kPermanent);
  EXPECT_EQ(Reload(id).retention_reason, "obstruction of duty");
}

TEST_F(IncidentsTest, AnOpenIncidentSurvivesARestart) {
  std::string id = DispatchAndTransport();
  manager_.reset();
  catalog_.reset();
  auto reopened = storage::Catalog::Open(dir_ / "catalog.sqlite");
  ASSERT_TRUE(reopened.ok());
  catalog_ = std::move(reopened).value();
  manager_ = MakeManager();
  ASSERT_TRUE(manager_->Load().ok());
  ASSERT_TRUE(manager_->open_incident().has_value());
  EXPECT_EQ(manager_->open_incident()->id, id);
  EXPECT_EQ(manager_->open_incident()->phase, IncidentPhase::kTransporting);
  EXPECT_EQ(manager_->CheckStopAllowed("stop recording", kOfficer).outcome,
            IncidentOutcome::kConflict);
}

TEST_F(IncidentsTest, EvidenceIsEverySegmentFromThePreEventBufferToThePostEventTime) {
  // Two cameras, 60 s segments from 10 minutes before the trigger to 10 minutes after.
  const int64_t trigger = kStart + 600 * kNs;
  int64_t sequence = 1;
  for (int64_t t = kStart; t < kStart + 1200 * kNs; t += 60 * kNs, ++sequence) {
    ASSERT_TRUE(catalog_->InsertSegment(Segment("road", sequence, t, 60)).ok());
    ASSERT_TRUE(catalog_->InsertSegment(Segment("cabin-rear", sequence, t + 7 * kNs, 60)).ok());
  }
  clock_.Advance(trigger - kStart);
  std::string id = manager_->Dispatch(Order(), kOfficer).incident.id;
  auto open = manager_->Evidence(Reload(id));
  ASSERT_TRUE(open.ok());
  // Open: from trigger - 120 s to the end of what is recorded. Road: segments starting at
  // 480, 540, ... 1140 s (the one from 420 to 480 ends exactly at the buffer's start).
  int road = 0, rear = 0;
  for (const auto& s : *open) (s.camera == "road" ? road : rear)++;
  EXPECT_EQ(road, 12);
  EXPECT_EQ(rear, 13);  // 427..487 overlaps 480
  clock_.AdvanceSeconds(200);
  ASSERT_TRUE(manager_->CloseNoSuspect(id, "done", kOfficer).ok());
  auto closed = manager_->Evidence(Reload(id));
  ASSERT_TRUE(closed.ok());
  // Closed at 800 s, +30 s: road 480..840 → 6 segments (480, 540, ..., 780).
  road = 0;
  for (const auto& s : *closed) road += s.camera == "road";
  EXPECT_EQ(road, 6);
  for (const auto& s : *closed) {
    EXPECT_GT(s.end_utc_ns, trigger - 120 * kNs);
    EXPECT_LT(s.start_utc_ns, trigger + 230 * kNs);
  }
}

TEST_F(IncidentsTest, SpeedOpensAnIncidentOnceUntilItFallsBelowTheThreshold) {
  manager_->OnSpeed(60);
  EXPECT_FALSE(manager_->open_incident().has_value());
  manager_->OnSpeed(95);
  ASSERT_TRUE(manager_->open_incident().has_value());
  EXPECT_EQ(manager_->open_incident()->trigger, "speed");
  EXPECT_EQ(manager_->open_incident()->trigger_detail, "95 km/h, over 80");
  std::string id = manager_->open_incident()->id;
  size_t entries = Reload(id).entries.size();
  manager_->OnSpeed(99);
  manager_->OnSpeed(75);  // not 10 below: still disarmed
  manager_->OnSpeed(97);
  EXPECT_EQ(Reload(id).entries.size(), entries);
  manager_->OnSpeed(65);
  manager_->OnSpeed(90);
  EXPECT_EQ(Reload(id).entries.size(), entries + 1);
}

TEST_F(IncidentsTest, TheCatalogHoldsAtMostOneOpenIncident) {
  ASSERT_TRUE(manager_->Dispatch(Order(), kOfficer).ok());
  IncidentRecord second;
  second.id = "PR-0001-other";
  second.trigger = "manual";
  second.trigger_utc_ns = kStart + kNs;
  base::Status saved = catalog_->SaveIncident(second, {});
  EXPECT_FALSE(saved.ok());
  EXPECT_THAT(saved.message(), HasSubstr("another incident is open"));
}

}  // namespace
}  // namespace patrolrec::daemon
