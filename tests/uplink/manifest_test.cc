// The incident manifest and the alert objects, without a server: what a manifest holds (the
// evidence's hashes, chain values and signatures, the interruptions in range, the audit entries
// that changed the incident), and that the same input gives the same bytes.
#include "uplink/manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace patrolrec::uplink {
namespace {

using nlohmann::json;

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'800'000'000 * kS;

ManifestInput Input() {
  ManifestInput input;
  input.device_id = "PR-0001";
  input.incident.id = "PR-0001-20270115T080000.000Z";
  input.incident.trigger = "dispatch";
  input.incident.trigger_utc_ns = kT0;
  input.incident.pre_event_s = 10;
  input.incident.post_event_s = 5;
  input.incident.closed_utc_ns = kT0 + 100 * kS;
  input.incident.case_number = "A2027-0001";
  input.incident.entries = {{kT0, "trigger", "dispatch", "input:dispatch"}};
  storage::SegmentRecord s;
  s.device_id = "PR-0001";
  s.camera = "road";
  s.sequence = 7;
  s.file = "segments/road/x.mp4";
  s.start_utc_ns = kT0;
  s.end_utc_ns = kT0 + 60 * kS;
  s.sha256_hex = std::string(64, 'a');
  s.prev_chain_hex = std::string(64, 'b');
  s.chain_hex = std::string(64, 'c');
  s.signature_b64 = "sig";
  s.track_file = "segments/road/x.mp4.gpx";
  s.track_sha256_hex = std::string(64, 'd');
  input.segments = {s};
  input.events = {{kT0 - 20 * kS, "camera-error", "road", "", "before the range"},
                  {kT0 + 30 * kS, "camera-error", "cabin-rear", "", "ENODEV"},
                  {kT0 + 40 * kS, "geofence-enter", "", "", "not an interruption"},
                  {kT0 + 104 * kS, "gps-fix-lost", "", "", "in the post-event time"},
                  {kT0 + 106 * kS, "gps-fix", "", "", "after the range"}};
  storage::AuditEntry view;
  view.seq = 1;
  view.event = {
      "li-wei", "officer", "GET /v1/incidents/{id}", "/v1/incidents/" + input.incident.id, "ok",
      200,      ""};
  storage::AuditEntry link = view;
  link.seq = 2;
  link.event.action = "POST /v1/incidents/{id}/links";
  link.event.target = "/v1/incidents/" + input.incident.id + "/links";
  storage::AuditEntry other = link;
  other.seq = 3;
  other.event.target = "/v1/incidents/PR-0001-20270114T080000.000Z/links";
  input.audit = {view, link, other};
  input.device_public_key_pem = "-----BEGIN PUBLIC KEY-----\n...\n";
  return input;
}

TEST(ManifestTest, HoldsTheEvidenceInterruptionsAndAuditEntriesThatChangedTheIncident) {
  json m = json::parse(BuildManifest(Input()));
  EXPECT_EQ(m["format"], kManifestFormat);
  EXPECT_EQ(m["incident"]["case_number"], "A2027-0001");
  EXPECT_EQ(m["incident"]["history"].size(), 1u);
  ASSERT_EQ(m["segments"].size(), 1u);
  const json& s = m["segments"][0];
  EXPECT_EQ(s["key"], "PR-0001/road/x.mp4");
  EXPECT_EQ(s["seal_key"], "PR-0001/road/x.mp4.seal");
  EXPECT_EQ(s["track_key"], "PR-0001/road/x.mp4.gpx");
  EXPECT_EQ(s["sha256"], std::string(64, 'a'));
  EXPECT_EQ(s["prev_chain"], std::string(64, 'b'));
  EXPECT_EQ(s["chain"], std::string(64, 'c'));
  EXPECT_EQ(s["signature"], "sig");
  EXPECT_EQ(s["track_sha256"], std::string(64, 'd'));
  ASSERT_EQ(m["events"].size(), 2u);
  EXPECT_EQ(m["events"][0]["detail"], "ENODEV");
  EXPECT_EQ(m["events"][1]["kind"], "gps-fix-lost");
  ASSERT_EQ(m["audit"].size(), 1u);
  EXPECT_EQ(m["audit"][0]["seq"], 2);
  EXPECT_EQ(m["device_public_key_pem"], "-----BEGIN PUBLIC KEY-----\n...\n");
}

TEST(ManifestTest, HoldsTheInterruptionRecordsWithTheirExplanations) {
  ManifestInput input = Input();
  storage::InterruptionRecord r;
  r.incident_id = input.incident.id;
  r.number = 1;
  r.camera = "cabin-rear";
  r.cause = "probe:covered";
  r.detail = "video: picture dark and featureless";
  r.start_utc_ns = kT0 + 30 * kS;
  r.end_utc_ns = kT0 + 34 * kS;
  r.explanation = "a bag covered the lens";
  r.explained_by = "li-wei";
  r.explained_utc_ns = kT0 + 50 * kS;
  storage::InterruptionRecord unexplained = r;
  unexplained.number = 2;
  unexplained.cause = "camera-failed";
  unexplained.explanation.clear();
  unexplained.explained_by.clear();
  unexplained.explained_utc_ns = 0;
  unexplained.unexplained_at_close_utc_ns = kT0 + 100 * kS;
  input.interruptions = {r, unexplained};
  json m = json::parse(BuildManifest(input));
  ASSERT_EQ(m["interruptions"].size(), 2u);
  EXPECT_EQ(m["interruptions"][0]["cause"], "probe:covered");
  EXPECT_EQ(m["interruptions"][0]["camera"], "cabin-rear");
  EXPECT_EQ(m["interruptions"][0]["explanation"], "a bag covered the lens");
  EXPECT_EQ(m["interruptions"][0]["end_utc"], base::FormatUtcNs(kT0 + 34 * kS));
  EXPECT_EQ(m["interruptions"][0]["unexplained_at_close_utc"], "");
  EXPECT_EQ(m["interruptions"][1]["unexplained_at_close_utc"], base::FormatUtcNs(kT0 + 100 * kS));
  EXPECT_NE(BuildManifest(input), BuildManifest(Input()));
}

TEST(ManifestTest, TheSameInputGivesTheSameBytesAndAChangeGivesOthers) {
  EXPECT_EQ(BuildManifest(Input()), BuildManifest(Input()));
  ManifestInput changed = Input();
  changed.incident.alarm_number = "J2027-0017";
  EXPECT_NE(BuildManifest(changed), BuildManifest(Input()));
  ManifestInput viewed = Input();
  viewed.audit.push_back(viewed.audit[0]);  // one more view changes nothing
  viewed.audit.back().seq = 4;
  EXPECT_EQ(BuildManifest(viewed), BuildManifest(Input()));
}

TEST(ManifestTest, AlertsSayWhatWhereAndWhen) {
  json a = json::parse(BuildAlert({"camera-error", kT0, "PR-0001", "cabin-rear", "",
                                   "/dev/video2: device disconnected (ENODEV)"}));
  EXPECT_EQ(a["format"], kAlertFormat);
  EXPECT_EQ(a["kind"], "camera-error");
  EXPECT_EQ(a["utc"], "2027-01-15T08:00:00.000000000Z");
  EXPECT_EQ(a["camera"], "cabin-rear");
}

}  // namespace
}  // namespace patrolrec::uplink
