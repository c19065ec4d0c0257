// Tests of the configuration file: good files (defaults, quoting, comments, UTF-8, every source
// kind, the shipped example, the demo configuration) and every kind of mistake, each of which
// must be reported with the file, the line and the key.
#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;

constexpr char kFile[] = "/etc/patrolrec/patrolrec.conf";

// Minimal valid [device] and [storage] sections: 6 lines, so a camera section appended to it
// starts at line 7.
constexpr char kHead[] =
    "[device]\n"                       // 1
    "id = PR-0001\n"                   // 2
    "plate = 吉E·12345\n"              // 3
    "[storage]\n"                      // 4
    "data_dir = /var/lib/patrolrec\n"  // 5
    "\n";                              // 6

Config ParseOk(const std::string& text) {
  auto config = ParseConfig(text, kFile);
  EXPECT_TRUE(config.ok()) << config.message();
  return config.ok() ? *config : Config();
}

std::string ParseError(const std::string& text) {
  auto config = ParseConfig(text, kFile);
  EXPECT_FALSE(config.ok()) << "parsed although it should not:\n" << text;
  return config.message();
}

std::string At(int line) { return std::string(kFile) + ":" + std::to_string(line) + ": "; }

// ---- Good files -----------------------------------------------------------------------------

TEST(ConfigTest, FillsDefaultsForOmittedKeys) {
  Config config = ParseOk(std::string(kHead) + "[camera road]\nsource = test\n");
  EXPECT_EQ(config.source_file, kFile);
  EXPECT_EQ(config.device.id, "PR-0001");
  EXPECT_EQ(config.device.plate, "吉E·12345");
  EXPECT_TRUE(config.device.officers.empty());
  EXPECT_EQ(config.device.timezone, "Asia/Shanghai");
  EXPECT_EQ(config.data_dir, "/var/lib/patrolrec");
  EXPECT_EQ(config.segment_seconds, 60);
  ASSERT_EQ(config.cameras.size(), 1u);
  const CameraConfig& camera = config.cameras[0];
  EXPECT_EQ(camera.name, "road");
  EXPECT_EQ(camera.source, SourceKind::kTest);
  EXPECT_EQ(camera.pattern, "ball");
  EXPECT_EQ(camera.width, 1280);
  EXPECT_EQ(camera.height, 720);
  EXPECT_EQ(camera.framerate, 30);
  EXPECT_EQ(camera.bitrate_kbps, 2000);
  EXPECT_TRUE(camera.overlay);
  EXPECT_EQ(camera.audio, AudioKind::kNone);
}

TEST(ConfigTest, ReadsQuotesCommentsAndUtf8) {
  Config config = ParseOk(
      "\xEF\xBB\xBF# written on Windows: a byte-order mark and CRLF line ends\r\n"
      "[device]   # the car\r\n"
      "  id=PR-0002\t# tabs and no spaces around '='\r\n"
      "plate = \"  吉E 12345 \"   # quoted: spaces kept\r\n"
      "officers = 031234 ,031235,  A-17\r\n"
      "timezone = Asia/Urumqi\r\n"
      "[storage]\r\n"
      "data_dir = \"/srv/patrol rec/data # not a comment\"\r\n"
      "segment_seconds = 2\r\n"
      "[ camera   road ]\r\n"
      "source = rtsp\r\n"
      "url = rtsp://192.0.2.10/live#main   # '#' inside a word is not a comment\r\n"
      "[camera cab]\n"
      "source = test\n"
      "pattern = \"smpte\"#quoted, then a comment\n");
  EXPECT_EQ(config.device.id, "PR-0002");
  EXPECT_EQ(config.device.plate, "  吉E 12345 ");
  EXPECT_EQ(config.device.officers, (std::vector<std::string>{"031234", "031235", "A-17"}));
  EXPECT_EQ(config.device.timezone, "Asia/Urumqi");
  EXPECT_EQ(config.data_dir, "/srv/patrol rec/data # not a comment");
  EXPECT_EQ(config.segment_seconds, 2);
  ASSERT_EQ(config.cameras.size(), 2u);
  EXPECT_EQ(config.cameras[0].name, "road");
  EXPECT_EQ(config.cameras[0].url, "rtsp://192.0.2.10/live#main");
  EXPECT_EQ(config.cameras[1].name, "cab");
  EXPECT_EQ(config.cameras[1].pattern, "smpte");
}

