// The SQLite catalog: its schema, the step-by-step upgrades, and the queries behind
// storage/catalog.h.
//
// Invariant: a segment row, once written, changes in one way only (sealed or recovered ->
// missing), and an eviction row only by being finalised (its removal time set once). An
// insert that disagrees with an existing row fails and leaves the catalog as it was, and every
// write is one transaction under synchronous=FULL, so a power cut leaves the catalog as it was
// before or after a write, never between. The catalog is an index: the signed seal sidecars are
// the truth, and a lost or corrupt catalog is rebuilt from them.
#include "storage/catalog.h"

#include <sqlite3.h>

#include <cmath>
#include <cstddef>
#include <iterator>
#include <map>

#include "base/clock.h"
#include "base/log.h"

namespace patrolrec::storage {
namespace {

using base::Result;
using base::Status;

// A second writer (patrolctl, a migration) may hold the write lock briefly; waiting this long is
// better than failing a segment's row, and short enough that a stuck lock is reported.
constexpr int kBusyTimeoutMs = 5000;

// Schema upgrade steps: kUpgradeSteps[i] takes the catalog from version i to version i + 1, in one
// transaction together with the new PRAGMA user_version. Never edit a step that has shipped (a
// catalog in the field has already run it); add a step and raise Catalog::kSchemaVersion.
//
// Every column is commented with its unit and meaning: these comments are what a technician or a
// court expert reads in `sqlite3 catalog.db .schema`, since SQLite stores them with the table.
constexpr const char* kUpgradeSteps[] = {
    // Version 1: segments and events.
    R"sql(
-- One row per segment file. Written only after the file and its seal sidecar are durable (write,
-- fsync the file, fsync the directory, then this row). The seal is the evidence; this row is its
-- index, and patrolrecd rebuilds the table from the seals if the catalog is lost.
CREATE TABLE segment (
  -- Row number in this catalog only; never leaves the device (seals and exports name a segment
  -- by camera and sequence).
  id INTEGER PRIMARY KEY,

  -- Device that recorded the segment, [A-Za-z0-9-]{1,64}, e.g. 'PR-0001'; as in the seal.
  device_id TEXT NOT NULL CHECK (length(device_id) BETWEEN 1 AND 64),

  -- Camera that recorded it, [a-z0-9-]{1,64}, e.g. 'cabin-rear'; as in the seal.
  camera TEXT NOT NULL CHECK (length(camera) BETWEEN 1 AND 64),

  -- Place of the segment in its camera's hash chain: 1, 2, 3 ... per camera, never reused and
  -- never skipped, so a gap in the sequence is a segment that is missing.
  sequence INTEGER NOT NULL CHECK (sequence >= 1),

  -- Path of the segment file relative to the data directory, e.g.
  -- 'segments/road/PR-0001_road_20261129T011630.250Z_000017.mp4'; its seal is file || '.seal'.
  file TEXT NOT NULL UNIQUE CHECK (length(file) > 0),

  -- Wall-clock time of the first frame: nanoseconds since 1970-01-01T00:00:00Z.
  start_utc_ns INTEGER NOT NULL CHECK (start_utc_ns >= 0),

  -- start_utc_ns + duration_ns: nanoseconds since 1970-01-01T00:00:00Z.
  end_utc_ns INTEGER NOT NULL CHECK (end_utc_ns >= start_utc_ns),

  -- Video duration as stored in the file, nanoseconds.
  duration_ns INTEGER NOT NULL CHECK (duration_ns >= 0),

  -- Number of video samples (frames) in the file.
  frames INTEGER NOT NULL CHECK (frames >= 0),

  -- Size of the file when it was sealed, bytes.
  bytes INTEGER NOT NULL CHECK (bytes >= 0),

  -- SHA-256 of the whole file: 64 lower-case hex digits.
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),

  -- chain of this camera's previous segment (sequence - 1): 64 lower-case hex digits, 64 zeros
  -- for sequence 1. Linking segments this way makes a removed or reordered segment detectable.
  prev_chain TEXT NOT NULL CHECK (length(prev_chain) = 64 AND prev_chain NOT GLOB '*[^0-9a-f]*'),

  -- SHA-256 over the seal body up to and including prev_chain (docs/seal-format.md): 64
  -- lower-case hex digits.
  chain TEXT NOT NULL CHECK (length(chain) = 64 AND chain NOT GLOB '*[^0-9a-f]*'),

  -- Ed25519 device signature of the seal body through the chain line: the 64-byte signature in
  -- standard padded base64 (RFC 4648), always 88 characters, as in the seal.
  signature TEXT NOT NULL
      CHECK (length(signature) = 88 AND signature NOT GLOB '*[^A-Za-z0-9+/=]*'),

  -- 'sealed': closed normally, then hashed, chained and signed.
  -- 'recovered': was being written at a crash or a pipeline error; cut at its last complete
  --   fragment, then sealed.
  -- 'missing': the file was gone when the catalog and the files were reconciled. The row is kept,
  --   so the gap in the chain stays explained.
  state TEXT NOT NULL CHECK (state IN ('sealed', 'recovered', 'missing')),

  -- When the seal was made: nanoseconds since 1970-01-01T00:00:00Z.
  sealed_utc_ns INTEGER NOT NULL CHECK (sealed_utc_ns >= 0),

  -- When the file was first found missing: nanoseconds since 1970-01-01T00:00:00Z; NULL unless
  -- state = 'missing'.
  missing_since_utc_ns INTEGER CHECK (missing_since_utc_ns >= 0),

  CHECK ((state = 'missing') = (missing_since_utc_ns IS NOT NULL)),

  -- One segment per place in a camera's chain. The index SQLite builds for this constraint is
  -- also the one LastSegment (camera = ? ORDER BY sequence DESC LIMIT 1) and the listing by
  -- camera and sequence use, so no separate index is needed.
  UNIQUE (camera, sequence)
);

-- What an auditor needs to know that is not a segment: a segment recovered after a power cut, a
-- file found missing, a camera error. Rows are only ever added.
CREATE TABLE event (
  -- Order in which the events were recorded. Events are listed in this order, not by utc_ns,
  -- because the wall clock can jump.
  id INTEGER PRIMARY KEY,

  -- When it happened, by the device's wall clock: nanoseconds since 1970-01-01T00:00:00Z.
  utc_ns INTEGER NOT NULL CHECK (utc_ns >= 0),

  -- What happened, lower-case words joined by '-': 'segment-recovered', 'segment-missing',
  -- 'camera-error', ...
  kind TEXT NOT NULL CHECK (length(kind) > 0),

  -- Camera concerned, as segment.camera; NULL when the event concerns no camera.
  camera TEXT CHECK (camera IS NULL OR length(camera) > 0),

  -- Segment file concerned, relative to the data directory as segment.file; NULL when none. Not
  -- a foreign key: an event may be about a file that never got a row.
  file TEXT CHECK (file IS NULL OR length(file) > 0),

  -- Human-readable cause, e.g. 'power lost while writing; cut at fragment 42'.
  detail TEXT NOT NULL
);
)sql",

    // Version 2: each segment's time trust and GPS track (seal format 2), and the GPS fixes the
    // tracks are made from. The segment table is rebuilt rather than extended with ALTER TABLE
    // ADD COLUMN, because SQLite keeps only the column definition of an added column and drops
    // the comment above it, and these comments are the schema's documentation. Rows from version
    // 1 keep their values; they predate tracks, so they get time_source 'unknown', no clock
    // offset and no track file.
    R"sql(
CREATE TABLE segment_v2 (
  -- Row number in this catalog only; never leaves the device (seals and exports name a segment
  -- by camera and sequence).
  id INTEGER PRIMARY KEY,

  -- Device that recorded the segment, [A-Za-z0-9-]{1,64}, e.g. 'PR-0001'; as in the seal.
  device_id TEXT NOT NULL CHECK (length(device_id) BETWEEN 1 AND 64),

  -- Camera that recorded it, [a-z0-9-]{1,64}, e.g. 'cabin-rear'; as in the seal.
  camera TEXT NOT NULL CHECK (length(camera) BETWEEN 1 AND 64),

  -- Place of the segment in its camera's hash chain: 1, 2, 3 ... per camera, never reused and
  -- never skipped, so a gap in the sequence is a segment that is missing.
  sequence INTEGER NOT NULL CHECK (sequence >= 1),

  -- Path of the segment file relative to the data directory, e.g.
  -- 'segments/road/PR-0001_road_20261129T011630.250Z.mp4'; its seal is file || '.seal'.
  file TEXT NOT NULL UNIQUE CHECK (length(file) > 0),

  -- Wall-clock time of the first frame: nanoseconds since 1970-01-01T00:00:00Z.
  start_utc_ns INTEGER NOT NULL CHECK (start_utc_ns >= 0),

  -- start_utc_ns + duration_ns: nanoseconds since 1970-01-01T00:00:00Z.
  end_utc_ns INTEGER NOT NULL CHECK (end_utc_ns >= start_utc_ns),

  -- Video duration as stored in the file, nanoseconds.
  duration_ns INTEGER NOT NULL CHECK (duration_ns >= 0),

  -- Number of video samples (frames) in the file.
  frames INTEGER NOT NULL CHECK (frames >= 0),

  -- Size of the file when it was sealed, bytes.
  bytes INTEGER NOT NULL CHECK (bytes >= 0),

  -- SHA-256 of the whole file: 64 lower-case hex digits.
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),

  -- chain of this camera's previous segment (sequence - 1): 64 lower-case hex digits, 64 zeros
  -- for sequence 1. Linking segments this way makes a removed or reordered segment detectable.
  prev_chain TEXT NOT NULL CHECK (length(prev_chain) = 64 AND prev_chain NOT GLOB '*[^0-9a-f]*'),

  -- SHA-256 over the seal body up to and including prev_chain (docs/seal-format.md): 64
  -- lower-case hex digits.
  chain TEXT NOT NULL CHECK (length(chain) = 64 AND chain NOT GLOB '*[^0-9a-f]*'),

  -- Ed25519 device signature of the seal body through the chain line: the 64-byte signature in
  -- standard padded base64 (RFC 4648), always 88 characters, as in the seal.
  signature TEXT NOT NULL
      CHECK (length(signature) = 88 AND signature NOT GLOB '*[^A-Za-z0-9+/=]*'),

  -- 'sealed': closed normally, then hashed, chained and signed.
  -- 'recovered': was being written at a crash or a pipeline error; cut at its last complete
  --   fragment, then sealed.
  -- 'missing': the file was gone when the catalog and the files were reconciled. The row is kept,
  --   so the gap in the chain stays explained.
  state TEXT NOT NULL CHECK (state IN ('sealed', 'recovered', 'missing')),

  -- How the device's clock was set while the segment was recorded: 'gps' (disciplined to the
  -- GPS receiver), 'ntp', 'none' (free-running), or 'unknown' (recovered after a crash, or
  -- catalogued before schema version 2); as in the seal.
  time_source TEXT NOT NULL DEFAULT 'unknown'
      CHECK (time_source IN ('gps', 'ntp', 'none', 'unknown')),

  -- Largest absolute offset of the system clock from GPS time measured during the segment,
  -- signed (system minus GPS), nanoseconds; e.g. -1200000: the system clock was 1.2 ms behind.
  -- NULL when not measured ('unknown' in the seal).
  clock_offset_ns INTEGER,

  -- The segment's GPS track, GPX 1.1, relative to the data directory: always file || '.gpx';
  -- '' for rows catalogued before schema version 2, whose seals had no track.
  track_file TEXT NOT NULL DEFAULT '' CHECK (track_file = '' OR track_file = file || '.gpx'),

  -- SHA-256 of the track file: 64 lower-case hex digits; '' exactly when track_file is ''.
  track_sha256 TEXT NOT NULL DEFAULT ''
      CHECK ((track_sha256 = '' AND track_file = '') OR
             (length(track_sha256) = 64 AND track_sha256 NOT GLOB '*[^0-9a-f]*' AND
              track_file != '')),

  -- Number of track points (GPX trkpt elements) in the track file.
  track_points INTEGER NOT NULL DEFAULT 0 CHECK (track_points >= 0),

  -- When the seal was made: nanoseconds since 1970-01-01T00:00:00Z.
  sealed_utc_ns INTEGER NOT NULL CHECK (sealed_utc_ns >= 0),

  -- When the file was first found missing: nanoseconds since 1970-01-01T00:00:00Z; NULL unless
  -- state = 'missing'.
  missing_since_utc_ns INTEGER CHECK (missing_since_utc_ns >= 0),

  CHECK ((state = 'missing') = (missing_since_utc_ns IS NOT NULL)),

  -- One segment per place in a camera's chain. The index SQLite builds for this constraint is
  -- also the one LastSegment (camera = ? ORDER BY sequence DESC LIMIT 1) and the listing by
  -- camera and sequence use, so no separate index is needed.
  UNIQUE (camera, sequence)
);

INSERT INTO segment_v2 (id, device_id, camera, sequence, file, start_utc_ns, end_utc_ns,
                        duration_ns, frames, bytes, sha256, prev_chain, chain, signature, state,
                        sealed_utc_ns, missing_since_utc_ns)
  SELECT id, device_id, camera, sequence, file, start_utc_ns, end_utc_ns, duration_ns, frames,
         bytes, sha256, prev_chain, chain, signature, state, sealed_utc_ns, missing_since_utc_ns
  FROM segment;
DROP TABLE segment;
ALTER TABLE segment_v2 RENAME TO segment;

