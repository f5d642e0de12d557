#include "monitoring/alerts/sinks.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/webhook_signature.h"

namespace cairn::monitoring {
namespace {

size_t DiscardBody(char* data, size_t size, size_t count, void* user) {
  std::string* out = static_cast<std::string*>(user);
  // Keep a little of the answer for the error message.
  if (out->size() < 200) out->append(data, std::min<size_t>(size * count, 200 - out->size()));
  return size * count;
}

class LogSink final : public Sink {
 public:
  absl::Status Deliver(const std::string& body, int* http_status) override {
    *http_status = 0;
    absl::StatusOr<Json> json = ParseJson(body);
    if (!json.ok() || !json->is_object()) {
      Log(LogLevel::kInfo, absl::StrCat("alert: ", body));
      return absl::OkStatus();
    }
    const std::string event = json->value("event", "");
    const Json& alert = (*json)["alert"];
    std::string line = absl::StrCat(
        "alert ", event, ": ", json->value("message", ""), " [alert ",
        alert.is_object() ? alert.value("id", "") : "", ", monitor ",
        alert.is_object() ? alert.value("monitor", "") : "", ", severity ",
        alert.is_object() ? alert.value("severity", "") : "", "]");
    Log(event == "escalated" || event == "paged" ? LogLevel::kWarning : LogLevel::kInfo, line);
    return absl::OkStatus();
  }
  std::string Describe() const override { return "log"; }
};

class WebhookSink final : public Sink {
 public:
  WebhookSink(std::string url, std::string secret, int64_t timeout_ms)
      : url_(std::move(url)), secret_(std::move(secret)), timeout_ms_(timeout_ms) {
    static std::once_flag init_once;
    std::call_once(init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  absl::Status Deliver(const std::string& body, int* http_status) override {
    *http_status = 0;
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (!secret_.empty()) {
      headers = curl_slist_append(
          headers,
          absl::StrCat(ToAbsl(kWebhookSignatureHeader), ": ",
                       WebhookSignature(secret_, absl::ToUnixSeconds(absl::Now()), body))
              .c_str());
    }
    std::string answer;
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "cairn");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    *http_status = static_cast<int>(status);
    if (code != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat(
          "POST ", url_, " failed: ", error[0] != 0 ? error : curl_easy_strerror(code)));
    }
    if (status < 200 || status >= 300) {
      return absl::UnavailableError(
          absl::StrCat("POST ", url_, " answered HTTP ", status,
                       answer.empty() ? "" : absl::StrCat(": ", answer)));
    }
    return absl::OkStatus();
  }
  std::string Describe() const override { return absl::StrCat("webhook ", url_); }

 private:
  const std::string url_;
  const std::string secret_;
  const int64_t timeout_ms_;
};

}  // namespace

absl::StatusOr<std::string> ResolveSecret(std::string_view secret) {
  if (secret.size() > 3 && secret.substr(0, 2) == "${" && secret.back() == '}') {
    std::string name(secret.substr(2, secret.size() - 3));
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "sinks: webhook secret names environment variable ", name,
          ", which is not set on the server; set it and restart, or give the secret itself"));
    }
    return std::string(value);
  }
  return std::string(secret);
}

absl::StatusOr<std::unique_ptr<Sink>> MakeSink(const SinkSpec& spec,
                                               const WebhookOptions& options) {
  if (spec.kind == "log") return std::unique_ptr<Sink>(new LogSink());
  if (spec.kind == "webhook") {
    if (spec.url.empty()) {
      return absl::InvalidArgumentError("sinks: a webhook sink needs a url (webhook: URL)");
    }
    absl::StatusOr<std::string> secret = ResolveSecret(spec.secret);
    if (!secret.ok()) return secret.status();
    return std::unique_ptr<Sink>(new WebhookSink(spec.url, *secret, options.timeout_ms));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "sinks: unknown sink kind \"", spec.kind, "\"; use webhook or log"));
}

