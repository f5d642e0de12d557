#include "cicd/webhook_format.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/strings.h"
#include "common/webhook_signature.h"

namespace cairn::cicd {
namespace {

constexpr size_t kMaxResponseBody = 64 * 1024;

// Python's json.dumps(value) with its defaults (", " and ": " separators, ensure_ascii),
// keys in insertion order: the body MLflow signs.
void AppendPythonJson(const OrderedJson& value, std::string* out) {
  switch (value.type()) {
    case OrderedJson::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out->append(", ");
        first = false;
        AppendPythonJson(OrderedJson(key), out);
        out->append(": ");
        AppendPythonJson(item, out);
      }
      out->push_back('}');
      return;
    }
    case OrderedJson::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out->append(", ");
        first = false;
        AppendPythonJson(item, out);
      }
      out->push_back(']');
      return;
    }
    default:
      out->append(
          value.dump(-1, ' ', /*ensure_ascii=*/true, OrderedJson::error_handler_t::replace));
  }
}

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t n = size * count;
  if (body->size() < kMaxResponseBody) {
    body->append(data, std::min(n, kMaxResponseBody - body->size()));
  }
  return n;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  auto* answer = static_cast<WebhookHttpAnswer*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.size() > kRetryAfter.size() &&
      absl::EqualsIgnoreCase(ToAbsl(line.substr(0, kRetryAfter.size())), ToAbsl(kRetryAfter))) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ToAbsl(line.substr(kRetryAfter.size()))),
                         &seconds) &&
        seconds > 0) {
      answer->retry_after_ms = seconds * 1000;
    }
  }
  return n;
}

// libcurl's progress callback (called at least once a second): non-zero aborts the try.
int Cancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

}  // namespace

// MLflow's events (mlflow/entities/webhook.py WebhookEventStr), then Cairn's.
const std::vector<std::string>& WebhookEventNames() {
  static const auto* events = new std::vector<std::string>{"registered_model.created",
                                                           "model_version.created",
                                                           "model_version_tag.set",
                                                           "model_version_tag.deleted",
                                                           "model_version_alias.created",
                                                           "model_version_alias.deleted",
                                                           "prompt.created",
                                                           "prompt_version.created",
                                                           "prompt_tag.set",
                                                           "prompt_tag.deleted",
                                                           "prompt_version_tag.set",
                                                           "prompt_version_tag.deleted",
                                                           "prompt_alias.created",
                                                           "prompt_alias.deleted",
                                                           "budget_policy.exceeded",
                                                           std::string(kWebhookEvaluationFinished)};
  return *events;
}

bool IsWebhookEvent(std::string_view event) {
  const auto& all = WebhookEventNames();
  return std::find(all.begin(), all.end(), event) != all.end();
}

// datetime.now(timezone.utc).isoformat(): microseconds, omitted when zero.
std::string PythonIsoTime(int64_t ms) {
  time_t seconds = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int64_t millis = ms - static_cast<int64_t>(seconds) * 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  if (millis == 0) {
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis * 1000));
  }
  return buffer;
}