-- Every GPS fix with a position that the recorder received, kept so that each segment's track
-- file can be written when it is sealed, including after a crash. Rows are only ever added.
CREATE TABLE track_point (
  -- Order in which the fixes were recorded.
  id INTEGER PRIMARY KEY,

  -- System clock when the fix was received: nanoseconds since 1970-01-01T00:00:00Z. The same
  -- time base as segment.start_utc_ns and end_utc_ns: a segment's track is the points with
  -- start_utc_ns <= utc_ns < end_utc_ns.
  utc_ns INTEGER NOT NULL CHECK (utc_ns >= 0),

  -- The receiver's own time of the fix: nanoseconds since 1970-01-01T00:00:00Z; NULL when the
  -- receiver reported none.
  gps_utc_ns INTEGER CHECK (gps_utc_ns > 0),

  -- WGS84 latitude, degrees, north positive.
  latitude_deg REAL NOT NULL CHECK (latitude_deg BETWEEN -90 AND 90),

  -- WGS84 longitude, degrees, east positive.
  longitude_deg REAL NOT NULL CHECK (longitude_deg BETWEEN -180 AND 180),

  -- Altitude above mean sea level, metres; NULL when unknown (2D fixes).
  altitude_m REAL,

  -- Speed over ground, metres per second; NULL when unknown.
  speed_mps REAL,

  -- Course over ground, degrees clockwise from true north; NULL when unknown.
  course_deg REAL,

  -- Fix mode reported by the receiver: 2 (2D) or 3 (3D).
  mode INTEGER NOT NULL CHECK (mode IN (2, 3)),

  -- Satellites used in the solution; NULL when not reported.
  satellites_used INTEGER CHECK (satellites_used >= 0),

  -- Estimated horizontal error (gpsd's eph, 95 % confidence), metres; NULL when unknown.
  horizontal_error_m REAL,

  -- Estimated vertical error (gpsd's epv, 95 % confidence), metres; NULL when unknown.
  vertical_error_m REAL
);

-- TrackPoints selects by a range of utc_ns once per sealed segment.
CREATE INDEX track_point_by_time ON track_point (utc_ns);
)sql",
    // Version 3: incidents (daemon/incidents.h): labelled time ranges over the recording.
    R"sql(
-- One row per incident: from its trigger (a dispatch, the record button, the light bar, a crash
-- ...) to the handover of the suspect at a holding area, or its close. The segments of every
-- camera that overlap [trigger_utc_ns - pre_event_s, closed_utc_ns + post_event_s) are its
-- evidence (an open incident has no end yet). Rows are never deleted.
CREATE TABLE incident (
  -- '<device>-<trigger time>', e.g. 'PR-0001-20261129T011630.250Z'; unique on the device and
  -- stable for ever (exports and the back office name the incident by it).
  id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),

  -- What opened it: 'dispatch', 'record-button', 'light-bar', 'siren', 'door',
  -- 'rear-door-lock', 'speed', 'crash'.
  trigger TEXT NOT NULL CHECK (length(trigger) > 0),

  -- Human-readable detail of the trigger, e.g. '94 km/h, over 80', 'peak 6.2 g'; may be empty.
  trigger_detail TEXT NOT NULL DEFAULT '',

  -- System clock at the trigger: nanoseconds since 1970-01-01T00:00:00Z (as segment times).
  trigger_utc_ns INTEGER NOT NULL CHECK (trigger_utc_ns > 0),

  -- Seconds of recording before the trigger that belong to the incident (the pre-event buffer).
  pre_event_s INTEGER NOT NULL CHECK (pre_event_s >= 0),

  -- Seconds of recording after the close that still belong to it.
  post_event_s INTEGER NOT NULL CHECK (post_event_s >= 0),

  -- Current phase (第十一条): dispatched, en-route, on-scene, transporting (suspect on board),
  -- handed-over, closed.
  phase TEXT NOT NULL CHECK (phase IN ('dispatched', 'en-route', 'on-scene', 'transporting',
                                       'handed-over', 'closed')),

  -- System clock at the close, nanoseconds since the epoch; NULL while the incident is open.
  closed_utc_ns INTEGER CHECK (closed_utc_ns > 0),

  -- How it ended: 'handover' (suspect handed over inside a holding area, crew confirmed),
  -- 'no-suspect' (closed with nobody transported), 'override' (a supervisor, with a reason).
  close_kind TEXT CHECK (close_kind IN ('handover', 'no-suspect', 'override')),

  -- The written reason for a no-suspect close or a supervisor's override; NULL otherwise.
  close_reason TEXT,

  -- 警情编号 (alarm number from the command centre) and 案件编号 (case number): 第十四条 asks
  -- every recording to be linked to one of them; NULL until attached.
  alarm_number TEXT,
  case_number TEXT,

  -- Kind of enforcement activity (第五条), e.g. 'dispatch-110', 'stop-and-check'; NULL unknown.
  incident_type TEXT,

  -- Where, as the dispatch gave it; NULL unknown.
  address TEXT,

  -- Badge numbers of the officers, comma-separated; NULL none given.
  officers TEXT,

  -- Retention class of its evidence (第十六条): 'ordinary' (at least six months) or 'permanent'.
  retention TEXT NOT NULL CHECK (retention IN ('ordinary', 'permanent')),

  -- Why the class was set (by a supervisor, or by the incident type); NULL for the default.
  retention_reason TEXT,

  -- When the incident was flagged for having no alarm or case number 24 hours after its close,
  -- nanoseconds since the epoch; NULL if never flagged.
  link_overdue_utc_ns INTEGER,

  CHECK ((closed_utc_ns IS NULL) = (close_kind IS NULL))
);

-- At most one incident is open at a time: the no-stop rule applies to the open one.
CREATE UNIQUE INDEX incident_one_open ON incident ((closed_utc_ns IS NULL))
  WHERE closed_utc_ns IS NULL;

-- The history of each incident, only ever appended: the trigger, every phase, mark, explanation,
-- case link, retention change and the close, with who did it.
CREATE TABLE incident_entry (
  -- Order in which the entries were written.
  id INTEGER PRIMARY KEY,

  incident_id TEXT NOT NULL REFERENCES incident (id),

  -- System clock, nanoseconds since the epoch.
  utc_ns INTEGER NOT NULL,

  -- 'trigger', 'phase', 'mark', 'explanation', 'link', 'retention', 'close', 'link-overdue'.
  kind TEXT NOT NULL CHECK (length(kind) > 0),

  -- The phase, the note, the explanation, 'case_number=...', the reason ...
  value TEXT NOT NULL,

  -- Who: a user name from the configuration, 'input:<name>' for a hardware trigger, or
  -- 'patrolrecd' for the daemon itself.
  actor TEXT NOT NULL
);
CREATE INDEX incident_entry_by_incident ON incident_entry (incident_id, id);

-- Incidents select their segments by time.
CREATE INDEX segment_by_time ON segment (start_utc_ns, end_utc_ns);
)sql",

    // Version 4: the uplink's multipart uploads and their acknowledged parts (docs/uplink.md), so
    // that an upload resumes after a dropped link or a restart without sending again the parts
    // the server already holds, and so that a segment counts as safely uploaded only once the
    // server's copy was read back and checked.
    R"sql(
-- One row per attempt to upload a file to a bucket and key. A row is added when the server has
-- given an upload id (CreateMultipartUpload), before any part is sent; it then only moves forward:
-- uploading -> completed -> verified, or to aborted. An aborted row is kept (it explains the
-- upload id that the server no longer has) and a new row is added for the next attempt.
CREATE TABLE upload (
  -- Row number in this catalog only.
  id INTEGER PRIMARY KEY,

  -- The local file, relative to the data directory as segment.file (a segment, its seal or its
  -- track); not a foreign key, because seals and tracks have no segment row of their own.
  file TEXT NOT NULL CHECK (length(file) > 0),

  -- Bucket on the S3 server, e.g. 'patrolrec-evidence'.
  bucket TEXT NOT NULL CHECK (length(bucket) > 0),

  -- Object key in the bucket, e.g. 'PR-0001/road/PR-0001_road_20261129T011630.250Z.mp4'.
  key TEXT NOT NULL CHECK (length(key) > 0),

  -- The server's multipart upload id, as CreateMultipartUpload returned it.
  upload_id TEXT NOT NULL CHECK (length(upload_id) > 0),

  -- Size of every part but the last, bytes (S3 wants at least 5 MiB, except in tests).
  part_size INTEGER NOT NULL CHECK (part_size > 0),

  -- Size of the whole file, bytes.
  size INTEGER NOT NULL CHECK (size >= 0),

  -- SHA-256 of the whole file being uploaded: 64 lower-case hex digits; the segment's sha256.
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),

  -- How long the server must keep the object: 'ordinary' (object-lock retention, at least six
  -- months) or 'permanent' (object-lock legal hold).
  retention_class TEXT NOT NULL CHECK (retention_class IN ('ordinary', 'permanent')),

  -- 'uploading': parts are being sent. 'completed': CompleteMultipartUpload answered, not yet
  -- read back. 'verified': size, ETag and retention read back from the server and found right;
  -- only now may the local file be evicted. 'aborted': given up, see detail.
  state TEXT NOT NULL CHECK (state IN ('uploading', 'completed', 'verified', 'aborted')),

  -- When the upload id was obtained: nanoseconds since 1970-01-01T00:00:00Z.
  started_utc_ns INTEGER NOT NULL CHECK (started_utc_ns >= 0),

  -- When CompleteMultipartUpload answered: nanoseconds since 1970-01-01T00:00:00Z; NULL before.
  completed_utc_ns INTEGER CHECK (completed_utc_ns >= 0),

  -- When the server's copy was found right: nanoseconds since 1970-01-01T00:00:00Z; NULL before.
  verified_utc_ns INTEGER CHECK (verified_utc_ns >= 0),

  -- The object's ETag as the server reported it after completion, without quotes: for a
  -- multipart object the hex MD5 of its parts' MD5s, '-', the number of parts; NULL before.
  remote_etag TEXT,

  -- The retention read back from the server, e.g. 'COMPLIANCE until 2027-05-31T05:00:00Z' or
  -- 'legal hold ON'; NULL before verification.
  retention_result TEXT,

  -- Why the upload was aborted, e.g. 'the server no longer knows the upload id (NoSuchUpload)';
  -- NULL unless aborted.
  detail TEXT CHECK ((state = 'aborted') = (detail IS NOT NULL)),

  CHECK ((state = 'verified') = (verified_utc_ns IS NOT NULL))
);

-- At most one live (not aborted) upload per object; the lookup on resume uses this index.
CREATE UNIQUE INDEX upload_live_by_object ON upload (bucket, key) WHERE state != 'aborted';
-- AbortStaleUploads asks whether the server's upload ids are known here.
CREATE INDEX upload_by_upload_id ON upload (upload_id);

-- One row per part the server has acknowledged (UploadPart answered 200 with its ETag), written
-- right after the answer. A part the server holds but that has no row here (a crash between the
-- answer and this row) is found by ListParts on resume and checked against the local bytes.
CREATE TABLE upload_part (
  -- The upload it belongs to.
  upload INTEGER NOT NULL REFERENCES upload (id) ON DELETE CASCADE,

  -- Part number: 1 .. 10000; part n covers bytes (n - 1) * part_size .. of the file.
  number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 10000),

  -- Size of the part, bytes.
  size INTEGER NOT NULL CHECK (size >= 0),

  -- The server's ETag for the part, without quotes (its MD5 in hex on every server we know).
  etag TEXT NOT NULL CHECK (length(etag) > 0),

  -- MD5 of the part as sent (sent as Content-MD5, which the server checks): 32 lower-case hex
  -- digits.
  md5 TEXT NOT NULL CHECK (length(md5) = 32 AND md5 NOT GLOB '*[^0-9a-f]*'),

  -- SHA-256 of the part as sent (signed as x-amz-content-sha256, which the server checks): 64
  -- lower-case hex digits.
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),

  -- When the server acknowledged it: nanoseconds since 1970-01-01T00:00:00Z.
  uploaded_utc_ns INTEGER NOT NULL CHECK (uploaded_utc_ns >= 0),

  PRIMARY KEY (upload, number)
);
)sql",

    // Version 5: evictions (docs/retention.md). A segment's video is removed to make room only
    // once the server holds a verified copy of it, its seal and its track; the seal and the track
    // stay, so every camera's chain still verifies on the device. The segment row is not changed
    // (a row only ever goes to 'missing'): this table says which rows have no video by design.
    R"sql(
-- One row per segment whose video file (segment.file) is evicted or being evicted. The durability
-- order is the design: this row is committed first (marked), then the file is removed, then its
-- directory is fsynced, then removed_utc_ns is set (finalised). A row with removed_utc_ns NULL is
-- an eviction a power cut interrupted: the next start removes the file if it is still there,
-- syncs the directory and finalises the row. Rows are never deleted.
CREATE TABLE eviction (
  -- Row number in this catalog only; the order in which evictions were decided.
  id INTEGER PRIMARY KEY,

  -- The segment whose video is evicted, as segment.file, e.g.
  -- 'segments/road/PR-0001_road_20261129T011630.250Z_000017.mp4'. Its seal (file || '.seal') and
  -- its track (segment.track_file) are kept.
  file TEXT NOT NULL UNIQUE REFERENCES segment (file),

  -- Camera of the segment, as segment.camera (for listings without a join).
  camera TEXT NOT NULL CHECK (length(camera) > 0),

  -- 'background': the segment belonged to no incident's evidence range. 'evidence': it did.
  class TEXT NOT NULL CHECK (class IN ('background', 'evidence')),

  -- Why it was evicted, as logged, e.g. 'background past 7 days local retention'.
  reason TEXT NOT NULL CHECK (length(reason) > 0),

  -- Size of the video file removed, bytes (segment.bytes).
  bytes INTEGER NOT NULL CHECK (bytes >= 0),

  -- The server copies that allowed it, as the upload rows said when the row was marked: each
  -- object's bucket/key and when it was verified, and the video's retention read back, e.g.
  -- 'patrolrec/PR-0001/road/x.mp4, .seal, .gpx verified 2026-12-01T02:00:00Z; COMPLIANCE until
  -- 2027-06-01T00:00:00Z'. Never empty: no eviction without a verified server copy (R9).
  server_copy TEXT NOT NULL CHECK (length(server_copy) > 0),

  -- When the eviction was decided and this row committed: nanoseconds since 1970-01-01T00:00:00Z.
  marked_utc_ns INTEGER NOT NULL CHECK (marked_utc_ns >= 0),

  -- When the file's removal was made durable (directory fsynced): nanoseconds since
  -- 1970-01-01T00:00:00Z; NULL while the eviction is unfinished.
  removed_utc_ns INTEGER CHECK (removed_utc_ns >= 0)
);

