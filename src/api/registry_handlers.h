#pragma once
// MLflow's model-registry REST API, as `mlflow server` serves it (paths under
// /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/; fields, defaults and error codes as in
// mlflow/server/handlers.py):
//   POST   registered-models/create | rename | set-tag | alias
//   PATCH  registered-models/update
//   DELETE registered-models/delete | delete-tag | alias
//   GET    registered-models/get | alias (→ {"model_version": …})
//   GET|POST registered-models/search | get-latest-versions
//   POST   model-versions/create | transition-stage | set-tag
//   PATCH  model-versions/update
//   DELETE model-versions/delete | delete-tag
//   GET    model-versions/get | get-download-uri
//   GET|POST model-versions/search
//   GET    /model-versions/get-artifact?name=&version=&path=  (MLflow's UI: a file of the
//          version, streamed from the artifact store when its URI is mlflow-artifacts:/…)
// and Cairn's alias audit trail:
//   GET    /api/v1/models/{name}/alias-history
//          → {"alias_changes": [{"alias", "from_version", "to_version", "time", "actor",
//             "reason"}, …]} newest first; versions are JSON integers, from_version is null
//             when the alias was created and to_version null when it was deleted; 404
//             (Cairn error dialect) for an unknown model.
// Alias changes take the actor from header `x-cairn-actor` (default "anonymous") and the
// reason from the body field `reason` or header `x-cairn-reason`.

#include "api/api_context.h"
#include "api/router.h"

namespace cairn::api {

// Registers all of the above. `ctx` must outlive the router; ctx.registry must be set;
// ctx.tracking (run lookups for runs:/ sources), ctx.logged_models (models:/m-… sources)
// and ctx.artifacts (get-artifact) are used when set.
void RegisterRegistryRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
