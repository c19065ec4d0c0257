// Reading and checking the configuration file described in daemon/config.h.
//
// Two passes: the first splits the text into sections and `key = value` entries, remembering the
// line of each; the second checks every value and builds the Config. Both passes report every
// problem they find, sorted by line, so that one failed start lists all of them for the
// technician; a Config is returned only when there is none.
#include "daemon/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string_view>
#include <utility>

#include "base/utf8.h"
#include "storage/seal.h"
#include "storage/segment_name.h"

namespace patrolrec::daemon {

using base::IsValidUtf8;
namespace {

using base::Result;
using base::Status;

constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo";

const std::vector<std::string> kDeviceKeys = {"id", "plate", "officers", "timezone",
                                              "key_fingerprint"};
const std::vector<std::string> kStorageKeys = {"data_dir",
                                               "segment_seconds",
                                               "min_free_percent",
                                               "target_free_percent",
                                               "background_retention_days",
                                               "evidence_local_retention_days",
                                               "evict_unuploaded_background"};
const std::vector<std::string> kGpsKeys = {"gpsd", "stale_seconds", "max_clock_offset_ms"};
const std::vector<std::string> kIncidentKeys = {"pre_event_s", "post_event_s", "speed_trigger_kmh",
                                                "link_deadline_hours"};
const std::vector<std::string> kHealthKeys = {"enter_s", "leave_s", "min_record_hours",
                                              "selfcheck_interval_hours"};
const std::vector<std::string> kGeofenceKeys = {"kind", "polygon", "circle", "radius_m"};
const std::vector<std::string> kInputKeys = {"kind",       "chip",        "line",
                                             "active_low", "debounce_ms", "function"};
const std::vector<std::string> kCrashKeys = {"iio_device", "threshold_g", "duration_ms", "poll_hz"};
const std::vector<std::string> kApiKeys = {"socket", "listen"};
const std::vector<std::string> kUplinkKeys = {"endpoint",
                                              "region",
                                              "bucket",
                                              "access_key",
                                              "secret_key_file",
                                              "ca_file",
                                              "client_cert",
                                              "client_key",
                                              "part_size_mib",
                                              "jobs",
                                              "ordinary_retention_days",
                                              "cellular_rate_kib_s",
                                              "monthly_budget_mib",
                                              "background_over_cellular",
                                              "depot_interfaces",
                                              "depot_geofence",
                                              "deadline_alert_hours",
                                              "network"};
const std::vector<std::string> kLiveKeys = {"listen", "max_kbps", "max_viewers"};
const std::vector<std::string> kUserKeys = {"role", "token_sha256", "pin_sha256"};
const std::vector<std::string> kExportKeys = {"approval_expiry_hours", "iso", "pdf"};
const std::vector<std::string> kMediumKeys = {"vendor_id", "product_id", "serial"};
const std::vector<std::string> kCameraKeys = {"source",    "url",          "device",  "format",
                                              "clip",      "pattern",      "width",   "height",
                                              "framerate", "bitrate_kbps", "overlay", "audio",
                                              "view"};

// videotestsrc's pattern names (GStreamer 1.22). Checked here so that a typo is reported with
// its line at start-up, not as a pipeline error when the camera starts.
// clang-format off
const std::vector<std::string> kTestPatterns = {
    "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2",
    "checkers-4", "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut",
    "chroma-zone-plate", "solid-color", "ball", "smpte100", "bar", "pinwheel", "spokes",
    "gradient", "colors", "smpte-rp-219"};
// clang-format on

const std::vector<std::pair<std::string, SourceKind>> kSourceNames = {{"v4l2", SourceKind::kV4l2},
                                                                      {"rtsp", SourceKind::kRtsp},
                                                                      {"test", SourceKind::kTest},
                                                                      {"clip", SourceKind::kClip}};
const std::vector<std::pair<std::string, V4l2Format>> kFormatNames = {
    {"raw", V4l2Format::kRaw}, {"mjpeg", V4l2Format::kMjpeg}, {"h264", V4l2Format::kH264}};

const std::vector<std::string>* KeysOf(const std::string& kind) {
  if (kind == "device") return &kDeviceKeys;
  if (kind == "storage") return &kStorageKeys;
  if (kind == "gps") return &kGpsKeys;
  if (kind == "incidents") return &kIncidentKeys;
  if (kind == "health") return &kHealthKeys;
  if (kind == "geofence") return &kGeofenceKeys;
  if (kind == "camera") return &kCameraKeys;
  if (kind == "input") return &kInputKeys;
  if (kind == "crash") return &kCrashKeys;
  if (kind == "api") return &kApiKeys;
  if (kind == "uplink") return &kUplinkKeys;
  if (kind == "live") return &kLiveKeys;
  if (kind == "user") return &kUserKeys;
  if (kind == "export") return &kExportKeys;
  if (kind == "medium") return &kMediumKeys;
  return nullptr;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string Trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end && IsBlank(s[begin])) ++begin;
  while (end > begin && IsBlank(s[end - 1])) --end;
  return std::string(s.substr(begin, end - begin));
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The candidate a mistyped word was probably meant to be, or "".
std::string Suggest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string lower = word;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string best;
  size_t best_distance = 3;  // more than two edits away is a different word
  for (const std::string& candidate : candidates) {
    size_t distance = EditDistance(lower, candidate);
    // "bitrate" for "bitrate_kbps": a prefix of at least four letters is a likely abbreviation.
    const std::string& shorter = lower.size() < candidate.size() ? lower : candidate;
    const std::string& longer = lower.size() < candidate.size() ? candidate : lower;
    if (shorter.size() >= 4 && longer.compare(0, shorter.size(), shorter) == 0) distance = 1;
    if (distance < best_distance) best_distance = distance, best = candidate;
  }
  return best;
}

std::string DidYouMean(const std::string& suggestion) {
  return suggestion.empty() ? "" : " (did you mean " + Quote(suggestion) + "?)";
}

std::string Join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

// Problems found, each "<file>:<line>: <message>".
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void Add(int line, const std::string& message) { list_.emplace_back(line, message); }
  bool empty() const { return list_.empty(); }
  Status ToStatus() {
    std::stable_sort(list_.begin(), list_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> lines;
    for (const auto& [line, message] : list_) {
      lines.push_back(file_ + ":" + std::to_string(line) + ": " + message);
    }
    return Status::Error(Join(lines, "\n"));
  }

 private:
  std::string file_;
  std::vector<std::pair<int, std::string>> list_;
};

struct Entry {
  std::string value;
  int line = 0;
};

struct Section {
  std::string kind;  // "device", "storage", "gps", "camera", "geofence", "input" or "crash"
  std::string name;  // the camera's, geofence's or input's name
  int line = 0;      // of the header
  std::map<std::string, Entry> entries;

