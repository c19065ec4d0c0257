// bench/catalog-year: fills a real catalog (Catalog::Open creates the schema; the rows are bulk
// SQL matching it, in big transactions under synchronous=OFF for the fill only) with N days of a
// 4-camera car, then times the catalog operations of a running car on it and on an empty catalog
// in the same run, and prints one table.
//
// The model (docs/retention.md, Measurements): 4 cameras recording 24 h a day in 60 s segments;
// a GPS fix a second; 20 events and 5 incidents of 30 min a day; every segment older than a day
// verified on the server (video, seal, track: 3 upload rows); every segment older than
// `local_days` evicted (the disk holds about that much). Track points: only those the retention
// pass keeps (inside a segment still local, plus the 2-day guard), or every fix of the year with
// --unpruned (the worst case, with the finished uploads' parts too).
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "storage/catalog.h"
#include "storage/catalog_retention.h"
#include "storage/eviction.h"

namespace {

using patrolrec::storage::Catalog;
using patrolrec::storage::SegmentRecord;
constexpr int64_t kS = patrolrec::base::kNsPerSecond;
constexpr int64_t kDayNs = 86400 * kS;
constexpr int64_t kStartUtcNs = 1'767'225'600LL * kS;  // 2026-01-01T00:00:00Z
const char* kCameras[] = {"road", "cabin-rear", "left", "right"};

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "catalog-year: %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void Exec(sqlite3* db, const char* sql) {
  Check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql);
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  sqlite3* db;
  Stmt(sqlite3* d, const char* sql) : db(d) {
    Check(sqlite3_prepare_v2(d, sql, -1, &s, nullptr), d, sql);
  }
  ~Stmt() { sqlite3_finalize(s); }
  void Step() {
    Check(sqlite3_step(s), db, "insert");
    sqlite3_reset(s);
  }
};

std::string Hex(int64_t n) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(n));
  std::string h;
  for (int i = 0; i < 4; ++i) h += text;
  return h;
}

std::string SegmentFile(int cam, int64_t seq) {
  return std::string("segments/") + kCameras[cam] + "/PR-0001_" + kCameras[cam] + "_" +
         std::to_string(seq) + ".mp4";
}

struct Model {
  int days = 365;
  int local_days = 30;
  bool unpruned = false;
};

