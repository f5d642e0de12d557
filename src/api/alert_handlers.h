#pragma once
// Alerts of monitors over HTTP (issue 5 item 6; Cairn's error dialect: 400
// INVALID_PARAMETER_VALUE naming the field and value, 404 RESOURCE_DOES_NOT_EXIST naming
// the alert, 409-class FAILED_PRECONDITION for acting on a resolved alert). Handlers only
// translate HTTP ↔ monitoring::AlertService.
//
//   GET  /api/v1/monitoring/alerts?state=&monitor=&severity=&limit=
//        → {"alerts": [alert without "timeline"]}, newest first; state open|acknowledged|
//        resolved, severity info|warning|critical, limit 1..1000 (default 100)
//   GET  /api/v1/monitoring/alerts/{id} → {"alert": alert with "timeline"}
//   POST /api/v1/monitoring/alerts/{id}/ack {"by", "note"} → {"alert": …}
//   POST /api/v1/monitoring/alerts/{id}/resolve {"by", "note"} → {"alert": …}
//
// An alert is monitoring::AlertToJson (alert_types.h): {"id", "monitor", "monitor_version",
// "kind", "severity", "state", "summary", "details", "occurrences", "first_monitor_run",
// "last_monitor_run", "opened_ms", "updated_ms", "resolved_ms", "acknowledged_by",
// "resolved_by", "retrain": {"pipeline", "params", "max_attempts", "await_model", "phase",
// "attempts", "run", "runs"} | null, "sinks": [{"kind", "url"}], "timeline": [{"seq",
// "time_ms", "kind", "message", "attributes"}]}.

#include "api/router.h"

namespace cairn::monitoring {
class AlertService;
}  // namespace cairn::monitoring

namespace cairn::api {

// `alerts` outlives the router.
void RegisterAlertRoutes(Router& router, monitoring::AlertService& alerts);

}  // namespace cairn::api
