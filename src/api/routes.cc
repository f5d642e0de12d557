#include "api/routes.h"

#include "api/artifact_handlers.h"
#include "api/feature_definition_handlers.h"
#include "api/registry_handlers.h"
#include "api/tracking_handlers.h"

namespace cairn::api {

Router BuildRouter(const ApiContext& ctx) {
  Router router;
  RegisterTrackingRoutes(router, ctx);
  RegisterRegistryRoutes(router, ctx);
  RegisterArtifactRoutes(router, ctx);
  if (ctx.feature_registry != nullptr) RegisterFeatureDefinitionRoutes(router, ctx);
  return router;
}

}  // namespace cairn::api
