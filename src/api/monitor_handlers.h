#pragma once
// Monitors and their runs over HTTP (Cairn's API; errors in the Cairn dialect: 400
// INVALID_PARAMETER_VALUE naming the file:line / field and value, 404 naming the monitor
// or run). Handlers only translate HTTP ↔ monitoring::MonitorService.
//
//   POST /api/v1/monitoring/apply {"files": [{"path", "content"}], "dry_run", "prune"}
//        → {"changes": [{"kind": "Monitor", "name", "action", "old_version",
//           "new_version", "diffs": [{"path", "old", "new"}], "file", "line"}], "applied"}
//        (documents of other kinds are skipped; a bad monitor answers 400 with its
//        file:line message and nothing is applied)
//   GET  /api/v1/monitoring/monitors → {"monitors": [summary]}; summary = {"name",
//        "version", "content_hash", "description", "owner", "target", "reference",
//        "schedule" (cron or null), "trigger" (event or null), "severity", "on_alert"
//        (pipeline or null), "created_ms", "removed"}
//   GET  /api/v1/monitoring/monitors/{name} → {"monitor": summary + {"spec": canonical
//        JSON (webhook secrets shown as "***" unless they name a ${VARIABLE}),
//        "schedule_state": {"cron", "catchup" (none|latest|all), "handled_until_ms" (every
//        fire time at or before it was handled), "next_fire_ms", "last_fire_ms",
//        "last_run_id", "last_error"} or null, "last_run": run or null}}
//   POST /api/v1/monitoring/monitors/{name}/run → {"run": run with "result"} (runs now,
//        answers when the run has ended; a run that could not read its data is answered
//        with state "failed" and its message)
//   GET  /api/v1/monitoring/monitors/{name}/runs?limit=N (1..1000, default 50)
//        → {"runs": [run]} newest first
//   GET  /api/v1/monitoring/runs/{id} → {"run": run with "result"}
//   GET  /api/v1/monitoring/runs/{id}/report → text/html (404 when the run has none);
//        ?format=json → {"html": "…"} (the CLI)
//
// A run: monitoring::MonitorRunToJson.

#include "api/router.h"

namespace cairn::monitoring {
class MonitorService;
}  // namespace cairn::monitoring

namespace cairn::api {

// `monitors` outlives the router.
void RegisterMonitorRoutes(Router& router, monitoring::MonitorService& monitors);

}  // namespace cairn::api
