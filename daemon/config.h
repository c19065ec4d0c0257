// The daemon's configuration file (/etc/patrolrec/patrolrec.conf): which device this is, where
// recordings go, and which cameras to record. See daemon/patrolrec.conf.example.
//
// Invariant: a Config returned by ParseConfig or LoadConfig is complete and valid (every required
// key present, every value in range, camera names unique), so nothing downstream checks it again;
// and every error names file:line, the section and key, what was expected and what was found, so
// a technician at the roadside can fix the file without reading code.
//
// Format: UTF-8 text. `[device]`, `[storage]`, optionally `[gps]`, `[incidents]`,
// `[health]`, `[geofence NAME]`, `[input NAME]` (trigger inputs), `[crash]` (the crash sensor), `[api]` and
// `[user NAME]` (the control API), `[uplink]` (docs/uplink.md), `[live]` (docs/live-view.md), and one `[camera NAME]` section
// per camera, each holding `key = value` lines. Whitespace around keys and values is ignored.
// `#` begins a comment at the start of a line or after whitespace (so `rtsp://host/a#b` keeps its
// `#`). A value may be written in double quotes to keep leading or trailing spaces or a ` #`;
// inside quotes `\"` is a quote and `\\` a backslash.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "daemon/role.h"
#include "gps/geofence.h"
#include "inputs/crash_sensor.h"
#include "inputs/gpio_input.h"
#include "pipeline/camera_spec.h"
#include "storage/eviction.h"

namespace patrolrec::daemon {

// The configuration speaks the pipeline's own kinds, so nothing has to translate them.
using SourceKind = pipeline::Source;
using V4l2Format = pipeline::V4l2Format;
using AudioKind = pipeline::Audio;

struct CameraConfig {
  std::string name;  // [a-z0-9-]+, unique; in file names and log fields
  SourceKind source = SourceKind::kTest;
  std::string device;                    // v4l2: absolute path, e.g. /dev/video0
  std::string url;                       // rtsp: rtsp:// or rtsps:// URL
  std::string clip;                      // clip: absolute path of a clip replayed in a loop
  std::string pattern = "ball";          // test: videotestsrc pattern name
  V4l2Format format = V4l2Format::kRaw;  // v4l2: what the camera delivers
  int width = 1280;                      // pixels, even, 16..3840
  int height = 720;                      // pixels, even, 16..2160
  int framerate = 30;                    // frames per second, 1..120
  int bitrate_kbps = 2000;               // H.264 target, 100..50000
  bool overlay = true;                   // time/plate/GPS text; false + H.264 source = no re-encode
  AudioKind audio = AudioKind::kNone;
  std::string alsa_device;  // audio = alsa:<pcm>: the PCM, e.g. "hw:1,0"
  // What the camera looks at: the cabin (its scene should never change at once, so the "moved"
  // probe watches it always) or the road (watched only while the car stands still). Default:
  // cabin for a name starting with "cabin", road otherwise.
  bool cabin = false;

  bool operator==(const CameraConfig&) const = default;
};

struct DeviceConfig {
  std::string id;                     // [A-Za-z0-9-]+, e.g. PR-0001; in every file name and seal
  std::string plate;                  // any UTF-8, shown in the overlay, e.g. 吉E·12345
  std::vector<std::string> officers;  // badge numbers, shown in the overlay
  std::string timezone = "Asia/Shanghai";  // IANA name; overlays show local time, storage is UTC
  // The device key's fingerprint as registered with the back office (64 lower-case hex digits,
  // storage::DeviceKey::fingerprint()); "" when none is registered. The self-check fails when the
  // key on the device is another one: its footage would not verify against the registry.
  std::string key_fingerprint;

  bool operator==(const DeviceConfig&) const = default;
};

// [gps]: where gpsd is and how the recorder judges position and time.
struct GpsConfig {
  bool enabled = true;             // `gpsd = none`: record without a position source
  std::string host = "127.0.0.1";  // gpsd's address (`gpsd = HOST:PORT`)
  std::string port = "2947";
  int stale_seconds = 3;           // a fix older than this is stale, 1..60
  int max_clock_offset_ms = 1000;  // beyond this the time is unverified (第九条), 100..60000

  bool operator==(const GpsConfig&) const = default;
};

// [incidents]: how incidents take their evidence and which triggers open one (daemon/incidents.h).
struct IncidentPolicy {
  int pre_event_s = 120;            // evidence starts this long before the trigger, 0..3600
  int post_event_s = 30;            // and ends this long after the close, 0..3600
  int speed_trigger_kmh = 0;        // above this speed an incident opens; 0: off, ..300
  int link_deadline_s = 24 * 3600;  // 第十四条: a case number within this of the close

