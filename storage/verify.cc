// The verifier walks segments/<camera>/ of a data directory: each seal on its own (parses, is
// signed by the key, matches its file's place, size and SHA-256, its chain value matches its
// body), then each camera's seals in sequence order (no sequence missing, every link intact,
// times in order, the signed chain head not ahead of the last seal), then the catalog against
// the seals. Every check that fails adds one problem naming the file and why; it never stops
// early, so one run lists everything wrong.
#include "storage/verify.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "base/clock.h"
#include "storage/catalog.h"
#include "storage/device_key.h"
#include "storage/seal.h"
#include "storage/segment_name.h"

namespace patrolrec::storage {
namespace {

constexpr char kPublicKeyName[] = "device.pub.pem";
constexpr char kCatalogName[] = "catalog.sqlite";
constexpr char kSegmentsDir[] = "segments";
// A seal or chain head is under 1 KiB; anything far larger was not written by a recorder and is
// not read into memory.
constexpr uint64_t kMaxSidecarBytes = uint64_t{64} * 1024;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Short(const std::string& hex) {
  return hex.size() > 16 ? hex.substr(0, 16) + "…" : hex;
}

// "segment 4" or "segments 4..6".
std::string SequenceRange(int64_t first, int64_t last) {
  if (first == last) return "segment " + std::to_string(first);
  return "segments " + std::to_string(first) + ".." + std::to_string(last);
}

// A gap is more than 1.5 frame periods of the earlier segment between its end and the next
// start: less than that is the rounding of frame timestamps, not missing time. With no frame
// count to go by, any positive gap counts, so that a gap is reported rather than hidden.
bool IsGap(const SegmentRecord& prev, const SegmentRecord& next) {
  const double gap_ns = static_cast<double>(next.start_utc_ns - prev.end_utc_ns);
  if (prev.frames <= 0 || prev.duration_ns <= 0) return gap_ns > 0;
  return gap_ns > 1.5 * static_cast<double>(prev.duration_ns) / static_cast<double>(prev.frames);
}

struct SealEntry {
  std::string location;  // where the segment file lies (the seal's path minus ".seal")
  SegmentRecord record;
};

std::string Seconds(int64_t ns);  // "10.000", below

class Verifier {
 public:
  Verifier(base::Env& env, const VerifyOptions& options, const VerifyProgressCallback& progress)
      : env_(env), options_(options), progress_(progress) {}

  base::Result<VerifyReport> Run() {
    auto listing = env_.ListDir(options_.data_dir);
    if (!listing.ok()) {
      return listing.status().Wrap("the data directory cannot be read (is it a directory?)");
    }
    base::Status s = LoadPublicKey();
    if (!s.ok()) return s;

    std::vector<std::string> cameras = ListCameras();
    Plan(cameras);
    for (const std::string& camera : cameras) CheckCamera(camera);
    CheckCatalog();
    CheckAbsentVideos();
    return std::move(report_);
  }

 private:
  std::string Path(const std::string& relative) const {
    return base::JoinPath(options_.data_dir, relative);
  }
  void Problem(const std::string& file, const std::string& reason) {
    report_.problems.push_back({file, reason});
  }
  void Note(const std::string& file, const std::string& reason) {
    report_.notes.push_back({file, reason});
  }

  base::Result<std::string> ReadSidecar(const std::string& relative) {
    auto size = env_.FileSize(Path(relative));
    if (!size.ok()) return size.status();
    if (*size > kMaxSidecarBytes) {
      return base::Status::Error(std::to_string(*size) + " bytes, far more than any seal");
    }
    return env_.ReadFile(Path(relative));
  }

  base::Status LoadPublicKey() {
    report_.public_key_from_data_dir = options_.public_key_path.empty();
    report_.public_key_source =
        report_.public_key_from_data_dir ? Path(kPublicKeyName) : options_.public_key_path;
    auto pem = env_.ReadFile(report_.public_key_source);
    if (!pem.ok()) {
      return pem.status().Wrap(
          "cannot read the device's public key; give it with --public-key FILE");
    }
    public_key_pem_ = *pem;
    report_.public_key_fingerprint = PublicKeyFingerprint(public_key_pem_);
    if (report_.public_key_fingerprint.empty()) {
      return base::Status::Error(report_.public_key_source +
                                 ": not a PEM Ed25519 public key (\"-----BEGIN PUBLIC KEY-----\")");
    }
    if (report_.public_key_from_data_dir) {
      Note(kPublicKeyName,
           "the public key was taken from the data directory itself, which proves only that the "
           "directory is consistent with itself: compare fingerprint " +
               report_.public_key_fingerprint +
               " with the one registered for the device, or pass --public-key FILE");
    }
    return base::Status::Ok();
  }

