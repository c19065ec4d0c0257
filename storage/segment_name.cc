#include "storage/segment_name.h"

#include <cstdio>
#include <ctime>

#include "base/clock.h"

namespace patrolrec::storage {
namespace {

bool AllOf(const std::string& s, bool (*ok)(char)) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!ok(c)) return false;
  return true;
}

}  // namespace

bool IsValidDeviceId(const std::string& id) {
  return AllOf(id, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsValidCameraName(const std::string& name) {
  return AllOf(name,
               [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string CameraDir(const std::string& camera) { return "segments/" + camera; }

std::string FormatSegmentName(const SegmentName& name) {
  return name.device_id + "_" + name.camera + "_" + base::FormatUtcCompact(name.start_utc_ns) +
         ".mp4";
}

std::optional<SegmentName> ParseSegmentName(const std::string& file_name) {
  const std::string suffix = ".mp4";
  if (file_name.size() <= suffix.size() ||
      file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  std::string stem = file_name.substr(0, file_name.size() - suffix.size());
  size_t a = stem.find('_');
  size_t b = a == std::string::npos ? a : stem.find('_', a + 1);
  if (b == std::string::npos || stem.find('_', b + 1) != std::string::npos) return std::nullopt;
  SegmentName out;
  out.device_id = stem.substr(0, a);
  out.camera = stem.substr(a + 1, b - a - 1);
  std::string time = stem.substr(b + 1);
  if (!IsValidDeviceId(out.device_id) || !IsValidCameraName(out.camera)) return std::nullopt;
  int year, month, day, hour, minute, second, millis, consumed = 0;
  if (time.size() != 20 ||
      std::sscanf(time.c_str(), "%4d%2d%2dT%2d%2d%2d.%3dZ%n", &year, &month, &day, &hour, &minute,
                  &second, &millis, &consumed) != 7 ||
      consumed != 20) {
    return std::nullopt;
  }
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  out.start_utc_ns = static_cast<int64_t>(timegm(&t)) * base::kNsPerSecond +
                     static_cast<int64_t>(millis) * base::kNsPerMs;
  if (FormatSegmentName(out) != file_name) return std::nullopt;
  return out;
}

}  // namespace patrolrec::storage