TEST(ConfigTest, UnescapesQuotesAndBackslashesInsideQuotedValues) {
  Config config = ParseOk(
      "[device]\nid = PR-0001\nplate = \"a \\\"b\\\" c\\\\d\"\n"
      "[storage]\ndata_dir = /d\n[camera road]\nsource = test\n");
  EXPECT_EQ(config.device.plate, "a \"b\" c\\d");
}

TEST(ConfigTest, ReadsEverySourceKind) {
  Config config = ParseOk(std::string(kHead) +
                          "[camera front]\n"
                          "source = v4l2\n"
                          "device = /dev/video0\n"
                          "format = mjpeg\n"
                          "audio = alsa:hw:1,0\n"
                          "[camera road]\n"
                          "source = rtsp\n"
                          "url = rtsps://user:secret@192.0.2.10:322/stream1\n"
                          "overlay = false\n"
                          "width = 1920\nheight = 1080\nframerate = 25\nbitrate_kbps = 50000\n"
                          "[camera replay]\n"
                          "source = clip\n"
                          "clip = /srv/clips/road.mp4\n"
                          "[camera pattern]\n"
                          "source = test\n"
                          "pattern = smpte\n"
                          "audio = test\n");
  ASSERT_EQ(config.cameras.size(), 4u);
  const auto& front = config.cameras[0];
  EXPECT_EQ(front.source, SourceKind::kV4l2);
  EXPECT_EQ(front.device, "/dev/video0");
  EXPECT_EQ(front.format, V4l2Format::kMjpeg);
  EXPECT_EQ(front.audio, AudioKind::kAlsa);
  EXPECT_EQ(front.alsa_device, "hw:1,0");
  const auto& road = config.cameras[1];
  EXPECT_EQ(road.source, SourceKind::kRtsp);
  EXPECT_EQ(road.url, "rtsps://user:secret@192.0.2.10:322/stream1");
  EXPECT_FALSE(road.overlay);
  EXPECT_EQ(road.width, 1920);
  EXPECT_EQ(road.height, 1080);
  EXPECT_EQ(road.framerate, 25);
  EXPECT_EQ(road.bitrate_kbps, 50000);
  EXPECT_EQ(config.cameras[2].source, SourceKind::kClip);
  EXPECT_EQ(config.cameras[2].clip, "/srv/clips/road.mp4");
  EXPECT_EQ(config.cameras[3].pattern, "smpte");
  EXPECT_EQ(config.cameras[3].audio, AudioKind::kTest);
  EXPECT_STREQ(SourceKindName(SourceKind::kV4l2), "v4l2");
  EXPECT_STREQ(SourceKindName(SourceKind::kRtsp), "rtsp");
  EXPECT_STREQ(SourceKindName(SourceKind::kTest), "test");
  EXPECT_STREQ(SourceKindName(SourceKind::kClip), "clip");
}