  std::vector<std::string> ListCameras() {
    std::vector<std::string> cameras;
    if (!env_.Exists(Path(kSegmentsDir))) {
      Note(kSegmentsDir, "no segments directory: nothing was recorded here");
      return cameras;
    }
    auto names = env_.ListDir(Path(kSegmentsDir));
    if (!names.ok()) {
      Problem(kSegmentsDir, "cannot list: " + names.message());
      return cameras;
    }
    for (const std::string& name : *names) {
      const std::string relative = std::string(kSegmentsDir) + "/" + name;
      auto entries = env_.ListDir(Path(relative));
      if (!entries.ok()) {
        Note(relative, "not a camera directory, ignored");
        continue;
      }
      if (!IsValidCameraName(name)) {
        Problem(relative, "not a valid camera name (a-z, 0-9, -): not written by a recorder");
      }
      camera_entries_[name] = std::move(*entries);
      cameras.push_back(name);
    }
    return cameras;
  }

  // Counts the work ahead, for progress reports.
  void Plan(const std::vector<std::string>& cameras) {
    for (const std::string& camera : cameras) {
      for (const std::string& name : camera_entries_[camera]) {
        if (!EndsWith(name, ".mp4.seal")) continue;
        ++progress_state_.seals_total;
        std::string segment = Path(CameraDir(camera) + "/" + name.substr(0, name.size() - 5));
        for (const std::string& file : {segment, TrackPathFor(segment)}) {
          auto size = env_.FileSize(file);
          if (size.ok()) progress_state_.bytes_total += static_cast<int64_t>(*size);
        }
      }
    }
  }

  void CheckCamera(const std::string& camera) {
    const std::string dir = CameraDir(camera);
    const std::vector<std::string>& names = camera_entries_[camera];
    const std::set<std::string> present(names.begin(), names.end());
    std::vector<SealEntry> seals;
    bool has_head = false;
    for (const std::string& name : names) {
      const std::string relative = base::JoinPath(dir, name);
      if (EndsWith(name, ".mp4.seal")) {
        seen_seals_.insert(relative.substr(0, relative.size() - 5));
        if (auto entry = CheckSeal(relative)) seals.push_back(std::move(*entry));
      } else if (EndsWith(name, ".mp4")) {
        seen_segments_.insert(relative);
        if (!present.count(name + ".seal")) {
          Problem(relative,
                  "unsealed file: no seal beside it (not sealed by the recorder, or added later)");
        }
      } else if (EndsWith(name, ".mp4.gpx")) {
        // Checked with its seal; without one, nothing vouches for it.
        const std::string seal = name.substr(0, name.size() - 4) + ".seal";
        if (!present.count(seal)) {
          Problem(relative,
                  "unsealed file: no seal names this track (not written by the recorder, or "
                  "added later)");
        }
      } else if (name == "chain-head") {
        has_head = true;
      } else if (EndsWith(name, ".tmp")) {
        Note(relative, "left-over temporary file of an interrupted write; ignored");
      } else {
        Note(relative, "unexpected file; ignored");
      }
    }
    std::sort(seals.begin(), seals.end(), [](const SealEntry& a, const SealEntry& b) {
      return a.record.sequence != b.record.sequence ? a.record.sequence < b.record.sequence
                                                    : a.location < b.location;
    });
    CameraSummary summary;
    summary.camera = camera;
    CheckChain(seals, &summary);
    CheckChainHead(camera, has_head, seals);
    report_.cameras.push_back(std::move(summary));
  }

  // Checks one seal and its segment file; returns the record when the seal could be parsed, so
  // that it takes part in the chain checks even if it failed others.
  std::optional<SealEntry> CheckSeal(const std::string& seal_relative) {
    const std::string location = seal_relative.substr(0, seal_relative.size() - 5);
    std::optional<SealEntry> entry;
    ++report_.files_checked;
    auto text = ReadSidecar(seal_relative);
    if (!text.ok()) {
      Problem(seal_relative, "cannot read the seal: " + text.message());
    } else if (auto parsed = ParseSealFile(*text); !parsed.ok()) {
      Problem(seal_relative, "the seal is malformed: " + parsed.message());
    } else {
      entry = SealEntry{location, std::move(*parsed)};
      CheckSealContents(entry->location, entry->record);
      CheckTrack(entry->location, entry->record);
      sealed_[location] = entry->record;
    }
    progress_state_.seals_done++;
    progress_state_.file = location;
    if (progress_) progress_(progress_state_);
    return entry;
  }

