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

// Where an alert is announced. kind "webhook": JSON POST to `url`, signed with
// HMAC-SHA256 of the body under `secret` (header X-Cairn-Signature: sha256=<hex>), retried
// with exponential backoff; kind "log": a line in the server log.
struct SinkSpec {
  std::string kind;    // "webhook" | "log"
  std::string url;     // webhook
  std::string secret;  // webhook; may name an environment variable as "${NAME}"
  bool operator==(const SinkSpec&) const = default;
};

// `on_alert.pipeline` of a Monitor: the pipeline to run when the monitor raises an alert
// (retraining), its parameters (values may use {{alert.id}}, {{monitor}}), and the
// escalation policy: after a retraining run that failed, or that succeeded (and, with
// await_model, after a new version of that model was registered) while the next monitor
// run still finds the problem, the alert escalates to critical and retraining is tried
// again until `max_attempts` runs were made; then it stops triggering and pages the sinks.
struct RetrainAction {
  std::string pipeline;
  std::map<std::string, std::string> params;
  int max_attempts = 2;
  std::string await_model;  // empty: do not wait for a registered model version
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

}  // namespace cairn::monitoring
