#include "daemon/control_routes.h"

#include <glib.h>
#include <sys/statvfs.h>

#include <cmath>
#include <map>

#include "base/env.h"
#include "base/log.h"
#include "daemon/self_check.h"

namespace patrolrec::daemon {

namespace {

using nlohmann::json;
using storage::IncidentRecord;

const std::set<Role> kEveryRole = {Role::kOfficer, Role::kSupervisor, Role::kTechnician,
                                   Role::kAuditor};
const std::set<Role> kCrew = {Role::kOfficer, Role::kSupervisor};
// Who may see evidence (incidents, their segments): never a technician (R13).
const std::set<Role> kEvidenceReaders = {Role::kOfficer, Role::kSupervisor, Role::kAuditor};
const std::set<Role> kSupervisorOnly = {Role::kSupervisor};
// Who may ask for a camera to stop (maintenance outside an incident); refused during one.
const std::set<Role> kStoppers = {Role::kOfficer, Role::kSupervisor, Role::kTechnician};
// Who may see what a camera sees now: the crew, and a technician aiming or cleaning a camera. A
// live thumbnail is not recorded evidence (no incident, no segment), so it is not R13's concern;
// auditors review what was recorded, not the live picture.
const std::set<Role> kThumbnailViewers = {Role::kOfficer, Role::kSupervisor, Role::kTechnician};

std::string Utc(int64_t utc_ns) { return base::FormatUtcNs(utc_ns); }

Actor ActorOf(const ApiRequest& request) {
  return Actor{request.who.user, RoleName(request.who.role)};
}

ApiResponse Ok(nlohmann::json body) {
  ApiResponse response;
  response.body = std::move(body);
  return response;
}

json Nullable(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

}  // namespace

json IncidentJson(const IncidentRecord& incident,
                  const std::vector<storage::SegmentRecord>* segments,
                  const std::vector<storage::InterruptionRecord>* interruptions) {
  json phases = json::array(), marks = json::array(), explanations = json::array(),
       history = json::array();
  for (const storage::IncidentEntry& e : incident.entries) {
    json item = {{"utc", Utc(e.utc_ns)}, {"by", e.actor}};
    if (e.kind == "phase")
      phases.push_back({{"phase", e.value}, {"utc", Utc(e.utc_ns)}, {"by", e.actor}});
    if (e.kind == "mark")
      marks.push_back({{"utc", Utc(e.utc_ns)}, {"note", e.value}, {"by", e.actor}});
    if (e.kind == "explanation") {
      explanations.push_back({{"utc", Utc(e.utc_ns)}, {"text", e.value}, {"by", e.actor}});
    }
    history.push_back(
        {{"utc", Utc(e.utc_ns)}, {"kind", e.kind}, {"value", e.value}, {"by", e.actor}});
  }
  json out = {
      {"id", incident.id},
      {"phase", storage::IncidentPhaseName(incident.phase)},
      {"open", incident.open()},
      {"trigger", incident.trigger},
      {"trigger_detail", incident.trigger_detail},
      {"trigger_utc", Utc(incident.trigger_utc_ns)},
      {"opened_utc", Utc(incident.trigger_utc_ns)},
      {"closed_utc", incident.open() ? json(nullptr) : json(Utc(incident.closed_utc_ns))},
      {"close_kind", Nullable(incident.close_kind)},
      {"close_reason", Nullable(incident.close_reason)},
      {"alarm_number", Nullable(incident.alarm_number)},
      {"case_number", Nullable(incident.case_number)},
      {"incident_type", Nullable(incident.incident_type)},
      {"address", Nullable(incident.address)},
      {"officers", incident.officers},
      {"retention", storage::RetentionClassName(incident.retention)},
      {"retention_reason", Nullable(incident.retention_reason)},
      {"link_overdue", incident.link_overdue_utc_ns != 0 && incident.case_number.empty()},
      {"evidence_from_utc", Utc(incident.evidence_from_utc_ns())},
      {"evidence_to_utc",
       incident.open() ? json(nullptr) : json(Utc(incident.evidence_to_utc_ns()))},
      {"phases", phases},
      {"marks", marks},
      {"explanations", explanations},
      {"history", history},
  };
  if (segments) {
    json list = json::array();
    for (const storage::SegmentRecord& s : *segments) {
      list.push_back({{"camera", s.camera},
                      {"sequence", s.sequence},
                      {"file", s.file},
                      {"start_utc", Utc(s.start_utc_ns)},
                      {"end_utc", Utc(s.end_utc_ns)},
                      {"state", storage::SegmentStateName(s.state)},
                      {"sha256", s.sha256_hex}});
    }
    out["segments"] = list;
  }
  if (interruptions) {
    json list = json::array(), unexplained = json::array();
    for (const storage::InterruptionRecord& i : *interruptions) {
      list.push_back(InterruptionJson(i));
      // Flagged at the close and still without its written explanation: like link_overdue.
      if (i.unexplained_at_close_utc_ns && !i.explained()) unexplained.push_back(i.number);
    }
    out["interruptions"] = list;
    out["unexplained_interruptions"] = unexplained;
  }
  return out;
}

ControlRoutes::ControlRoutes(ApiServer* server, Recorder* recorder, Duty* duty, base::Clock* clock,
                             DiskGuard* disk_guard)
    : server_(server), recorder_(recorder), duty_(duty), clock_(clock), disk_guard_(disk_guard) {
  ApiServer& s = *server_;
  s.Route("GET", "/v1/status", kEveryRole, AuditPolicy::kRefusalsOnly,
          [this](const ApiRequest& r) { return Ok(Status(r.who.role)); });
  s.Route("GET", "/v1/health", kEveryRole, AuditPolicy::kRefusalsOnly,
          [this](const ApiRequest&) { return Ok(Health()); });
  // POST /v1/self-check and the health history: daemon/self_check.h (SelfChecker::RegisterRoutes).

  // Incidents.
  s.Route("GET", "/v1/incidents", kEvidenceReaders, AuditPolicy::kAlways,
          [this](const ApiRequest&) {
            auto all = duty_->incidents().List();
            if (!all.ok()) return ApiResponse::Error(500, "storage", all.message());
            json list = json::array();
            for (const IncidentRecord& incident : *all)
              list.push_back(IncidentJson(incident, nullptr));
            return Ok(json{{"incidents", list}});
          });
  s.Route(
      "GET", "/v1/incidents/{id}", kEvidenceReaders, AuditPolicy::kAlways,
      [this](const ApiRequest& r) {
        const std::string& id = r.params.at("id");
        auto found = duty_->incidents().Find(id);
        if (!found.ok()) return ApiResponse::Error(500, "storage", found.message());
        if (!found->has_value()) {
          return ApiResponse::Error(404, "not-found", "no incident \"" + id + "\" on this device");
        }
        auto segments = duty_->incidents().Evidence(**found);
        if (!segments.ok()) return ApiResponse::Error(500, "storage", segments.message());
        std::vector<storage::InterruptionRecord> gaps;
        if (interruptions_) {
          auto listed = interruptions_->List(id);
          if (!listed.ok()) return ApiResponse::Error(500, "storage", listed.message());
          gaps = std::move(listed).value();
        }
        ApiResponse response =
            Ok(IncidentJson(**found, &*segments, interruptions_ ? &gaps : nullptr));
        response.audit_detail = "viewed with " + std::to_string(segments->size()) + " segment(s)";
        return response;
      });
  s.Route("POST", "/v1/incidents", kCrew, AuditPolicy::kAlways, [this](const ApiRequest& r) {
    FieldReader fields(r.body);
    DispatchOrder order;
    order.alarm_number = fields.String("alarm_number", 64);
    order.incident_type = fields.String("incident_type", 64);
    order.address = fields.String("address", 512);
    order.officers =
        fields.OptionalStringArray("officers", 16, 32).value_or(std::vector<std::string>{});
    order.case_number = fields.OptionalString("case_number", 64).value_or("");
    if (auto error = fields.Finish()) return *error;
    ApiResponse response =
        FromReply(duty_->incidents().Dispatch(order, ActorOf(r)), 201, "dispatch");
    if (response.status == 201) {
      response.headers.push_back(
          {"Location", "/v1/incidents/" + response.body["id"].get<std::string>()});
    }
    return response;
  });
  s.Route("POST", "/v1/incidents/{id}/phase", kCrew, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            FieldReader fields(r.body);
            std::string phase = fields.String("phase", 32);
            if (auto error = fields.Finish()) return *error;
            return FromReply(duty_->incidents().SetPhase(r.params.at("id"), phase, ActorOf(r)), 200,
                             "phase " + phase);
          });
  s.Route(
      "POST", "/v1/incidents/{id}/marks", kCrew, AuditPolicy::kAlways, [this](const ApiRequest& r) {
        FieldReader fields(r.body);
        std::string note = fields.String("note", 1024);
        if (auto error = fields.Finish()) return *error;
        return FromReply(duty_->incidents().Mark(r.params.at("id"), note, ActorOf(r)), 200, "mark");
      });
  s.Route("POST", "/v1/incidents/{id}/explanations", kCrew, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            FieldReader fields(r.body);
            std::string text = fields.String("text", 4096);
            // With "interruption": N, the written explanation of that interruption (第十三条).
            std::optional<int64_t> number = fields.OptionalInt("interruption", 1, 1'000'000);
            if (auto error = fields.Finish()) return *error;
            if (number) {
              if (!interruptions_) {
                return ApiResponse::Error(503, "unavailable", "interruptions are not tracked");
              }
              return FromReply(
                  interruptions_->Explain(r.params.at("id"), *number, text, ActorOf(r)),
                  "explanation of interruption " + std::to_string(*number));
            }
            return FromReply(duty_->incidents().Explain(r.params.at("id"), text, ActorOf(r)), 200,
                             "explanation");
          });
  s.Route("GET", "/v1/incidents/{id}/interruptions", kEvidenceReaders, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            const std::string& id = r.params.at("id");
            auto found = duty_->incidents().Find(id);
            if (!found.ok()) return ApiResponse::Error(500, "storage", found.message());
            if (!found->has_value()) {
              return ApiResponse::Error(404, "not-found",
                                        "no incident \"" + id + "\" on this device");
            }
            if (!interruptions_) {
              return ApiResponse::Error(503, "unavailable", "interruptions are not tracked");
            }
            auto listed = interruptions_->List(id);
            if (!listed.ok()) return ApiResponse::Error(500, "storage", listed.message());
            json list = json::array();
            for (const storage::InterruptionRecord& i : *listed)
              list.push_back(InterruptionJson(i));
            return Ok(json{{"incident", id}, {"interruptions", list}});
          });
  // The spoken explanation: the crew marks where, in the cabin recording, they explain the gap.
  s.Route(
      "POST", "/v1/incidents/{id}/interruptions/{n}/spoken", kCrew, AuditPolicy::kAlways,
      [this](const ApiRequest& r) {
        FieldReader fields(r.body);
        std::string action = fields.String("action", 16);
        if (auto error = fields.Finish()) return *error;
        int64_t number = 0;
        const std::string& n = r.params.at("n");
        if (n.empty() || n.size() > 7 || n.find_first_not_of("0123456789") != std::string::npos ||
            (number = std::stoll(n)) < 1) {
          return ApiResponse::Error(
              422, "invalid", "interruption number must be a positive integer, not \"" + n + "\"");
        }
        if (!interruptions_) {
          return ApiResponse::Error(503, "unavailable", "interruptions are not tracked");
        }
        return FromReply(interruptions_->Spoken(r.params.at("id"), number, action, ActorOf(r)),
                         "spoken explanation " + action + " of interruption " + n);
      });
  s.Route("POST", "/v1/incidents/{id}/handover", kCrew, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            FieldReader fields(r.body);
            bool confirm = fields.Bool("confirm");
            if (auto error = fields.Finish()) return *error;
            if (!confirm) {
              return ApiResponse::Error(422, "not-confirmed",
                                        "the crew must confirm the handover (\"confirm\": true)");
            }
            return FromReply(duty_->incidents().Handover(r.params.at("id"), ActorOf(r)), 200,
                             "handover");
          });
  s.Route(
      "POST", "/v1/incidents/{id}/close", kCrew, AuditPolicy::kAlways, [this](const ApiRequest& r) {
        FieldReader fields(r.body);
        bool no_suspect = fields.Bool("no_suspect");
        std::string reason = fields.String("reason", 1024);
        if (auto error = fields.Finish()) return *error;
        if (!no_suspect) {
          return ApiResponse::Error(
              422, "suspect",
              "an incident with a suspect ends with the handover at a holding area "
              "(POST .../handover), or a supervisor's override; \"no_suspect\": true closes "
              "one in which nobody was transported");
        }
        return FromReply(duty_->incidents().CloseNoSuspect(r.params.at("id"), reason, ActorOf(r)),
                         200, "closed, no suspect: " + reason);
      });
  s.Route("POST", "/v1/incidents/{id}/override-close", kSupervisorOnly, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            FieldReader fields(r.body);
            std::string reason = fields.String("reason", 2048);
            if (auto error = fields.Finish()) return *error;
            return FromReply(
                duty_->incidents().OverrideClose(r.params.at("id"), reason, ActorOf(r)), 200,
                "override close: " + reason);
          });
  s.Route(
      "POST", "/v1/incidents/{id}/links", kCrew, AuditPolicy::kAlways, [this](const ApiRequest& r) {
        FieldReader fields(r.body);
        std::string alarm = fields.OptionalString("alarm_number", 64).value_or("");
        std::string case_number = fields.OptionalString("case_number", 64).value_or("");
        if (auto error = fields.Finish()) return *error;
        return FromReply(duty_->incidents().Link(r.params.at("id"), alarm, case_number, ActorOf(r)),
                         200, "links: alarm " + alarm + " case " + case_number);
      });
  s.Route("POST", "/v1/incidents/{id}/retention", kSupervisorOnly, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            FieldReader fields(r.body);
            std::string retention = fields.String("class", 16);
            std::string reason = fields.String("reason", 1024);
            if (auto error = fields.Finish()) return *error;
            return FromReply(
                duty_->incidents().SetRetention(r.params.at("id"), retention, reason, ActorOf(r)),
                200, "retention " + retention + ": " + reason);
          });

  // The record button and stop requests.
  s.Route("POST", "/v1/record", kStoppers, AuditPolicy::kAlways, [this](const ApiRequest& r) {
    FieldReader fields(r.body);
    std::string action = fields.String("action", 16);
    if (auto error = fields.Finish()) return *error;
    if (action == "start") {
      if (r.who.role == Role::kTechnician) {
        return ApiResponse::Error(403, "forbidden",
                                  "the record button opens an incident: officers and supervisors");
      }
      return FromReply(duty_->RecordButton(ActorOf(r)), 200, "record button");
    }
    if (action == "stop") {
      IncidentReply reply = duty_->StopRecording(ActorOf(r));
      if (!reply.ok()) return FromReply(reply, 200, "");
      ApiResponse response = Ok(json{{"stopped", recorder_->camera_names()}});
      response.audit_detail = "every camera stopped (no incident open)";
      return response;
    }
    return ApiResponse::Error(400, "bad-field",
                              "action must be \"start\" or \"stop\", got \"" + action + "\"");
  });
  s.Route("POST", "/v1/cameras/{name}/stop", kStoppers, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            const std::string& name = r.params.at("name");
            IncidentReply reply = duty_->StopCamera(name, ActorOf(r));
            if (!reply.ok()) return FromReply(reply, 200, "");
            ApiResponse response = Ok(json{{"stopped", json::array({name})}});
            response.audit_detail = "camera " + name + " stopped (no incident open)";
            return response;
          });

  s.Route("GET", "/v1/cameras/{name}/thumbnail", kThumbnailViewers, AuditPolicy::kRefusalsOnly,
          [this](const ApiRequest& r) {
            const std::string& name = r.params.at("name");
            std::optional<pipeline::Thumbnail> thumbnail = recorder_->Thumbnail(name);
            if (!thumbnail) {
              return ApiResponse::Error(404, "not-found",
                                        "no camera \"" + name + "\" on this device");
            }
            if (thumbnail->jpeg.empty()) {
              return ApiResponse::Error(503, "no-frame",
                                        "camera \"" + name +
                                            "\" has no picture yet (starting or failed; a "
                                            "passthrough H.264 camera has no thumbnail)");
            }
            ApiResponse response;
            response.content_type = "image/jpeg";
            response.raw_body = std::move(thumbnail->jpeg);
            response.headers.push_back({"X-Thumbnail-UTC", Utc(thumbnail->utc_ns)});
            return response;
          });

  // Staged faults on synthetic cameras (the demo, tests, a technician training on the bench):
  // the probes must see them exactly as they would a real covered lens or muted microphone.
  s.Route("POST", "/v1/cameras/{name}/simulate-fault", kStoppers, AuditPolicy::kAlways,
          [this](const ApiRequest& r) {
            const std::string& name = r.params.at("name");
            FieldReader fields(r.body);
            const std::string fault = fields.String("fault", 16);
            if (auto error = fields.Finish()) return *error;
            pipeline::CameraPipeline* camera = recorder_->camera(name);
            if (!camera) {
              return ApiResponse::Error(404, "not-found",
                                        "no camera \"" + name + "\" on this device");
            }
            if (std::string why = camera->SimulateFault(fault); !why.empty()) {
              return ApiResponse::Error(
                  pipeline::CameraPipeline::IsSimulatedFault(fault) ? 409 : 400, "cannot-simulate",
                  why);
            }
            ApiResponse response = Ok(json{{"camera", name},
                                           {"video_fault", camera->simulated_video_fault()},
                                           {"audio_fault", camera->simulated_audio_fault()}});
            response.audit_detail = "camera " + name + " simulated fault " + fault;
            return response;
          });

  duty_->add_on_change([this](const IncidentRecord& incident, const std::string& change) {
    json data = IncidentJson(incident, nullptr);
    data["change"] = change;
    server_->Publish("incident", data, kEvidenceReaders);
  });
}

