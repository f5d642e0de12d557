#pragma once
// Notification sinks of alerts (issue 5 item 6) and the Notifier that delivers to them on
// its own thread, so that raising an alert never waits for a webhook.
//
// What a sink receives (the webhook's JSON body, the log sink's line):
//   {"event": "opened" | "escalated" | "paged" | "resolved", "message": "<sentence>",
//    "alert": AlertToJson(alert, /*with_timeline=*/false), "time_ms": <ms>}
// The webhook sink POSTs it with Content-Type: application/json, User-Agent: cairn, and
// X-Cairn-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256 of "<t>.<exact body>"
// under the secret> (common/webhook_signature.h; signed afresh for each try; no header
// when the secret is empty). Receivers verify it with a tolerance on t (replay protection). A 2xx answer is delivered; anything else (or a
// connection error, or no answer within timeout_ms) is retried with exponential backoff
// (backoff_ms, doubled each time, at most max_backoff_ms) until `attempts` tries were
// made. Every try is reported through DeliveryReportFn (the alert's timeline).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "monitoring/alerts/alert_types.h"

namespace cairn::monitoring {

// "${NAME}" → the environment variable NAME (NotFound naming it when unset); any other
// text is the secret itself.
absl::StatusOr<std::string> ResolveSecret(std::string_view secret);

// One destination. Deliver makes one try; it is called from the Notifier's thread only.
class Sink {
 public:
  virtual ~Sink() = default;
  // OK when delivered. The error says why not (HTTP status, curl error); `*http_status` is
  // the answer's status (0 when none came).
  virtual absl::Status Deliver(const std::string& body, int* http_status) = 0;
  // "log" | "webhook <url>" — how the timeline names it.
  virtual std::string Describe() const = 0;
};

struct WebhookOptions {
  int attempts = 5;               // tries per notification, >= 1
  int64_t backoff_ms = 1'000;     // wait before the 2nd try; doubled for each later one
  int64_t max_backoff_ms = 60'000;
  int64_t timeout_ms = 5'000;     // per try (connect + answer)
};

// The sink for a spec: "log" → a line in the server log (info; warning for escalated and
// paged); "webhook" → libcurl POST. InvalidArgument for an unknown kind or a webhook
// without url; NotFound when the secret names an unset environment variable.
absl::StatusOr<std::unique_ptr<Sink>> MakeSink(const SinkSpec& spec,
                                               const WebhookOptions& options);
using MakeSinkFn = std::function<absl::StatusOr<std::unique_ptr<Sink>>(const SinkSpec&)>;

// One try of one notification, as the timeline records it.
struct DeliveryReport {
  std::string alert_id;
  std::string sink;  // Sink::Describe()
  std::string event;  // the notification's "event"
  int attempt = 0;    // 1-based
  bool delivered = false;
  bool final = false;  // delivered, or the last try failed
  int http_status = 0;
  std::string error;  // why it failed ("" when delivered)
  int64_t next_try_ms = 0;  // when it is tried again (0: not again)
  std::string outbox_id;    // the Enqueue's, "" when none
};
using DeliveryReportFn = std::function<void(const DeliveryReport&)>;

// Delivers notifications on one background thread, in order of due time; a failed try is
// re-queued after the backoff. Enqueue never blocks on delivery. Due times are read from
// `clock` (a FakeClock in tests: the thread re-reads it at least every 50 ms of real time,
// and Wake() makes it look at once). Shutdown (and the destructor) stops the thread after
// the try in progress; notifications still queued are logged and forgotten here — those
// with an outbox id stay in the caller's outbox (notification_outbox.h) and are resumed
// by the next start. Thread-safe.
class Notifier {
 public:
  Notifier(Clock& clock, WebhookOptions options, DeliveryReportFn report);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // `outbox_id` (may be empty) comes back in each DeliveryReport; `attempts_made` tries
  // were made before (a resumed notification); `due_ms` < 0: now.
  void Enqueue(std::string alert_id, std::string event, std::shared_ptr<Sink> sink,
               std::string body, std::string outbox_id = "", int attempts_made = 0,
               int64_t due_ms = -1);
  void Wake();
  // Blocks until nothing is queued or being tried, or `timeout_ms` of real time passed;
  // true when idle (tests).
  bool WaitIdle(int64_t timeout_ms);
  void Shutdown();

 private:
  struct Pending {
    std::string alert_id;
    std::string event;
    std::shared_ptr<Sink> sink;
    std::string body;
    int attempt = 0;  // tries made so far
    int64_t due_ms = 0;
    std::string outbox_id;
  };
  void Loop();

  Clock& clock_;
  const WebhookOptions options_;
  DeliveryReportFn report_;
  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex shutdown_mu_;  // serializes Shutdown (joins the thread once)
  std::thread thread_;
};

}  // namespace cairn::monitoring
