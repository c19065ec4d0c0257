// The uplink service against the real S3 server (radosgw, fixture s3): an incident's evidence
// (.mp4, .seal, .gpx) and its manifest uploaded, verified and read back; background only at the
// depot; on cellular the budget holds evidence but not alerts; a restart mid-upload resumes; a
// camera failure is an alert on the server within seconds; the 24-hour-risk alert under a fake
// clock. Segments are made up (random bytes with their seal and track sidecars) and catalogued
// directly, so no camera is needed.
#include "daemon/uplink_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "storage/catalog.h"
#include "storage/seal.h"
#include "tests/fault_proxy.h"
#include "tests/test_util.h"
#include "tests/uplink/s3_test_env.h"

namespace patrolrec::daemon {
namespace {

using patrolrec::testing::FaultProxy;
using patrolrec::testing::LoadS3TestEnv;
using patrolrec::testing::RandomBytes;
using patrolrec::testing::S3TestEnv;
using patrolrec::testing::TempDir;
using uplink::NetworkMode;

constexpr int64_t kS = base::kNsPerSecond;
constexpr int64_t kPartSize = 256 * 1024;  // the test server's minimum part size

// Wall time that tests may move forward; monotonic time is the machine's (workers wait on it).
class ShiftedClock : public base::Clock {
 public:
  int64_t NowUtcNs() const override { return System()->NowUtcNs() + shift_ns_; }
  int64_t MonotonicNs() const override { return System()->MonotonicNs(); }
  void Shift(int64_t ns) { shift_ns_ += ns; }

 private:
  std::atomic<int64_t> shift_ns_{0};
};

bool WaitFor(const std::function<bool()>& done, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class UplinkServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    s3_ = LoadS3TestEnv();
    ASSERT_FALSE(s3_.Get("S3_ENDPOINT").empty());
    // A device id of its own per test and run: objects under object lock cannot be removed.
    std::string prefix = patrolrec::testing::UniquePrefix(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    device_ = "PRT-" + std::to_string(std::hash<std::string>()(prefix) % 100000000);
    config_.device.id = device_;
    config_.data_dir = dir_.path();
    config_.segment_seconds = 60;
    UplinkConfig& u = config_.uplink;
    u.endpoint = s3_.Get("S3_ENDPOINT");
    u.region = s3_.Get("S3_REGION");
    u.bucket = s3_.Get("S3_LOCK_BUCKET");
    u.access_key = s3_.Get("S3_ACCESS_KEY");
    u.secret_key_file = dir_ / "s3-secret";
    std::ofstream(u.secret_key_file) << s3_.Get("S3_SECRET_KEY") << "\n";
    u.jobs = 2;
    u.network = "depot";
    auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok()) << catalog.message();
    catalog_ = std::move(catalog).value();
    std::ofstream(dir_ / "device.pub.pem") << "-----BEGIN PUBLIC KEY-----\ntest\n"
                                              "-----END PUBLIC KEY-----\n";
    t0_ = clock_.NowUtcNs() - 3600 * kS;
  }

  void TearDown() override {
    if (service_) service_->Stop();
  }

