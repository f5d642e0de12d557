#pragma once
// MLflow's tracking REST API, as `mlflow server` serves it (paths under /api/2.0/mlflow/
// and /ajax-api/2.0/mlflow/; fields, defaults, response shapes and error codes as in
// mlflow/protos/service.proto and mlflow/server/handlers.py):
//   POST     experiments/create | update | delete | restore | set-experiment-tag
//            | delete-experiment-tag
//   GET      experiments/get | get-by-name
//   GET|POST experiments/search
//   POST     runs/create | update | delete | restore | log-metric | log-parameter | set-tag
//            | delete-tag | log-batch | log-inputs
//   GET      runs/get
//   POST     runs/search
//   GET      metrics/get-history | get-history-bulk-interval
// Handlers only translate HTTP ↔ TrackingStore calls. Errors are MLflow's error JSON
// (api/errors.h): INVALID_PARAMETER_VALUE 400, RESOURCE_DOES_NOT_EXIST 404,
// RESOURCE_ALREADY_EXISTS 400. A handler never throws.

#include "api/api_context.h"
#include "api/router.h"

namespace cairn::api {

// Registers all of the above. `ctx` must outlive the router; ctx.tracking must be set.
void RegisterTrackingRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
