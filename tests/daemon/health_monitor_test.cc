// The health probes' rules on synthetic scenes made for each case (docs/health.md): every probe
// fires on its condition within its configured time, and stays quiet on every normal scene (a
// dark road at night, a car standing at a red light, headlights sweeping a cabin, a moving road
// camera). The pictures go through the very measurement the pipeline uses
// (pipeline::MeasurePicture), at the probe branch's size and rate.
#include "daemon/health_monitor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace patrolrec::daemon {
namespace {

constexpr int kWidth = pipeline::kProbeWidth;
constexpr int kHeight = 180;
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kFrameNs = kSecond / pipeline::kProbeFps;

using Frame = std::vector<uint8_t>;

uint8_t Clamp(double v) { return static_cast<uint8_t>(std::clamp(v, 0.0, 255.0)); }

// A textured daytime scene: sky, blocks of buildings, a road with lane marks, fine texture.
// `layout` picks a different arrangement (another view of the world).
Frame DayScene(int layout) {
  std::mt19937 rng(1000 + layout);
  std::uniform_real_distribution<double> texture(-22, 22);
  Frame f(kWidth * kHeight);
  std::vector<std::pair<int, int>> blocks;
  std::uniform_int_distribution<int> x0(0, kWidth - 40), w(20, 70), h(30, 90), luma(60, 200);
  struct Block {
    int x, w, h, luma;
  };
  std::vector<Block> buildings;
  for (int i = 0; i < 9; ++i) buildings.push_back({x0(rng), w(rng), h(rng), luma(rng)});
  std::vector<double> grain(f.size());
  for (double& g : grain) g = texture(rng);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      double v = 170 + 40.0 * y / kHeight;  // sky
      const int horizon = kHeight * (layout % 2 ? 45 : 60) / 100;
      for (const Block& b : buildings) {
        if (x >= b.x && x < b.x + b.w && y >= horizon - b.h && y < horizon) v = b.luma;
      }
      if (y >= horizon) {
        v = 90;  // road
        if (std::abs(x - kWidth / 2) < 2 + (y - horizon) / 12 && (y / 8) % 2 == 0) v = 230;
      }
      f[y * kWidth + x] = Clamp(v + grain[y * kWidth + x]);
    }
  }
  return f;
}

// A road at night: dark, noisy, street lights and a lit stretch of road with its lane mark.
Frame NightScene() {
  Frame f(kWidth * kHeight);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      double v = 14;
      if (y > kHeight / 2) {
        const double lit = 1.0 - std::abs(x - kWidth / 2.0) / (kWidth / 2.0);
        v += 45 * lit * (y - kHeight / 2.0) / (kHeight / 2.0);
        if (std::abs(x - kWidth / 2) < 2 && (y / 10) % 2 == 0) v = 160;
      }
      for (int lamp = 0; lamp < 6; ++lamp) {
        const int lx = 20 + lamp * 55, ly = 30 + (lamp % 2) * 12;
        if ((x - lx) * (x - lx) + (y - ly) * (y - ly) < 16) v = 240;
      }
      f[y * kWidth + x] = Clamp(v);
    }
  }
  return f;
}

// A hand or a cap over the lens: dark, a soft vignette, nothing else.
Frame CoveredScene() {
  Frame f(kWidth * kHeight);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const double dx = (x - kWidth / 2.0) / kWidth, dy = (y - kHeight / 2.0) / kHeight;
      f[y * kWidth + x] = Clamp(32 - 30 * (dx * dx + dy * dy));
    }
  }
  return f;
}

Frame BlackScene() { return Frame(kWidth * kHeight, 16); }

// The scene through a lens out of focus: a box blur of radius 3.
Frame Blurred(const Frame& in) {
  Frame out(in.size());
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      int sum = 0, n = 0;
      for (int dy = -3; dy <= 3; ++dy) {
        for (int dx = -3; dx <= 3; ++dx) {
          const int yy = std::clamp(y + dy, 0, kHeight - 1), xx = std::clamp(x + dx, 0, kWidth - 1);
          sum += in[yy * kWidth + xx];
          ++n;
        }
      }
      out[y * kWidth + x] = static_cast<uint8_t>(sum / n);
    }
  }
  return out;
}

// Sensor noise (a live camera never delivers the same frame twice).
Frame Noisy(const Frame& in, std::mt19937& rng, double sigma = 2.0) {
  std::normal_distribution<double> noise(0, sigma);
  Frame out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = Clamp(in[i] + noise(rng));
  return out;
}

