#pragma once
// Registry webhooks (issue 6 item 7): external CI (Jenkins, GitHub Actions) is called when
// a model version is created, an alias moves, or an evaluation finishes.
//
// Compatible with MLflow 3's webhooks, so that `MlflowClient().create_webhook(...)` works
// against Cairn (api/webhook_handlers.h) and a receiver written for MLflow verifies
// Cairn's deliveries unchanged: events, body, headers and signature as webhook_format.h
// describes. The data of each event, as MLflow sends it: model_version.created {name,
// version (a string), source, run_id (or null), tags {key: value}, description (or
// null)}; model_version_alias.created {name, alias, version}; model_version_alias.deleted
// {name, alias}; and Cairn's evaluation.finished {name, version, policy, evaluation_id,
// passed (a bool)}.
// Differences from MLflow, deliberate: http:// and private addresses are allowed (CI
// servers on the same network); a failed try is retried by this class's own schedule
// (below) and every try is recorded.
//
// Which events are delivered: the EventBus's model_version_registered (→
// model_version.created, details read from the ModelRegistry), model_alias_moved (→
// model_version_alias.created, or .deleted when to_version is empty) and
// evaluation_finished (→ evaluation.finished). Other events are delivered when a caller
// hands them to Notify.
//
// Delivery: on this class's own thread, in order of due time. A 2xx answer is delivered;
// a connection error, a timeout, 408, 429 or 5xx is retried after backoff_ms, doubled for
// each later try up to max_backoff_ms, until `attempts` tries were made; any other answer
// (a 4xx: the receiver refused it) is final at once. Retries keep the delivery id and get
// a fresh timestamp and signature. Every try is recorded (ListDeliveries). Deliveries still
// queued at Shutdown are dropped (logged).
//
// Persistence: the metadata database, migrations component "cicd_webhooks". Secrets are
// stored (they sign deliveries) and never returned: Webhook carries only has_secret.
// Deleting a webhook is a soft delete (its deliveries stay listable by id).
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
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
};

class Webhooks {
 public:
  // Applies the migrations of "cicd_webhooks" and starts the delivery thread. `registry`
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

  // Queues a delivery of `event` with `data` to every ACTIVE webhook subscribed to it
  // (looked up on the delivery thread). InvalidArgument for an unknown event; Unavailable
  // after Shutdown. With OrderedJson the data's keys keep their order (MLflow's payloads
  // list name first); Json sorts them.
  absl::Status Notify(std::string_view event, OrderedJson data);
  absl::Status Notify(std::string_view event, const Json& data);

  // The tries of the webhook's deliveries, newest first; limit 1..1000. NotFound for an
  // id that never existed.
  absl::StatusOr<std::vector<WebhookDelivery>> ListDeliveries(std::string_view webhook_id,
                                                              int limit = 50);

  // Blocks until nothing is queued or being tried (retries waiting their turn included),
  // or `timeout_ms` of real time passed; true when idle (tests).
  bool WaitIdle(int64_t timeout_ms);
  // Unsubscribes from the bus, abandons the try in progress (within about a second) and
  // stops the thread. Idempotent.
  void Shutdown();

 private:
  struct Pending;
  Webhooks(storage::Database& db, tracking::ModelRegistry* registry, EventBus* bus, Clock& clock,
           WebhooksOptions options);
  void OnEvent(const Event& event);
  void Loop();
  void Fanout(Pending job);
  void Try(Pending job);
  absl::Status Record(const WebhookDelivery& delivery);

  storage::Database& db_;
  tracking::ModelRegistry* registry_;
  EventBus* bus_;
  Clock& clock_;
  const WebhooksOptions options_;
  int subscription_ = 0;

  absl::Mutex mu_;
  std::deque<std::shared_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> cancel_ = false;  // set at Shutdown: abandons the try in progress
  absl::Mutex shutdown_mu_;           // serializes Shutdown (joins the thread once)
  std::thread thread_;
};

}  // namespace cairn::cicd