-- Reconciliation finishes the unfinished ones at every start.
CREATE INDEX eviction_unfinished ON eviction (id) WHERE removed_utc_ns IS NULL;

-- The eviction planner asks, for every segment, whether its three files have verified uploads.
CREATE INDEX upload_by_file ON upload (file, state);
)sql",
    // Version 6: the health history (docs/self-check.md, R13): self-check runs with every item,
    // and every camera state change, for the technician. Nothing here is evidence: these rows
    // name no incident and no segment, and they are pruned by age (health.history_days).
    R"sql(
-- One row per self-check run (第九条): at the start of duty, at a dispatch, on request, daily.
-- Written once, when the run has finished; never changed; deleted by age only.
CREATE TABLE selfcheck_run (
  -- Row number in this catalog only: the order of the runs, whatever the wall clock did.
  id INTEGER PRIMARY KEY,

  -- When it ran: nanoseconds since 1970-01-01T00:00:00Z (the daemon's clock, verified or not:
  -- the run's 'clock' item says which).
  utc_ns INTEGER NOT NULL CHECK (utc_ns >= 0),

  -- What started it: 'duty-start' (the daemon started and its cameras settled), 'dispatch' (an
  -- incident opened or completed by a dispatch order), 'request' (POST /v1/self-check) or 'daily'
  -- (every [health] selfcheck_interval_hours).
  trigger TEXT NOT NULL CHECK (trigger IN ('duty-start', 'dispatch', 'request', 'daily')),

  -- The API user who asked (trigger 'request'), else 'patrolrecd'.
  requested_by TEXT NOT NULL CHECK (length(requested_by) > 0),

  -- The worst result of its items: 'fail' if any failed, else 'warn' if any warned, else 'pass'.
  overall TEXT NOT NULL CHECK (overall IN ('pass', 'warn', 'fail'))
);

CREATE INDEX selfcheck_run_by_time ON selfcheck_run (utc_ns);

-- One row per item of a run, in the order checked.
CREATE TABLE selfcheck_item (
  -- The run it belongs to; deleted with it.
  run INTEGER NOT NULL REFERENCES selfcheck_run (id) ON DELETE CASCADE,

  -- 0, 1, 2, ...: the item's place in the run.
  position INTEGER NOT NULL CHECK (position >= 0),

  -- What was checked: 'camera:<name>' (a live, non-black, non-frozen, focused picture),
  -- 'audio:<name>' (sound present, not silent), 'clock', 'storage', 'gps', 'signing-key',
  -- 'uplink', 'seals', 'inputs' or 'input'.
  name TEXT NOT NULL CHECK (length(name) > 0),

  -- 'pass', 'warn' (works, but a person should look) or 'fail'.
  result TEXT NOT NULL CHECK (result IN ('pass', 'warn', 'fail')),

  -- Why, with what was measured, e.g. '61.2 h at 4128 kbit/s (minimum 4 h): 55.4 GiB free'.
  reason TEXT NOT NULL,

  PRIMARY KEY (run, position)
);

-- One row per change of a camera's state: the probes' picture and sound states and the
-- pipeline's own (a failure with its cause, a restart). The technician's history of each part.
CREATE TABLE health_event (
  -- Row number in this catalog only: the order of the changes.
  id INTEGER PRIMARY KEY,

  -- When the new state began: nanoseconds since 1970-01-01T00:00:00Z. For a probe state this is
  -- when its condition began to hold, before the hysteresis let it be reported.
  utc_ns INTEGER NOT NULL CHECK (utc_ns >= 0),

  -- The [camera NAME].
  camera TEXT NOT NULL CHECK (length(camera) > 0),

  -- 'video' or 'audio' (a probe state: 'ok', 'no-signal', 'black', 'frozen', 'covered',
  -- 'defocused', 'moved'; 'ok', 'silent', 'clipped', 'no-audio'), or 'pipeline' (the camera's
  -- pipeline: 'starting', 'recording', 'failed', 'stopping', 'stopped').
  channel TEXT NOT NULL CHECK (channel IN ('video', 'audio', 'pipeline')),

  -- The state entered, and the state left ('' for the first pipeline state after a start).
  state TEXT NOT NULL CHECK (length(state) > 0),
  previous TEXT NOT NULL,

  -- Why, for a person, e.g. 'picture dark and featureless (mean luma 9)' or the pipeline's error;
  -- '' when there is nothing to say (a normal start).
  cause TEXT NOT NULL
);

-- The history window and the pruning by age read by time.
CREATE INDEX health_event_by_time ON health_event (utc_ns);
)sql",
    // Version 7: interruptions (docs/interruptions.md): every gap or fault while an incident was
    // open, with the crew's spoken and written explanations (第十一条、第十三条).
    R"sql(
-- One row per interruption of an incident's recording: opened when the fault begins (or when the
-- incident opens while a fault is going on), ended when the condition is over (the camera records
-- again, the probe is back to ok, space is back, the first frame after a restart or power cut).
-- Rows are never deleted; a row only gains an end, explanations and the flag.
CREATE TABLE interruption (
  -- Row number in this catalog only.
  id INTEGER PRIMARY KEY,

  -- The incident that was open (incident.id).
  incident_id TEXT NOT NULL REFERENCES incident (id),

  -- 1, 2, ... in the order they opened within the incident: the number the crew and the API
  -- use (`patrolctl incident explain ID --interruption N`).
  number INTEGER NOT NULL CHECK (number >= 1),

  -- The camera ([camera NAME]); '' for all of them (a power cut, a daemon restart, storage).
  camera TEXT NOT NULL,

  -- 'camera-failed', 'camera-restarted', 'probe:<state>' (e.g. 'probe:covered',
  -- 'probe:silent'), 'storage-full', 'stopped-for-space', 'recovered-after-power-cut',
  -- 'daemon-restarted'.
  cause TEXT NOT NULL CHECK (length(cause) > 0),

  -- What happened, in words: the pipeline's error, the probe's measurement, the free space.
  detail TEXT NOT NULL,

  -- When it began: nanoseconds since 1970-01-01T00:00:00Z (as segment times). For a power cut,
  -- the end of the last sealed segment; for a fault going on when the incident opened, the
  -- incident's trigger.
  start_utc_ns INTEGER NOT NULL CHECK (start_utc_ns > 0),

  -- When it ended (recording resumed, the state back to ok): nanoseconds since the epoch; NULL
  -- while it goes on.
  end_utc_ns INTEGER CHECK (end_utc_ns >= start_utc_ns),

  -- The spoken explanation: the range of the recording (cabin microphone) the crew marked,
  -- nanoseconds since the epoch; both NULL when none, spoken_to NULL while it is being spoken.
  spoken_from_utc_ns INTEGER CHECK (spoken_from_utc_ns > 0),
  spoken_to_utc_ns INTEGER CHECK (spoken_to_utc_ns >= spoken_from_utc_ns),
  -- Who marked it (a user name); NULL when none.
  spoken_by TEXT,

  -- The written explanation, who gave it and when (nanoseconds since the epoch); NULL when none.
  explanation TEXT CHECK (explanation IS NULL OR length(explanation) > 0),
  explained_by TEXT,
  explained_utc_ns INTEGER,

  -- When the incident closed with this interruption still without its written explanation
  -- (the flag, like incident.link_overdue_utc_ns), nanoseconds since the epoch; NULL if never.
  unexplained_at_close_utc_ns INTEGER,

  CHECK ((explanation IS NULL) = (explained_utc_ns IS NULL)),
  CHECK (spoken_to_utc_ns IS NULL OR spoken_from_utc_ns IS NOT NULL),
  UNIQUE (incident_id, number)
);

-- Open interruptions are looked up on every fault's end and at every start.
CREATE INDEX interruption_open ON interruption (id) WHERE end_utc_ns IS NULL;
)sql",
    // Version 8: the segments still on the disk, found without reading the whole year
    // (bench/catalog-year; docs/retention.md, Measurements). The eviction planner reads only
    // these, oldest first, a page at a time.
    R"sql(
-- An added column's text is kept after the table's last line, so its comment is inside it.
ALTER TABLE segment ADD COLUMN evicted INTEGER NOT NULL DEFAULT 0
  -- 1 once the segment's video has been (or is being) evicted: set in the transaction that adds
  -- its eviction row (Catalog::MarkEvicting), never cleared. 0 while the video is on the disk
  -- (or missing: state says so). Segments evicted before version 8 get it from their eviction
  -- rows.
  CHECK (evicted IN (0, 1));
UPDATE segment SET evicted = 1 WHERE file IN (SELECT file FROM eviction);

-- The segments whose video is still on the disk, oldest first: a few days of a year's rows.
CREATE INDEX segment_local ON segment (start_utc_ns, id) WHERE evicted = 0 AND state != 'missing';
)sql",
    // Version 9: evidence export requests, their approvals and the one export each allows
    // (docs/export.md, 第十八条).
    R"sql(
-- One row per request to copy footage off the device. A row only moves forward: requested ->
-- approved -> exported, or requested -> refused (daemon/export_service.h).
CREATE TABLE export_request (
  id INTEGER PRIMARY KEY,  -- the request's number, as the API and patrolctl name it
  requested_utc_ns INTEGER NOT NULL,  -- when it was asked, ns since the Unix epoch, UTC
  requester TEXT NOT NULL,  -- the [user NAME] who asked
  requester_role TEXT NOT NULL,  -- their role then: officer, supervisor, technician, auditor
  -- who the footage is for, in 第十八条's categories (storage/export_record.h)
  requester_kind TEXT NOT NULL CHECK (requester_kind IN
    ('own-department', 'other-department', 'oversight', 'outside-body', 'judicial')),
  requester_unit TEXT NOT NULL,  -- the department or body in words; '' for the crew's own
  legal_document TEXT NOT NULL,  -- a judicial request's legal document; '' otherwise
  purpose TEXT NOT NULL CHECK (purpose IN
    ('case-review', 'supervision', 'complaint', 'court', 'training-publicity')),
  incident_id TEXT,  -- the incident asked for; NULL for a bare time range
  from_utc_ns INTEGER NOT NULL,  -- the footage asked for starts here (inclusive), ns UTC
  to_utc_ns INTEGER NOT NULL CHECK (to_utc_ns > from_utc_ns),  -- and ends here (exclusive)
  note TEXT NOT NULL,  -- the requester's words
  state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'refused', 'exported')),
  decided_utc_ns INTEGER,  -- when a supervisor approved or refused; NULL until then
  decided_by TEXT,  -- that supervisor's [user NAME]
  decision_reason TEXT,  -- their reason, in words
  approval_kind TEXT,  -- the approval given (RequiredApproval of requester_kind); NULL if refused
  expires_utc_ns INTEGER,  -- an approval is void after this, ns UTC ([export] approval_expiry_hours)
  exported_utc_ns INTEGER,  -- when the package was written and verified; NULL until then
  exported_by TEXT,  -- the [user NAME] who extracted it
  medium TEXT,  -- the [medium NAME] it was written to
  package TEXT,  -- the package's directory name on the medium
  manifest_sha256 TEXT,  -- SHA-256 of its manifest.json, lower hex
  CHECK (state = 'requested' OR decided_utc_ns IS NOT NULL),
  CHECK (state != 'exported' OR exported_utc_ns IS NOT NULL)
);
)sql",
};
static_assert(std::size(kUpgradeSteps) == Catalog::kSchemaVersion,
              "one upgrade step per schema version");

// The columns RowToRecord reads, in its order.
const std::string kSelectSegment =
    "SELECT device_id, camera, sequence, file, start_utc_ns, end_utc_ns, duration_ns, frames, "
    "bytes, sha256, prev_chain, chain, signature, state, sealed_utc_ns, time_source, "
    "clock_offset_ns, track_file, track_sha256, track_points FROM segment ";

// The columns RowToTrackPoint reads, in its order.
const std::string kSelectTrackPoint =
    "SELECT utc_ns, gps_utc_ns, latitude_deg, longitude_deg, altitude_m, speed_mps, course_deg, "
    "mode, satellites_used, horizontal_error_m, vertical_error_m FROM track_point ";

struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// What the operator should do about a damaged catalog: patrolrecd can rebuild its own; a copy
// opened read-only (by the verifier) is not needed to check the segments at all.
enum class Mode { kReadWrite, kReadOnly };

bool IsCorruption(int code) {
  code &= 0xff;
  return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
}