struct Change {
  int64_t at_ns;
  CameraHealthChange change;
};

class Probes {
 public:
  explicit Probes(bool cabin = false, bool audio = false, int enter_s = 3, int leave_s = 3)
      : monitor_("cam", HealthConfig{enter_s, leave_s, 4, 24}, cabin, audio, 30) {}

  // Shows `frame_at(i)` for `seconds` at the probe rate, with the frame count at 30 fps.
  template <typename FrameAt>
  void Show(double seconds, FrameAt frame_at, bool standing = true) {
    const int frames = static_cast<int>(seconds * pipeline::kProbeFps);
    for (int i = 0; i < frames; ++i) {
      now_ += kFrameNs;
      frames_total_ += 30 / pipeline::kProbeFps;
      const Frame frame = frame_at(i);
      pipeline::PictureSample sample;
      sample.utc_ns = now_;
      sample.stats = pipeline::MeasurePicture(frame.data(), kWidth, kHeight, kWidth,
                                              previous_.empty() ? nullptr : previous_.data());
      previous_ = frame;
      Collect(monitor_.OnPicture(sample, standing));
      Collect(monitor_.OnTick(now_, frames_total_, true));
    }
  }
  void Hear(double seconds, double rms_db, double peak_db) {
    for (int i = 0; i < static_cast<int>(seconds * 4); ++i) {
      now_ += kFrameNs;
      frames_total_ += 30 / pipeline::kProbeFps;
      Collect(monitor_.OnAudio({now_, rms_db, peak_db}));
      Collect(monitor_.OnTick(now_, frames_total_, true));
    }
  }
  void Ticks(double seconds, int fps) {
    for (int i = 0; i < static_cast<int>(seconds * 4); ++i) {
      now_ += kFrameNs;
      frames_total_ += fps / 4;
      Collect(monitor_.OnTick(now_, frames_total_, true));
    }
  }
  // The changes so far, as "video:covered" etc.
  std::vector<std::string> States() const {
    std::vector<std::string> out;
    for (const Change& c : changes_) {
      out.push_back(std::string(HealthChannelName(c.change.channel)) + ":" + c.change.state);
    }
    return out;
  }
  const std::vector<Change>& changes() const { return changes_; }
  int64_t now() const { return now_; }
  void Mark() { mark_ = now_; }
  // Seconds from Mark() to the first change into `state`; -1 if none.
  double SecondsTo(const std::string& state) const {
    for (const Change& c : changes_) {
      if (c.change.state == state && c.at_ns > mark_) {
        return static_cast<double>(c.at_ns - mark_) / kSecond;
      }
    }
    return -1;
  }
  HealthMonitor& monitor() { return monitor_; }

 private:
  void Collect(std::vector<CameraHealthChange> changes) {
    for (auto& c : changes) changes_.push_back({now_, std::move(c)});
  }
  HealthMonitor monitor_;
  int64_t now_ = 1'800'000'000 * kSecond;
  uint64_t frames_total_ = 0;
  Frame previous_;
  std::vector<Change> changes_;
  int64_t mark_ = 0;
};

TEST(HealthMonitorTest, NormalScenesStayQuiet) {
  std::mt19937 rng(1);
  const Frame day = DayScene(0), night = NightScene();
  {
    Probes p;  // a car standing at a red light: the same view, only sensor noise
    p.Show(60, [&](int) { return Noisy(day, rng); });
    EXPECT_TRUE(p.changes().empty())
        << p.changes().front().change.state << ": " << p.changes().front().change.cause;
  }
  {
    Probes p;  // a dark road at night is not a covered lens
    p.Show(60, [&](int) { return Noisy(night, rng, 3.0); });
    EXPECT_TRUE(p.changes().empty())
        << p.changes().front().change.state << ": " << p.changes().front().change.cause;
  }
  {
    Probes p;  // dusk: day fades to night over two minutes
    p.Show(120, [&](int i) {
      const double k = std::min(1.0, i / (100.0 * pipeline::kProbeFps));
      Frame mix(day.size());
      for (size_t j = 0; j < day.size(); ++j) mix[j] = Clamp((1 - k) * day[j] + k * night[j]);
      return Noisy(mix, rng);
    });
    EXPECT_TRUE(p.changes().empty())
        << p.changes().front().change.state << ": " << p.changes().front().change.cause;
  }
  {
    Probes p(/*cabin=*/false);  // a road camera while driving: the view changes all the time
    p.Show(
        20, [&](int i) { return Noisy(DayScene(i / 8), rng); }, /*standing=*/false);
    EXPECT_TRUE(p.changes().empty())
        << p.changes().front().change.state << ": " << p.changes().front().change.cause;
  }
}