Notifier::Notifier(Clock& clock, WebhookOptions options, DeliveryReportFn report)
    : clock_(clock), options_(options), report_(std::move(report)) {
  thread_ = std::thread([this] { Loop(); });
}

Notifier::~Notifier() { Shutdown(); }

void Notifier::Enqueue(std::string alert_id, std::string event, std::shared_ptr<Sink> sink,
                       std::string body, std::string outbox_id, int attempts_made,
                       int64_t due_ms) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    Log(LogLevel::kWarning, absl::StrCat("alert ", alert_id, ": ", event,
                                         " notification to ", sink->Describe(),
                                         outbox_id.empty()
                                             ? " dropped: the notifier is shut down"
                                             : " not tried: the notifier is shut down; it "
                                               "stays in the outbox for the next start"));
    return;
  }
  queue_.push_back(Pending{std::move(alert_id), std::move(event), std::move(sink),
                           std::move(body), attempts_made,
                           due_ms < 0 ? clock_.NowMillis() : due_ms, std::move(outbox_id)});
  wake_ = true;
}

void Notifier::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

bool Notifier::WaitIdle(int64_t timeout_ms) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Notifier* n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(n->mu_) {
                                    return n->queue_.empty() && n->in_flight_ == 0;
                                  },
                                  this),
                              absl::Milliseconds(timeout_ms));
}

void Notifier::Shutdown() {
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  absl::MutexLock lock(&mu_);
  for (const Pending& pending : queue_) {
    if (!pending.outbox_id.empty()) {
      Log(LogLevel::kInfo,
          absl::StrCat("alert ", pending.alert_id, ": ", pending.event, " notification to ",
                       pending.sink->Describe(), " still queued at shutdown after ",
                       pending.attempt, " tries; kept in the outbox for the next start"));
      continue;
    }
    Log(LogLevel::kWarning,
        absl::StrCat("alert ", pending.alert_id, ": ", pending.event, " notification to ",
                     pending.sink->Describe(), " dropped at shutdown after ", pending.attempt,
                     " tries"));
  }
  queue_.clear();
}

void Notifier::Loop() {
  const absl::Condition woken(
      +[](Notifier* n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(n->mu_) { return n->wake_ || n->stopping_; },
      this);
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    auto next = queue_.end();
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (next == queue_.end() || it->due_ms < next->due_ms) next = it;
    }
    const int64_t now = clock_.NowMillis();
    if (next == queue_.end() || next->due_ms > now) {
      int64_t wait_ms = 50;
      if (next != queue_.end()) wait_ms = std::min<int64_t>(wait_ms, next->due_ms - now);
      mu_.AwaitWithTimeout(woken, absl::Milliseconds(wait_ms));
      wake_ = false;
      continue;
    }
    Pending pending = std::move(*next);
    queue_.erase(next);
    ++in_flight_;
    mu_.Unlock();
    int http_status = 0;
    absl::Status status = pending.sink->Deliver(pending.body, &http_status);
    pending.attempt += 1;
    DeliveryReport report;
    report.alert_id = pending.alert_id;
    report.sink = pending.sink->Describe();
    report.event = pending.event;
    report.outbox_id = pending.outbox_id;
    report.attempt = pending.attempt;
    report.delivered = status.ok();
    report.http_status = http_status;
    report.error = status.ok() ? "" : std::string(status.message());
    const bool again = !status.ok() && pending.attempt < options_.attempts;
    report.final = !again;
    if (again) {
      int64_t backoff = options_.backoff_ms;
      for (int i = 1; i < pending.attempt && backoff < options_.max_backoff_ms; ++i) backoff *= 2;
      backoff = std::min(backoff, options_.max_backoff_ms);
      pending.due_ms = clock_.NowMillis() + backoff;
      report.next_try_ms = pending.due_ms;
    }
    if (report_) report_(report);
    mu_.Lock();
    if (again) queue_.push_back(std::move(pending));
    --in_flight_;
  }
}

}  // namespace cairn::monitoring
