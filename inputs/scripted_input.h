// The input the tests and the demo drive: the same InputSource interface as a GPIO line, with
// the levels injected by calls instead of read from hardware. The injected levels go through
// the same DebouncedLevel (Debouncer and confirmation timer) a GPIO line's edges go through, so
// a consumer tested against it sees the timing a real line produces.
#pragma once

#include <string>

#include "base/clock.h"
#include "inputs/debounced_level.h"
#include "inputs/input.h"

namespace patrolrec::inputs {

class ScriptedInput final : public InputSource {
 public:
  // `clock` must outlive the input. debounce_ms 0 reports every change at once.
  ScriptedInput(std::string name, InputFunction function, int debounce_ms, base::Clock* clock);
  ~ScriptedInput() override;

  void Start(EventCallback on_event, ProblemCallback on_problem) override;
  void Stop() override;
  std::string Describe() const override;
  std::string problem() const override { return problem_; }

  // The raw level of the simulated line, now (bounces included: Set(true), Set(false), ...).
  // Ignored while stopped or while a problem is injected (the device is "absent").
  void Set(bool active);
  void Press() { Set(true); }
  void Release() { Set(false); }
  // Simulates the device failing ("" = working again: the level is reopened as last Set).
  void InjectProblem(const std::string& problem);

  bool level() const { return level_; }

 private:
  void Begin();

  std::string name_;
  InputFunction function_;
  int debounce_ms_;
  DebouncedLevel debounced_;
  EventCallback on_event_;
  ProblemCallback on_problem_;
  bool started_ = false;
  _GMainContext* context_ = nullptr;  // thread-default context captured by Start()
  bool level_ = false;                // the raw level last Set
  std::string problem_;
};

}  // namespace patrolrec::inputs