TEST(ConfigTest, ShippedExampleParses) {
  const std::string path = std::string(PATROLREC_SOURCE_DIR) + "/daemon/patrolrec.conf.example";
  auto config = LoadConfig(*base::Env::Default(), path);
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->source_file, path);
  EXPECT_EQ(config->device.id, "PR-0001");
  EXPECT_EQ(config->device.plate, "吉E·12345");
  ASSERT_EQ(config->cameras.size(), 3u);
  EXPECT_EQ(config->gps.host, "127.0.0.1");
  EXPECT_EQ(config->gps.port, "2947");
  ASSERT_EQ(config->geofences.size(), 2u);
  EXPECT_EQ(config->geofences[0].kind, gps::GeofenceKind::kDepot);
  EXPECT_EQ(config->geofences[1].kind, gps::GeofenceKind::kHoldingArea);

  const CameraConfig& front = config->cameras[0];
  EXPECT_EQ(front.name, "cabin-front");
  EXPECT_EQ(front.source, SourceKind::kV4l2);
  EXPECT_EQ(front.format, V4l2Format::kRaw);
  EXPECT_EQ(front.width, 1280);
  EXPECT_EQ(front.height, 720);
  EXPECT_EQ(front.audio, AudioKind::kAlsa);
  EXPECT_EQ(front.alsa_device, "hw:1,0");

  const CameraConfig& rear = config->cameras[1];
  EXPECT_EQ(rear.name, "cabin-rear");
  EXPECT_EQ(rear.source, SourceKind::kV4l2);
  EXPECT_EQ(rear.format, V4l2Format::kMjpeg);
  EXPECT_EQ(rear.width, 640);
  EXPECT_EQ(rear.height, 480);

  const CameraConfig& road = config->cameras[2];
  EXPECT_EQ(road.name, "road");
  EXPECT_EQ(road.source, SourceKind::kRtsp);
  EXPECT_EQ(road.width, 1920);
  EXPECT_EQ(road.height, 1080);
  EXPECT_TRUE(road.overlay);
}

TEST(ConfigTest, DemoConfigIsWhatTheDemoPromisesAndPassesTheParser) {
  Config demo = DemoConfig("/var/lib/patrolrec-demo", 10);
  EXPECT_EQ(demo.device.id, "PR-DEMO-0001");
  EXPECT_EQ(demo.device.plate, "吉E·12345");
  EXPECT_EQ(demo.device.officers, (std::vector<std::string>{"031234", "031235"}));
  EXPECT_EQ(demo.data_dir, "/var/lib/patrolrec-demo");
  EXPECT_EQ(demo.segment_seconds, 10);
  ASSERT_EQ(demo.cameras.size(), 3u);
  EXPECT_EQ(demo.cameras[0].name, "road");
  EXPECT_EQ(demo.cameras[0].width, 1280);
  EXPECT_EQ(demo.cameras[0].height, 720);
  EXPECT_EQ(demo.cameras[0].bitrate_kbps, 2500);
  EXPECT_EQ(demo.cameras[1].name, "cabin-front");
  EXPECT_EQ(demo.cameras[1].pattern, "smpte");
  EXPECT_EQ(demo.cameras[1].audio, AudioKind::kTest);
  EXPECT_EQ(demo.cameras[2].name, "cabin-rear");
  EXPECT_EQ(demo.cameras[2].bitrate_kbps, 800);
  for (const CameraConfig& camera : demo.cameras) {
    EXPECT_EQ(camera.source, SourceKind::kTest) << camera.name;
    EXPECT_EQ(camera.framerate, 30) << camera.name;
  }

  // The parser is the one judge of validity: the demo, written out, must read back unchanged.
  auto parsed = ParseConfig(FormatConfig(demo), demo.source_file);
  ASSERT_TRUE(parsed.ok()) << parsed.message() << "\n" << FormatConfig(demo);
  EXPECT_TRUE(*parsed == demo) << FormatConfig(*parsed);
}

TEST(ConfigTest, FormatConfigRoundTripsValuesThatNeedQuotes) {
  Config config = ParseOk(std::string(kHead) + "[camera road]\nsource = test\n");
  config.device.plate = " 吉E #1 \"x\" \\ ";
  config.data_dir = "/data # dir";
  CameraConfig rtsp;
  rtsp.name = "ip";
  rtsp.source = SourceKind::kRtsp;
  rtsp.url = "rtsp://h/a#b";
  rtsp.audio = AudioKind::kAlsa;
  rtsp.alsa_device = "plughw:CARD=Mic,DEV=0";
  config.cameras.push_back(rtsp);
  auto parsed = ParseConfig(FormatConfig(config), kFile);
  ASSERT_TRUE(parsed.ok()) << parsed.message() << "\n" << FormatConfig(config);
  EXPECT_TRUE(*parsed == config) << FormatConfig(*parsed);
}