  void CheckSealContents(const std::string& location, const SegmentRecord& r) {
    if (device_id_.empty()) device_id_ = r.device_id;
    if (r.device_id != device_id_) {
      Problem(location, "sealed by device \"" + r.device_id +
                            "\", but the other seals are from \"" + device_id_ + "\"");
    }
    if (r.file != location) {
      Problem(location, "the seal names file \"" + r.file +
                            "\" but lies beside this one: a seal was moved or renamed");
    }
    // The name carries device and camera too (not the sequence, which is given at sealing).
    if (auto name = ParseSegmentName(base::BaseName(location))) {
      if (name->camera != r.camera || name->device_id != r.device_id) {
        Problem(location, "the file name says device " + name->device_id + ", camera " +
                              name->camera + "; the seal says " + r.device_id + ", " + r.camera);
      }
    }
    if (r.end_utc_ns < r.start_utc_ns) {
      Problem(location, "ends (" + base::FormatUtcNs(r.end_utc_ns) + ") before it starts (" +
                            base::FormatUtcNs(r.start_utc_ns) + ")");
    }

    auto signature = Base64Decode(r.signature_b64);  // cannot fail: the seal parsed
    auto valid = VerifyEd25519(public_key_pem_, FormatSealSignedText(r),
                               signature.ok() ? *signature : std::string());
    if (!valid.ok()) {
      Problem(location, "cannot check the signature: " + valid.message());
    } else if (!*valid) {
      Problem(location, "signature does not verify with key " +
                            Short(report_.public_key_fingerprint) +
                            ": the seal was altered after signing, or signed by another key");
    }
    const std::string body_hash = Sha256Hex(FormatSealBody(r));
    if (body_hash != r.chain_hex) {
      Problem(location, "chain value does not match the seal's contents (seal says " + r.chain_hex +
                            ", lines 1-" + std::to_string(kSealBodyLines) + " hash to " +
                            body_hash + "): the seal was altered");
    }

    const std::string path = Path(location);
    if (!env_.Exists(path)) {
      // Evicted after a verified upload (the catalog says so) or deleted: decided once the
      // catalog is read, in CheckAbsentVideos.
      absent_videos_.insert(location);
      return;
    }
    ++report_.files_checked;
    auto size = env_.FileSize(path);
    if (!size.ok()) {
      Problem(location, "cannot measure the file: " + size.message());
      return;
    }
    if (static_cast<int64_t>(*size) != r.bytes) {
      Problem(location, "size mismatch (seal says " + std::to_string(r.bytes) +
                            " bytes, file has " + std::to_string(*size) + ")");
      return;
    }
    auto hash = Sha256File(env_, path);
    if (!hash.ok()) {
      Problem(location, "cannot hash the file: " + hash.message());
      return;
    }
    report_.bytes_hashed += static_cast<int64_t>(*size);
    progress_state_.bytes_done += static_cast<int64_t>(*size);
    if (*hash != r.sha256_hex) {
      Problem(location, "sha256 mismatch (seal says " + r.sha256_hex + ", file is " + *hash + ")");
    }
  }

  // The segment's GPS track: beside it, hashing to what the seal says. (The parser already
  // checked that the seal names <file>.gpx.)
  void CheckTrack(const std::string& location, const SegmentRecord& r) {
    const std::string track = TrackPathFor(location);
    const std::string path = Path(track);
    if (!env_.Exists(path)) {
      Problem(track, "track file missing: the seal names it but it does not exist");
      return;
    }
    ++report_.files_checked;
    auto hash = Sha256File(env_, path);
    if (!hash.ok()) {
      Problem(track, "cannot hash the track file: " + hash.message());
      return;
    }
    if (auto size = env_.FileSize(path); size.ok()) {
      report_.bytes_hashed += static_cast<int64_t>(*size);
      progress_state_.bytes_done += static_cast<int64_t>(*size);
    }
    if (*hash != r.track_sha256_hex) {
      Problem(track, "SHA-256 mismatch (seal says " + r.track_sha256_hex + ", file is " + *hash +
                         "): the track was altered or replaced");
    }
  }

