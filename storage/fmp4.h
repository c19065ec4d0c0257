// Reading fragmented MP4 files as GStreamer's mp4mux writes them (ftyp, moov, then moof+mdat
// pairs, then an optional mfra) without trusting them: a file cut anywhere by a crash is
// measured up to its last complete fragment, and can be truncated there so that it plays.
// Plain (non-fragmented) MP4 files with a complete moov are measured too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace patrolrec::storage {

struct Mp4Track {
  uint32_t track_id = 0;
  std::string handler;          // "vide", "soun", "text", "sbtl", ...
  uint32_t timescale = 0;       // ticks per second (mdhd)
  uint64_t samples = 0;         // samples in complete fragments (or in the whole plain file)
  uint64_t duration_ticks = 0;  // sum of those samples' durations
};

struct Mp4Inspection {
  uint64_t file_bytes = 0;
  // Offset just past the last byte worth keeping: the end of the last complete moof+mdat pair
  // (or the whole file when it ends cleanly, e.g. with its mfra). Equal to file_bytes for a
  // file that was closed properly.
  uint64_t complete_bytes = 0;
  bool fragmented = false;     // has an mvex in moov / moof boxes
  bool has_moov = false;       // a complete, parsable moov was found
  int complete_fragments = 0;  // moof+mdat pairs wholly inside complete_bytes
  bool truncated = false;      // complete_bytes < file_bytes: a torn tail exists
  std::vector<Mp4Track> tracks;

  // The first "vide" track's sample count and duration in nanoseconds (0 if none).
  int64_t video_frames() const;
  int64_t video_duration_ns() const;
};

// Measures a file. Fails only when the file cannot be read or does not start with an ftyp box;
// a torn tail is reported through `truncated`, not as an error.
base::Result<Mp4Inspection> InspectMp4(base::Env& env, const std::string& path);

// Cuts a file back to `inspection.complete_bytes` (when it is shorter than the file) and fsyncs
// it. Returns the inspection of the result.
base::Result<Mp4Inspection> TruncateToCompleteFragments(base::Env& env, const std::string& path);

}  // namespace patrolrec::storage
