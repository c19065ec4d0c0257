// The incident lifecycle end to end through the control API, in process, with real pipelines on
// synthetic cameras, a real gpsd under gpsfake for the holding-area geofence, the real libsoup
// server and SQLite catalog, and HTTP over the Unix socket (libcurl, on a thread of its own while
// the main loop runs): dispatch to handover; stop refused during an incident and audited;
// pre-event segments classed as evidence and older ones left as background; handover outside a
// holding area refused; case numbers attached later; an overdue link flagged; roles enforced;
// the audit log's chain verifies and an edit is detected; a trigger input reopens stopped cameras.
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <set>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "inputs/crash_sensor.h"
#include "inputs/scripted_input.h"
#include "storage/audit_log.h"
#include "storage/catalog.h"
#include "tests/api_test_util.h"
#include "tests/gpsfake_util.h"
#include "tests/nmea_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::HttpResult;
using testing::RunLoopFor;
using testing::RunLoopUntil;
using testing::TempDir;

constexpr int64_t kNs = base::kNsPerSecond;

// The scene (outside) and, 600 m north, the city station's holding area.
constexpr double kSceneLat = 41.72000, kSceneLon = 125.93000;
constexpr double kHoldingLat = 41.72540, kHoldingLon = 125.93000;

Config TestConfig(const std::string& data_dir) {
  Config config;
  config.device.id = "PR-TEST-0001";
  config.device.plate = "吉E·12345";
  config.data_dir = data_dir;
  config.segment_seconds = 2;
  config.cameras = {testing::TestCamera("road", "ball", false),
                    testing::TestCamera("cabin-rear", "smpte", false)};
  config.gps.enabled = false;
  config.incidents.pre_event_s = 4;
  config.incidents.post_event_s = 2;
  config.api.socket = data_dir + "/api.sock";
  config.users = testing::TestUsers();
  gps::Geofence holding;
  holding.name = "city-holding-area";
  holding.kind = gps::GeofenceKind::kHoldingArea;
  holding.circle_center = gps::LatLon{kHoldingLat, kHoldingLon};
  holding.circle_radius_m = 150;
  config.geofences = {holding};
  return config;
}

class ControlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  void TearDown() override { StopDaemon(); }

  void StartDaemon(const Config& config) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    for (auto& input : inputs_) control_->AddInputForTesting(std::move(input));
    inputs_.clear();
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    recorder_->Start();
    control_->Start();
    socket_ = config.api.socket;
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
  }

  void StopDaemon() {
    if (!recorder_) return;
    control_->Stop();
    bool stopped = false;
    recorder_->Stop([&] { stopped = true; });
    EXPECT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
    control_.reset();
    recorder_.reset();
  }

  // One HTTP call over the socket, made on another thread while this thread runs the main loop
  // (the server answers on it).
  HttpResult Call(const std::string& method, const std::string& path, const std::string& role,
                  const json& body = nullptr) {
    testing::HttpRequest request;
    request.method = method;
    request.path = path;
    request.token = role.empty() ? "" : role + "-token";
    if (!body.is_null()) request.body = body.dump();
    auto future = std::async(std::launch::async, [socket = socket_, request] {
      return testing::Http(socket, "", request);
    });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  json Status(const std::string& role = "officer") {
    return Call("GET", "/v1/status", role).Json();
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
  std::vector<std::unique_ptr<inputs::InputSource>> inputs_;
};

TEST_F(ControlTest, FromDispatchToHandoverAtTheHoldingArea) {
  // gpsd plays the scene for 25 s, then the holding area.
  testing::GpsFake gpsfake;
  std::vector<std::string> chunks;
  const int64_t now = base::Clock::System()->NowUtcNs();
  for (int i = 0; i < 200; ++i) {
    testing::NmeaEpoch epoch;
    epoch.utc_ns = now + i * kNs;
    epoch.latitude_deg = i < 25 ? kSceneLat : kHoldingLat;
    epoch.longitude_deg = i < 25 ? kSceneLon : kHoldingLon;
    chunks.push_back(testing::NmeaCycle(epoch));
  }
  ASSERT_TRUE(gpsfake.Start(chunks, 1.0)) << gpsfake.error();
  Config config = TestConfig(dir_.path());
  config.gps.enabled = true;
  config.gps.port = gpsfake.port_text();
  StartDaemon(config);
  // Background recording before the trigger: more than the 4 s pre-event buffer.
  RunLoopFor(8);

  // The command centre's order.
  HttpResult dispatched = Call("POST", "/v1/incidents", "officer",
                               {{"alarm_number", "J2026112900017"},
                                {"incident_type", "dispatch-110"},
                                {"address", "通化市东昌区新华大街 88 号"},
                                {"officers", {"031234", "031235"}}});
  ASSERT_EQ(dispatched.status, 201) << dispatched.body;
  const std::string id = dispatched.Json()["id"];
  EXPECT_THAT(dispatched.headers, HasSubstr("Location: /v1/incidents/" + id));
  int64_t trigger_ns = 0;
  ASSERT_TRUE(base::ParseUtcNs(dispatched.Json()["trigger_utc"], &trigger_ns));
  EXPECT_EQ(Status()["incident"]["id"], id);

  // Nobody stops the recording while it is open: not the crew, not a supervisor.
  for (const auto& [path, body] : std::vector<std::pair<std::string, json>>{
           {"/v1/record", {{"action", "stop"}}}, {"/v1/cameras/cabin-rear/stop", nullptr}}) {
    for (const char* role : {"officer", "supervisor"}) {
      HttpResult refused = Call("POST", path, role, body);
      EXPECT_EQ(refused.status, 409) << refused.body;
      EXPECT_THAT(refused.Json()["error"].get<std::string>(), HasSubstr("cannot be stopped"));
    }
  }
  EXPECT_EQ(recorder_->Health(0).recording, 2);
  EXPECT_TRUE(recorder_->paused_cameras().empty());

  for (const char* phase : {"en-route", "on-scene", "transporting"}) {
    HttpResult moved =
        Call("POST", "/v1/incidents/" + id + "/phase", "officer", {{"phase", phase}});
    ASSERT_EQ(moved.status, 200) << moved.body;
  }
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/marks", "officer",
                 {{"note", "suspect objects to being filmed; told recording continues"}})
                .status,
            200);
  // Still at the scene: handover refused, with where the car is.
  HttpResult early =
      Call("POST", "/v1/incidents/" + id + "/handover", "officer", {{"confirm", true}});
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_THAT(early.Json()["error"].get<std::string>(), HasSubstr("not inside a holding-area"));
  EXPECT_THAT(early.Json()["error"].get<std::string>(), HasSubstr("41.72000N"));
  // A close without a suspect is refused too: one is on board.
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/close", "officer",
                 {{"no_suspect", true}, {"reason", "let go"}})
                .status,
            409);

  // The car reaches the holding area (gpsd's log moves there after 25 s).
  ASSERT_TRUE(RunLoopUntil(
      [&] { return recorder_->position().InsideKind(gps::GeofenceKind::kHoldingArea); }, 60));
  json status = Status();
  EXPECT_EQ(status["position"]["geofences"], json::array({"city-holding-area"}));
  HttpResult handed =
      Call("POST", "/v1/incidents/" + id + "/handover", "officer", {{"confirm", true}});
  ASSERT_EQ(handed.status, 200) << handed.body;
  EXPECT_EQ(handed.Json()["phase"], "closed");
  EXPECT_EQ(handed.Json()["close_kind"], "handover");
  EXPECT_THAT(handed.Json()["close_reason"].get<std::string>(), HasSubstr("city-holding-area"));
  EXPECT_TRUE(Status()["incident"].is_null());

  // The case number comes later from the back office.
  EXPECT_EQ(
      Call("POST", "/v1/incidents/" + id + "/links", "officer", {{"case_number", "A2026-0042"}})
          .status,
      200);
  RunLoopFor(4);  // the post-event time and the last segment sealed
  StopDaemon();

  // The evidence, read back through a fresh daemon on the same data (the API reads the catalog).
  StartDaemon(TestConfig(dir_.path()));
  HttpResult shown = Call("GET", "/v1/incidents/" + id, "auditor");
  ASSERT_EQ(shown.status, 200) << shown.body;
  json incident = shown.Json();
  EXPECT_EQ(incident["case_number"], "A2026-0042");
  EXPECT_FALSE(incident["link_overdue"].get<bool>());
  std::vector<std::string> phases;
  for (const json& p : incident["phases"]) phases.push_back(p["phase"]);
  EXPECT_EQ(phases, (std::vector<std::string>{"dispatched", "en-route", "on-scene", "transporting",
                                              "handed-over", "closed"}));
  int refusals = 0;
  for (const json& h : incident["history"]) refusals += h["kind"] == "refusal";
  // Four stop attempts, the handover outside the holding area, the close with a suspect aboard.
  EXPECT_EQ(refusals, 6);
  ASSERT_EQ(incident["marks"].size(), 1u);

  // Evidence: every camera's segments from 4 s before the trigger on, and nothing older.
  std::set<std::string> evidence;
  std::map<std::string, int> before_trigger;
  for (const json& s : incident["segments"]) {
    evidence.insert(s["file"].get<std::string>());
    int64_t start = 0, end = 0;
    ASSERT_TRUE(base::ParseUtcNs(s["start_utc"], &start));
    ASSERT_TRUE(base::ParseUtcNs(s["end_utc"], &end));
    EXPECT_GT(end, trigger_ns - 4 * kNs);
    if (start < trigger_ns) before_trigger[s["camera"]]++;
  }
  EXPECT_GE(before_trigger["road"], 2) << "the pre-event buffer's segments are evidence";
  EXPECT_GE(before_trigger["cabin-rear"], 2);
  int background = 0;
  for (const auto& [camera, segments] : testing::SegmentsByCamera(dir_.path())) {
    for (const auto& s : segments) {
      if (s.end_utc_ns <= trigger_ns - 4 * kNs) {
        EXPECT_EQ(evidence.count(s.file), 0u) << s.file;
        ++background;
      } else if (s.start_utc_ns < trigger_ns) {
        EXPECT_EQ(evidence.count(s.file), 1u) << s.file << " is within the pre-event buffer";
      }
    }
  }
  EXPECT_GE(background, 2) << "recording older than the buffer stays background";
  StopDaemon();

  // Every refusal and change is in the audit log, whose chain verifies.
  auto report = storage::VerifyAuditLog(*base::Env::Default(), dir_ / "audit.log");
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->bad_line, 0) << report->problem;
  std::ifstream in(dir_ / "audit.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(testing::CountOf(log, "\"outcome\":\"refused\""), 6) << log;  // 4 stops, 2 closes
  EXPECT_THAT(log, HasSubstr("POST /v1/incidents/{id}/handover"));
  EXPECT_THAT(log, HasSubstr("GET /v1/incidents/{id}"));  // the view is audited
}

