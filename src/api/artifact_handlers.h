#pragma once
// MLflow's artifact proxy and artifact listings, as `mlflow server --serve-artifacts`
// serves them:
//   PUT    /api/2.0/mlflow-artifacts/artifacts/<path>   upload (body streamed to a file)
//   GET    /api/2.0/mlflow-artifacts/artifacts/<path>   download (streamed from the file)
//   DELETE /api/2.0/mlflow-artifacts/artifacts/<path>
//   GET    /api/2.0/mlflow-artifacts/artifacts?path=…   list one directory
//   GET    /api/2.0/mlflow/artifacts/list               list a run's artifacts
//   GET    /get-artifact?run_id=…&path=…               download one run artifact (the UI)
//   GET    /api/3.0/mlflow/server-info                  artifact capabilities (no multipart)
// (each also under /ajax-api/2.0/…), plus the MLflow 3 logged-model routes
// (logged_model_handlers.h). Paths that would leave the artifact root are
// INVALID_PARAMETER_VALUE (400); missing files RESOURCE_DOES_NOT_EXIST (404).

#include "api/api_context.h"
#include "api/router.h"

namespace cairn::api {

// Registers all of the above. `ctx` must outlive the router; ctx.artifacts and
// ctx.tracking must be set, ctx.logged_models for the logged-model routes.
void RegisterArtifactRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
