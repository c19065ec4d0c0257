// The SQLite catalog: the index of every segment, not the only copy of the truth (each segment's
// signed seal sidecar is). WAL mode, synchronous=FULL, a versioned schema upgraded step by step
// on open. A Catalog object is used from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/export_record.h"
#include "storage/health_record.h"
#include "storage/incident_record.h"
#include "storage/interruption_record.h"
#include "storage/segment_record.h"
#include "storage/track.h"
#include "storage/upload_record.h"

struct sqlite3;

namespace patrolrec::storage {

struct CatalogEvent {
  int64_t utc_ns = 0;
  std::string kind;    // e.g. "segment-recovered", "segment-missing", "camera-error"
  std::string camera;  // may be empty
  std::string file;    // may be empty
  std::string detail;  // human-readable cause
  // event.id as Events() read it (AddEvent ignores it): increasing, with gaps once old events
  // are pruned (storage/catalog_retention.h).
  int64_t id = 0;
};

// A segment the server holds a verified copy of (schema 4 upload rows): its video, its seal and
// (for segments with a track) its track each have an upload in state 'verified', and the video's
// upload is of the bytes the segment was sealed with (same SHA-256). The uplink stores a segment's
// files under keys <device>/<camera>/<file name> (and .seal, .gpx); this matches on upload.file,
// the local path, so it holds whatever the bucket and key scheme.
struct ServerCopy {
  std::string file;  // segment.file
  RetentionClass retention = RetentionClass::kOrdinary;  // what the video was uploaded under
  std::string retention_result;  // the video's retention as read back, e.g. "legal hold ON"
  int64_t verified_utc_ns = 0;   // the latest of the three verifications
  // "bucket/key, bucket/key.seal, bucket/key.gpx verified <time>; <retention_result>": what the
  // eviction row keeps as the reason it was allowed.
  std::string description;
};

// Where a page of Catalog::LocalSegments ends: the next page starts after it.
struct LocalSegmentCursor {
  int64_t start_utc_ns = -1;
  int64_t id = 0;  // segment.id: orders segments starting at the same time
};

struct LocalSegment {
  SegmentRecord segment;
  std::optional<ServerCopy> server_copy;
  LocalSegmentCursor cursor;
};

// A segment's video removed to make room (schema 5, docs/retention.md). Its seal and track stay.
struct EvictionRecord {
  std::string file;           // segment.file
  std::string camera;         // segment.camera
  std::string segment_class;  // "background" or "evidence"
  std::string reason;         // "background past 7 days local retention"
  int64_t bytes = 0;          // of the video file
  std::string server_copy;    // ServerCopy::description when it was marked
  int64_t marked_utc_ns = 0;
  int64_t removed_utc_ns = 0;  // 0 while unfinished (marked, file maybe not yet removed)
  bool finished() const { return removed_utc_ns != 0; }
};

class Catalog {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 9;
  // The oldest version OpenReadOnly reads: segments and track points have kept their columns
  // since version 2, so the verifier checks a device that runs an older build (later tables,
  // such as incidents, are then absent).
  static constexpr int kOldestReadableVersion = 2;

  // Opens (creating if needed) and upgrades the catalog at `path`. Refuses a catalog written by a
  // newer build (its version is higher than kSchemaVersion), naming both versions.
  static base::Result<std::unique_ptr<Catalog>> Open(const std::string& path);
  // Opens an existing catalog without changing anything (not even its WAL), for the offline
  // verifier working on a copy. Fails if the file is absent or of a version outside
  // kOldestReadableVersion..kSchemaVersion.
  // Creates no file (no -shm, no -wal): it takes no locks and reads the WAL into memory, so it is
  // for copies and stopped devices, not for a catalog that a running patrolrecd is writing.
  static base::Result<std::unique_ptr<Catalog>> OpenReadOnly(const std::string& path);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  int schema_version() const;

  // Inserts a row for a sealed segment. Fails (and changes nothing) if a row for the same
  // (camera, sequence) or the same file exists with different content; inserting an identical
  // row again is ok (recovery may re-run).
  base::Status InsertSegment(const SegmentRecord& record);
  // Marks an existing row missing (its file is gone). The row is kept. Marking a row that is
  // already missing keeps its first missing_since time (recovery may re-run). An unknown file is
  // an error.
  base::Status MarkMissing(const std::string& file);
  // As above, with the time the file was found missing given (MarkMissing(file) reads the system
  // clock), so tests and the recovery scan can use one time for a whole pass.
  base::Status MarkMissing(const std::string& file, int64_t missing_since_utc_ns);

