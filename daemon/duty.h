// The incident side of the daemon, wired to the recorder: the incident manager on its own
// catalog connection (the sealer's connection belongs to its worker thread), the trigger inputs
// (GPIO lines, the crash sensor, speed), the case-link deadline check, and the requests to stop
// or start recording, which pass the no-stop rule first.
//
// Invariant: an input event, a dispatch or the record button while cameras are stopped starts
// every camera before the incident is reported open; a stop request reaches a camera only when
// no incident is open.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "daemon/incidents.h"
#include "daemon/recorder.h"
#include "inputs/input.h"
#include "storage/catalog.h"

namespace patrolrec::daemon {

class Duty {
 public:
  // `recorder` must be open (Recorder::Open) and outlive this.
  Duty(Recorder* recorder, base::Clock* clock);
  ~Duty();
  Duty(const Duty&) = delete;
  Duty& operator=(const Duty&) = delete;

  // Opens the catalog connection and reads the open incident (a restart never ends one). Makes
  // the configured inputs ([input NAME], [crash]) unless inputs were added for testing.
  base::Status Open();
  // Starts the inputs and the case-link check (on the calling thread's main context).
  void Start();
  void Stop();

  IncidentManager& incidents() { return *incidents_; }
  // The incidents' catalog connection (main loop only): the interruptions share it.
  storage::Catalog* catalog() { return catalog_.get(); }

  // The crew asks to stop one camera / every camera: refused while an incident is open (the
  // attempt is recorded in its history); otherwise the camera closes and seals its segment and
  // stays stopped until the next trigger.
  IncidentReply StopCamera(const std::string& camera, const Actor& actor);
  IncidentReply StopRecording(const Actor& actor);
  // The record button: every camera records, and an incident opens (or the open one notes it).
  IncidentReply RecordButton(const Actor& actor);

  // Problems of the inputs now ("" entries are not kept): for health and the self-check.
  std::vector<std::string> InputProblems() const;
  std::vector<std::string> InputDescriptions() const;

  // Adds a listener called after every incident change (the event stream, the console).
  void add_on_change(std::function<void(const storage::IncidentRecord&, const std::string&)> f) {
    on_change_.push_back(std::move(f));
  }
  // Replaces the configured inputs (before Open): tests drive inputs::ScriptedInput through the
  // same interface the GPIO lines and the crash sensor use.
  void AddInputForTesting(std::unique_ptr<inputs::InputSource> input);
  // How often closed incidents are checked for a missing case number (default 60 s).
  void set_overdue_check_interval_ms(int ms) { overdue_interval_ms_ = ms; }

 private:
  void OnInput(const inputs::InputEvent& event);

  Recorder* recorder_;
  base::Clock* clock_;
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<IncidentManager> incidents_;
  std::vector<std::unique_ptr<inputs::InputSource>> inputs_;
  bool inputs_for_testing_ = false;
  std::vector<std::function<void(const storage::IncidentRecord&, const std::string&)>> on_change_;
  int overdue_interval_ms_ = 60'000;
  unsigned overdue_timer_ = 0;
};

}  // namespace patrolrec::daemon