  // The links between consecutive seals of one camera, and what they cover.
  void CheckChain(const std::vector<SealEntry>& seals, CameraSummary* summary) {
    const SealEntry* prev = nullptr;
    for (const SealEntry& entry : seals) {
      const SegmentRecord& r = entry.record;
      if (prev && r.sequence == prev->record.sequence) {
        Problem(entry.location, "sequence " + std::to_string(r.sequence) +
                                    " is claimed by two seals: " + prev->location + " and " +
                                    entry.location);
        continue;  // the first one stays in the chain; this one cannot also be there
      }
      if (!prev && options_.excerpt) {
        auto it = options_.excerpts.find(summary->camera);
        if (it == options_.excerpts.end()) {
          Problem(entry.location, "camera " + summary->camera +
                                      " is not in the package's signed statement: added later");
        } else if (r.sequence != it->second.first_sequence) {
          Problem(entry.location,
                  "the package starts camera " + summary->camera + " at sequence " +
                      std::to_string(r.sequence) + " but the signed statement at " +
                      std::to_string(it->second.first_sequence) + ": " +
                      SequenceRange(it->second.first_sequence, r.sequence - 1) +
                      " dropped from the package");
        } else if (r.prev_chain_hex != it->second.first_prev_chain_hex) {
          Problem(entry.location,
                  "prev_chain differs from the signed statement's: not the excerpt exported");
        }
        summary->first_sequence = r.sequence;
        summary->ranges.push_back({r.start_utc_ns, r.end_utc_ns});
      } else if (!prev) {
        if (r.sequence != 1) {
          Problem(entry.location, SequenceRange(1, r.sequence - 1) +
                                      " missing before this one (sequences start at 1)");
        } else if (r.prev_chain_hex != kGenesisChainHex) {
          Problem(entry.location,
                  "the first segment's prev_chain is not 64 zeros: the chain does not start here");
        }
        summary->first_sequence = r.sequence;
        summary->ranges.push_back({r.start_utc_ns, r.end_utc_ns});
      } else {
        const SegmentRecord& p = prev->record;
        if (r.sequence != p.sequence + 1) {
          Problem(entry.location, SequenceRange(p.sequence + 1, r.sequence - 1) +
                                      " missing between " + prev->location + " and " +
                                      entry.location);
        } else if (r.prev_chain_hex != p.chain_hex) {
          Problem(entry.location, "chain broken between " + prev->location + " and " +
                                      entry.location +
                                      ": a segment is missing, reordered or replaced");
        }
        if (r.start_utc_ns < p.start_utc_ns) {
          Problem(entry.location, "starts at " + base::FormatUtcNs(r.start_utc_ns) +
                                      ", before the previous segment " + prev->location + " (" +
                                      base::FormatUtcNs(p.start_utc_ns) + ")");
        }
        if (IsGap(p, r)) {
          CoverageGap gap;
          gap.after_file = prev->location;
          gap.before_file = entry.location;
          gap.from_utc_ns = p.end_utc_ns;
          gap.to_utc_ns = r.start_utc_ns;
          summary->gaps.push_back(std::move(gap));
          summary->ranges.push_back({r.start_utc_ns, r.end_utc_ns});
        } else {
          TimeRange& range = summary->ranges.back();
          range.end_utc_ns = std::max(range.end_utc_ns, r.end_utc_ns);
        }
      }
      ++summary->segments;
      summary->seals.push_back(r);
      summary->last_sequence = r.sequence;
      prev = &entry;
    }
  }

