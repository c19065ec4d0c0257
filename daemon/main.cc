// patrolrecd: the recording daemon. With --demo it needs no hardware and no configuration file;
// with --config it records the cameras of a real car. It stops cleanly on SIGINT/SIGTERM (every
// open segment closed, synced and sealed) or after --duration. Under systemd (Type=notify) it says
// READY=1 once every camera has started or failed with its cause logged, feeds the watchdog while
// it is healthy (daemon/service_notifier.h), and gives up a stop that takes longer than
// --stop-timeout, before the unit's TimeoutStopSec= would kill it, logging what it leaves for
// the next start to recover.
#include <glib-unix.h>
#include <gst/gst.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "base/log.h"
#include "daemon/config.h"
#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "daemon/service_notifier.h"
#include "pipeline/encoder.h"

namespace {

using namespace patrolrec;

constexpr char kUsage[] =
    "Usage: patrolrecd --demo [--duration SECONDS] [--data-dir DIR] [--segment-seconds N]\n"
    "                         [--gpsd HOST:PORT] [--live HOST:PORT]\n"
    "                         [--gpsd HOST:PORT] [--listen HOST:PORT]\n"
    "       patrolrecd --config FILE [--duration SECONDS] [--stop-timeout SECONDS]\n"
    "       patrolrecd --check-config FILE\n"
    "       patrolrecd (--demo | --config FILE) --print-pipelines | --print-config\n"
    "       patrolrecd (--demo | --config FILE) --recover-only\n"
    "\n"
    "Records every camera into sealed (SHA-256, hash-chained, Ed25519-signed) fragmented-MP4\n"
    "segments, catalogued in DATA_DIR/catalog.sqlite. After a crash or power cut the next start\n"
    "recovers interrupted segments before recording again. Position, speed and the clock check\n"
    "come from gpsd; each segment carries its GPS track (a .gpx file and a timed-text track).\n"
    "\n"
    "  --demo                three synthetic cameras (road 1280x720, cabin-front with a test\n"
    "                        tone, cabin-rear), no hardware or configuration needed\n"
    "  --config FILE         the car's configuration (see daemon/patrolrec.conf.example)\n"
    "  --check-config FILE   parse FILE, print what it configures or its errors, and exit\n"
    "  --data-dir DIR        where recordings go (demo default: ./demo-data)\n"
    "  --segment-seconds N   segment length (demo default: 60)\n"
    "  --gpsd HOST:PORT      where gpsd listens, or 'none' (overrides [gps] gpsd; default\n"
    "                        127.0.0.1:2947)\n"
    "  --live HOST:PORT      serve the live view (RTSP) there, or 'none' (overrides [live]\n"
    "                        listen; docs/live-view.md), e.g. 127.0.0.1:8554\n"
    "  --listen HOST:PORT    serve the control API and the in-car screen (http://HOST:PORT/ui/)\n"
    "                        on this TCP address too (overrides [api] listen), e.g.\n"
    "                        127.0.0.1:8080; 'none' for the Unix socket only\n"
    "  --duration SECONDS    stop by itself after this long (default: until SIGINT/SIGTERM)\n"
    "  --stop-timeout SECONDS  give up a stop that takes longer than this (default 20): log\n"
    "                        the files left unsealed (the next start recovers them), exit 1\n"
    "  --print-pipelines     print each camera's GStreamer graph and exit\n"
    "  --print-config        print the configuration in effect (options applied) and exit\n"
    "  --quiet               no line per sealed segment on stdout\n"
    "  --no-probes           no health probes (bench/probe-cpu measures what they cost)\n"
    "  --verbose             log every state change to stderr too (under systemd every record\n"
    "                        goes to the journal whatever this says)\n"
    "  --recover-only        recover and seal what a crash left, rebuild the catalog, report\n"
    "                        missing files, then exit without recording (exit 1 if anything\n"
    "                        is missing or could not be recovered)\n"
    "  --help                this text\n"
    "\n"
    "Check a data directory with: patrolrec-verify DATA_DIR\n";

struct Options {
  bool demo = false;
  std::string config_path;
  std::string check_config_path;
  std::string data_dir;
  int segment_seconds = 0;
  double duration_s = 0;
  // Under systemd the unit's TimeoutStopSec= (30 s) must be longer, so that the daemon says what
  // it leaves behind instead of being killed mid-sentence.
  double stop_timeout_s = 20;
  bool print_pipelines = false;
  bool print_config = false;
  std::string gpsd;
  std::string live;  // --live HOST:PORT or none; "" = as configured
  std::string listen;  // --listen HOST:PORT, or "none"
  bool quiet = false;
  bool no_probes = false;
  bool recover_only = false;
  bool verbose = false;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "patrolrecd: %s\nTry 'patrolrecd --help'.\n", message.c_str());
  return 2;
}

