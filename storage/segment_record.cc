#include "storage/segment_record.h"

#include "base/clock.h"

namespace patrolrec::storage {

const char* SegmentStateName(SegmentState state) {
  switch (state) {
    case SegmentState::kSealed:
      return "sealed";
    case SegmentState::kRecovered:
      return "recovered";
    case SegmentState::kMissing:
      return "missing";
  }
  return "?";
}

bool ParseSegmentState(const std::string& name, SegmentState* state) {
  for (SegmentState s : {SegmentState::kSealed, SegmentState::kRecovered, SegmentState::kMissing}) {
    if (name == SegmentStateName(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

bool IsValidTimeSource(const std::string& time_source) {
  return time_source == "gps" || time_source == "ntp" || time_source == "none" ||
         time_source == "unknown";
}

std::string FormatClockOffset(const std::optional<int64_t>& clock_offset_ns) {
  return clock_offset_ns ? std::to_string(*clock_offset_ns) : "unknown";
}

std::vector<FieldDifference> CompareSegmentRecords(const SegmentRecord& left,
                                                   const SegmentRecord& right) {
  std::vector<FieldDifference> out;
  auto text = [&out](const char* field, const std::string& a, const std::string& b) {
    if (a != b) out.push_back({field, a, b});
  };
  auto number = [&text](const char* field, int64_t a, int64_t b) {
    text(field, std::to_string(a), std::to_string(b));
  };
  auto time = [&text](const char* field, int64_t a, int64_t b) {
    text(field, base::FormatUtcNs(a), base::FormatUtcNs(b));
  };
  text("device", left.device_id, right.device_id);
  text("camera", left.camera, right.camera);
  number("sequence", left.sequence, right.sequence);
  text("file", left.file, right.file);
  number("bytes", left.bytes, right.bytes);
  text("sha256", left.sha256_hex, right.sha256_hex);
  time("start_utc", left.start_utc_ns, right.start_utc_ns);
  time("end_utc", left.end_utc_ns, right.end_utc_ns);
  number("duration_ns", left.duration_ns, right.duration_ns);
  number("frames", left.frames, right.frames);
  text("state", SegmentStateName(left.state), SegmentStateName(right.state));
  text("time_source", left.time_source, right.time_source);
  text("clock_offset_ns", FormatClockOffset(left.clock_offset_ns),
       FormatClockOffset(right.clock_offset_ns));
  text("track_file", left.track_file, right.track_file);
  number("track_points", left.track_points, right.track_points);
  text("track_sha256", left.track_sha256_hex, right.track_sha256_hex);
  time("sealed_utc", left.sealed_utc_ns, right.sealed_utc_ns);
  text("prev_chain", left.prev_chain_hex, right.prev_chain_hex);
  text("chain", left.chain_hex, right.chain_hex);
  text("signature", left.signature_b64, right.signature_b64);
  return out;
}

}  // namespace patrolrec::storage
