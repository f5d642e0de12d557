#include "api/routes.h"

#include "api/artifact_handlers.h"
#include "api/alert_handlers.h"
#include "api/cicd_handlers.h"
#include "api/compute_handlers.h"
#include "api/drift_handlers.h"
#include "api/endpoint_handlers.h"
#include "api/feature_data_handlers.h"
#include "api/feature_definition_handlers.h"
#include "api/monitor_handlers.h"
#include "api/online_feature_handlers.h"
#include "api/pipeline_handlers.h"
#include "api/profile_handlers.h"
#include "features/feature_store.h"
#include "api/registry_handlers.h"
#include "api/tracking_handlers.h"
#include "api/webhook_handlers.h"
#include "api/api_context.h"

namespace cairn::api {

Router BuildRouter(const ApiContext& ctx) {
  Router router;
  RegisterTrackingRoutes(router, ctx);
  RegisterRegistryRoutes(router, ctx);
  RegisterArtifactRoutes(router, ctx);
  if (ctx.feature_registry != nullptr) RegisterFeatureDefinitionRoutes(router, ctx);
  if (ctx.feature_store != nullptr) {
    RegisterFeatureDataRoutes(router, ctx.feature_store, ctx.events);
    // The embedded store answers from memory: run on the I/O thread, no worker handoff.
    RegisterOnlineFeatureRoutes(router, &ctx.feature_store->online_service(),
                                ctx.feature_store->online_is_embedded());
  }
  if (ctx.pipelines != nullptr) RegisterPipelineRoutes(router, *ctx.pipelines);
  if (!ctx.executors.empty()) RegisterComputeRoutes(router, ctx.executors);
  if (ctx.profiles != nullptr) RegisterProfileRoutes(router, ctx.profiles);
  if (ctx.alerts != nullptr) RegisterAlertRoutes(router, *ctx.alerts);
  if (ctx.monitors != nullptr) RegisterMonitorRoutes(router, *ctx.monitors);
  RegisterDriftRoutes(router);
  RegisterEndpointRoutes(router, ctx);
  RegisterCicdRoutes(router, ctx);
  if (ctx.webhooks != nullptr) RegisterWebhookRoutes(router, *ctx.webhooks);
  return router;
}

}  // namespace cairn::api
