#include "daemon/duty.h"

#include <glib.h>

#include <cmath>

#include "base/env.h"
#include "base/log.h"
#include "inputs/crash_sensor.h"
#include "inputs/gpio_input.h"

namespace patrolrec::daemon {

Duty::Duty(Recorder* recorder, base::Clock* clock) : recorder_(recorder), clock_(clock) {}

Duty::~Duty() { Stop(); }

base::Status Duty::Open() {
  const Config& config = recorder_->config();
  auto catalog = storage::Catalog::Open(base::JoinPath(config.data_dir, "catalog.sqlite"));
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(catalog).value();
  IncidentHooks hooks;
  hooks.start_recording = [this] { recorder_->ResumeCameras(); };
  hooks.inside_holding_area = [this](std::string* where) {
    const Position& position = recorder_->position();
    if (!position.last_fix() || !position.last_fix()->has_position()) {
      *where = "no GPS position";
      return false;
    }
    const bool inside = position.InsideKind(gps::GeofenceKind::kHoldingArea);
    std::string names;
    for (const std::string& name : position.InsideGeofences()) {
      names += (names.empty() ? "" : ", ") + name;
    }
    *where = (inside ? "inside " : "outside every holding area; ") +
             (names.empty() ? std::string("in no geofence") : "geofences: " + names) + ", at " +
             Coordinates(position.last_fix()->latitude_deg, position.last_fix()->longitude_deg);
    return inside;
  };
  hooks.on_change = [this](const storage::IncidentRecord& incident, const std::string& change) {
    for (const auto& listener : on_change_) listener(incident, change);
  };
  incidents_ = std::make_unique<IncidentManager>(catalog_.get(), clock_, config.device.id,
                                                 config.incidents, std::move(hooks));
  base::Status loaded = incidents_->Load();
  if (!loaded.ok()) return loaded;
  if (!inputs_for_testing_) {
    for (const inputs::GpioInputConfig& input : config.inputs) {
      inputs_.push_back(inputs::MakeGpioInput(input, clock_));
    }
    if (config.crash) inputs_.push_back(inputs::MakeCrashSensor(*config.crash, clock_));
  }
  recorder_->set_on_fix([this](const gps::Fix& fix) {
    if (!std::isnan(fix.speed_mps)) incidents_->OnSpeed(fix.speed_mps * 3.6);
  });
  return base::Status::Ok();
}

void Duty::Start() {
  for (auto& input : inputs_) {
    input->Start([this](const inputs::InputEvent& event) { OnInput(event); },
                 [](const std::string&) {});  // the source logs its own problems
  }
  overdue_timer_ = g_timeout_add(
      static_cast<guint>(overdue_interval_ms_),
      [](gpointer self) -> gboolean {
        static_cast<Duty*>(self)->incidents_->CheckOverdue();
        return G_SOURCE_CONTINUE;
      },
      this);
  incidents_->CheckOverdue();
}

void Duty::Stop() {
  for (auto& input : inputs_) input->Stop();
  if (overdue_timer_) {
    g_source_remove(overdue_timer_);
    overdue_timer_ = 0;
  }
}

void Duty::OnInput(const inputs::InputEvent& event) {
  // Only the start of a level triggers (the light bar switched on, the door opened); its end is
  // logged by the source.
  if (!event.active) return;
  incidents_->Trigger(inputs::InputFunctionName(event.function), event.detail,
                      Actor{"input:" + event.input, "input"});
}

IncidentReply Duty::StopCamera(const std::string& camera, const Actor& actor) {
  IncidentReply allowed = incidents_->CheckStopAllowed("stop camera " + camera, actor);
  if (!allowed.ok()) return allowed;
  if (!recorder_->camera(camera)) {
    IncidentReply reply;
    reply.outcome = IncidentOutcome::kNotFound;
    reply.reason = "no camera \"" + camera + "\" on this device";
    return reply;
  }
  if (!recorder_->PauseCamera(camera, [] {})) {
    IncidentReply reply;
    reply.outcome = IncidentOutcome::kConflict;
    reply.reason = "camera \"" + camera + "\" is already stopped";
    return reply;
  }
  return allowed;
}

IncidentReply Duty::StopRecording(const Actor& actor) {
  IncidentReply allowed = incidents_->CheckStopAllowed("stop recording", actor);
  if (!allowed.ok()) return allowed;
  for (const std::string& name : recorder_->camera_names()) recorder_->PauseCamera(name, [] {});
  return allowed;
}

IncidentReply Duty::RecordButton(const Actor& actor) {
  recorder_->ResumeCameras();
  return incidents_->Trigger("record-button", "", actor);
}

std::vector<std::string> Duty::InputProblems() const {
  std::vector<std::string> problems;
  for (const auto& input : inputs_) {
    if (!input->problem().empty()) problems.push_back(input->problem());
  }
  return problems;
}

std::vector<std::string> Duty::InputDescriptions() const {
  std::vector<std::string> out;
  for (const auto& input : inputs_) out.push_back(input->Describe());
  return out;
}

void Duty::AddInputForTesting(std::unique_ptr<inputs::InputSource> input) {
  inputs_for_testing_ = true;
  inputs_.push_back(std::move(input));
}

}  // namespace patrolrec::daemon