  // A segment of `bytes` random bytes starting `start_s` after t0, with its seal and track.
  storage::SegmentRecord AddSegment(const std::string& camera, int64_t sequence, int64_t start_s,
                                    size_t bytes) {
    const std::string name = device_ + "-" + camera + "-" + std::to_string(sequence) + ".mp4";
    const std::string file = "segments/" + camera + "/" + name;
    std::filesystem::create_directories(dir_ / ("segments/" + camera));
    const std::string contents = RandomBytes(bytes, static_cast<unsigned>(sequence * 31 + bytes));
    std::ofstream(dir_ / file, std::ios::binary) << contents;
    std::ofstream(dir_ / (file + ".seal")) << "seal of " << name << "\n";
    const std::string track = "<gpx>" + name + "</gpx>\n";
    std::ofstream(dir_ / (file + ".gpx")) << track;
    storage::SegmentRecord r;
    r.device_id = device_;
    r.camera = camera;
    r.sequence = sequence;
    r.file = file;
    r.start_utc_ns = t0_ + start_s * kS;
    r.end_utc_ns = r.start_utc_ns + 60 * kS;
    r.duration_ns = 60 * kS;
    r.frames = 1800;
    r.bytes = static_cast<int64_t>(bytes);
    r.sha256_hex = storage::Sha256Hex(contents);
    r.prev_chain_hex = storage::kGenesisChainHex;
    r.chain_hex = storage::Sha256Hex("chain" + name);
    r.signature_b64 = std::string(86, 'A') + "==";  // the catalog checks the shape
    r.time_source = "gps";
    r.track_file = file + ".gpx";
    r.track_sha256_hex = storage::Sha256Hex(track);
    r.track_points = 60;
    r.sealed_utc_ns = r.end_utc_ns + kS;
    base::Status s = catalog_->InsertSegment(r);
    EXPECT_TRUE(s.ok()) << s.message();
    return r;
  }

  storage::IncidentRecord AddIncident(const std::string& suffix, int64_t trigger_s,
                                      int64_t closed_utc_ns) {
    storage::IncidentRecord i;
    i.id = device_ + "-" + suffix;
    i.trigger = "dispatch";
    i.trigger_utc_ns = t0_ + trigger_s * kS;
    i.pre_event_s = 0;
    i.post_event_s = 0;
    i.phase = storage::IncidentPhase::kClosed;
    i.closed_utc_ns = closed_utc_ns;
    i.close_kind = "handover";
    i.alarm_number = "110-20261129-0042";
    base::Status s = catalog_->SaveIncident(i, {{i.trigger_utc_ns, "trigger", "dispatch", "x"}});
    EXPECT_TRUE(s.ok()) << s.message();
    return i;
  }

  UplinkServiceOptions Options() {
    UplinkServiceOptions o;
    o.tick_ms = 100;
    o.part_size_bytes = kPartSize;
    o.manifest_delay_s = 0;
    o.retry_initial_ms = 200;
    o.retry_max_ms = 1000;
    o.default_route_interface = [] { return std::string("eth0"); };
    return o;
  }

  void StartService(UplinkServiceOptions options) {
    service_ = std::make_unique<UplinkService>(config_, base::Env::Default(), &clock_, options);
    base::Status s = service_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
  }

  std::map<std::string, storage::UploadRecord> Verified() {
    std::map<std::string, storage::UploadRecord> verified;
    auto uploads = catalog_->Uploads();
    EXPECT_TRUE(uploads.ok()) << uploads.message();
    if (!uploads.ok()) return verified;
    for (const storage::UploadRecord& u : *uploads) {
      if (u.state == storage::UploadState::kVerified) verified[u.key] = u;
    }
    return verified;
  }

  bool SegmentVerified(const storage::SegmentRecord& s) {
    auto verified = Verified();
    for (const uplink::QueueFile& f : uplink::SegmentFiles(device_, s)) {
      if (!verified.count(f.key)) return false;
    }
    return true;
  }

  int CountVerified(const std::string& contains) {
    int n = 0;
    for (const auto& [key, u] : Verified()) n += key.find(contains) != std::string::npos;
    return n;
  }

  std::unique_ptr<uplink::S3Client> Client() {
    auto client = uplink::S3Client::Create(s3_.Config());
    EXPECT_TRUE(client.ok()) << client.message();
    return std::move(client).value();
  }

