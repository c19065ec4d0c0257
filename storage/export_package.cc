#include "storage/export_package.h"

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/clock.h"
#include "storage/audit_log.h"
#include "storage/export_record.h"
#include "storage/seal.h"

namespace patrolrec::storage {

namespace {

using base::Result;
using base::Status;
using nlohmann::json;

constexpr size_t kChunkBytes = 1 << 20;
constexpr char kManifestSignature[] = "manifest.json.sig";
constexpr char kStatementSignature[] = "statement.json.sig";
constexpr char kSums[] = "SHA256SUMS";
constexpr char kSumsSignature[] = "SHA256SUMS.sig";

std::string Utc(int64_t utc_ns) { return utc_ns ? base::FormatUtcNs(utc_ns) : ""; }

// Copies `from` to `to` in chunks and fsyncs it; returns the bytes copied.
Result<int64_t> CopyFile(base::Env& env, const std::string& from, const std::string& to,
                         const std::function<void(int64_t)>& copied) {
  auto in = env.NewSequentialFile(from);
  if (!in.ok()) return in.status().Wrap("reading the original");
  auto out = env.NewWritableFile(to, 0444);
  if (!out.ok()) return out.status().Wrap("writing the copy");
  int64_t bytes = 0;
  for (;;) {
    auto chunk = (*in)->Read(kChunkBytes);
    if (!chunk.ok()) return chunk.status().Wrap("reading the original");
    if (chunk->empty()) break;
    Status appended = (*out)->Append(*chunk);
    if (!appended.ok()) return appended.Wrap("writing the copy");
    bytes += static_cast<int64_t>(chunk->size());
    if (copied) copied(static_cast<int64_t>(chunk->size()));
  }
  Status synced = (*out)->Sync();
  if (!synced.ok()) return synced.Wrap("fsync of the copy (its bytes are not known to be safe)");
  Status closed = (*out)->Close();
  if (!closed.ok()) return closed.Wrap("closing the copy");
  return bytes;
}

Status WriteSynced(base::Env& env, const std::string& path, const std::string& data) {
  auto out = env.NewWritableFile(path, 0444);
  if (!out.ok()) return out.status();
  Status s = (*out)->Append(data);
  if (s.ok()) s = (*out)->Sync();
  if (s.ok()) s = (*out)->Close();
  return s;
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string OrNone(const std::string& text) { return text.empty() ? "（无）" : text; }

bool IsGapBetween(const SegmentRecord& prev, const SegmentRecord& next) {
  const double gap_ns = static_cast<double>(next.start_utc_ns - prev.end_utc_ns);
  if (prev.frames <= 0 || prev.duration_ns <= 0) return gap_ns > 0;
  return gap_ns > 1.5 * static_cast<double>(prev.duration_ns) / static_cast<double>(prev.frames);
}

// Each camera's excerpt of the chain, with what it covers and its gaps.
json CamerasJson(const std::vector<SegmentRecord>& segments) {
  std::map<std::string, std::vector<const SegmentRecord*>> by_camera;
  for (const SegmentRecord& s : segments) by_camera[s.camera].push_back(&s);
  json cameras = json::array();
  for (auto& [camera, list] : by_camera) {
    std::sort(list.begin(), list.end(), [](const SegmentRecord* a, const SegmentRecord* b) {
      return a->sequence < b->sequence;
    });
    json gaps = json::array();
    for (size_t i = 1; i < list.size(); ++i) {
      if (IsGapBetween(*list[i - 1], *list[i])) {
        gaps.push_back({{"after", list[i - 1]->file},
                        {"before", list[i]->file},
                        {"from_utc", Utc(list[i - 1]->end_utc_ns)},
                        {"to_utc", Utc(list[i]->start_utc_ns)}});
      }
    }
    cameras.push_back({{"camera", camera},
                       {"segments", list.size()},
                       {"first_sequence", list.front()->sequence},
                       {"first_prev_chain", list.front()->prev_chain_hex},
                       {"last_sequence", list.back()->sequence},
                       {"last_chain", list.back()->chain_hex},
                       {"from_utc", Utc(list.front()->start_utc_ns)},
                       {"to_utc", Utc(list.back()->end_utc_ns)},
                       {"gaps", gaps}});
  }
  return cameras;
}

json StatementJson(const PackageStatement& s, const json& cameras, const std::string& fingerprint,
                   const std::string& package) {
  return {
      {"format", kStatementFormat},
      {"package", package},
      {"producer",
       {{"device_id", s.device_id},
        {"plate", s.device_plate},
        {"officers", s.officers},
        {"incident", s.incident_id},
        {"alarm_number", s.alarm_number},
        {"case_number", s.case_number},
        {"incident_type", s.incident_type},
        {"address", s.address},
        {"footage_from_utc", Utc(s.from_utc_ns)},
        {"footage_to_utc", Utc(s.to_utc_ns)}}},
      {"extractor", {{"user", s.extractor}, {"role", s.extractor_role}}},
      {"extracted_utc", Utc(s.extracted_utc_ns)},
      {"purpose", s.purpose},
      {"purpose_zh", ExportPurposeChinese(s.purpose)},
      {"request",
       {{"id", s.request_id},
        {"requester", s.requester},
        {"requester_kind", s.requester_kind},
        {"requester_unit", s.requester_unit},
        {"legal_document", s.legal_document}}},
      {"approval",
       {{"approver", s.approver},
        {"kind", s.approval_kind},
        {"kind_zh", ApprovalKindChinese(s.approval_kind)},
        {"reason", s.approval_reason},
        {"approved_utc", Utc(s.approved_utc_ns)}}},
      {"device_public_key_fingerprint", fingerprint},
      {"cameras", cameras},
  };
}

std::string StatementHtml(const PackageStatement& s, const json& cameras,
                          const std::string& fingerprint, const std::string& package) {
  auto row = [](const std::string& name, const std::string& value) {
    return "<tr><th>" + name + "</th><td>" + HtmlEscape(OrNone(value)) + "</td></tr>\n";
  };
  std::string officers;
  for (const std::string& o : s.officers) officers += (officers.empty() ? "" : "、") + o;
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n"
      "<title>现场执法视音频资料提取说明</title>\n"
      "<style>body{font-family:'Noto Serif CJK SC','Noto Sans CJK SC',serif;margin:2em}"
      "table{border-collapse:collapse;width:100%}th,td{border:1px solid #000;padding:4px 8px;"
      "text-align:left;vertical-align:top}th{width:28%}</style></head><body>\n"
      "<h1>现场执法视音频资料提取说明</h1>\n"
      "<p>依据《现场执法视音频记录工作规定》第十七条制作。本说明的机读版本为 statement.json，"
      "由执法记录设备密钥签名（statement.json.sig）。</p>\n<table>\n";
  html += row("制作人（设备）",
              s.device_id + (s.device_plate.empty() ? "" : "（" + s.device_plate + "）"));
  html += row("制作人（民警）", officers);
  html += row("警情编号", s.alarm_number);
  html += row("案件编号", s.case_number);
  html += row("事件", s.incident_id);
  html += row("事件类别", s.incident_type);
  html += row("地点", s.address);
  html += row("资料时间范围（UTC）", Utc(s.from_utc_ns) + " 至 " + Utc(s.to_utc_ns));
  html += row("提取人", s.extractor + "（" + s.extractor_role + "）");
  html += row("提取时间（UTC）", Utc(s.extracted_utc_ns));
  html += row("用途", ExportPurposeChinese(s.purpose) + "（" + s.purpose + "）");
  html += row("申请人", s.requester + (s.requester_unit.empty() ? "" : "，" + s.requester_unit));
  html += row("法律文书", s.legal_document);
  html += row("批准人", s.approver);
  html += row("批准类别", ApprovalKindChinese(s.approval_kind));
  html += row("批准理由", s.approval_reason);
  html += row("批准时间（UTC）", Utc(s.approved_utc_ns));
  html += row("设备公钥指纹（SHA-256）", fingerprint);
  html += row("资料包", package);
  html +=
      "</table>\n<h2>各摄像头原始资料（未经剪接、删改）</h2>\n<table>\n"
      "<tr><th>摄像头</th><td>片段序号、时间、间断</td></tr>\n";
  for (const json& c : cameras) {
    std::string cell = "第 " + std::to_string(c["first_sequence"].get<int64_t>()) + " 至 " +
                       std::to_string(c["last_sequence"].get<int64_t>()) + " 段，" +
                       c["from_utc"].get<std::string>() + " 至 " + c["to_utc"].get<std::string>();
    for (const json& g : c["gaps"]) {
      cell +=
          "；间断 " + g["from_utc"].get<std::string>() + " 至 " + g["to_utc"].get<std::string>();
    }
    html += "<tr><th>" + HtmlEscape(c["camera"].get<std::string>()) + "</th><td>" +
            HtmlEscape(cell) + "</td></tr>\n";
  }
  html +=
      "</table>\n<p>提取人签名：＿＿＿＿＿＿＿＿　　批准人签名：＿＿＿＿＿＿＿＿</p>\n"
      "</body></html>\n";
  return html;
}

std::string ReadmeText(const std::string& package, const std::string& fingerprint) {
  return "patrolrec evidence export package " + package +
         "\n"
         "\n"
         "The original sealed segments (segments/<camera>/*.mp4), their seals (.mp4.seal) and\n"
         "tracks (.mp4.gpx), unaltered; the device's public key (device.pub.pem, fingerprint in\n"
         "device.fingerprint.txt); manifest.json (every file's SHA-256, each camera's chain "
         "range,\n"
         "gaps and interruptions) and statement.json (who produced, extracted and approved it,\n"
         "when, for what; printable in statement.html), each signed by the device key (.sig, raw\n"
         "Ed25519); audit.jsonl (the device's audit log entries about this footage).\n"
         "\n"
         "Check it with the recorder's tool:\n"
         "\n"
         "  patrolrec-verify --package . --public-key REGISTERED-KEY.pem\n"
         "\n"
         "or by hand, in this directory, with sha256sum and openssl (3.0 or later):\n"
         "\n"
         "  # 1. the device key is the registered one: compare with the fingerprint on record\n"
         "  openssl pkey -pubin -in device.pub.pem -outform DER | tail -c 32 | sha256sum\n"
         "  #    this package says: " +
         fingerprint +
         "\n"
         "  # 2. every file is intact\n"
         "  sha256sum -c SHA256SUMS\n"
         "  # 3. no file was added or removed\n"
         "  find . -type f ! -name 'SHA256SUMS*' | sed 's|^\\./||' | sort | diff - <(cut -c67- "
         "SHA256SUMS | sort)\n"
         "  # 4. the list of hashes, the manifest and the statement are the device's\n"
         "  openssl pkeyutl -verify -pubin -inkey device.pub.pem -rawin -in SHA256SUMS -sigfile "
         "SHA256SUMS.sig\n"
         "  openssl pkeyutl -verify -pubin -inkey device.pub.pem -rawin -in manifest.json -sigfile "
         "manifest.json.sig\n"
         "  openssl pkeyutl -verify -pubin -inkey device.pub.pem -rawin -in statement.json "
         "-sigfile statement.json.sig\n"
         "\n"
         "Each seal's own signature and the chain from seal to seal are checked as the recorder's\n"
         "docs/seal-format.md (\"Checking by hand\") describes; statement.json names each "
         "camera's\n"
         "first and last sequence and chain, so a segment dropped from either end is found too.\n";
}

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) || it->is_symlink(ec)) {
      out.push_back(std::filesystem::relative(it->path(), dir, ec).string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Single quotes around the argument; a quote inside it is closed, escaped and reopened.
std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `command` (through sh), returning its exit status and what it printed.
int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) {
    *output = "cannot start it: " + base::ErrnoText(errno);
    return -1;
  }
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) {
    if (output->size() < 4096) *output += buffer;
  }
  int rc = pclose(pipe);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + (WIFSIGNALED(rc) ? WTERMSIG(rc) : 0);
}