  std::string Label() const { return IsNamed() ? "[" + kind + " " + name + "]" : "[" + kind + "]"; }
  bool IsNamed() const {
    return kind == "camera" || kind == "geofence" || kind == "input" || kind == "user" ||
           kind == "medium";
  }
  const Entry* Find(const std::string& key) const {
    auto it = entries.find(key);
    return it == entries.end() ? nullptr : &it->second;
  }
};

// The value after '=': unquoted up to a comment, or one quoted string. False, with `problem`
// set, when it is malformed.
bool ParseValue(std::string_view rest, std::string* value, std::string* problem) {
  size_t i = 0;
  while (i < rest.size() && IsBlank(rest[i])) ++i;
  if (i < rest.size() && rest[i] == '"') {
    std::string out;
    for (++i;; ++i) {
      if (i >= rest.size()) {
        *problem = "the quoted value has no closing \"";
        return false;
      }
      if (rest[i] == '\\' && i + 1 < rest.size() && (rest[i + 1] == '"' || rest[i + 1] == '\\')) {
        out += rest[++i];
      } else if (rest[i] == '"') {
        break;
      } else {
        out += rest[i];
      }
    }
    for (++i; i < rest.size() && IsBlank(rest[i]);) ++i;
    if (i < rest.size() && rest[i] != '#') {
      *problem = "unexpected text after the closing quote: " + Quote(rest.substr(i));
      return false;
    }
    *value = std::move(out);
    return true;
  }
  size_t end = rest.size();
  for (size_t j = i; j < rest.size(); ++j) {
    if (rest[j] == '#' && (j == i || IsBlank(rest[j - 1]))) {
      end = j;
      break;
    }
  }
  *value = Trim(rest.substr(i, end - i));
  return true;
}

bool IsKeyWord(const std::string& key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// The section kinds a key belongs to, for "it belongs in [storage]".
std::string HomeOf(const std::string& key) {
  for (const char* kind : {"device", "storage", "gps", "incidents", "health", "camera", "geofence",
                           "input", "crash", "api", "user", "uplink", "export", "medium", "live"}) {
    const auto* keys = KeysOf(kind);
    if (std::find(keys->begin(), keys->end(), key) != keys->end()) {
      std::string k = kind;
      return k == "camera" || k == "geofence" || k == "input" || k == "user" || k == "medium"
                 ? "[" + k + " NAME]"
                 : "[" + k + "]";
    }
  }
  return "";
}

// Pass one: sections and entries, with syntax errors.
std::vector<Section> Split(const std::string& text, Errors& errors, int* line_count) {
  std::vector<Section> sections;
  int current = -1;       // index into sections
  bool skipping = false;  // inside a section already reported as bad: its keys add no noise
  std::map<std::string, int> seen;  // section label -> line of its header
  size_t start = 0;
  int number = 0;
  // A UTF-8 byte-order mark, as some Windows editors write, is not part of the first line.
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view raw(text.data() + start, end - start);
    start = end + 1;
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (!IsValidUtf8(raw)) {
      errors.Add(number, "this line is not valid UTF-8; save the file as UTF-8");
      continue;
    }
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;

    if (line[0] == '[') {
      size_t close = line.find(']');
      std::string after = close == std::string::npos ? "" : Trim(line.substr(close + 1));
      if (close == std::string::npos || (!after.empty() && after[0] != '#')) {
        errors.Add(number,
                   "expected a section header such as [device], [storage], [gps] or "
                   "[camera road], got " +
                       Quote(line));
        current = -1, skipping = true;
        continue;
      }
      std::string inside = Trim(line.substr(1, close - 1));
      size_t space = inside.find_first_of(" \t");
      Section section;
      section.kind = inside.substr(0, space);
      section.name = space == std::string::npos ? "" : Trim(inside.substr(space));
      section.line = number;
      current = -1, skipping = true;
      if (!KeysOf(section.kind)) {
        errors.Add(number,
                   "unknown section " + Quote("[" + inside + "]") +
                       "; expected [device], [storage], [gps], [incidents], [health], [camera NAME], "
                       "[geofence NAME], [input NAME], [crash], [api], [uplink], [user NAME], "
                       "[export], [medium NAME] or [live]" +
                       DidYouMean(Suggest(section.kind,
                                          {"device", "storage", "gps", "incidents", "health",
                                           "camera", "geofence", "input", "crash", "api", "user",
                                           "uplink", "export", "medium", "live"})));
        continue;
      }
      if (section.IsNamed() && section.name.empty()) {
        errors.Add(number, section.kind == "camera"
                               ? "[camera]: a camera section needs a name, e.g. [camera road]"
                           : section.kind == "input"
                               ? "[input]: an input section needs a name, e.g. [input light-bar]"
                           : section.kind == "user"
                               ? "[user]: a user section needs the user's name, e.g. [user li-wei]"
                           : section.kind == "medium"
                               ? "[medium]: a medium section needs a name, e.g. [medium "
                                 "evidence-usb-1]"
                               : "[geofence]: a geofence section needs a name, e.g. "
                                 "[geofence city-holding-area]");
        continue;
      }
      // Geofence names follow the camera name rule: they appear in events and log fields.
      if (section.IsNamed() && !storage::IsValidCameraName(section.name)) {
        errors.Add(number, section.Label() + ": a " + section.kind +
                               " name is lower-case letters, digits and '-' (at most "
                               "64), e.g. " +
                               (section.kind == "camera"  ? "cabin-rear"
                                : section.kind == "input" ? "rear-door-lock"
                                : section.kind == "user"  ? "li-wei"
                                : section.kind == "medium" ? "evidence-usb-1"
                                                          : "city-holding-area") +
                               ", got " + Quote(section.name));
        continue;
      }
      if (!section.IsNamed() && !section.name.empty()) {
        errors.Add(number,
                   "[" + section.kind + "] takes no name, got " + Quote("[" + inside + "]"));
        continue;
      }
      auto [it, inserted] = seen.emplace(section.Label(), number);
      if (!inserted) {
        errors.Add(number, "duplicate " +
                               (section.IsNamed() ? section.kind + " " : std::string("section ")) +
                               section.Label() + " (first at line " + std::to_string(it->second) +
                               ")");
        continue;
      }
      sections.push_back(std::move(section));
      current = static_cast<int>(sections.size()) - 1, skipping = false;
      continue;
    }

    size_t equals = line.find('=');
    std::string key = equals == std::string::npos ? "" : Trim(line.substr(0, equals));
    if (equals == std::string::npos || !IsKeyWord(key)) {
      errors.Add(number,
                 "expected \"key = value\", a [section] header or a # comment, got " + Quote(line));
      continue;
    }
    std::string value, problem;
    if (!ParseValue(std::string_view(line).substr(equals + 1), &value, &problem)) {
      std::string where = current >= 0 ? sections[current].Label() + " " : "";
      errors.Add(number, where + key + ": " + problem);
      continue;
    }
    if (skipping) continue;
    if (current < 0) {
      std::string home = HomeOf(key);
      errors.Add(number, "key " + Quote(key) + " is outside any section" +
                             (home.empty() ? "" : "; it belongs in " + home));
      continue;
    }
    Section& section = sections[current];
    const std::vector<std::string>& keys = *KeysOf(section.kind);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string home = HomeOf(key);
      errors.Add(number,
                 section.Label() + " " + key + ": unknown key" +
                     (!home.empty() ? "; it belongs in " + home : DidYouMean(Suggest(key, keys))));
      continue;
    }
    auto [it, inserted] = section.entries.emplace(key, Entry{value, number});
    if (!inserted) {
      errors.Add(number, section.Label() + " " + key + ": duplicate key (first set at line " +
                             std::to_string(it->second.line) + ")");
    }
  }
  *line_count = std::max(number, 1);
  return sections;
}