TEST_F(ControlTest, RolesAreEnforcedAndATechnicianNeverSeesEvidence) {
  StartDaemon(TestConfig(dir_.path()));
  HttpResult dispatched = Call(
      "POST", "/v1/incidents", "officer",
      {{"alarm_number", "J1"}, {"incident_type", "stop-and-check"}, {"address", "Yuanxing Road"}});
  ASSERT_EQ(dispatched.status, 201) << dispatched.body;
  const std::string id = dispatched.Json()["id"];

  EXPECT_EQ(Call("GET", "/v1/incidents/" + id, "technician").status, 403);
  EXPECT_EQ(Call("GET", "/v1/incidents", "technician").status, 403);
  json tech_status = Status("technician");
  EXPECT_EQ(tech_status["incident"], json({{"open", true}})) << "health, never evidence";
  EXPECT_EQ(Call("GET", "/v1/health", "technician").status, 200);
  HttpResult check = Call("POST", "/v1/self-check", "technician");
  ASSERT_EQ(check.status, 200) << check.body;
  EXPECT_FALSE(check.Json()["ok"].get<bool>()) << "no GPS configured: the check says so";
  EXPECT_EQ(Call("POST", "/v1/self-check", "officer").status, 403);

  // An auditor reads but changes nothing; only a supervisor sets retention or overrides.
  EXPECT_EQ(Call("GET", "/v1/incidents/" + id, "auditor").status, 200);
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/marks", "auditor", {{"note", "x"}}).status, 403);
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/retention", "officer",
                 {{"class", "permanent"}, {"reason", "obstruction of duty"}})
                .status,
            403);
  HttpResult permanent = Call("POST", "/v1/incidents/" + id + "/retention", "supervisor",
                              {{"class", "permanent"}, {"reason", "obstruction of duty"}});
  ASSERT_EQ(permanent.status, 200) << permanent.body;
  EXPECT_EQ(permanent.Json()["retention"], "permanent");
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/override-close", "officer",
                 {{"reason", "want to go home now"}})
                .status,
            403);
  HttpResult short_reason =
      Call("POST", "/v1/incidents/" + id + "/override-close", "supervisor", {{"reason", "ok"}});
  EXPECT_EQ(short_reason.status, 422) << short_reason.body;
  HttpResult overridden = Call("POST", "/v1/incidents/" + id + "/override-close", "supervisor",
                               {{"reason", "suspect taken to hospital by ambulance"}});
  ASSERT_EQ(overridden.status, 200) << overridden.body;
  EXPECT_EQ(overridden.Json()["close_kind"], "override");

  // Malformed requests: a reason, never a crash.
  HttpResult unknown_field =
      Call("POST", "/v1/incidents/" + id + "/links", "officer", {{"case", "A1"}});
  EXPECT_EQ(unknown_field.status, 400);
  EXPECT_THAT(unknown_field.body, HasSubstr("case"));
  EXPECT_EQ(Call("POST", "/v1/incidents/nope/phase", "officer", {{"phase", "on-scene"}}).status,
            404);
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/phase", "officer", {{"phase", 7}}).status, 400);
  EXPECT_EQ(Call("POST", "/v1/incidents", "officer",
                 {{"alarm_number", "J2"}, {"incident_type", "parking"}, {"address", "x"}})
                .status,
            422);

  // With no incident open, a stop is allowed (maintenance); the record button starts again.
  HttpResult stop = Call("POST", "/v1/cameras/cabin-rear/stop", "technician");
  ASSERT_EQ(stop.status, 200) << stop.body;
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).paused == 1; }, 10));
  EXPECT_EQ(Call("POST", "/v1/record", "technician", {{"action", "start"}}).status, 403);
  HttpResult button = Call("POST", "/v1/record", "officer", {{"action", "start"}});
  ASSERT_EQ(button.status, 200) << button.body;
  EXPECT_EQ(button.Json()["trigger"], "record-button");
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
}