// statement.html as a PDF, by a headless browser; returns why not, or "".
std::string RenderPdf(base::Env& env, const std::string& renderer, const std::string& html,
                      const std::string& pdf) {
  std::string output;
  const std::string profile = pdf + ".profile";
  int rc = RunCommand(ShellQuote(renderer) +
                          " --headless --no-sandbox --disable-gpu --no-pdf-header-footer "
                          "--user-data-dir=" +
                          ShellQuote(profile) + " --print-to-pdf=" + ShellQuote(pdf) + " " +
                          ShellQuote("file://" + html),
                      &output);
  std::error_code ec;
  std::filesystem::remove_all(profile, ec);
  if (rc != 0 || !env.Exists(pdf)) {
    (void)env.RemoveFile(pdf);
    return renderer + " did not render statement.pdf (exit " + std::to_string(rc) +
           "): " + output.substr(0, 300);
  }
  Status synced = env.SyncFile(pdf);
  if (!synced.ok()) {
    (void)env.RemoveFile(pdf);
    return "statement.pdf: " + synced.message();
  }
  return "";
}

void RemoveTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace

Result<PackageResult> WritePackage(base::Env& env, const DeviceKey& key, const PackageInput& input,
                                   const std::string& parent_dir,
                                   const PackageProgressCallback& progress) {
  const std::string final_dir = base::JoinPath(parent_dir, input.package_name);
  const std::string temp_dir = base::JoinPath(parent_dir, "." + input.package_name + ".partial");
  const std::string what = "export package " + final_dir;
  if (input.segments.empty()) {
    return Status::Error(what + ": no sealed segment in the range asked for: nothing to export");
  }
  if (env.Exists(final_dir)) {
    return Status::Error(what + ": already exists: a package is never overwritten");
  }
  // A .partial directory is what an earlier failed attempt left: it was never a package.
  RemoveTree(temp_dir);
  auto fail = [&](const std::string& reason) -> Result<PackageResult> {
    RemoveTree(temp_dir);
    (void)env.SyncDir(parent_dir);
    return Status::Error(what + ": " + reason +
                         " (nothing was exported; the partial copy was removed)");
  };

  PackageProgress state;
  state.phase = "copy";
  for (const SegmentRecord& s : input.segments) {
    state.bytes_total += s.bytes;
    if (!s.track_file.empty()) {
      auto size = env.FileSize(base::JoinPath(input.source_dir, s.track_file));
      if (size.ok()) state.bytes_total += static_cast<int64_t>(*size);
    }
  }
  if (progress) progress(state);
  auto copied = [&](int64_t n) {
    state.bytes_done += n;
    if (progress) progress(state);
  };

  std::set<std::string> dirs = {temp_dir};
  for (const SegmentRecord& s : input.segments) {
    std::vector<std::string> files = {s.file, s.file + ".seal"};
    if (!s.track_file.empty()) files.push_back(s.track_file);
    for (const std::string& relative : files) {
      const std::string to = base::JoinPath(temp_dir, relative);
      const std::string dir = base::DirName(to);
      if (!dirs.count(dir)) {
        Status made = env.CreateDirs(dir, 0755);
        if (!made.ok()) return fail(made.message());
        dirs.insert(dir);
      }
      if (input.cancel && input.cancel->load()) return fail("cancelled: the daemon is stopping");
      const std::function<void(int64_t)> counted = copied;
      auto bytes =
          CopyFile(env, base::JoinPath(input.source_dir, relative), to,
                   relative == s.file || relative == s.track_file ? counted
                                                                  : std::function<void(int64_t)>());
      if (!bytes.ok()) return fail(relative + ": " + bytes.message());
    }
  }

  const std::string fingerprint = key.fingerprint();
  const json cameras = CamerasJson(input.segments);
  json interruptions = json::array();
  for (const InterruptionRecord& i : input.interruptions) {
    interruptions.push_back({{"incident", i.incident_id},
                             {"number", i.number},
                             {"camera", i.camera},
                             {"cause", i.cause},
                             {"detail", i.detail},
                             {"from_utc", Utc(i.start_utc_ns)},
                             {"to_utc", Utc(i.end_utc_ns)},
                             {"explanation", i.explanation}});
  }
  std::string audit;
  for (const std::string& line : input.audit_lines) audit += line + "\n";
  const std::string statement =
      StatementJson(input.statement, cameras, fingerprint, input.package_name).dump(2) + "\n";
  auto statement_signature = key.Sign(statement);
  if (!statement_signature.ok())
    return fail("signing the statement: " + statement_signature.message());
  const std::vector<std::pair<std::string, std::string>> extra = {
      {"device.pub.pem", key.public_key_pem()},
      {"device.fingerprint.txt", fingerprint + "\n"},
      {"audit.jsonl", audit},
      {kPackageStatement, statement},
      {kStatementSignature, *statement_signature},
      {"statement.html", StatementHtml(input.statement, cameras, fingerprint, input.package_name)},
      {"README.txt", ReadmeText(input.package_name, fingerprint)},
  };
  for (const auto& [name, data] : extra) {
    Status written = WriteSynced(env, base::JoinPath(temp_dir, name), data);
    if (!written.ok()) return fail(name + ": " + written.message());
  }

  PackageResult result;
  if (!input.pdf_renderer.empty()) {
    result.pdf_problem =
        RenderPdf(env, input.pdf_renderer, base::JoinPath(temp_dir, "statement.html"),
                  base::JoinPath(temp_dir, "statement.pdf"));
  }

  // The manifest: every file so far, hashed as written (read back from the medium).
  json files = json::array();
  std::string sums;
  for (const std::string& relative : FilesUnder(temp_dir)) {
    const std::string path = base::JoinPath(temp_dir, relative);
    auto hash = Sha256File(env, path);
    auto size = env.FileSize(path);
    if (!hash.ok() || !size.ok()) return fail(relative + ": reading back: " + hash.message());
    files.push_back({{"path", relative}, {"sha256", *hash}, {"bytes", *size}});
    sums += *hash + "  " + relative + "\n";
    ++result.files;
    result.bytes += static_cast<int64_t>(*size);
  }
  const json manifest = {{"format", kManifestFormat},
                         {"package", input.package_name},
                         {"device_id", input.statement.device_id},
                         {"created_utc", Utc(input.statement.extracted_utc_ns)},
                         {"device_public_key_fingerprint", fingerprint},
                         {"cameras", cameras},
                         {"interruptions", interruptions},
                         {"files", files}};
  const std::string manifest_text = manifest.dump(2) + "\n";
  auto manifest_signature = key.Sign(manifest_text);
  if (!manifest_signature.ok())
    return fail("signing the manifest: " + manifest_signature.message());
  for (const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
           {kPackageManifest, manifest_text}, {kManifestSignature, *manifest_signature}}) {
    Status written = WriteSynced(env, base::JoinPath(temp_dir, name), data);
    if (!written.ok()) return fail(name + ": " + written.message());
    sums += Sha256Hex(data) + "  " + name + "\n";
  }
  auto sums_signature = key.Sign(sums);
  if (!sums_signature.ok()) return fail("signing SHA256SUMS: " + sums_signature.message());
  for (const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
           {kSums, sums}, {kSumsSignature, *sums_signature}}) {
    Status written = WriteSynced(env, base::JoinPath(temp_dir, name), data);
    if (!written.ok()) return fail(name + ": " + written.message());
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    Status synced = env.SyncDir(*it);
    if (!synced.ok()) return fail("fsync of " + *it + ": " + synced.message());
  }

  // The verify pass: every file read back from the medium and the whole checked as a court would.
  state.phase = "verify";
  state.bytes_done = 0;
  if (progress) progress(state);
  auto report = VerifyPackage(env, temp_dir, "");
  if (!report.ok()) return fail("verifying the copy: " + report.message());
  if (!report->ok()) {
    const VerifyFinding& first = report->problems.front();
    return fail("the copy does not verify (" + std::to_string(report->problems.size()) +
                " problems; first: " + first.file + ": " + first.reason + ")");
  }
  state.bytes_done = state.bytes_total;
  if (progress) progress(state);

  Status renamed = env.Rename(temp_dir, final_dir);
  if (!renamed.ok()) return fail("renaming into place: " + renamed.message());
  Status synced = env.SyncDir(parent_dir);
  if (!synced.ok()) {
    return Status::Error(what + ": fsync of " + parent_dir + " after the rename failed: " +
                         synced.message() + "; treat the package as not written");
  }
  result.dir = final_dir;
  result.manifest_sha256 = Sha256Hex(manifest_text);
  return result;
}

