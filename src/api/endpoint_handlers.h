#pragma once
// Serving endpoints over HTTP (Cairn's API; errors in the Cairn dialect: 400
// INVALID_PARAMETER_VALUE naming the file:line / field and value, 404 naming the endpoint,
// 409 for a conflicting rollout, 429 with Retry-After when the endpoint is saturated, 503
// when it has no loaded model). Handlers only translate HTTP ↔ serving.
//
//   POST /api/v1/endpoints/apply {"files": [{"path", "content"}], "dry_run", "prune"}
//        → {"changes": [{"kind": "Endpoint", "name", "action", "old_version",
//           "new_version", "diffs", "file", "line"}], "applied"}; then the deployments
//           follow (EndpointService::Sync); "sync_error" when a model could not load
//   GET  /api/v1/endpoints → {"endpoints": [DeploymentStatusToJson + "definition":
//        EndpointVersionToJson]}
//   GET  /api/v1/endpoints/{name} → EndpointService::Describe
//   POST /api/v1/endpoints/{name}/predict → EndpointService::Predict's body
//   POST /api/v1/endpoints/{name}/predict-batch {"input": CSV path | "training_set": id,
//        "output": CSV path} (exactly one of input and training_set; paths on the server,
//        under its data directory) → {"rows": N, "output": path[, "training_set": id]};
//        EndpointService::PredictBatch / PredictTrainingSet
//   GET  /api/v1/endpoints/{name}/inference-log?from_ms=&to_ms=&variant=&max_results=
//        &page_token= → {"records": [record], "next_page_token"}; record = {"id",
//        "endpoint", "model", "model_version", "variant", "time_ms", "latency_us",
//        "features", "prediction", "error", "label" (null until posted), "label_time_ms"}
//   POST /api/v1/endpoints/{name}/labels {"labels": [{"id", "label"}]}
//        → {"results": [{"id", "ok", "error"}], "labelled": N}
//   POST /api/v1/endpoints/{name}/rollouts {"mode", "version" | "alias", "percent",
//        "guard", "on_pass", "on_fail", "actor", "reason"} → {"rollout": RolloutToJson}
//   GET  /api/v1/endpoints/{name}/rollouts → {"rollouts": [...]} newest first
//   POST /api/v1/endpoints/{name}/rollouts/{id}/promote|rollback {"actor", "reason"}
//        → {"rollout": ...}
//   GET  /api/v1/endpoints/{name}/events?limit=&kind= → {"events": [...]} newest first
//
// The actor is the body's "actor", else the x-cairn-actor header, else "anonymous".

#include "api/router.h"

namespace cairn::api {

struct ApiContext;

// Registers the routes whose parts `ctx` has (endpoint_registry / endpoints / endpoint_store
// / inference_log); `ctx` outlives the router.
void RegisterEndpointRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
