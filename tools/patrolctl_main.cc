// patrolctl: the command line over patrolrecd's control API (docs/control-api.md), for crews,
// supervisors, technicians and auditors. Each command is one HTTP call; the daemon decides
// everything, this program only builds the request and prints the answer. `audit verify` is the
// exception: it checks an audit log file offline, with no daemon.
//
// Invariant: exit status 0 when the daemon did what was asked, 1 when it refused or failed (its
// reason is printed) or could not be reached, 2 for a usage error.
#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/env.h"
#include "storage/audit_head.h"
#include "storage/audit_log.h"

namespace {

using nlohmann::json;

constexpr char kDefaultSocket[] = "/run/patrolrec/api.sock";

constexpr char kUsage[] =
    "Usage: patrolctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Talks to patrolrecd's control API. Every command but `audit verify` needs the daemon and a\n"
    "token; what a token may do depends on its user's role.\n"
    "\n"
    "Options:\n"
    "  --socket PATH     the daemon's Unix socket (default $PATROLCTL_SOCKET or\n"
    "                    /run/patrolrec/api.sock)\n"
    "  --url URL         talk over TCP instead, e.g. http://127.0.0.1:8080\n"
    "  --token TOKEN     your API token (default $PATROLCTL_TOKEN)\n"
    "  --token-file FILE read the token from FILE (safer than --token: not in `ps`)\n"
    "  --json            print the daemon's JSON answer as it is\n"
    "  --help            this help; `patrolctl COMMAND --help` for a command's\n"
    "\n"
    "Commands:\n"
    "  status                      device, cameras, position, time and the open incident\n"
    "  health [--hours N]          each part's state and history (technician, supervisor)\n"
    "  uplink                      what is uploaded, queued and held (and why), the budget,\n"
    "                              each incident's 24-hour status\n"
    "  selfcheck                   run the self-check now (technician, supervisor)\n"
    "  selfcheck history [--limit N]  the stored self-check runs with every item\n"
    "  incident list|show|dispatch|phase|mark|handover|close|override-close|link|explain|\n"
    "           spoken|retention   incidents; `patrolctl incident --help`\n"
    "  record start|stop           the manual record button\n"
    "  camera stop NAME            stop one camera (refused during an incident)\n"
    "  camera simulate NAME FAULT  stage a fault on a synthetic camera (cover, black, freeze,\n"
    "                              mute, clip, none) for the health probes\n"
    "  export request|list|show|approve|refuse|write\n"
    "                              evidence export with approvals; `patrolctl export --help`\n"
    "  events                      follow events, one line each, until Ctrl-C\n"
    "  audit list [--since SEQ]    the audit log (auditor, supervisor)\n"
    "  audit verify FILE           check an audit log's hash chain and signed head offline\n"
    "\n"
    "Exit status: 0 done; 1 refused, failed or daemon unreachable; 2 usage error.\n";

constexpr char kIncidentUsage[] =
    "Usage: patrolctl incident SUBCOMMAND ...\n"
    "\n"
    "  list                                  all incidents, newest first\n"
    "  show ID                               one incident in full\n"
    "  dispatch --alarm N --type TYPE --address TEXT [--officer BADGE]... [--case N]\n"
    "                                        open an incident for a dispatch (110 order)\n"
    "  phase ID PHASE                        PHASE: en-route, on-scene or transporting\n"
    "  mark ID NOTE                          mark a moment with a note\n"
    "  handover ID                           the suspect was handed over at the holding area\n"
    "  close ID --no-suspect --reason TEXT   close an incident without a suspect\n"
    "  override-close ID --reason TEXT       close it anyway (supervisor)\n"
    "  link ID [--alarm N] [--case N]        link the alarm (警情) or case number\n"
    "  explain ID [--interruption N] TEXT    the crew's written explanation of a gap\n"
    "  spoken ID N start|stop                mark the spoken explanation of interruption N\n"
    "  retention ID ordinary|permanent --reason TEXT\n"
    "                                        set the retention class (supervisor)\n";

struct Options {
  std::string socket;
  std::string url;
  std::string token;
  bool json = false;
};

int UsageError(const std::string& message, const std::string& help = "patrolctl --help") {
  std::fprintf(stderr, "patrolctl: %s\nTry '%s'.\n", message.c_str(), help.c_str());
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "patrolctl: %s\n", message.c_str());
  return 1;
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Reply {
  bool connected = false;
  std::string connect_error;
  long status = 0;
  std::string body;
};

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string Where(const Options& options) {
  return options.url.empty() ? "socket " + options.socket : options.url;
}

CURL* NewRequest(const Options& options, const std::string& method, const std::string& path,
                 curl_slist** headers) {
  CURL* curl = curl_easy_init();
  const std::string url =
      (options.url.empty() ? std::string("http://localhost") : options.url) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (options.url.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, options.socket.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  *headers = curl_slist_append(*headers, ("Authorization: Bearer " + options.token).c_str());
  *headers = curl_slist_append(*headers, "Accept: application/json");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
  return curl;
}

Reply Call(const Options& options, const std::string& method, const std::string& path,
           const std::optional<json>& body = std::nullopt) {
  Reply reply;
  curl_slist* headers = nullptr;
  CURL* curl = NewRequest(options, method, path, &headers);
  std::string data;
  if (body) {
    data = body->dump();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(data.size()));
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    reply.connected = true;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  } else {
    reply.connect_error = curl_easy_strerror(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

int CannotConnect(const Options& options, const std::string& why) {
  return Fail("cannot reach patrolrecd at " + Where(options) + ": " + why +
              "\nIs the daemon running? Check with: systemctl status patrolrecd" +
              (options.url.empty() ? " (or give --socket PATH / --url URL)" : ""));
}

// ---------------------------------------------------------------------------------------------
// Printing

std::string Scalar(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

// Anything the daemon sent, as indented "key: value" lines: unknown fields are shown, not lost.
void PrintTree(const json& value, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (item.is_structured() && !item.empty()) {
        std::printf("%s%s:\n", pad.c_str(), key.c_str());
        PrintTree(item, indent + 2);
      } else {
        std::printf("%s%s: %s\n", pad.c_str(), key.c_str(),
                    item.is_structured() ? "(none)" : Scalar(item).c_str());
      }
    }
  } else if (value.is_array()) {
    for (const json& item : value) {
      if (item.is_object()) {
        std::printf("%s-\n", pad.c_str());
        PrintTree(item, indent + 2);
      } else {
        std::printf("%s- %s\n", pad.c_str(), Scalar(item).c_str());
      }
    }
  } else {
    std::printf("%s%s\n", pad.c_str(), Scalar(value).c_str());
  }
}

std::string Field(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return "-";
  return Scalar(object[key]);
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  auto measure = [&width](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      // Display width: count UTF-8 lead bytes, so Chinese text does not skew the columns much.
      size_t w = 0;
      for (unsigned char c : row[i]) w += (c & 0xC0) != 0x80;
      width[i] = std::max(width[i], w);
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto print = [&width](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 == row.size()) break;
      size_t w = 0;
      for (unsigned char c : row[i]) w += (c & 0xC0) != 0x80;
      line += std::string(width[i] - w + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  };
  print(header);
  for (const auto& row : rows) print(row);
}

void PrintIncident(const json& incident) {
  if (!incident.is_object()) return PrintTree(incident, 0);
  const std::string phase = Field(incident, "phase");
  std::printf("incident %s  %s%s\n", Field(incident, "id").c_str(), phase.c_str(),
              incident.value("open", false) ? " (open)" : phase == "closed" ? "" : " (closed)");
  const std::vector<const char*> shown = {
      "trigger",    "trigger_detail", "trigger_utc",      "opened_utc",        "closed_utc",
      "close_kind", "close_reason",   "alarm_number",     "case_number",       "incident_type",
      "address",    "retention",      "retention_reason", "evidence_from_utc", "evidence_to_utc"};
  for (const char* key : shown) {
    if (incident.contains(key)) std::printf("  %-17s %s\n", key, Field(incident, key).c_str());
  }
  if (incident.contains("officers")) {
    std::string officers;
    for (const json& o : incident["officers"])
      officers += (officers.empty() ? "" : ", ") + Scalar(o);
    std::printf("  %-17s %s\n", "officers", officers.empty() ? "-" : officers.c_str());
  }
  if (incident.value("link_overdue", false)) {
    std::printf("  WARNING: no case number linked yet, and the deadline has passed (第十四条)\n");
  }
  auto list = [&incident](const char* key, const char* title,
                          const std::vector<const char*>& columns) {
    if (!incident.contains(key) || !incident[key].is_array() || incident[key].empty()) return;
    std::printf("%s:\n", title);
    for (const json& item : incident[key]) {
      std::string line = " ";
      for (const char* column : columns) line += " " + Field(item, column);
      std::printf("%s\n", line.c_str());
    }
  };
  // The whole history (trigger, phases, marks, explanations, links, refusals) when the daemon
  // sends it; otherwise its parts.
  if (incident.contains("history")) {
    list("history", "history", {"utc", "kind", "by", "value"});
  } else {
    list("phases", "phases", {"utc", "phase", "by"});
    list("marks", "marks", {"utc", "by", "note"});
    list("explanations", "explanations", {"utc", "by", "text"});
  }
  // Interruptions (R6): what, when, and whether the crew has explained them (第十三条).
  if (incident.contains("interruptions") && incident["interruptions"].is_array() &&
      !incident["interruptions"].empty()) {
    std::printf("interruptions:\n");
    std::vector<std::vector<std::string>> rows;
    for (const json& i : incident["interruptions"]) {
      const std::string camera = Field(i, "camera");
      std::string explained = i.value("explained", false) ? "written" : "NO";
      if (i.contains("spoken") && i["spoken"].is_object()) explained += "+spoken";
      rows.push_back({"  " + Field(i, "number"), camera.empty() ? "(all)" : camera,
                      Field(i, "cause"), Field(i, "start_utc"),
                      i["end_utc"].is_null() ? "(going on)" : Field(i, "end_utc"), explained,
                      Field(i, "detail")});
    }
    PrintTable({"  #", "camera", "cause", "start", "end", "explained", "detail"}, rows);
    for (const json& i : incident["interruptions"]) {
      if (i.value("explained", false)) {
        std::printf("  %s: \"%s\" (%s, %s)\n", Field(i, "number").c_str(),
                    Field(i, "explanation").c_str(), Field(i, "explained_by").c_str(),
                    Field(i, "explained_utc").c_str());
      }
    }
  }
  if (incident.contains("unexplained_interruptions") &&
      incident["unexplained_interruptions"].is_array() &&
      !incident["unexplained_interruptions"].empty()) {
    std::string numbers;
    for (const json& n : incident["unexplained_interruptions"]) {
      numbers += (numbers.empty() ? "" : ", ") + Scalar(n);
    }
    std::printf(
        "  WARNING: interruption(s) %s closed without a written explanation (第十三条): "
        "patrolctl incident explain ID --interruption N TEXT\n",
        numbers.c_str());
  }
  list("segments", "segments", {"camera", "start_utc", "end_utc", "file", "sha256"});
  // Whatever else a newer daemon sends.
  json rest = incident;
  for (const char* key :
       {"id", "phase", "open", "officers", "link_overdue", "phases", "marks", "explanations",
        "segments", "history", "interruptions", "unexplained_interruptions"}) {
    rest.erase(key);
  }
  for (const char* key : shown) rest.erase(key);
  if (!rest.empty()) PrintTree(rest, 2);
}

void PrintIncidentList(const json& body) {
  const json& list = body.is_array() ? body : body.value("incidents", json::array());
  if (list.empty()) {
    std::printf("no incidents\n");
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& incident : list) {
    rows.push_back({Field(incident, "id"), Field(incident, "phase"),
                    incident.value("open", false) ? "open" : "closed", Field(incident, "trigger"),
                    Field(incident, "opened_utc"), Field(incident, "alarm_number"),
                    Field(incident, "case_number")});
  }
  PrintTable({"ID", "PHASE", "STATE", "TRIGGER", "OPENED (UTC)", "ALARM", "CASE"}, rows);
}

void PrintStatus(const json& body) {
  if (!body.is_object()) return PrintTree(body, 0);
  std::printf("device: %s\n", Field(body, "device").c_str());
  if (body.contains("cameras") && body["cameras"].is_array()) {
    std::vector<std::vector<std::string>> rows;
    for (const json& camera : body["cameras"]) {
      rows.push_back({Field(camera, "name"), Field(camera, "state"),
                      camera.contains("problem") ? Field(camera, "problem") : ""});
    }
    PrintTable({"CAMERA", "STATE", "PROBLEM"}, rows);
  }
  json rest = body;
  rest.erase("device");
  rest.erase("cameras");
  if (rest.contains("incident") && rest["incident"].is_null()) {
    std::printf("incident: none open\n");
    rest.erase("incident");
  }
  PrintTree(rest, 0);
}

std::string Bytes(const json& value) {
  const double bytes = value.is_number() ? value.get<double>() : 0;
  char text[32];
  if (bytes >= 1024.0 * 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  } else if (bytes >= 1024.0 * 1024) {
    std::snprintf(text, sizeof text, "%.1f MiB", bytes / (1024.0 * 1024));
  } else if (bytes >= 1024.0) {
    std::snprintf(text, sizeof text, "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.0f B", bytes);
  }
  return text;
}

void PrintUplink(const json& body) {
  if (!body.is_object()) return PrintTree(body, 0);
  if (!body.value("enabled", false)) {
    std::printf("uplink: off ([uplink] endpoint = none)\n");
    return;
  }
  std::printf("uplink: %s bucket %s, network %s, %d worker(s)\n", Field(body, "endpoint").c_str(),
              Field(body, "bucket").c_str(), Field(body, "mode").c_str(), body.value("workers", 0));
  if (body.contains("queue") && body["queue"].is_object()) {
    std::printf("queue:\n");
    for (const char* name : {"alert", "manifest", "evidence", "background"}) {
      const json& q = body["queue"].value(name, json::object());
      std::printf("  %-11s %4lld ready (%s), %4lld held (%s)\n", name,
                  static_cast<long long>(q.value("ready", 0)),
                  Bytes(q.value("ready_bytes", int64_t{0})).c_str(),
                  static_cast<long long>(q.value("held", 0)),
                  Bytes(q.value("held_bytes", int64_t{0})).c_str());
    }
  }
  if (body.contains("held") && body["held"].is_array() && !body["held"].empty()) {
    std::printf("held, and why:\n");
    for (const json& h : body["held"]) {
      std::printf("  %lld %s (%s): %s\n", static_cast<long long>(h.value("jobs", 0)),
                  Field(h, "class").c_str(), Bytes(h.value("bytes", int64_t{0})).c_str(),
                  Field(h, "why").c_str());
    }
  }
  if (body.contains("in_flight") && body["in_flight"].is_array()) {
    for (const json& f : body["in_flight"]) {
      const double total = f.value("total_bytes", 0.0);
      std::printf("uploading: %s %s %s of %s (%.0f%%)\n", Field(f, "class").c_str(),
                  f.contains("key") ? Field(f, "key").c_str() : "",
                  Bytes(f.value("done_bytes", int64_t{0})).c_str(),
                  Bytes(f.value("total_bytes", int64_t{0})).c_str(),
                  total > 0 ? 100.0 * f.value("done_bytes", 0.0) / total : 0.0);
    }
  }
  if (body.contains("cellular") && body["cellular"].is_object()) {
    const json& c = body["cellular"];
    std::printf("cellular this month (%s): %s of %s budget, cap %s/s\n", Field(c, "month").c_str(),
                Bytes(c.value("bytes_sent", 0)).c_str(),
                c.value("budget_bytes", int64_t{0}) ? Bytes(c["budget_bytes"]).c_str() : "no",
                c.value("rate_cap_bytes_per_s", int64_t{0})
                    ? Bytes(c["rate_cap_bytes_per_s"]).c_str()
                    : "no");
  }
  if (body.contains("incidents") && body["incidents"].is_array() && body["incidents"].empty()) {
    std::printf("24-hour rule: no closed incident\n");
  } else if (body.contains("incidents") && body["incidents"].is_array()) {
    std::printf("24-hour rule (close to complete verified upload):\n");
    for (const json& i : body["incidents"]) {
      std::printf("  %-36s %-13s %lld/%lld segments, manifest %s, deadline %s\n",
                  Field(i, "id").c_str(), Field(i, "state").c_str(),
                  static_cast<long long>(i.value("segments_verified", 0)),
                  static_cast<long long>(i.value("segments", 0)),
                  i.value("manifest_verified", false) ? "verified" : "not yet",
                  Field(i, "deadline_utc").c_str());
    }
  } else if (body.contains("deadline_counts") && body["deadline_counts"].is_object()) {
    std::printf("24-hour rule, incidents by state:");
    for (const auto& [state, count] : body["deadline_counts"].items()) {
      std::printf(" %s %lld", state.c_str(), static_cast<long long>(count.get<int64_t>()));
    }
    std::printf("\n");
  }
  std::printf("files uploaded and verified since start: %lld\n",
              static_cast<long long>(body.value("files_verified", 0)));
  if (body.contains("last_error") && !Field(body, "last_error").empty()) {
    std::printf("last error: %s\n", Field(body, "last_error").c_str());
  }
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// One self-check run: its header, then each item's result and reason (failures in capitals, so
// that they stand out on a technician's terminal).
void PrintSelfCheck(const json& run) {
  if (!run.is_object() || !run.contains("items")) return PrintTree(run, 0);
  std::printf("self-check #%s (%s, by %s) %s: %s\n", Field(run, "id").c_str(),
              Field(run, "trigger").c_str(), Field(run, "by").c_str(), Field(run, "utc").c_str(),
              Upper(Field(run, "overall")).c_str());
  for (const json& item : run["items"]) {
    std::string result = Field(item, "result");
    if (result == "fail") result = "FAIL";
    std::printf("  %-4s  %-22s %s\n", result.c_str(), Field(item, "name").c_str(),
                Field(item, "reason").c_str());
  }
}

void PrintSelfCheckHistory(const json& body) {
  if (!body.is_object() || !body.contains("runs") || !body["runs"].is_array()) {
    return PrintTree(body, 0);
  }
  if (body["runs"].empty()) std::printf("no self-check stored yet\n");
  for (const json& run : body["runs"]) PrintSelfCheck(run);
}

// "ok 3590 s, covered 10 s" from {"ok": 3590, "covered": 10}.
std::string StateTimes(const json& seconds) {
  if (!seconds.is_object() || seconds.empty()) return "-";
  std::string out;
  for (const auto& [state, s] : seconds.items()) {
    char text[64];
    std::snprintf(text, sizeof text, "%s %.0f s", state.c_str(),
                  s.is_number() ? s.get<double>() : 0);
    out += (out.empty() ? "" : ", ") + std::string(text);
  }
  return out;
}

// The technician's health page: each part's state now and its history over the window. The
// daemon's answer holds no incident and no segment; nothing here adds one.
void PrintHealthHistory(const json& body) {
  if (!body.is_object() || !body.contains("cameras")) return PrintTree(body, 0);
  const json& window = body.value("window", json::object());
  std::printf("device %s: health over the last %s h (%s to %s)\n", Field(body, "device").c_str(),
              Field(window, "hours").c_str(), Field(window, "from_utc").c_str(),
              Field(window, "to_utc").c_str());
  std::vector<std::vector<std::string>> rows;
  for (const json& c : body["cameras"]) {
    const json& video = c.value("video", json::object());
    const json& audio = c.value("audio", json::object());
    rows.push_back({Field(c, "name"), Field(c, "state"), Field(video, "state"),
                    c.contains("audio") ? Field(audio, "state") : "(none)", Field(c, "restarts"),
                    Field(c, "failures"), Field(c, "probe_events")});
  }
  PrintTable({"CAMERA", "PIPELINE", "PICTURE", "SOUND", "RESTARTS", "FAILURES", "PROBE EVENTS"},
             rows);
  for (const json& c : body["cameras"]) {
    std::printf("camera %s:\n", Field(c, "name").c_str());
    const json& video = c.value("video", json::object());
    std::printf("  picture: %s\n", StateTimes(video.value("seconds_in_state", json())).c_str());
    if (!Field(video, "cause").empty() && Field(video, "state") != "ok") {
      std::printf("    now %s since %s: %s\n", Field(video, "state").c_str(),
                  Field(video, "since_utc").c_str(), Field(video, "cause").c_str());
    }
    if (c.contains("audio")) {
      const json& audio = c["audio"];
      std::printf("  sound:   %s\n", StateTimes(audio.value("seconds_in_state", json())).c_str());
      if (!Field(audio, "cause").empty() && Field(audio, "state") != "ok") {
        std::printf("    now %s since %s: %s\n", Field(audio, "state").c_str(),
                    Field(audio, "since_utc").c_str(), Field(audio, "cause").c_str());
      }
    }
    std::printf(
        "  pipeline: %s\n",
        StateTimes(c.value("pipeline", json::object()).value("seconds_in_state", json())).c_str());
    if (c.contains("last_failure") && c["last_failure"].is_object()) {
      std::printf("  last failure %s: %s\n", Field(c["last_failure"], "utc").c_str(),
                  Field(c["last_failure"], "cause").c_str());
    }
    if (c.contains("problem") && !c["problem"].is_null()) {
      std::printf("  problem: %s\n", Field(c, "problem").c_str());
    }
  }
  if (body.contains("events") && body["events"].is_array()) {
    std::printf("events (%s in the window):\n", Field(body, "events_in_window").c_str());
    for (const json& e : body["events"]) {
      std::printf("  %s  %-12s %-8s %s -> %s%s\n", Field(e, "utc").c_str(),
                  Field(e, "camera").c_str(), Field(e, "channel").c_str(),
                  Field(e, "previous").empty() ? "(start)" : Field(e, "previous").c_str(),
                  Field(e, "state").c_str(),
                  Field(e, "cause").empty() ? "" : (": " + Field(e, "cause")).c_str());
    }
  }
  const json& disk = body.value("disk", json::object());
  if (disk.value("known", false)) {
    std::printf(
        "disk: %s free of %s (%s %%), %s h at %s kbit/s (minimum %s h)%s\n",
        Bytes(disk["free_bytes"]).c_str(), Bytes(disk["total_bytes"]).c_str(),
        Field(disk, "free_percent").c_str(), Field(disk, "hours_at_current_bitrate").c_str(),
        Field(disk, "bitrate_kbps").c_str(), Field(disk, "min_record_hours").c_str(),
        disk.value("alert", json()).is_string() ? ("; " + Field(disk, "alert")).c_str() : "");
  } else {
    std::printf("disk: unknown: %s\n", Field(disk, "error").c_str());
  }
  const json& gps = body.value("gps", json::object());
  std::printf("gps: %s\n",
              gps.value("configured", false) ? Field(gps, "state").c_str() : "not configured");
  const json& clock = body.value("clock", json::object());
  std::printf("clock: %s (%s): %s\n", clock.value("verified", false) ? "verified" : "NOT verified",
              Field(clock, "source").c_str(), Field(clock, "reason").c_str());
  const json& uplink = body.value("uplink", json::object());
  if (!uplink.value("configured", false)) {
    std::printf("uplink: not configured\n");
  } else {
    std::printf(
        "uplink: %s, %s; last upload %s; last error %s %s\n",
        uplink.value("running", false) ? "running" : "NOT running", Field(uplink, "mode").c_str(),
        Field(uplink, "last_success_utc").empty() ? "none"
                                                  : Field(uplink, "last_success_utc").c_str(),
        Field(uplink, "last_error_utc").empty() ? "none" : Field(uplink, "last_error_utc").c_str(),
        Field(uplink, "last_error").c_str());
  }
  std::printf("seal failures since start: %s\n", Field(body, "seal_failures").c_str());
  if (body.contains("last_self_check") && body["last_self_check"].is_object()) {
    std::printf("last ");
    PrintSelfCheck(body["last_self_check"]);
  } else {
    std::printf("no self-check stored yet\n");
  }
}

void PrintExport(const json& e) {
  std::printf("export request %lld: %s\n", static_cast<long long>(e.value("id", 0LL)),
              e.value("state", "").c_str());
  auto field = [&](const char* label, const char* key) {
    if (e.contains(key) && e[key].is_string()) {
      std::printf("  %-18s %s\n", label, e[key].get<std::string>().c_str());
    }
  };
  field("purpose", "purpose");
  field("requester", "requester");
  field("requester kind", "requester_kind");
  field("requester unit", "requester_unit");
  field("legal document", "legal_document");
  field("incident", "incident");
  field("from", "from_utc");
  field("to", "to_utc");
  field("needs approval", "required_approval");
  field("decided by", "decided_by");
  field("decided", "decided_utc");
  field("reason", "decision_reason");
  field("approval", "approval_kind");
  field("expires", "expires_utc");
  field("exported", "exported_utc");
  field("exported by", "exported_by");
  field("medium", "medium");
  field("package", "package");
  field("manifest sha256", "manifest_sha256");
  field("last error", "last_error");
  if (e.value("expired", false)) std::printf("  EXPIRED: ask again\n");
}

// POST .../write, then the request every second until it is exported or its write failed.
int WriteExport(const Options& o, const std::string& id, const json& body) {
  Reply reply = Call(o, "POST", "/v1/exports/" + id + "/write", body);
  if (!reply.connected) return CannotConnect(o, reply.connect_error);
  json answer = json::parse(reply.body, nullptr, false);
  if (reply.status != 202) {
    std::string reason = answer.is_object() ? answer.value("error", reply.body) : reply.body;
    return Fail("the daemon refused (" + std::to_string(reply.status) + "): " + reason);
  }
  std::printf("writing to %s\n", answer.value("seen", "").c_str());
  std::string last_phase;
  for (;;) {
    ::sleep(1);
    Reply poll = Call(o, "GET", "/v1/exports/" + id, std::nullopt);
    if (!poll.connected) return CannotConnect(o, poll.connect_error);
    json e = json::parse(poll.body, nullptr, false);
    if (poll.status != 200 || !e.is_object()) return Fail("reading the request: " + poll.body);
    if (e.value("state", "") == "exported") {
      PrintExport(e);
      return 0;
    }
    if (e.contains("progress")) {
      const json& p = e["progress"];
      std::printf("  %s: %lld of %lld bytes\n", p.value("phase", "").c_str(),
                  static_cast<long long>(p.value("bytes_done", 0LL)),
                  static_cast<long long>(p.value("bytes_total", 0LL)));
      std::fflush(stdout);
    } else if (e.contains("last_error")) {
      return Fail("the export failed, nothing was exported: " +
                  e["last_error"].get<std::string>());
    }
  }
}

// Prints a successful answer; the per-command printer, or the tree, or "ok".
using Printer = std::function<void(const json&)>;

// What makes a successful answer a failure all the same (the self-check's "ok": false): exit 1.
using Failed = std::function<bool(const json&)>;

int Run(const Options& options, const std::string& method, const std::string& path,
        const std::optional<json>& body, const Printer& printer, const Failed& failed = nullptr) {
  Reply reply = Call(options, method, path, body);
  if (!reply.connected) return CannotConnect(options, reply.connect_error);
  json answer = json::parse(reply.body, nullptr, false);
  if (reply.status >= 200 && reply.status < 300) {
    if (options.json) {
      std::fwrite(reply.body.data(), 1, reply.body.size(), stdout);
      if (!reply.body.empty() && reply.body.back() != '\n') std::fputc('\n', stdout);
    } else if (answer.is_discarded()) {
      std::printf("%s\n", reply.body.c_str());
    } else if (printer) {
      printer(answer);
    } else if (answer.is_object() && answer.contains("id") && answer.contains("phase")) {
      PrintIncident(answer);
    } else if (answer.empty()) {
      std::printf("ok\n");
    } else {
      PrintTree(answer, 0);
    }
    if (std::fflush(stdout) != 0) return 1;
    return failed && !answer.is_discarded() && failed(answer) ? 1 : 0;
  }
  if (options.json) {
    std::fwrite(reply.body.data(), 1, reply.body.size(), stdout);
    std::fflush(stdout);
  }
  std::string reason = answer.is_object() && answer.contains("error") && answer["error"].is_string()
                           ? answer["error"].get<std::string>()
                           : reply.body;
  std::string code = answer.is_object() ? answer.value("code", "") : "";
  return Fail("the daemon refused (" + std::to_string(reply.status) +
              (code.empty() ? "" : " " + code) + "): " + reason);
}

// ---------------------------------------------------------------------------------------------
// Commands

// Positional arguments and --name VALUE options of one command.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> options;
  std::set<std::string> flags;
  bool help = false;
};

// Parses argv[from..]; `with_value` are the options that take a value, `flags` those that don't.
std::optional<std::string> ParseArgs(int argc, char** argv, int from,
                                     const std::set<std::string>& with_value,
                                     const std::set<std::string>& flags, Args* args) {
  bool done = false;
  for (int i = from; i < argc; ++i) {
    std::string arg = argv[i];
    if (!done && (arg == "--help" || arg == "-h")) {
      args->help = true;
    } else if (!done && arg == "--") {
      done = true;
    } else if (!done && arg.rfind("--", 0) == 0) {
      std::string name = arg, value;
      bool has_value = false;
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq), value = arg.substr(eq + 1), has_value = true;
      }
      if (with_value.count(name)) {
        if (!has_value) {
          if (i + 1 >= argc) return name + " needs a value";
          value = argv[++i];
        }
        args->options[name].push_back(value);
      } else if (flags.count(name) && !has_value) {
        args->flags.insert(name);
      } else {
        return "unknown option \"" + arg + "\"";
      }
    } else {
      args->positional.push_back(arg);
    }
  }
  return std::nullopt;
}

std::string One(const Args& args, const std::string& name) {
  auto it = args.options.find(name);
  return it == args.options.end() ? "" : it->second.back();
}

// "17" or "ABC-3" as a path segment: percent-encode everything but unreserved characters.
std::string PathSegment(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

struct Command {
  std::string usage;  // first line names the command
  std::set<std::string> with_value;
  std::set<std::string> flags;
  size_t min_positional;
  size_t max_positional;
  std::function<int(const Options&, const Args&)> run;
};

const std::map<std::string, Command>& Commands() {
  static const std::map<std::string, Command> commands = {
      {"export request",
       {"Usage: patrolctl export request (--incident ID | --from UTC --to UTC) --purpose P\n"
        "         [--kind K --unit TEXT] [--legal-document TEXT] [--note TEXT]\n\n"
        "Asks to export footage (第十八条). P: case-review, supervision, complaint, court,\n"
        "training-publicity. K (who it is for): own-department (default), other-department,\n"
        "oversight, outside-body, judicial (with --legal-document). A supervisor approves it.\n"
        "Route: POST /v1/exports (officer, supervisor, auditor).\n",
        {"--incident", "--from", "--to", "--purpose", "--kind", "--unit", "--legal-document",
         "--note"},
        {},
        0,
        0,
        [](const Options& o, const Args& a) {
          json body = {{"purpose", One(a, "--purpose")}};
          for (const auto& [option, key] : std::vector<std::pair<std::string, std::string>>{
                   {"--incident", "incident"}, {"--from", "from_utc"}, {"--to", "to_utc"},
                   {"--kind", "requester_kind"}, {"--unit", "requester_unit"},
                   {"--legal-document", "legal_document"}, {"--note", "note"}}) {
            if (!One(a, option).empty()) body[key] = One(a, option);
          }
          return Run(o, "POST", "/v1/exports", body, PrintExport);
        }}},
      {"export list",
       {"Usage: patrolctl export list\n\nEvery export request (an officer sees their own).\n"
        "Route: GET /v1/exports (officer, supervisor, auditor).\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "GET", "/v1/exports", {}, [](const json& answer) {
            for (const json& e : answer.value("exports", json::array())) PrintExport(e);
          });
        }}},
      {"export show",
       {"Usage: patrolctl export show ID\n\nOne export request, with a write's progress.\n"
        "Route: GET /v1/exports/ID (officer: own requests; supervisor, auditor).\n",
        {},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return Run(o, "GET", "/v1/exports/" + PathSegment(a.positional[0]), {}, PrintExport);
        }}},
      {"export approve",
       {"Usage: patrolctl export approve ID --kind APPROVAL --reason TEXT\n\n"
        "Approves a request (supervisor; not one's own). APPROVAL must be the kind the\n"
        "request needs (`export show` says): department-head, recording-department-head,\n"
        "county-bureau-head, legal-review-and-county-head. The approval is for one export\n"
        "and expires ([export] approval_expiry_hours).\n"
        "Route: POST /v1/exports/ID/approve (supervisor).\n",
        {"--kind", "--reason"},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return Run(o, "POST", "/v1/exports/" + PathSegment(a.positional[0]) + "/approve",
                     json{{"approval_kind", One(a, "--kind")}, {"reason", One(a, "--reason")}},
                     PrintExport);
        }}},
      {"export refuse",
       {"Usage: patrolctl export refuse ID --reason TEXT\n\nRefuses a request (supervisor).\n"
        "Route: POST /v1/exports/ID/refuse (supervisor).\n",
        {"--reason"},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return Run(o, "POST", "/v1/exports/" + PathSegment(a.positional[0]) + "/refuse",
                     json{{"reason", One(a, "--reason")}}, PrintExport);
        }}},
      {"export write",
       {"Usage: patrolctl export write ID --medium NAME --path MOUNT-POINT\n\n"
        "Writes the approved request's package to the registered [medium NAME] mounted at\n"
        "MOUNT-POINT (checked against the USB device's vendor, product and serial), then\n"
        "reads it back and verifies it; prints progress until done. Refused for any other\n"
        "device, an unapproved, expired or used approval.\n"
        "Route: POST /v1/exports/ID/write, then GET /v1/exports/ID (officer, supervisor).\n",
        {"--medium", "--path"},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return WriteExport(o, PathSegment(a.positional[0]),
                             json{{"medium", One(a, "--medium")}, {"path", One(a, "--path")}});
        }}},
      {"status",
       {"Usage: patrolctl status\n\nDevice, cameras, position, time and the open incident.\n"
        "Route: GET /v1/status (every role).\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "GET", "/v1/status", {}, PrintStatus);
        }}},
      {"health",
       {"Usage: patrolctl health [--hours N]\n\nEach part's state and history over the last N "
        "hours (default 24, at most 2160):\ncameras (pipeline, picture and sound states with the "
        "time in each, restarts,\nfailures, probe events), disk, GPS, clock, uplink, the last "
        "self-check.\nNever an incident or a segment.\n"
        "Route: GET /v1/health/history?hours=N (technician, supervisor).\n",
        {"--hours"},
        {},
        0,
        0,
        [](const Options& o, const Args& a) {
          const std::string hours = One(a, "--hours");
          return Run(o, "GET", "/v1/health/history" + (hours.empty() ? "" : "?hours=" + hours), {},
                     PrintHealthHistory);
        }}},
      {"uplink",
       {"Usage: patrolctl uplink\n\nThe uplink: network mode, what is queued by class and what "
        "is held and why,\nthe uploads under way, the month's cellular use against its budget, "
        "and each closed\nincident's 24-hour status (technicians see counts only).\n"
        "Route: GET /v1/uplink (every role).\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "GET", "/v1/uplink", {}, PrintUplink);
        }}},
      {"selfcheck",
       {"Usage: patrolctl selfcheck\n\nRuns the self-check now, stores it, and prints each item "
        "(pass, warn or\nFAIL) with its reason. Exit status 1 when an item failed.\nRoute: POST "
        "/v1/self-check (technician, supervisor).\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "POST", "/v1/self-check", std::nullopt, PrintSelfCheck,
                     [](const json& run) { return !run.value("ok", true); });
        }}},
      {"self-check",
       {"Usage: patrolctl selfcheck\n\nRuns the self-check now, stores it, and prints each item "
        "(pass, warn or\nFAIL) with its reason. Exit status 1 when an item failed.\nRoute: POST "
        "/v1/self-check (technician, supervisor).\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "POST", "/v1/self-check", std::nullopt, PrintSelfCheck,
                     [](const json& run) { return !run.value("ok", true); });
        }}},
      {"selfcheck history",
       {"Usage: patrolctl selfcheck history [--limit N]\n\nThe stored self-check runs, newest "
        "first (default the last 50), each with every\nitem and its reason.\n"
        "Route: GET /v1/self-check/history?limit=N (technician, supervisor).\n",
        {"--limit"},
        {},
        0,
        0,
        [](const Options& o, const Args& a) {
          const std::string limit = One(a, "--limit");
          return Run(o, "GET", "/v1/self-check/history" + (limit.empty() ? "" : "?limit=" + limit),
                     {}, PrintSelfCheckHistory);
        }}},
      {"incident list",
       {"Usage: patrolctl incident list\n\nAll incidents.\nRoute: GET /v1/incidents (officer, "
        "supervisor, auditor).\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "GET", "/v1/incidents", {}, PrintIncidentList);
        }}},
      {"incident show",
       {"Usage: patrolctl incident show ID\n\nOne incident in full: phases, marks, "
        "explanations, segments.\nRoute: GET /v1/incidents/{id} (officer, supervisor, "
        "auditor).\n",
        {},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return Run(o, "GET", "/v1/incidents/" + PathSegment(a.positional[0]), {}, PrintIncident);
        }}},
      {"incident dispatch",
       {"Usage: patrolctl incident dispatch --alarm N --type TYPE --address TEXT "
        "[--officer BADGE]... [--case N]\n\nOpens an incident for a dispatch order; recording "
        "of it starts at once.\nRoute: POST /v1/incidents.\n",
        {"--alarm", "--type", "--address", "--officer", "--case"},
        {},
        0,
        0,
        [](const Options& o, const Args& a) {
          for (const char* required : {"--alarm", "--type", "--address"}) {
            if (One(a, required).empty()) {
              return UsageError(std::string("incident dispatch needs ") + required,
                                "patrolctl incident dispatch --help");
            }
          }
          json body = {{"alarm_number", One(a, "--alarm")},
                       {"incident_type", One(a, "--type")},
                       {"address", One(a, "--address")},
                       {"officers", json::array()}};
          if (a.options.count("--officer")) body["officers"] = a.options.at("--officer");
          if (!One(a, "--case").empty()) body["case_number"] = One(a, "--case");
          return Run(o, "POST", "/v1/incidents", body, PrintIncident);
        }}},
      {"incident phase",
       {"Usage: patrolctl incident phase ID PHASE\n\nPHASE is en-route, on-scene or "
        "transporting.\nRoute: POST /v1/incidents/{id}/phase {\"phase\"}.\n",
        {},
        {},
        2,
        2,
        [](const Options& o, const Args& a) {
          const std::string& phase = a.positional[1];
          if (phase != "en-route" && phase != "on-scene" && phase != "transporting") {
            return UsageError(
                "PHASE must be en-route, on-scene or transporting, got \"" + phase + "\"",
                "patrolctl incident phase --help");
          }
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/phase",
                     json{{"phase", phase}}, PrintIncident);
        }}},
      {"incident mark",
       {"Usage: patrolctl incident mark ID NOTE\n\nMarks this moment of the incident with a "
        "note.\nRoute: POST /v1/incidents/{id}/marks {\"note\"}.\n",
        {},
        {},
        2,
        2,
        [](const Options& o, const Args& a) {
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/marks",
                     json{{"note", a.positional[1]}}, nullptr);
        }}},
      {"incident handover",
       {"Usage: patrolctl incident handover ID\n\nThe suspect was handed over inside the "
        "holding area; the incident's recording may end.\nRoute: POST "
        "/v1/incidents/{id}/handover {\"confirm\": true}.\n",
        {},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/handover",
                     json{{"confirm", true}}, PrintIncident);
        }}},
      {"incident close",
       {"Usage: patrolctl incident close ID --no-suspect --reason TEXT\n\nCloses an incident "
        "that had no suspect to hand over.\nRoute: POST /v1/incidents/{id}/close "
        "{\"no_suspect\": true, \"reason\"}.\n",
        {"--reason"},
        {"--no-suspect"},
        1,
        1,
        [](const Options& o, const Args& a) {
          if (!a.flags.count("--no-suspect")) {
            return UsageError("incident close needs --no-suspect (with a suspect, use handover)",
                              "patrolctl incident close --help");
          }
          if (One(a, "--reason").empty()) {
            return UsageError("incident close needs --reason TEXT",
                              "patrolctl incident close --help");
          }
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/close",
                     json{{"no_suspect", true}, {"reason", One(a, "--reason")}}, PrintIncident);
        }}},
      {"incident override-close",
       {"Usage: patrolctl incident override-close ID --reason TEXT\n\nCloses an incident "
        "whatever its phase (supervisor).\nRoute: POST /v1/incidents/{id}/override-close "
        "{\"reason\"}.\n",
        {"--reason"},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          if (One(a, "--reason").empty()) {
            return UsageError("incident override-close needs --reason TEXT",
                              "patrolctl incident override-close --help");
          }
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/override-close",
                     json{{"reason", One(a, "--reason")}}, PrintIncident);
        }}},
      {"incident link",
       {"Usage: patrolctl incident link ID [--alarm N] [--case N]\n\nLinks the incident to its "
        "alarm (警情) and/or case number (R7).\nRoute: POST /v1/incidents/{id}/links "
        "{\"alarm_number\"?, \"case_number\"?}.\n",
        {"--alarm", "--case"},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          json body = json::object();
          if (!One(a, "--alarm").empty()) body["alarm_number"] = One(a, "--alarm");
          if (!One(a, "--case").empty()) body["case_number"] = One(a, "--case");
          if (body.empty()) {
            return UsageError("incident link needs --alarm N or --case N (or both)",
                              "patrolctl incident link --help");
          }
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/links", body,
                     PrintIncident);
        }}},
      {"incident explain",
       {"Usage: patrolctl incident explain ID [--interruption N] TEXT\n\nThe crew's written "
        "explanation of a gap in the recording (R6, 第十三条); with --interruption N, of the "
        "incident's interruption N (`patrolctl incident show ID` lists them).\nRoute: POST "
        "/v1/incidents/{id}/explanations {\"text\", \"interruption\"?}.\n",
        {"--interruption"},
        {},
        2,
        2,
        [](const Options& o, const Args& a) {
          json body = {{"text", a.positional[1]}};
          const std::string number = One(a, "--interruption");
          if (!number.empty()) {
            if (number.size() > 7 || number.find_first_not_of("0123456789") != std::string::npos ||
                std::stoll(number) < 1) {
              return UsageError("--interruption needs a positive number, not \"" + number + "\"",
                                "patrolctl incident explain --help");
            }
            body["interruption"] = std::stoll(number);
          }
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/explanations",
                     body, nullptr);
        }}},
      {"incident spoken",
       {"Usage: patrolctl incident spoken ID N start|stop\n\nMarks where the crew's spoken "
        "explanation of interruption N is in the cabin recording: start before speaking, stop "
        "after (第十三条).\nRoute: POST /v1/incidents/{id}/interruptions/{n}/spoken "
        "{\"action\"}.\n",
        {},
        {},
        3,
        3,
        [](const Options& o, const Args& a) {
          return Run(o, "POST",
                     "/v1/incidents/" + PathSegment(a.positional[0]) + "/interruptions/" +
                         PathSegment(a.positional[1]) + "/spoken",
                     json{{"action", a.positional[2]}}, nullptr);
        }}},
      {"incident retention",
       {"Usage: patrolctl incident retention ID ordinary|permanent --reason TEXT\n\nSets how "
        "long the incident's footage is kept (R9; supervisor).\nRoute: POST "
        "/v1/incidents/{id}/retention {\"class\", \"reason\"}.\n",
        {"--reason"},
        {},
        2,
        2,
        [](const Options& o, const Args& a) {
          const std::string& retention = a.positional[1];
          if (retention != "ordinary" && retention != "permanent") {
            return UsageError("the class is ordinary or permanent, got \"" + retention + "\"",
                              "patrolctl incident retention --help");
          }
          if (One(a, "--reason").empty()) {
            return UsageError("incident retention needs --reason TEXT",
                              "patrolctl incident retention --help");
          }
          return Run(o, "POST", "/v1/incidents/" + PathSegment(a.positional[0]) + "/retention",
                     json{{"class", retention}, {"reason", One(a, "--reason")}}, PrintIncident);
        }}},
      {"record start",
       {"Usage: patrolctl record start\n\nThe manual record button: starts an incident "
        "recording now.\nRoute: POST /v1/record {\"action\": \"start\"}.\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "POST", "/v1/record", json{{"action", "start"}}, nullptr);
        }}},
      {"record stop",
       {"Usage: patrolctl record stop\n\nEnds a manual recording. The daemon refuses while an "
        "incident is open (R4).\nRoute: POST /v1/record {\"action\": \"stop\"}.\n",
        {},
        {},
        0,
        0,
        [](const Options& o, const Args&) {
          return Run(o, "POST", "/v1/record", json{{"action", "stop"}}, nullptr);
        }}},
      {"camera stop",
       {"Usage: patrolctl camera stop NAME\n\nStops one camera (the daemon refuses during an "
        "incident).\nRoute: POST /v1/cameras/{name}/stop.\n",
        {},
        {},
        1,
        1,
        [](const Options& o, const Args& a) {
          return Run(o, "POST", "/v1/cameras/" + PathSegment(a.positional[0]) + "/stop",
                     std::nullopt, nullptr);
        }}},
      {"camera simulate",
       {"Usage: patrolctl camera simulate NAME FAULT\n\nStages a fault on a synthetic (test "
        "source) camera, as the health probes\nwould see it on a real one: cover (a dark, "
        "featureless picture), black, freeze\n(a still picture), mute (silence), clip (a "
        "full-scale tone), or none (back to\nnormal). Real cameras refuse (409): cover the lens "
        "instead.\nRoute: POST /v1/cameras/{name}/simulate-fault {\"fault\": FAULT}.\n",
        {},
        {},
        2,
        2,
        [](const Options& o, const Args& a) {
          return Run(o, "POST", "/v1/cameras/" + PathSegment(a.positional[0]) + "/simulate-fault",
                     json{{"fault", a.positional[1]}}, nullptr);
        }}},
      {"audit list",
       {"Usage: patrolctl audit list [--since SEQ]\n\nAudit log entries after SEQ (default: "
        "from the start).\nRoute: GET /v1/audit?since=SEQ (auditor, supervisor).\n",
        {"--since"},
        {},
        0,
        0,
        [](const Options& o, const Args& a) {
          std::string since = One(a, "--since");
          if (since.empty()) since = "0";
          if (since.find_first_not_of("0123456789") != std::string::npos) {
            return UsageError("--since takes a sequence number, got \"" + since + "\"",
                              "patrolctl audit list --help");
          }
          return Run(o, "GET", "/v1/audit?since=" + since, {}, [](const json& body) {
            std::vector<std::vector<std::string>> rows;
            for (const json& e : body.value("entries", json::array())) {
              rows.push_back({Field(e, "seq"), Field(e, "utc"), Field(e, "actor"), Field(e, "role"),
                              Field(e, "outcome") + " " + Field(e, "status"), Field(e, "action"),
                              Field(e, "target"), Field(e, "detail")});
            }
            if (rows.empty()) {
              std::printf("no entries\n");
            } else {
              PrintTable({"SEQ", "UTC", "ACTOR", "ROLE", "OUTCOME", "ACTION", "TARGET", "DETAIL"},
                         rows);
            }
          });
        }}},
  };
  return commands;
}