  S3TestEnv s3_;
  TempDir dir_;
  ShiftedClock clock_;
  Config config_;
  std::string device_;
  int64_t t0_ = 0;
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<UplinkService> service_;
};

TEST_F(UplinkServiceTest, IncidentEvidenceAndManifestAreUploadedVerifiedAndReadBack) {
  auto road1 = AddSegment("road", 1, 0, 300 * 1024);          // background
  auto road2 = AddSegment("road", 2, 60, 600 * 1024);         // evidence
  auto cabin1 = AddSegment("cabin-rear", 1, 70, 100 * 1024);  // evidence
  auto incident = AddIncident("A", 65, t0_ + 100 * kS);
  StartService(Options());

  ASSERT_TRUE(WaitFor([&] { return SegmentVerified(road2) && SegmentVerified(cabin1); }, 60));
  const std::string manifest_key = uplink::ManifestKey(device_, incident.id, 1);
  ASSERT_TRUE(WaitFor([&] { return Verified().count(manifest_key) > 0; }, 30));
  // Depot: background footage goes too.
  ASSERT_TRUE(WaitFor([&] { return SegmentVerified(road1); }, 60));

  auto text = Client()->GetObject(config_.uplink.bucket, manifest_key);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  nlohmann::json manifest = nlohmann::json::parse(*text);
  EXPECT_EQ(manifest["format"], uplink::kManifestFormat);
  EXPECT_EQ(manifest["incident"]["id"], incident.id);
  EXPECT_EQ(manifest["incident"]["alarm_number"], "110-20261129-0042");
  ASSERT_EQ(manifest["segments"].size(), 2u);
  std::map<std::string, std::string> hashes;
  for (const auto& s : manifest["segments"]) hashes[s["file"]] = s["sha256"];
  EXPECT_EQ(hashes[road2.file], road2.sha256_hex);
  EXPECT_EQ(hashes[cabin1.file], cabin1.sha256_hex);
  EXPECT_EQ(hashes.count(road1.file), 0u);
  EXPECT_NE(manifest["device_public_key_pem"].get<std::string>().find("BEGIN PUBLIC KEY"),
            std::string::npos);
  // What the server holds is the sealed file.
  auto object =
      Client()->GetObject(config_.uplink.bucket, uplink::SegmentFiles(device_, road2)[0].key);
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(storage::Sha256Hex(*object), road2.sha256_hex);

  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = service_->deadlines();
        return d.size() == 1 && d[0].state == "verified";
      },
      10));
  auto d = service_->deadlines()[0];
  EXPECT_EQ(d.segments, 2);
  EXPECT_EQ(d.segments_verified, 2);
  EXPECT_TRUE(d.manifest_verified);
  nlohmann::json snapshot = service_->Snapshot(true);
  EXPECT_EQ(snapshot["mode"], "depot");
  EXPECT_EQ(snapshot["incidents"][0]["state"], "verified");
  nlohmann::json technician = service_->Snapshot(false);
  EXPECT_FALSE(technician.contains("incidents"));
  EXPECT_FALSE(technician.contains("recent"));
  EXPECT_EQ(technician["deadline_counts"]["verified"], 1);

  // A case number attached later: a second manifest.
  storage::IncidentRecord linked = *catalog_->FindIncident(incident.id).value();
  linked.case_number = "CASE-7";
  ASSERT_TRUE(
      catalog_->SaveIncident(linked, {{clock_.NowUtcNs(), "link", "case_number=CASE-7", "li-wei"}})
          .ok());
  service_->OnIncidentChanged(linked, "link");
  ASSERT_TRUE(WaitFor(
      [&] { return Verified().count(uplink::ManifestKey(device_, incident.id, 2)) > 0; }, 30));
}

