#pragma once
// Model CI/CD over HTTP (Cairn's API; errors in the Cairn dialect: 400 naming the
// file:line / field and value, 404 naming the model / version / evaluation, 409
// FAILED_PRECONDITION when a promotion's conditions do not hold — the message says what to
// run). Handlers only translate HTTP ↔ cicd.
//
//   POST /api/v1/cicd/apply {"files", "dry_run", "prune"} → {"changes": [{"kind":
//        "Policy", …}], "applied"} (documents of other kinds are skipped)
//   GET  /api/v1/cicd/policies → {"policies": [PolicyVersionToJson]}
//   GET  /api/v1/cicd/policies/{name} → {"policy": PolicyVersionToJson}
//   POST /api/v1/cicd/check {"model", "version", "actor"} → {"evaluation":
//        EvaluationToJson, "promotion": {"action", "alias", "from_version",
//        "to_version", "detail"}, "report_text", "report_markdown"}
//   GET  /api/v1/cicd/evaluations?model=&version=&limit= → {"evaluations": [...]}
//   GET  /api/v1/cicd/evaluations/{id}?format=markdown|text → the evaluation (JSON), or
//        the report as text/markdown / text/plain
//   POST /api/v1/models/{name}/promote {"version", "actor", "override_reason"}
//        → {"promotion": …}
//   POST /api/v1/models/{name}/approve {"version", "actor"} → {"promotion": …}
//   POST /api/v1/models/{name}/rollback {"alias" (default production), "actor",
//        "reason"} → {"promotion": …}
//
// The actor is the body's "actor", else the x-cairn-actor header, else "anonymous".
// (GET /api/v1/models/{name}/alias-history is the registry's: registry_handlers.h.)

#include "api/router.h"

namespace cairn::api {

struct ApiContext;

// Registers the routes whose parts `ctx` has (policies / evaluations / promotion); `ctx`
// outlives the router.
void RegisterCicdRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