  base::Result<std::optional<SegmentRecord>> FindByFile(const std::string& file);
  // The row with the highest sequence for the camera.
  base::Result<std::optional<SegmentRecord>> LastSegment(const std::string& camera);
  // All rows, ordered by camera then sequence; only one camera's when `camera` is not empty.
  base::Result<std::vector<SegmentRecord>> Segments(const std::string& camera = "");

  base::Status AddEvent(const CatalogEvent& event);
  // All events in the order they were added (not sorted by utc_ns: the wall clock can jump).
  base::Result<std::vector<CatalogEvent>> Events();

  // Adds a GPS fix with a position. Fails, adding nothing, for a point that IsWritableTrackPoint
  // refuses (no position, a latitude out of range, mode not 2 or 3).
  base::Status InsertTrackPoint(const TrackPoint& point);
  // The points with from_utc_ns <= utc_ns < to_utc_ns, ordered by utc_ns, then by the order they
  // were added.
  base::Result<std::vector<TrackPoint>> TrackPoints(int64_t from_utc_ns, int64_t to_utc_ns);

  // Incidents (schema 3). Inserts `incident` or updates its changeable columns (phase, close,
  // links, retention, overdue flag; never its id, trigger or times), and appends `add` to its
  // history, in one transaction. Fails, changing nothing, when it would make a second incident
  // open.
  base::Status SaveIncident(const IncidentRecord& incident, const std::vector<IncidentEntry>& add);
  // The incident with its whole history; empty if there is none with this id.
  base::Result<std::optional<IncidentRecord>> FindIncident(const std::string& id);
  // The open incident, if any (at most one is).
  base::Result<std::optional<IncidentRecord>> OpenIncident();
  // Every incident with its history, oldest trigger first.
  base::Result<std::vector<IncidentRecord>> Incidents();
  // The open incident and those whose evidence ends after `from_utc_ns`, oldest trigger first,
  // with their history: what can still hold a segment starting then back (a scan over the
  // incidents table; a year of a car's is a few thousand rows).
  base::Result<std::vector<IncidentRecord>> IncidentsReaching(int64_t from_utc_ns);
  // Segments of every camera overlapping [from_utc_ns, to_utc_ns), by camera then sequence: an
  // incident's evidence.
  base::Result<std::vector<SegmentRecord>> SegmentsOverlapping(int64_t from_utc_ns, int64_t to_utc_ns);

  // Uploads (schema version 4): the uplink's multipart uploads and their acknowledged parts.
  // Each write is one transaction, durable when it returns. A row only moves forward:
  // uploading -> completed -> verified, or uploading/completed -> aborted.
  //
  // Adds a row for a new upload (state uploading, no parts; `upload.parts` is ignored) and returns
  // its id. Fails if the object already has a live (not aborted) upload.
  base::Result<int64_t> BeginUpload(const UploadRecord& upload);
  // Records a part the server acknowledged; a part sent again replaces its row.
  base::Status AddUploadPart(int64_t upload, const UploadPartRecord& part);
  base::Status MarkUploadCompleted(int64_t upload, const std::string& remote_etag,
                                   int64_t completed_utc_ns);
  base::Status MarkUploadVerified(int64_t upload, const std::string& retention_result,
                                  int64_t verified_utc_ns);
  base::Status MarkUploadAborted(int64_t upload, const std::string& detail);
  // The live (not aborted) upload of an object, with its parts.
  base::Result<std::optional<UploadRecord>> FindLiveUpload(const std::string& bucket,
                                                           const std::string& key);
  // The newest row with this server upload id, with its parts.
  base::Result<std::optional<UploadRecord>> FindUploadById(const std::string& upload_id);
  // Every upload row, in the order they were added, with their parts.
  base::Result<std::vector<UploadRecord>> Uploads();

  // Server copies (schema 4 tables, schema 5 index). Every segment the server holds a verified
  // copy of, by file.
  base::Result<std::vector<ServerCopy>> ServerCopies();
  // The segment's verified server copy, if it has one.
  base::Result<std::optional<ServerCopy>> FindServerCopy(const std::string& file);
  // The segments whose video is on the disk (not evicted nor being evicted, not missing), oldest
  // first, at most `limit` after the cursor, each with its verified server copy if it has one
  // (schema 8; the eviction planner's pages: their cost follows the disk, not the year).
  base::Result<std::vector<LocalSegment>> LocalSegments(const LocalSegmentCursor& after, int limit);