  bool operator==(const IncidentPolicy&) const = default;
};

// [health]: the health probes and the self-check (docs/health.md).
struct HealthConfig {
  // A probe state (covered, frozen, silent, ...) is entered after its condition has held this
  // long, and left after the picture or sound has been normal this long, 1..600 s.
  int enter_s = 3;
  int leave_s = 3;
  // The self-check fails the storage item when the free space lasts less than this at the
  // cameras' current bitrate, 0..1000 (0: only the eviction guard's view counts).
  int min_record_hours = 4;
  // The self-check runs at the start of duty, at every dispatch, on request and every this many
  // hours, 0..168 (0: not periodically). 24 = daily.
  int selfcheck_interval_hours = 24;
  // The probes run (not a file key: `patrolrecd --no-probes`, for bench/probe-cpu only).
  bool probes = true;

  bool operator==(const HealthConfig&) const = default;
};

// [api]: where the control API listens (docs/control-api.md).
struct ApiConfig {
  std::string socket;  // absolute path of the Unix socket; default DATA_DIR/api.sock
  std::string listen_host;  // `listen = HOST:PORT` for the in-car terminal; "" = `none` (default)
  std::string listen_port;

  bool operator==(const ApiConfig&) const = default;
};

// [uplink]: where and how recordings leave the vehicle (docs/uplink.md). The file names the
// secret key's file, never the secret, so a copy of the configuration grants nothing.
struct UplinkConfig {
  std::string endpoint;  // "https://host:port" or "http://host:port"; "" = `none` (uplink off)
  std::string region = "us-east-1";  // the SigV4 signing region
  std::string bucket;                // required with an endpoint
  std::string access_key;            // required with an endpoint
  std::string secret_key_file;       // absolute; a file holding the secret key; required
  std::string ca_file;               // absolute PEM; "" = the system's CAs
  std::string client_cert;           // absolute PEM, optional
  std::string client_key;            // absolute PEM, optional (with client_cert)
  int part_size_mib = 16;            // 5..512 (S3's minimum is 5; 1 is accepted, for tests)
  int jobs = 4;                      // parallel uploads at the depot, 1..8
  int ordinary_retention_days = 183;  // object-lock retention of ordinary footage, 183..36500
  int cellular_rate_kib_s = 512;      // upload cap on cellular, KiB/s; 0: no cap
  int monthly_budget_mib = 4096;      // cellular data per calendar month (UTC), MiB; 0: none
  bool background_over_cellular = false;  // background footage over cellular too
  // Network interfaces that mean "at the depot" when they carry the default route (e.g. wlan0).
  std::vector<std::string> depot_interfaces;
  // How the network is judged: "auto" (default route's interface, depot geofence), or forced to
  // "depot" or "cellular" (a technician's diagnosis, the demo).
  std::string network = "auto";
  bool depot_geofence = true;  // inside a [geofence] of kind depot also means "at the depot"
  // 第十四条: an incident not completely uploaded and verified this long after its close raises
  // an alert (the deadline is 24 h), 1..23.
  int deadline_alert_hours = 20;
  bool enabled() const { return !endpoint.empty(); }
  bool operator==(const UplinkConfig&) const = default;
};
// [live]: the live view for supervisors and the command centre (docs/live-view.md): an RTSP
// server in the daemon that relays each camera's own encoded stream.
struct LiveConfig {
  std::string listen_host;  // `listen = HOST:PORT`; "" = `none` (default): no live view
  std::string listen_port;
  // What all live views together may send while the link is cellular, kbit/s of H.264, 0..100000;
  // 0: no live view over cellular (new sessions refused, open ones get nothing).
  int max_kbps = 1000;
  int max_viewers = 4;  // live sessions open at once, over every camera, 1..32
  bool enabled() const { return !listen_host.empty(); }
  bool operator==(const LiveConfig&) const = default;
};

// [user NAME]: one user of the control API. The file holds the SHA-256 of the token, never the
// token, so a copy of the configuration grants nothing.
struct UserConfig {
  std::string name;  // [a-z0-9-]+, unique; the actor in the audit log
  Role role = Role::kOfficer;
  std::string token_sha256;  // 64 lower-case hex digits: `printf %s TOKEN | sha256sum`
  // The SHA-256 of the PIN that signs this user in on the in-car screen (POST /v1/session,
  // docs/ui.md), same form; "" = no PIN sign-in for this user. Unique across users.
  std::string pin_sha256;