Result<VerifyReport> VerifyPackage(base::Env& env, const std::string& package_dir,
                                   const std::string& public_key_path) {
  auto read = [&](const std::string& name) {
    return env.ReadFile(base::JoinPath(package_dir, name));
  };
  auto manifest_text = read(kPackageManifest);
  if (!manifest_text.ok()) {
    return manifest_text.status().Wrap("not an export package (no readable manifest.json)");
  }
  const std::string key_path =
      public_key_path.empty() ? base::JoinPath(package_dir, "device.pub.pem") : public_key_path;
  auto key_pem = env.ReadFile(key_path);
  if (!key_pem.ok()) return key_pem.status().Wrap("cannot read the device's public key");
  if (PublicKeyFingerprint(*key_pem).empty()) {
    return Status::Error(key_path + ": not a PEM Ed25519 public key");
  }
  std::vector<VerifyFinding> problems, notes;
  auto signed_by_key = [&](const std::string& text, const std::string& signature_name) {
    auto signature = read(signature_name);
    if (!signature.ok()) return false;
    auto valid = VerifyEd25519(*key_pem, text, *signature);
    return valid.ok() && *valid;
  };
  if (!signed_by_key(*manifest_text, kManifestSignature)) {
    problems.push_back({kPackageManifest,
                        "signature (manifest.json.sig) does not verify with the device key: the "
                        "manifest was edited or signed by another key"});
  }
  json manifest = json::parse(*manifest_text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() ||
      manifest.value("format", "") != kManifestFormat || !manifest.contains("files") ||
      !manifest["files"].is_array()) {
    problems.push_back({kPackageManifest, "not a patrolrec export manifest (\"" +
                                              std::string(kManifestFormat) + "\")"});
    manifest = json{{"files", json::array()}};
  }
  std::set<std::string> listed = {kPackageManifest, kManifestSignature, kSums, kSumsSignature};
  int64_t bytes_hashed = 0, files_checked = 0;
  for (const json& f : manifest["files"]) {
    const std::string relative = f.value("path", "");
    listed.insert(relative);
    const std::string path = base::JoinPath(package_dir, relative);
    ++files_checked;
    if (!env.Exists(path)) {
      problems.push_back({relative, "listed in the manifest but absent: dropped from the package"});
      continue;
    }
    auto hash = Sha256File(env, path);
    if (!hash.ok()) {
      problems.push_back({relative, "cannot read: " + hash.message()});
      continue;
    }
    bytes_hashed += f.value("bytes", int64_t{0});
    if (*hash != f.value("sha256", "")) {
      problems.push_back({relative, "SHA-256 mismatch (manifest says " + f.value("sha256", "") +
                                        ", file is " + *hash + "): altered after export"});
    }
  }
  for (const std::string& relative : FilesUnder(package_dir)) {
    if (!listed.count(relative)) {
      problems.push_back({relative, "not in the manifest: added to the package after export"});
    }
  }
  // SHA256SUMS, what the by-hand check reads: signed, and agreeing with the manifest.
  auto sums_text = read(kSums);
  if (!sums_text.ok() || !signed_by_key(*sums_text, kSumsSignature)) {
    problems.push_back({kSums,
                        "absent, or its signature (SHA256SUMS.sig) does not verify with the "
                        "device key: the by-hand check cannot be trusted"});
  } else {
    std::string expected;
    for (const json& f : manifest["files"]) {
      expected += f.value("sha256", "") + "  " + f.value("path", "") + "\n";
    }
    if (sums_text->rfind(expected, 0) != 0) {
      problems.push_back({kSums, "does not list the manifest's files and hashes"});
    }
  }
  // The statement and the chain ranges it signs.
  VerifyOptions options;
  options.data_dir = package_dir;
  options.public_key_path = key_path;
  options.use_catalog = false;
  options.excerpt = true;
  auto statement_text = read(kPackageStatement);
  json statement;
  if (!statement_text.ok()) {
    problems.push_back({kPackageStatement, "absent: the package has no statement (第十七条)"});
  } else {
    if (!signed_by_key(*statement_text, kStatementSignature)) {
      problems.push_back({kPackageStatement,
                          "signature (statement.json.sig) does not verify with the device key: "
                          "the statement was edited after export"});
    }
    statement = json::parse(*statement_text, nullptr, false);
    if (statement.is_discarded() || !statement.is_object() ||
        statement.value("format", "") != kStatementFormat) {
      problems.push_back({kPackageStatement, "not a patrolrec export statement"});
    } else {
      for (const json& c : statement.value("cameras", json::array())) {
        ChainExcerpt excerpt;
        excerpt.first_sequence = c.value("first_sequence", int64_t{0});
        excerpt.first_prev_chain_hex = c.value("first_prev_chain", "");
        excerpt.last_sequence = c.value("last_sequence", int64_t{0});
        excerpt.last_chain_hex = c.value("last_chain", "");
        options.excerpts[c.value("camera", "")] = excerpt;
      }
    }
  }
  auto report = VerifyDataDir(env, options);
  if (!report.ok()) return report.status();
  for (const auto& [camera, excerpt] : options.excerpts) {
    bool seen =
        std::any_of(report->cameras.begin(), report->cameras.end(),
                    [&](const CameraSummary& c) { return c.camera == camera && c.segments; });
    if (!seen) {
      problems.push_back({"segments/" + camera,
                          "the signed statement names " +
                              std::to_string(excerpt.last_sequence - excerpt.first_sequence + 1) +
                              " segments of camera " + camera +
                              " but the package has none: dropped from the package"});
    }
  }
  // Files the data-directory check sees as unexpected are the package's own; drop those notes.
  std::vector<VerifyFinding> kept_notes;
  for (VerifyFinding& n : report->notes) {
    if (n.reason.find("unexpected file") != std::string::npos && listed.count(n.file)) continue;
    kept_notes.push_back(std::move(n));
  }
  report->notes = std::move(kept_notes);
  report->problems.insert(report->problems.begin(), problems.begin(), problems.end());
  report->notes.insert(report->notes.end(), notes.begin(), notes.end());
  report->files_checked += files_checked;
  report->bytes_hashed += bytes_hashed;
  return report;
}