  // Evictions (schema 5), in the durability order: MarkEvicting commits the row before the file
  // is touched; FinishEviction after the file is removed and its directory synced.
  //
  // Adds an unfinished eviction row. In the same transaction it checks again that the segment is
  // catalogued, not missing, not already evicted, and has a verified server copy (whose
  // description replaces `eviction.server_copy`): whatever the planner thought, no row that
  // allows removing unverified footage is ever written (R9). The one exception is opt-in and
  // never for evidence: with `background_without_server_copy` (the [storage]
  // evict_unuploaded_background switch) a background segment with no verified copy is marked,
  // its server_copy saying so.
  base::Status MarkEvicting(const EvictionRecord& eviction,
                            bool background_without_server_copy = false);
  // Sets removed_utc_ns of an unfinished eviction; finishing a finished one is ok (recovery may
  // re-run) and keeps its first time; an unknown file is an error.
  base::Status FinishEviction(const std::string& file, int64_t removed_utc_ns);
  // Every eviction row, in the order they were marked; unfinished ones only when asked.
  base::Result<std::vector<EvictionRecord>> Evictions(bool unfinished_only = false);
  base::Result<std::optional<EvictionRecord>> FindEviction(const std::string& file);

  // The health history (schema 6, docs/self-check.md). Reading a catalog of an older version
  // gives nothing, not an error.
  //
  // Stores a finished self-check run and its items in one transaction; returns the run's id.
  base::Result<int64_t> InsertSelfCheck(const SelfCheckRecord& run);
  // The newest `limit` runs (all when `limit` <= 0), newest first, each with its items.
  base::Result<std::vector<SelfCheckRecord>> SelfChecks(int limit = 0);
  base::Status AddHealthEvent(const HealthEventRecord& event);
  // The health events with utc_ns >= from_utc_ns, in the order they were added.
  base::Result<std::vector<HealthEventRecord>> HealthEvents(int64_t from_utc_ns = 0);
  // The last event of each (camera, channel) before `before_utc_ns`: where the history window
  // starts from.
  base::Result<std::vector<HealthEventRecord>> LastHealthEventsBefore(int64_t before_utc_ns);
  // Deletes at most `max_rows` health events and at most `max_rows` self-check runs (with their
  // items) older than `before_utc_ns`, oldest first, in one short transaction, so that a long
  // backlog is pruned in small batches that never hold the write lock for long. Returns the rows
  // deleted (0: nothing left to prune).
  base::Result<int64_t> PruneHealthHistory(int64_t before_utc_ns, int max_rows);

  // Interruptions (schema 7, docs/interruptions.md). Adds a row for an interruption of
  // `interruption.incident_id` (which must exist), numbered after the incident's last one, and
  // returns it with its number; `number` and the end are ignored. One transaction.
  base::Result<InterruptionRecord> AddInterruption(const InterruptionRecord& interruption);
  // Writes the changeable columns of (incident_id, number): the end, the spoken range, the
  // written explanation and the flag; never its camera, cause or start. Unknown: an error.
  base::Status UpdateInterruption(const InterruptionRecord& interruption);
  // The incident's interruptions by number (none before schema 7).
  base::Result<std::vector<InterruptionRecord>> Interruptions(const std::string& incident_id);
  // Every interruption still going on, of any incident, in the order they opened.
  base::Result<std::vector<InterruptionRecord>> OpenInterruptions();

  // Export requests (schema 9, docs/export.md). Adds a request (its state is set to requested,
  // its id assigned) and returns it.
  base::Result<ExportRequest> AddExportRequest(const ExportRequest& request);
  // Moves a request on: to approved or refused from requested, to exported from approved. Fails,
  // changing nothing, when the row is not in the state `from_state`: an approval is used once.
  base::Status UpdateExportRequest(const ExportRequest& request, const std::string& from_state);
  base::Result<std::optional<ExportRequest>> FindExportRequest(int64_t id);
  // Every request, oldest first; none (not an error) for a catalog older than 9.
  base::Result<std::vector<ExportRequest>> ExportRequests();

  const std::string& path() const { return path_; }
  // The connection, for the retention pass and the year benchmark (storage/catalog_retention.h),
  // which keep their bulk SQL out of this file. Same one-thread-at-a-time rule.
  sqlite3* raw_handle() { return db_; }

 private:
  explicit Catalog(sqlite3* db);

  sqlite3* db_;
  std::string path_;
  int schema_version_ = 0;
};

}  // namespace patrolrec::storage
