#pragma once
// The vocabulary shared by monitors (which raise alerts) and the alert service (which
// keeps them, notifies sinks, triggers retraining and escalates): severities, states,
// the actions a Monitor definition declares, and what one monitor run reports.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace cairn::monitoring {

enum class Severity { kInfo, kWarning, kCritical };
enum class AlertState { kOpen, kAcknowledged, kResolved };

std::string_view SeverityName(Severity s);  // "info" | "warning" | "critical"
std::optional<Severity> ParseSeverity(std::string_view text);
std::string_view AlertStateName(AlertState s);  // "open" | "acknowledged" | "resolved"
std::optional<AlertState> ParseAlertState(std::string_view text);

// Where an alert is announced. kind "webhook": JSON POST to `url`, signed under `secret`
// with a timestamp (header X-Cairn-Signature: t=<unix s>,v1=<HMAC-SHA256 hex of
// "<t>.<body>">, common/webhook_signature.h), retried with exponential backoff; kind
// "log": a line in the server log.
struct SinkSpec {
  std::string kind;    // "webhook" | "log"
  std::string url;     // webhook
  std::string secret;  // webhook; may name an environment variable as "${NAME}"
  bool operator==(const SinkSpec&) const = default;
};

// `on_alert.pipeline` of a Monitor: the pipeline to run when the monitor raises an alert
// (retraining), its parameters (values may use {{alert.id}}, {{monitor}}), and the
// escalation policy: after a retraining run that failed, or that succeeded (and, with
// await_model, after a new version of that model was registered — or, with await_alias
// too, after that alias of the model moved: the retrained model was promoted) while the next
// monitor run still finds the problem, the alert escalates to critical and retraining is tried
// again until `max_attempts` runs were made; then it stops triggering and pages the sinks.
struct RetrainAction {
  std::string pipeline;
  std::map<std::string, std::string> params;
  int max_attempts = 2;
  std::string await_model;  // empty: do not wait for a registered model version
  std::string await_alias;  // with await_model: wait for this alias to move, not a registration
  bool operator==(const RetrainAction&) const = default;
};

// What one monitor run found, handed to AlertService::OnMonitorRun.
struct MonitorOutcome {
  std::string monitor;
  int64_t monitor_version = 0;
  std::string run_id;          // the stored monitor run
  std::string kind;            // "drift" | "constraints"
  bool problem = false;        // drift found / constraints violated
  Severity severity = Severity::kWarning;  // the monitor's severity for a new alert
  std::string summary;         // one line: "4 of 25 columns drifted (share 0.16 < 0.5)…"
  Json details;                // the run's result (drifted columns, violations)
  std::optional<RetrainAction> retrain;
  std::vector<SinkSpec> sinks;
  int64_t time_ms = 0;
};

// Where an alert stands in the retraining loop (issue 5 item 7). Only alerts whose monitor
// declared `on_alert.pipeline` leave kNone.
//   kNone                  no retraining (none declared, or not started yet)
//   kRetraining            a retraining run was started and has not finished
//   kAwaitingModel         that run succeeded; waiting for a new version of `await_model`
//   kAwaitingVerification  retrained (and the model registered): the next monitor run decides
//   kExhausted             max_attempts runs were made without fixing it: no more
//                          retraining, the sinks were paged
enum class RetrainPhase { kNone, kRetraining, kAwaitingModel, kAwaitingVerification, kExhausted };
// "none" | "retraining" | "awaiting_model" | "awaiting_verification" | "exhausted"
std::string_view RetrainPhaseName(RetrainPhase p);
std::optional<RetrainPhase> ParseRetrainPhase(std::string_view text);

// One entry of an alert's timeline. `kind` is one of:
//   opened, repeated, resolved, acknowledged, escalated, retrain_started,
//   retrain_start_failed, retrain_succeeded, retrain_failed, model_registered,
//   retrain_exhausted, verification_pending, delivery_failed, delivered
// `message` is a sentence a person can act on; `attributes` holds the ids it mentions
// (monitor_run, pipeline_run, sink, attempt, http_status, …).
struct AlertEvent {
  int64_t seq = 0;  // 1, 2, 3 … within the alert, in time order
  int64_t time_ms = 0;
  std::string kind;
  std::string message;
  std::map<std::string, std::string> attributes;
  bool operator==(const AlertEvent&) const = default;
};

// An alert: one per (monitor, kind) while not resolved; a repeat of the problem updates
// it (occurrences, last_monitor_run, summary, details) and adds a timeline event.
struct Alert {
  std::string id;  // 32 hex digits
  std::string monitor;
  int64_t monitor_version = 0;
  std::string kind;  // "drift" | "constraints"
  Severity severity = Severity::kWarning;
  AlertState state = AlertState::kOpen;
  std::string summary;  // the latest monitor run's one-line summary
  Json details;         // the latest monitor run's result
  int64_t occurrences = 1;  // monitor runs that found the problem while this alert was open
  std::string first_monitor_run;
  std::string last_monitor_run;
  int64_t opened_ms = 0;
  int64_t updated_ms = 0;
  int64_t resolved_ms = 0;     // 0 while not resolved
  std::string acknowledged_by;  // who acknowledged it (empty: nobody)
  std::string resolved_by;      // a person, or "cairn" when a monitor run resolved it
  // Retraining (absent when the monitor declared none).
  std::optional<RetrainAction> retrain;
  RetrainPhase phase = RetrainPhase::kNone;
  int attempts = 0;                     // retraining runs started (or tried) so far
  std::string retrain_run;              // the latest retraining run id ("" when none)
  std::vector<std::string> retrain_runs;  // every retraining run, oldest first
  // With retrain.await_model: the version of that model registered while the current
  // retraining run was still going ("" when none); persisted with the alert, so the run's
  // success moves the alert straight to kAwaitingVerification. Cleared when a run starts.
  std::string registered_version;
  std::vector<SinkSpec> sinks;
  std::vector<AlertEvent> timeline;  // filled by Get (List leaves it empty)
};

// A filter for listing alerts; empty fields match everything. Newest (opened_ms) first.
struct AlertFilter {
  std::optional<AlertState> state;
  std::string monitor;
  std::optional<Severity> severity;
  int limit = 100;  // 1..1000
};

// JSON for the API: {"id","monitor","monitor_version","kind","severity","state","summary",
// "details","occurrences","first_monitor_run","last_monitor_run","opened_ms","updated_ms",
// "resolved_ms","acknowledged_by","resolved_by","retrain": {"pipeline","params",
// "max_attempts","await_model","phase","attempts","run","runs"} | null, "sinks": [{"kind",
// "url"}] (never the secret), "timeline": [{"seq","time_ms","kind","message",
// "attributes"}] (only when with_timeline)}.
Json AlertToJson(const Alert& alert, bool with_timeline);
Json AlertEventToJson(const AlertEvent& event);
Json RetrainActionToJson(const RetrainAction& action);
Json SinkSpecToJson(const SinkSpec& sink, bool with_secret);

}  // namespace cairn::monitoring