// "catalog <path>: <what>: <SQLite's message>", with the errno for I/O failures and advice for a
// corrupt file.
Status DbError(sqlite3* db, const std::string& path, const std::string& what,
               Mode mode = Mode::kReadWrite) {
  std::string message = "catalog " + path + ": " + what + ": ";
  message += db ? sqlite3_errmsg(db) : "out of memory";
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM;
  int primary = code & 0xff;
  if ((primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR || primary == SQLITE_FULL) &&
      sqlite3_system_errno(db) != 0) {
    message += " (" + base::ErrnoText(sqlite3_system_errno(db)) + ")";
  }
  if (IsCorruption(code)) {
    message += mode == Mode::kReadWrite
                   ? ": move it aside and restart: patrolrecd rebuilds it from the seals"
                   : ": the segments can still be checked from their seals without a catalog";
  }
  return Status::Error(message);
}

Result<Statement> Prepare(sqlite3* db, const std::string& path, const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size() + 1), &statement, nullptr) !=
      SQLITE_OK) {
    sqlite3_finalize(statement);
    return DbError(db, path, "preparing \"" + sql + "\"");
  }
  return Statement(statement);
}

// Binding: text as UTF-8 copied by SQLite, integers as int64, an empty optional text as NULL.
struct TextOrNull {
  const std::string& text;  // NULL when empty
};
int BindOne(sqlite3_stmt* s, int index, const std::string& value) {
  return sqlite3_bind_text64(s, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}
int BindOne(sqlite3_stmt* s, int index, const char* value) {
  return sqlite3_bind_text(s, index, value, -1, SQLITE_TRANSIENT);
}
int BindOne(sqlite3_stmt* s, int index, int64_t value) {
  return sqlite3_bind_int64(s, index, value);
}
int BindOne(sqlite3_stmt* s, int index, TextOrNull value) {
  return value.text.empty() ? sqlite3_bind_null(s, index) : BindOne(s, index, value.text);
}
// An integer that may be unknown. (Not std::optional: GCC 12 warns, wrongly, that an optional
// built in a conditional expression may be read uninitialised.)
struct IntOrNull {
  bool known;
  int64_t value;
};
int BindOne(sqlite3_stmt* s, int index, IntOrNull value) {
  return value.known ? sqlite3_bind_int64(s, index, value.value) : sqlite3_bind_null(s, index);
}
// A NaN real (a quantity not reported) as NULL.
int BindOne(sqlite3_stmt* s, int index, double value) {
  return std::isnan(value) ? sqlite3_bind_null(s, index) : sqlite3_bind_double(s, index, value);
}
template <typename... Values>
int Bind(sqlite3_stmt* s, const Values&... values) {
  int rc = SQLITE_OK;
  int index = 0;
  ((rc = rc == SQLITE_OK ? BindOne(s, ++index, values) : rc), ...);
  return rc;
}

std::string ColumnText(sqlite3_stmt* s, int column) {
  const unsigned char* text = sqlite3_column_text(s, column);
  return text ? std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(s, column))
              : std::string();
}

Result<SegmentRecord> RowToRecord(sqlite3_stmt* s, const std::string& path) {
  SegmentRecord r;
  r.device_id = ColumnText(s, 0);
  r.camera = ColumnText(s, 1);
  r.sequence = sqlite3_column_int64(s, 2);
  r.file = ColumnText(s, 3);
  r.start_utc_ns = sqlite3_column_int64(s, 4);
  r.end_utc_ns = sqlite3_column_int64(s, 5);
  r.duration_ns = sqlite3_column_int64(s, 6);
  r.frames = sqlite3_column_int64(s, 7);
  r.bytes = sqlite3_column_int64(s, 8);
  r.sha256_hex = ColumnText(s, 9);
  r.prev_chain_hex = ColumnText(s, 10);
  r.chain_hex = ColumnText(s, 11);
  r.signature_b64 = ColumnText(s, 12);
  std::string state = ColumnText(s, 13);
  if (!ParseSegmentState(state, &r.state)) {
    // The CHECK constraint makes this unreachable unless the file was edited by hand.
    return Status::Error("catalog " + path + ": segment \"" + r.file + "\" has unknown state \"" +
                         state + "\"");
  }
  r.sealed_utc_ns = sqlite3_column_int64(s, 14);
  r.time_source = ColumnText(s, 15);
  if (sqlite3_column_type(s, 16) != SQLITE_NULL) r.clock_offset_ns = sqlite3_column_int64(s, 16);
  r.track_file = ColumnText(s, 17);
  r.track_sha256_hex = ColumnText(s, 18);
  r.track_points = sqlite3_column_int64(s, 19);
  return r;
}

// A REAL column, NaN for NULL (not reported).
double ColumnReal(sqlite3_stmt* s, int column) {
  return sqlite3_column_type(s, column) == SQLITE_NULL ? kTrackUnknown
                                                       : sqlite3_column_double(s, column);
}

TrackPoint RowToTrackPoint(sqlite3_stmt* s) {
  TrackPoint p;
  p.utc_ns = sqlite3_column_int64(s, 0);
  p.gps_utc_ns = sqlite3_column_int64(s, 1);  // 0 for NULL
  p.latitude_deg = sqlite3_column_double(s, 2);
  p.longitude_deg = sqlite3_column_double(s, 3);
  p.altitude_m = ColumnReal(s, 4);
  p.speed_mps = ColumnReal(s, 5);
  p.course_deg = ColumnReal(s, 6);
  p.mode = sqlite3_column_int(s, 7);
  p.satellites_used = sqlite3_column_type(s, 8) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 8);
  p.horizontal_error_m = ColumnReal(s, 9);
  p.vertical_error_m = ColumnReal(s, 10);
  return p;
}

// Runs a prepared SELECT of kSelectSegment columns to the end.
Result<std::vector<SegmentRecord>> ReadSegments(sqlite3* db, const std::string& path,
                                                sqlite3_stmt* s, const std::string& what) {
  std::vector<SegmentRecord> records;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    Result<SegmentRecord> record = RowToRecord(s, path);
    if (!record.ok()) return record.status();
    records.push_back(std::move(record).value());
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  return records;
}

template <typename... Keys>
Result<std::optional<SegmentRecord>> FindOne(sqlite3* db, const std::string& path,
                                             const std::string& where, const std::string& what,
                                             const Keys&... keys) {
  Result<Statement> s = Prepare(db, path, kSelectSegment + where);
  if (!s.ok()) return s.status();
  if (Bind(s->get(), keys...) != SQLITE_OK) return DbError(db, path, what);
  Result<std::vector<SegmentRecord>> rows = ReadSegments(db, path, s->get(), what);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<SegmentRecord>();
  return std::optional<SegmentRecord>(std::move(rows->front()));
}

// Statement-level work with no values (pragmas, transaction control, the schema).
int Exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

// A write transaction, rolled back unless committed. BEGIN IMMEDIATE takes the write lock at once,
// so a check-then-insert cannot be overtaken by another writer between the check and the insert.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_ && !sqlite3_get_autocommit(db_)) Exec(db_, "ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  int Begin() {
    int rc = Exec(db_, "BEGIN IMMEDIATE");
    open_ = rc == SQLITE_OK;
    return rc;
  }
  int Commit() {
    int rc = Exec(db_, "COMMIT");
    if (rc == SQLITE_OK) open_ = false;
    return rc;
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

Result<int> ReadUserVersion(sqlite3* db, const std::string& path, Mode mode) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &raw, nullptr);
  Statement s(raw);
  if (rc == SQLITE_OK) rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return DbError(db, path, "reading the schema version", mode);
  return sqlite3_column_int(s.get(), 0);
}

Status RefuseNewer(const std::string& path, int version) {
  return Status::Error("catalog " + path + " was written by a newer patrolrec (schema " +
                       std::to_string(version) + "; this build knows " +
                       std::to_string(Catalog::kSchemaVersion) + "): refusing to open it");
}

// Brings the catalog to kSchemaVersion, one step per transaction, so a power cut mid-upgrade
// leaves a catalog at some whole version that the next start continues from.
Status Upgrade(sqlite3* db, const std::string& path) {
  for (;;) {
    Transaction transaction(db);
    if (transaction.Begin() != SQLITE_OK) return DbError(db, path, "starting a schema upgrade");
    // Read again under the write lock: another process may have upgraded meanwhile.
    Result<int> version = ReadUserVersion(db, path, Mode::kReadWrite);
    if (!version.ok()) return version.status();
    if (*version > Catalog::kSchemaVersion) return RefuseNewer(path, *version);
    if (*version == Catalog::kSchemaVersion) return Status::Ok();
    if (*version == 0) {
      // Version 0 must be an empty database; never add our tables to somebody else's.
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &raw, nullptr);
      Statement s(raw);
      if (rc == SQLITE_OK) rc = sqlite3_step(s.get());
      if (rc != SQLITE_ROW) return DbError(db, path, "reading the schema");
      if (sqlite3_column_int64(s.get(), 0) != 0) {
        return Status::Error("catalog " + path +
                             " is an SQLite database with schema version 0 that already has "
                             "tables: it is not a patrolrec catalog; refusing to change it");
      }
    }
    const int to = *version + 1;
    const std::string step = "upgrading the schema from version " + std::to_string(*version) +
                             " to " + std::to_string(to);
    if (Exec(db, kUpgradeSteps[*version]) != SQLITE_OK) return DbError(db, path, step);
    // PRAGMA takes no bound parameters; `to` is our own step number, not outside data.
    if (Exec(db, "PRAGMA user_version = " + std::to_string(to)) != SQLITE_OK) {
      return DbError(db, path, step);
    }
    if (transaction.Commit() != SQLITE_OK) return DbError(db, path, step);
    base::LogInfo("catalog schema upgraded",
                  {{"CATALOG", path}, {"SCHEMA_VERSION", std::to_string(to)}});
  }
}

// "sha256 differs (catalog ab…, new cd…)" for each field in which two records differ.
std::string Differences(const SegmentRecord& catalog, const SegmentRecord& incoming) {
  std::string out;
  for (const FieldDifference& d : CompareSegmentRecords(catalog, incoming)) {
    if (!out.empty()) out += "; ";
    out += d.field + " differs (catalog " + d.left + ", new " + d.right + ")";
  }
  return out;
}

std::string Describe(const SegmentRecord& r) {
  return "\"" + r.file + "\" (camera \"" + r.camera + "\", sequence " + std::to_string(r.sequence) +
         ")";
}

}  // namespace

Catalog::Catalog(sqlite3* db) : db_(db) {}

// Every statement is finalized by the time its call returns, so close cannot be left busy.
Catalog::~Catalog() { sqlite3_close_v2(db_); }

int Catalog::schema_version() const { return schema_version_; }

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  // The Catalog owns the handle from here on, so every return below closes it.
  std::unique_ptr<Catalog> catalog(new Catalog(db));
  catalog->path_ = path;
  if (rc != SQLITE_OK) return DbError(db, path, "opening");
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);

  // The version is read before anything is changed, so a catalog from a newer build (or a file
  // that is not a database at all) is refused untouched.
  Result<int> version = ReadUserVersion(db, path, Mode::kReadWrite);
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) return RefuseNewer(path, *version);

  // WAL: a reader (patrolctl, the web UI) never blocks the recorder, and a commit is one append
  // plus one fsync. synchronous=FULL: fsync the WAL at every commit, because a segment's row
  // must be durable before the recorder reports the segment as stored.
  {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
    Statement s(raw);
    if (rc == SQLITE_OK) rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return DbError(db, path, "switching to WAL mode");
    std::string mode = ColumnText(s.get(), 0);
    if (mode != "wal") {
      return Status::Error("catalog " + path + ": SQLite refused WAL mode (journal mode is \"" +
                           mode + "\"); is the data directory on a filesystem without mmap?");
    }
  }
  if (Exec(db, "PRAGMA synchronous = FULL") != SQLITE_OK) {
    return DbError(db, path, "setting synchronous = FULL");
  }
  if (Exec(db, "PRAGMA foreign_keys = ON") != SQLITE_OK) {
    return DbError(db, path, "enabling foreign keys");
  }

  Status upgraded = Upgrade(db, path);
  if (!upgraded.ok()) return upgraded;
  catalog->schema_version_ = kSchemaVersion;
  return catalog;
}

Result<std::unique_ptr<Catalog>> Catalog::OpenReadOnly(const std::string& path) {
  // A plain SQLITE_OPEN_READONLY connection to a WAL database creates the -shm file, and
  // immutable=1 would ignore the WAL and with it every row not yet checkpointed (after a power
  // cut that can be the last hour). The "unix-none" VFS takes no file locks, and with
  // locking_mode = EXCLUSIVE SQLite builds the WAL index in memory instead of in a -shm file: the
  // WAL is read, nothing is created, nothing is written, and the WAL is not checkpointed at close.
  if (!sqlite3_vfs_find("unix-none")) {
    return Status::Error("catalog " + path +
                         ": this SQLite has no \"unix-none\" VFS, needed to read a catalog "
                         "without changing it");
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, "unix-none");
  std::unique_ptr<Catalog> catalog(new Catalog(db));
  catalog->path_ = path;
  if (rc != SQLITE_OK) return DbError(db, path, "opening read-only", Mode::kReadOnly);
  sqlite3_extended_result_codes(db, 1);
  if (Exec(db, "PRAGMA locking_mode = EXCLUSIVE") != SQLITE_OK ||
      Exec(db, "PRAGMA query_only = ON") != SQLITE_OK) {
    return DbError(db, path, "opening read-only", Mode::kReadOnly);
  }
  Result<int> version = ReadUserVersion(db, path, Mode::kReadOnly);
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) return RefuseNewer(path, *version);
  if (*version < kOldestReadableVersion) {
    // Upgrading would change the file, which this open promises not to do.
    return Status::Error("catalog " + path + " has schema version " + std::to_string(*version) +
                         (*version == 0 ? " (an empty database, or not a patrolrec catalog)" : "") +
                         "; this build reads versions " + std::to_string(kOldestReadableVersion) +
                         " to " + std::to_string(kSchemaVersion) +
                         " and does not upgrade a catalog opened read-only");
  }
  catalog->schema_version_ = *version;
  return catalog;
}