  void CheckChainHead(const std::string& camera, bool has_head,
                      const std::vector<SealEntry>& seals) {
    const std::string relative = ChainHeadPath(camera);
    if (options_.excerpt) {
      auto it = options_.excerpts.find(camera);
      if (it == options_.excerpts.end()) return;  // CheckChain said so
      const ChainExcerpt& want = it->second;
      if (seals.empty() || seals.back().record.sequence != want.last_sequence ||
          seals.back().record.chain_hex != want.last_chain_hex) {
        const int64_t last = seals.empty() ? want.first_sequence - 1 : seals.back().record.sequence;
        Problem(CameraDir(camera),
                "the signed statement ends camera " + camera + " at sequence " +
                    std::to_string(want.last_sequence) + ", the package at " +
                    std::to_string(last) +
                    (last < want.last_sequence
                         ? ": " + SequenceRange(last + 1, want.last_sequence) +
                               " dropped from the package"
                         : ": not the excerpt exported"));
      }
      if (has_head) Note(relative, "a chain head in an export package is not checked");
      return;
    }
    if (!has_head) {
      if (!seals.empty()) {
        Problem(relative,
                "chain-head missing: deletion of the newest segments could not be detected");
      }
      return;
    }
    ++report_.files_checked;
    auto text = ReadSidecar(relative);
    if (!text.ok()) {
      Problem(relative, "cannot read the chain head: " + text.message());
      return;
    }
    auto head = ParseChainHead(*text);
    if (!head.ok()) {
      Problem(relative, "the chain head is malformed: " + head.message());
      return;
    }
    auto signature = Base64Decode(head->signature_b64);
    auto valid = VerifyEd25519(public_key_pem_, FormatChainHeadBody(*head),
                               signature.ok() ? *signature : std::string());
    if (!valid.ok() || !*valid) {
      Problem(relative, "signature does not verify with key " +
                            Short(report_.public_key_fingerprint) +
                            ": the chain head was altered or signed by another key");
    }
    if (head->camera != camera || (!device_id_.empty() && head->device_id != device_id_)) {
      Problem(relative, "names device \"" + head->device_id + "\", camera \"" + head->camera +
                            "\": it belongs to another device or camera");
    }
    if (seals.empty()) {
      Problem(relative, "the chain head names sequence " + std::to_string(head->sequence) +
                            " but no readable seal is left: the camera's segments were deleted");
      return;
    }
    const SealEntry& last = seals.back();
    if (head->sequence > last.record.sequence) {
      Problem(relative, "newest " + SequenceRange(last.record.sequence + 1, head->sequence) +
                            " deleted: the chain head says sequence " +
                            std::to_string(head->sequence) + ", the last seal is " +
                            std::to_string(last.record.sequence) + " (" + last.location + ")");
      return;
    }
    // A head behind the last seal is normal after a crash between a seal and its head; it must
    // still match the seal it names.
    for (const SealEntry& entry : seals) {
      if (entry.record.sequence != head->sequence) continue;
      if (entry.record.chain_hex != head->chain_hex) {
        Problem(relative, "does not match segment " + std::to_string(head->sequence) + " (" +
                              entry.location + "): the chain head says chain " + head->chain_hex +
                              ", the seal " + entry.record.chain_hex + "; segments were replaced");
      }
      break;
    }
  }

  void CheckCatalog() {
    if (!options_.use_catalog) {
      Note(kCatalogName, "not checked (--no-catalog)");
      return;
    }
    if (!env_.Exists(Path(kCatalogName))) {
      Note(kCatalogName, "absent: only the seals were checked (they are the record of truth)");
      return;
    }
    auto catalog = Catalog::OpenReadOnly(Path(kCatalogName));
    if (!catalog.ok()) {
      Problem(kCatalogName, "cannot open the catalog: " + catalog.message());
      return;
    }
    auto rows = (*catalog)->Segments();
    if (!rows.ok()) {
      Problem(kCatalogName, "cannot read the catalog: " + rows.message());
      return;
    }
    auto evictions = (*catalog)->Evictions();
    if (!evictions.ok()) {
      Problem(kCatalogName, "cannot read the catalog's evictions: " + evictions.message());
      return;
    }
    for (EvictionRecord& e : *evictions) evictions_[e.file] = std::move(e);
    report_.catalog_checked = true;
    std::set<std::string> catalogued;
    for (const SegmentRecord& row : *rows) {
      catalogued.insert(row.file);
      if (row.state == SegmentState::kMissing) {
        Problem(row.file, "the catalog marks this segment missing: the footage is gone");
        continue;
      }
      auto seal = sealed_.find(row.file);
      if (seal == sealed_.end()) {
        // A file without a seal, or a seal that did not parse, is reported already.
        if (!seen_segments_.count(row.file) && !seen_seals_.count(row.file)) {
          Problem(row.file, "catalogued, but neither the file nor its seal exists: deleted");
        }
        continue;
      }
      std::string differences = Differences(row, seal->second);
      if (!differences.empty()) {
        Problem(row.file, "the catalog row differs from the seal: " + differences);
      }
    }
    for (const auto& [file, record] : sealed_) {
      if (!catalogued.count(file)) {
        Note(file, "sealed but not in the catalog (the catalog can be rebuilt from the seals)");
      }
    }
    ExplainGaps(**catalog);
  }