Result<std::string> WritePackageIso(base::Env& env, const std::string& package_dir,
                                    const std::string& iso_path) {
  const std::string partial = iso_path + ".partial";
  const std::string what = "ISO image " + iso_path;
  if (env.Exists(iso_path)) return Status::Error(what + ": already exists");
  (void)env.RemoveFile(partial);
  std::string label = base::BaseName(package_dir).substr(0, 32);
  std::replace_if(
      label.begin(), label.end(), [](char c) { return !isalnum(static_cast<unsigned char>(c)); },
      '_');
  std::string output;
  int rc = RunCommand("xorriso -as mkisofs -quiet -r -J -joliet-long -V " + ShellQuote(label) +
                          " -o " + ShellQuote(partial) + " " + ShellQuote(package_dir),
                      &output);
  if (rc != 0) {
    (void)env.RemoveFile(partial);
    return Status::Error(what + ": xorriso failed (exit " + std::to_string(rc) + "): " + output +
                         (rc == 127 ? " (install xorriso: scripts/install-deps)" : ""));
  }
  Status synced = env.SyncFile(partial);
  auto hash = synced.ok() ? Sha256File(env, partial) : Result<std::string>(synced);
  if (!hash.ok()) {
    (void)env.RemoveFile(partial);
    return Status::Error(what + ": " + hash.message());
  }
  Status written = env.WriteFileDurably(iso_path + ".sha256",
                                        *hash + "  " + base::BaseName(iso_path) + "\n", 0444);
  Status renamed = written.ok() ? env.Rename(partial, iso_path) : written;
  if (renamed.ok()) renamed = env.SyncDir(base::DirName(iso_path));
  if (!renamed.ok()) {
    (void)env.RemoveFile(partial);
    return Status::Error(what + ": " + renamed.message());
  }
  // Read back what was written: the disc's checksum is of the bytes on the medium.
  auto again = Sha256File(env, iso_path);
  if (!again.ok() || *again != *hash) {
    return Status::Error(what + ": reading it back gave SHA-256 " +
                         (again.ok() ? *again : again.message()) + ", not " + *hash +
                         ": the medium is faulty; do not use this image");
  }
  return *hash;
}

}  // namespace patrolrec::storage
