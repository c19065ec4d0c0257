// DebouncedLevel: the Debouncer, fed with the Clock's monotonic time, and one GLib timer armed
// for the Debouncer's deadline whenever a change is pending.
#include "inputs/debounced_level.h"

#include <glib.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "base/log.h"

namespace patrolrec::inputs {

struct DebouncedLevel::Glue {
  static gboolean OnTimer(gpointer self) {
    auto* level = static_cast<DebouncedLevel*>(self);
    // One-shot: forget the source before anything can arm a new one.
    g_source_unref(level->timer_);
    level->timer_ = nullptr;
    try {
      level->OnTimer();
    } catch (const std::exception& e) {
      base::LogError("input \"" + level->input_ + "\": exception in a callback: " + e.what());
    } catch (...) {
      base::LogError("input \"" + level->input_ + "\": unknown exception in a callback");
    }
    return G_SOURCE_REMOVE;
  }
};

DebouncedLevel::DebouncedLevel(std::string input, InputFunction function, int debounce_ms,
                               base::Clock* clock)
    : input_(std::move(input)),
      function_(function),
      clock_(clock),
      debouncer_(static_cast<int64_t>(debounce_ms) * base::kNsPerMs) {}

DebouncedLevel::~DebouncedLevel() { End(); }

void DebouncedLevel::Begin(GMainContext* context, bool level, ReadLevel read, Describe describe,
                           InputSource::EventCallback on_event) {
  End();
  context_ = g_main_context_ref(context);
  read_ = std::move(read);
  describe_ = std::move(describe);
  on_event_ = std::move(on_event);
  int64_t now_ns = clock_->MonotonicNs();
  debouncer_.Reset(level, now_ns);
  if (level != reported_) Emit(Debouncer::Change{level, now_ns}, " (level when opened)");
}

void DebouncedLevel::Observe(bool level) {
  if (!running()) return;
  if (auto change = debouncer_.Observe(level, clock_->MonotonicNs())) Emit(*change, "");
  if (running()) ArmTimer();
}

void DebouncedLevel::End() {
  CancelTimer();
  if (context_) {
    g_main_context_unref(context_);
    context_ = nullptr;
  }
}

void DebouncedLevel::CancelTimer() {
  if (!timer_) return;
  g_source_destroy(timer_);
  g_source_unref(timer_);
  timer_ = nullptr;
}

void DebouncedLevel::ArmTimer() {
  CancelTimer();
  std::optional<int64_t> deadline_ns = debouncer_.deadline_ns();
  if (!deadline_ns) return;  // back at the stable level: nothing to confirm
  int64_t wait_ns = std::max<int64_t>(*deadline_ns - clock_->MonotonicNs(), 0);
  // Rounded up: a timer that fires before the deadline would only have to be armed again.
  auto wait_ms = static_cast<guint>((wait_ns + base::kNsPerMs - 1) / base::kNsPerMs);
  timer_ = g_timeout_source_new(wait_ms);
  g_source_set_callback(timer_, &Glue::OnTimer, this, nullptr);
  g_source_attach(timer_, context_);
}

void DebouncedLevel::OnTimer() {
  if (!running()) return;
  int64_t now_ns = clock_->MonotonicNs();
  if (read_) {
    if (std::optional<bool> level = read_()) {
      if (auto change = debouncer_.Observe(*level, now_ns)) Emit(*change, "");
    }
  }
  if (!running()) return;
  if (auto change = debouncer_.Poll(now_ns)) Emit(*change, "");
  if (running()) ArmTimer();
}

void DebouncedLevel::Emit(const Debouncer::Change& change, const std::string& suffix) {
  if (change.level == reported_) return;  // a glitch that ended where it began, across a reopen
  reported_ = change.level;
  InputEvent event;
  event.input = input_;
  event.function = function_;
  event.active = change.level;
  event.monotonic_ns = change.since_ns;
  event.utc_ns = clock_->NowUtcNs() - (clock_->MonotonicNs() - change.since_ns);
  event.detail = (describe_ ? describe_(change.level) : std::string()) + suffix;
  base::LogInfo(
      "input \"" + input_ + "\" " + (event.active ? "active" : "inactive") + ": " + event.detail,
      {{"INPUT", input_},
       {"INPUT_FUNCTION", InputFunctionName(function_)},
       {"INPUT_ACTIVE", event.active ? "1" : "0"}});
  if (on_event_) on_event_(event);
}

}  // namespace patrolrec::inputs