ControlRoutes::~ControlRoutes() { Stop(); }

void ControlRoutes::Start() {
  health_timer_ = g_timeout_add(
      1000,
      [](gpointer self) -> gboolean {
        static_cast<ControlRoutes*>(self)->PublishHealthIfChanged();
        return G_SOURCE_CONTINUE;
      },
      this);
}

void ControlRoutes::Stop() {
  if (health_timer_) {
    g_source_remove(health_timer_);
    health_timer_ = 0;
  }
}

void ControlRoutes::PublishHealthIfChanged() {
  json cameras = Cameras();
  std::string text = cameras.dump();
  if (text == last_health_) return;
  last_health_ = text;
  server_->Publish("health", json{{"cameras", cameras}}, kEveryRole);
}

ApiResponse ControlRoutes::FromReply(const IncidentReply& reply, int ok_status,
                                     const std::string& what) {
  ApiResponse response;
  switch (reply.outcome) {
    case IncidentOutcome::kOk:
      response.status = ok_status;
      response.body = IncidentJson(reply.incident, nullptr);
      response.audit_detail = reply.incident.id + ": " + what;
      return response;
    case IncidentOutcome::kInvalid:
      response = ApiResponse::Error(422, "invalid", reply.reason);
      break;
    case IncidentOutcome::kNotFound:
      response = ApiResponse::Error(404, "not-found", reply.reason);
      break;
    case IncidentOutcome::kConflict:
      response = ApiResponse::Error(409, "conflict", reply.reason);
      break;
    case IncidentOutcome::kFailed:
      response = ApiResponse::Error(500, "storage", reply.reason);
      break;
  }
  if (!reply.incident.id.empty()) response.body["incident"] = reply.incident.id;
  return response;
}

