// The upload queue's order and network policy, without a server: alerts, then manifests, then
// evidence of the oldest incident first, then background; offline nothing; on cellular no
// background (unless configured) and nothing but alerts once the month's budget is used.
#include "uplink/queue.h"

#include <gtest/gtest.h>

namespace patrolrec::uplink {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'800'000'000 * kS;

storage::SegmentRecord Segment(const std::string& camera, int64_t sequence, int64_t start_s,
                               int64_t bytes = 1000) {
  storage::SegmentRecord s;
  s.device_id = "PR-0001";
  s.camera = camera;
  s.sequence = sequence;
  s.file = "segments/" + camera + "/seg-" + std::to_string(sequence) + ".mp4";
  s.start_utc_ns = kT0 + start_s * kS;
  s.end_utc_ns = s.start_utc_ns + 60 * kS;
  s.bytes = bytes;
  s.sha256_hex = std::string(64, 'a');
  s.track_file = s.file + ".gpx";
  s.track_sha256_hex = std::string(64, 'b');
  return s;
}

storage::IncidentRecord Incident(const std::string& id, int64_t trigger_s, int64_t closed_s) {
  storage::IncidentRecord i;
  i.id = id;
  i.trigger_utc_ns = kT0 + trigger_s * kS;
  i.pre_event_s = 0;
  i.post_event_s = 0;
  i.closed_utc_ns = closed_s ? kT0 + closed_s * kS : 0;
  return i;
}

OutboxFile Outbox(const std::string& file, int64_t utc_s, const std::string& incident = "") {
  return {file, "PR-0001/" + file, std::string(64, 'c'), 100, kT0 + utc_s * kS, incident};
}

std::vector<std::string> Ids(const QueuePlan& plan) {
  std::vector<std::string> ids;
  for (const QueueJob& job : plan.ready) ids.push_back(job.id);
  return ids;
}

QueueInput Sample() {
  QueueInput input;
  // road 1 and 4 background; road 2 evidence of A (100..200 s), road 3 and cabin 1 of B.
  input.segments = {Segment("road", 1, 0), Segment("road", 2, 120), Segment("road", 3, 600),
                    Segment("cabin", 1, 610), Segment("road", 4, 3000)};
  input.incidents = {Incident("B", 600, 700), Incident("A", 100, 200)};
  input.alerts = {Outbox("uplink/alerts/2.json", 50), Outbox("uplink/alerts/1.json", 10)};
  input.manifests = {Outbox("uplink/manifests/B/manifest-1.json", 800, "B"),
                     Outbox("uplink/manifests/A/manifest-1.json", 900, "A")};
  return input;
}

QueuePolicy Policy() { return {"PR-0001", false, 0}; }

TEST(QueueTest, KeysFollowTheLayout) {
  EXPECT_EQ(SegmentKey("PR-0001", "road", "x.mp4"), "PR-0001/road/x.mp4");
  EXPECT_EQ(ManifestKey("PR-0001", "PR-0001-20261129T011630.250Z", 2),
            "PR-0001/incidents/PR-0001-20261129T011630.250Z/manifest-2.json");
  EXPECT_EQ(AlertKey("PR-0001", kT0, "camera-error"),
            "PR-0001/alerts/20270115T080000.000Z-camera-error.json");
  std::vector<QueueFile> files = SegmentFiles("PR-0001", Segment("road", 1, 0));
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].key, "PR-0001/road/seg-1.mp4");
  EXPECT_EQ(files[1].key, "PR-0001/road/seg-1.mp4.seal");
  EXPECT_EQ(files[1].sha256_hex, "");
  EXPECT_EQ(files[2].key, "PR-0001/road/seg-1.mp4.gpx");
}

TEST(QueueTest, AtTheDepotAlertsThenManifestsThenOldestIncidentsEvidenceThenBackground) {
  QueuePlan plan = PlanQueue(Sample(), NetworkMode::kDepot, 0, Policy());
  EXPECT_EQ(Ids(plan),
            (std::vector<std::string>{
                "uplink/alerts/1.json", "uplink/alerts/2.json",
                "uplink/manifests/A/manifest-1.json", "uplink/manifests/B/manifest-1.json",
                "segments/road/seg-2.mp4", "segments/road/seg-3.mp4", "segments/cabin/seg-1.mp4",
                "segments/road/seg-1.mp4", "segments/road/seg-4.mp4"}));
  EXPECT_EQ(plan.ready[4].job_class, JobClass::kEvidence);
  EXPECT_EQ(plan.ready[4].incident_id, "A");
  EXPECT_EQ(plan.ready[5].incident_id, "B");
  EXPECT_EQ(plan.ready[7].job_class, JobClass::kBackground);
  EXPECT_TRUE(plan.held.empty());
}