constexpr char kEventsUsage[] =
    "Usage: patrolctl events\n\nFollows the daemon's events (incidents, health, gaps) and prints "
    "one line per event until Ctrl-C; with --json, the event's JSON data.\n"
    "Route: GET /v1/events (server-sent events; you see what your role may see).\n";

constexpr char kVerifyUsage[] =
    "Usage: patrolctl audit verify FILE [--head HEAD] [--public-key PEM]\n\nChecks the hash "
    "chain of an audit log file offline (no daemon, no token): every entry's hash, each link to "
    "the\nentry before, and the sequence numbers; then the signed head the daemon rewrites after "
    "every entry\n(HEAD, default: audit-head beside FILE) with the device's public key (PEM, "
    "default: device.pub.pem\nbeside FILE): entries cut off the end, which the chain alone "
    "cannot show, are named. Exit status 0\nif the whole file and its head verify, 1 "
    "otherwise.\n";

struct EventsState {
  bool json = false;
  std::string buffer;
  std::string event;
  std::string data;
};

size_t OnEventBytes(char* bytes, size_t size, size_t count, void* user) {
  auto* state = static_cast<EventsState*>(user);
  state->buffer.append(bytes, size * count);
  size_t end;
  while ((end = state->buffer.find('\n')) != std::string::npos) {
    std::string line = state->buffer.substr(0, end);
    state->buffer.erase(0, end + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!state->event.empty() || !state->data.empty()) {
        json data = state->event == "prompt" ? json::parse(state->data, nullptr, false) : json();
        if (state->json) {
          std::printf("%s\n", state->data.c_str());
        } else if (data.is_object() && data.contains("ask") && data["ask"].is_string()) {
          // The crew is asked to explain a gap (第十三条): the question itself, readable.
          std::printf("prompt %s\n", data["ask"].get<std::string>().c_str());
        } else {
          std::printf("%s %s\n", state->event.empty() ? "message" : state->event.c_str(),
                      state->data.c_str());
        }
        std::fflush(stdout);
      }
      state->event.clear(), state->data.clear();
    } else if (line.rfind("event:", 0) == 0) {
      state->event = line.substr(line.size() > 6 && line[6] == ' ' ? 7 : 6);
    } else if (line.rfind("data:", 0) == 0) {
      state->data += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
    }
  }
  return size * count;
}