// str(uuid.uuid4()).
std::string NewUuid4() {
  std::string hex = NewUuidHex();
  hex[12] = '4';
  static constexpr char kVariant[] = "89ab";
  int nibble =
      std::isdigit(static_cast<unsigned char>(hex[16])) ? hex[16] - '0' : hex[16] - 'a' + 10;
  hex[16] = kVariant[nibble & 3];
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

// The body of a delivery (MLflow's _send_webhook_request).
std::string WebhookDeliveryBody(std::string_view event, const OrderedJson& data, int64_t time_ms) {
  size_t dot = event.find('.');
  OrderedJson body;
  body["entity"] = std::string(event.substr(0, dot));
  body["action"] = std::string(event.substr(dot + 1));
  body["timestamp"] = PythonIsoTime(time_ms);
  body["data"] = data;
  std::string out;
  AppendPythonJson(body, &out);
  return out;
}

// MLflow's get_example_payload_for_event (mlflow/webhooks/types.py), and Cairn's.
OrderedJson WebhookExamplePayload(std::string_view event) {
  const OrderedJson tags = {{"example_key", "example_value"}};
  if (event == "registered_model.created") {
    return {
        {"name", "example_model"}, {"tags", tags}, {"description", "An example registered model"}};
  }
  if (event == "model_version.created") {
    return {{"name", "example_model"},
            {"version", "1"},
            {"source", "models:/123"},
            {"run_id", "abcd1234abcd5678"},
            {"tags", tags},
            {"description", "An example model version"}};
  }
  if (event == "model_version_tag.set") {
    return {{"name", "example_model"},
            {"version", "1"},
            {"key", "example_key"},
            {"value", "example_value"}};
  }
  if (event == "model_version_tag.deleted") {
    return {{"name", "example_model"}, {"version", "1"}, {"key", "example_key"}};
  }
  if (event == "model_version_alias.created") {
    return {{"name", "example_model"}, {"alias", "example_alias"}, {"version", "1"}};
  }
  if (event == "model_version_alias.deleted") {
    return {{"name", "example_model"}, {"alias", "example_alias"}};
  }
  if (event == "prompt.created") {
    return {{"name", "example_prompt"}, {"tags", tags}, {"description", "An example prompt"}};
  }
  if (event == "prompt_version.created") {
    return {{"name", "example_prompt"},
            {"version", "1"},
            {"template", "Hello {{name}}!"},
            {"tags", tags},
            {"description", "An example prompt version"}};
  }
  if (event == "prompt_tag.set") {
    return {{"name", "example_prompt"}, {"key", "example_key"}, {"value", "example_value"}};
  }
  if (event == "prompt_tag.deleted") {
    return {{"name", "example_prompt"}, {"key", "example_key"}};
  }
  if (event == "prompt_version_tag.set") {
    return {{"name", "example_prompt"},
            {"version", "1"},
            {"key", "example_key"},
            {"value", "example_value"}};
  }
  if (event == "prompt_version_tag.deleted") {
    return {{"name", "example_prompt"}, {"version", "1"}, {"key", "example_key"}};
  }
  if (event == "prompt_alias.created") {
    return {{"name", "example_prompt"}, {"alias", "example_alias"}, {"version", "1"}};
  }
  if (event == "prompt_alias.deleted") {
    return {{"name", "example_prompt"}, {"alias", "example_alias"}};
  }
  if (event == "budget_policy.exceeded") {
    return {{"budget_policy_id", "bp-abc123"}, {"budget_unit", "USD"},
            {"budget_amount", 100.0},          {"current_spend", 105.50},
            {"duration_unit", "MONTHS"},       {"duration_value", 1},
            {"target_scope", "ENDPOINT"},      {"workspace", "default"},
            {"target_value", "ep-abc123"},     {"window_start", 1704067200000}};
  }
  return {{"name", "example_model"},
          {"version", "1"},
          {"policy", "example_policy"},
          {"evaluation_id", "ev-example"},
          {"passed", true}};
}

WebhookHttpAnswer PostWebhook(const std::string& url, const std::string& body,
                              const std::string& delivery_id, const std::string& secret,
                              int64_t now_ms, int64_t timeout_ms, const std::atomic<bool>* cancel) {
  static std::once_flag init_once;
  std::call_once(init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  WebhookHttpAnswer answer;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    answer.error = "curl_easy_init failed";
    return answer;
  }
  const std::string timestamp = std::to_string(now_ms / 1000);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, absl::StrCat("X-MLflow-Delivery-Id: ", delivery_id).c_str());
  headers = curl_slist_append(headers, absl::StrCat("X-MLflow-Timestamp: ", timestamp).c_str());
  if (!secret.empty()) {
    headers = curl_slist_append(
        headers, absl::StrCat("X-MLflow-Signature: ",
                              MlflowWebhookSignature(secret, delivery_id, timestamp, body))
                     .c_str());
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "cairn");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (cancel != nullptr) {
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, Cancelled);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, cancel);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    answer.status = 0;
    answer.error =
        absl::StrCat("POST ", url, " failed: ", error[0] != 0 ? error : curl_easy_strerror(code));
    return answer;
  }
  answer.status = static_cast<int>(status);
  if (status < 200 || status > 299) {
    answer.error = absl::StrCat("POST ", url, " answered HTTP ", status);
  }
  return answer;
}

bool IsMlflowWebhookEvent(std::string_view event) {
  return IsWebhookEvent(event) && event != kWebhookEvaluationFinished;
}

std::string MlflowWebhookSignature(std::string_view secret, std::string_view delivery_id,
                                   std::string_view timestamp, std::string_view body) {
  std::string hex = HmacSha256Hex(
      secret, absl::StrCat(ToAbsl(delivery_id), ".", ToAbsl(timestamp), ".", ToAbsl(body)));
  return absl::StrCat("v1,", absl::Base64Escape(absl::HexStringToBytes(hex)));
}

std::string PythonJsonDumps(const OrderedJson& value) {
  std::string out;
  AppendPythonJson(value, &out);
  return out;
}

}  // namespace cairn::cicd