bool ParseNumber(const char* text, double min, double max, double* out) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (!end || *end || end == text || value < min || value > max) return false;
  *out = value;
  return true;
}

struct Run {
  GMainLoop* loop = nullptr;
  daemon::Recorder* recorder = nullptr;
  daemon::ControlPlane* control = nullptr;
  daemon::ServiceNotifier* notifier = nullptr;
  double stop_timeout_s = 0;
  bool stopping = false;
};

// The stop did not finish in time (a camera that never finalises its file, a disk that does not
// return from fsync): say what is left and exit at once, as a power cut would. Every unsealed
// file is recovered and sealed at the next start; waiting for systemd's SIGKILL instead would
// lose the same data and the record of what was left.
gboolean OnStopDeadline(gpointer data) {
  auto* run = static_cast<Run*>(data);
  const std::vector<std::string> left = run->recorder->UnsealedFiles();
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%g", run->stop_timeout_s);
  base::Log(base::Severity::kCritical,
            std::string("stop not finished after ") + seconds + " s: giving up, " +
                std::to_string(left.size()) +
                " segment file(s) left unsealed for recovery at the next start");
  for (const std::string& file : left) {
    base::LogWarning("left unsealed for recovery: " + file, {{"SEGMENT", file}});
  }
  std::printf(
      "stop not finished after %s s: exiting with %zu segment file(s) left for recovery "
      "at the next start\n",
      seconds, left.size());
  for (const std::string& file : left) std::printf("  left for recovery: %s\n", file.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(1);  // not exit(): destructors would wait for the very threads that are stuck
}

void RequestStop(Run* run, const char* why) {
  if (run->stopping) return;
  run->stopping = true;
  std::printf("%s: closing and sealing the open segments...\n", why);
  std::fflush(stdout);
  run->notifier->Stopping();
  run->control->Stop();  // no new requests; the recording stops next
  g_timeout_add(static_cast<guint>(run->stop_timeout_s * 1000), &OnStopDeadline, run);
  run->recorder->Stop([run] { g_main_loop_quit(run->loop); });
}

std::string Mib(int64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f MiB", bytes / 1048576.0);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--demo") {
      options.demo = true;
    } else if (arg == "--print-pipelines") {
      options.print_pipelines = true;
    } else if (arg == "--print-config") {
      options.print_config = true;
    } else if (arg == "--gpsd") {
      const char* v = value();
      daemon::GpsConfig check;
      if (!v || !daemon::ParseGpsdAddress(v, &check)) {
        return UsageError("--gpsd needs HOST:PORT, e.g. 127.0.0.1:2947, or none");
      }
      options.gpsd = v;
    } else if (arg == "--live") {
      const char* v = value();
      daemon::GpsConfig check;  // the same HOST:PORT rule
      if (!v || !daemon::ParseGpsdAddress(v, &check)) {
        return UsageError("--live needs HOST:PORT, e.g. 127.0.0.1:8554, or none");
      }
      options.live = v;
    } else if (arg == "--listen") {
      const char* v = value();
      std::string text = v ? v : "";
      size_t colon = text.rfind(':');
      if (text != "none" && (colon == std::string::npos || colon == 0 || colon + 1 == text.size())) {
        return UsageError("--listen needs HOST:PORT, e.g. 127.0.0.1:8080, or none");
      }
      options.listen = text;
    } else if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--no-probes") {
      options.no_probes = true;
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--recover-only") {
      options.recover_only = true;
    } else if (arg == "--config" || arg == "--check-config" || arg == "--data-dir") {
      const char* v = value();
      if (!v) return UsageError(arg + " needs a value");
      (arg == "--config"     ? options.config_path
       : arg == "--data-dir" ? options.data_dir
                             : options.check_config_path) = v;
    } else if (arg == "--segment-seconds") {
      const char* v = value();
      double n = 0;
      if (!v || !ParseNumber(v, 2, 3600, &n) || n != static_cast<int>(n)) {
        return UsageError("--segment-seconds needs a whole number from 2 to 3600");
      }
      options.segment_seconds = static_cast<int>(n);
    } else if (arg == "--stop-timeout") {
      const char* v = value();
      if (!v || !ParseNumber(v, 0.001, 3600, &options.stop_timeout_s)) {
        return UsageError("--stop-timeout needs a number of seconds greater than 0");
      }
    } else if (arg == "--duration") {
      const char* v = value();
      if (!v || !ParseNumber(v, 0.1, 1e9, &options.duration_s)) {
        return UsageError("--duration needs a number of seconds greater than 0");
      }
    } else {
      return UsageError("unknown argument '" + arg + "'");
    }
  }

  // On a terminal the stdout lines already tell the story; the log adds only what needs a look.
  if (!options.verbose && !std::getenv("JOURNAL_STREAM")) {
    base::SetMinimumSeverity(base::Severity::kNotice);
  }
  base::Env* env = base::Env::Default();
  daemon::Config config;
  if (!options.check_config_path.empty()) {
    auto loaded = daemon::LoadConfig(*env, options.check_config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.message().c_str());
      return 1;
    }
    std::printf("%s: ok: device %s, %zu camera(s), data in %s\n", options.check_config_path.c_str(),
                loaded->device.id.c_str(), loaded->cameras.size(), loaded->data_dir.c_str());
    for (const auto& c : loaded->cameras) {
      std::printf("  camera %s: %s %dx%d@%d\n", c.name.c_str(), daemon::SourceKindName(c.source),
                  c.width, c.height, c.framerate);
    }
    if (loaded->gps.enabled) {
      std::printf("  gpsd at %s:%s\n", loaded->gps.host.c_str(), loaded->gps.port.c_str());
    } else {
      std::printf("  no GPS (gpsd = none)\n");
    }
    for (const auto& fence : loaded->geofences) {
      std::string shape =
          fence.circle_center
              ? "circle of " + std::to_string(static_cast<int>(fence.circle_radius_m)) + " m"
              : std::to_string(fence.polygon.size()) + "-vertex polygon";
      std::printf("  geofence %s: %s, %s\n", fence.name.c_str(), gps::GeofenceKindName(fence.kind),
                  shape.c_str());
    }
    for (const auto& input : loaded->inputs) {
      std::printf("  input %s: %s\n", input.name.c_str(), daemon::DescribeInput(input).c_str());
    }
    if (loaded->crash) {
      std::printf("  crash sensor: %s\n", daemon::DescribeCrash(*loaded->crash).c_str());
    }
    return 0;
  }
  if (options.demo == !options.config_path.empty()) {
    return UsageError("give exactly one of --demo or --config FILE");
  }
  if (options.demo) {
    config = daemon::DemoConfig(options.data_dir.empty() ? "demo-data" : options.data_dir,
                                options.segment_seconds ? options.segment_seconds : 60);
  } else {
    auto loaded = daemon::LoadConfig(*env, options.config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "patrolrecd: %s\n", loaded.message().c_str());
      return 1;
    }
    config = std::move(loaded).value();
    if (!options.data_dir.empty()) {
      // The API socket's default lives in the data directory: it moves with it.
      if (config.api.socket == config.data_dir + "/api.sock") {
        config.api.socket = options.data_dir + "/api.sock";
      }
      config.data_dir = options.data_dir;
    }
    if (options.segment_seconds) config.segment_seconds = options.segment_seconds;
  }
  if (!options.gpsd.empty()) daemon::ParseGpsdAddress(options.gpsd, &config.gps);
  if (options.no_probes) config.health.probes = false;
  if (!options.live.empty()) {
    daemon::GpsConfig address;
    daemon::ParseGpsdAddress(options.live, &address);
    config.live.listen_host = address.enabled ? address.host : "";
    config.live.listen_port = address.enabled ? address.port : "";
  }
  if (options.listen == "none") {
    config.api.listen_host.clear(), config.api.listen_port.clear();
  } else if (!options.listen.empty()) {
    size_t colon = options.listen.rfind(':');
    config.api.listen_host = options.listen.substr(0, colon);
    config.api.listen_port = options.listen.substr(colon + 1);
  }
  if (config.data_dir.front() != '/') {
    if (char* cwd = g_get_current_dir()) {
      if (config.api.socket == config.data_dir + "/api.sock") {
        config.api.socket = std::string(cwd) + "/" + config.api.socket;
      }
      config.data_dir = std::string(cwd) + "/" + config.data_dir;
      g_free(cwd);
    }
  }

  if (options.print_config) {
    std::fputs(daemon::FormatConfig(config).c_str(), stdout);
    return 0;
  }

  // Overlays show local time; GStreamer's clockoverlay reads it through TZ.
  setenv("TZ", config.device.timezone.c_str(), 1);
  tzset();
  gst_init(&argc, &argv);

  if (options.print_pipelines) {
    const auto encoder = pipeline::ChooseVideoEncoder();
    const std::string aac = pipeline::ChooseAacEncoder();
    for (const auto& c : config.cameras) {
      std::printf("%s: %s\n", c.name.c_str(), daemon::CameraGraph(config, c, encoder, aac).c_str());
    }
    return 0;
  }

  daemon::Recorder recorder(config, env, base::Clock::System());
  base::Status opened = recorder.Open();
  if (!opened.ok()) {
    base::LogError("cannot start: " + opened.message());
    std::fprintf(stderr, "patrolrecd: cannot start: %s\n", opened.message().c_str());
    return 1;
  }
  const auto& report = recorder.reconcile_report();
  if (report.recovered || report.rows_rebuilt || report.missing || report.problems) {
    std::printf(
        "start-up check: %d interrupted segment(s) recovered, %d catalog row(s) rebuilt "
        "from seals, %d catalogued segment(s) MISSING, %d problem(s)\n",
        report.recovered, report.rows_rebuilt, report.missing, report.problems);
  }
  if (options.recover_only) {
    std::printf(
        "start-up check done for %s: %d seal(s) found, %d interrupted segment(s) "
        "recovered, %d missing, %d problem(s)\n",
        config.data_dir.c_str(), report.seals_found, report.recovered, report.missing,
        report.problems);
    return report.missing || report.problems ? 1 : 0;
  }
  std::printf("patrolrecd: device %s recording %zu camera(s) into %s, %d s segments\n",
              config.device.id.c_str(), config.cameras.size(), config.data_dir.c_str(),
              config.segment_seconds);
  std::printf("device key fingerprint %s (public key: %s/device.pub.pem)\n",
              recorder.device_key().fingerprint().c_str(), config.data_dir.c_str());
  for (const auto& c : config.cameras) {
    std::printf("  camera %-12s %-5s %dx%d@%d%s\n", c.name.c_str(),
                daemon::SourceKindName(c.source), c.width, c.height, c.framerate,
                c.audio != daemon::AudioKind::kNone ? " +audio" : "");
  }
  if (options.duration_s > 0) {
    std::printf("stopping by itself after %.0f s (or Ctrl-C)\n", options.duration_s);
  } else {
    std::printf("Ctrl-C to stop\n");
  }
  std::fflush(stdout);

  if (!options.quiet) {
    recorder.add_on_sealed([](const storage::SegmentRecord& r) {
      std::string time = r.time_source;
      if (r.clock_offset_ns) time += " " + gps::FormatOffset(*r.clock_offset_ns);
      std::printf(
          "%-8s %-12s #%-4lld %6.2f s %5lld frames %9s  %3lld fixes  time %-11s %s  "
          "sha256 %.16s…\n",
          storage::SegmentStateName(r.state), r.camera.c_str(), static_cast<long long>(r.sequence),
          r.duration_ns / 1e9, static_cast<long long>(r.frames), Mib(r.bytes).c_str(),
          static_cast<long long>(r.track_points), time.c_str(), r.file.c_str(),
          r.sha256_hex.c_str());
      std::fflush(stdout);
    });
  }

  daemon::ServiceNotifier notifier([&recorder] {
    return daemon::ServiceStatus{recorder.Health(base::Clock::System()->MonotonicNs()),
                                 gps::FixStateName(recorder.position().state())};
  });
  // The incidents and the control API. Whatever fails here is logged: the cameras record anyway.
  daemon::ControlPlane control(&recorder, env, base::Clock::System());
  base::Status control_opened = control.Open();
  if (!control_opened.ok()) base::LogError(control_opened.message());
  std::printf("%s\n", control.description().c_str());
  if (control.duty()) {
    if (auto open = control.duty()->incidents().open_incident()) {
      std::printf("incident %s is open (%s): recording continues, no stop until it ends\n",
                  open->id.c_str(), storage::IncidentPhaseName(open->phase));
    }
    control.duty()->add_on_change(
        [](const storage::IncidentRecord& incident, const std::string& change) {
          std::printf("incident %-32s %-12s %s\n", incident.id.c_str(), change.c_str(),
                      storage::IncidentPhaseName(incident.phase));
          std::fflush(stdout);
        });
  }
  if (control.self_check()) {
    // The shift starts with a self-check (第九条): the crew sees each item's result.
    control.self_check()->add_on_run([](const daemon::SelfCheckRun& run) {
      std::printf("self-check #%lld (%s): %s\n", static_cast<long long>(run.id),
                  run.trigger.c_str(), daemon::CheckResultName(run.overall()));
      for (const daemon::SelfCheckItem& item : run.items) {
        std::printf("  %-4s %-20s %s\n", daemon::CheckResultName(item.result), item.name.c_str(),
                    item.reason.c_str());
      }
      std::fflush(stdout);
    });
  }
  std::fflush(stdout);

  Run run;
  run.loop = g_main_loop_new(nullptr, FALSE);
  run.recorder = &recorder;
  run.control = &control;
  run.notifier = &notifier;
  run.stop_timeout_s = options.stop_timeout_s;
  recorder.Start();
  control.Start();
  // Without a watchdog (not under systemd, or no WatchdogSec=) this is 0 and nothing is pinged.
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &watchdog_usec) <= 0) watchdog_usec = 0;
  notifier.Start(watchdog_usec);
  auto on_signal = [](gpointer data) -> gboolean {
    RequestStop(static_cast<Run*>(data), "signal received");
    return G_SOURCE_CONTINUE;
  };
  g_unix_signal_add(SIGINT, on_signal, &run);
  g_unix_signal_add(SIGTERM, on_signal, &run);
  if (options.duration_s > 0) {
    g_timeout_add(
        static_cast<guint>(options.duration_s * 1000),
        [](gpointer data) -> gboolean {
          RequestStop(static_cast<Run*>(data), "duration reached");
          return G_SOURCE_REMOVE;
        },
        &run);
  }
  g_main_loop_run(run.loop);
  g_main_loop_unref(run.loop);
  std::printf("stopped: %d segment(s) sealed this run%s. Verify with: patrolrec-verify %s\n",
              recorder.segments_sealed(),
              recorder.seal_failures() ? " (SOME SEALS FAILED: see the log)" : "",
              config.data_dir.c_str());
  return recorder.seal_failures() ? 1 : 0;
}
