#pragma once
// Registry webhooks (issue 6 item 7): external CI (Jenkins, GitHub Actions) is called when
// a registered model or version is created, a tag is set or deleted, an alias moves, or an
// evaluation finishes.
//
// Compatible with MLflow 3's webhooks, so that `MlflowClient().create_webhook(...)` works
// against Cairn (api/webhook_handlers.h) and a receiver written for MLflow verifies
// Cairn's deliveries unchanged: events, body, headers and signature as webhook_format.h
// describes. The events delivered, from the EventBus (common/event_types.h), with the data
// MLflow's server sends (mlflow/server/handlers.py):
//   registered_model_created → registered_model.created {name, tags {key: value},
//     description} (a prompt, tag mlflow.prompt.is_prompt=true: prompt.created {name, tags
//     without the prompt's internal tags, description});
//   model_version_registered → model_version.created {name, version (a string), source,
//     run_id (or null), tags, description (or null)}, details read from the ModelRegistry;
//   prompt_version_created → prompt_version.created {name, version, template, tags,
//     description (or null)};
//   model_version_tag_set / _deleted → model_version_tag.set {name, version, key, value} /
//     .deleted {name, version, key} (of a prompt: prompt_version_tag.set / .deleted);
//   registered_model_tag_set / _deleted of a prompt → prompt_tag.set {name, key, value} /
//     .deleted {name, key} (MLflow sends nothing for a model's own tags);
//   model_alias_moved → model_version_alias.created {name, alias, version}, or .deleted
//     {name, alias} when to_version is empty (of a prompt: prompt_alias.created / .deleted);
//   evaluation_finished → Cairn's evaluation.finished {name, version, policy,
//     evaluation_id, passed (a bool)}.
// budget_policy.exceeded (MLflow's AI gateway budgets) is accepted in a subscription but
// Cairn has no such budgets, so it is never sent. Other events are delivered when a caller
// hands them to Notify.
// Differences from MLflow, deliberate: http:// and private addresses are allowed (CI
// servers on the same network); a failed try is retried by this class's own schedule
// (below), survives a restart, and every try is recorded.
//
// Durability (an outbox in the metadata database): when an event is accepted (OnEvent /
// Notify) one delivery per subscribed ACTIVE webhook is written, with its body, before
// anything is sent. Each try is recorded and the delivery's state (pending, delivered,
// failed, dropped), tries made and next-try time updated in the same transaction. On Open,
// pending deliveries are resumed at their next-try time, with the tries they already had
// counted against `attempts`. A server killed during a try tries it again after restart, so
// a receiver may see a delivery twice (at least once; the X-MLflow-Delivery-Id is the same:
// deduplicate on it). Events published on the bus but not yet handed to this class when
// the process dies are lost (the bus is in memory). Finished deliveries and tries are kept
// for the history: the newest `history` of each per webhook.
//
// Delivery: `workers` threads, each taking the delivery due first whose webhook has no try
// in flight: at most one try per webhook at a time, so a slow or hanging receiver holds
// one worker (up to timeout_ms per try) and the others keep delivering. Like MLflow
// (a thread pool), deliveries of one webhook are not guaranteed to arrive in event order
// when retries interleave. A 2xx answer is delivered; a connection error, a timeout, 408,
// 429 or 5xx is retried after backoff_ms, doubled for each later try up to max_backoff_ms
// (at least the answer's Retry-After), until `attempts` tries were made; any other answer
// (a 4xx: the receiver refused it) is final at once. Retries keep the delivery id and body
// and get a fresh timestamp and signature. A delivery whose webhook was deleted or disabled
// before its try is dropped.
//
// Persistence: the metadata database, migrations component "cicd_webhooks" (v1 webhooks
// and tries, v2 the outbox). Secrets are stored (they sign deliveries) and never
// returned: Webhook carries only has_secret. Deleting a webhook is a soft delete (its
// deliveries stay listable by id). One server per database delivers (two servers on one
// PostgreSQL database would both resume the same pending deliveries).
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cicd/webhook_format.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "common/json.h"
#include "storage/database.h"

namespace cairn::tracking {
class ModelRegistry;
}  // namespace cairn::tracking

namespace cairn::cicd {

struct Webhook {
  std::string id;  // uuid4, "6f1c…-…"
  std::string name;
  std::string description;
  std::string url;
  std::vector<std::string> events;  // "model_version.created", … in the order given
  std::string status = "ACTIVE";    // "ACTIVE" | "DISABLED"
  bool has_secret = false;
  int64_t creation_timestamp = 0;      // ms
  int64_t last_updated_timestamp = 0;  // ms
  bool operator==(const Webhook&) const = default;
};

struct WebhookCreate {
  std::string name;  // MLflow's rule: 1–63 letters, digits, '.', '_', '-'; starts and ends
                     // with a letter or digit
  std::string url;   // http:// or https:// with a host
  std::vector<std::string> events;  // non-empty, each in WebhookEventNames()
  std::string description;
  std::string secret;  // "" = unsigned deliveries
  std::string status = "ACTIVE";
};

// Absent fields are left as they are. `secret` "" removes the secret.
struct WebhookUpdate {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> events;
  std::optional<std::string> secret;
  std::optional<std::string> status;
};

struct WebhookPage {
  std::vector<Webhook> webhooks;  // newest first
  std::string next_page_token;    // "" on the last page
};

// The answer to Test (MLflow's WebhookTestResult).
struct WebhookTestResult {
  bool success = false;       // a 2xx answer (MLflow: status < 400)
  int response_status = 0;    // 0: no answer
  std::string response_body;  // the first 64 KiB
  std::string error_message;  // "" on success
};

// One try of one delivery.
struct WebhookDelivery {
  std::string delivery_id;  // X-MLflow-Delivery-Id, the same for every try
  int attempt = 1;          // 1-based
  std::string webhook_id;
  std::string event;    // "model_version.created", …
  std::string payload;  // the body sent on this try
  int64_t time_ms = 0;  // when the try ended
  bool success = false;
  bool final = false;       // no further try (delivered, refused, or the last try)
  bool test = false;        // made by Test
  int http_status = 0;      // 0: no answer
  std::string error;        // why it failed ("" when delivered)
  int64_t next_try_ms = 0;  // when it is tried again (0: not again)
};

struct WebhooksOptions {
  int attempts = 4;            // tries per delivery (MLflow: 1 + 3 retries)
  int64_t backoff_ms = 1'000;  // before the 2nd try; doubled for each later one
  int64_t max_backoff_ms = 60'000;
  int64_t timeout_ms = 30'000;  // per try, connect + answer (MLflow's default)
  int workers = 4;              // delivery threads; 0: deliveries are stored, never sent
  int history = 1'000;          // finished deliveries (and tries) kept per webhook
};

