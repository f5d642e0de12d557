#pragma once
// Data profiles and constraints over HTTP (Cairn's API; errors in the Cairn dialect: 400
// INVALID_PARAMETER_VALUE naming the field and value, 404 RESOURCE_DOES_NOT_EXIST naming
// the profile). Handlers only turn JSON / CSV into DataFrames or profiles and call the
// profile module (monitoring/profile.h, constraints.h) and the store (profile_store.h).
//
//   POST /api/v1/monitoring/profiles
//        {"name", exactly one of "data": {"col": [values…], …} | "csv": "CSV text with a
//         header line" | "profile": {a profile's JSON, e.g. computed by `cairn profiles
//         create`}, "categorical": [names] (data / csv: read as categories),
//         "source" (default "api"), "constraints": {SageMaker-shaped constraints to store
//         instead of the inferred ones}, "max_domain_size": 100 (inference)}
//        → profile detail (below), stored as a new version of `name`
//   GET  /api/v1/monitoring/profiles → {"profiles": [summary]} (latest version of each)
//   GET  /api/v1/monitoring/profiles/{name}[?version=N] → profile detail
//   GET  /api/v1/monitoring/profiles/{name}/versions → {"versions": [summary]}
//   DELETE /api/v1/monitoring/profiles/{name} → {"deleted": name}
//   POST /api/v1/monitoring/profiles/{name}/check {"data" | "csv" | "profile" as above,
//        "categorical", "version"} → {"name", "version", "rows", "passed",
//        "violations": [{"feature_name", "constraint_check_type", "description"}]}
//
// summary = {"name", "version", "rows", "column_count", "source", "created_ms"};
// detail = summary + {"profile": ProfileToJson, "constraints": ConstraintsToJson}.

#include "api/router.h"

namespace cairn::monitoring {
class ProfileStore;
}  // namespace cairn::monitoring

namespace cairn::api {

// `store` must outlive the router.
void RegisterProfileRoutes(Router& router, monitoring::ProfileStore* store);

}  // namespace cairn::api
