#pragma once
// Registry webhooks over HTTP, in two dialects. Handlers only translate HTTP ↔
// cicd::Webhooks.
//
// MLflow's webhook API (mlflow/protos/webhooks.proto), so that MlflowClient's
// create_webhook / list_webhooks / get_webhook / update_webhook / delete_webhook /
// test_webhook work against Cairn; under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/,
// errors in MLflow's dialect (404 RESOURCE_DOES_NOT_EXIST, 400 INVALID_PARAMETER_VALUE):
//   POST   webhooks {"name", "url", "events": [{"entity": "MODEL_VERSION", "action":
//          "CREATED"}], "description", "secret", "status": "ACTIVE" | "DISABLED"}
//          → {"webhook": W}
//   GET    webhooks?max_results=&page_token= → {"webhooks": [W], "next_page_token"}
//          (webhooks subscribed only to Cairn's events are left out)
//   GET    webhooks/{webhook_id} → {"webhook": W}
//   PATCH  webhooks/{webhook_id} {fields to change; as MLflow: "" name / url and an empty
//          events list change nothing, a present "secret" (even "") replaces it}
//          → {"webhook": W}
//   DELETE webhooks/{webhook_id} → {}
//   POST   webhooks/{webhook_id}/test {"event": {"entity", "action"}} (optional)
//          → {"result": {"success", "response_status", "response_body", "error_message"}}
//   W = {"webhook_id", "name", "description", "url", "events": [{"entity", "action"}] (MLflow
//        events only), "status", "creation_timestamp", "last_updated_timestamp"}; the
//        secret is never returned. An event may also be written "model_version.created";
//        Cairn's {"entity": "EVALUATION", "action": "FINISHED"} is accepted.
//
// Cairn's own API (errors in the Cairn dialect), events as "entity.action" strings,
// evaluation.finished included:
//   POST   /api/v1/webhooks {"name", "url", "events": ["model_version.created",
//          "evaluation.finished"], "description", "secret", "status"} → {"webhook": C}
//   GET    /api/v1/webhooks?max_results=&page_token= → {"webhooks": [C], "next_page_token"}
//   GET    /api/v1/webhooks/{id} → {"webhook": C}
//   PATCH  /api/v1/webhooks/{id} {fields to change} → {"webhook": C}
//   DELETE /api/v1/webhooks/{id} → {}
//   POST   /api/v1/webhooks/{id}/test {"event": "model_version.created"} → {"result": …}
//   GET    /api/v1/webhooks/{id}/deliveries?limit=N (1..1000, default 50)
//          → {"deliveries": [{"delivery_id", "attempt", "event", "time_ms", "success",
//             "final", "test", "http_status", "error", "next_try_ms", "payload"}]} newest
//             first
//   GET    /api/v1/webhooks/{id}/outbox?limit=N (1..1000, default 50): its deliveries
//          (one per event), newest first → {"outbox": [{"delivery_id", "event", "state":
//          "pending" | "delivered" | "failed" | "dropped", "attempts", "accepted_ms",
//          "next_try_ms", "finished_ms"}]}
//   C = {"id", "name", "description", "url", "events", "status", "has_secret",
//        "creation_timestamp", "last_updated_timestamp"}

#include "api/router.h"

namespace cairn::cicd {
class Webhooks;
}  // namespace cairn::cicd

namespace cairn::api {

// `webhooks` outlives the router.
void RegisterWebhookRoutes(Router& router, cicd::Webhooks& webhooks);

}  // namespace cairn::api
