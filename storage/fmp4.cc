// Measures MP4 files written by mp4mux (fragmented: ftyp, moov, moof+mdat pairs, optional mfra)
// so that a file torn by a crash can be cut back to something that plays. The invariant: every
// byte below `complete_bytes` belongs to a well-formed top-level box, every moof below it is
// followed by its whole mdat and references no sample byte beyond it, and the sample counts and
// durations reported are those of exactly those bytes. The file is never trusted: only box
// headers and the (capped) bodies of moov and moof are read, through bounds-checked readers.
#include "storage/fmp4.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace patrolrec::storage {
namespace {

using base::Result;
using base::Status;

// moov and moof hold only sample tables; anything larger is corruption, not a movie, and must
// not make us allocate gigabytes.
constexpr uint64_t kMaxMetadataBoxBytes = uint64_t{64} << 20;
// Largest box header: 32-bit size, type, 64-bit largesize. ('uuid' boxes add 16 bytes of
// extended type, which belong to the body for our purposes.)
constexpr uint64_t kMaxBoxHeaderBytes = 16;

// tfhd flags.
constexpr uint32_t kTfhdBaseDataOffset = 0x1;
constexpr uint32_t kTfhdSampleDescriptionIndex = 0x2;
constexpr uint32_t kTfhdDefaultSampleDuration = 0x8;
constexpr uint32_t kTfhdDefaultSampleSize = 0x10;
constexpr uint32_t kTfhdDefaultSampleFlags = 0x20;
constexpr uint32_t kTfhdDefaultBaseIsMoof = 0x20000;
// trun flags.
constexpr uint32_t kTrunDataOffset = 0x1;
constexpr uint32_t kTrunFirstSampleFlags = 0x4;
constexpr uint32_t kTrunSampleDuration = 0x100;
constexpr uint32_t kTrunSampleSize = 0x200;
constexpr uint32_t kTrunSampleFlags = 0x400;
constexpr uint32_t kTrunSampleCompositionTimeOffset = 0x800;

using Uint128 = unsigned __int128;
using Int128 = __int128;

uint64_t SaturatingAdd(uint64_t a, Uint128 b) {
  const Uint128 sum = Uint128{a} + b;
  return sum > std::numeric_limits<uint64_t>::max() ? std::numeric_limits<uint64_t>::max()
                                                    : static_cast<uint64_t>(sum);
}

// Big-endian reads over a byte span; every read fails instead of running past the end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }

  bool Skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += static_cast<size_t>(n);
    return true;
  }
  bool U32(uint32_t* value) { return Unsigned(4, value); }
  bool U64(uint64_t* value) { return Unsigned(8, value); }
  bool FourCc(std::string* value) {
    if (remaining() < 4) return false;
    *value = std::string(bytes_.substr(pos_, 4));
    pos_ += 4;
    return true;
  }
  // FullBox header: 8-bit version, 24-bit flags.
  bool VersionAndFlags(uint32_t* version, uint32_t* flags) {
    uint32_t word = 0;
    if (!U32(&word)) return false;
    *version = word >> 24;
    *flags = word & 0xffffff;
    return true;
  }

 private:
  template <typename T>
  bool Unsigned(size_t n, T* value) {
    if (remaining() < n) return false;
    T v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + i]);
    pos_ += n;
    *value = v;
    return true;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

struct BoxHeader {
  std::string type;
  uint64_t header_bytes = 0;
  uint64_t total_bytes = 0;  // header included
  uint64_t body_bytes() const { return total_bytes - header_bytes; }
};

// Parses the header at the start of `bytes` for a box that may extend at most `room_bytes`
// (the rest of its container or file). `bytes` holds min(16, room_bytes) bytes or fewer if they
// could not be read. Returns nothing when the header is cut short, its size is impossible, or
// the box would overrun its room — all of which mean "not a whole box here".
std::optional<BoxHeader> ParseBoxHeader(std::string_view bytes, uint64_t room_bytes) {
  Reader reader(bytes);
  BoxHeader header;
  uint32_t size32 = 0;
  if (!reader.U32(&size32) || !reader.FourCc(&header.type)) return std::nullopt;
  header.header_bytes = 8;
  if (size32 == 1) {
    uint64_t largesize = 0;
    if (!reader.U64(&largesize)) return std::nullopt;
    header.header_bytes = 16;
    header.total_bytes = largesize;
  } else if (size32 == 0) {
    header.total_bytes = room_bytes;  // "extends to the end of the file (or container)"
  } else {
    header.total_bytes = size32;
  }
  if (header.total_bytes < header.header_bytes) return std::nullopt;  // size 2..7, largesize < 16
  if (header.total_bytes > room_bytes) return std::nullopt;           // torn or lying
  return header;
}

