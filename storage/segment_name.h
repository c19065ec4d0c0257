// Segment file names. A person can read device, camera and UTC start from the name:
//   PR-0001_cabin-rear_20261129T011630.250Z.mp4
// Device ids are [A-Za-z0-9-]+, camera names [a-z0-9-]+, so '_' separates unambiguously. The
// sequence number is not in the name: it is given when the segment is sealed, in sealing order,
// so that a file that was never written can never leave a hole in the sequence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace patrolrec::storage {

struct SegmentName {
  std::string device_id;
  std::string camera;
  int64_t start_utc_ns = 0;  // millisecond precision in the name
};

std::string FormatSegmentName(const SegmentName& name);
std::optional<SegmentName> ParseSegmentName(const std::string& file_name);

bool IsValidDeviceId(const std::string& id);
bool IsValidCameraName(const std::string& name);

// Relative directory of a camera's segments inside the data directory: "segments/<camera>".
std::string CameraDir(const std::string& camera);
// Sidecar path of a segment: "<segment>.seal".
inline std::string SealPathFor(const std::string& segment_path) { return segment_path + ".seal"; }
// GPS track of a segment (GPX, storage/track.h): "<segment>.gpx".
inline std::string TrackPathFor(const std::string& segment_path) { return segment_path + ".gpx"; }

}  // namespace patrolrec::storage