int FollowEvents(const Options& options) {
  EventsState state;
  state.json = options.json;
  std::string error_body;
  curl_slist* headers = nullptr;
  CURL* curl = NewRequest(options, "GET", "/v1/events", &headers);
  headers = curl_slist_append(headers, "Accept: text/event-stream");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnEventBytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 0L);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK && status == 0) return CannotConnect(options, curl_easy_strerror(code));
  if (status != 200) {
    json answer = json::parse(state.buffer, nullptr, false);
    return Fail("the daemon refused (" + std::to_string(status) +
                "): " + (answer.is_object() ? answer.value("error", state.buffer) : state.buffer));
  }
  return Fail("the daemon ended the event stream");
}

int VerifyAudit(const std::string& path, std::string head_path, std::string key_path,
                bool as_json) {
  patrolrec::base::Env& env = *patrolrec::base::Env::Default();
  auto report = patrolrec::storage::VerifyAuditLog(env, path);
  if (!report.ok()) return Fail(report.message());
  // The signed head beside the log (DATA_DIR/audit-head) and the device's public key beside it
  // (DATA_DIR/device.pub.pem) unless given: they show whole entries cut off the end.
  const std::string dir = patrolrec::base::DirName(path);
  const bool head_given = !head_path.empty();
  if (head_path.empty()) head_path = patrolrec::base::JoinPath(dir, patrolrec::storage::kAuditHeadFile);
  if (key_path.empty()) key_path = patrolrec::base::JoinPath(dir, "device.pub.pem");
  std::string head_problem;
  bool head_checked = false;
  if (head_given || env.Exists(head_path)) {
    auto text = env.ReadFile(head_path);
    auto key = env.ReadFile(key_path);
    auto log = env.ReadFile(path);
    auto head = text.ok() ? patrolrec::storage::ParseAuditHead(*text)
                          : patrolrec::base::Result<patrolrec::storage::AuditHead>(text.status());
    if (!head.ok()) {
      head_problem = head.message();
    } else if (!key.ok()) {
      head_problem = "the device's public key: " + key.message() + " (give it with --public-key)";
    } else if (!log.ok()) {
      head_problem = log.message();
    } else {
      head_problem = patrolrec::storage::CheckAuditHead(*log, *head, *key).problem;
    }
    head_checked = true;
  }
  const bool ok = report->ok() && head_problem.empty();
  if (as_json) {
    json out = {{"file", path},
                {"ok", ok},
                {"good_entries", report->good_entries},
                {"last_seq", report->last_seq},
                {"head", head_checked ? json(head_path) : json(nullptr)}};
    if (!report->ok()) {
      out["bad_line"] = report->bad_line;
      out["problem"] = report->problem;
      out["torn_tail"] = report->torn_tail;
    }
    if (!head_problem.empty()) out["head_problem"] = head_problem;
    std::printf("%s\n", out.dump().c_str());
  } else {
    if (report->ok()) {
      std::printf("%s: %lld entries, the chain verifies (last seq %lld)\n", path.c_str(),
                  static_cast<long long>(report->good_entries),
                  static_cast<long long>(report->last_seq));
    } else {
      std::printf("%s: BROKEN after %lld good entries\n  %s\n", path.c_str(),
                  static_cast<long long>(report->good_entries), report->problem.c_str());
    }
    if (!head_checked) {
      std::printf("  no signed head (%s): entries cut off the end would not show\n",
                  head_path.c_str());
    } else if (head_problem.empty()) {
      std::printf("  the signed head %s verifies: nothing is missing at the end\n",
                  head_path.c_str());
    } else {
      std::printf("  HEAD: %s\n", head_problem.c_str());
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const char* socket = std::getenv("PATROLCTL_SOCKET"); socket && *socket) {
    options.socket = socket;
  } else {
    options.socket = kDefaultSocket;
  }
  if (const char* token = std::getenv("PATROLCTL_TOKEN")) options.token = token;
  std::string token_file;

  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name, std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      (void)name;
      return true;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--socket") {
      if (!value("--socket", &options.socket)) return UsageError("--socket needs a PATH");
    } else if (arg == "--url") {
      if (!value("--url", &options.url)) return UsageError("--url needs a URL");
      if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
        return UsageError("--url takes http://HOST:PORT, got \"" + options.url + "\"");
      }
      while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
    } else if (arg == "--token") {
      if (!value("--token", &options.token)) return UsageError("--token needs a TOKEN");
    } else if (arg == "--token-file") {
      if (!value("--token-file", &token_file)) return UsageError("--token-file needs a FILE");
    } else if (arg.rfind("-", 0) == 0) {
      return UsageError("unknown option \"" + arg + "\"");
    } else {
      break;
    }
  }
  if (i >= argc) return UsageError("missing COMMAND");
  std::string name = argv[i++];
  // `selfcheck` runs alone; `selfcheck history` is its one subcommand.
  if (name == "selfcheck" && i < argc && std::string(argv[i]) == "history") {
    name += " " + std::string(argv[i++]);
  }
  const bool has_subcommands =
      name == "incident" || name == "record" || name == "camera" || name == "audit" ||
      name == "export";
  if (has_subcommands) {
    if (i >= argc || std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      if (i < argc) {
        if (name == "incident") {
          std::fputs(kIncidentUsage, stdout);
        } else {
          for (const auto& [key, command] : Commands()) {
            if (key.rfind(name + " ", 0) == 0) std::fputs(command.usage.c_str(), stdout);
          }
          if (name == "audit") std::fputs(kVerifyUsage, stdout);
        }
        return 0;
      }
      return UsageError(name + " needs a subcommand", "patrolctl " + name + " --help");
    }
    name += " " + std::string(argv[i++]);
  }

  if (name == "audit verify" || name == "events") {
    Args args;
    const std::set<std::string> with_value =
        name == "audit verify" ? std::set<std::string>{"--head", "--public-key"}
                               : std::set<std::string>{};
    if (auto error = ParseArgs(argc, argv, i, with_value, {}, &args)) {
      return UsageError(*error, "patrolctl " + name + " --help");
    }
    if (args.help) {
      std::fputs(name == "events" ? kEventsUsage : kVerifyUsage, stdout);
      return 0;
    }
    if (name == "audit verify") {
      if (args.positional.size() != 1) {
        return UsageError("audit verify needs exactly one FILE", "patrolctl audit verify --help");
      }
      auto last = [&](const char* option) {
        auto it = args.options.find(option);
        return it == args.options.end() ? std::string() : it->second.back();
      };
      return VerifyAudit(args.positional[0], last("--head"), last("--public-key"), options.json);
    }
    if (!args.positional.empty()) return UsageError("events takes no arguments");
  }

  const Command* command = nullptr;
  Args args;
  if (name != "events") {
    auto it = Commands().find(name);
    if (it == Commands().end()) {
      return UsageError("unknown command \"" + name + "\"",
                        has_subcommands ? "patrolctl " + name.substr(0, name.find(' ')) + " --help"
                                        : "patrolctl --help");
    }
    command = &it->second;
    if (auto error = ParseArgs(argc, argv, i, command->with_value, command->flags, &args)) {
      return UsageError(*error, "patrolctl " + name + " --help");
    }
    if (args.help) {
      std::fputs(command->usage.c_str(), stdout);
      return 0;
    }
    if (args.positional.size() < command->min_positional ||
        args.positional.size() > command->max_positional) {
      return UsageError("wrong number of arguments for " + name, "patrolctl " + name + " --help");
    }
  }

  if (!token_file.empty()) {
    auto text = patrolrec::base::Env::Default()->ReadFile(token_file);
    if (!text.ok()) return UsageError("cannot read the token file: " + text.message());
    options.token = *text;
    while (!options.token.empty() &&
           (options.token.back() == '\n' || options.token.back() == '\r' ||
            options.token.back() == ' ')) {
      options.token.pop_back();
    }
  }
  if (options.token.empty()) {
    return UsageError("no token: give --token TOKEN, --token-file FILE or set PATROLCTL_TOKEN");
  }
  if (options.token.find_first_of("\r\n") != std::string::npos) {
    return UsageError("the token must be one line");
  }

  ::signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int status = command ? command->run(options, args) : FollowEvents(options);
  curl_global_cleanup();
  return status;
}