  // Each gap with the interruption that covers it (docs/interruptions.md, "what agree means");
  // a gap inside an incident's evidence with none is a note: the daemon recorded no cause.
  void ExplainGaps(Catalog& catalog) {
    if (catalog.schema_version() < 7) return;  // no interruptions before schema 7
    auto incidents = catalog.Incidents();
    if (!incidents.ok()) {
      Problem(kCatalogName, "cannot read the catalog's incidents: " + incidents.message());
      return;
    }
    std::vector<InterruptionRecord> interruptions;
    for (const IncidentRecord& incident : *incidents) {
      auto rows = catalog.Interruptions(incident.id);
      if (!rows.ok()) {
        Problem(kCatalogName, "cannot read the catalog's interruptions: " + rows.message());
        return;
      }
      interruptions.insert(interruptions.end(), rows->begin(), rows->end());
    }
    for (CameraSummary& camera : report_.cameras) {
      for (CoverageGap& gap : camera.gaps) {
        for (const InterruptionRecord& i : interruptions) {
          if (!i.camera.empty() && i.camera != camera.camera) continue;
          const int64_t end = i.open()
                                  ? std::numeric_limits<int64_t>::max() - kInterruptionToleranceNs
                                  : i.end_utc_ns;
          if (gap.from_utc_ns >= i.start_utc_ns - kInterruptionToleranceNs &&
              gap.to_utc_ns <= end + kInterruptionToleranceNs) {
            gap.interruption_incident = i.incident_id;
            gap.interruption_number = i.number;
            gap.interruption_cause = i.cause;
            break;
          }
        }
        if (gap.interruption_number) continue;
        for (const IncidentRecord& incident : *incidents) {
          if (gap.to_utc_ns > incident.evidence_from_utc_ns() &&
              gap.from_utc_ns < incident.evidence_to_utc_ns()) {
            Note(gap.before_file, "gap of " + Seconds(gap.to_utc_ns - gap.from_utc_ns) +
                                      " s before it, inside incident " + incident.id +
                                      "'s evidence, matches no interruption the catalog records");
            break;
          }
        }
      }
    }
  }

  // Videos whose seal is there but not the file. The seal stays when a video is evicted to make
  // room (docs/retention.md), so the chain still verifies; the catalog's eviction row, written
  // before the file was removed, says that the server held a verified copy first. Without that
  // row (no catalog, or no row), nothing tells an eviction from a deletion: a problem.
  void CheckAbsentVideos() {
    for (const std::string& location : absent_videos_) {
      auto eviction = evictions_.find(location);
      if (eviction != evictions_.end() && !eviction->second.server_copy.empty()) {
        const EvictionRecord& e = eviction->second;
        Note(location,
             std::string(e.server_copy.rfind("none:", 0) == 0 ? "evicted without a server copy ("
                                                              : "evicted after verified upload (") +
                 e.server_copy + "); " + e.reason +
                 (e.finished() ? ", removed " + base::FormatUtcNs(e.removed_utc_ns)
                               : ", marked " + base::FormatUtcNs(e.marked_utc_ns) +
                                     " and not yet finalised"));
        continue;
      }
      Problem(location,
              std::string("video absent (evicted or deleted): its seal exists but the segment "
                          "file does not, and ") +
                  (report_.catalog_checked
                       ? "the catalog records no eviction of it"
                       : "without the catalog an eviction cannot be told from a deletion"));
    }
  }

  // "frames (catalog 1800, seal 1799); sha256 (catalog ab…, seal cd…)".
  static std::string Differences(const SegmentRecord& row, const SegmentRecord& seal) {
    std::string out;
    for (const FieldDifference& d : CompareSegmentRecords(row, seal)) {
      if (!out.empty()) out += "; ";
      out += d.field + " (catalog " + d.left + ", seal " + d.right + ")";
    }
    return out;
  }

