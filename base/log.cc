// Journal or stderr, decided once: systemd sets JOURNAL_STREAM to stderr's device:inode when
// stderr is connected to the journal.
#include "base/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

namespace patrolrec::base {
namespace {

std::atomic<int> g_minimum{static_cast<int>(Severity::kInfo)};
std::mutex g_mutex;
LogSink g_sink;  // guarded by g_mutex

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == device && st.st_ino == inode;
}

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kDebug:
      return "debug";
    case Severity::kInfo:
      return "info";
    case Severity::kNotice:
      return "notice";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
    case Severity::kCritical:
      return "critical";
  }
  return "?";
}

}  // namespace

void SetMinimumSeverity(Severity severity) { g_minimum = static_cast<int>(severity); }

void SetLogSinkForTesting(LogSink sink) {
  std::lock_guard lock(g_mutex);
  g_sink = std::move(sink);
}

void Log(Severity severity, std::string_view message, std::initializer_list<LogField> fields) {
  if (static_cast<int>(severity) > g_minimum) return;
  static const bool journal = StderrIsJournal();
  std::lock_guard lock(g_mutex);
  if (g_sink) {
    g_sink(severity, message, fields);
    return;
  }
  if (journal) {
    std::vector<std::string> lines;
    lines.push_back("MESSAGE=" + std::string(message));
    lines.push_back("PRIORITY=" + std::to_string(static_cast<int>(severity)));
    lines.push_back("SYSLOG_IDENTIFIER=patrolrecd");
    for (const auto& f : fields) lines.push_back(std::string(f.key) + "=" + f.value);
    std::vector<iovec> iov;
    for (auto& l : lines) iov.push_back({l.data(), l.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    return;
  }
  std::string line = std::string(SeverityName(severity)) + ": ";
  for (const auto& f : fields) {
    std::string key(f.key);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    line += key + "=" + f.value + " ";
  }
  line += message;
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

}  // namespace patrolrec::base
