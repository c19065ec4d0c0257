// Helpers for the input tests: a private GLib main context to run sources on, and a recorder of
// the events and problems a source delivers.
#pragma once

#include <glib.h>

#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "inputs/input.h"

namespace patrolrec::inputs {

// A fresh main context, thread-default for the lifetime of this object, so that sources started
// in a test attach to it and nothing leaks into another test.
class TestLoop {
 public:
  TestLoop() : context_(g_main_context_new()) { g_main_context_push_thread_default(context_); }
  ~TestLoop() {
    g_main_context_pop_thread_default(context_);
    g_main_context_unref(context_);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  // Runs the context until `done` is true or `timeout_ms` passed; returns `done()`.
  bool RunUntil(const std::function<bool()>& done, int timeout_ms) {
    int64_t end_ns = base::Clock::System()->MonotonicNs() + int64_t{timeout_ms} * base::kNsPerMs;
    while (!done() && base::Clock::System()->MonotonicNs() < end_ns) {
      g_main_context_iteration(context_, FALSE);
      g_usleep(500);
    }
    return done();
  }
  // Runs the context for `ms` milliseconds.
  void RunFor(int ms) {
    RunUntil([] { return false; }, ms);
  }

 private:
  GMainContext* context_;
};

struct Recorded {
  std::vector<InputEvent> events;
  std::vector<std::string> problems;

  InputSource::EventCallback OnEvent() {
    return [this](const InputEvent& event) { events.push_back(event); };
  }
  InputSource::ProblemCallback OnProblem() {
    return [this](const std::string& problem) { problems.push_back(problem); };
  }
};

}  // namespace patrolrec::inputs
