#pragma once
// MLflow 3's webhook wire format (mlflow/webhooks/delivery.py, types.py,
// mlflow/entities/webhook.py), so that a receiver written for MLflow verifies Cairn's
// deliveries unchanged:
//   * events "entity.action": MLflow's fifteen (registered_model.created,
//     model_version.created, model_version_tag.set|deleted,
//     model_version_alias.created|deleted, prompt.created, prompt_version.created,
//     prompt_tag.set|deleted, prompt_version_tag.set|deleted, prompt_alias.created|deleted,
//     budget_policy.exceeded), then Cairn's evaluation.finished;
//   * the body, laid out as Python's json.dumps (", " and ": ", ensure_ascii), keys in this
//     order: {"entity": "model_version", "action": "created",
//             "timestamp": "2026-11-28T11:43:44.123000+00:00", "data": {...}};
//   * the headers Content-Type: application/json, X-MLflow-Delivery-Id: <uuid4>,
//     X-MLflow-Timestamp: <unix seconds>, and with a secret X-MLflow-Signature:
//     v1,<base64 of HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>.
// Stateless; thread-safe.

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace cairn::cicd {

using OrderedJson = nlohmann::ordered_json;

// Cairn's own event (not in MLflow's list).
inline constexpr std::string_view kWebhookEvaluationFinished = "evaluation.finished";

// Every event a webhook may subscribe to: MLflow's fifteen, then evaluation.finished.
const std::vector<std::string>& WebhookEventNames();
bool IsWebhookEvent(std::string_view event);
// True for MLflow's own events (those its client can represent).
bool IsMlflowWebhookEvent(std::string_view event);

// The X-MLflow-Signature header's value, as MLflow computes it:
// "v1," + base64(HMAC-SHA256(secret, "<delivery_id>.<timestamp>.<body>")).
std::string MlflowWebhookSignature(std::string_view secret, std::string_view delivery_id,
                                   std::string_view timestamp, std::string_view body);

// The body of a delivery of `event` ("entity.action") with `data`, made at `time_ms`.
std::string WebhookDeliveryBody(std::string_view event, const OrderedJson& data, int64_t time_ms);
// MLflow's example payload of `event` (what a test delivery sends); for
// evaluation.finished: {name, version, policy, evaluation_id, passed}.
OrderedJson WebhookExamplePayload(std::string_view event);

// json.dumps(value) with Python's defaults, keys in insertion order.
std::string PythonJsonDumps(const OrderedJson& value);
// datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(): microseconds, left out
// when zero.
std::string PythonIsoTime(int64_t ms);
// str(uuid.uuid4()).
std::string NewUuid4();

// One signed POST of a delivery.
struct WebhookHttpAnswer {
  int status = 0;              // 0: no answer (connection error, timeout)
  std::string body;            // the first 64 KiB of the answer
  std::string error;           // "" for a 2xx answer
  int64_t retry_after_ms = 0;  // the answer's Retry-After (seconds), 0 when none
};
// POSTs `body` to `url` (http or https only) with MLflow's headers; X-MLflow-Timestamp
// is now_ms / 1000; X-MLflow-Signature only when `secret` is not empty. No redirects.
// When `cancel` (may be null) becomes true, the try is abandoned within about a second
// (shutdown), with an error.
WebhookHttpAnswer PostWebhook(const std::string& url, const std::string& body,
                              const std::string& delivery_id, const std::string& secret,
                              int64_t now_ms, int64_t timeout_ms,
                              const std::atomic<bool>* cancel = nullptr);

}  // namespace cairn::cicd