  base::Env& env_;
  const VerifyOptions& options_;
  const VerifyProgressCallback& progress_;
  VerifyReport report_;
  VerifyProgress progress_state_;
  std::string public_key_pem_;
  std::string device_id_;  // of the first seal read; every other seal must agree
  std::map<std::string, std::vector<std::string>> camera_entries_;
  std::set<std::string> seen_seals_;     // segment locations that have a seal file (parsed or not)
  std::set<std::string> seen_segments_;  // segment files present
  std::map<std::string, SegmentRecord> sealed_;  // location -> parsed seal, for the catalog
  std::set<std::string> absent_videos_;          // locations whose seal exists but not the video
  std::map<std::string, EvictionRecord> evictions_;  // the catalog's eviction rows, by file
};

// ---- Output ----------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  const auto byte = [&s](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t length;
  uint32_t code;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    length = 2;
    code = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    code = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    code = c & 0x07;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3f);
  }
  if ((length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
      (length == 4 && (code < 0x10000 || code > 0x10ffff))) {
    return 0;
  }
  return length;
}

std::string JsonFinding(const VerifyFinding& f) {
  return "{\"file\":" + JsonQuote(f.file) + ",\"reason\":" + JsonQuote(f.reason) + "}";
}

template <typename T, typename F>
std::string JsonArray(const std::vector<T>& items, F format) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ",";
    out += format(items[i]);
  }
  return out + "]";
}

// "1 segment", "3 segments".
std::string Count(int64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string Seconds(int64_t ns) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", static_cast<double>(ns) / 1e9);
  return buffer;
}

std::string JsonTime(int64_t utc_ns) { return JsonQuote(base::FormatUtcNs(utc_ns)); }

std::string JsonRange(const TimeRange& r) {
  return "{\"start_utc\":" + JsonTime(r.start_utc_ns) + ",\"end_utc\":" + JsonTime(r.end_utc_ns) +
         "}";
}

std::string JsonGap(const CoverageGap& g) {
  return "{\"after_file\":" + JsonQuote(g.after_file) +
         ",\"before_file\":" + JsonQuote(g.before_file) +
         ",\"from_utc\":" + JsonTime(g.from_utc_ns) + ",\"to_utc\":" + JsonTime(g.to_utc_ns) +
         ",\"seconds\":" + Seconds(g.to_utc_ns - g.from_utc_ns) + ",\"interruption\":" +
         (g.interruption_number ? "{\"incident\":" + JsonQuote(g.interruption_incident) +
                                      ",\"number\":" + std::to_string(g.interruption_number) +
                                      ",\"cause\":" + JsonQuote(g.interruption_cause) + "}"
                                : std::string("null")) +
         "}";
}

std::string JsonSeal(const SegmentRecord& r) {
  return "{\"file\":" + JsonQuote(r.file) + ",\"sequence\":" + std::to_string(r.sequence) +
         ",\"state\":" + JsonQuote(SegmentStateName(r.state)) +
         ",\"start_utc\":" + JsonTime(r.start_utc_ns) + ",\"end_utc\":" + JsonTime(r.end_utc_ns) +
         ",\"time_source\":" + JsonQuote(r.time_source) + ",\"clock_offset_ns\":" +
         (r.clock_offset_ns ? std::to_string(*r.clock_offset_ns) : std::string("null")) +
         ",\"track_file\":" + JsonQuote(r.track_file) +
         ",\"track_points\":" + std::to_string(r.track_points) +
         ",\"track_sha256\":" + JsonQuote(r.track_sha256_hex) + "}";
}

std::string JsonCamera(const CameraSummary& c) {
  return "{\"camera\":" + JsonQuote(c.camera) + ",\"segments\":" + std::to_string(c.segments) +
         ",\"first_sequence\":" + std::to_string(c.first_sequence) +
         ",\"last_sequence\":" + std::to_string(c.last_sequence) +
         ",\"ranges\":" + JsonArray(c.ranges, JsonRange) +
         ",\"gaps\":" + JsonArray(c.gaps, JsonGap) + ",\"seals\":" + JsonArray(c.seals, JsonSeal) +
         "}";
}

// "  time: 2 gps, 1 unknown; largest clock offset -1200000 ns; 97 track points\n" for the
// segments of a camera, so that a reader of the text report sees how far its times hold.
std::string TimeTrustLine(const CameraSummary& c) {
  if (c.seals.empty()) return "";
  std::map<std::string, int64_t> sources;
  std::optional<int64_t> largest;
  int64_t points = 0;
  for (const SegmentRecord& r : c.seals) {
    ++sources[r.time_source];
    points += r.track_points;
    if (r.clock_offset_ns && (!largest || std::llabs(*r.clock_offset_ns) > std::llabs(*largest))) {
      largest = r.clock_offset_ns;
    }
  }
  std::string out = "  time:";
  bool first = true;
  for (const char* source : {"gps", "ntp", "none", "unknown"}) {
    if (!sources.count(source)) continue;
    out += (first ? " " : ", ") + std::to_string(sources[source]) + " " + source;
    first = false;
  }
  out += "; largest clock offset ";
  if (largest) {
    out += std::to_string(*largest) + " ns";
  } else {
    out += "not measured";
  }
  return out + "; " + Count(points, "track point") + "\n";
}

}  // namespace

