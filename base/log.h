// Structured logging. Under systemd (stderr connected to the journal) every record goes to the
// journal with its fields, so that `journalctl -u patrolrecd CAMERA=cabin-rear` finds a camera's
// records; otherwise records are printed to stderr as one readable line each. Thread-safe.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace patrolrec::base {

enum class Severity { kDebug = 7, kInfo = 6, kNotice = 5, kWarning = 4, kError = 3, kCritical = 2 };

struct LogField {
  std::string_view key;  // journal field name: upper case, e.g. "CAMERA", "SEGMENT"
  std::string value;
};

void Log(Severity severity, std::string_view message, std::initializer_list<LogField> fields = {});

inline void LogInfo(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(Severity::kInfo, m, f);
}
inline void LogWarning(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(Severity::kWarning, m, f);
}
inline void LogError(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(Severity::kError, m, f);
}

// Records below this severity are dropped (default: info).
void SetMinimumSeverity(Severity severity);

// Tests capture records with this; pass nullptr to restore normal output.
using LogSink =
    std::function<void(Severity, std::string_view message, std::initializer_list<LogField> fields)>;
void SetLogSinkForTesting(LogSink sink);

}  // namespace patrolrec::base
