// Evidence export end to end through the control API (docs/export.md), in process, with real
// pipelines on synthetic cameras, the real libsoup server, SQLite catalog and audit log: a
// request, a refusal, approvals of the wrong kind and by the wrong role refused, an approval, a
// write to an unregistered medium refused naming the device seen, the export to a registered one
// (a loop-mounted ext4 file system identified through a sysfs-shaped directory; a plain directory
// when loop mounts are impossible), the package verified by patrolrec-verify and by README.txt's
// shell commands, its ISO image's checksum, tampering (a flipped byte, a dropped segment, an
// edited statement, an added file) detected and named, an approval used twice and an expired
// one refused, and every step in the audit log, whose chain verifies.
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "storage/audit_log.h"
#include "tests/api_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::HttpResult;
using testing::RunCommand;
using testing::RunLoopUntil;
using testing::TempDir;

namespace fs = std::filesystem;

constexpr char kVendor[] = "0781";
constexpr char kProduct[] = "5583";
constexpr char kSerial[] = "4C530001234";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& data) {
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Where the package is written: an ext4 file system on a loop device when this machine allows
// it (root, /dev/loop*), else a plain directory. Either way its st_dev is what the sysfs tree
// below describes as a USB stick.
class Medium {
 public:
  Medium() {
    mount_point_ = dir_ / "mnt";
    fs::create_directories(mount_point_);
    const std::string image = dir_ / "stick.img";
    auto run = [](const std::vector<std::string>& argv) { return RunCommand(argv).exit_code == 0; };
    if (run({"truncate", "-s", "64M", image}) && run({"mkfs.ext4", "-q", "-F", image})) {
      testing::CommandResult attached = RunCommand({"losetup", "-f", "--show", image});
      if (attached.exit_code == 0) {
        loop_ = attached.output.substr(0, attached.output.find('\n'));
        if (run({"mount", loop_, mount_point_})) {
          mounted_ = true;
        } else {
          run({"losetup", "-d", loop_});
          loop_.clear();
        }
      }
    }
  }
  ~Medium() {
    if (mounted_) RunCommand({"umount", mount_point_});
    if (!loop_.empty()) RunCommand({"losetup", "-d", loop_});
  }
  const std::string& path() const { return mount_point_; }
  bool loop_mounted() const { return mounted_; }

 private:
  TempDir dir_;
  std::string mount_point_;
  std::string loop_;
  bool mounted_ = false;
};

// A sysfs-shaped tree in which `mount_point`'s block device is a partition of a USB stick.
class FakeSysfs {
 public:
  explicit FakeSysfs(const std::string& mount_point) {
    struct stat st;
    EXPECT_EQ(stat(mount_point.c_str(), &st), 0);
    usb_ = dir_ / "devices/pci0000:00/0000:00:14.0/usb1/1-1";
    const std::string partition = usb_ + "/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1";
    fs::create_directories(partition);
    fs::create_directories(dir_ / "dev/block");
    SetSerial(kSerial);
    testing::WriteTextFile(usb_ + "/idVendor", std::string(kVendor) + "\n");
    testing::WriteTextFile(usb_ + "/idProduct", std::string(kProduct) + "\n");
    const std::string block =
        std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    fs::create_symlink(partition, dir_ / ("dev/block/" + block));
  }
  void SetSerial(const std::string& serial) {
    testing::WriteTextFile(usb_ + "/serial", serial + "\n");
  }
  const std::string& root() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string usb_;
};

Config TestConfig(const std::string& data_dir) {
  Config config;
  config.device.id = "PR-TEST-0001";
  config.device.plate = "吉E·12345";
  config.device.officers = {"220502"};
  config.data_dir = data_dir;
  config.segment_seconds = 2;
  config.cameras = {testing::TestCamera("road", "ball", false),
                    testing::TestCamera("cabin-rear", "smpte", false)};
  config.gps.enabled = false;
  config.incidents.pre_event_s = 2;
  config.incidents.post_event_s = 1;
  config.api.socket = data_dir + "/api.sock";
  config.users = testing::TestUsers();
  config.media = {MediumConfig{"evidence-usb-1", kVendor, kProduct, kSerial}};
  return config;
}

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  void TearDown() override {
    if (!recorder_) return;
    control_->Stop();
    bool stopped = false;
    recorder_->Stop([&] { stopped = true; });
    EXPECT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
    control_.reset();
    recorder_.reset();
  }

  void StartDaemon(const Config& config, const std::string& sysfs_root) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    ExportServiceOptions options;
    options.sysfs_root = sysfs_root;
    control_->set_export_options_for_testing(options);
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    ASSERT_NE(control_->exports(), nullptr);
    recorder_->Start();
    control_->Start();
    socket_ = config.api.socket;
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 30));
  }

  HttpResult Call(const std::string& method, const std::string& path, const std::string& role,
                  const json& body = nullptr) {
    testing::HttpRequest request;
    request.method = method;
    request.path = path;
    request.token = role + "-token";
    if (!body.is_null()) request.body = body.dump();
    auto future = std::async(std::launch::async, [socket = socket_, request] {
      return testing::Http(socket, "", request);
    });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
};