Status Catalog::InsertSegment(const SegmentRecord& record) {
  if (record.state == SegmentState::kMissing) {
    return Status::Error("catalog " + path_ + ": segment " + Describe(record) +
                         ": a new row must be sealed or recovered, not missing");
  }
  const std::string what = "inserting segment " + Describe(record);
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);

  // The rows this record could collide with: the one with its file, and the one at its place in
  // the chain. Both absent: insert. An identical row: nothing to do (recovery may re-run).
  // Anything else is a conflict, and the transaction is rolled back untouched.
  Result<std::optional<SegmentRecord>> same_file =
      FindOne(db_, path_, "WHERE file = ?1", what, record.file);
  if (!same_file.ok()) return same_file.status();
  Result<std::optional<SegmentRecord>> same_place = FindOne(
      db_, path_, "WHERE camera = ?1 AND sequence = ?2", what, record.camera, record.sequence);
  if (!same_place.ok()) return same_place.status();
  for (const std::optional<SegmentRecord>* existing : {&*same_file, &*same_place}) {
    if (!existing->has_value()) continue;
    std::string differences = Differences(**existing, record);
    if (!differences.empty()) {
      return Status::Error("catalog " + path_ + ": refusing segment " + Describe(record) +
                           ": it conflicts with the catalogued segment " + Describe(**existing) +
                           ": " + differences);
    }
  }
  if (same_file->has_value()) return Status::Ok();

  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT INTO segment (device_id, camera, sequence, file, start_utc_ns, end_utc_ns, "
      "duration_ns, frames, bytes, sha256, prev_chain, chain, signature, state, sealed_utc_ns, "
      "time_source, clock_offset_ns, track_file, track_sha256, track_points) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
      "?19, ?20)");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), record.device_id, record.camera, record.sequence, record.file,
           record.start_utc_ns, record.end_utc_ns, record.duration_ns, record.frames, record.bytes,
           record.sha256_hex, record.prev_chain_hex, record.chain_hex, record.signature_b64,
           SegmentStateName(record.state), record.sealed_utc_ns, record.time_source,
           IntOrNull{record.clock_offset_ns.has_value(), record.clock_offset_ns.value_or(0)},
           record.track_file, record.track_sha256_hex, record.track_points) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return Status::Ok();
}

Status Catalog::MarkMissing(const std::string& file) {
  return MarkMissing(file, base::Clock::System()->NowUtcNs());
}

Status Catalog::MarkMissing(const std::string& file, int64_t missing_since_utc_ns) {
  const std::string what = "marking segment \"" + file + "\" missing";
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  Result<std::optional<SegmentRecord>> existing =
      FindOne(db_, path_, "WHERE file = ?1", what, file);
  if (!existing.ok()) return existing.status();
  if (!existing->has_value()) {
    return Status::Error("catalog " + path_ + ": " + what + ": no such segment in the catalog");
  }
  // Already missing: keep the time it was first found missing.
  if ((*existing)->state == SegmentState::kMissing) return Status::Ok();
  Result<Statement> s =
      Prepare(db_, path_,
              "UPDATE segment SET state = 'missing', missing_since_utc_ns = ?2 WHERE file = ?1");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), file, missing_since_utc_ns) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return Status::Ok();
}

Result<std::optional<SegmentRecord>> Catalog::FindByFile(const std::string& file) {
  return FindOne(db_, path_, "WHERE file = ?1", "looking up segment \"" + file + "\"", file);
}

Result<std::optional<SegmentRecord>> Catalog::LastSegment(const std::string& camera) {
  return FindOne(db_, path_, "WHERE camera = ?1 ORDER BY sequence DESC LIMIT 1",
                 "looking up the last segment of camera \"" + camera + "\"", camera);
}

Result<std::vector<SegmentRecord>> Catalog::Segments(const std::string& camera) {
  const std::string what =
      camera.empty() ? "listing segments" : "listing segments of camera \"" + camera + "\"";
  Result<Statement> s =
      Prepare(db_, path_,
              kSelectSegment + (camera.empty() ? "ORDER BY camera, sequence"
                                               : "WHERE camera = ?1 ORDER BY sequence"));
  if (!s.ok()) return s.status();
  if (!camera.empty() && Bind(s->get(), camera) != SQLITE_OK) return DbError(db_, path_, what);
  return ReadSegments(db_, path_, s->get(), what);
}

Status Catalog::AddEvent(const CatalogEvent& event) {
  const std::string what = "adding event \"" + event.kind + "\"";
  if (event.kind.empty()) {
    return Status::Error("catalog " + path_ + ": adding an event: its kind is empty");
  }
  Result<Statement> s =
      Prepare(db_, path_,
              "INSERT INTO event (utc_ns, kind, camera, file, detail) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!s.ok()) return s.status();
  // One statement is one implicit transaction, durable at return under synchronous=FULL.
  if (Bind(s->get(), event.utc_ns, event.kind, TextOrNull{event.camera}, TextOrNull{event.file},
           event.detail) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  return Status::Ok();
}

Status Catalog::InsertTrackPoint(const TrackPoint& point) {
  const std::string what = "adding the track point received at " + base::FormatUtcNs(point.utc_ns);
  // NaN would be stored as NULL and pass the range checks; say what is wrong instead.
  if (!IsWritableTrackPoint(point)) {
    return Status::Error("catalog " + path_ + ": " + what +
                         ": it has no valid position (latitude, longitude and mode 2 or 3)");
  }
  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT INTO track_point (utc_ns, gps_utc_ns, latitude_deg, longitude_deg, altitude_m, "
      "speed_mps, course_deg, mode, satellites_used, horizontal_error_m, vertical_error_m) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!s.ok()) return s.status();
  // One statement is one implicit transaction, durable at return under synchronous=FULL.
  if (Bind(s->get(), point.utc_ns, IntOrNull{point.gps_utc_ns > 0, point.gps_utc_ns},
           point.latitude_deg, point.longitude_deg, point.altitude_m, point.speed_mps,
           point.course_deg, int64_t{point.mode},
           IntOrNull{point.satellites_used >= 0, point.satellites_used}, point.horizontal_error_m,
           point.vertical_error_m) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  return Status::Ok();
}

Result<std::vector<TrackPoint>> Catalog::TrackPoints(int64_t from_utc_ns, int64_t to_utc_ns) {
  const std::string what = "listing track points from " + base::FormatUtcNs(from_utc_ns) + " to " +
                           base::FormatUtcNs(to_utc_ns);
  Result<Statement> s = Prepare(
      db_, path_, kSelectTrackPoint + "WHERE utc_ns >= ?1 AND utc_ns < ?2 ORDER BY utc_ns, id");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), from_utc_ns, to_utc_ns) != SQLITE_OK) return DbError(db_, path_, what);
  std::vector<TrackPoint> points;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) points.push_back(RowToTrackPoint(s->get()));
  if (rc != SQLITE_DONE) return DbError(db_, path_, what);
  return points;
}

Result<std::vector<CatalogEvent>> Catalog::Events() {
  Result<Statement> s =
      Prepare(db_, path_, "SELECT utc_ns, kind, camera, file, detail, id FROM event ORDER BY id");
  if (!s.ok()) return s.status();
  std::vector<CatalogEvent> events;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    CatalogEvent event;
    event.utc_ns = sqlite3_column_int64(s->get(), 0);
    event.kind = ColumnText(s->get(), 1);
    event.camera = ColumnText(s->get(), 2);
    event.file = ColumnText(s->get(), 3);
    event.detail = ColumnText(s->get(), 4);
    event.id = sqlite3_column_int64(s->get(), 5);
    events.push_back(std::move(event));
  }
  if (rc != SQLITE_DONE) return DbError(db_, path_, "listing events");
  return events;
}

// --- incidents ----------------------------------------------------------------------------------

namespace {

const std::string kSelectIncident =
    "SELECT id, trigger, trigger_detail, trigger_utc_ns, pre_event_s, post_event_s, phase, "
    "closed_utc_ns, close_kind, close_reason, alarm_number, case_number, incident_type, address, "
    "officers, retention, retention_reason, link_overdue_utc_ns FROM incident ";

std::string JoinComma(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (!text.empty() && start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<IncidentRecord> RowToIncident(sqlite3_stmt* s, const std::string& path) {
  IncidentRecord r;
  r.id = ColumnText(s, 0);
  r.trigger = ColumnText(s, 1);
  r.trigger_detail = ColumnText(s, 2);
  r.trigger_utc_ns = sqlite3_column_int64(s, 3);
  r.pre_event_s = sqlite3_column_int(s, 4);
  r.post_event_s = sqlite3_column_int(s, 5);
  if (!ParseIncidentPhase(ColumnText(s, 6), &r.phase)) {
    return Status::Error("catalog " + path + ": incident \"" + r.id + "\" has an unknown phase \"" +
                         ColumnText(s, 6) + "\"");
  }
  r.closed_utc_ns = sqlite3_column_int64(s, 7);  // NULL reads as 0: open
  r.close_kind = ColumnText(s, 8);
  r.close_reason = ColumnText(s, 9);
  r.alarm_number = ColumnText(s, 10);
  r.case_number = ColumnText(s, 11);
  r.incident_type = ColumnText(s, 12);
  r.address = ColumnText(s, 13);
  r.officers = SplitComma(ColumnText(s, 14));
  if (!ParseRetentionClass(ColumnText(s, 15), &r.retention)) {
    return Status::Error("catalog " + path + ": incident \"" + r.id +
                         "\" has an unknown retention class \"" + ColumnText(s, 15) + "\"");
  }
  r.retention_reason = ColumnText(s, 16);
  r.link_overdue_utc_ns = sqlite3_column_int64(s, 17);
  return r;
}

Status ReadEntries(sqlite3* db, const std::string& path, IncidentRecord* incident) {
  const std::string what = "reading the history of incident \"" + incident->id + "\"";
  Result<Statement> s = Prepare(db, path,
                                "SELECT utc_ns, kind, value, actor FROM incident_entry "
                                "WHERE incident_id = ?1 ORDER BY id");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), incident->id) != SQLITE_OK) return DbError(db, path, what);
  int rc;
  incident->entries.clear();
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    incident->entries.push_back({sqlite3_column_int64(s->get(), 0), ColumnText(s->get(), 1),
                                 ColumnText(s->get(), 2), ColumnText(s->get(), 3)});
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  return Status::Ok();
}

Result<std::vector<IncidentRecord>> ReadIncidents(sqlite3* db, const std::string& path,
                                                  const std::string& where, const std::string& what,
                                                  const std::string& key) {
  Result<Statement> s = Prepare(db, path, kSelectIncident + where);
  if (!s.ok()) return s.status();
  if (!key.empty() && Bind(s->get(), key) != SQLITE_OK) return DbError(db, path, what);
  std::vector<IncidentRecord> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    Result<IncidentRecord> r = RowToIncident(s->get(), path);
    if (!r.ok()) return r.status();
    out.push_back(std::move(r).value());
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  for (IncidentRecord& r : out) {
    Status read = ReadEntries(db, path, &r);
    if (!read.ok()) return read;
  }
  return out;
}

}  // namespace