TEST(QueueTest, OpenIncidentsEvidenceIsFlaggedToo) {
  QueueInput input = Sample();
  input.incidents.push_back(Incident("C", 2900, 0));
  QueuePlan plan = PlanQueue(input, NetworkMode::kCellular, 0, Policy());
  EXPECT_EQ(plan.ready.back().id, "segments/road/seg-4.mp4");
  EXPECT_EQ(plan.ready.back().incident_id, "C");
}

TEST(QueueTest, OfflineHoldsEverything) {
  QueuePlan plan = PlanQueue(Sample(), NetworkMode::kOffline, 0, Policy());
  EXPECT_TRUE(plan.ready.empty());
  int jobs = 0;
  for (const HeldCount& held : plan.held) {
    EXPECT_EQ(held.why, "offline: no network");
    jobs += held.jobs;
  }
  EXPECT_EQ(jobs, 9);
}

TEST(QueueTest, OnCellularBackgroundWaitsForTheDepotUnlessAllowed) {
  QueuePlan plan = PlanQueue(Sample(), NetworkMode::kCellular, 0, Policy());
  EXPECT_EQ(plan.ready.size(), 7u);
  for (const QueueJob& job : plan.ready) EXPECT_NE(job.job_class, JobClass::kBackground);
  ASSERT_EQ(plan.held.size(), 1u);
  EXPECT_EQ(plan.held[0].job_class, JobClass::kBackground);
  EXPECT_EQ(plan.held[0].jobs, 2);
  EXPECT_EQ(plan.held[0].why, "background footage waits for the depot");

  QueuePolicy allow = Policy();
  allow.background_over_cellular = true;
  EXPECT_EQ(PlanQueue(Sample(), NetworkMode::kCellular, 0, allow).ready.size(), 9u);
}

TEST(QueueTest, AnExhaustedBudgetHoldsEvidenceButNotAlerts) {
  QueuePolicy policy = Policy();
  policy.monthly_budget_bytes = 10 * 1024 * 1024;
  QueuePlan plan = PlanQueue(Sample(), NetworkMode::kCellular, 10 * 1024 * 1024, policy);
  EXPECT_EQ(Ids(plan), (std::vector<std::string>{"uplink/alerts/1.json", "uplink/alerts/2.json"}));
  bool evidence_held = false;
  for (const HeldCount& held : plan.held) {
    if (held.job_class == JobClass::kEvidence) {
      evidence_held = true;
      EXPECT_EQ(held.why, "the month's cellular budget is used (10 MiB of 10 MiB)");
    }
  }
  EXPECT_TRUE(evidence_held);
}

TEST(QueueTest, WhatIsLeftOfTheBudgetIsSpentInOrder) {
  QueuePolicy policy = Policy();
  policy.monthly_budget_bytes = 2350;  // two manifests (200) and two 1000-byte segments
  QueuePlan plan = PlanQueue(Sample(), NetworkMode::kCellular, 0, policy);
  EXPECT_EQ(plan.ready.size(), 6u);
  EXPECT_EQ(plan.ready.back().id, "segments/road/seg-3.mp4");
}

TEST(QueueTest, VerifiedFilesAreNotSentAgainAndASegmentIsDoneOnlyWithAllThree) {
  QueueInput input = Sample();
  input.verified_keys = {"PR-0001/road/seg-2.mp4", "PR-0001/road/seg-2.mp4.seal",
                         "PR-0001/road/seg-2.mp4.gpx", "PR-0001/road/seg-3.mp4",
                         "PR-0001/uplink/alerts/1.json"};
  QueuePlan plan = PlanQueue(input, NetworkMode::kDepot, 0, Policy());
  std::vector<std::string> ids = Ids(plan);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "segments/road/seg-2.mp4"), 0);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), "uplink/alerts/1.json"), 0);
  for (const QueueJob& job : plan.ready) {
    if (job.id == "segments/road/seg-3.mp4") {
      ASSERT_EQ(job.files.size(), 2u);  // the seal and the track are still to go
      EXPECT_EQ(job.files[0].key, "PR-0001/road/seg-3.mp4.seal");
    }
  }
}

TEST(QueueTest, MissingSegmentsAreNotQueued) {
  QueueInput input;
  input.segments = {Segment("road", 1, 0)};
  input.segments[0].state = storage::SegmentState::kMissing;
  EXPECT_TRUE(PlanQueue(input, NetworkMode::kDepot, 0, Policy()).ready.empty());
}

TEST(QueueTest, PermanentIncidentsEvidenceCarriesItsRetention) {
  QueueInput input = Sample();
  input.incidents[1].retention = storage::RetentionClass::kPermanent;  // A
  QueuePlan plan = PlanQueue(input, NetworkMode::kDepot, 0, Policy());
  EXPECT_EQ(plan.ready[2].retention, storage::RetentionClass::kPermanent);  // A's manifest
  EXPECT_EQ(plan.ready[4].retention, storage::RetentionClass::kPermanent);  // A's segment
  EXPECT_EQ(plan.ready[5].retention, storage::RetentionClass::kOrdinary);   // B's
}

}  // namespace
}  // namespace patrolrec::uplink
