// A trigger wired to a GPIO line (light bar, siren, door, rear-door lock, record button), read
// through libgpiod 1.6 (the character-device API; Debian 12 ships the v1 library). The line is
// requested for both-edge events; its event fd is watched by a GSource, every edge goes through
// a Debouncer, and a timer reads the line again after the debounce time.
#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
#include "inputs/input.h"

namespace patrolrec::inputs {

struct GpioInputConfig {
  std::string name;  // [input NAME]: [a-z0-9-]+, in events and log fields
  // What gpiod_chip_open_lookup accepts: a name ("gpiochip0"), a path ("/dev/gpiochip0"), a
  // label ("pinctrl-bcm2711") or a number ("0").
  std::string chip;
  unsigned line = 0;        // the line's offset on the chip
  bool active_low = false;  // the input is active when the line is low (a contact to ground)
  int debounce_ms = 50;     // a level must hold this long to count, 1..1000 in the configuration
  InputFunction function = InputFunction::kRecordButton;
  // Back-off of the retries while the chip is missing or the line busy: doubling from min to max.
  int retry_min_ms = 1000;
  int retry_max_ms = 30000;

  bool operator==(const GpioInputConfig&) const = default;
};

// The real GPIO input. `clock` must outlive it. Nothing is opened before Start().
std::unique_ptr<InputSource> MakeGpioInput(GpioInputConfig config, base::Clock* clock);

}  // namespace patrolrec::inputs