TEST(ConfigTest, LoadConfigReadErrorNamesPathAndErrno) {
  patrolrec::testing::TempDir dir;
  const std::string path = dir / "absent.conf";
  auto config = LoadConfig(*base::Env::Default(), path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.message(), HasSubstr(path));
  EXPECT_THAT(config.message(), HasSubstr("No such file or directory (ENOENT)"));
}

TEST(ConfigTest, LoadConfigNamesTheLoadedFileInErrors) {
  patrolrec::testing::TempDir dir;
  const std::string path = dir / "patrolrec.conf";
  patrolrec::testing::WriteTextFile(path, std::string(kHead) + "[camera road]\nsource = usb\n");
  auto config = LoadConfig(*base::Env::Default(), path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.message(), HasSubstr(path + ":8: [camera road] source:"));
}

// ---- Mistakes -------------------------------------------------------------------------------

TEST(ConfigTest, ReportsValueThatIsNotANumberWithFileLineAndKey) {
  std::string text = std::string(kHead) +
                     "# road camera\n"        // 7
                     "[camera road]\n"        // 8
                     "source = rtsp\n"        // 9
                     "url = rtsp://h/s\n"     // 10
                     "width = 1280\n"         // 11
                     "height = 720\n"         // 12
                     "\n"                     // 13
                     "framerate = thirty\n";  // 14
  EXPECT_EQ(ParseError(text),
            "/etc/patrolrec/patrolrec.conf:14: [camera road] framerate: expected a whole number "
            "from 1 to 120, got \"thirty\"");
}

TEST(ConfigTest, ReportsNumbersOutOfRangeOrMalformed) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera road]\n"         // 7
                                 "source = test\n"         // 8
                                 "width = 1281\n"          // 9
                                 "height = 4000\n"         // 10
                                 "framerate = 0\n"         // 11
                                 "bitrate_kbps = 2000k\n"  // 12
                                 "[storage2]\n");          // 13
  EXPECT_THAT(error,
              HasSubstr(At(9) + "[camera road] width: expected an even whole number from "
                                "16 to 3840 (H.264 needs even picture sizes), got \"1281\""));
  EXPECT_THAT(error, HasSubstr(At(10) + "[camera road] height: expected an even whole number from "
                                        "16 to 2160"));
  EXPECT_THAT(error, HasSubstr(At(11) + "[camera road] framerate: expected a whole number from 1 "
                                        "to 120, got \"0\""));
  EXPECT_THAT(error, HasSubstr(At(12) + "[camera road] bitrate_kbps: expected a whole number "
                                        "from 100 to 50000, got \"2000k\""));
  EXPECT_THAT(error, HasSubstr(At(13) + "unknown section \"[storage2]\""));
}

TEST(ConfigTest, ReportsSegmentSecondsOutOfRange) {
  std::string error = ParseError(
      "[device]\nid = PR-0001\nplate = x\n[storage]\ndata_dir = /d\nsegment_seconds = 1\n"
      "[camera road]\nsource = test\n");
  EXPECT_THAT(error, HasSubstr(At(6) + "[storage] segment_seconds: expected a whole number from 2 "
                                       "to 3600, got \"1\""));
}

TEST(ConfigTest, ReportsUnknownKeyAndSuggestsTheClosestOne) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera road]\n"   // 7
                                 "source = test\n"   // 8
                                 "framrate = 30\n"   // 9
                                 "bitrate = 900\n"   // 10
                                 "colour = red\n");  // 11
  EXPECT_THAT(error, HasSubstr(At(9) + "[camera road] framrate: unknown key (did you mean "
                                       "\"framerate\"?)"));
  EXPECT_THAT(error, HasSubstr(At(10) + "[camera road] bitrate: unknown key (did you mean "
                                        "\"bitrate_kbps\"?)"));
  EXPECT_THAT(error, HasSubstr(At(11) + "[camera road] colour: unknown key"));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("colour: unknown key (")));
}

TEST(ConfigTest, ReportsKeyThatBelongsInAnotherSection) {
  std::string error = ParseError(
      "[device]\nid = PR-0001\nplate = x\ndata_dir = /d\n[storage]\ndata_dir = /d\n"
      "[camera road]\nsource = test\n");
  EXPECT_THAT(error, HasSubstr(At(4) + "[device] data_dir: unknown key; it belongs in [storage]"));
}