int64_t VerifyReport::segments() const {
  int64_t total = 0;
  for (const CameraSummary& c : cameras) total += c.segments;
  return total;
}

base::Result<VerifyReport> VerifyDataDir(base::Env& env, const VerifyOptions& options,
                                         const VerifyProgressCallback& progress) {
  return Verifier(env, options, progress).Run();
}

std::string JsonQuote(const std::string& text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else if (c >= 0x80) {
      size_t length = Utf8SequenceLength(text, i);
      if (length == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(text, i, length);
      i += length;
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out + "\"";
}

std::string FormatVerifyReportText(const VerifyReport& report) {
  std::string out;
  for (const VerifyFinding& p : report.problems) {
    out += "FAIL " + (p.file.empty() ? std::string("-") : p.file) + ": " + p.reason + "\n";
  }
  for (const VerifyFinding& n : report.notes) {
    out += "NOTE " + (n.file.empty() ? std::string("-") : n.file) + ": " + n.reason + "\n";
  }
  out += "public key: " + report.public_key_source + " (fingerprint " +
         report.public_key_fingerprint + ")" +
         (report.public_key_from_data_dir ? ", taken from the data directory itself\n" : "\n");
  for (const CameraSummary& c : report.cameras) {
    out += "camera " + c.camera + ": " + std::to_string(c.segments) + " segment" +
           (c.segments == 1 ? "" : "s");
    if (c.segments > 0) {
      out += ", sequences " + std::to_string(c.first_sequence) + ".." +
             std::to_string(c.last_sequence);
    }
    out += ", " + std::to_string(c.gaps.size()) + " gap" + (c.gaps.size() == 1 ? "" : "s") + "\n";
    for (const TimeRange& r : c.ranges) {
      out += "  covers " + base::FormatUtcNs(r.start_utc_ns) + " .. " +
             base::FormatUtcNs(r.end_utc_ns) + " (" + Seconds(r.end_utc_ns - r.start_utc_ns) +
             " s)\n";
    }
    out += TimeTrustLine(c);
    for (const CoverageGap& g : c.gaps) {
      out += "  gap of " + Seconds(g.to_utc_ns - g.from_utc_ns) + " s from " +
             base::FormatUtcNs(g.from_utc_ns) + " to " + base::FormatUtcNs(g.to_utc_ns) +
             " (after " + base::BaseName(g.after_file) + ", before " +
             base::BaseName(g.before_file) + ")" +
             (g.interruption_number
                  ? ": interruption " + std::to_string(g.interruption_number) + " of incident " +
                        g.interruption_incident + ", " + g.interruption_cause
                  : "") +
             "\n";
    }
  }
  if (report.ok()) {
    out += "OK: " + Count(report.segments(), "segment") + " of " +
           Count(static_cast<int64_t>(report.cameras.size()), "camera") + " verified\n";
  } else {
    out += "FAILED: " + std::to_string(report.problems.size()) + " problem" +
           (report.problems.size() == 1 ? "" : "s") + "\n";
  }
  return out;
}

std::string FormatVerifyReportJson(const VerifyReport& report) {
  std::string out = "{\"ok\":";
  out += report.ok() ? "true" : "false";
  out += ",\"files_checked\":" + std::to_string(report.files_checked);
  out += ",\"segments\":" + std::to_string(report.segments());
  out += ",\"public_key\":{\"source\":" + JsonQuote(report.public_key_source) +
         ",\"fingerprint\":" + JsonQuote(report.public_key_fingerprint) +
         ",\"from_data_dir\":" + (report.public_key_from_data_dir ? "true" : "false") + "}";
  out += ",\"catalog_checked\":" + std::string(report.catalog_checked ? "true" : "false");
  out += ",\"problems\":" + JsonArray(report.problems, JsonFinding);
  out += ",\"notes\":" + JsonArray(report.notes, JsonFinding);
  out += ",\"cameras\":" + JsonArray(report.cameras, JsonCamera);
  return out + "}\n";
}

}  // namespace patrolrec::storage
