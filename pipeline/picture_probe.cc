#include "pipeline/picture_probe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace patrolrec::pipeline {

PictureStats MeasurePicture(const uint8_t* luma, int width, int height, int stride,
                            const uint8_t* previous) {
  PictureStats stats;
  if (!luma || width < 3 || height < 3) return stats;
  double sum = 0, sum_sq = 0, laplacian = 0;
  int64_t edges = 0;
  std::array<double, kGridColumns * kGridRows> cell_sum{};
  std::array<int, kGridColumns * kGridRows> cell_count{};
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = luma + static_cast<int64_t>(y) * stride;
    const int cell_row = y * kGridRows / height;
    for (int x = 0; x < width; ++x) {
      const int v = row[x];
      sum += v;
      sum_sq += static_cast<double>(v) * v;
      const int cell = cell_row * kGridColumns + x * kGridColumns / width;
      cell_sum[cell] += v;
      ++cell_count[cell];
      if (x + 1 < width && y + 1 < height) {
        const int right = row[x + 1];
        const int below = row[x + stride];
        if (std::abs(right - v) >= kEdgeStep || std::abs(below - v) >= kEdgeStep) ++edges;
      }
      if (x > 0 && y > 0 && x + 1 < width && y + 1 < height) {
        laplacian += std::abs(4 * v - row[x - 1] - row[x + 1] - row[x - stride] - row[x + stride]);
      }
    }
  }
  const double n = static_cast<double>(width) * height;
  stats.mean_luma = sum / n;
  stats.stddev_luma = std::sqrt(std::max(0.0, sum_sq / n - stats.mean_luma * stats.mean_luma));
  stats.edge_fraction = static_cast<double>(edges) / ((width - 1.0) * (height - 1.0));
  const double inner = (width - 2.0) * (height - 2.0);
  stats.sharpness = stats.stddev_luma > 0.5 ? laplacian / inner / stats.stddev_luma : 0;
  for (size_t i = 0; i < cell_sum.size(); ++i) {
    stats.grid[i] = cell_count[i] ? static_cast<float>(cell_sum[i] / cell_count[i]) : 0.f;
  }
  if (previous) {
    const int top = height / 8, bottom = height - height / 8;
    int64_t changed = 0, counted = 0;
    for (int y = top; y < bottom; ++y) {
      const uint8_t* row = luma + static_cast<int64_t>(y) * stride;
      const uint8_t* before = previous + static_cast<int64_t>(y) * width;
      for (int x = 0; x < width; ++x) {
        if (std::abs(row[x] - before[x]) >= kChangeStep) ++changed;
      }
      counted += width;
    }
    stats.changed_fraction = counted ? static_cast<double>(changed) / counted : 0;
  }
  return stats;
}

}  // namespace patrolrec::pipeline