Status Catalog::SaveIncident(const IncidentRecord& incident, const std::vector<IncidentEntry>& add) {
  const std::string what = "saving incident \"" + incident.id + "\"";
  if (incident.id.empty() || incident.trigger.empty() || incident.trigger_utc_ns <= 0) {
    return Status::Error("catalog " + path_ + ": " + what +
                         ": an incident needs an id, a trigger and a trigger time");
  }
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT INTO incident (id, trigger, trigger_detail, trigger_utc_ns, pre_event_s, "
      "post_event_s, phase, closed_utc_ns, close_kind, close_reason, alarm_number, case_number, "
      "incident_type, address, officers, retention, retention_reason, link_overdue_utc_ns) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) "
      "ON CONFLICT (id) DO UPDATE SET phase = excluded.phase, closed_utc_ns = "
      "excluded.closed_utc_ns, close_kind = excluded.close_kind, close_reason = "
      "excluded.close_reason, alarm_number = excluded.alarm_number, case_number = "
      "excluded.case_number, incident_type = excluded.incident_type, address = excluded.address, "
      "officers = excluded.officers, retention = excluded.retention, retention_reason = "
      "excluded.retention_reason, link_overdue_utc_ns = excluded.link_overdue_utc_ns");
  if (!s.ok()) return s.status();
  const std::string officers = JoinComma(incident.officers);
  if (Bind(s->get(), incident.id, incident.trigger, incident.trigger_detail,
           incident.trigger_utc_ns, static_cast<int64_t>(incident.pre_event_s),
           static_cast<int64_t>(incident.post_event_s), IncidentPhaseName(incident.phase),
           IntOrNull{!incident.open(), incident.closed_utc_ns},
           TextOrNull{incident.close_kind}, TextOrNull{incident.close_reason},
           TextOrNull{incident.alarm_number}, TextOrNull{incident.case_number},
           TextOrNull{incident.incident_type}, TextOrNull{incident.address},
           TextOrNull{officers}, RetentionClassName(incident.retention),
           TextOrNull{incident.retention_reason},
           IntOrNull{incident.link_overdue_utc_ns != 0, incident.link_overdue_utc_ns}) !=
          SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_CONSTRAINT && incident.open()) {
      return Status::Error("catalog " + path_ + ": " + what +
                           ": another incident is open (at most one is)");
    }
    return DbError(db_, path_, what);
  }
  for (const IncidentEntry& entry : add) {
    Result<Statement> e = Prepare(db_, path_,
                                  "INSERT INTO incident_entry (incident_id, utc_ns, kind, value, "
                                  "actor) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!e.ok()) return e.status();
    if (Bind(e->get(), incident.id, entry.utc_ns, entry.kind, entry.value, entry.actor) !=
            SQLITE_OK ||
        sqlite3_step(e->get()) != SQLITE_DONE) {
      return DbError(db_, path_, what + " (its " + entry.kind + " entry)");
    }
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return Status::Ok();
}

Result<std::optional<IncidentRecord>> Catalog::FindIncident(const std::string& id) {
  Result<std::vector<IncidentRecord>> rows =
      ReadIncidents(db_, path_, "WHERE id = ?1", "reading incident \"" + id + "\"", id);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<IncidentRecord>();
  return std::optional<IncidentRecord>(std::move(rows->front()));
}

Result<std::optional<IncidentRecord>> Catalog::OpenIncident() {
  Result<std::vector<IncidentRecord>> rows = ReadIncidents(
      db_, path_, "WHERE closed_utc_ns IS NULL", "reading the open incident", "");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<IncidentRecord>();
  return std::optional<IncidentRecord>(std::move(rows->front()));
}

Result<std::vector<IncidentRecord>> Catalog::Incidents() {
  return ReadIncidents(db_, path_, "ORDER BY trigger_utc_ns, id", "listing incidents", "");
}

Result<std::vector<IncidentRecord>> Catalog::IncidentsReaching(int64_t from_utc_ns) {
  const std::string what = "listing incidents with evidence after " + base::FormatUtcNs(from_utc_ns);
  // Open ones, and closed ones whose evidence (to the close plus post_event_s) ends after it.
  Result<Statement> s = Prepare(db_, path_,
                                kSelectIncident +
                                    "WHERE closed_utc_ns IS NULL OR closed_utc_ns + post_event_s * "
                                    "1000000000 > ?1 ORDER BY trigger_utc_ns, id");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), from_utc_ns) != SQLITE_OK) return DbError(db_, path_, what);
  std::vector<IncidentRecord> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    Result<IncidentRecord> r = RowToIncident(s->get(), path_);
    if (!r.ok()) return r.status();
    out.push_back(std::move(r).value());
  }
  if (rc != SQLITE_DONE) return DbError(db_, path_, what);
  for (IncidentRecord& r : out) {
    Status read = ReadEntries(db_, path_, &r);
    if (!read.ok()) return read;
  }
  return out;
}

Result<std::vector<SegmentRecord>> Catalog::SegmentsOverlapping(int64_t from_utc_ns,
                                                                 int64_t to_utc_ns) {
  const std::string what = "listing segments from " + base::FormatUtcNs(from_utc_ns);
  Result<Statement> s =
      Prepare(db_, path_,
              kSelectSegment +
                  "WHERE end_utc_ns > ?1 AND start_utc_ns < ?2 AND start_utc_ns > ?1 - ?3 "
                  "ORDER BY camera, sequence");
  if (!s.ok()) return s.status();
  // The lower bound on start_utc_ns makes segment_by_time scan only the segments that can
  // overlap (bench/catalog-year: 52 ms on 10 days without it, growing with the catalog): no
  // segment is longer than [daemon] segment_seconds (at most 3600 s), so a day is a safe margin.
  constexpr int64_t kMaxSegmentSpanNs = int64_t{86'400} * 1'000'000'000;
  if (Bind(s->get(), from_utc_ns, to_utc_ns, kMaxSegmentSpanNs) != SQLITE_OK) {
    return DbError(db_, path_, what);
  }
  return ReadSegments(db_, path_, s->get(), what);
}

namespace {

const std::string kSelectUpload =
    "SELECT id, file, bucket, key, upload_id, part_size, size, sha256, retention_class, state, "
    "started_utc_ns, completed_utc_ns, verified_utc_ns, remote_etag, retention_result, detail "
    "FROM upload ";

// Runs a prepared SELECT of kSelectUpload columns to the end, then reads each row's parts.
Result<std::vector<UploadRecord>> ReadUploads(sqlite3* db, const std::string& path,
                                              sqlite3_stmt* s, const std::string& what) {
  std::vector<UploadRecord> uploads;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    UploadRecord u;
    u.id = sqlite3_column_int64(s, 0);
    u.file = ColumnText(s, 1);
    u.bucket = ColumnText(s, 2);
    u.key = ColumnText(s, 3);
    u.upload_id = ColumnText(s, 4);
    u.part_size = sqlite3_column_int64(s, 5);
    u.size = sqlite3_column_int64(s, 6);
    u.sha256_hex = ColumnText(s, 7);
    std::string retention = ColumnText(s, 8);
    std::string state = ColumnText(s, 9);
    if (!ParseRetentionClass(retention, &u.retention) || !ParseUploadState(state, &u.state)) {
      // The CHECK constraints make this unreachable unless the file was edited by hand.
      return Status::Error("catalog " + path + ": upload of \"" + u.file +
                           "\" has unknown retention class \"" + retention + "\" or state \"" +
                           state + "\"");
    }
    u.started_utc_ns = sqlite3_column_int64(s, 10);
    u.completed_utc_ns = sqlite3_column_int64(s, 11);  // 0 for NULL
    u.verified_utc_ns = sqlite3_column_int64(s, 12);
    u.remote_etag = ColumnText(s, 13);
    u.retention_result = ColumnText(s, 14);
    u.detail = ColumnText(s, 15);
    uploads.push_back(std::move(u));
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  for (UploadRecord& u : uploads) {
    Result<Statement> parts = Prepare(db, path,
                                      "SELECT number, size, etag, md5, sha256, uploaded_utc_ns "
                                      "FROM upload_part WHERE upload = ?1 ORDER BY number");
    if (!parts.ok()) return parts.status();
    if (Bind(parts->get(), u.id) != SQLITE_OK) return DbError(db, path, what);
    while ((rc = sqlite3_step(parts->get())) == SQLITE_ROW) {
      UploadPartRecord p;
      p.number = sqlite3_column_int(parts->get(), 0);
      p.size = sqlite3_column_int64(parts->get(), 1);
      p.etag = ColumnText(parts->get(), 2);
      p.md5_hex = ColumnText(parts->get(), 3);
      p.sha256_hex = ColumnText(parts->get(), 4);
      p.uploaded_utc_ns = sqlite3_column_int64(parts->get(), 5);
      u.parts.push_back(std::move(p));
    }
    if (rc != SQLITE_DONE) return DbError(db, path, what);
  }
  return uploads;
}

template <typename... Keys>
Result<std::optional<UploadRecord>> FindOneUpload(sqlite3* db, const std::string& path,
                                                  const std::string& where,
                                                  const std::string& what, const Keys&... keys) {
  Result<Statement> s = Prepare(db, path, kSelectUpload + where);
  if (!s.ok()) return s.status();
  if (Bind(s->get(), keys...) != SQLITE_OK) return DbError(db, path, what);
  Result<std::vector<UploadRecord>> rows = ReadUploads(db, path, s->get(), what);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<UploadRecord>();
  return std::optional<UploadRecord>(std::move(rows->front()));
}

// One UPDATE of an upload row that must change exactly that row: a row in another state than
// `from_states` (or absent) is an error naming the state it is in.
template <typename... Values>
Status UpdateUpload(sqlite3* db, const std::string& path, int64_t upload, const std::string& what,
                    const std::string& set, const std::string& from_states,
                    const Values&... values) {
  Transaction transaction(db);
  if (transaction.Begin() != SQLITE_OK) return DbError(db, path, what);
  Result<Statement> s = Prepare(db, path,
                                "UPDATE upload SET " + set + " WHERE id = ?1 AND state IN (" +
                                    from_states + ")");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), upload, values...) != SQLITE_OK || sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db, path, what);
  }
  if (sqlite3_changes(db) != 1) {
    Result<std::optional<UploadRecord>> existing =
        FindOneUpload(db, path, "WHERE id = ?1", what, upload);
    if (!existing.ok()) return existing.status();
    return Status::Error("catalog " + path + ": " + what + ": " +
                         (existing->has_value()
                              ? std::string("it is ") + UploadStateName((*existing)->state)
                              : std::string("no such upload")));
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db, path, what);
  return Status::Ok();
}

}  // namespace

Result<int64_t> Catalog::BeginUpload(const UploadRecord& upload) {
  const std::string what =
      "starting the upload of \"" + upload.file + "\" to " + upload.bucket + "/" + upload.key;
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  Result<std::optional<UploadRecord>> live = FindOneUpload(
      db_, path_, "WHERE bucket = ?1 AND key = ?2 AND state != 'aborted'", what, upload.bucket,
      upload.key);
  if (!live.ok()) return live.status();
  if (live->has_value()) {
    return Status::Error("catalog " + path_ + ": " + what + ": the object already has a live " +
                         "upload (" + (*live)->upload_id + ", " +
                         UploadStateName((*live)->state) + ")");
  }
  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT INTO upload (file, bucket, key, upload_id, part_size, size, sha256, "
      "retention_class, state, started_utc_ns) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'uploading', ?9)");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), upload.file, upload.bucket, upload.key, upload.upload_id, upload.part_size,
           upload.size, upload.sha256_hex, RetentionClassName(upload.retention),
           upload.started_utc_ns) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  int64_t id = sqlite3_last_insert_rowid(db_);
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return id;
}

Status Catalog::AddUploadPart(int64_t upload, const UploadPartRecord& part) {
  const std::string what =
      "recording part " + std::to_string(part.number) + " of upload " + std::to_string(upload);
  // One statement is one implicit transaction, durable at return under synchronous=FULL. The
  // foreign key refuses a part of an unknown upload.
  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT OR REPLACE INTO upload_part (upload, number, size, etag, md5, sha256, "
      "uploaded_utc_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), upload, int64_t{part.number}, part.size, part.etag, part.md5_hex,
           part.sha256_hex, part.uploaded_utc_ns) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  return Status::Ok();
}

Status Catalog::MarkUploadCompleted(int64_t upload, const std::string& remote_etag,
                                    int64_t completed_utc_ns) {
  return UpdateUpload(db_, path_, upload, "marking upload " + std::to_string(upload) + " completed",
                      "state = 'completed', remote_etag = ?2, completed_utc_ns = ?3",
                      "'uploading', 'completed'", remote_etag, completed_utc_ns);
}

Status Catalog::MarkUploadVerified(int64_t upload, const std::string& retention_result,
                                   int64_t verified_utc_ns) {
  return UpdateUpload(db_, path_, upload, "marking upload " + std::to_string(upload) + " verified",
                      "state = 'verified', retention_result = ?2, verified_utc_ns = ?3",
                      "'completed'", retention_result, verified_utc_ns);
}

Status Catalog::MarkUploadAborted(int64_t upload, const std::string& detail) {
  return UpdateUpload(db_, path_, upload, "marking upload " + std::to_string(upload) + " aborted",
                      "state = 'aborted', detail = ?2", "'uploading', 'completed'",
                      detail.empty() ? std::string("aborted") : detail);
}

Result<std::optional<UploadRecord>> Catalog::FindLiveUpload(const std::string& bucket,
                                                            const std::string& key) {
  return FindOneUpload(db_, path_, "WHERE bucket = ?1 AND key = ?2 AND state != 'aborted'",
                       "looking up the upload of " + bucket + "/" + key, bucket, key);
}

Result<std::optional<UploadRecord>> Catalog::FindUploadById(const std::string& upload_id) {
  return FindOneUpload(db_, path_, "WHERE upload_id = ?1 ORDER BY id DESC LIMIT 1",
                       "looking up upload id " + upload_id, upload_id);
}

Result<std::vector<UploadRecord>> Catalog::Uploads() {
  Result<Statement> s = Prepare(db_, path_, kSelectUpload + "ORDER BY id");
  if (!s.ok()) return s.status();
  return ReadUploads(db_, path_, s->get(), "listing uploads");
}

}  // namespace patrolrec::storage

// ---- Server copies and evictions (schema 5) ---------------------------------------------------