TEST(ConfigTest, ReportsUnknownSectionAndSuggestsTheClosestOne) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camra road]\n"   // 7
                                 "source = test\n"  // 8
                                 "[camera yard]\nsource = test\n");
  EXPECT_THAT(error, HasSubstr(At(7) + "unknown section \"[camra road]\"; expected [device], "
                                       "[storage], [gps], [incidents], [health], [camera NAME], "
                                       "[geofence NAME], [input NAME], [crash], [api], [uplink], "
                                       "[user NAME], [export], [medium NAME] or [live] (did you "
                                       "mean \"camera\"?)"));
  // Keys of a section already reported are not reported again, one by one.
  EXPECT_THAT(error, ::testing::Not(HasSubstr(At(8))));
}

TEST(ConfigTest, ReportsDuplicateKeyWithBothLines) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera road]\n"   // 7
                                 "source = test\n"   // 8
                                 "width = 640\n"     // 9
                                 "width = 1280\n");  // 10
  EXPECT_EQ(error, At(10) + "[camera road] width: duplicate key (first set at line 9)");
}

TEST(ConfigTest, ReportsDuplicateCameraAndDuplicateSection) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera road]\n"  // 7
                                 "source = test\n"  // 8
                                 "[camera road]\n"  // 9
                                 "source = test\n"  // 10
                                 "[storage]\n");    // 11
  EXPECT_THAT(error, HasSubstr(At(9) + "duplicate camera [camera road] (first at line 7)"));
  EXPECT_THAT(error, HasSubstr(At(11) + "duplicate section [storage] (first at line 4)"));
}

TEST(ConfigTest, ReportsMissingRequiredKeyAtTheSectionHeader) {
  std::string text = std::string(kHead) +
                     "# the road camera\n"  // 7
                     "\n"                   // 8
                     "[camera road]\n"      // 9
                     "source = rtsp\n"      // 10
                     "width = 1920\n";      // 11
  EXPECT_EQ(ParseError(text),
            "/etc/patrolrec/patrolrec.conf:9: [camera road]: missing required "
            "key \"url\" for source = rtsp");
}

TEST(ConfigTest, ReportsEveryMissingRequiredKey) {
  std::string error = ParseError(
      "[device]\n"         // 1
      "officers = 1\n"     // 2
      "[storage]\n"        // 3
      "[camera front]\n"   // 4
      "source = v4l2\n"    // 5
      "[camera replay]\n"  // 6
      "source = clip\n"    // 7
      "[camera what]\n");  // 8
  EXPECT_THAT(error, HasSubstr(At(1) + "[device]: missing required key \"id\""));
  EXPECT_THAT(error, HasSubstr(At(1) + "[device]: missing required key \"plate\""));
  EXPECT_THAT(error, HasSubstr(At(3) + "[storage]: missing required key \"data_dir\""));
  EXPECT_THAT(error, HasSubstr(At(4) + "[camera front]: missing required key \"device\" for "
                                       "source = v4l2"));
  EXPECT_THAT(error, HasSubstr(At(6) + "[camera replay]: missing required key \"clip\" for "
                                       "source = clip"));
  EXPECT_THAT(error, HasSubstr(At(8) + "[camera what]: missing required key \"source\" (v4l2, "
                                       "rtsp, test or clip)"));
}

TEST(ConfigTest, ReportsKeyOutsideAnySection) {
  std::string error =
      ParseError("id = PR-0001\n" + std::string(kHead) + "[camera road]\nsource = test\n");
  EXPECT_EQ(error, At(1) + "key \"id\" is outside any section; it belongs in [device]");
}

TEST(ConfigTest, ReportsLineThatIsNotKeyEqualsValue) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera road]\n"      // 7
                                 "source test\n"        // 8
                                 "= 5\n"                // 9
                                 "[camera\n"            // 10
                                 "frame rate = 30\n");  // 11
  EXPECT_THAT(error, HasSubstr(At(8) + "expected \"key = value\", a [section] header or a # "
                                       "comment, got \"source test\""));
  EXPECT_THAT(error, HasSubstr(At(9) + "expected \"key = value\""));
  EXPECT_THAT(error, HasSubstr(At(10) + "expected a section header such as [device]"));
  EXPECT_THAT(error, HasSubstr(At(11) + "expected \"key = value\""));
}

