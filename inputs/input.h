// The recorder's trigger inputs behind one interface: the light bar, the siren, a door, the
// rear-door lock, the manual record button (GPIO lines) and a crash (an accelerometer). The
// incident state machine in daemon/ consumes InputEvent values and never learns which hardware
// produced them.
//
// Invariant: an InputSource never stops the recorder. A device that is missing, busy or returns
// garbage is reported (log and on_problem) and retried with back-off; events carry the time the
// level really changed, not the time the debounce confirmed it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace patrolrec::inputs {

enum class InputFunction { kLightBar, kSiren, kDoor, kRearDoorLock, kRecordButton, kCrash };

// "light-bar", "siren", "door", "rear-door-lock", "record-button", "crash".
const char* InputFunctionName(InputFunction function);
// Reads InputFunctionName's output back; false, leaving *function alone, for anything else.
bool ParseInputFunction(const std::string& name, InputFunction* function);
// "light-bar, siren, door, rear-door-lock, record-button or crash", for messages.
std::string InputFunctionNames();

struct InputEvent {
  std::string input;  // the configured name, e.g. "light-bar" ([input light-bar]) or "crash"
  InputFunction function = InputFunction::kRecordButton;
  bool active = false;  // the level now in force (a crash is always active: it has no end)
  // When the level began (the first edge of the level that then held for the debounce time), on
  // both clocks; the event itself arrives debounce_ms later.
  int64_t utc_ns = 0;
  int64_t monotonic_ns = 0;
  std::string detail;  // "gpiochip0 line 17 rising", "peak 6.2 g over 40 ms", ...

  bool operator==(const InputEvent&) const = default;
};

class InputSource {
 public:
  using EventCallback = std::function<void(const InputEvent& event)>;
  // A non-empty text names what is wrong and on what: `input "light-bar": gpiochip0 line 17: No
  // such file or directory (ENOENT) (is the GPIO chip present? see gpiodetect)`. An empty text
  // says the previous problem is over (the device is open and working again).
  using ProblemCallback = std::function<void(const std::string& problem)>;

  virtual ~InputSource() = default;  // stops

  // Opens the device and begins delivering events on the thread-default GLib main context of the
  // calling thread; returns at once and never blocks that context. A device that cannot be opened
  // is reported through on_problem (and the log) and retried with back-off, so Start() itself
  // cannot fail. An input whose level is active at start reports it as an event (a light bar
  // already on at boot opens an incident); an inactive level at start is not an event.
  // Calling Start() on a started source does nothing.
  virtual void Start(EventCallback on_event, ProblemCallback on_problem) = 0;
  // Closes the device and cancels timers; no callback runs afterwards. Safe from inside a
  // callback and more than once; Start() may be called again. (Destroying the source from inside
  // its own callback is not: defer that to an idle callback.)
  virtual void Stop() = 0;

  // "gpio light-bar: gpiochip0 line 17, active-low, debounce 50 ms".
  virtual std::string Describe() const = 0;
  // The current problem ("" while the device works): for the self-test and the status page.
  virtual std::string problem() const = 0;
};

}  // namespace patrolrec::inputs