namespace patrolrec::storage {
namespace {

// A segment's video, seal and track, each with a verified upload; the video's upload of the
// sealed bytes, the track's of the sealed track. Segments catalogued before schema 2 have no
// track ('' in track_file) and need none. A file uploaded to two buckets gives two rows; the
// caller keeps the first per file (the newest video upload).
const std::string kSelectServerCopy =
    "SELECT s.file, v.retention_class, v.retention_result, "
    "max(v.verified_utc_ns, q.verified_utc_ns, coalesce(t.verified_utc_ns, 0)), "
    "v.bucket, v.key, q.key, t.key "
    "FROM segment s "
    "JOIN upload v ON v.file = s.file AND v.state = 'verified' AND v.sha256 = s.sha256 "
    "JOIN upload q ON q.file = s.file || '.seal' AND q.state = 'verified' "
    "LEFT JOIN upload t ON t.file = s.track_file AND t.state = 'verified' "
    "AND t.sha256 = s.track_sha256 "
    "WHERE (s.track_file = '' OR t.id IS NOT NULL) ";

Result<std::vector<ServerCopy>> ReadServerCopies(sqlite3* db, const std::string& path,
                                                 sqlite3_stmt* s, const std::string& what) {
  std::vector<ServerCopy> copies;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ServerCopy c;
    c.file = ColumnText(s, 0);
    if (!copies.empty() && copies.back().file == c.file) continue;
    if (!ParseRetentionClass(ColumnText(s, 1), &c.retention)) {
      return Status::Error("catalog " + path + ": upload of \"" + c.file +
                           "\" has an unknown retention class");
    }
    c.retention_result = ColumnText(s, 2);
    c.verified_utc_ns = sqlite3_column_int64(s, 3);
    const std::string bucket = ColumnText(s, 4);
    const std::string key = ColumnText(s, 5);
    const std::string seal_key = ColumnText(s, 6);
    const std::string track_key = ColumnText(s, 7);
    c.description = bucket + "/" + key + ", " + seal_key;
    if (!track_key.empty()) c.description += ", " + track_key;
    c.description += " verified " + base::FormatUtcNs(c.verified_utc_ns) + "; " +
                     (c.retention_result.empty() ? std::string("retention not reported")
                                                 : c.retention_result);
    copies.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  return copies;
}

const std::string kSelectEviction =
    "SELECT file, camera, class, reason, bytes, server_copy, marked_utc_ns, removed_utc_ns "
    "FROM eviction ";

Result<std::vector<EvictionRecord>> ReadEvictions(sqlite3* db, const std::string& path,
                                                  sqlite3_stmt* s, const std::string& what) {
  std::vector<EvictionRecord> evictions;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    EvictionRecord e;
    e.file = ColumnText(s, 0);
    e.camera = ColumnText(s, 1);
    e.segment_class = ColumnText(s, 2);
    e.reason = ColumnText(s, 3);
    e.bytes = sqlite3_column_int64(s, 4);
    e.server_copy = ColumnText(s, 5);
    e.marked_utc_ns = sqlite3_column_int64(s, 6);
    e.removed_utc_ns = sqlite3_column_int64(s, 7);  // 0 for NULL
    evictions.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  return evictions;
}

}  // namespace

Result<std::vector<ServerCopy>> Catalog::ServerCopies() {
  if (schema_version_ < 4) return std::vector<ServerCopy>();  // no uploads before version 4
  Result<Statement> s = Prepare(db_, path_, kSelectServerCopy + "ORDER BY s.file, v.id DESC");
  if (!s.ok()) return s.status();
  return ReadServerCopies(db_, path_, s->get(), "listing segments verified on the server");
}

Result<std::optional<ServerCopy>> Catalog::FindServerCopy(const std::string& file) {
  const std::string what = "looking up the server copy of \"" + file + "\"";
  if (schema_version_ < 4) return std::optional<ServerCopy>();
  Result<Statement> s =
      Prepare(db_, path_, kSelectServerCopy + "AND s.file = ?1 ORDER BY s.file, v.id DESC");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), file) != SQLITE_OK) return DbError(db_, path_, what);
  Result<std::vector<ServerCopy>> rows = ReadServerCopies(db_, path_, s->get(), what);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<ServerCopy>();
  return std::optional<ServerCopy>(std::move(rows->front()));
}

Result<std::vector<LocalSegment>> Catalog::LocalSegments(const LocalSegmentCursor& after,
                                                         int limit) {
  const std::string what = "listing the segments on the disk";
  std::vector<LocalSegment> page;
  if (schema_version_ < 8)
    return Status::Error("catalog " + path_ + ": " + what +
                         ": needs schema version 8 (open it read-write)");
  // segment_local, from the cursor on: (start_utc_ns, id) is the index's own order.
  const std::string in_page =
      "FROM segment WHERE evicted = 0 AND state != 'missing' AND (start_utc_ns, id) > (?1, ?2) "
      "ORDER BY start_utc_ns, id LIMIT ?3";
  Result<Statement> s = Prepare(db_, path_,
                                "SELECT device_id, camera, sequence, file, start_utc_ns, "
                                "end_utc_ns, duration_ns, frames, bytes, sha256, prev_chain, "
                                "chain, signature, state, sealed_utc_ns, time_source, "
                                "clock_offset_ns, track_file, track_sha256, track_points, id " +
                                    in_page);
  if (!s.ok()) return s.status();
  if (Bind(s->get(), after.start_utc_ns, after.id, int64_t{limit}) != SQLITE_OK) {
    return DbError(db_, path_, what);
  }
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    Result<SegmentRecord> record = RowToRecord(s->get(), path_);
    if (!record.ok()) return record.status();
    LocalSegment local;
    local.segment = std::move(record).value();
    local.cursor = {local.segment.start_utc_ns, sqlite3_column_int64(s->get(), 20)};
    page.push_back(std::move(local));
  }
  if (rc != SQLITE_DONE) return DbError(db_, path_, what);
  if (page.empty()) return page;
  // Their server copies, by the same page (upload_by_file: three lookups a segment).
  Result<Statement> c = Prepare(
      db_, path_,
      kSelectServerCopy + "AND s.id IN (SELECT id " + in_page + ") ORDER BY s.file, v.id DESC");
  if (!c.ok()) return c.status();
  if (Bind(c->get(), after.start_utc_ns, after.id, int64_t{limit}) != SQLITE_OK) {
    return DbError(db_, path_, what);
  }
  Result<std::vector<ServerCopy>> copies = ReadServerCopies(db_, path_, c->get(), what);
  if (!copies.ok()) return copies.status();
  std::map<std::string, ServerCopy*> by_file;
  for (ServerCopy& copy : *copies) by_file.emplace(copy.file, &copy);
  for (LocalSegment& local : page) {
    auto it = by_file.find(local.segment.file);
    if (it != by_file.end()) local.server_copy = std::move(*it->second);
  }
  return page;
}

Status Catalog::MarkEvicting(const EvictionRecord& eviction, bool background_without_server_copy) {
  const std::string what = "marking segment \"" + eviction.file + "\" for eviction";
  if (eviction.segment_class != "background" && eviction.segment_class != "evidence") {
    return Status::Error("catalog " + path_ + ": " + what + ": class \"" + eviction.segment_class +
                         "\" is neither background nor evidence");
  }
  if (eviction.reason.empty()) {
    return Status::Error("catalog " + path_ + ": " + what + ": no reason given");
  }
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  Result<std::optional<SegmentRecord>> segment =
      FindOne(db_, path_, "WHERE file = ?1", what, eviction.file);
  if (!segment.ok()) return segment.status();
  if (!segment->has_value()) {
    return Status::Error("catalog " + path_ + ": " + what + ": no such segment in the catalog");
  }
  if ((*segment)->state == SegmentState::kMissing) {
    return Status::Error("catalog " + path_ + ": " + what + ": the segment is missing");
  }
  Result<std::optional<EvictionRecord>> existing = FindEviction(eviction.file);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return Status::Error("catalog " + path_ + ": " + what + ": already evicted (marked " +
                         base::FormatUtcNs((*existing)->marked_utc_ns) + ")");
  }
  Result<std::optional<ServerCopy>> copy = FindServerCopy(eviction.file);
  if (!copy.ok()) return copy.status();
  std::string server_copy;
  if (copy->has_value()) {
    server_copy = (*copy)->description;
  } else if (background_without_server_copy && eviction.segment_class == "background") {
    server_copy =
        "none: background never verified on the server, evicted because [storage] "
        "evict_unuploaded_background = true";
  } else {
    return Status::Error("catalog " + path_ + ": " + what +
                         ": refused: the server holds no verified copy of its video, seal and "
                         "track, and footage is never deleted before that (R9)");
  }
  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT INTO eviction (file, camera, class, reason, bytes, server_copy, marked_utc_ns) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), eviction.file, (*segment)->camera, eviction.segment_class, eviction.reason,
           (*segment)->bytes, server_copy, eviction.marked_utc_ns) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (schema_version_ >= 8) {
    Result<Statement> gone = Prepare(db_, path_, "UPDATE segment SET evicted = 1 WHERE file = ?1");
    if (!gone.ok()) return gone.status();
    if (Bind(gone->get(), eviction.file) != SQLITE_OK || sqlite3_step(gone->get()) != SQLITE_DONE) {
      return DbError(db_, path_, what);
    }
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return Status::Ok();
}

Status Catalog::FinishEviction(const std::string& file, int64_t removed_utc_ns) {
  const std::string what = "finishing the eviction of \"" + file + "\"";
  Result<Statement> s =
      Prepare(db_, path_,
              "UPDATE eviction SET removed_utc_ns = coalesce(removed_utc_ns, ?2) WHERE file = ?1");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), file, removed_utc_ns) != SQLITE_OK || sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (sqlite3_changes(db_) != 1) {
    return Status::Error("catalog " + path_ + ": " + what + ": it was never marked for eviction");
  }
  return Status::Ok();
}

Result<std::vector<EvictionRecord>> Catalog::Evictions(bool unfinished_only) {
  if (schema_version_ < 5) return std::vector<EvictionRecord>();  // no evictions before 5
  Result<Statement> s = Prepare(
      db_, path_,
      kSelectEviction + (unfinished_only ? "WHERE removed_utc_ns IS NULL " : "") + "ORDER BY id");
  if (!s.ok()) return s.status();
  return ReadEvictions(db_, path_, s->get(), "listing evictions");
}

Result<std::optional<EvictionRecord>> Catalog::FindEviction(const std::string& file) {
  const std::string what = "looking up the eviction of \"" + file + "\"";
  if (schema_version_ < 5) return std::optional<EvictionRecord>();
  Result<Statement> s = Prepare(db_, path_, kSelectEviction + "WHERE file = ?1");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), file) != SQLITE_OK) return DbError(db_, path_, what);
  Result<std::vector<EvictionRecord>> rows = ReadEvictions(db_, path_, s->get(), what);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<EvictionRecord>();
  return std::optional<EvictionRecord>(std::move(rows->front()));
}

Result<int64_t> Catalog::InsertSelfCheck(const SelfCheckRecord& run) {
  const std::string what = "storing a self-check run (" + run.trigger + ")";
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  Result<Statement> s =
      Prepare(db_, path_,
              "INSERT INTO selfcheck_run (utc_ns, trigger, requested_by, overall) "
              "VALUES (?1, ?2, ?3, ?4)");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), run.utc_ns, run.trigger, run.requested_by, run.overall) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  const int64_t id = sqlite3_last_insert_rowid(db_);
  Result<Statement> item = Prepare(db_, path_,
                                   "INSERT INTO selfcheck_item (run, position, name, result, "
                                   "reason) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!item.ok()) return item.status();
  for (size_t i = 0; i < run.items.size(); ++i) {
    const SelfCheckItemRecord& it = run.items[i];
    sqlite3_reset(item->get());
    if (Bind(item->get(), id, static_cast<int64_t>(i), it.name, it.result, it.reason) !=
            SQLITE_OK ||
        sqlite3_step(item->get()) != SQLITE_DONE) {
      return DbError(db_, path_, what + ": item \"" + it.name + "\"");
    }
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return id;
}

Result<std::vector<SelfCheckRecord>> Catalog::SelfChecks(int limit) {
  std::vector<SelfCheckRecord> runs;
  if (schema_version_ < 6) return runs;  // no health history before version 6
  Result<Statement> s = Prepare(db_, path_,
                                "SELECT id, utc_ns, trigger, requested_by, overall FROM "
                                "selfcheck_run ORDER BY id DESC LIMIT ?1");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), int64_t{limit > 0 ? limit : -1}) != SQLITE_OK) {
    return DbError(db_, path_, "listing self-check runs");
  }
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    SelfCheckRecord run;
    run.id = sqlite3_column_int64(s->get(), 0);
    run.utc_ns = sqlite3_column_int64(s->get(), 1);
    run.trigger = ColumnText(s->get(), 2);
    run.requested_by = ColumnText(s->get(), 3);
    run.overall = ColumnText(s->get(), 4);
    runs.push_back(std::move(run));
  }
  if (rc != SQLITE_DONE) return DbError(db_, path_, "listing self-check runs");
  Result<Statement> items =
      Prepare(db_, path_,
              "SELECT name, result, reason FROM selfcheck_item WHERE run = ?1 ORDER BY position");
  if (!items.ok()) return items.status();
  for (SelfCheckRecord& run : runs) {
    sqlite3_reset(items->get());
    if (Bind(items->get(), run.id) != SQLITE_OK) {
      return DbError(db_, path_, "listing self-check items");
    }
    while ((rc = sqlite3_step(items->get())) == SQLITE_ROW) {
      run.items.push_back(
          {ColumnText(items->get(), 0), ColumnText(items->get(), 1), ColumnText(items->get(), 2)});
    }
    if (rc != SQLITE_DONE) return DbError(db_, path_, "listing self-check items");
  }
  return runs;
}