TEST(ConfigTest, ReportsUnterminatedQuoteAndTextAfterQuote) {
  std::string error = ParseError(
      "[device]\nid = PR-0001\nplate = \"吉E·12345\n[storage]\ndata_dir = \"/d\" x\n"
      "[camera road]\nsource = test\n");
  EXPECT_THAT(error, HasSubstr(At(3) + "[device] plate: the quoted value has no closing \""));
  EXPECT_THAT(error, HasSubstr(At(5) + "[storage] data_dir: unexpected text after the closing "
                                       "quote: \"x\""));
}

TEST(ConfigTest, ReportsFileWithNoCamera) {
  EXPECT_EQ(ParseError(kHead), At(6) + "no [camera NAME] section: at least one camera is required");
}

TEST(ConfigTest, ReportsMissingDeviceAndStorageSections) {
  std::string error = ParseError("[camera road]\nsource = test\n");
  EXPECT_THAT(error, HasSubstr(At(2) + "no [device] section"));
  EXPECT_THAT(error, HasSubstr(At(2) + "no [storage] section"));
  EXPECT_THAT(ParseError(""), HasSubstr(At(1) + "no [camera NAME] section"));
}

TEST(ConfigTest, ReportsUnknownTimezone) {
  for (const std::string zone :
       {"Asia/Beijing", "zone.tab", "../../../etc/passwd", "Asia/", "/usr/share/zoneinfo/UTC"}) {
    std::string error = ParseError("[device]\nid = PR-0001\nplate = x\ntimezone = " + zone +
                                   "\n[storage]\ndata_dir = /d\n[camera road]\nsource = test\n");
    EXPECT_EQ(error, At(4) +
                         "[device] timezone: expected an IANA time zone name found under "
                         "/usr/share/zoneinfo, e.g. Asia/Shanghai, got \"" +
                         zone + "\"");
  }
  EXPECT_EQ(ParseOk("[device]\nid = PR-0001\nplate = x\ntimezone = UTC\n[storage]\ndata_dir = /d\n"
                    "[camera road]\nsource = test\n")
                .device.timezone,
            "UTC");
}

TEST(ConfigTest, ReportsInvalidNames) {
  std::string error = ParseError(
      "[device]\n"                // 1
      "id = PR_0001\n"            // 2
      "plate =\n"                 // 3
      "officers = 031234,,x y\n"  // 4
      "[storage]\n"               // 5
      "data_dir = var/lib\n"      // 6
      "[camera Road]\n"           // 7
      "source = test\n"           // 8
      "[camera]\n"                // 9
      "[device main]\n"           // 10
      "[camera ok]\nsource = test\n");
  EXPECT_THAT(error, HasSubstr(At(2) + "[device] id: expected letters, digits and '-' (at most "
                                       "64), e.g. PR-0001, got \"PR_0001\""));
  EXPECT_THAT(error, HasSubstr(At(3) + "[device] plate: expected the vehicle's licence plate"));
  EXPECT_THAT(error, HasSubstr(At(4) + "[device] officers: expected badge numbers separated by "
                                       "commas"));
  EXPECT_THAT(error, HasSubstr(At(6) + "[storage] data_dir: expected an absolute path"));
  EXPECT_THAT(error, HasSubstr(At(7) + "[camera Road]: a camera name is lower-case letters"));
  EXPECT_THAT(error, HasSubstr(At(9) + "[camera]: a camera section needs a name"));
  EXPECT_THAT(error, HasSubstr(At(10) + "[device] takes no name"));
}