ApiResponse ControlRoutes::FromReply(const InterruptionReply& reply, const std::string& what) {
  if (reply.ok()) {
    ApiResponse response = Ok(InterruptionJson(reply.interruption));
    response.audit_detail = reply.interruption.incident_id + ": " + what;
    return response;
  }
  IncidentReply as_incident;
  as_incident.outcome = reply.outcome;
  as_incident.reason = reply.reason;
  return FromReply(as_incident, 200, what);
}

json ControlRoutes::Status(Role role) const {
  const Config& config = recorder_->config();
  json out = {{"device", config.device.id}, {"plate", config.device.plate}};
  out["cameras"] = Cameras();
  const Position& position = recorder_->position();
  json where = {{"state", gps::FixStateName(position.state())}};
  if (position.last_fix() && position.last_fix()->has_position()) {
    const gps::Fix& fix = *position.last_fix();
    where["latitude"] = fix.latitude_deg;
    where["longitude"] = fix.longitude_deg;
    where["text"] = Coordinates(fix.latitude_deg, fix.longitude_deg);
    if (!std::isnan(fix.speed_mps)) where["speed_kmh"] = std::round(fix.speed_mps * 36) / 10;
  }
  where["geofences"] = position.InsideGeofences();
  out["position"] = where;
  const gps::ClockStatus& clock = position.clock_status();
  json time = {{"verified", clock.verified},
               {"source", gps::TimeSourceName(clock.source)},
               {"reason", clock.reason}};
  if (clock.offset_ns) time["offset_s"] = *clock.offset_ns / 1e9;
  out["time"] = time;
  const auto& open = duty_->incidents().open_incident();
  if (role == Role::kTechnician) {
    out["incident"] = open ? json{{"open", true}} : json(nullptr);  // health, never evidence
  } else {
    // With its interruptions: the crew sees a gap going on, and which still need explaining.
    std::vector<storage::InterruptionRecord> gaps;
    bool listed = false;
    if (open && interruptions_) {
      auto rows = interruptions_->List(open->id);
      if (rows.ok()) {
        gaps = std::move(rows).value();
        listed = true;
      }
    }
    out["incident"] = open ? IncidentJson(*open, nullptr, listed ? &gaps : nullptr) : json(nullptr);
  }
  return out;
}

