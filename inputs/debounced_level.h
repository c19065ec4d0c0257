// A Debouncer on a GLib main context, shared by every level input (GPIO lines and the scripted
// input), so that the scripted input the tests and the demo drive takes the very path a GPIO
// line takes: edges in, a timer to confirm the level after the debounce time, InputEvents out.
//
// Invariant: each stable level is reported once, including across a device being lost and
// reopened (a level that is still the last one reported is not reported again).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "inputs/debouncer.h"
#include "inputs/input.h"

struct _GSource;
struct _GMainContext;

namespace patrolrec::inputs {

class DebouncedLevel {
 public:
  // The line's level read again when the debounce timer fires (edges can be lost when the
  // kernel's event queue overflows); nullopt when it cannot be read (the observed level stands).
  using ReadLevel = std::function<std::optional<bool>()>;
  // The event's detail for a stable level, e.g. "gpiochip0 line 17 rising".
  using Describe = std::function<std::string(bool level)>;

  // `clock` must outlive this object.
  DebouncedLevel(std::string input, InputFunction function, int debounce_ms, base::Clock* clock);
  ~DebouncedLevel();
  DebouncedLevel(const DebouncedLevel&) = delete;
  DebouncedLevel& operator=(const DebouncedLevel&) = delete;

  // Starts (or restarts after the device came back) from `level`, read from the device now, on
  // `context`. Reports it when it differs from the last level reported (initially inactive).
  void Begin(_GMainContext* context, bool level, ReadLevel read, Describe describe,
             InputSource::EventCallback on_event);
  // An edge or a read: the level observed now.
  void Observe(bool level);
  // Cancels the timer; pending (unconfirmed) changes are dropped. Begin() may follow.
  void End();

  bool running() const { return context_ != nullptr; }
  bool last_reported() const { return reported_; }

  // The GLib timer callback (in the .cc).
  struct Glue;

 private:
  void Emit(const Debouncer::Change& change, const std::string& suffix);
  void ArmTimer();
  void CancelTimer();
  void OnTimer();

  std::string input_;
  InputFunction function_;
  base::Clock* clock_;
  Debouncer debouncer_;
  bool reported_ = false;  // the last level reported in an event
  _GMainContext* context_ = nullptr;
  _GSource* timer_ = nullptr;
  ReadLevel read_;
  Describe describe_;
  InputSource::EventCallback on_event_;
};

}  // namespace patrolrec::inputs