TEST(ConfigTest, ReportsBadChoicesAndSuggests) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera a]\n"       // 7
                                 "source = usb\n"     // 8
                                 "overlay = yes\n"    // 9
                                 "audio = alsa:\n"    // 10
                                 "[camera b]\n"       // 11
                                 "source = v4l2\n"    // 12
                                 "device = video0\n"  // 13
                                 "format = mjepg\n"   // 14
                                 "[camera c]\n"       // 15
                                 "source = test\n"    // 16
                                 "pattern = bal\n"    // 17
                                 "audio = mic\n");    // 18
  EXPECT_THAT(error, HasSubstr(At(8) + "[camera a] source: expected v4l2, rtsp, test or clip, got "
                                       "\"usb\""));
  EXPECT_THAT(error, HasSubstr(At(9) + "[camera a] overlay: expected true or false, got \"yes\""));
  EXPECT_THAT(error, HasSubstr(At(10) + "[camera a] audio: expected none, test or alsa:<PCM "
                                        "device>, e.g. alsa:hw:1,0, got \"alsa:\""));
  EXPECT_THAT(error, HasSubstr(At(13) + "[camera b] device: expected an absolute path, e.g. "
                                        "/dev/video0, got \"video0\""));
  EXPECT_THAT(error, HasSubstr(At(14) + "[camera b] format: expected raw, mjpeg or h264 (did you "
                                        "mean \"mjpeg\"?), got \"mjepg\""));
  EXPECT_THAT(error, HasSubstr(At(17) + "[camera c] pattern: expected a videotestsrc pattern such "
                                        "as ball, smpte or snow (did you mean \"ball\"?), got "
                                        "\"bal\""));
  EXPECT_THAT(error, HasSubstr(At(18) + "[camera c] audio: expected none, test or alsa:"));
}

TEST(ConfigTest, ReportsBadRtspUrlAndRelativeClip) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera road]\n"              // 7
                                 "source = rtsp\n"              // 8
                                 "url = http://192.0.2.10/s\n"  // 9
                                 "[camera replay]\n"            // 10
                                 "source = clip\n"              // 11
                                 "clip = clips/road.mp4\n");    // 12
  EXPECT_THAT(error, HasSubstr(At(9) + "[camera road] url: expected an rtsp:// or rtsps:// URL, "
                                       "e.g. rtsp://192.0.2.10/stream1, got "
                                       "\"http://192.0.2.10/s\""));
  EXPECT_THAT(error, HasSubstr(At(12) + "[camera replay] clip: expected an absolute path"));
}

TEST(ConfigTest, ReportsKeyThatBelongsToAnotherSource) {
  std::string error = ParseError(std::string(kHead) +
                                 "[camera front]\n"             // 7
                                 "source = v4l2\n"              // 8
                                 "device = /dev/video0\n"       // 9
                                 "url = rtsp://192.0.2.10/s\n"  // 10
                                 "pattern = ball\n");           // 11
  EXPECT_THAT(error, HasSubstr(At(10) + "[camera front] url: only used with source = rtsp (this "
                                        "camera's source is v4l2)"));
  EXPECT_THAT(error, HasSubstr(At(11) + "[camera front] pattern: only used with source = test"));
}

TEST(ConfigTest, ReportsLineThatIsNotUtf8) {
  std::string error = ParseError(std::string(kHead) + "[camera road]\nsource = test\n" +
                                 "# \xBC\xAA\n");  // "吉" in GB2312, as an old editor saves it
  EXPECT_EQ(error, At(9) + "this line is not valid UTF-8; save the file as UTF-8");
}

TEST(ConfigTest, EveryReportedProblemCarriesFileAndLineInLineOrder) {
  std::string error = ParseError(
      "stray = 1\n[device]\nid = bad id\n[storag]\nx = 1\n[camera road]\nsource = rtsp\n"
      "width = 7\nwidth = 8\n");
  std::istringstream lines(error);
  std::string line;
  int previous = 0, count = 0;
  const std::regex pattern("^/etc/patrolrec/patrolrec\\.conf:([0-9]+): .+");
  while (std::getline(lines, line)) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, pattern)) << line;
    int number = std::stoi(match[1]);
    EXPECT_GE(number, previous) << error;
    previous = number;
    ++count;
  }
  EXPECT_GE(count, 6) << error;
}

}  // namespace
}  // namespace patrolrec::daemon