TEST_F(ControlTest, AnIncidentWithoutCaseNumberADayAfterItsCloseIsFlaggedOverdue) {
  const int64_t now = base::Clock::System()->NowUtcNs();
  {
    auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    for (const char* id : {"PR-TEST-0001-old-unlinked", "PR-TEST-0001-old-linked"}) {
      storage::IncidentRecord old;
      old.id = id;
      old.trigger = "dispatch";
      old.trigger_utc_ns = now - 26 * 3600 * kNs;
      old.phase = storage::IncidentPhase::kClosed;
      old.closed_utc_ns = now - 25 * 3600 * kNs;
      old.close_kind = "no-suspect";
      old.close_reason = "nobody there";
      old.alarm_number = "J0";
      if (std::string(id).ends_with("-linked")) old.case_number = "A2026-0001";
      ASSERT_TRUE((*catalog)->SaveIncident(old, {}).ok());
    }
  }
  StartDaemon(TestConfig(dir_.path()));
  json unlinked = Call("GET", "/v1/incidents/PR-TEST-0001-old-unlinked", "supervisor").Json();
  EXPECT_TRUE(unlinked["link_overdue"].get<bool>()) << unlinked.dump();
  EXPECT_EQ(unlinked["history"].back()["kind"], "link-overdue");
  json linked = Call("GET", "/v1/incidents/PR-TEST-0001-old-linked", "supervisor").Json();
  EXPECT_FALSE(linked["link_overdue"].get<bool>());
  std::ifstream in(dir_ / "audit.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(log, HasSubstr("\"action\":\"incident link-overdue\""));
  // Linking it clears the flag.
  ASSERT_EQ(Call("POST", "/v1/incidents/PR-TEST-0001-old-unlinked/links", "officer",
                 {{"case_number", "A2026-0002"}})
                .status,
            200);
  EXPECT_FALSE(
      Call("GET", "/v1/incidents/PR-TEST-0001-old-unlinked", "supervisor").Json()["link_overdue"]);
}