TEST(HealthMonitorTest, HeadlightsSweepingACabinAreNotAMovedCamera) {
  std::mt19937 rng(2);
  const Frame cabin = DayScene(3);
  Probes p(/*cabin=*/true);
  p.Show(10, [&](int) { return Noisy(cabin, rng); });
  for (int sweep = 0; sweep < 4; ++sweep) {
    // A bright band crossing the picture in 1.5 s, then the cabin as it was for a while.
    p.Show(1.5, [&](int i) {
      Frame f = cabin;
      const int centre = i * kWidth / 6;
      for (int y = 0; y < kHeight; ++y) {
        for (int x = std::max(0, centre - 40); x < std::min(kWidth, centre + 40); ++x) {
          f[y * kWidth + x] = Clamp(f[y * kWidth + x] + 90);
        }
      }
      return Noisy(f, rng);
    });
    p.Show(6, [&](int) { return Noisy(cabin, rng); });
  }
  EXPECT_TRUE(p.changes().empty())
      << p.changes().front().change.state << ": " << p.changes().front().change.cause;
}

TEST(HealthMonitorTest, EachPictureFaultIsEnteredAfterEnterSecondsWithItsCause) {
  std::mt19937 rng(3);
  const Frame day = DayScene(0);
  struct Case {
    const char* state;
    std::function<Frame(int)> frame;
  };
  const Frame frozen = Noisy(day, rng);
  const Frame blurred = Blurred(day);
  const std::vector<Case> cases = {
      {"covered", [&](int) { return Noisy(CoveredScene(), rng); }},
      {"black", [&](int) { return BlackScene(); }},
      {"frozen", [&](int) { return frozen; }},
      {"defocused", [&](int) { return Noisy(blurred, rng); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.state);
    Probes p;
    p.Show(10, [&](int) { return Noisy(day, rng); });
    p.Mark();
    p.Show(8, c.frame);
    ASSERT_EQ(p.States(), std::vector<std::string>{std::string("video:") + c.state});
    const double after = p.SecondsTo(c.state);
    EXPECT_GE(after, 3.0);
    EXPECT_LE(after, 3.5);
    EXPECT_FALSE(p.changes()[0].change.cause.empty());
    EXPECT_EQ(p.changes()[0].change.previous, "ok");
    // The condition began when the picture changed, before it was reported.
    EXPECT_LE(p.changes()[0].change.since_utc_ns, p.changes()[0].at_ns - 3 * kSecond);
    // And it ends after leave_s of the normal scene.
    p.Mark();
    p.Show(8, [&](int) { return Noisy(day, rng); });
    ASSERT_EQ(p.States().size(), 2u);
    EXPECT_EQ(p.States()[1], "video:ok");
    EXPECT_LE(p.SecondsTo("ok"), 4.0);
  }
}

TEST(HealthMonitorTest, AFrozenPictureIsFrozenEvenWhenTheCamerasOwnClockChanges) {
  std::mt19937 rng(4);
  const Frame day = DayScene(1);
  const Frame still = Noisy(day, rng);
  Probes p;
  p.Show(5, [&](int) { return Noisy(day, rng); });
  p.Show(6, [&](int i) {
    Frame f = still;  // the top rows hold the camera's own burned-in clock, ticking
    for (int y = 2; y < 14; ++y) {
      for (int x = 4; x < 120; ++x) f[y * kWidth + x] = static_cast<uint8_t>(((x + i) % 7) * 30);
    }
    return f;
  });
  EXPECT_EQ(p.States(), std::vector<std::string>{"video:frozen"});
}

TEST(HealthMonitorTest, AShortFaultShorterThanEnterSecondsIsNotReported) {
  std::mt19937 rng(5);
  const Frame day = DayScene(0);
  Probes p;
  p.Show(10, [&](int) { return Noisy(day, rng); });
  p.Show(2, [&](int) { return Noisy(CoveredScene(), rng); });
  p.Show(10, [&](int) { return Noisy(day, rng); });
  EXPECT_TRUE(p.changes().empty());
}

TEST(HealthMonitorTest, ACabinCameraTurnedAwayIsMovedAndTheNewViewIsAcceptedLater) {
  std::mt19937 rng(6);
  Probes p(/*cabin=*/true);
  p.Show(10, [&](int) { return Noisy(DayScene(2), rng); });
  p.Mark();
  p.Show(10, [&](int) { return Noisy(DayScene(5), rng); });
  ASSERT_EQ(p.States(), std::vector<std::string>{"video:moved"});
  EXPECT_LE(p.SecondsTo("moved"), 3.0 + 2.0);
  EXPECT_NE(p.changes()[0].change.cause.find("cabin camera"), std::string::npos);
  // Held for moved_accept (30 s), the new view becomes the reference.
  p.Show(40, [&](int) { return Noisy(DayScene(5), rng); });
  EXPECT_EQ(p.States(), (std::vector<std::string>{"video:moved", "video:ok"}));
}

TEST(HealthMonitorTest, ARoadCameraIsMovedOnlyWhileTheCarStandsStill) {
  std::mt19937 rng(7);
  {
    Probes p(/*cabin=*/false);
    p.Show(
        10, [&](int) { return Noisy(DayScene(2), rng); }, /*standing=*/false);
    p.Show(
        10, [&](int) { return Noisy(DayScene(5), rng); }, /*standing=*/false);
    EXPECT_TRUE(p.changes().empty());
  }
  {
    Probes p(/*cabin=*/false);
    p.Show(
        10, [&](int) { return Noisy(DayScene(2), rng); }, /*standing=*/true);
    p.Show(
        10, [&](int) { return Noisy(DayScene(5), rng); }, /*standing=*/true);
    EXPECT_EQ(p.States(), std::vector<std::string>{"video:moved"});
    EXPECT_NE(p.changes()[0].change.cause.find("stands still"), std::string::npos);
  }
}

TEST(HealthMonitorTest, NoFramesAtTheExpectedRateIsNoSignal) {
  Probes p;
  p.Ticks(5, 30);
  EXPECT_TRUE(p.changes().empty());
  p.Mark();
  p.Ticks(8, 4);  // a cable gone bad: 4 fps of 30
  ASSERT_EQ(p.States(), std::vector<std::string>{"video:no-signal"});
  EXPECT_LE(p.SecondsTo("no-signal"), 3.0 + 2.5);
  EXPECT_NE(p.changes()[0].change.cause.find("of the configured 30"), std::string::npos);
  p.Ticks(8, 30);
  EXPECT_EQ(p.States(), (std::vector<std::string>{"video:no-signal", "video:ok"}));
}

TEST(HealthMonitorTest, NothingIsJudgedWhileTheCameraIsNotRecording) {
  Probes p(false, /*audio=*/true);
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(p.monitor().OnTick(p.now() + i * kFrameNs, 0, /*recording=*/false).empty());
  }
}