// One delivery of one event to one webhook, as the outbox holds it.
struct WebhookOutboxEntry {
  std::string delivery_id;
  std::string webhook_id;
  std::string event;
  std::string body;
  int64_t accepted_ms = 0;
  int attempts = 0;         // tries made
  int64_t next_try_ms = 0;  // pending: when it is tried next
  std::string state;        // "pending" | "delivered" | "failed" | "dropped"
  int64_t finished_ms = 0;  // 0 while pending
};

class Webhooks {
 public:
  // Applies the migrations of "cicd_webhooks", loads the pending deliveries and starts the
  // delivery workers. `registry`
  // (details of a created version; may be null: then only name and version are sent) and
  // `bus` (may be null: no subscription) must outlive this object, as must `db` and
  // `clock`.
  static absl::StatusOr<std::unique_ptr<Webhooks>> Open(storage::Database& db,
                                                        tracking::ModelRegistry* registry,
                                                        EventBus* bus, Clock& clock,
                                                        WebhooksOptions options = {});
  ~Webhooks();  // Shutdown()
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  // InvalidArgument naming the field and value (name, url, events[i], status).
  absl::StatusOr<Webhook> Create(const WebhookCreate& request);
  // NotFound "Webhook with ID <id> not found." for unknown or deleted ids.
  absl::StatusOr<Webhook> Get(std::string_view id);
  // max_results 1..1000 (0: 100); page_token from a previous page ("" first). With
  // `mlflow_only`, webhooks subscribed to no MLflow event are left out (MLflow's client
  // cannot represent them).
  absl::StatusOr<WebhookPage> List(int max_results, std::string_view page_token,
                                   bool mlflow_only = false);
  absl::StatusOr<Webhook> Update(std::string_view id, const WebhookUpdate& update);
  absl::Status Delete(std::string_view id);

  // Sends one example delivery of `event` (default: the webhook's first event) now, on
  // the calling thread, one try, and records it (test = true). Errors: NotFound for the
  // webhook; InvalidArgument for an unknown event. A failed delivery is not an error: it
  // is in the result.
  absl::StatusOr<WebhookTestResult> Test(std::string_view id,
                                         std::optional<std::string> event = std::nullopt);

  // Stores a delivery of `event` with `data` for every ACTIVE webhook subscribed to it, then
  // queues them. InvalidArgument for an unknown event; Unavailable after Shutdown; the
  // database's error when they could not be stored (then nothing is sent). With OrderedJson the data's keys keep their order (MLflow's payloads
  // list name first); Json sorts them.
  absl::Status Notify(std::string_view event, OrderedJson data);
  absl::Status Notify(std::string_view event, const Json& data);

  // The tries of the webhook's deliveries, newest first; limit 1..1000. NotFound for an
  // id that never existed.
  absl::StatusOr<std::vector<WebhookDelivery>> ListDeliveries(std::string_view webhook_id,
                                                              int limit = 50);

  // The outbox rows of the webhook's deliveries, newest first; limit 1..1000. NotFound for
  // an id that never existed.
  absl::StatusOr<std::vector<WebhookOutboxEntry>> ListOutbox(std::string_view webhook_id,
                                                             int limit = 50);

  // Blocks until nothing is queued or being tried (retries waiting their turn included),
  // or `timeout_ms` of real time passed; true when idle (tests).
  bool WaitIdle(int64_t timeout_ms);
  // Unsubscribes from the bus, abandons the tries in progress (within about a second; an
  // abandoned try is neither counted nor recorded: its delivery stays pending, tried again
  // at once after the next Open, even when it was on its last try) and
  // stops the workers. Pending deliveries stay in the outbox. Idempotent.
  void Shutdown();

 private:
  struct Job;
  Webhooks(storage::Database& db, tracking::ModelRegistry* registry, EventBus* bus, Clock& clock,
           WebhooksOptions options);
  absl::Status Resume();
  void OnEvent(const Event& event);
  absl::Status Accept(const std::string& event, const OrderedJson& data);
  void Work();
  void Try(Job job);

  storage::Database& db_;
  tracking::ModelRegistry* registry_;
  EventBus* bus_;
  Clock& clock_;
  const WebhooksOptions options_;
  int subscription_ = 0;

  absl::Mutex mu_;
  std::vector<std::shared_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> busy_ ABSL_GUARDED_BY(mu_);  // webhooks with a try in flight
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> cancel_ = false;  // set at Shutdown: abandons the tries in progress
  absl::Mutex shutdown_mu_;           // serializes Shutdown (joins the workers once)
  std::vector<std::thread> workers_;
};

}  // namespace cairn::cicd