// Pass two helpers: reads one section's values, reporting each problem at its line.
class Reader {
 public:
  Reader(const Section& section, Errors& errors) : section_(section), errors_(errors) {}

  const Entry* Get(const std::string& key) const { return section_.Find(key); }

  void Bad(const std::string& key, const std::string& expected) {
    const Entry* entry = Get(key);
    errors_.Add(entry->line, section_.Label() + " " + key + ": expected " + expected + ", got " +
                                 Quote(entry->value));
  }
  void Problem(const std::string& key, const std::string& message) {
    errors_.Add(Get(key)->line, section_.Label() + " " + key + ": " + message);
  }
  // Reported at the section's header, where the key should be added.
  void Missing(const std::string& key, const std::string& why = "") {
    errors_.Add(section_.line, section_.Label() + ": missing required key " + Quote(key) + why);
  }

  // The value if present, else `fallback`; reports a required key that is absent.
  std::string String(const std::string& key, const std::string& fallback, bool required = false,
                     const std::string& why = "") {
    const Entry* entry = Get(key);
    if (!entry) {
      if (required) Missing(key, why);
      return fallback;
    }
    return entry->value;
  }

  void Int(const std::string& key, int min, int max, int* out, bool even = false) {
    const Entry* entry = Get(key);
    if (!entry) return;
    int value = 0;
    const char* first = entry->value.data();
    const char* last = first + entry->value.size();
    auto [end, error] = std::from_chars(first, last, value);
    if (entry->value.empty() || error != std::errc() || end != last || value < min || value > max ||
        (even && value % 2 != 0)) {
      Bad(key, std::string(even ? "an even whole number" : "a whole number") + " from " +
                   std::to_string(min) + " to " + std::to_string(max) +
                   (even ? " (H.264 needs even picture sizes)" : ""));
      return;
    }
    *out = value;
  }

  void Bool(const std::string& key, bool* out) {
    const Entry* entry = Get(key);
    if (!entry) return;
    if (entry->value == "true") {
      *out = true;
    } else if (entry->value == "false") {
      *out = false;
    } else {
      Bad(key, "true or false");
    }
  }

  template <typename T>
  bool Choice(const std::string& key, const std::vector<std::pair<std::string, T>>& choices,
              T* out) {
    const Entry* entry = Get(key);
    if (!entry) return false;
    std::vector<std::string> names;
    for (const auto& [name, value] : choices) {
      if (entry->value == name) {
        *out = value;
        return true;
      }
      names.push_back(name);
    }
    std::string suggestion = DidYouMean(Suggest(entry->value, names));
    std::string last = names.back();
    names.pop_back();
    Bad(key, Join(names, ", ") + " or " + last + suggestion);
    return false;
  }

 private:
  const Section& section_;
  Errors& errors_;
};

bool IsAbsolutePath(const std::string& path) { return !path.empty() && path[0] == '/'; }

bool IsRtspUrl(const std::string& url) {
  for (const std::string scheme : {"rtsp://", "rtsps://"}) {
    if (url.size() > scheme.size() && url.compare(0, scheme.size(), scheme) == 0 &&
        url.find_first_of(" \t") == std::string::npos) {
      return true;
    }
  }
  return false;
}

bool IsBadgeNumber(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// True when `name` is a zone file (not zone.tab or another table) under /usr/share/zoneinfo.
bool TimeZoneExists(base::Env& env, const std::string& name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  size_t begin = 0;
  while (begin <= name.size()) {
    size_t end = name.find('/', begin);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(begin, end - begin);
    // Letters, digits, '_', '-', '+' only: keeps "..", "." and empty parts out of the path.
    if (part.empty() || part == "." || part == ".." ||
        !std::all_of(part.begin(), part.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '+';
        })) {
      return false;
    }
    begin = end + 1;
  }
  auto file = env.NewSequentialFile(std::string(kZoneInfoDir) + "/" + name);
  if (!file.ok()) return false;
  auto magic = (*file)->Read(4);
  return magic.ok() && *magic == "TZif";
}

void ReadDevice(const Section& section, base::Env& env, Errors& errors, DeviceConfig* device) {
  Reader reader(section, errors);
  device->id = reader.String("id", "", /*required=*/true);
  if (reader.Get("id") && !storage::IsValidDeviceId(device->id)) {
    reader.Bad("id", "letters, digits and '-' (at most 64), e.g. PR-0001");
  }
  device->plate = reader.String("plate", "", /*required=*/true);
  if (reader.Get("plate") && device->plate.empty()) {
    reader.Bad("plate", "the vehicle's licence plate, e.g. 吉E·12345");
  }
  if (const Entry* officers = reader.Get("officers")) {
    bool bad = false;
    size_t begin = 0;
    while (!officers->value.empty() && begin <= officers->value.size()) {
      size_t end = officers->value.find(',', begin);
      if (end == std::string::npos) end = officers->value.size();
      std::string id = Trim(std::string_view(officers->value).substr(begin, end - begin));
      bad = bad || !IsBadgeNumber(id);
      device->officers.push_back(id);
      begin = end + 1;
    }
    if (bad) reader.Bad("officers", "badge numbers separated by commas, e.g. 031234, 031235");
  }
  device->timezone = reader.String("timezone", device->timezone);
  if (reader.Get("timezone") && !TimeZoneExists(env, device->timezone)) {
    reader.Bad("timezone", "an IANA time zone name found under " + std::string(kZoneInfoDir) +
                               ", e.g. Asia/Shanghai");
  }
  // Written as `patrolrecd` prints it at start (or sha256sum of the raw key); upper-case hex is
  // accepted and kept lower-case, so that the self-check compares like with like.
  device->key_fingerprint = reader.String("key_fingerprint", "");
  if (reader.Get("key_fingerprint")) {
    std::string& f = device->key_fingerprint;
    bool hex = f.size() == 64;
    for (char& c : f) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    }
    if (!hex) {
      reader.Bad("key_fingerprint",
                 "the device key's SHA-256 fingerprint, 64 hex digits, as patrolrecd prints it at "
                 "start (\"device key fingerprint ...\")");
    }
  }
}

void ReadStorage(const Section& section, Errors& errors, Config* config) {
  Reader reader(section, errors);
  config->data_dir = reader.String("data_dir", "", /*required=*/true);
  if (reader.Get("data_dir") && !IsAbsolutePath(config->data_dir)) {
    reader.Bad("data_dir", "an absolute path, e.g. /var/lib/patrolrec");
  }
  reader.Int("segment_seconds", 2, 3600, &config->segment_seconds);
  // Disk space (storage/eviction.h, docs/retention.md).
  storage::EvictionPolicy& eviction = config->eviction;
  reader.Int("min_free_percent", 1, 90, &eviction.min_free_percent);
  reader.Int("target_free_percent", 1, 95, &eviction.target_free_percent);
  if (eviction.target_free_percent < eviction.min_free_percent) {
    // Reported on whichever of the two lines is in the file (the other took its default).
    const bool target_given = reader.Get("target_free_percent") != nullptr;
    reader.Problem(target_given ? "target_free_percent" : "min_free_percent",
                   "target_free_percent (" + std::to_string(eviction.target_free_percent) +
                       ") must be at least min_free_percent (" +
                       std::to_string(eviction.min_free_percent) +
                       "): eviction frees space from below the minimum up to the target");
  }
  reader.Int("background_retention_days", 0, 3650, &eviction.background_retention_days);
  reader.Int("evidence_local_retention_days", 0, 3650, &eviction.evidence_local_retention_days);
  reader.Bool("evict_unuploaded_background", &eviction.evict_unuploaded_background);
}

}  // namespace