TEST_F(ControlTest, AnEditedAuditLogIsDetectedKeptAsideAndANewChainStarted) {
  StartDaemon(TestConfig(dir_.path()));
  ASSERT_EQ(Call("POST", "/v1/record", "officer", {{"action", "start"}}).status, 200);
  ASSERT_EQ(Call("POST", "/v1/record", "officer", {{"action", "stop"}}).status, 409);
  StopDaemon();
  const std::string path = dir_ / "audit.log";
  std::ifstream in(path);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  ASSERT_THAT(log, HasSubstr("\"outcome\":\"refused\""));
  // Somebody turns the refusal into a success.
  std::string edited = log;
  edited.replace(edited.find("\"outcome\":\"refused\""), 19, "\"outcome\":\"ok\"     ");
  testing::WriteTextFile(path, edited);
  auto report = storage::VerifyAuditLog(*base::Env::Default(), path);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->bad_line, 2) << report->problem;

  // The daemon still starts and records; the broken log is kept; the new chain begins by saying so.
  StartDaemon(TestConfig(dir_.path()));
  EXPECT_EQ(Status()["cameras"].size(), 2u);
  StopDaemon();
  auto fresh = storage::VerifyAuditLog(*base::Env::Default(), path);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->bad_line, 0) << fresh->problem;
  std::ifstream again(path);
  std::string first_line;
  std::getline(again, first_line);
  EXPECT_THAT(first_line, HasSubstr("audit-log-broken"));
  EXPECT_THAT(first_line, HasSubstr("audit.log.broken-"));
}

// Whole entries cut off the end of the audit log still chain; the signed head the daemon
// rewrites after every entry (storage/audit_head.h) shows the cut, to `patrolctl audit verify`
// offline and to the daemon at its next start, which records it as an entry.
TEST_F(ControlTest, EntriesCutOffTheEndOfTheAuditLogAreShownByItsSignedHead) {
  StartDaemon(TestConfig(dir_.path()));
  ASSERT_EQ(Call("POST", "/v1/record", "officer", {{"action", "start"}}).status, 200);
  ASSERT_EQ(Call("POST", "/v1/record", "officer", {{"action", "stop"}}).status, 409);
  ASSERT_EQ(Call("POST", "/v1/record", "officer", {{"action", "start"}}).status, 200);
  StopDaemon();
  const std::string path = dir_ / "audit.log";
  auto verify = [&] {
    return testing::RunCommand({testing::BinaryPath("patrolctl"), "audit", "verify", path});
  };
  auto intact = verify();
  EXPECT_EQ(intact.exit_code, 0) << intact.output;
  EXPECT_THAT(intact.output, HasSubstr("the signed head"));
  EXPECT_THAT(intact.output, HasSubstr("nothing is missing at the end"));

  // Somebody removes the last two entries (the refused stop and the start after it).
  std::string log = *base::Env::Default()->ReadFile(path);
  const int64_t entries = std::count(log.begin(), log.end(), '\n');
  ASSERT_GE(entries, 3);
  size_t cut = log.size() - 1;
  for (int i = 0; i < 2; ++i) cut = log.rfind('\n', cut - 1);
  testing::WriteTextFile(path, log.substr(0, cut + 1));
  auto chain = storage::VerifyAuditLog(*base::Env::Default(), path);
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(chain->ok()) << "the shorter log still chains";
  auto cut_off = verify();
  EXPECT_EQ(cut_off.exit_code, 1) << cut_off.output;
  EXPECT_THAT(cut_off.output,
              HasSubstr("entries " + std::to_string(entries - 1) + " to " +
                        std::to_string(entries) + " are missing at the end of the log"));

  // The next start says so in the log itself, then anchors the new end.
  StartDaemon(TestConfig(dir_.path()));
  StopDaemon();
  std::string after = *base::Env::Default()->ReadFile(path);
  EXPECT_THAT(after, HasSubstr("audit-head-mismatch"));
  EXPECT_THAT(after, HasSubstr("are missing at the end of the log"));
  auto anchored = verify();
  EXPECT_EQ(anchored.exit_code, 0) << anchored.output;
  // An edited head does not verify.
  const std::string head_path = dir_ / "audit-head";
  std::string head = *base::Env::Default()->ReadFile(head_path);
  const size_t seq = head.find("seq=");
  ASSERT_NE(seq, std::string::npos);
  head.replace(seq, 5, "seq=9");
  testing::WriteTextFile(head_path, head);
  auto forged = verify();
  EXPECT_EQ(forged.exit_code, 1) << forged.output;
  EXPECT_THAT(forged.output, HasSubstr("HEAD:"));
}

