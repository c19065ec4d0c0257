// ScriptedInput: Set() is an edge, Start() and the end of an injected problem are an "open".
#include "inputs/scripted_input.h"

#include <glib.h>

#include <optional>
#include <utility>

#include "base/log.h"

namespace patrolrec::inputs {

ScriptedInput::ScriptedInput(std::string name, InputFunction function, int debounce_ms,
                             base::Clock* clock)
    : name_(std::move(name)),
      function_(function),
      debounce_ms_(debounce_ms),
      debounced_(name_, function, debounce_ms, clock) {}

ScriptedInput::~ScriptedInput() { Stop(); }

void ScriptedInput::Start(EventCallback on_event, ProblemCallback on_problem) {
  if (started_) return;
  started_ = true;
  context_ = g_main_context_ref_thread_default();
  on_event_ = std::move(on_event);
  on_problem_ = std::move(on_problem);
  if (problem_.empty()) Begin();
}

void ScriptedInput::Stop() {
  if (!started_) return;
  started_ = false;
  debounced_.End();
  g_main_context_unref(context_);
  context_ = nullptr;
}

std::string ScriptedInput::Describe() const {
  return "scripted " + name_ + ": debounce " + std::to_string(debounce_ms_) + " ms, " +
         InputFunctionName(function_);
}

void ScriptedInput::Set(bool active) {
  level_ = active;
  if (started_ && problem_.empty()) debounced_.Observe(active);
}

void ScriptedInput::InjectProblem(const std::string& problem) {
  if (problem == problem_) return;
  bool was_failing = !problem_.empty();
  problem_ = problem;
  if (!started_) return;
  if (!problem.empty()) {
    debounced_.End();
    base::LogWarning(problem, {{"INPUT", name_}});
  }
  if (on_problem_ && (was_failing || !problem.empty())) on_problem_(problem);
  if (started_ && problem_.empty()) Begin();  // unless stopped from the callback
}

void ScriptedInput::Begin() {
  debounced_.Begin(
      context_, level_, [this]() -> std::optional<bool> { return level_; },
      [this](bool active) {
        return "scripted " + std::string(active ? "press" : "release") + " of " + name_;
      },
      on_event_);
}

}  // namespace patrolrec::inputs
