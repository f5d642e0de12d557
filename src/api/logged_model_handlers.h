#pragma once
// MLflow 3 logged models (/api/2.0/mlflow/logged-models…) and run outputs
// (POST /api/2.0/mlflow/runs/outputs), with MLflow's request fields and response shapes:
//   POST   logged-models                       create → {"model": LoggedModel}
//   GET    logged-models/{model_id}            get (?allow_deleted=true)
//   PATCH  logged-models/{model_id}            finalize (status)
//   DELETE logged-models/{model_id}            soft delete
//   POST   logged-models/search                search → {"models": […], "next_page_token"}
//   PATCH  logged-models/{model_id}/tags       set tags
//   DELETE logged-models/{model_id}/tags/{key} delete a tag
//   POST   logged-models/{model_id}/params     log params
//   GET    logged-models/{model_id}/artifacts/directories[?artifact_directory_path=…]
//   POST   runs/outputs                        link models to a run as outputs
// Registered by RegisterArtifactRoutes (artifact_handlers.h).

#include "api/api_context.h"
#include "api/router.h"

namespace cairn::api {

void RegisterLoggedModelRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
