#pragma once
// Feature-store definitions over HTTP (Cairn's API; errors in the Cairn dialect, 400 for
// a bad definition with its file:line message, 404 naming a missing object). Handlers
// only translate HTTP ↔ features::FeatureRegistry.
//
//   POST /api/v1/features/apply
//        {"files": [{"path": "a.yaml", "content": "…"}], "dry_run": false, "prune": false}
//        → {"changes": [{"kind", "name", "action": added|changed|unchanged|removed,
//           "old_version", "new_version" (null when none), "diffs": [{"path", "old",
//           "new"}], "file", "line"}], "applied": bool}
//        (applied is false for a dry run and when nothing changed)
//   GET  /api/v1/features/{entities|sources|views|services}
//        → {"items": [{…canonical spec…, "version", "content_hash", "created_at"}]}
//          (the latest version of each object that is not removed, sorted by name)
//   GET  /api/v1/features/{kind}/{name}
//        → the latest item plus "versions": [{"version", "content_hash", "created_at"}]
//   GET  /api/v1/features/{kind}/{name}/versions/{version}
//        → that version's item plus "removed" (true when the object was removed after it)

#include "api/api_context.h"
#include "api/router.h"

namespace cairn::api {

// Registers the routes above. `ctx` and ctx.feature_registry must outlive the router.
// Apply goes through ctx.apply_features when set (the feature store creates its tables
// with the new versions), else straight to the registry.
void RegisterFeatureDefinitionRoutes(Router& router, const ApiContext& ctx);

}  // namespace cairn::api
