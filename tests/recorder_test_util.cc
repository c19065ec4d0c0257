#include "tests/recorder_test_util.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/clock.h"
#include "storage/catalog.h"
#include "tests/test_util.h"

namespace patrolrec::testing {

bool RunLoopUntil(const std::function<bool()>& done, double timeout_s) {
  const int64_t deadline =
      base::Clock::System()->MonotonicNs() + static_cast<int64_t>(timeout_s * 1e9);
  guint wake = g_timeout_add(
      50, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr);
  bool ok = false;
  while (!(ok = done()) && base::Clock::System()->MonotonicNs() < deadline) {
    g_main_context_iteration(nullptr, TRUE);
  }
  g_source_remove(wake);
  return ok;
}

void RunLoopFor(double seconds) {
  RunLoopUntil([] { return false; }, seconds);
}

daemon::CameraConfig TestCamera(const std::string& name, const std::string& pattern, bool audio) {
  daemon::CameraConfig c;
  c.name = name;
  c.source = daemon::SourceKind::kTest;
  c.pattern = pattern;
  c.width = 320;
  c.height = 180;
  c.framerate = 30;
  c.bitrate_kbps = 400;
  c.audio = audio ? daemon::AudioKind::kTest : daemon::AudioKind::kNone;
  return c;
}

LogCapture::LogCapture() {
  base::SetLogSinkForTesting([this](base::Severity severity, std::string_view message,
                                    std::initializer_list<base::LogField> fields) {
    Record r{severity, std::string(message), {}};
    for (const auto& f : fields) r.fields[std::string(f.key)] = f.value;
    std::lock_guard lock(mutex_);
    records_.push_back(std::move(r));
  });
}

LogCapture::~LogCapture() { base::SetLogSinkForTesting(nullptr); }

std::vector<LogCapture::Record> LogCapture::records() {
  std::lock_guard lock(mutex_);
  return records_;
}

std::map<std::string, std::vector<storage::SegmentRecord>> SegmentsByCamera(
    const std::string& data_dir) {
  std::map<std::string, std::vector<storage::SegmentRecord>> by_camera;
  auto catalog = storage::Catalog::OpenReadOnly(data_dir + "/catalog.sqlite");
  EXPECT_TRUE(catalog.ok()) << catalog.message();
  if (!catalog.ok()) return by_camera;
  auto rows = (*catalog)->Segments();
  EXPECT_TRUE(rows.ok()) << rows.message();
  if (!rows.ok()) return by_camera;
  for (const auto& r : *rows) by_camera[r.camera].push_back(r);
  return by_camera;
}

int64_t FramesDecodedByFfprobe(const std::string& path) {
  auto r = RunCommand({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
                       "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path});
  if (r.exit_code != 0) return -1;
  return std::atoll(r.output.c_str());
}

void ExpectContinuous(const std::vector<storage::SegmentRecord>& segments, int framerate) {
  const int64_t frame_ns = base::kNsPerSecond / framerate;
  for (size_t i = 1; i < segments.size(); ++i) {
    const int64_t gap_ns = segments[i].start_utc_ns - segments[i - 1].end_utc_ns;
    EXPECT_LE(std::llabs(gap_ns), frame_ns) << "between " << segments[i - 1].file << " and "
                                            << segments[i].file << ": " << gap_ns / 1e6 << " ms";
    EXPECT_EQ(segments[i].sequence, segments[i - 1].sequence + 1);
    EXPECT_EQ(segments[i].prev_chain_hex, segments[i - 1].chain_hex);
  }
}

}  // namespace patrolrec::testing