TEST_F(UplinkServiceTest, CellularHoldsBackgroundAndEvidenceOverBudgetButAlertsStillGo) {
  config_.uplink.network = "cellular";
  config_.uplink.monthly_budget_mib = 1;
  config_.uplink.cellular_rate_kib_s = 1024;
  auto background = AddSegment("road", 1, 0, 200 * 1024);
  auto first = AddSegment("road", 2, 60, 600 * 1024);
  auto second = AddSegment("road", 3, 120, 600 * 1024);
  AddIncident("B", 65, t0_ + 150 * kS);
  StartService(Options());

  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return SegmentVerified(first); }, 60));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(seconds, 0.45) << "600 KiB at 1024 KiB/s cannot take less than about 0.6 s";
  // The second segment no longer fits in the month's 1 MiB; background waits for the depot.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_FALSE(SegmentVerified(second));
  EXPECT_FALSE(SegmentVerified(background));
  EXPECT_LE(service_->cellular_bytes(), 1024 * 1024);
  EXPECT_GE(service_->cellular_bytes(), 600 * 1024);
  nlohmann::json snapshot = service_->Snapshot(true);
  EXPECT_EQ(snapshot["mode"], "cellular");
  EXPECT_EQ(snapshot["queue"]["evidence"]["held"], 1) << snapshot.dump(2);
  EXPECT_EQ(snapshot["queue"]["background"]["held"], 1) << snapshot.dump(2);

  // An alert still goes.
  ASSERT_TRUE(service_->RaiseAlert({"self-check-failed", 0, "", "road", "", "lens covered"}).ok());
  ASSERT_TRUE(WaitFor([&] { return CountVerified("-self-check-failed.json") == 1; }, 20));
  // The month's count survives a restart.
  service_->Stop();
  auto state = LoadUplinkState(*base::Env::Default(), dir_ / "uplink-state.json");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->cellular_bytes, service_->cellular_bytes());
}

TEST_F(UplinkServiceTest, ARestartMidUploadResumesWithoutSendingMoreThanOnePartAgain) {
  auto proxy = FaultProxy::Start(s3_.Port("S3_ENDPOINT"));
  ASSERT_TRUE(proxy);
  config_.uplink.endpoint = "http://127.0.0.1:" + std::to_string(proxy->port());
  config_.uplink.jobs = 1;
  const size_t size = 8 * kPartSize;
  auto segment = AddSegment("road", 1, 0, size);
  proxy->RateLimit(1024 * 1024);  // 2 s for the file
  StartService(Options());
  const std::string key = uplink::SegmentFiles(device_, segment)[0].key;
  auto parts_on_server = [&]() -> size_t {
    auto live = catalog_->FindLiveUpload(config_.uplink.bucket, key);
    return live.ok() && *live ? (*live)->parts.size() : 0;
  };
  ASSERT_TRUE(WaitFor([&] { return parts_on_server() >= 3; }, 30));
  service_->Stop();  // the daemon stops mid-file
  EXPECT_LT(parts_on_server(), 8u);
  EXPECT_FALSE(SegmentVerified(segment));
  proxy->RateLimit(0);

  service_.reset();
  StartService(Options());
  ASSERT_TRUE(WaitFor([&] { return SegmentVerified(segment); }, 60));
  // Everything that went towards the server over both runs: the .mp4 once, at most one part of
  // it again, the two small sidecars, and the requests' headers.
  EXPECT_LE(proxy->upstream_bytes(), static_cast<int64_t>(size) + kPartSize + 64 * 1024);
  EXPECT_GE(proxy->upstream_bytes(), static_cast<int64_t>(size));
}

TEST_F(UplinkServiceTest, ACameraFailureIsOnTheServerWithinSeconds) {
  StartService(Options());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto failed = std::chrono::steady_clock::now();
  ASSERT_TRUE(catalog_
                  ->AddEvent({clock_.NowUtcNs(), "camera-error", "cabin-rear", "",
                              "/dev/video2: device disconnected (ENODEV)"})
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return CountVerified("-camera-error.json") == 1; }, 10));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - failed).count();
  EXPECT_LT(seconds, 5.0);
  std::string key;
  for (const auto& [k, u] : Verified()) {
    if (k.find("-camera-error.json") != std::string::npos) key = k;
  }
  EXPECT_EQ(key.rfind(device_ + "/alerts/", 0), 0u) << key;
  auto text = Client()->GetObject(config_.uplink.bucket, key);
  ASSERT_TRUE(text.ok());
  nlohmann::json alert = nlohmann::json::parse(*text);
  EXPECT_EQ(alert["camera"], "cabin-rear");
  EXPECT_NE(alert["detail"].get<std::string>().find("ENODEV"), std::string::npos);
}