// Top-level box types are four printable ASCII characters; zeros or noise there (a zero-filled
// tail after a power cut, say) are not a box even if the size field happens to fit.
bool IsPrintableFourCc(const std::string& type) {
  return type.size() == 4 &&
         std::all_of(type.begin(), type.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

std::string QuoteFourCc(std::string_view type) {
  std::string quoted = "'";
  for (char c : type) {
    if (c >= 0x20 && c <= 0x7e && c != '\'' && c != '\\') {
      quoted += c;
    } else {
      static const char kHex[] = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(c);
      quoted += "\\x";
      quoted += kHex[byte >> 4];
      quoted += kHex[byte & 0xf];
    }
  }
  return quoted + "'";
}

// Calls visit(type, body) for each child box of a container body; false when a child is
// malformed or overruns the container, or visit returns false. A few zero bytes after the last
// child are tolerated (some writers pad containers with a 32-bit zero terminator).
template <typename Visit>
bool ForEachChild(std::string_view body, Visit&& visit) {
  size_t pos = 0;
  while (pos < body.size()) {
    const std::string_view rest = body.substr(pos);
    if (rest.size() < 8 && rest.find_first_not_of('\0') == std::string_view::npos) return true;
    const std::optional<BoxHeader> header =
        ParseBoxHeader(rest.substr(0, kMaxBoxHeaderBytes), rest.size());
    if (!header) return false;
    const auto header_bytes = static_cast<size_t>(header->header_bytes);
    const auto total_bytes = static_cast<size_t>(header->total_bytes);
    if (!visit(header->type, rest.substr(header_bytes, total_bytes - header_bytes))) return false;
    pos += total_bytes;
  }
  return true;
}

// Finds the first child of the given type; nothing if absent or the container is malformed.
std::optional<std::string_view> FindChild(std::string_view body, std::string_view type) {
  std::optional<std::string_view> found;
  const bool ok = ForEachChild(body, [&](const std::string& child, std::string_view child_body) {
    if (!found && child == type) found = child_body;
    return true;
  });
  if (!ok) return std::nullopt;
  return found;
}

struct TrexDefaults {
  uint32_t sample_duration = 0;
  uint32_t sample_size = 0;
};

struct MoovInfo {
  std::vector<Mp4Track> tracks;
  std::map<uint32_t, TrexDefaults> trex_by_track_id;
  bool has_mvex = false;
};

bool ParseTkhd(std::string_view body, uint32_t* track_id) {
  Reader reader(body);
  uint32_t version = 0;
  uint32_t flags = 0;
  if (!reader.VersionAndFlags(&version, &flags)) return false;
  // creation_time and modification_time are 32 bits in version 0, 64 bits in version 1.
  if (version > 1 || !reader.Skip(version == 1 ? 16 : 8)) return false;
  return reader.U32(track_id);
}

bool ParseMdhd(std::string_view body, uint32_t* timescale) {
  Reader reader(body);
  uint32_t version = 0;
  uint32_t flags = 0;
  if (!reader.VersionAndFlags(&version, &flags)) return false;
  if (version > 1 || !reader.Skip(version == 1 ? 16 : 8)) return false;
  return reader.U32(timescale);
}

bool ParseHdlr(std::string_view body, std::string* handler) {
  Reader reader(body);
  uint32_t version = 0;
  uint32_t flags = 0;
  return reader.VersionAndFlags(&version, &flags) && reader.Skip(4) /* pre_defined */ &&
         reader.FourCc(handler);
}

// Samples listed in moov itself (the whole movie for a plain file; none for mp4mux's fragmented
// output, whose stts is empty).
bool ParseStts(std::string_view body, Mp4Track* track) {
  Reader reader(body);
  uint32_t version = 0;
  uint32_t flags = 0;
  uint32_t entry_count = 0;
  if (!reader.VersionAndFlags(&version, &flags) || !reader.U32(&entry_count)) return false;
  if (uint64_t{entry_count} * 8 > reader.remaining()) return false;
  for (uint32_t i = 0; i < entry_count; ++i) {
    uint32_t sample_count = 0;
    uint32_t sample_delta = 0;
    if (!reader.U32(&sample_count) || !reader.U32(&sample_delta)) return false;
    track->samples = SaturatingAdd(track->samples, sample_count);
    track->duration_ticks =
        SaturatingAdd(track->duration_ticks, Uint128{sample_count} * sample_delta);
  }
  return true;
}

bool ParseTrak(std::string_view body, Mp4Track* track) {
  const std::optional<std::string_view> tkhd = FindChild(body, "tkhd");
  if (!tkhd || !ParseTkhd(*tkhd, &track->track_id)) return false;
  const std::optional<std::string_view> mdia = FindChild(body, "mdia");
  if (!mdia) return false;
  const std::optional<std::string_view> mdhd = FindChild(*mdia, "mdhd");
  if (!mdhd || !ParseMdhd(*mdhd, &track->timescale)) return false;
  const std::optional<std::string_view> hdlr = FindChild(*mdia, "hdlr");
  if (!hdlr || !ParseHdlr(*hdlr, &track->handler)) return false;
  // A track without sample tables simply has no samples in moov.
  const std::optional<std::string_view> minf = FindChild(*mdia, "minf");
  if (!minf) return true;
  const std::optional<std::string_view> stbl = FindChild(*minf, "stbl");
  if (!stbl) return true;
  const std::optional<std::string_view> stts = FindChild(*stbl, "stts");
  return !stts || ParseStts(*stts, track);
}

bool ParseTrex(std::string_view body, MoovInfo* moov) {
  Reader reader(body);
  uint32_t version = 0;
  uint32_t flags = 0;
  uint32_t track_id = 0;
  TrexDefaults defaults;
  if (!reader.VersionAndFlags(&version, &flags) || !reader.U32(&track_id) ||
      !reader.Skip(4) /* default_sample_description_index */ ||
      !reader.U32(&defaults.sample_duration) || !reader.U32(&defaults.sample_size)) {
    return false;
  }
  moov->trex_by_track_id[track_id] = defaults;
  return true;
}

bool ParseMoov(std::string_view body, MoovInfo* moov) {
  const bool ok = ForEachChild(body, [&](const std::string& type, std::string_view child) {
    if (type == "trak") {
      Mp4Track track;
      if (!ParseTrak(child, &track)) return false;
      for (const Mp4Track& other : moov->tracks) {
        if (other.track_id == track.track_id) return false;  // fragments could not be assigned
      }
      moov->tracks.push_back(std::move(track));
    } else if (type == "mvex") {
      moov->has_mvex = true;
      return ForEachChild(child, [&](const std::string& mvex_type, std::string_view mvex_child) {
        return mvex_type != "trex" || ParseTrex(mvex_child, moov);
      });
    }
    return true;
  });
  return ok && !moov->tracks.empty();
}

// What one traf adds to a track.
struct TrackAddition {
  size_t track_index = 0;
  uint64_t samples = 0;
  uint64_t duration_ticks = 0;
};

// What one moof adds, and how far into the file its sample data reaches.
struct FragmentInfo {
  std::vector<TrackAddition> additions;
  Uint128 data_end = 0;  // one past the last sample byte any trun references
};

struct Tfhd {
  uint32_t flags = 0;
  uint32_t track_id = 0;
  uint64_t base_data_offset = 0;
  uint32_t default_sample_duration = 0;
  uint32_t default_sample_size = 0;
};

bool ParseTfhd(std::string_view body, Tfhd* tfhd) {
  Reader reader(body);
  uint32_t version = 0;
  if (!reader.VersionAndFlags(&version, &tfhd->flags) || !reader.U32(&tfhd->track_id)) {
    return false;
  }
  if ((tfhd->flags & kTfhdBaseDataOffset) && !reader.U64(&tfhd->base_data_offset)) return false;
  if ((tfhd->flags & kTfhdSampleDescriptionIndex) && !reader.Skip(4)) return false;
  if ((tfhd->flags & kTfhdDefaultSampleDuration) && !reader.U32(&tfhd->default_sample_duration)) {
    return false;
  }
  if ((tfhd->flags & kTfhdDefaultSampleSize) && !reader.U32(&tfhd->default_sample_size)) {
    return false;
  }
  if ((tfhd->flags & kTfhdDefaultSampleFlags) && !reader.Skip(4)) return false;
  return true;
}

struct TrunTotals {
  uint64_t samples = 0;
  Uint128 duration_ticks = 0;
  Uint128 data_bytes = 0;
  bool has_data_offset = false;
  int32_t data_offset = 0;
};

bool ParseTrun(std::string_view body, uint32_t default_duration, uint32_t default_size,
               TrunTotals* totals) {
  Reader reader(body);
  uint32_t version = 0;
  uint32_t flags = 0;
  uint32_t sample_count = 0;
  if (!reader.VersionAndFlags(&version, &flags) || version > 1 || !reader.U32(&sample_count)) {
    return false;
  }
  if (flags & kTrunDataOffset) {
    uint32_t raw = 0;
    if (!reader.U32(&raw)) return false;
    totals->has_data_offset = true;
    totals->data_offset = static_cast<int32_t>(raw);
  }
  if ((flags & kTrunFirstSampleFlags) && !reader.Skip(4)) return false;
  totals->samples = sample_count;

  const bool has_duration = flags & kTrunSampleDuration;
  const bool has_size = flags & kTrunSampleSize;
  const uint64_t per_sample_bytes =
      4 * (uint64_t{has_duration} + uint64_t{has_size} + uint64_t{(flags & kTrunSampleFlags) != 0} +
           uint64_t{(flags & kTrunSampleCompositionTimeOffset) != 0});
  // The table must fit in the box; this also bounds the loop below by the box size, so a
  // hostile sample_count cannot make us spin.
  if (uint64_t{sample_count} * per_sample_bytes > reader.remaining()) return false;
  if (!has_duration) totals->duration_ticks = Uint128{sample_count} * default_duration;
  if (!has_size) totals->data_bytes = Uint128{sample_count} * default_size;
  if (!has_duration && !has_size) return true;
  for (uint32_t i = 0; i < sample_count; ++i) {
    uint32_t value = 0;
    if (has_duration) {
      if (!reader.U32(&value)) return false;
      totals->duration_ticks += value;
    }
    if (has_size) {
      if (!reader.U32(&value)) return false;
      totals->data_bytes += value;
    }
    if (!reader.Skip(per_sample_bytes - 4 * (uint64_t{has_duration} + uint64_t{has_size}))) {
      return false;
    }
  }
  return true;
}

// Parses one traf. `base_default` is where its data starts when tfhd gives no base (the moof
// for the first traf, the end of the previous traf's data after that); on success it is moved
// to the end of this traf's data.
bool ParseTraf(std::string_view body, uint64_t moof_offset, const MoovInfo& moov,
               Int128* base_default, FragmentInfo* fragment) {
  std::optional<std::string_view> tfhd_body = FindChild(body, "tfhd");
  Tfhd tfhd;
  if (!tfhd_body || !ParseTfhd(*tfhd_body, &tfhd)) return false;
  size_t track_index = moov.tracks.size();
  for (size_t i = 0; i < moov.tracks.size(); ++i) {
    if (moov.tracks[i].track_id == tfhd.track_id) track_index = i;
  }
  if (track_index == moov.tracks.size()) return false;  // a fragment of no known track

  // Defaults: tfhd's if present, else the track's trex.
  TrexDefaults defaults;
  if (auto trex = moov.trex_by_track_id.find(tfhd.track_id); trex != moov.trex_by_track_id.end()) {
    defaults = trex->second;
  }
  if (tfhd.flags & kTfhdDefaultSampleDuration)
    defaults.sample_duration = tfhd.default_sample_duration;
  if (tfhd.flags & kTfhdDefaultSampleSize) defaults.sample_size = tfhd.default_sample_size;

  Int128 base = *base_default;
  if (tfhd.flags & kTfhdBaseDataOffset) {
    base = tfhd.base_data_offset;
  } else if (tfhd.flags & kTfhdDefaultBaseIsMoof) {
    base = moof_offset;
  }

  uint64_t samples = 0;
  Uint128 duration_ticks = 0;
  Int128 data_cursor = base;  // a trun without data-offset continues after the previous one
  const bool ok = ForEachChild(body, [&](const std::string& type, std::string_view child) {
    if (type != "trun") return true;
    TrunTotals run;
    if (!ParseTrun(child, defaults.sample_duration, defaults.sample_size, &run)) return false;
    const Int128 start = run.has_data_offset ? base + run.data_offset : data_cursor;
    if (start < 0) return false;
    data_cursor = start + static_cast<Int128>(run.data_bytes);
    fragment->data_end = std::max(fragment->data_end, static_cast<Uint128>(data_cursor));
    samples = SaturatingAdd(samples, run.samples);
    duration_ticks += run.duration_ticks;
    return true;
  });
  if (!ok) return false;
  fragment->additions.push_back({track_index, samples, SaturatingAdd(0, duration_ticks)});
  *base_default = data_cursor;
  return true;
}

bool ParseMoof(std::string_view body, uint64_t moof_offset, const MoovInfo& moov,
               FragmentInfo* fragment) {
  Int128 base_default = moof_offset;
  bool has_traf = false;
  const bool ok = ForEachChild(body, [&](const std::string& type, std::string_view child) {
    if (type != "traf") return true;
    has_traf = true;
    return ParseTraf(child, moof_offset, moov, &base_default, fragment);
  });
  return ok && has_traf;
}

// Walks the top-level boxes of one file.
class Inspector {
 public:
  Inspector(const std::string& path, const base::RandomAccessFile& file, uint64_t file_bytes)
      : path_(path), file_(file), file_bytes_(file_bytes) {}

  Result<Mp4Inspection> Run() {
    Mp4Inspection inspection;
    inspection.file_bytes = file_bytes_;
    Status first = CheckStartsWithFtyp();
    if (!first.ok()) return first;

    MoovInfo moov;
    uint64_t good_end_bytes = 0;  // everything before this is whole, well-formed boxes
    uint64_t offset = 0;
    while (offset < file_bytes_) {
      Result<std::optional<BoxHeader>> header = ReadTopLevelHeader(offset);
      if (!header.ok()) return header.status();
      if (!*header) break;  // torn or garbage: the end of what is worth keeping
      const BoxHeader& box = **header;
      uint64_t box_end = offset + box.total_bytes;

      if (box.type == "ftyp") {
        if (offset != 0) break;  // a second file glued on, not part of this one
      } else if (box.type == "moov") {
        if (inspection.has_moov || box.body_bytes() > kMaxMetadataBoxBytes) break;
        Result<std::string> body = ReadBody(offset, box);
        if (!body.ok()) return body.status();
        if (body->size() != box.body_bytes() || !ParseMoov(*body, &moov)) break;
        inspection.has_moov = true;
        inspection.fragmented = inspection.fragmented || moov.has_mvex;
        inspection.tracks = moov.tracks;
      } else if (box.type == "moof") {
        // Without a moov the samples cannot be attributed to tracks nor the file played.
        if (!inspection.has_moov || box.body_bytes() > kMaxMetadataBoxBytes) break;
        inspection.fragmented = true;
        Result<std::optional<uint64_t>> fragment_end = ReadFragment(offset, box, moov, &inspection);
        if (!fragment_end.ok()) return fragment_end.status();
        if (!*fragment_end) break;
        box_end = **fragment_end;
        ++inspection.complete_fragments;
      }
      // Any other whole box (mdat of a plain file, free, skip, udta, mfra, ...) is kept as is.
      good_end_bytes = box_end;
      offset = box_end;
    }
    inspection.complete_bytes = good_end_bytes;
    inspection.truncated = good_end_bytes < file_bytes_;
    return inspection;
  }

 private:
  Status CheckStartsWithFtyp() {
    if (file_bytes_ == 0) return Status::Error(path_ + ": not an MP4 file (it is empty)");
    Result<std::string> bytes = file_.ReadAt(0, 8);
    if (!bytes.ok()) return bytes.status();
    if (bytes->size() < 8) {
      return Status::Error(path_ + ": not an MP4 file (" + std::to_string(bytes->size()) +
                           " bytes, too short for a box header)");
    }
    const std::string_view type = std::string_view(*bytes).substr(4, 4);
    if (type != "ftyp") {
      return Status::Error(path_ + ": not an MP4 file (first box is " + QuoteFourCc(type) +
                           ", expected 'ftyp')");
    }
    return Status::Ok();
  }

  // The header of the box at `offset` if a whole, plausible box starts there; nothing if the
  // file ends inside it or the bytes there are not a box.
  Result<std::optional<BoxHeader>> ReadTopLevelHeader(uint64_t offset) {
    if (offset >= file_bytes_) return std::optional<BoxHeader>();
    const uint64_t room_bytes = file_bytes_ - offset;
    Result<std::string> bytes =
        file_.ReadAt(offset, static_cast<size_t>(std::min(room_bytes, kMaxBoxHeaderBytes)));
    if (!bytes.ok()) return bytes.status();
    std::optional<BoxHeader> header = ParseBoxHeader(*bytes, room_bytes);
    if (header && !IsPrintableFourCc(header->type)) header.reset();
    return header;
  }

  Result<std::string> ReadBody(uint64_t offset, const BoxHeader& box) {
    return file_.ReadAt(offset + box.header_bytes, static_cast<size_t>(box.body_bytes()));
  }

  // Reads the moof at `offset` and the mdat after it. Returns the end of that mdat when the pair
  // is complete (and adds its samples to `inspection`), nothing when it is not.
  Result<std::optional<uint64_t>> ReadFragment(uint64_t offset, const BoxHeader& moof,
                                               const MoovInfo& moov, Mp4Inspection* inspection) {
    const std::optional<uint64_t> incomplete;
    Result<std::string> body = ReadBody(offset, moof);
    if (!body.ok()) return body.status();
    FragmentInfo fragment;
    if (body->size() != moof.body_bytes() || !ParseMoof(*body, offset, moov, &fragment)) {
      return incomplete;
    }
    const uint64_t mdat_offset = offset + moof.total_bytes;
    Result<std::optional<BoxHeader>> mdat = ReadTopLevelHeader(mdat_offset);
    if (!mdat.ok()) return mdat.status();
    if (!*mdat || (*mdat)->type != "mdat") return incomplete;
    const uint64_t mdat_end = mdat_offset + (*mdat)->total_bytes;
    // Sample bytes past the mdat would be lost by cutting here (or are a lie in the moof).
    if (fragment.data_end > mdat_end) return incomplete;
    for (const TrackAddition& added : fragment.additions) {
      Mp4Track& track = inspection->tracks[added.track_index];
      track.samples = SaturatingAdd(track.samples, added.samples);
      track.duration_ticks = SaturatingAdd(track.duration_ticks, added.duration_ticks);
    }
    return std::optional<uint64_t>(mdat_end);
  }

  const std::string& path_;
  const base::RandomAccessFile& file_;
  const uint64_t file_bytes_;
};

const Mp4Track* FirstVideoTrack(const std::vector<Mp4Track>& tracks) {
  for (const Mp4Track& track : tracks) {
    if (track.handler == "vide") return &track;
  }
  return nullptr;
}

}  // namespace

int64_t Mp4Inspection::video_frames() const {
  const Mp4Track* video = FirstVideoTrack(tracks);
  if (!video) return 0;
  return static_cast<int64_t>(
      std::min<uint64_t>(video->samples, std::numeric_limits<int64_t>::max()));
}

int64_t Mp4Inspection::video_duration_ns() const {
  const Mp4Track* video = FirstVideoTrack(tracks);
  if (!video || video->timescale == 0) return 0;
  const Uint128 ns = Uint128{video->duration_ticks} * 1'000'000'000u / video->timescale;
  return static_cast<int64_t>(
      std::min<Uint128>(ns, static_cast<Uint128>(std::numeric_limits<int64_t>::max())));
}

Result<Mp4Inspection> InspectMp4(base::Env& env, const std::string& path) {
  Result<std::unique_ptr<base::RandomAccessFile>> file = env.NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  Result<uint64_t> file_bytes = (*file)->Size();
  if (!file_bytes.ok()) return file_bytes.status();
  return Inspector(path, **file, *file_bytes).Run();
}

Result<Mp4Inspection> TruncateToCompleteFragments(base::Env& env, const std::string& path) {
  Result<Mp4Inspection> before = InspectMp4(env, path);
  if (!before.ok()) return before;
  // Without a complete moov nothing in the file can be made to play; cutting would only destroy
  // bytes (down to an empty file that is no longer recognisable as MP4), so leave them be.
  if (before->has_moov && before->truncated) {
    Status cut = env.Truncate(path, before->complete_bytes);
    if (!cut.ok()) return cut;
  }
  // Synced either way: the caller hashes and seals what is on disk next.
  Status synced = env.SyncFile(path);
  if (!synced.ok()) return synced;
  if (!before->has_moov || !before->truncated) return before;

  Result<Mp4Inspection> after = InspectMp4(env, path);
  if (!after.ok()) return after;
  if (after->truncated || after->complete_fragments != before->complete_fragments) {
    // Someone is still writing the file, or it changed under us: not safe to seal.
    return Status::Error(path + ": changed while being truncated to " +
                         std::to_string(before->complete_bytes) + " bytes (now " +
                         std::to_string(after->file_bytes) + " bytes)");
  }
  return after;
}

}  // namespace patrolrec::storage