json ControlRoutes::Cameras() const {
  json cameras = json::array();
  std::map<std::string, CameraHealthNow> probes;
  for (CameraHealthNow& now : recorder_->HealthNow()) probes[now.camera] = std::move(now);
  for (const std::string& name : recorder_->camera_names()) {
    pipeline::CameraPipeline* camera = recorder_->camera(name);
    json item = {{"name", name},
                 {"state", recorder_->paused_cameras().count(name)
                               ? "paused"
                               : pipeline::CameraStateName(camera->state())}};
    std::string problem = camera->OverdueProblem(clock_->MonotonicNs());
    if (!problem.empty()) item["problem"] = problem;
    // The probes' states (docs/health.md): "state" is the picture's, or the sound's when the
    // picture is fine, so a screen can show one word per camera.
    const CameraHealthNow& now = probes[name];
    json health = {{"state", now.video_state != "ok" ? now.video_state : now.audio_state},
                   {"measured", now.measured},
                   {"video", now.video_state}};
    if (!now.video_cause.empty()) health["video_cause"] = now.video_cause;
    if (now.has_audio) {
      health["audio"] = now.audio_state;
      if (!now.audio_cause.empty()) health["audio_cause"] = now.audio_cause;
    }
    item["health"] = health;
    cameras.push_back(item);
  }
  return cameras;
}