TEST_F(UplinkServiceTest, AnIncidentNotUploadedTwentyHoursAfterItsCloseRaisesAnAlert) {
  // Offline: nothing can leave, so the incident stays pending and then at risk.
  config_.uplink.network = "auto";
  AddSegment("road", 1, 0, 1024);
  auto incident = AddIncident("C", 10, t0_ + 50 * kS);
  UplinkServiceOptions options = Options();
  options.default_route_interface = [] { return std::string(); };
  StartService(options);
  ASSERT_TRUE(WaitFor([&] { return service_->deadlines().size() == 1; }, 10));
  EXPECT_EQ(service_->deadlines()[0].state, "pending");

  clock_.Shift(18 * 3600 * kS);  // 19 h after the close
  service_->Wake();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(service_->deadlines()[0].state, "pending");
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "uplink/alerts"));

  clock_.Shift(2 * 3600 * kS);  // 21 h
  service_->Wake();
  ASSERT_TRUE(WaitFor([&] { return service_->deadlines()[0].state == "at-risk"; }, 10));
  ASSERT_TRUE(WaitFor([&] { return !std::filesystem::is_empty(dir_ / "uplink/alerts"); }, 10));
  int alerts = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "uplink/alerts")) {
    std::ifstream in(entry.path());
    nlohmann::json alert = nlohmann::json::parse(in);
    EXPECT_EQ(alert["kind"], "deadline-risk");
    EXPECT_EQ(alert["incident_id"], incident.id);
    ++alerts;
  }
  EXPECT_EQ(alerts, 1);
  nlohmann::json snapshot = service_->Snapshot(true);
  EXPECT_EQ(snapshot["mode"], "offline");
  EXPECT_EQ(snapshot["held"][0]["why"], "offline: no network");

  // Once only, also after a restart.
  service_->Stop();
  service_.reset();
  StartService(options);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int after = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "uplink/alerts")) {
    (void)entry;
    ++after;
  }
  EXPECT_EQ(after, 1);
}

TEST(UplinkNetworkTest, JudgesDepotCellularAndOffline) {
  UplinkConfig u;
  u.depot_interfaces = {"wlan0"};
  EXPECT_EQ(JudgeNetwork(u, false, ""), NetworkMode::kOffline);
  EXPECT_EQ(JudgeNetwork(u, false, "wwan0"), NetworkMode::kCellular);
  EXPECT_EQ(JudgeNetwork(u, false, "wlan0"), NetworkMode::kDepot);
  EXPECT_EQ(JudgeNetwork(u, true, "wwan0"), NetworkMode::kDepot);
  u.depot_geofence = false;
  EXPECT_EQ(JudgeNetwork(u, true, "wwan0"), NetworkMode::kCellular);
  u.network = "depot";
  EXPECT_EQ(JudgeNetwork(u, false, ""), NetworkMode::kDepot);
}

TEST(UplinkNetworkTest, ReadsTheDefaultRoutesInterface) {
  TempDir dir;
  std::ofstream(dir / "route")
      << "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
         "wlan0\t0010A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
         "wwan0\t00000000\t0100A8C0\t0003\t0\t0\t700\t00000000\t0\t0\t0\n"
         "wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n";
  EXPECT_EQ(DefaultRouteInterface(dir / "route"), "wlan0");
  std::ofstream(dir / "none") << "Iface\tDestination\n";
  EXPECT_EQ(DefaultRouteInterface(dir / "none"), "");
  EXPECT_EQ(DefaultRouteInterface(dir / "absent"), "");
}

}  // namespace
}  // namespace patrolrec::daemon