Status Catalog::AddHealthEvent(const HealthEventRecord& event) {
  const std::string what = "adding a health event (camera \"" + event.camera + "\" " +
                           event.channel + " " + event.state + ")";
  Result<Statement> s = Prepare(db_, path_,
                                "INSERT INTO health_event (utc_ns, camera, channel, state, "
                                "previous, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!s.ok()) return s.status();
  // One statement is one implicit transaction, durable at return under synchronous=FULL.
  if (Bind(s->get(), event.utc_ns, event.camera, event.channel, event.state, event.previous,
           event.cause) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  return Status::Ok();
}

namespace {

Result<std::vector<HealthEventRecord>> ReadHealthEvents(sqlite3* db, const std::string& path,
                                                        sqlite3_stmt* s) {
  std::vector<HealthEventRecord> events;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    HealthEventRecord e;
    e.id = sqlite3_column_int64(s, 0);
    e.utc_ns = sqlite3_column_int64(s, 1);
    e.camera = ColumnText(s, 2);
    e.channel = ColumnText(s, 3);
    e.state = ColumnText(s, 4);
    e.previous = ColumnText(s, 5);
    e.cause = ColumnText(s, 6);
    events.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return DbError(db, path, "listing health events");
  return events;
}

}  // namespace

Result<std::vector<HealthEventRecord>> Catalog::HealthEvents(int64_t from_utc_ns) {
  if (schema_version_ < 6) return std::vector<HealthEventRecord>();
  Result<Statement> s = Prepare(db_, path_,
                                "SELECT id, utc_ns, camera, channel, state, previous, cause FROM "
                                "health_event WHERE utc_ns >= ?1 ORDER BY id");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), from_utc_ns) != SQLITE_OK) return DbError(db_, path_, "listing health events");
  return ReadHealthEvents(db_, path_, s->get());
}

Result<std::vector<HealthEventRecord>> Catalog::LastHealthEventsBefore(int64_t before_utc_ns) {
  if (schema_version_ < 6) return std::vector<HealthEventRecord>();
  Result<Statement> s = Prepare(
      db_, path_,
      "SELECT id, utc_ns, camera, channel, state, previous, cause FROM health_event WHERE id IN "
      "(SELECT max(id) FROM health_event WHERE utc_ns < ?1 GROUP BY camera, channel) ORDER BY id");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), before_utc_ns) != SQLITE_OK) {
    return DbError(db_, path_, "listing health events");
  }
  return ReadHealthEvents(db_, path_, s->get());
}

Result<int64_t> Catalog::PruneHealthHistory(int64_t before_utc_ns, int max_rows) {
  if (schema_version_ < 6) return int64_t{0};
  const std::string what = "pruning the health history";
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  int64_t deleted = 0;
  for (const char* sql :
       {"DELETE FROM health_event WHERE id IN (SELECT id FROM health_event WHERE utc_ns < ?1 "
        "ORDER BY id LIMIT ?2)",
        "DELETE FROM selfcheck_run WHERE id IN (SELECT id FROM selfcheck_run WHERE utc_ns < ?1 "
        "ORDER BY id LIMIT ?2)"}) {
    Result<Statement> s = Prepare(db_, path_, sql);
    if (!s.ok()) return s.status();
    if (Bind(s->get(), before_utc_ns, int64_t{max_rows}) != SQLITE_OK ||
        sqlite3_step(s->get()) != SQLITE_DONE) {
      return DbError(db_, path_, what);
    }
    deleted += sqlite3_changes(db_);
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return deleted;
}

// --- interruptions ------------------------------------------------------------------------------

namespace {

const std::string kSelectInterruption =
    "SELECT incident_id, number, camera, cause, detail, start_utc_ns, end_utc_ns, "
    "spoken_from_utc_ns, spoken_to_utc_ns, spoken_by, explanation, explained_by, "
    "explained_utc_ns, unexplained_at_close_utc_ns FROM interruption ";

Result<std::vector<InterruptionRecord>> ReadInterruptions(sqlite3* db, const std::string& path,
                                                          sqlite3_stmt* s,
                                                          const std::string& what) {
  std::vector<InterruptionRecord> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    InterruptionRecord r;
    r.incident_id = ColumnText(s, 0);
    r.number = sqlite3_column_int64(s, 1);
    r.camera = ColumnText(s, 2);
    r.cause = ColumnText(s, 3);
    r.detail = ColumnText(s, 4);
    r.start_utc_ns = sqlite3_column_int64(s, 5);
    r.end_utc_ns = sqlite3_column_int64(s, 6);  // NULL reads as 0: open
    r.spoken_from_utc_ns = sqlite3_column_int64(s, 7);
    r.spoken_to_utc_ns = sqlite3_column_int64(s, 8);
    r.spoken_by = ColumnText(s, 9);
    r.explanation = ColumnText(s, 10);
    r.explained_by = ColumnText(s, 11);
    r.explained_utc_ns = sqlite3_column_int64(s, 12);
    r.unexplained_at_close_utc_ns = sqlite3_column_int64(s, 13);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  return out;
}

}  // namespace

Result<InterruptionRecord> Catalog::AddInterruption(const InterruptionRecord& given) {
  const std::string what =
      "adding an interruption (" + given.cause + ") of incident \"" + given.incident_id + "\"";
  if (given.incident_id.empty() || !IsInterruptionCause(given.cause) || given.start_utc_ns <= 0) {
    return Status::Error("catalog " + path_ + ": " + what +
                         ": an interruption needs an incident, a known cause and a start time");
  }
  Transaction transaction(db_);
  if (transaction.Begin() != SQLITE_OK) return DbError(db_, path_, what);
  Result<Statement> last = Prepare(
      db_, path_, "SELECT coalesce(max(number), 0) FROM interruption WHERE incident_id = ?1");
  if (!last.ok()) return last.status();
  if (Bind(last->get(), given.incident_id) != SQLITE_OK ||
      sqlite3_step(last->get()) != SQLITE_ROW) {
    return DbError(db_, path_, what);
  }
  InterruptionRecord r = given;
  r.number = sqlite3_column_int64(last->get(), 0) + 1;
  r.end_utc_ns = 0;
  Result<Statement> s =
      Prepare(db_, path_,
              "INSERT INTO interruption (incident_id, number, camera, cause, detail, start_utc_ns) "
              "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM incident WHERE id = ?1)");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), r.incident_id, r.number, r.camera, r.cause, r.detail, r.start_utc_ns) !=
          SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (sqlite3_changes(db_) != 1) {
    return Status::Error("catalog " + path_ + ": " + what + ": no such incident");
  }
  if (transaction.Commit() != SQLITE_OK) return DbError(db_, path_, what);
  return r;
}

Status Catalog::UpdateInterruption(const InterruptionRecord& r) {
  const std::string what = "updating interruption " + std::to_string(r.number) + " of incident \"" +
                           r.incident_id + "\"";
  Result<Statement> s = Prepare(
      db_, path_,
      "UPDATE interruption SET end_utc_ns = ?3, spoken_from_utc_ns = ?4, spoken_to_utc_ns = ?5, "
      "spoken_by = ?6, explanation = ?7, explained_by = ?8, explained_utc_ns = ?9, "
      "unexplained_at_close_utc_ns = ?10 WHERE incident_id = ?1 AND number = ?2");
  if (!s.ok()) return s.status();
  // One statement is one implicit transaction, durable at return under synchronous=FULL.
  if (Bind(s->get(), r.incident_id, r.number, IntOrNull{!r.open(), r.end_utc_ns},
           IntOrNull{r.spoken_from_utc_ns != 0, r.spoken_from_utc_ns},
           IntOrNull{r.spoken_to_utc_ns != 0, r.spoken_to_utc_ns}, TextOrNull{r.spoken_by},
           TextOrNull{r.explanation}, TextOrNull{r.explained_by},
           IntOrNull{r.explained(), r.explained_utc_ns},
           IntOrNull{r.unexplained_at_close_utc_ns != 0, r.unexplained_at_close_utc_ns}) !=
          SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (sqlite3_changes(db_) != 1) {
    return Status::Error("catalog " + path_ + ": " + what + ": no such interruption");
  }
  return Status::Ok();
}

Result<std::vector<InterruptionRecord>> Catalog::Interruptions(const std::string& incident_id) {
  if (schema_version_ < 7) return std::vector<InterruptionRecord>();
  const std::string what = "listing the interruptions of incident \"" + incident_id + "\"";
  Result<Statement> s =
      Prepare(db_, path_, kSelectInterruption + "WHERE incident_id = ?1 ORDER BY number");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), incident_id) != SQLITE_OK) return DbError(db_, path_, what);
  return ReadInterruptions(db_, path_, s->get(), what);
}

Result<std::vector<InterruptionRecord>> Catalog::OpenInterruptions() {
  if (schema_version_ < 7) return std::vector<InterruptionRecord>();
  Result<Statement> s =
      Prepare(db_, path_, kSelectInterruption + "WHERE end_utc_ns IS NULL ORDER BY id");
  if (!s.ok()) return s.status();
  return ReadInterruptions(db_, path_, s->get(), "listing open interruptions");
}

}  // namespace patrolrec::storage

namespace patrolrec::storage {

namespace {

const std::string kSelectExportRequest =
    "SELECT id, requested_utc_ns, requester, requester_role, requester_kind, requester_unit, "
    "legal_document, purpose, incident_id, from_utc_ns, to_utc_ns, note, state, decided_utc_ns, "
    "decided_by, decision_reason, approval_kind, expires_utc_ns, exported_utc_ns, exported_by, "
    "medium, package, manifest_sha256 FROM export_request ";

Result<std::vector<ExportRequest>> ReadExportRequests(sqlite3* db, const std::string& path,
                                                      sqlite3_stmt* s, const std::string& what) {
  std::vector<ExportRequest> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ExportRequest r;
    r.id = sqlite3_column_int64(s, 0);
    r.requested_utc_ns = sqlite3_column_int64(s, 1);
    r.requester = ColumnText(s, 2);
    r.requester_role = ColumnText(s, 3);
    r.requester_kind = ColumnText(s, 4);
    r.requester_unit = ColumnText(s, 5);
    r.legal_document = ColumnText(s, 6);
    r.purpose = ColumnText(s, 7);
    r.incident_id = ColumnText(s, 8);
    r.from_utc_ns = sqlite3_column_int64(s, 9);
    r.to_utc_ns = sqlite3_column_int64(s, 10);
    r.note = ColumnText(s, 11);
    r.state = ColumnText(s, 12);
    r.decided_utc_ns = sqlite3_column_int64(s, 13);
    r.decided_by = ColumnText(s, 14);
    r.decision_reason = ColumnText(s, 15);
    r.approval_kind = ColumnText(s, 16);
    r.expires_utc_ns = sqlite3_column_int64(s, 17);
    r.exported_utc_ns = sqlite3_column_int64(s, 18);
    r.exported_by = ColumnText(s, 19);
    r.medium = ColumnText(s, 20);
    r.package = ColumnText(s, 21);
    r.manifest_sha256 = ColumnText(s, 22);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return DbError(db, path, what);
  return out;
}

}  // namespace

Result<ExportRequest> Catalog::AddExportRequest(const ExportRequest& given) {
  const std::string what = "adding an export request by \"" + given.requester + "\"";
  Result<Statement> s = Prepare(
      db_, path_,
      "INSERT INTO export_request (requested_utc_ns, requester, requester_role, requester_kind, "
      "requester_unit, legal_document, purpose, incident_id, from_utc_ns, to_utc_ns, note, state) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'requested')");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), given.requested_utc_ns, given.requester, given.requester_role,
           given.requester_kind, given.requester_unit, given.legal_document, given.purpose,
           TextOrNull{given.incident_id}, given.from_utc_ns, given.to_utc_ns,
           given.note) != SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  ExportRequest r = given;
  r.id = sqlite3_last_insert_rowid(db_);
  r.state = "requested";
  return r;
}

Status Catalog::UpdateExportRequest(const ExportRequest& r, const std::string& from_state) {
  const std::string what = "moving export request " + std::to_string(r.id) + " from " +
                           from_state + " to " + r.state;
  Result<Statement> s = Prepare(
      db_, path_,
      "UPDATE export_request SET state = ?3, decided_utc_ns = ?4, decided_by = ?5, "
      "decision_reason = ?6, approval_kind = ?7, expires_utc_ns = ?8, exported_utc_ns = ?9, "
      "exported_by = ?10, medium = ?11, package = ?12, manifest_sha256 = ?13 "
      "WHERE id = ?1 AND state = ?2");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), r.id, from_state, r.state, IntOrNull{r.decided_utc_ns != 0, r.decided_utc_ns},
           TextOrNull{r.decided_by}, TextOrNull{r.decision_reason}, TextOrNull{r.approval_kind},
           IntOrNull{r.expires_utc_ns != 0, r.expires_utc_ns},
           IntOrNull{r.exported_utc_ns != 0, r.exported_utc_ns}, TextOrNull{r.exported_by},
           TextOrNull{r.medium}, TextOrNull{r.package}, TextOrNull{r.manifest_sha256}) !=
          SQLITE_OK ||
      sqlite3_step(s->get()) != SQLITE_DONE) {
    return DbError(db_, path_, what);
  }
  if (sqlite3_changes(db_) != 1) {
    return Status::Error("catalog " + path_ + ": " + what +
                         ": no such request in that state (already decided or used?)");
  }
  return Status::Ok();
}

Result<std::optional<ExportRequest>> Catalog::FindExportRequest(int64_t id) {
  const std::string what = "reading export request " + std::to_string(id);
  if (schema_version_ < 9) return std::optional<ExportRequest>();
  Result<Statement> s = Prepare(db_, path_, kSelectExportRequest + "WHERE id = ?1");
  if (!s.ok()) return s.status();
  if (Bind(s->get(), id) != SQLITE_OK) return DbError(db_, path_, what);
  auto rows = ReadExportRequests(db_, path_, s->get(), what);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<ExportRequest>();
  return std::optional<ExportRequest>(std::move(rows->front()));
}

Result<std::vector<ExportRequest>> Catalog::ExportRequests() {
  if (schema_version_ < 9) return std::vector<ExportRequest>();
  Result<Statement> s = Prepare(db_, path_, kSelectExportRequest + "ORDER BY id");
  if (!s.ok()) return s.status();
  return ReadExportRequests(db_, path_, s->get(), "listing export requests");
}

}  // namespace patrolrec::storage