  bool operator==(const UserConfig&) const = default;
};

// [export] (docs/export.md): how long an approval stays good, and what a package carries.
struct ExportConfig {
  int approval_expiry_hours = 24;  // an approval unused this long is void, 1..2160
  bool iso = true;   // write an ISO 9660 image of each package beside it (xorriso)
  bool pdf = true;   // render the statement as PDF too (chromium --headless), when it can
  bool operator==(const ExportConfig&) const = default;
};

// [medium NAME]: a USB mass-storage device registered for evidence export (第十四条), named as
// USBGuard's rules name it (`allow id VENDOR:PRODUCT serial "SERIAL"`). Exports go to these only.
struct MediumConfig {
  std::string name;        // [a-z0-9-]+, unique
  std::string vendor_id;   // 4 lower-case hex digits (sysfs idVendor)
  std::string product_id;  // 4 lower-case hex digits (sysfs idProduct)
  std::string serial;      // sysfs serial, required
  bool operator==(const MediumConfig&) const = default;
};

struct Config {
  DeviceConfig device;
  GpsConfig gps;
  IncidentPolicy incidents;
  HealthConfig health;  // [health]; absent: the defaults
  ApiConfig api;
  UplinkConfig uplink;  // [uplink]; absent: uplink off
  LiveConfig live;      // [live]; absent: no live view
  std::vector<UserConfig> users;         // [user NAME] sections, in file order
  ExportConfig exports;                  // [export]; absent: the defaults
  std::vector<MediumConfig> media;       // [medium NAME] sections, in file order
  std::string data_dir;                  // absolute; segments, seals and the catalog live here
  int segment_seconds = 60;              // length of a segment file, 2..3600
  // [storage] min_free_percent, target_free_percent, background_retention_days,
  // evidence_local_retention_days: when and what to evict (docs/retention.md). recent_guard_s is
  // not read from the file: the daemon derives it from [incidents] pre_event_s.
  storage::EvictionPolicy eviction;
  std::vector<CameraConfig> cameras;     // in file order, at least one
  std::vector<gps::Geofence> geofences;  // [geofence NAME] sections, in file order
  // [input NAME] sections (kind = gpio), in file order; no two on the same chip and line.
  std::vector<inputs::GpioInputConfig> inputs;
  std::optional<inputs::CrashSensorConfig> crash;  // [crash]; absent: no crash sensor
  std::string source_file;               // the file this was read from (for messages)

  bool operator==(const Config&) const = default;
};

// Parses and validates `text`; `file_name` is used in messages only. Every problem found is
// reported, one per line of the message, each as "<file>:<line>: ...". Time zones are checked
// against /usr/share/zoneinfo through Env::Default().
base::Result<Config> ParseConfig(const std::string& text, const std::string& file_name);
// Reads `path` through `env` and parses it; a read error names the path and the errno.
base::Result<Config> LoadConfig(base::Env& env, const std::string& path);

// Reads a `gpsd =` value: "HOST:PORT", "[IPv6]:PORT" or "none" (which disables GPS). False,
// leaving `gps` as it was, for anything else.
bool ParseGpsdAddress(const std::string& value, GpsConfig* gps);

// The configuration of `patrolrecd --demo`: device PR-DEMO-0001 with three test-pattern cameras
// (road 1280x720, cabin-front 640x360 with a test tone, cabin-rear 640x360), all at 30 fps, and
// one API user per role whose token is well known (kDemoUsers; for the demo only).
struct DemoUser {
  const char* name;
  Role role;
  const char* token;
  const char* pin;  // the in-car screen's sign-in (docs/ui.md)
};
inline constexpr DemoUser kDemoUsers[] = {
    {"demo-officer", Role::kOfficer, "demo-officer-token", "1111"},
    {"demo-supervisor", Role::kSupervisor, "demo-supervisor-token", "2222"},
    {"demo-technician", Role::kTechnician, "demo-technician-token", "3333"},
    {"demo-auditor", Role::kAuditor, "demo-auditor-token", "4444"},
};
Config DemoConfig(const std::string& data_dir, int segment_seconds);

// A configuration file that ParseConfig reads back as `config` (every key written out, defaults
// included): to show the configuration in effect, and to check DemoConfig with the parser.
std::string FormatConfig(const Config& config);

const char* SourceKindName(SourceKind kind);    // "v4l2", "rtsp", "test", "clip"
const char* V4l2FormatName(V4l2Format format);  // "raw", "mjpeg", "h264"

// One line for --check-config: "gpio gpiochip0 line 17, active-low, debounce 50 ms, light-bar".
std::string DescribeInput(const inputs::GpioInputConfig& input);
// "iio:device0, above 2.5 g for 30 ms, polled at 200 Hz".
std::string DescribeCrash(const inputs::CrashSensorConfig& crash);

}  // namespace patrolrec::daemon
