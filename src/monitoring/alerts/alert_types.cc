#include "monitoring/alerts/alert_types.h"

namespace cairn::monitoring {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "warning";
}

std::optional<Severity> ParseSeverity(std::string_view text) {
  if (text == "info") return Severity::kInfo;
  if (text == "warning") return Severity::kWarning;
  if (text == "critical") return Severity::kCritical;
  return std::nullopt;
}

std::string_view AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kOpen:
      return "open";
    case AlertState::kAcknowledged:
      return "acknowledged";
    case AlertState::kResolved:
      return "resolved";
  }
  return "open";
}

std::optional<AlertState> ParseAlertState(std::string_view text) {
  if (text == "open") return AlertState::kOpen;
  if (text == "acknowledged") return AlertState::kAcknowledged;
  if (text == "resolved") return AlertState::kResolved;
  return std::nullopt;
}

std::string_view RetrainPhaseName(RetrainPhase p) {
  switch (p) {
    case RetrainPhase::kNone:
      return "none";
    case RetrainPhase::kRetraining:
      return "retraining";
    case RetrainPhase::kAwaitingModel:
      return "awaiting_model";
    case RetrainPhase::kAwaitingVerification:
      return "awaiting_verification";
    case RetrainPhase::kExhausted:
      return "exhausted";
  }
  return "none";
}

std::optional<RetrainPhase> ParseRetrainPhase(std::string_view text) {
  for (RetrainPhase p : {RetrainPhase::kNone, RetrainPhase::kRetraining,
                         RetrainPhase::kAwaitingModel, RetrainPhase::kAwaitingVerification,
                         RetrainPhase::kExhausted}) {
    if (RetrainPhaseName(p) == text) return p;
  }
  return std::nullopt;
}

Json RetrainActionToJson(const RetrainAction& action) {
  Json params = Json::object();
  for (const auto& [name, value] : action.params) params[name] = value;
  Json out{{"pipeline", action.pipeline},
           {"params", std::move(params)},
           {"max_attempts", action.max_attempts},
           {"await_model", action.await_model}};
  if (!action.await_alias.empty()) out["await_alias"] = action.await_alias;
  return out;
}

Json SinkSpecToJson(const SinkSpec& sink, bool with_secret) {
  Json out{{"kind", sink.kind}, {"url", sink.url}};
  if (with_secret) out["secret"] = sink.secret;
  return out;
}

Json AlertEventToJson(const AlertEvent& event) {
  Json attributes = Json::object();
  for (const auto& [name, value] : event.attributes) attributes[name] = value;
  return Json{{"seq", event.seq},
              {"time_ms", event.time_ms},
              {"kind", event.kind},
              {"message", event.message},
              {"attributes", std::move(attributes)}};
}

Json AlertToJson(const Alert& alert, bool with_timeline) {
  Json out{{"id", alert.id},
           {"monitor", alert.monitor},
           {"monitor_version", alert.monitor_version},
           {"kind", alert.kind},
           {"severity", SeverityName(alert.severity)},
           {"state", AlertStateName(alert.state)},
           {"summary", alert.summary},
           {"details", alert.details.is_null() ? Json::object() : alert.details},
           {"occurrences", alert.occurrences},
           {"first_monitor_run", alert.first_monitor_run},
           {"last_monitor_run", alert.last_monitor_run},
           {"opened_ms", alert.opened_ms},
           {"updated_ms", alert.updated_ms},
           {"resolved_ms", alert.resolved_ms},
           {"acknowledged_by", alert.acknowledged_by},
           {"resolved_by", alert.resolved_by}};
  if (alert.retrain.has_value()) {
    Json retrain = RetrainActionToJson(*alert.retrain);
    retrain["phase"] = RetrainPhaseName(alert.phase);
    retrain["attempts"] = alert.attempts;
    retrain["run"] = alert.retrain_run;
    retrain["runs"] = alert.retrain_runs;
    out["retrain"] = std::move(retrain);
  } else {
    out["retrain"] = nullptr;
  }
  Json sinks = Json::array();
  for (const SinkSpec& sink : alert.sinks) sinks.push_back(SinkSpecToJson(sink, false));
  out["sinks"] = std::move(sinks);
  if (with_timeline) {
    Json timeline = Json::array();
    for (const AlertEvent& event : alert.timeline) timeline.push_back(AlertEventToJson(event));
    out["timeline"] = std::move(timeline);
  }
  return out;
}

}  // namespace cairn::monitoring