bool ParseGpsdAddress(const std::string& value, GpsConfig* gps) {
  if (value == "none") {
    gps->enabled = false;
    return true;
  }
  size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) return false;
  std::string host = value.substr(0, colon), port = value.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int number = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (error != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535 ||
      host.empty() || host.find_first_of(" \t[]") != std::string::npos) {
    return false;
  }
  gps->enabled = true;
  gps->host = host;
  gps->port = port;
  return true;
}

namespace {

void ReadGps(const Section& section, Errors& errors, GpsConfig* gps) {
  Reader reader(section, errors);
  if (const Entry* gpsd = reader.Get("gpsd")) {
    if (!ParseGpsdAddress(gpsd->value, gps)) {
      reader.Bad("gpsd", "HOST:PORT of gpsd, e.g. 127.0.0.1:2947, or none");
    }
  }
  reader.Int("stale_seconds", 1, 60, &gps->stale_seconds);
  reader.Int("max_clock_offset_ms", 100, 60000, &gps->max_clock_offset_ms);
}

void ReadIncidents(const Section& section, Errors& errors, IncidentPolicy* policy) {
  Reader reader(section, errors);
  reader.Int("pre_event_s", 0, 3600, &policy->pre_event_s);
  reader.Int("post_event_s", 0, 3600, &policy->post_event_s);
  reader.Int("speed_trigger_kmh", 0, 300, &policy->speed_trigger_kmh);
  int hours = policy->link_deadline_s / 3600;
  reader.Int("link_deadline_hours", 1, 720, &hours);
  policy->link_deadline_s = hours * 3600;
}

void ReadHealth(const Section& section, Errors& errors, HealthConfig* health) {
  Reader reader(section, errors);
  reader.Int("enter_s", 1, 600, &health->enter_s);
  reader.Int("leave_s", 1, 600, &health->leave_s);
  reader.Int("min_record_hours", 0, 1000, &health->min_record_hours);
  reader.Int("selfcheck_interval_hours", 0, 168, &health->selfcheck_interval_hours);
}

gps::Geofence ReadGeofence(const Section& section, Errors& errors) {
  Reader reader(section, errors);
  gps::Geofence fence;
  fence.name = section.name;
  if (const Entry* kind = reader.Get("kind")) {
    auto parsed = gps::ParseGeofenceKind(kind->value);
    if (parsed.ok()) {
      fence.kind = *parsed;
    } else {
      reader.Problem("kind", parsed.message());
    }
  } else {
    reader.Missing("kind", " (depot or holding-area)");
  }
  const Entry* polygon = reader.Get("polygon");
  const Entry* circle = reader.Get("circle");
  const Entry* radius = reader.Get("radius_m");
  if (polygon && circle) {
    reader.Problem("circle",
                   "a geofence is a polygon or a circle, not both (polygon is set at line " +
                       std::to_string(polygon->line) + ")");
  } else if (polygon) {
    auto vertices = gps::ParsePolygon(polygon->value);
    if (vertices.ok()) {
      fence.polygon = *vertices;
    } else {
      reader.Problem("polygon", vertices.message());
    }
    if (radius) reader.Problem("radius_m", "only used with circle = LAT,LON");
  } else if (circle) {
    auto center = gps::ParseLatLon(circle->value);
    if (center.ok()) {
      fence.circle_center = *center;
    } else {
      reader.Problem("circle", center.message());
    }
    if (!radius) {
      reader.Missing("radius_m", " (the circle's radius in metres)");
    } else {
      auto metres = gps::ParseRadius(radius->value);
      if (metres.ok()) {
        fence.circle_radius_m = *metres;
      } else {
        reader.Problem("radius_m", metres.message());
      }
    }
  } else {
    reader.Missing("polygon",
                   " (polygon = LAT,LON; LAT,LON; LAT,LON ..., or circle = LAT,LON with radius_m)");
  }
  return fence;
}

// Reads a `listen =` value: HOST:PORT, [IPv6]:PORT or none. False for anything else.
bool ParseListenAddress(const std::string& value, ApiConfig* api) {
  if (value == "none") {
    api->listen_host.clear(), api->listen_port.clear();
    return true;
  }
  GpsConfig address;  // the same HOST:PORT rule as gpsd's address
  if (!ParseGpsdAddress(value, &address) || !address.enabled) return false;
  api->listen_host = address.host, api->listen_port = address.port;
  return true;
}

void ReadApi(const Section& section, Errors& errors, ApiConfig* api) {
  Reader reader(section, errors);
  api->socket = reader.String("socket", api->socket);
  if (reader.Get("socket") && (!IsAbsolutePath(api->socket) || api->socket.size() > 107)) {
    reader.Bad("socket", "an absolute path of at most 107 bytes, e.g. /run/patrolrec/api.sock");
  }
  if (const Entry* listen = reader.Get("listen")) {
    if (!ParseListenAddress(listen->value, api)) {
      reader.Bad("listen", "HOST:PORT for the in-car terminal, e.g. 127.0.0.1:8080, or none");
    }
  }
}

void ReadLive(const Section& section, Errors& errors, LiveConfig* live) {
  Reader reader(section, errors);
  if (const Entry* listen = reader.Get("listen")) {
    ApiConfig address;  // the same HOST:PORT rule as [api] listen
    if (ParseListenAddress(listen->value, &address)) {
      live->listen_host = address.listen_host, live->listen_port = address.listen_port;
    } else {
      reader.Bad("listen", "HOST:PORT for the RTSP server, e.g. 0.0.0.0:8554, or none");
    }
  }
  reader.Int("max_kbps", 0, 100000, &live->max_kbps);
  reader.Int("max_viewers", 1, 32, &live->max_viewers);
}

bool IsHttpUrl(const std::string& url) {
  for (const std::string scheme : {"http://", "https://"}) {
    if (url.size() > scheme.size() && url.compare(0, scheme.size(), scheme) == 0 &&
        url.find_first_of(" \t?#") == std::string::npos) {
      return true;
    }
  }
  return false;
}

bool IsInterfaceName(const std::string& name) {
  return !name.empty() && name.size() < 16 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

void ReadUplink(const Section& section, Errors& errors, UplinkConfig* uplink) {
  Reader reader(section, errors);
  if (const Entry* endpoint = reader.Get("endpoint")) {
    if (endpoint->value == "none") {
      uplink->endpoint.clear();
    } else if (IsHttpUrl(endpoint->value)) {
      uplink->endpoint = endpoint->value;
    } else {
      reader.Bad("endpoint", "https://HOST:PORT (or http://) of the S3 server, or none");
    }
  }
  uplink->region = reader.String("region", uplink->region);
  const bool on = !uplink->endpoint.empty();
  const std::string why = " (the uplink is on: endpoint is set)";
  uplink->bucket = reader.String("bucket", "", on, why);
  uplink->access_key = reader.String("access_key", "", on, why);
  uplink->secret_key_file = reader.String("secret_key_file", "", on, why);
  uplink->ca_file = reader.String("ca_file", "");
  uplink->client_cert = reader.String("client_cert", "");
  uplink->client_key = reader.String("client_key", "");
  for (const char* key : {"secret_key_file", "ca_file", "client_cert", "client_key"}) {
    const Entry* entry = reader.Get(key);
    if (entry && !IsAbsolutePath(entry->value)) reader.Bad(key, "an absolute path");
  }
  if (reader.Get("client_cert") && !reader.Get("client_key")) {
    reader.Missing("client_key", " (client_cert is set)");
  }
  if (reader.Get("bucket") &&
      (uplink->bucket.size() < 3 || uplink->bucket.size() > 63 ||
       !std::all_of(uplink->bucket.begin(), uplink->bucket.end(), [](char c) {
         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
       }))) {
    reader.Bad("bucket", "an S3 bucket name (3 to 63 of a-z, 0-9, '-', '.')");
  }
  // 5 MiB is S3's smallest part; 1 is accepted for tests against servers that allow it.
  reader.Int("part_size_mib", 1, 512, &uplink->part_size_mib);
  reader.Int("jobs", 1, 8, &uplink->jobs);
  reader.Int("ordinary_retention_days", 183, 36500, &uplink->ordinary_retention_days);
  reader.Int("cellular_rate_kib_s", 0, 1000000, &uplink->cellular_rate_kib_s);
  reader.Int("monthly_budget_mib", 0, 100000000, &uplink->monthly_budget_mib);
  reader.Bool("background_over_cellular", &uplink->background_over_cellular);
  reader.Bool("depot_geofence", &uplink->depot_geofence);
  reader.Int("deadline_alert_hours", 1, 23, &uplink->deadline_alert_hours);
  const std::vector<std::pair<std::string, std::string>> networks = {
      {"auto", "auto"}, {"depot", "depot"}, {"cellular", "cellular"}};
  reader.Choice("network", networks, &uplink->network);
  if (const Entry* interfaces = reader.Get("depot_interfaces")) {
    uplink->depot_interfaces.clear();
    bool bad = false;
    size_t begin = 0;
    while (!interfaces->value.empty() && interfaces->value != "none" &&
           begin <= interfaces->value.size()) {
      size_t end = interfaces->value.find(',', begin);
      if (end == std::string::npos) end = interfaces->value.size();
      std::string name = Trim(std::string_view(interfaces->value).substr(begin, end - begin));
      bad = bad || !IsInterfaceName(name);
      uplink->depot_interfaces.push_back(name);
      begin = end + 1;
    }
    if (bad)
      reader.Bad("depot_interfaces",
                 "network interface names separated by commas, e.g. "
                 "wlan0, eth1, or none");
  }
}

bool IsLowerHex64(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

UserConfig ReadUser(const Section& section, Errors& errors) {
  Reader reader(section, errors);
  UserConfig user;
  user.name = section.name;
  const std::vector<std::pair<std::string, Role>> roles = {{"officer", Role::kOfficer},
                                                           {"supervisor", Role::kSupervisor},
                                                           {"technician", Role::kTechnician},
                                                           {"auditor", Role::kAuditor}};
  if (!reader.Get("role")) {
    reader.Missing("role", " (officer, supervisor, technician or auditor)");
  } else {
    reader.Choice("role", roles, &user.role);
  }
  user.token_sha256 = reader.String("token_sha256", "", /*required=*/true,
                                    " (the SHA-256 of the user's token: printf %s TOKEN | "
                                    "sha256sum)");
  if (reader.Get("token_sha256") && !IsLowerHex64(user.token_sha256)) {
    reader.Bad("token_sha256",
               "64 lower-case hex digits, the SHA-256 of the token (printf %s TOKEN | sha256sum), "
               "not the token itself");
  }
  user.pin_sha256 = reader.String("pin_sha256", "", /*required=*/false, "");
  if (reader.Get("pin_sha256") && !IsLowerHex64(user.pin_sha256)) {
    reader.Bad("pin_sha256",
               "64 lower-case hex digits, the SHA-256 of the PIN (printf %s PIN | sha256sum), "
               "not the PIN itself");
  }
  return user;
}

void ReadExport(const Section& section, Errors& errors, ExportConfig* exports) {
  Reader reader(section, errors);
  reader.Int("approval_expiry_hours", 1, 24 * 90, &exports->approval_expiry_hours);
  reader.Bool("iso", &exports->iso);
  reader.Bool("pdf", &exports->pdf);
}

bool IsHex4(const std::string& text) {
  return text.size() == 4 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// As USBGuard's rules name a device: `allow id 0781:5583 serial "4C530001"`.
MediumConfig ReadMedium(const Section& section, Errors& errors) {
  Reader reader(section, errors);
  MediumConfig medium;
  medium.name = section.name;
  const std::string hint = " (as lsusb or USBGuard's `usbguard list-devices` show it)";
  medium.vendor_id = reader.String("vendor_id", "", /*required=*/true, hint);
  medium.product_id = reader.String("product_id", "", /*required=*/true, hint);
  medium.serial = reader.String("serial", "", /*required=*/true, hint);
  if (reader.Get("vendor_id") && !IsHex4(medium.vendor_id)) {
    reader.Bad("vendor_id", "4 lower-case hex digits, e.g. 0781");
  }
  if (reader.Get("product_id") && !IsHex4(medium.product_id)) {
    reader.Bad("product_id", "4 lower-case hex digits, e.g. 5583");
  }
  if (reader.Get("serial") && medium.serial.empty()) {
    reader.Bad("serial", "the device's USB serial number (a medium without one cannot be told "
                         "from another of its model, so it cannot be registered)");
  }
  return medium;
}

CameraConfig ReadCamera(const Section& section, Errors& errors) {
  Reader reader(section, errors);
  CameraConfig camera;
  camera.name = section.name;
  bool have_source = false;
  if (!reader.Get("source")) {
    reader.Missing("source", " (v4l2, rtsp, test or clip)");
  } else {
    have_source = reader.Choice("source", kSourceNames, &camera.source);
  }
  if (have_source) {
    // A key of another source is a mistake, not something to ignore: a url left on a camera
    // switched to v4l2 means the technician may think the RTSP camera is being recorded.
    const std::pair<const char*, SourceKind> kSourceKeys[] = {{"url", SourceKind::kRtsp},
                                                              {"device", SourceKind::kV4l2},
                                                              {"format", SourceKind::kV4l2},
                                                              {"clip", SourceKind::kClip},
                                                              {"pattern", SourceKind::kTest}};
    for (const auto& [key, only] : kSourceKeys) {
      if (reader.Get(key) && camera.source != only) {
        reader.Problem(key, std::string("only used with source = ") + SourceKindName(only) +
                                " (this camera's source is " + SourceKindName(camera.source) + ")");
      }
    }
    const std::string why = std::string(" for source = ") + SourceKindName(camera.source);
    switch (camera.source) {
      case SourceKind::kRtsp:
        camera.url = reader.String("url", "", /*required=*/true, why);
        if (reader.Get("url") && !IsRtspUrl(camera.url)) {
          reader.Bad("url", "an rtsp:// or rtsps:// URL, e.g. rtsp://192.0.2.10/stream1");
        }
        break;
      case SourceKind::kV4l2:
        camera.device = reader.String("device", "", /*required=*/true, why);
        if (reader.Get("device") && !IsAbsolutePath(camera.device)) {
          reader.Bad("device", "an absolute path, e.g. /dev/video0");
        }
        reader.Choice("format", kFormatNames, &camera.format);
        break;
      case SourceKind::kClip:
        camera.clip = reader.String("clip", "", /*required=*/true, why);
        if (reader.Get("clip") && !IsAbsolutePath(camera.clip)) {
          reader.Bad("clip", "an absolute path to a recorded clip, e.g. /srv/clips/road.mp4");
        }
        break;
      case SourceKind::kTest:
        camera.pattern = reader.String("pattern", camera.pattern);
        if (std::find(kTestPatterns.begin(), kTestPatterns.end(), camera.pattern) ==
            kTestPatterns.end()) {
          reader.Bad("pattern", "a videotestsrc pattern such as ball, smpte or snow" +
                                    DidYouMean(Suggest(camera.pattern, kTestPatterns)));
        }
        break;
    }
  }
  reader.Int("width", 16, 3840, &camera.width, /*even=*/true);
  reader.Int("height", 16, 2160, &camera.height, /*even=*/true);
  reader.Int("framerate", 1, 120, &camera.framerate);
  reader.Int("bitrate_kbps", 100, 50000, &camera.bitrate_kbps);
  reader.Bool("overlay", &camera.overlay);
  camera.cabin = camera.name.rfind("cabin", 0) == 0;
  reader.Choice("view", std::vector<std::pair<std::string, bool>>{{"road", false}, {"cabin", true}},
                &camera.cabin);
  if (const Entry* audio = reader.Get("audio")) {
    if (audio->value == "none") {
      camera.audio = AudioKind::kNone;
    } else if (audio->value == "test") {
      camera.audio = AudioKind::kTest;
    } else if (audio->value.rfind("alsa:", 0) == 0 && audio->value.size() > 5 &&
               audio->value.find_first_of(" \t") == std::string::npos) {
      camera.audio = AudioKind::kAlsa;
      camera.alsa_device = audio->value.substr(5);
    } else {
      reader.Bad("audio", "none, test or alsa:<PCM device>, e.g. alsa:hw:1,0");
    }
  }
  return camera;
}

// [input NAME]: a GPIO line (the only kind so far).
inputs::GpioInputConfig ReadInput(const Section& section, Errors& errors) {
  Reader reader(section, errors);
  inputs::GpioInputConfig input;
  input.name = section.name;
  if (const Entry* kind = reader.Get("kind")) {
    if (kind->value != "gpio") reader.Bad("kind", "gpio (the only kind of input so far)");
  } else {
    reader.Missing("kind", " (gpio)");
  }
  input.chip = reader.String("chip", "", /*required=*/true,
                             " (the GPIO chip: a name such as gpiochip0, a path such as "
                             "/dev/gpiochip0, or its label; see gpiodetect)");
  if (reader.Get("chip") &&
      (input.chip.empty() || input.chip.find_first_of(" \t") != std::string::npos)) {
    reader.Bad("chip", "a GPIO chip name (gpiochip0), path (/dev/gpiochip0) or label");
  }
  if (!reader.Get("line")) {
    reader.Missing("line", " (the line's offset on the chip, as gpioinfo lists it)");
  } else {
    int line = 0;
    const std::string& text = reader.Get("line")->value;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), line);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || line < 0 ||
        line > 1023) {
      reader.Bad("line", "the line's offset on the chip, a whole number from 0 to 1023");
    } else {
      input.line = static_cast<unsigned>(line);
    }
  }
  reader.Bool("active_low", &input.active_low);
  reader.Int("debounce_ms", 1, 1000, &input.debounce_ms);
  if (const Entry* function = reader.Get("function")) {
    if (!inputs::ParseInputFunction(function->value, &input.function) ||
        input.function == inputs::InputFunction::kCrash) {
      std::vector<std::string> names;
      for (auto f : {inputs::InputFunction::kLightBar, inputs::InputFunction::kSiren,
                     inputs::InputFunction::kDoor, inputs::InputFunction::kRearDoorLock,
                     inputs::InputFunction::kRecordButton}) {
        names.push_back(inputs::InputFunctionName(f));
      }
      std::string hint = function->value == "crash"
                             ? " (a crash sensor is configured in a [crash] section)"
                             : DidYouMean(Suggest(function->value, names));
      std::string last = names.back();
      names.pop_back();
      reader.Bad("function", Join(names, ", ") + " or " + last + hint);
    }
  } else {
    reader.Missing("function", " (light-bar, siren, door, rear-door-lock or record-button)");
  }
  return input;
}

// [crash]: the accelerometer.
inputs::CrashSensorConfig ReadCrash(const Section& section, Errors& errors) {
  Reader reader(section, errors);
  inputs::CrashSensorConfig crash;
  crash.device = reader.String("iio_device", crash.device);
  if (reader.Get("iio_device") &&
      (crash.device.empty() || crash.device.find_first_of("/ \t") != std::string::npos ||
       crash.device == "." || crash.device == "..")) {
    reader.Bad("iio_device",
               "an IIO device under /sys/bus/iio/devices (iio:device0) or its driver's name "
               "(lis3dh)");
  }
  if (const Entry* threshold = reader.Get("threshold_g")) {
    char* end = nullptr;
    double value = std::strtod(threshold->value.c_str(), &end);
    if (threshold->value.empty() || end != threshold->value.c_str() + threshold->value.size() ||
        !(value >= 0.5 && value <= 50)) {
      reader.Bad("threshold_g", "a number of g from 0.5 to 50, e.g. 2.5");
    } else {
      crash.threshold_g = value;
    }
  }
  reader.Int("duration_ms", 1, 1000, &crash.duration_ms);
  reader.Int("poll_hz", 10, 1000, &crash.poll_hz);
  return crash;
}

// Shortest decimal that reads back as the same double.
std::string FormatNumber(double value) {
  char text[64];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

std::string FormatLatLon(const gps::LatLon& point) {
  return FormatNumber(point.latitude_deg) + "," + FormatNumber(point.longitude_deg);
}

// A value as FormatConfig writes it: quoted when the bare form would not read back the same.
std::string FormatValue(const std::string& value) {
  bool quote = value.empty() || IsBlank(value.front()) || IsBlank(value.back()) ||
               value.front() == '"' || value.find('#') != std::string::npos;
  if (!quote) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kV4l2:
      return "v4l2";
    case SourceKind::kRtsp:
      return "rtsp";
    case SourceKind::kTest:
      return "test";
    case SourceKind::kClip:
      return "clip";
  }
  return "?";
}

const char* V4l2FormatName(V4l2Format format) {
  switch (format) {
    case V4l2Format::kRaw:
      return "raw";
    case V4l2Format::kMjpeg:
      return "mjpeg";
    case V4l2Format::kH264:
      return "h264";
  }
  return "?";
}

std::string DescribeInput(const inputs::GpioInputConfig& input) {
  return "gpio " + input.chip + " line " + std::to_string(input.line) +
         (input.active_low ? ", active-low" : "") + ", debounce " +
         std::to_string(input.debounce_ms) + " ms, " + inputs::InputFunctionName(input.function);
}

std::string DescribeCrash(const inputs::CrashSensorConfig& crash) {
  return crash.device + ", above " + FormatNumber(crash.threshold_g) + " g for " +
         std::to_string(crash.duration_ms) + " ms, polled at " + std::to_string(crash.poll_hz) +
         " Hz";
}

namespace {

Result<Config> Parse(const std::string& text, const std::string& file_name, base::Env& env) {
  Errors errors(file_name);
  int line_count = 1;
  std::vector<Section> sections = Split(text, errors, &line_count);

  Config config;
  config.source_file = file_name;
  const Section* device = nullptr;
  const Section* storage = nullptr;
  for (const Section& section : sections) {
    if (section.kind == "device") device = &section;
    if (section.kind == "storage") storage = &section;
    if (section.kind == "gps") ReadGps(section, errors, &config.gps);
    if (section.kind == "incidents") ReadIncidents(section, errors, &config.incidents);
    if (section.kind == "health") ReadHealth(section, errors, &config.health);
    if (section.kind == "geofence") config.geofences.push_back(ReadGeofence(section, errors));
    if (section.kind == "camera") config.cameras.push_back(ReadCamera(section, errors));
    if (section.kind == "input") {
      config.inputs.push_back(ReadInput(section, errors));
      // Two inputs on one line: the second request would fail with EBUSY at every start.
      const inputs::GpioInputConfig& input = config.inputs.back();
      for (size_t i = 0; i + 1 < config.inputs.size(); ++i) {
        const inputs::GpioInputConfig& other = config.inputs[i];
        if (!input.chip.empty() && other.chip == input.chip && other.line == input.line) {
          const Entry* line = section.Find("line");
          errors.Add(line ? line->line : section.line,
                     section.Label() + " line: " + input.chip + " line " +
                         std::to_string(input.line) + " is already used by [input " + other.name +
                         "]; each GPIO line can drive one input");
          break;
        }
      }
    }
    if (section.kind == "crash") config.crash = ReadCrash(section, errors);
    if (section.kind == "api") ReadApi(section, errors, &config.api);
    if (section.kind == "uplink") ReadUplink(section, errors, &config.uplink);
    if (section.kind == "live") ReadLive(section, errors, &config.live);
    if (section.kind == "user") config.users.push_back(ReadUser(section, errors));
    if (section.kind == "export") ReadExport(section, errors, &config.exports);
    if (section.kind == "medium") {
      config.media.push_back(ReadMedium(section, errors));
      const MediumConfig& medium = config.media.back();
      for (size_t i = 0; i + 1 < config.media.size(); ++i) {
        const MediumConfig& other = config.media[i];
        if (!medium.serial.empty() && other.vendor_id == medium.vendor_id &&
            other.product_id == medium.product_id && other.serial == medium.serial) {
          errors.Add(section.line, section.Label() + ": the same device as [medium " + other.name +
                                       "] (vendor, product and serial)");
          break;
        }
      }
    }
  }
  // One token, one identity: the audit log must be able to say who did it.
  std::map<std::string, const Section*> token_owner;
  for (const Section& section : sections) {
    const Entry* token = section.kind == "user" ? section.Find("token_sha256") : nullptr;
    if (!token) continue;
    auto [it, inserted] = token_owner.emplace(token->value, &section);
    if (!inserted) {
      errors.Add(token->line, section.Label() + " token_sha256: the same token as " +
                                  it->second->Label() + " (line " +
                                  std::to_string(it->second->Find("token_sha256")->line) +
                                  "); every user needs a token of their own");
    }
  }
  // One PIN, one person: a PIN signs in the user it maps to, so two users cannot share one.
  std::map<std::string, const Section*> pin_owner;
  for (const Section& section : sections) {
    const Entry* pin = section.kind == "user" ? section.Find("pin_sha256") : nullptr;
    if (!pin) continue;
    auto [it, inserted] = pin_owner.emplace(pin->value, &section);
    if (!inserted) {
      errors.Add(pin->line, section.Label() + " pin_sha256: the same PIN as " +
                                it->second->Label() + " (line " +
                                std::to_string(it->second->Find("pin_sha256")->line) +
                                "); every user needs a PIN of their own");
    }
  }
  // A missing section is reported at the end of the file, where it would be added.
  if (device) {
    ReadDevice(*device, env, errors, &config.device);
  } else {
    errors.Add(line_count, "no [device] section: the device id and plate are required");
  }
  if (storage) {
    ReadStorage(*storage, errors, &config);
  } else {
    errors.Add(line_count, "no [storage] section: data_dir is required");
  }
  if (config.api.socket.empty() && !config.data_dir.empty()) {
    config.api.socket = config.data_dir + "/api.sock";
  }
  if (config.cameras.empty()) {
    errors.Add(line_count, "no [camera NAME] section: at least one camera is required");
  }
  if (!errors.empty()) return errors.ToStatus();
  return config;
}

}  // namespace

Result<Config> ParseConfig(const std::string& text, const std::string& file_name) {
  return Parse(text, file_name, *base::Env::Default());
}

Result<Config> LoadConfig(base::Env& env, const std::string& path) {
  Result<std::string> text = env.ReadFile(path);
  if (!text.ok()) return text.status().Wrap("cannot read the configuration");
  return Parse(*text, path, env);
}

Config DemoConfig(const std::string& data_dir, int segment_seconds) {
  Config config;
  config.source_file = "<demo>";
  config.device.id = "PR-DEMO-0001";
  config.device.plate = "吉E·12345";
  config.device.officers = {"031234", "031235"};
  config.data_dir = data_dir;
  config.segment_seconds = segment_seconds;

  CameraConfig road;
  road.name = "road";
  road.source = SourceKind::kTest;
  // smpte: a textured picture with a moving noise box. "ball" at 1280x720 is a small dot on
  // black, which the health probes rightly call a covered lens (docs/health.md).
  road.pattern = "smpte";
  road.width = 1280, road.height = 720, road.framerate = 30;
  road.bitrate_kbps = 2500;
  config.cameras.push_back(road);

  CameraConfig front;
  front.name = "cabin-front";
  front.source = SourceKind::kTest;
  front.pattern = "smpte";
  front.width = 640, front.height = 360, front.framerate = 30;
  front.bitrate_kbps = 800;
  front.audio = AudioKind::kTest;
  front.cabin = true;
  config.cameras.push_back(front);

  // smpte again: of videotestsrc's patterns only ball, snow and smpte (its noise box) move; snow
  // cannot be compressed to 800 kbps, and a small ball on black reads as a covered lens. The
  // demo's shift covers this one on purpose (scripts/demo-shift).
  CameraConfig rear = front;
  rear.name = "cabin-rear";
  rear.pattern = "smpte";
  rear.audio = AudioKind::kNone;
  config.cameras.push_back(rear);

  config.api.socket = data_dir + "/api.sock";
  for (const DemoUser& demo : kDemoUsers) {
    config.users.push_back(UserConfig{demo.name, demo.role, storage::Sha256Hex(demo.token),
                                      storage::Sha256Hex(demo.pin)});
  }
  return config;
}

std::string FormatConfig(const Config& config) {
  std::string out;
  auto line = [&out](const std::string& key, const std::string& value) {
    out += key + " = " + FormatValue(value) + "\n";
  };
  out += "[device]\n";
  line("id", config.device.id);
  line("plate", config.device.plate);
  if (!config.device.officers.empty()) line("officers", Join(config.device.officers, ", "));
  line("timezone", config.device.timezone);
  if (!config.device.key_fingerprint.empty()) {
    line("key_fingerprint", config.device.key_fingerprint);
  }
  out += "\n[storage]\n";
  line("data_dir", config.data_dir);
  line("segment_seconds", std::to_string(config.segment_seconds));
  line("min_free_percent", std::to_string(config.eviction.min_free_percent));
  line("target_free_percent", std::to_string(config.eviction.target_free_percent));
  line("background_retention_days", std::to_string(config.eviction.background_retention_days));
  line("evidence_local_retention_days",
       std::to_string(config.eviction.evidence_local_retention_days));
  line("evict_unuploaded_background",
       config.eviction.evict_unuploaded_background ? "true" : "false");
  out += "\n[gps]\n";
  line("gpsd", !config.gps.enabled ? "none"
               : config.gps.host.find(':') != std::string::npos
                   ? "[" + config.gps.host + "]:" + config.gps.port
                   : config.gps.host + ":" + config.gps.port);
  line("stale_seconds", std::to_string(config.gps.stale_seconds));
  line("max_clock_offset_ms", std::to_string(config.gps.max_clock_offset_ms));
  out += "\n[incidents]\n";
  line("pre_event_s", std::to_string(config.incidents.pre_event_s));
  line("post_event_s", std::to_string(config.incidents.post_event_s));
  line("speed_trigger_kmh", std::to_string(config.incidents.speed_trigger_kmh));
  line("link_deadline_hours", std::to_string(config.incidents.link_deadline_s / 3600));
  out += "\n[health]\n";
  line("enter_s", std::to_string(config.health.enter_s));
  line("leave_s", std::to_string(config.health.leave_s));
  line("min_record_hours", std::to_string(config.health.min_record_hours));
  line("selfcheck_interval_hours", std::to_string(config.health.selfcheck_interval_hours));
  for (const CameraConfig& camera : config.cameras) {
    out += "\n[camera " + camera.name + "]\n";
    line("source", SourceKindName(camera.source));
    switch (camera.source) {
      case SourceKind::kRtsp:
        line("url", camera.url);
        break;
      case SourceKind::kV4l2:
        line("device", camera.device);
        line("format", V4l2FormatName(camera.format));
        break;
      case SourceKind::kClip:
        line("clip", camera.clip);
        break;
      case SourceKind::kTest:
        line("pattern", camera.pattern);
        break;
    }
    line("width", std::to_string(camera.width));
    line("height", std::to_string(camera.height));
    line("framerate", std::to_string(camera.framerate));
    line("bitrate_kbps", std::to_string(camera.bitrate_kbps));
    line("overlay", camera.overlay ? "true" : "false");
    line("view", camera.cabin ? "cabin" : "road");
    switch (camera.audio) {
      case AudioKind::kNone:
        line("audio", "none");
        break;
      case AudioKind::kTest:
        line("audio", "test");
        break;
      case AudioKind::kAlsa:
        line("audio", "alsa:" + camera.alsa_device);
        break;
    }
  }
  for (const inputs::GpioInputConfig& input : config.inputs) {
    out += "\n[input " + input.name + "]\n";
    line("kind", "gpio");
    line("chip", input.chip);
    line("line", std::to_string(input.line));
    line("active_low", input.active_low ? "true" : "false");
    line("debounce_ms", std::to_string(input.debounce_ms));
    line("function", inputs::InputFunctionName(input.function));
  }
  if (config.crash) {
    out += "\n[crash]\n";
    line("iio_device", config.crash->device);
    line("threshold_g", FormatNumber(config.crash->threshold_g));
    line("duration_ms", std::to_string(config.crash->duration_ms));
    line("poll_hz", std::to_string(config.crash->poll_hz));
  }
  out += "\n[api]\n";
  line("socket", config.api.socket);
  line("listen", config.api.listen_host.empty() ? "none"
                 : config.api.listen_host.find(':') != std::string::npos
                     ? "[" + config.api.listen_host + "]:" + config.api.listen_port
                     : config.api.listen_host + ":" + config.api.listen_port);
  const UplinkConfig& uplink = config.uplink;
  out += "\n[uplink]\n";
  line("endpoint", uplink.enabled() ? uplink.endpoint : "none");
  line("region", uplink.region);
  if (!uplink.bucket.empty()) line("bucket", uplink.bucket);
  if (!uplink.access_key.empty()) line("access_key", uplink.access_key);
  if (!uplink.secret_key_file.empty()) line("secret_key_file", uplink.secret_key_file);
  if (!uplink.ca_file.empty()) line("ca_file", uplink.ca_file);
  if (!uplink.client_cert.empty()) line("client_cert", uplink.client_cert);
  if (!uplink.client_key.empty()) line("client_key", uplink.client_key);
  line("part_size_mib", std::to_string(uplink.part_size_mib));
  line("jobs", std::to_string(uplink.jobs));
  line("ordinary_retention_days", std::to_string(uplink.ordinary_retention_days));
  line("cellular_rate_kib_s", std::to_string(uplink.cellular_rate_kib_s));
  line("monthly_budget_mib", std::to_string(uplink.monthly_budget_mib));
  line("background_over_cellular", uplink.background_over_cellular ? "true" : "false");
  line("depot_interfaces",
       uplink.depot_interfaces.empty() ? "none" : Join(uplink.depot_interfaces, ", "));
  line("depot_geofence", uplink.depot_geofence ? "true" : "false");
  line("network", uplink.network);
  line("deadline_alert_hours", std::to_string(uplink.deadline_alert_hours));
  out += "\n[export]\n";
  line("approval_expiry_hours", std::to_string(config.exports.approval_expiry_hours));
  line("iso", config.exports.iso ? "true" : "false");
  line("pdf", config.exports.pdf ? "true" : "false");
  for (const MediumConfig& medium : config.media) {
    out += "\n[medium " + medium.name + "]\n";
    line("vendor_id", medium.vendor_id);
    line("product_id", medium.product_id);
    line("serial", medium.serial);
  }
  out += "\n[live]\n";
  line("listen", config.live.listen_host.empty() ? "none"
                 : config.live.listen_host.find(':') != std::string::npos
                     ? "[" + config.live.listen_host + "]:" + config.live.listen_port
                     : config.live.listen_host + ":" + config.live.listen_port);
  line("max_kbps", std::to_string(config.live.max_kbps));
  line("max_viewers", std::to_string(config.live.max_viewers));
  for (const UserConfig& user : config.users) {
    out += "\n[user " + user.name + "]\n";
    line("role", RoleName(user.role));
    line("token_sha256", user.token_sha256);
    if (!user.pin_sha256.empty()) line("pin_sha256", user.pin_sha256);
  }
  for (const gps::Geofence& fence : config.geofences) {
    out += "\n[geofence " + fence.name + "]\n";
    line("kind", gps::GeofenceKindName(fence.kind));
    if (fence.circle_center) {
      line("circle", FormatLatLon(*fence.circle_center));
      line("radius_m", FormatNumber(fence.circle_radius_m));
    } else {
      std::vector<std::string> vertices;
      for (const gps::LatLon& vertex : fence.polygon) vertices.push_back(FormatLatLon(vertex));
      line("polygon", Join(vertices, "; "));
    }
  }
  return out;
}

}  // namespace patrolrec::daemon