TEST_F(ControlTest, TheLightBarOpensAnIncidentAndRestartsStoppedCameras) {
  auto light_bar = std::make_unique<inputs::ScriptedInput>(
      "light-bar", inputs::InputFunction::kLightBar, 20, base::Clock::System());
  inputs::ScriptedInput* bar = light_bar.get();
  inputs_.push_back(std::move(light_bar));
  StartDaemon(TestConfig(dir_.path()));
  ASSERT_EQ(Call("POST", "/v1/record", "officer", {{"action", "stop"}}).status, 200);
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).paused == 2; }, 10));

  bar->Press();
  ASSERT_TRUE(RunLoopUntil([&] { return Status()["incident"].is_object(); }, 5));
  json incident = Status()["incident"];
  EXPECT_EQ(incident["trigger"], "light-bar");
  EXPECT_EQ(incident["phase"], "on-scene");
  EXPECT_EQ(incident["history"][0]["by"], "input:light-bar");
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
  EXPECT_TRUE(recorder_->paused_cameras().empty());
  // And now the crew cannot stop them.
  EXPECT_EQ(Call("POST", "/v1/record", "officer", {{"action", "stop"}}).status, 409);
  // The input's change is audited like a request's.
  std::ifstream in(dir_ / "audit.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(log, HasSubstr("\"actor\":\"input:light-bar\""));
  EXPECT_THAT(log, HasSubstr("\"action\":\"incident opened\""));
}

TEST_F(ControlTest, ACrashOnTheAccelerometerOpensAnIncident) {
  // The real IIO reader, on a directory laid out like /sys/bus/iio/devices/iio:device0.
  TempDir sysfs;
  const std::string device = sysfs / "iio:device0";
  ASSERT_EQ(mkdir(device.c_str(), 0755), 0);
  auto write = [&](const std::string& file, const std::string& value) {
    testing::WriteTextFile(device + "/" + file, value + "\n");
  };
  write("name", "lis3dh");
  write("in_accel_scale", "0.009806650");  // 1 raw = 1 mg
  write("in_accel_x_raw", "0");
  write("in_accel_y_raw", "0");
  write("in_accel_z_raw", "1000");  // 1 g: standing still
  inputs::CrashSensorConfig crash;
  crash.threshold_g = 2.5;
  crash.duration_ms = 30;
  crash.poll_hz = 200;
  inputs_.push_back(inputs::MakeCrashSensor(crash, base::Clock::System(), sysfs.path()));
  StartDaemon(TestConfig(dir_.path()));
  RunLoopFor(0.5);
  EXPECT_TRUE(Status()["incident"].is_null());
  write("in_accel_x_raw", "-6000");  // 6 g from the side
  ASSERT_TRUE(RunLoopUntil([&] { return Status()["incident"].is_object(); }, 5));
  json incident = Status()["incident"];
  EXPECT_EQ(incident["trigger"], "crash");
  EXPECT_THAT(incident["trigger_detail"].get<std::string>(), HasSubstr("peak 6"));
}

