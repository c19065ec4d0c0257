#include "daemon/ui_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace patrolrec::daemon {

namespace {

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

const char* MediaType(const std::string& name) {
  auto ends = [&name](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return nullptr;  // anything else is not part of the UI
}

}  // namespace

std::string FindUiDirectory() {
  if (const char* dir = std::getenv("PATROLREC_UI_DIR"); dir && *dir) return dir;
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  std::string path(exe, static_cast<size_t>(n));
  std::string bin = path.substr(0, path.rfind('/'));
  std::string candidate = bin.substr(0, bin.rfind('/')) + "/share/patrolrec/ui";
  return IsDirectory(candidate) ? candidate : "";
}

ApiResponse UiFile(const std::string& directory, const std::string& path) {
  if (path == "/" || path == "/ui") {
    ApiResponse redirect;
    redirect.status = 302;
    redirect.headers.push_back({"Location", "/ui/"});
    redirect.body = {{"see", "/ui/"}};
    return redirect;
  }
  std::string name = path.substr(4);  // after "/ui/"
  if (name.empty()) name = "index.html";
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
  const char* type = MediaType(name);
  if (directory.empty()) {
    return ApiResponse::Error(404, "not-found",
                              "the in-car screen's files are not installed (no share/patrolrec/ui "
                              "beside the executable; set PATROLREC_UI_DIR)");
  }
  if (!plain || name[0] == '.' || !type) {
    return ApiResponse::Error(404, "not-found", "no such file of the in-car screen: " + name);
  }
  std::ifstream in(directory + "/" + name, std::ios::binary);
  if (!in) {
    return ApiResponse::Error(404, "not-found", "no such file of the in-car screen: " + name);
  }
  std::ostringstream content;
  content << in.rdbuf();
  ApiResponse response;
  response.content_type = type;
  response.raw_body = content.str();
  return response;
}

}  // namespace patrolrec::daemon