json ControlRoutes::Health() const {
  const RecorderHealth health = recorder_->Health(clock_->MonotonicNs());
  json out = {{"cameras", Cameras()},
              {"recording", health.recording},
              {"failed", health.failed},
              {"paused", health.paused},
              {"segments_sealed", recorder_->segments_sealed()},
              {"seal_failures", recorder_->seal_failures()},
              {"unsealed_files", recorder_->UnsealedFiles().size()},
              {"gps", gps::FixStateName(recorder_->position().state())},
              {"time_verified", recorder_->position().clock_status().verified}};
  struct statvfs fs {};
  if (statvfs(recorder_->config().data_dir.c_str(), &fs) == 0) {
    out["disk"] = {{"free_bytes", static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize},
                   {"total_bytes", static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize}};
  }
  if (disk_guard_) {
    // The guard's view (through the Env, as its evictions see it) replaces the bare statvfs.
    const DiskGuardState& d = disk_guard_->state();
    json disk = out.contains("disk") ? out["disk"] : json::object();
    if (d.measured) {
      disk["free_bytes"] = d.space.free_bytes;
      disk["total_bytes"] = d.space.total_bytes;
    }
    disk["measured_by_guard"] = d.measured;
    disk["free_percent"] = std::round(d.space.free_percent() * 10) / 10;
    disk["min_free_percent"] = d.policy.min_free_percent;
    disk["target_free_percent"] = d.policy.target_free_percent;
    disk["background_retention_days"] = d.policy.background_retention_days;
    disk["evidence_local_retention_days"] = d.policy.evidence_local_retention_days;
    disk["evictable_bytes"] = {{"background", d.plan.evictable_background_bytes},
                               {"evidence", d.plan.evictable_evidence_bytes}};
    disk["kept_bytes"] = {{"waiting_for_verified_upload", d.plan.waiting_for_upload_bytes},
                          {"evidence", d.plan.evidence_kept_bytes},
                          {"pre_event_buffer", d.plan.recent_bytes}};
    disk["nothing_evictable"] = d.nothing_evictable;
    disk["alert"] = d.alert.empty() ? json(nullptr) : json(d.alert);
    disk["cameras_stopped_for_space"] = d.cameras_stopped_for_space;
    disk["evictions_since_start"] = d.evictions;
    disk["bytes_evicted_since_start"] = d.bytes_evicted;
    if (d.last_eviction) {
      const storage::EvictionRecord& e = *d.last_eviction;
      disk["last_eviction"] = {{"file", e.file},           {"camera", e.camera},
                               {"class", e.segment_class}, {"reason", e.reason},
                               {"bytes", e.bytes},         {"utc", Utc(e.removed_utc_ns)}};
    } else {
      disk["last_eviction"] = nullptr;
    }
    if (!d.error.empty()) disk["error"] = d.error;
    out["disk"] = disk;
  }
  // Hours of recording the free space holds at the configured bitrates (the in-car screen's
  // "storage left"; the self-check's estimate, daemon/self_check.h, uses the same rates).
  if (out.contains("disk") && out["disk"].contains("free_bytes")) {
    int64_t kbps = 0;
    for (const CameraConfig& c : recorder_->config().cameras) {
      kbps += c.bitrate_kbps + (c.audio != AudioKind::kNone ? kAudioBitrateKbps : 0);
    }
    if (kbps > 0) {
      const double bytes_per_hour = kbps * 1000.0 / 8 * 3600;
      out["record_hours_left"] =
          std::floor(out["disk"]["free_bytes"].get<double>() / bytes_per_hour * 10) / 10;
    }
  }
  json inputs = json::array();
  for (const std::string& d : duty_->InputDescriptions()) inputs.push_back(d);
  out["inputs"] = inputs;
  out["input_problems"] = duty_->InputProblems();
  return out;
}

}  // namespace patrolrec::daemon
