#pragma once
// Compute status over HTTP (Cairn's API):
//
//   GET /api/v1/compute/status
//       → {"executors": [{"name", "capacity": {cpus, memory_bytes, memory, gpus},
//          "in_use": {…same…}, "running", "queued", "detail",
//          "jobs": [{"job_id", "state", "reason", "exit_code", "signal", "message", "host",
//                    "gpus", "queued_ms", "started_ms", "ended_ms"}]}]}
//
// Handlers only translate HTTP ↔ compute::Executor::Status().

#include <vector>

#include "api/router.h"
#include "common/json.h"
#include "compute/executor.h"

namespace cairn::api {

// {"cpus", "memory_bytes", "memory" ("4Gi"), "gpus", "timeout_ms"}.
Json ResourcesToJson(const compute::Resources& resources);
Json JobStatusToJson(const compute::JobStatus& job);
Json ExecutorStatusToJson(const compute::ExecutorStatus& status);

// Registers the route above. The executors (in the order given) must outlive the router.
void RegisterComputeRoutes(Router& router, std::vector<compute::Executor*> executors);

}  // namespace cairn::api