// Runs patrolrec-verify on a package; its output and exit status.
testing::CommandResult VerifyPackage(const std::string& dir, const std::string& key) {
  return RunCommand(
      {testing::BinaryPath("patrolrec-verify"), "--package", "--public-key", key, dir});
}

// A copy of the package to tamper with.
std::string CopyOf(const std::string& package, const TempDir& where, const std::string& name) {
  const std::string copy = where / name;
  fs::copy(package, copy, fs::copy_options::recursive);
  for (const auto& entry : fs::recursive_directory_iterator(copy)) {
    fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  return copy;
}

TEST_F(ExportTest, RequestApproveWriteVerifyAndEveryRefusal) {
  Medium medium;
  if (!medium.loop_mounted()) {
    std::fprintf(stderr, "loop mounts are impossible here: the medium is a plain directory\n");
  }
  FakeSysfs sysfs(medium.path());
  const std::string data = dir_ / "data";
  fs::create_directories(data);
  Config config = TestConfig(data);
  StartDaemon(config, sysfs.root());

  // An incident with a few seconds of footage, closed, and its evidence all sealed.
  HttpResult dispatched = Call("POST", "/v1/incidents", "officer",
                               {{"alarm_number", "J2026112900123"},
                                {"incident_type", "dispatch-110"},
                                {"address", "通化市东昌区新华大街"},
                                {"officers", {"220502", "220517"}}});
  ASSERT_EQ(dispatched.status, 201) << dispatched.body;
  const std::string incident = dispatched.Json()["id"];
  testing::RunLoopFor(4);
  HttpResult closed = Call("POST", "/v1/incidents/" + incident + "/close", "officer",
                           {{"no_suspect", true}, {"reason", "minor collision, settled"}});
  ASSERT_EQ(closed.status, 200) << closed.body;
  const std::string evidence_to = closed.Json()["evidence_to_utc"];
  int64_t evidence_to_ns = 0;
  ASSERT_TRUE(base::ParseUtcNs(evidence_to, &evidence_to_ns));
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        auto by_camera = testing::SegmentsByCamera(data);
        for (const std::string camera : {"road", "cabin-rear"}) {
          if (by_camera[camera].empty() || by_camera[camera].back().end_utc_ns < evidence_to_ns)
            return false;
        }
        return true;
      },
      40));

  // Requests: malformed ones refused with their reason; a technician may not ask at all.
  EXPECT_EQ(Call("POST", "/v1/exports", "officer",
                 {{"incident", incident},
                  {"purpose", "court"},
                  {"requester_kind", "judicial"},
                  {"requester_unit", "通化市东昌区人民法院"}})
                .status,
            422);  // no legal document
  EXPECT_EQ(
      Call("POST", "/v1/exports", "officer", {{"incident", incident}, {"purpose", "fun"}}).status,
      422);
  EXPECT_EQ(Call("POST", "/v1/exports", "officer", {{"purpose", "court"}}).status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/exports", "technician", {{"incident", incident}, {"purpose", "court"}})
          .status,
      403);
  HttpResult asked = Call("POST", "/v1/exports", "officer",
                          {{"incident", incident},
                           {"purpose", "court"},
                           {"requester_kind", "judicial"},
                           {"requester_unit", "通化市东昌区人民法院"},
                           {"legal_document", "(2026)吉0502刑初123号 调取证据通知书"}});
  ASSERT_EQ(asked.status, 201) << asked.body;
  EXPECT_EQ(asked.Json()["required_approval"], "legal-review-and-county-head");
  const std::string id = std::to_string(asked.Json()["id"].get<int64_t>());

  // A refusal, and what it leaves: no write.
  HttpResult second = Call("POST", "/v1/exports", "officer",
                           {{"incident", incident},
                            {"purpose", "training-publicity"},
                            {"requester_kind", "outside-body"},
                            {"requester_unit", "通化电视台"}});
  ASSERT_EQ(second.status, 201);
  const std::string refused_id = std::to_string(second.Json()["id"].get<int64_t>());
  HttpResult refusal = Call("POST", "/v1/exports/" + refused_id + "/refuse", "supervisor",
                            {{"reason", "faces of bystanders; not for broadcast"}});
  ASSERT_EQ(refusal.status, 200) << refusal.body;
  EXPECT_EQ(refusal.Json()["state"], "refused");
  HttpResult after_refusal = Call("POST", "/v1/exports/" + refused_id + "/write", "supervisor",
                                  {{"medium", "evidence-usb-1"}, {"path", medium.path()}});
  EXPECT_EQ(after_refusal.status, 409);
  EXPECT_THAT(after_refusal.body, HasSubstr("nothing is exported without an approval"));

  // Writing before the approval; approving as an officer, or with the wrong kind.
  EXPECT_EQ(Call("POST", "/v1/exports/" + id + "/write", "officer",
                 {{"medium", "evidence-usb-1"}, {"path", medium.path()}})
                .status,
            409);
  EXPECT_EQ(Call("POST", "/v1/exports/" + id + "/approve", "officer",
                 {{"approval_kind", "legal-review-and-county-head"}, {"reason", "x"}})
                .status,
            403);
  HttpResult wrong_kind = Call("POST", "/v1/exports/" + id + "/approve", "supervisor",
                               {{"approval_kind", "department-head"}, {"reason", "ok"}});
  EXPECT_EQ(wrong_kind.status, 422);
  EXPECT_THAT(wrong_kind.body, HasSubstr("legal-review-and-county-head"));
  HttpResult approved = Call("POST", "/v1/exports/" + id + "/approve", "supervisor",
                             {{"approval_kind", "legal-review-and-county-head"},
                              {"reason", "法制科审核通过，局长批准 (2026-11-29)"}});
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.Json()["state"], "approved");

  // An unregistered device (same model, another serial) and an unknown medium name.
  sysfs.SetSerial("FFFF0000");
  HttpResult unregistered = Call("POST", "/v1/exports/" + id + "/write", "officer",
                                 {{"medium", "evidence-usb-1"}, {"path", medium.path()}});
  EXPECT_EQ(unregistered.status, 403);
  EXPECT_THAT(unregistered.body, HasSubstr("serial \\\"FFFF0000\\\""));
  EXPECT_THAT(unregistered.body, HasSubstr("第十四条"));
  sysfs.SetSerial(kSerial);
  EXPECT_EQ(Call("POST", "/v1/exports/" + id + "/write", "officer",
                 {{"medium", "my-own-stick"}, {"path", medium.path()}})
                .status,
            422);
  EXPECT_TRUE(fs::is_empty(medium.path()) || (fs::exists(medium.path() + "/lost+found") &&
                                              std::distance(fs::directory_iterator(medium.path()),
                                                            fs::directory_iterator()) == 1));

  // The export, with progress, to the end.
  HttpResult write = Call("POST", "/v1/exports/" + id + "/write", "officer",
                          {{"medium", "evidence-usb-1"}, {"path", medium.path()}});
  ASSERT_EQ(write.status, 202) << write.body;
  json done;
  for (int i = 0; i < 100; ++i) {
    testing::RunLoopFor(0.5);
    done = Call("GET", "/v1/exports/" + id, "supervisor").Json();
    if (done.value("state", "") == "exported" || done.contains("last_error")) break;
  }
  ASSERT_EQ(done["state"], "exported") << done.dump();
  const std::string package = medium.path() + "/" + done["package"].get<std::string>();
  ASSERT_TRUE(fs::is_directory(package));
  EXPECT_FALSE(fs::exists(medium.path() + "/." + done["package"].get<std::string>() + ".partial"));

  // A second export with the same approval.
  HttpResult twice = Call("POST", "/v1/exports/" + id + "/write", "officer",
                          {{"medium", "evidence-usb-1"}, {"path", medium.path()}});
  EXPECT_EQ(twice.status, 409);
  EXPECT_THAT(twice.body, HasSubstr("an approval is for one export"));

  // An expired approval.
  HttpResult third =
      Call("POST", "/v1/exports", "officer", {{"incident", incident}, {"purpose", "case-review"}});
  ASSERT_EQ(third.status, 201);
  const std::string third_id = std::to_string(third.Json()["id"].get<int64_t>());
  control_->exports()->set_approval_expiry_for_testing(1);
  ASSERT_EQ(Call("POST", "/v1/exports/" + third_id + "/approve", "supervisor",
                 {{"approval_kind", "department-head"}, {"reason", "review"}})
                .status,
            200);
  HttpResult expired = Call("POST", "/v1/exports/" + third_id + "/write", "officer",
                            {{"medium", "evidence-usb-1"}, {"path", medium.path()}});
  EXPECT_EQ(expired.status, 409);
  EXPECT_THAT(expired.body, HasSubstr("expired"));

  // The package: what it holds, verified by the tool and by README.txt's commands.
  const std::string key = data + "/device.pub.pem";
  for (const char* name :
       {"manifest.json", "manifest.json.sig", "statement.json", "statement.json.sig",
        "statement.html", "device.pub.pem", "device.fingerprint.txt", "audit.jsonl", "README.txt",
        "SHA256SUMS", "SHA256SUMS.sig"}) {
    EXPECT_TRUE(fs::exists(package + "/" + name)) << name;
  }
  json statement = json::parse(ReadAll(package + "/statement.json"));
  EXPECT_EQ(statement["producer"]["alarm_number"], "J2026112900123");
  EXPECT_EQ(statement["producer"]["officers"], json({"220502", "220517"}));
  EXPECT_EQ(statement["extractor"]["user"], "test-officer");
  EXPECT_EQ(statement["approval"]["approver"], "test-supervisor");
  EXPECT_EQ(statement["approval"]["kind"], "legal-review-and-county-head");
  EXPECT_EQ(statement["purpose"], "court");
  EXPECT_THAT(ReadAll(package + "/statement.html"), HasSubstr("现场执法视音频资料提取说明"));
  EXPECT_THAT(ReadAll(package + "/audit.jsonl"), HasSubstr("/v1/exports/" + id + "/approve"));
  if (fs::exists("/usr/bin/chromium")) {
    EXPECT_EQ(ReadAll(package + "/statement.pdf").substr(0, 5), "%PDF-");
  }
  testing::CommandResult verified = VerifyPackage(package, key);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_THAT(verified.output, HasSubstr("OK: "));
  // Auto-detected without --package.
  testing::CommandResult detected =
      RunCommand({testing::BinaryPath("patrolrec-verify"), "--public-key", key, package});
  EXPECT_EQ(detected.exit_code, 0) << detected.output;
  const std::string readme = ReadAll(package + "/README.txt");
  std::string commands;
  std::istringstream lines(readme);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  sha256sum", 0) == 0 || line.rfind("  find", 0) == 0 ||
        line.rfind("  openssl pkeyutl", 0) == 0) {
      commands += line + "\n";
    }
  }
  ASSERT_EQ(testing::CountOf(commands, "\n"), 5) << readme;
  testing::CommandResult by_hand =
      RunCommand({"bash", "-c", "set -eu -o pipefail; cd '" + package + "'\n" + commands});
  EXPECT_EQ(by_hand.exit_code, 0) << by_hand.output;
  // The disc image and its checksum.
  testing::CommandResult iso_sum =
      RunCommand({"bash", "-c",
                  "cd '" + medium.path() + "' && sha256sum -c '" +
                      done["package"].get<std::string>() + ".iso.sha256'"});
  EXPECT_EQ(iso_sum.exit_code, 0) << iso_sum.output;

  // Tampering, each on a copy, each found and named.
  TempDir tampered;
  json manifest = json::parse(ReadAll(package + "/manifest.json"));
  std::string first_video;
  for (const json& f : manifest["files"]) {
    const std::string path = f["path"];
    if (first_video.empty() && path.size() > 4 && path.substr(path.size() - 4) == ".mp4") {
      first_video = path;
    }
  }
  ASSERT_FALSE(first_video.empty());
  {
    const std::string copy = CopyOf(package, tampered, "flipped");
    std::string bytes = ReadAll(copy + "/" + first_video);
    bytes[bytes.size() / 2] ^= 0x01;
    WriteAll(copy + "/" + first_video, bytes);
    testing::CommandResult r = VerifyPackage(copy, key);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr(first_video));
    EXPECT_THAT(r.output, HasSubstr("altered after export"));
    testing::CommandResult sums =
        RunCommand({"bash", "-c", "cd '" + copy + "' && sha256sum --quiet -c SHA256SUMS"});
    EXPECT_NE(sums.exit_code, 0);
    EXPECT_THAT(sums.output, HasSubstr(first_video));
  }
  {
    // The last segment of a camera dropped, with its seal and track: the manifest names them
    // absent, and the statement's signed chain range says where the chain should have ended.
    const std::string copy = CopyOf(package, tampered, "dropped");
    std::string last_seal;
    for (const json& f : manifest["files"]) {
      const std::string path = f["path"];
      if (path.rfind("segments/road/", 0) == 0 && path.size() > 9 &&
          path.substr(path.size() - 9) == ".mp4.seal") {
        last_seal = path;
      }
    }
    ASSERT_FALSE(last_seal.empty());
    const std::string video = last_seal.substr(0, last_seal.size() - 5);
    fs::remove(copy + "/" + video);
    fs::remove(copy + "/" + last_seal);
    fs::remove(copy + "/" + video + ".gpx");
    testing::CommandResult r = VerifyPackage(copy, key);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("dropped from the package"));
    EXPECT_THAT(r.output, HasSubstr(video));
  }
  {
    const std::string copy = CopyOf(package, tampered, "edited");
    std::string text = ReadAll(copy + "/statement.json");
    const size_t at = text.find("test-officer");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 12, "test-auditor");
    WriteAll(copy + "/statement.json", text);
    testing::CommandResult r = VerifyPackage(copy, key);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("statement.json"));
    EXPECT_THAT(r.output, HasSubstr("the statement was edited"));
  }
  {
    const std::string copy = CopyOf(package, tampered, "added");
    testing::WriteTextFile(copy + "/segments/road/extra.txt", "hello");
    testing::CommandResult r = VerifyPackage(copy, key);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("segments/road/extra.txt"));
  }

  // Every step audited, and the chain intact.
  const std::string audit = ReadAll(data + "/audit.log");
  auto report = storage::VerifyAuditText(audit);
  EXPECT_TRUE(report.ok()) << report.problem;
  for (const std::string& needle : std::vector<std::string>{
           "\"POST /v1/exports\"", "/v1/exports/" + refused_id + "/refuse",
           "/v1/exports/" + id + "/approve", "\"export-written\"", "FFFF0000",
           "an approval is for one export", "expired at", "\"GET /v1/exports/{id}\""}) {
    EXPECT_THAT(audit, HasSubstr(needle));
  }
}

}  // namespace
}  // namespace patrolrec::daemon