TEST(HealthMonitorTest, SoundFaults) {
  {
    Probes p(false, true);  // the demo's test tone, a voice: quiet
    p.Hear(20, -17, -14);
    p.Hear(20, -40, -20);
    EXPECT_TRUE(p.changes().empty());
  }
  struct Case {
    const char* state;
    double rms, peak;
  };
  for (const Case& c :
       {Case{"silent", -200, -200}, Case{"silent", -72, -60}, Case{"clipped", -3, 0}}) {
    SCOPED_TRACE(c.state);
    Probes p(false, true);
    p.Hear(5, -20, -12);
    p.Mark();
    p.Hear(6, c.rms, c.peak);
    ASSERT_EQ(p.States(), std::vector<std::string>{std::string("audio:") + c.state});
    EXPECT_LE(p.SecondsTo(c.state), 3.5);
    p.Hear(6, -20, -12);
    EXPECT_EQ(p.States().back(), "audio:ok");
  }
  {
    Probes p(false, true);  // the microphone's branch delivers nothing
    p.Hear(3, -20, -12);
    p.Mark();
    p.Ticks(8, 30);
    EXPECT_EQ(p.States(), std::vector<std::string>{"audio:no-audio"});
  }
}

TEST(HealthMonitorTest, NowReportsTheStateInForce) {
  std::mt19937 rng(8);
  Probes p;
  EXPECT_FALSE(p.monitor().Now().measured);
  p.Show(5, [&](int) { return Noisy(DayScene(0), rng); });
  p.Show(5, [&](int) { return BlackScene(); });
  const CameraHealthNow now = p.monitor().Now();
  EXPECT_TRUE(now.measured);
  EXPECT_EQ(now.video_state, "black");
  EXPECT_NE(now.video_cause.find("mean luma"), std::string::npos);
}

}  // namespace
}  // namespace patrolrec::daemon
