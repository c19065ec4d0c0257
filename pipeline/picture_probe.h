// What the health probes measure on a camera's picture and sound (docs/health.md). The pipeline
// only measures; the daemon's health monitor (daemon/health_monitor.h) decides states from these
// numbers. Measurements are made on a small grey picture (kProbeWidth wide, a few times a second)
// taken off the raw tee before the overlays, so the burned-in clock and position never make a
// frozen picture look alive. The invariant: measuring is cheap (one pass over ~57,600 bytes) and
// pure, so the same numbers come out of a real pipeline and of a test's synthetic frame.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace patrolrec::pipeline {

// The probe branch's picture: GRAY8, this wide, the height following the camera's aspect ratio
// (the thumbnail's ThumbnailHeight), kProbeFps frames a second at most.
constexpr int kProbeWidth = 320;
constexpr int kProbeFps = 4;

// The scene's coarse layout: the mean luma of each cell of a kGridColumns x kGridRows grid, for
// the "moved" decision (a scene that changed at once and stayed so).
constexpr int kGridColumns = 16;
constexpr int kGridRows = 9;
using LumaGrid = std::array<float, kGridColumns * kGridRows>;

struct PictureStats {
  double mean_luma = 0;  // 0..255
  double stddev_luma = 0;
  // Fraction (0..1) of pixels whose horizontal or vertical step to the next pixel is at least
  // kEdgeStep: texture that sensor noise alone does not reach.
  double edge_fraction = 0;
  // Mean absolute Laplacian divided by the standard deviation: fine detail relative to contrast.
  // A defocused lens loses the first and keeps most of the second.
  double sharpness = 0;
  // Fraction (0..1) of pixels that differ by kChangeStep or more from the previous probe frame,
  // in the middle band (without the top and bottom eighths, where cameras burn their own clock);
  // -1 for the first frame.
  double changed_fraction = -1;
  LumaGrid grid{};
};

// A step of this many luma levels between neighbours counts as an edge; a difference of
// kChangeStep between two frames counts as a change (sensor noise and scaling dither stay below).
constexpr int kEdgeStep = 16;
constexpr int kChangeStep = 3;

// Measures one GRAY8 frame (rows `stride` bytes apart). `previous` is the previous frame of the
// same size (stride == width), or nullptr.
PictureStats MeasurePicture(const uint8_t* luma, int width, int height, int stride,
                            const uint8_t* previous);

// One probe sample, as the pipeline hands it to the daemon.
struct PictureSample {
  int64_t utc_ns = 0;
  PictureStats stats;
};

// One interval of the audio branch's `level` element (dBFS; -inf as -200).
struct AudioSample {
  int64_t utc_ns = 0;
  double rms_db = -200;
  double peak_db = -200;
};

}  // namespace patrolrec::pipeline