// Fills `db` (a freshly opened catalog) with model.days of recording ending at `now`.
void Fill(sqlite3* db, const Model& m, int64_t now) {
  Exec(db, "PRAGMA synchronous = OFF");
  Exec(db, "BEGIN");
  const int64_t segs_per_cam = m.days * 1440LL;
  const int64_t begin = now - m.days * kDayNs;
  const int64_t local_from = now - m.local_days * kDayNs;
  Stmt seg(
      db,
      "INSERT INTO segment (device_id, camera, sequence, file, start_utc_ns, end_utc_ns, "
      "duration_ns, frames, bytes, sha256, prev_chain, chain, signature, state, time_source, "
      "clock_offset_ns, track_file, track_sha256, track_points, sealed_utc_ns, evicted) VALUES "
      "('PR-0001', ?1, ?2, ?3, ?4, ?5, ?6, 1800, 19000000, ?7, ?8, ?9, ?10, 'sealed', 'gps', "
      "-1200, ?3 || '.gpx', ?7, 60, ?5, ?11)");
  Stmt up(db,
          "INSERT INTO upload (file, bucket, key, upload_id, part_size, size, sha256, "
          "retention_class, state, started_utc_ns, completed_utc_ns, verified_utc_ns, "
          "remote_etag, retention_result) VALUES (?1, 'patrolrec-evidence', 'PR-0001/' || ?1, "
          "'2~' || ?2, 5242880, 19000000, ?3, 'ordinary', 'verified', ?4, ?4, ?4, "
          "'0123456789abcdef0123456789abcdef-4', 'COMPLIANCE until 2027-07-01T00:00:00Z')");
  Stmt part(db,
            "INSERT INTO upload_part (upload, number, size, etag, md5, sha256, uploaded_utc_ns) "
            "VALUES (?1, ?2, 5242880, ?3, ?3, ?4, ?5)");
  Stmt ev(db,
          "INSERT INTO eviction (file, camera, class, reason, bytes, server_copy, marked_utc_ns, "
          "removed_utc_ns) VALUES (?1, ?2, 'background', 'background past 7 days local "
          "retention', 19000000, 'patrolrec-evidence/PR-0001/' || ?1 || ', .seal, .gpx verified "
          "2026-12-01T02:00:00Z; COMPLIANCE until 2027-07-01T00:00:00Z', ?3, ?3)");
  const std::string sig = std::string(86, 'S') + "==";
  int64_t rows = 0;
  auto maybe_commit = [&] {
    if (++rows % 200000 == 0) Exec(db, "COMMIT; BEGIN");
  };
  for (int64_t i = 0; i < segs_per_cam; ++i) {
    const int64_t start = begin + i * 60 * kS;
    for (int cam = 0; cam < 4; ++cam) {
      const int64_t seq = i + 1;
      const std::string file = SegmentFile(cam, seq);
      const std::string sha = Hex(seq * 4 + cam);
      sqlite3_bind_text(seg.s, 1, kCameras[cam], -1, SQLITE_STATIC);
      sqlite3_bind_int64(seg.s, 2, seq);
      sqlite3_bind_text(seg.s, 3, file.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(seg.s, 4, start);
      sqlite3_bind_int64(seg.s, 5, start + 60 * kS);
      sqlite3_bind_int64(seg.s, 6, 60 * kS);
      sqlite3_bind_text(seg.s, 7, sha.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(seg.s, 8, Hex(seq * 4 + cam + 1).c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(seg.s, 9, Hex(seq * 4 + cam + 2).c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(seg.s, 10, sig.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int(seg.s, 11, start + 60 * kS <= local_from ? 1 : 0);  // as its eviction row
      seg.Step();
      maybe_commit();
      if (start < now - kDayNs) {
        for (const char* suffix : {"", ".seal", ".gpx"}) {
          const std::string f = file + suffix;
          sqlite3_bind_text(up.s, 1, f.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_text(up.s, 2, sha.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_text(up.s, 3, sha.c_str(), -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(up.s, 4, start + kDayNs / 2);
          up.Step();
          maybe_commit();
          if (m.unpruned) {
            const int64_t id = sqlite3_last_insert_rowid(db);
            for (int n = 1; n <= (*suffix ? 1 : 4); ++n) {
              sqlite3_bind_int64(part.s, 1, id);
              sqlite3_bind_int64(part.s, 2, n);
              sqlite3_bind_text(part.s, 3, sha.c_str(), 32, SQLITE_TRANSIENT);
              sqlite3_bind_text(part.s, 4, sha.c_str(), -1, SQLITE_TRANSIENT);
              sqlite3_bind_int64(part.s, 5, start + kDayNs / 2);
              part.Step();
              maybe_commit();
            }
          }
        }
      }
      if (start + 60 * kS <= local_from) {
        sqlite3_bind_text(ev.s, 1, file.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ev.s, 2, kCameras[cam], -1, SQLITE_STATIC);
        sqlite3_bind_int64(ev.s, 3, start + m.local_days * kDayNs);
        ev.Step();
        maybe_commit();
      }
    }
  }
  // Track points: a fix a second; what retention keeps (the local days and the guard) unless
  // unpruned.
  Stmt tp(db,
          "INSERT INTO track_point (utc_ns, gps_utc_ns, latitude_deg, longitude_deg, altitude_m, "
          "speed_mps, course_deg, mode, satellites_used, horizontal_error_m, vertical_error_m) "
          "VALUES (?1, ?1, ?2, ?3, 512.5, 13.9, 271.0, 3, 9, 4.2, 7.9)");
  for (int64_t t = m.unpruned ? begin : local_from; t < now; t += kS) {
    sqlite3_bind_int64(tp.s, 1, t);
    sqlite3_bind_double(tp.s, 2, 48.1 + static_cast<double>(t % 1000) * 1e-5);
    sqlite3_bind_double(tp.s, 3, 11.5 + static_cast<double>(t % 777) * 1e-5);
    tp.Step();
    maybe_commit();
  }
  // Events (20 a day) and incidents (5 a day, 30 min, closed).
  Stmt event(db,
             "INSERT INTO event (utc_ns, kind, camera, file, detail) VALUES (?1, "
             "'camera-error', 'road', NULL, 'pipeline error: internal data stream error; "
             "restarted')");
  const int64_t event_from = m.unpruned ? begin : std::max(begin, now - 365 * kDayNs);
  for (int64_t t = event_from; t < now; t += kDayNs / 20) {
    sqlite3_bind_int64(event.s, 1, t);
    event.Step();
    maybe_commit();
  }
  Stmt inc(db,
           "INSERT INTO incident (id, trigger, trigger_detail, trigger_utc_ns, pre_event_s, "
           "post_event_s, phase, closed_utc_ns, close_kind, close_reason, alarm_number, "
           "case_number, incident_type, address, officers, retention) VALUES (?1, 'dispatch', "
           "'dispatch 4711', ?2, 120, 30, 'closed', ?3, 'handover', 'handed over', 'A-1', "
           "'C-1', 'traffic', 'Hauptstrasse 1', 'PM Muster', 'ordinary')");
  int n = 0;
  for (int64_t t = begin + kDayNs / 10; t < now - kDayNs; t += kDayNs / 5) {
    const std::string id = "PR-0001-" + std::to_string(++n);
    sqlite3_bind_text(inc.s, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(inc.s, 2, t);
    sqlite3_bind_int64(inc.s, 3, t + 1800 * kS);
    inc.Step();
  }
  Exec(db, "COMMIT");
  Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  Exec(db, "PRAGMA synchronous = FULL");
}

double Ms(const std::function<void()>& op, int repeat) {
  std::vector<double> times;
  for (int i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    op();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];  // median
}

struct Figures {
  double eviction_pick_ms, eviction_summary_ms, uplink_pick_ms, evidence_ms, insert_ms,
      reconcile_ms, prune_ms;
  double size_mib;
  int64_t segments, track_points, uploads, parts, evictions, events, incidents;
};

int64_t Count(sqlite3* db, const char* table) {
  Stmt s(db, (std::string("SELECT count(*) FROM ") + table).c_str());
  sqlite3_step(s.s);
  return sqlite3_column_int64(s.s, 0);
}

double FileMiB(const std::string& path) {
  double total = 0;
  for (const char* suffix : {"", "-wal"}) {
    struct stat st {};
    if (stat((path + suffix).c_str(), &st) == 0) total += static_cast<double>(st.st_size);
  }
  return total / (1 << 20);
}

Figures Measure(Catalog& c, int64_t now, int repeat) {
  Figures f{};
  sqlite3* db = c.raw_handle();
  patrolrec::storage::EvictionPolicy policy;
  // The eviction pick: what each disk guard pass plans from (storage/eviction.cc).
  // A pass below the threshold plans until its candidates cover what it must free: here 1 GiB
  // (about 55 of the model's segments; a pass frees target - min free, 5 % of the disk).
  f.eviction_pick_ms = Ms(
      [&] { (void)patrolrec::storage::PlanEvictions(c, policy, now, int64_t{1} << 30); }, repeat);
  // The whole disk's byte counts (/v1/health), at most every 5 minutes on the guard's thread.
  f.eviction_summary_ms =
      Ms([&] { (void)patrolrec::storage::PlanEvictions(c, policy, now); }, repeat);
  // The uplink queue pick: the catalog reads of UplinkService::Refresh before PlanQueue.
  f.uplink_pick_ms = Ms(
      [&] {
        (void)c.Segments();
        (void)c.Incidents();
        (void)c.Uploads();
        (void)c.Events();
      },
      repeat);
  // An incident's evidence listing: 30 min + pre/post event of 4 cameras.
  const int64_t t = now - 100 * kDayNs;
  f.evidence_ms = Ms([&] { (void)c.SegmentsOverlapping(t - 120 * kS, t + 1830 * kS); }, repeat * 5);
  // A segment insert (synchronous=FULL, as the sealer does).
  int64_t seq = 10'000'000;
  f.insert_ms = Ms(
      [&] {
        SegmentRecord r;
        r.device_id = "PR-0001";
        r.camera = "bench";
        r.sequence = ++seq;
        r.file = "segments/bench/x_" + std::to_string(seq) + ".mp4";
        r.start_utc_ns = now + seq * 60 * kS;
        r.duration_ns = 60 * kS;
        r.end_utc_ns = r.start_utc_ns + r.duration_ns;
        r.sha256_hex = Hex(seq);
        r.prev_chain_hex = Hex(seq - 1);
        r.chain_hex = Hex(seq);
        r.signature_b64 = std::string(86, 'S') + "==";
        r.time_source = "gps";
        r.track_file = r.file + ".gpx";
        r.track_sha256_hex = Hex(seq);
        r.sealed_utc_ns = r.end_utc_ns;
        if (!c.InsertSegment(r).ok()) std::fprintf(stderr, "insert failed\n");
      },
      repeat * 5);
  // Start-up reconciliation's catalog work (storage/reconcile.cc): the unfinished evictions,
  // every eviction into a set, every segment row checked against it.
  f.reconcile_ms = Ms(
      [&] {
        (void)c.Evictions(true);
        auto evictions = c.Evictions();
        std::set<std::string> evicted;
        for (const auto& e : *evictions) evicted.insert(e.file);
        auto rows = c.Segments();
        size_t n = 0;
        for (const auto& r : *rows) n += evicted.count(r.file);
        if (n == 12345678) std::puts("");
      },
      1);
  // One retention batch of track points on what is there (nothing to delete when retained).
  patrolrec::storage::CatalogPruneCursor cursor;
  f.prune_ms = Ms(
      [&] {
        (void)patrolrec::storage::PruneCatalog(c, patrolrec::storage::CatalogRetentionPolicy{}, now,
                                               4, &cursor);
      },
      repeat);
  f.segments = Count(db, "segment");
  f.track_points = Count(db, "track_point");
  f.uploads = Count(db, "upload");
  f.parts = Count(db, "upload_part");
  f.evictions = Count(db, "eviction");
  f.events = Count(db, "event");
  f.incidents = Count(db, "incident");
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Model m;
  std::string dir = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--unpruned")) {
      m.unpruned = true;
    } else if (!std::strcmp(argv[i], "--days") && i + 1 < argc) {
      m.days = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: catalog_year_bench [--days N] [--unpruned] [--dir DIR]\n");
      return 2;
    }
  }
  const int64_t now = kStartUtcNs + m.days * kDayNs;
  const std::string empty_path = dir + "/catalog-year-empty.db";
  const std::string year_path = dir + "/catalog-year.db";
  for (const auto& p : {empty_path, year_path}) {
    for (const char* s : {"", "-wal", "-shm"}) std::remove((p + s).c_str());
  }
  auto empty = Catalog::Open(empty_path);
  auto year = Catalog::Open(year_path);
  if (!empty.ok() || !year.ok()) {
    std::fprintf(stderr, "catalog-year: cannot open the catalogs\n");
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  Fill((*year)->raw_handle(), m, now);
  const double fill_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Figures e = Measure(**empty, now, 5);
  Figures y = Measure(**year, now, 1);
  e.size_mib = FileMiB(empty_path);
  y.size_mib = FileMiB(year_path);
  std::printf("catalog-year: %d days, 4 cameras, 60 s segments, %s track points; fill %.0f s\n",
              m.days, m.unpruned ? "every (unpruned)" : "retained", fill_s);
  std::printf(
      "rows: %lld segments, %lld track points, %lld uploads, %lld upload parts, %lld "
      "evictions, %lld events, %lld incidents\n",
      static_cast<long long>(y.segments), static_cast<long long>(y.track_points),
      static_cast<long long>(y.uploads), static_cast<long long>(y.parts),
      static_cast<long long>(y.evictions), static_cast<long long>(y.events),
      static_cast<long long>(y.incidents));
  std::printf("%-40s %12s %12s %9s %10s\n", "operation", "empty", "year", "ratio", "target");
  auto row = [](const char* name, double a, double b, const char* unit, const char* target) {
    std::printf("%-40s %9.3f %-2s %9.3f %-2s %9.1f %10s\n", name, a, unit, b, unit,
                a > 0 ? b / a : 0.0, target);
  };
  row("eviction pick (1 GiB to free)", e.eviction_pick_ms, y.eviction_pick_ms, "ms", "<= 5 ms");
  row("eviction summary (whole disk)", e.eviction_summary_ms, y.eviction_summary_ms, "ms", "");
  row("uplink queue pick (Refresh's reads)", e.uplink_pick_ms, y.uplink_pick_ms, "ms", "<= 5 ms");
  row("incident evidence listing", e.evidence_ms, y.evidence_ms, "ms", "<= 5 ms");
  row("segment insert (synchronous=FULL)", e.insert_ms, y.insert_ms, "ms", "<= 5 ms");
  row("start-up reconciliation (catalog part)", e.reconcile_ms / 1000, y.reconcile_ms / 1000, "s",
      "<= 10 s");
  row("retention pass (4 batches)", e.prune_ms, y.prune_ms, "ms", "");
  row("catalog size on disk", e.size_mib, y.size_mib, "MiB", "<= 1024 MiB");
  return 0;
}