TEST_F(ControlTest, SpeedAboveTheThresholdOpensAnIncident) {
  testing::GpsFake gpsfake;
  std::vector<std::string> chunks;
  const int64_t now = base::Clock::System()->NowUtcNs();
  for (int i = 0; i < 60; ++i) {
    testing::NmeaEpoch epoch;
    epoch.utc_ns = now + i * kNs;
    epoch.latitude_deg = kSceneLat + i * 0.0003;
    epoch.longitude_deg = kSceneLon;
    epoch.speed_mps = i < 4 ? 10 : 30;  // 36 km/h, then 108 km/h
    chunks.push_back(testing::NmeaCycle(epoch));
  }
  ASSERT_TRUE(gpsfake.Start(chunks, 1.0)) << gpsfake.error();
  Config config = TestConfig(dir_.path());
  config.gps.enabled = true;
  config.gps.port = gpsfake.port_text();
  config.incidents.speed_trigger_kmh = 90;
  StartDaemon(config);
  ASSERT_TRUE(RunLoopUntil([&] { return Status()["incident"].is_object(); }, 30))
      << gpsfake.output();
  json incident = Status()["incident"];
  EXPECT_EQ(incident["trigger"], "speed");
  EXPECT_THAT(incident["trigger_detail"].get<std::string>(), HasSubstr("over 90"));
  EXPECT_EQ(incident["history"][0]["by"], "input:speed");
}

TEST_F(ControlTest, PatrolctlDrivesTheDaemon) {
  StartDaemon(TestConfig(dir_.path()));
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryPath("patrolctl"), "--socket", socket_});
    auto future = std::async(std::launch::async, [args] { return testing::RunCommand(args); });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  };
  auto dispatched = run({"--token", "officer-token", "incident", "dispatch", "--alarm", "J7",
                         "--type", "dispatch-110", "--address", "Xinhua Street 88"});
  EXPECT_EQ(dispatched.exit_code, 0) << dispatched.output;
  EXPECT_THAT(dispatched.output, HasSubstr("dispatched (open)"));
  auto stop = run({"--token", "officer-token", "record", "stop"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_THAT(stop.output, HasSubstr("409"));
  EXPECT_THAT(stop.output, HasSubstr("cannot be stopped"));
  auto status = run({"--token", "technician-token", "status"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_THAT(status.output, HasSubstr("road"));
  EXPECT_THAT(status.output, HasSubstr("recording"));
}

// GET /v1/uplink answers every role; technicians see counts, never keys, incidents or errors
// that name files (R13). The uplink here points at a closed port: nothing is uploaded, the queue
// fills and the error is kept.
TEST_F(ControlTest, UplinkStatusForEveryRoleAndCountsOnlyForTechnicians) {
  Config config = TestConfig(dir_.path());
  config.uplink.endpoint = "http://127.0.0.1:1";
  config.uplink.bucket = "patrolrec-test";
  config.uplink.access_key = "key";
  config.uplink.secret_key_file = dir_ / "secret";
  config.uplink.network = "cellular";
  std::ofstream(config.uplink.secret_key_file) << "secret\n";
  StartDaemon(config);
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->segments_sealed() >= 2; }, 20));
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        json j = Call("GET", "/v1/uplink", "supervisor").Json();
        return j.value("queue", json::object())
                   .value("background", json::object())
                   .value("held", 0) > 0;
      },
      20));
  for (const char* role : {"officer", "supervisor", "auditor", "technician"}) {
    HttpResult r = Call("GET", "/v1/uplink", role);
    ASSERT_EQ(r.status, 200) << role;
    json j = r.Json();
    EXPECT_EQ(j["mode"], "cellular") << role;
    EXPECT_EQ(j["held"][0]["why"], "background footage waits for the depot") << j.dump(2);
    const bool technician = std::string(role) == "technician";
    EXPECT_EQ(j.contains("incidents"), !technician) << role;
    EXPECT_EQ(j.contains("recent"), !technician) << role;
    EXPECT_EQ(j.contains("last_error"), !technician) << role;
  }
  EXPECT_EQ(Call("GET", "/v1/uplink", "").status, 401);
}

TEST_F(ControlTest, UplinkOffSaysSo) {
  StartDaemon(TestConfig(dir_.path()));
  json j = Call("GET", "/v1/uplink", "technician").Json();
  EXPECT_EQ(j["enabled"], false);
  EXPECT_EQ(j["mode"], "off");
}

}  // namespace
}  // namespace patrolrec::daemon
