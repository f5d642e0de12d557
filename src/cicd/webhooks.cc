#include "cicd/webhooks.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cicd/webhook_format.h"
#include "common/did_you_mean.h"
#include "common/event_types.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/alerts/sinks.h"
#include "storage/migrations.h"
#include "tracking/model_registry.h"

namespace cairn::cicd {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE cicd_webhooks (
  webhook_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  secret TEXT NOT NULL,
  status TEXT NOT NULL,
  creation_timestamp BIGINT NOT NULL,
  last_updated_timestamp BIGINT NOT NULL,
  deleted_timestamp BIGINT
);
CREATE TABLE cicd_webhook_deliveries (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  webhook_id TEXT NOT NULL,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  time_ms BIGINT NOT NULL,
  is_success INTEGER NOT NULL,
  is_final INTEGER NOT NULL,
  is_test INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  next_try_ms BIGINT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX cicd_webhook_deliveries_by_webhook
  ON cicd_webhook_deliveries (webhook_id, time_ms);
)sql";

// The outbox: one row per delivery (event × webhook), written when the event is accepted,
// updated with each try; pending rows are resumed by the next Open.
constexpr char kSchemaV2[] = R"sql(
CREATE TABLE cicd_webhook_outbox (
  delivery_id TEXT PRIMARY KEY,
  webhook_id TEXT NOT NULL,
  event TEXT NOT NULL,
  body TEXT NOT NULL,
  accepted_ms BIGINT NOT NULL,
  attempts INTEGER NOT NULL,
  next_try_ms BIGINT NOT NULL,
  state TEXT NOT NULL,
  finished_ms BIGINT NOT NULL
);
CREATE INDEX cicd_webhook_outbox_by_state ON cicd_webhook_outbox (state, next_try_ms);
CREATE INDEX cicd_webhook_outbox_by_webhook ON cicd_webhook_outbox (webhook_id, finished_ms);
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "webhooks and their delivery tries", .sql = kSchemaV1},
    {.version = 2, .name = "webhook delivery outbox", .sql = kSchemaV2},
};

constexpr char kPending[] = "pending";
constexpr char kOutboxColumns[] =
    "delivery_id, webhook_id, event, body, accepted_ms, attempts, next_try_ms, state, "
    "finished_ms";

constexpr char kWebhookColumns[] =
    "webhook_id, name, description, url, events, secret, status, creation_timestamp, "
    "last_updated_timestamp";

absl::Status ValidateName(std::string_view name) {
  auto alnum = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); };
  bool ok = !name.empty() && name.size() <= 63 && alnum(name.front()) && alnum(name.back());
  for (char c : name) ok = ok && (alnum(c) || c == '.' || c == '_' || c == '-');
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "name: '", ToAbsl(name),
      "' is not a valid webhook name; use 1 to 63 letters, digits, '.', '_' or '-', starting "
      "and ending with a letter or digit"));
}

absl::Status ValidateUrl(std::string_view url) {
  std::string_view rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("url: '", ToAbsl(url), "' must start with http:// or https://"));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(absl::StrCat(
          "url: '", ToAbsl(url), "' contains a space or a control character; percent-encode it"));
    }
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
    if (host.size() <= 2) host = {};
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("url: '", ToAbsl(url), "' has no host name; write http(s)://HOST[:PORT]/…"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvent(std::string_view event, std::string_view field) {
  if (IsWebhookEvent(event)) return absl::OkStatus();
  std::vector<std::string_view> candidates(WebhookEventNames().begin(), WebhookEventNames().end());
  std::string nearest = NearestName(event, candidates);
  return absl::InvalidArgumentError(absl::StrCat(
      ToAbsl(field), ": unknown event '", ToAbsl(event), "'",
      nearest.empty() ? "" : absl::StrCat("; did you mean '", nearest, "'?"),
      " Events are written entity.action: ", absl::StrJoin(WebhookEventNames(), ", ")));
}

absl::StatusOr<std::vector<std::string>> ValidateEvents(const std::vector<std::string>& events) {
  if (events.empty()) {
    return absl::InvalidArgumentError(
        "events: must not be empty; subscribe to at least one event, e.g. "
        "model_version.created");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < events.size(); ++i) {
    CAIRN_RETURN_IF_ERROR(ValidateEvent(events[i], absl::StrCat("events[", i, "]")));
    if (std::find(out.begin(), out.end(), events[i]) == out.end()) out.push_back(events[i]);
  }
  return out;
}

absl::Status ValidateStatus(std::string_view status) {
  if (status == "ACTIVE" || status == "DISABLED") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "status: '", ToAbsl(status), "' is not a webhook status; use ACTIVE or DISABLED"));
}

bool Retryable(int http_status) {
  return http_status == 0 || http_status == 408 || http_status == 429 || http_status >= 500;
}

struct StoredWebhook {
  Webhook webhook;
  std::string secret;
};

absl::StatusOr<StoredWebhook> ReadWebhook(const SqlRowView& row) {
  StoredWebhook out;
  Webhook& w = out.webhook;
  w.id = std::string(row.Text(0));
  w.name = std::string(row.Text(1));
  w.description = std::string(row.Text(2));
  w.url = std::string(row.Text(3));
  CAIRN_ASSIGN_OR_RETURN(Json events, ParseJson(row.Text(4)));
  for (const Json& event : events) w.events.push_back(event.get<std::string>());
  out.secret = std::string(row.Text(5));
  w.has_secret = !out.secret.empty();
  w.status = std::string(row.Text(6));
  w.creation_timestamp = row.Int(7);
  w.last_updated_timestamp = row.Int(8);
  return out;
}

absl::Status NotFound(std::string_view id) {
  return absl::NotFoundError(absl::StrCat("Webhook with ID ", ToAbsl(id), " not found."));
}

absl::StatusOr<StoredWebhook> LoadWebhook(SqlSession& session, std::string_view id) {
  std::optional<StoredWebhook> found;
  const SqlValue params[] = {std::string(id)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", kWebhookColumns,
                   " FROM cicd_webhooks WHERE webhook_id = $1 AND deleted_timestamp IS NULL"),
      params, [&](const SqlRowView& row) -> absl::Status {
        CAIRN_ASSIGN_OR_RETURN(StoredWebhook w, ReadWebhook(row));
        found = std::move(w);
        return absl::OkStatus();
      }));
  if (!found) return NotFound(id);
  return *std::move(found);
}

absl::StatusOr<std::vector<StoredWebhook>> LoadAll(SqlSession& session) {
  std::vector<StoredWebhook> out;
  CAIRN_RETURN_IF_ERROR(
      session.QueryEach(absl::StrCat("SELECT ", kWebhookColumns,
                                     " FROM cicd_webhooks WHERE deleted_timestamp IS NULL"
                                     " ORDER BY creation_timestamp DESC, webhook_id DESC"),
                        {}, [&](const SqlRowView& row) -> absl::Status {
                          CAIRN_ASSIGN_OR_RETURN(StoredWebhook w, ReadWebhook(row));
                          out.push_back(std::move(w));
                          return absl::OkStatus();
                        }));
  return out;
}

std::string EventsJson(const std::vector<std::string>& events) {
  Json array = Json::array();
  for (const std::string& event : events) array.push_back(event);
  return DumpJson(array);
}

// MLflow's page token: base64 of json.dumps({"offset": N}).
std::string PageToken(int64_t offset) {
  return absl::Base64Escape(absl::StrCat("{\"offset\": ", offset, "}"));
}

absl::StatusOr<int64_t> PageOffset(std::string_view token) {
  if (token.empty()) return 0;
  std::string decoded;
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: '", ToAbsl(token),
        "' is not a page token of this list; pass the next_page_token of the previous page"));
  };
  if (!absl::Base64Unescape(ToAbsl(token), &decoded)) return invalid();
  absl::StatusOr<Json> json = ParseJson(decoded);
  if (!json.ok() || !json->is_object() || !json->contains("offset") ||
      !(*json)["offset"].is_number_integer() || (*json)["offset"].get<int64_t>() < 0) {
    return invalid();
  }
  return (*json)["offset"].get<int64_t>();
}


absl::Status CheckWebhookExists(SqlSession& session, std::string_view webhook_id) {
  const SqlValue id[] = {std::string(webhook_id)};
  bool exists = false;
  CAIRN_RETURN_IF_ERROR(session.QueryEach("SELECT 1 FROM cicd_webhooks WHERE webhook_id = $1", id,
                                          [&](const SqlRowView&) -> absl::Status {
                                            exists = true;
                                            return absl::OkStatus();
                                          }));
  if (!exists) return NotFound(webhook_id);
  return absl::OkStatus();
}

absl::Status InsertTry(SqlSession& session, const WebhookDelivery& d) {
  const SqlValue params[] = {d.delivery_id,
                             int64_t{d.attempt},
                             d.webhook_id,
                             d.event,
                             d.payload,
                             d.time_ms,
                             int64_t{d.success ? 1 : 0},
                             int64_t{d.final ? 1 : 0},
                             int64_t{d.test ? 1 : 0},
                             int64_t{d.http_status},
                             d.error,
                             d.next_try_ms};
  return session
      .Execute(
          "INSERT INTO cicd_webhook_deliveries (delivery_id, attempt, webhook_id, "
          "event, payload, time_ms, is_success, is_final, is_test, http_status, error, "
          "next_try_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
          params)
      .status();
}

// Keeps the newest `history` finished deliveries of the webhook and its newest
// `history` × `attempts` tries; pending deliveries are never removed.
absl::Status PruneHistory(SqlSession& session, const std::string& webhook_id, int history,
                          int attempts) {
  // The cut is the oldest row kept (offset history - 1); strictly older rows go, so a tie
  // with it stays.
  const SqlValue outbox[] = {webhook_id, int64_t{history} - 1, std::string(kPending)};
  CAIRN_RETURN_IF_ERROR(
      session
          .Execute("DELETE FROM cicd_webhook_outbox WHERE webhook_id = $1 AND state <> $3 "
                   "AND finished_ms < (SELECT finished_ms FROM cicd_webhook_outbox "
                   "WHERE webhook_id = $1 AND state <> $3 "
                   "ORDER BY finished_ms DESC LIMIT 1 OFFSET $2)",
                   outbox)
          .status());
  // Strictly older than the cut (ties at it are kept), never a pending delivery's tries.
  const SqlValue tries[] = {webhook_id, int64_t{history} * attempts - 1, std::string(kPending)};
  return session
      .Execute("DELETE FROM cicd_webhook_deliveries WHERE webhook_id = $1 "
               "AND time_ms < (SELECT time_ms FROM cicd_webhook_deliveries "
               "WHERE webhook_id = $1 ORDER BY time_ms DESC LIMIT 1 OFFSET $2) "
               "AND delivery_id NOT IN (SELECT delivery_id FROM cicd_webhook_outbox "
               "WHERE webhook_id = $1 AND state = $3)",
               tries)
      .status();
}

// MLflow's prompts are registered models tagged mlflow.prompt.is_prompt=true; these tags
// are its own and left out of a prompt's webhook data (mlflow/prompt/constants.py).
constexpr char kIsPromptTag[] = "mlflow.prompt.is_prompt";
constexpr char kPromptTypeTag[] = "_mlflow_prompt_type";
constexpr char kPromptTextTag[] = "mlflow.prompt.text";

// A bus attribute holding a JSON object of tags, in the request's order; {} when absent
// or unreadable.
OrderedJson TagsAttribute(const std::string& text) {
  if (text.empty()) return OrderedJson::object();
  OrderedJson tags = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  if (tags.is_discarded() || !tags.is_object()) return OrderedJson::object();
  return tags;
}

// The webhook event and data MLflow's server sends for a bus event; nullopt for events
// no webhook hears of.
std::optional<std::pair<std::string, OrderedJson>> TranslateEvent(
    const Event& e, tracking::ModelRegistry* registry) {
  auto attr = [&](const char* key) {
    auto it = e.attributes.find(key);
    return it == e.attributes.end() ? std::string() : it->second;
  };
  const std::string model = attr("model");
  bool prompt = attr("prompt") == "true";
  if (!e.attributes.contains("prompt") && e.type == kEventModelAliasMoved && registry != nullptr) {
    // Alias moves do not say; the registry does (tag mlflow.prompt.is_prompt).
    absl::StatusOr<tracking::RegisteredModel> rm = registry->GetRegisteredModel(model);
    if (rm.ok()) {
      for (const tracking::RegistryTag& tag : rm->tags) {
        if (tag.key == kIsPromptTag) prompt = absl::AsciiStrToLower(tag.value) == "true";
      }
    }
  }
  if (e.type == kEventModelVersionRegistered) {
    const std::string version = attr("version");
    OrderedJson data = {{"name", model},        {"version", version},
                        {"source", ""},         {"run_id", nullptr},
                        {"tags", OrderedJson::object()}, {"description", nullptr}};
    int64_t number = 0;
    if (registry != nullptr && absl::SimpleAtoi(version, &number)) {
      absl::StatusOr<tracking::ModelVersion> mv = registry->GetModelVersion(model, number);
      if (mv.ok()) {
        OrderedJson tags = OrderedJson::object();
        for (const tracking::RegistryTag& tag : mv->tags) tags[tag.key] = tag.value;
        data = {{"name", model},
                {"version", version},
                {"source", mv->source},
                {"run_id", mv->run_id ? OrderedJson(*mv->run_id) : OrderedJson()},
                {"tags", std::move(tags)},
                {"description", mv->description && !mv->description->empty()
                                    ? OrderedJson(*mv->description)
                                    : OrderedJson()}};
      } else {
        Log(LogLevel::kWarning, absl::StrCat("webhooks: model ", model, " version ", version,
                                             " not readable; delivering name and version only: ",
                                             mv.status().message()));
      }
    }
    return std::pair{std::string("model_version.created"), std::move(data)};
  }
  if (e.type == kEventRegisteredModelCreated) {
    OrderedJson tags = TagsAttribute(attr("tags"));
    if (prompt) {
      tags.erase(kIsPromptTag);
      tags.erase(kPromptTypeTag);
    }
    return std::pair{std::string(prompt ? "prompt.created" : "registered_model.created"),
                     OrderedJson{{"name", model},
                                 {"tags", std::move(tags)},
                                 {"description", attr("description")}}};
  }
  if (e.type == kEventPromptVersionCreated) {
    OrderedJson tags = TagsAttribute(attr("tags"));
    OrderedJson text = tags.contains(kPromptTextTag) ? tags[kPromptTextTag] : OrderedJson();
    tags.erase(kPromptTextTag);
    tags.erase(kIsPromptTag);
    tags.erase(kPromptTypeTag);
    const std::string description = attr("description");
    return std::pair{std::string("prompt_version.created"),
                     OrderedJson{{"name", model},
                                 {"version", attr("version")},
                                 {"template", std::move(text)},
                                 {"tags", std::move(tags)},
                                 {"description",
                                  description.empty() ? OrderedJson() : OrderedJson(description)}}};
  }
  if (e.type == kEventModelVersionTagSet) {
    return std::pair{std::string(prompt ? "prompt_version_tag.set" : "model_version_tag.set"),
                     OrderedJson{{"name", model},
                                 {"version", attr("version")},
                                 {"key", attr("key")},
                                 {"value", attr("value")}}};
  }
  if (e.type == kEventModelVersionTagDeleted) {
    return std::pair{
        std::string(prompt ? "prompt_version_tag.deleted" : "model_version_tag.deleted"),
        OrderedJson{{"name", model}, {"version", attr("version")}, {"key", attr("key")}}};
  }
  if (e.type == kEventRegisteredModelTagSet) {
    if (!prompt) return std::nullopt;  // MLflow sends nothing for a model's tags
    return std::pair{std::string("prompt_tag.set"),
                     OrderedJson{{"name", model}, {"key", attr("key")}, {"value", attr("value")}}};
  }
  if (e.type == kEventRegisteredModelTagDeleted) {
    if (!prompt) return std::nullopt;
    return std::pair{std::string("prompt_tag.deleted"),
                     OrderedJson{{"name", model}, {"key", attr("key")}}};
  }
  if (e.type == kEventModelAliasMoved) {
    const std::string to = attr("to_version");
    if (to.empty()) {
      return std::pair{
          std::string(prompt ? "prompt_alias.deleted" : "model_version_alias.deleted"),
          OrderedJson{{"name", model}, {"alias", attr("alias")}}};
    }
    return std::pair{std::string(prompt ? "prompt_alias.created" : "model_version_alias.created"),
                     OrderedJson{{"name", model}, {"alias", attr("alias")}, {"version", to}}};
  }
  if (e.type == kEventEvaluationFinished) {
    return std::pair{std::string(kWebhookEvaluationFinished),
                     OrderedJson{{"name", model},
                                 {"version", attr("version")},
                                 {"policy", attr("policy")},
                                 {"evaluation_id", attr("evaluation_id")},
                                 {"passed", attr("passed") == "true"}}};
  }
  return std::nullopt;
}

}  // namespace

struct Webhooks::Job {
  std::string delivery_id;
  std::string webhook_id;
  std::string event;
  std::string body;
  int attempts_made = 0;
  int64_t due_ms = 0;
};

Webhooks::Webhooks(storage::Database& db, tracking::ModelRegistry* registry, EventBus* bus,
                   Clock& clock, WebhooksOptions options)
    : db_(db), registry_(registry), bus_(bus), clock_(clock), options_(options) {}

Webhooks::~Webhooks() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Webhooks>> Webhooks::Open(storage::Database& db,
                                                         tracking::ModelRegistry* registry,
                                                         EventBus* bus, Clock& clock,
                                                         WebhooksOptions options) {
  if (options.attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook attempts: must be at least 1, got ", options.attempts));
  }
  if (options.workers < 0 || options.workers > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook workers: must be from 0 to 64, got ", options.workers));
  }
  if (options.history < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook history: must be at least 1, got ", options.history));
  }
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "cicd_webhooks", kMigrations));
  std::unique_ptr<Webhooks> webhooks(new Webhooks(db, registry, bus, clock, options));
  Webhooks* self = webhooks.get();
  CAIRN_RETURN_IF_ERROR(self->Resume());
  for (int i = 0; i < options.workers; ++i) {
    self->workers_.emplace_back([self] { self->Work(); });
  }
  if (bus != nullptr) {
    self->subscription_ = bus->Subscribe("", [self](const Event& event) { self->OnEvent(event); });
  }
  return webhooks;
}

absl::Status Webhooks::Resume() {
  const int64_t now = clock_.NowMillis();
  std::vector<std::shared_ptr<Job>> jobs;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    jobs.clear();
    const SqlValue pending[] = {std::string(kPending)};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT delivery_id, webhook_id, event, body, attempts, next_try_ms "
        "FROM cicd_webhook_outbox WHERE state = $1 ORDER BY accepted_ms, delivery_id",
        pending, [&](const SqlRowView& row) -> absl::Status {
          auto job = std::make_shared<Job>();
          job->delivery_id = std::string(row.Text(0));
          job->webhook_id = std::string(row.Text(1));
          job->event = std::string(row.Text(2));
          job->body = std::string(row.Text(3));
          job->attempts_made = static_cast<int>(row.Int(4));
          job->due_ms = row.Int(5);
          jobs.push_back(std::move(job));
          return absl::OkStatus();
        }));
    // Those that already had every try `attempts` now allows are given up.
    const SqlValue params[] = {int64_t{options_.attempts}, now, std::string(kPending)};
    return session
        .Execute("UPDATE cicd_webhook_outbox SET state = 'failed', finished_ms = $2, "
                 "next_try_ms = 0 WHERE state = $3 AND attempts >= $1",
                 params)
        .status();
  }));
  std::erase_if(jobs, [&](const std::shared_ptr<Job>& job) {
    return job->attempts_made >= options_.attempts;
  });
  if (!jobs.empty()) {
    Log(LogLevel::kInfo, absl::StrCat("webhooks: resuming ", jobs.size(), " pending deliveries"));
  }
  if (options_.workers == 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  for (auto& job : jobs) queue_.push_back(std::move(job));
  return absl::OkStatus();
}

absl::StatusOr<Webhook> Webhooks::Create(const WebhookCreate& request) {
  CAIRN_RETURN_IF_ERROR(ValidateName(request.name));
  CAIRN_RETURN_IF_ERROR(ValidateUrl(request.url));
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> events, ValidateEvents(request.events));
  CAIRN_RETURN_IF_ERROR(ValidateStatus(request.status));
  Webhook w;
  w.id = NewUuid4();
  w.name = request.name;
  w.description = request.description;
  w.url = request.url;
  w.events = std::move(events);
  w.status = request.status;
  w.has_secret = !request.secret.empty();
  w.creation_timestamp = w.last_updated_timestamp = clock_.NowMillis();
  const SqlValue params[] = {w.id,
                             w.name,
                             w.description,
                             w.url,
                             EventsJson(w.events),
                             request.secret,
                             w.status,
                             w.creation_timestamp,
                             w.last_updated_timestamp};
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    return session
        .Execute(absl::StrCat("INSERT INTO cicd_webhooks (", kWebhookColumns,
                              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
                 params)
        .status();
  }));
  return w;
}

absl::StatusOr<Webhook> Webhooks::Get(std::string_view id) {
  std::optional<StoredWebhook> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(StoredWebhook w, LoadWebhook(session, id));
    found = std::move(w);
    return absl::OkStatus();
  }));
  return found->webhook;
}

absl::StatusOr<WebhookPage> Webhooks::List(int max_results, std::string_view page_token,
                                           bool mlflow_only) {
  if (max_results == 0) max_results = 100;
  if (max_results < 1 || max_results > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_results: must be between 1 and 1000, got ", max_results));
  }
  CAIRN_ASSIGN_OR_RETURN(int64_t offset, PageOffset(page_token));
  std::vector<StoredWebhook> all;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(all, LoadAll(session));
    return absl::OkStatus();
  }));
  std::vector<Webhook> visible;
  for (StoredWebhook& w : all) {
    if (mlflow_only && std::none_of(w.webhook.events.begin(), w.webhook.events.end(),
                                    [](const std::string& e) { return IsMlflowWebhookEvent(e); })) {
      continue;
    }
    visible.push_back(std::move(w.webhook));
  }
  WebhookPage page;
  for (int64_t i = offset; i < static_cast<int64_t>(visible.size()) && i < offset + max_results;
       ++i) {
    page.webhooks.push_back(std::move(visible[i]));
  }
  if (offset + max_results < static_cast<int64_t>(visible.size())) {
    page.next_page_token = PageToken(offset + max_results);
  }
  return page;
}

absl::StatusOr<Webhook> Webhooks::Update(std::string_view id, const WebhookUpdate& update) {
  if (update.name) CAIRN_RETURN_IF_ERROR(ValidateName(*update.name));
  if (update.url) CAIRN_RETURN_IF_ERROR(ValidateUrl(*update.url));
  std::optional<std::vector<std::string>> events;
  if (update.events) {
    CAIRN_ASSIGN_OR_RETURN(events, ValidateEvents(*update.events));
  }
  if (update.status) CAIRN_RETURN_IF_ERROR(ValidateStatus(*update.status));
  const int64_t now = clock_.NowMillis();
  std::optional<Webhook> result;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(StoredWebhook stored, LoadWebhook(session, id));
    Webhook& w = stored.webhook;
    if (update.name) w.name = *update.name;
    if (update.description) w.description = *update.description;
    if (update.url) w.url = *update.url;
    if (events) w.events = *events;
    if (update.secret) stored.secret = *update.secret;
    if (update.status) w.status = *update.status;
    w.has_secret = !stored.secret.empty();
    w.last_updated_timestamp = now;
    const SqlValue params[] = {
        w.id, w.name, w.description, w.url, EventsJson(w.events), stored.secret, w.status, now};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE cicd_webhooks SET name = $2, description = $3, url = $4, "
                     "events = $5, secret = $6, status = $7, last_updated_timestamp = $8 "
                     "WHERE webhook_id = $1",
                     params)
            .status());
    result = w;
    return absl::OkStatus();
  }));
  return *result;
}

absl::Status Webhooks::Delete(std::string_view id) {
  const int64_t now = clock_.NowMillis();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {std::string(id), now};
    CAIRN_ASSIGN_OR_RETURN(int64_t changed,
                           session.Execute("UPDATE cicd_webhooks SET deleted_timestamp = $2, "
                                           "last_updated_timestamp = $2 "
                                           "WHERE webhook_id = $1 AND deleted_timestamp IS NULL",
                                           params));
    if (changed == 0) return NotFound(id);
    return absl::OkStatus();
  });
}

absl::StatusOr<WebhookTestResult> Webhooks::Test(std::string_view id,
                                                 std::optional<std::string> event) {
  std::optional<StoredWebhook> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(StoredWebhook w, LoadWebhook(session, id));
    found = std::move(w);
    return absl::OkStatus();
  }));
  std::string name = event.value_or(found->webhook.events.front());
  CAIRN_RETURN_IF_ERROR(ValidateEvent(name, "event"));
  WebhookDelivery delivery;
  delivery.delivery_id = NewUuid4();
  delivery.webhook_id = found->webhook.id;
  delivery.event = name;
  delivery.payload = WebhookDeliveryBody(name, WebhookExamplePayload(name), clock_.NowMillis());
  delivery.test = true;
  delivery.final = true;
  WebhookHttpAnswer answer =
      PostWebhook(found->webhook.url, delivery.payload, delivery.delivery_id, found->secret,
                  clock_.NowMillis(), options_.timeout_ms, &cancel_);
  delivery.time_ms = clock_.NowMillis();
  delivery.http_status = answer.status;
  delivery.success = answer.status >= 200 && answer.status < 400;
  delivery.error = delivery.success ? "" : answer.error;
  absl::Status recorded = db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_RETURN_IF_ERROR(InsertTry(session, delivery));
    return PruneHistory(session, delivery.webhook_id, options_.history, options_.attempts);
  });
  if (!recorded.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("webhook ", delivery.webhook_id,
                     ": could not record a test delivery: ", recorded.message()));
  }
  WebhookTestResult result;
  result.success = delivery.success;
  result.response_status = answer.status;
  result.response_body = std::move(answer.body);
  if (!result.success) {
    result.error_message =
        answer.status == 0 ? absl::StrCat("Failed to test webhook: ", answer.error) : answer.error;
  }
  return result;
}

absl::Status Webhooks::Notify(std::string_view event, const Json& data) {
  return Notify(event, OrderedJson::parse(data.dump()));
}

absl::Status Webhooks::Notify(std::string_view event, OrderedJson data) {
  CAIRN_RETURN_IF_ERROR(ValidateEvent(event, "event"));
  return Accept(std::string(event), data);
}

absl::Status Webhooks::Accept(const std::string& event, const OrderedJson& data) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("webhooks are shut down");
  }
  const int64_t now = clock_.NowMillis();
  const std::string body = WebhookDeliveryBody(event, data, now);
  std::vector<std::shared_ptr<Job>> jobs;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    jobs.clear();
    CAIRN_ASSIGN_OR_RETURN(std::vector<StoredWebhook> all, LoadAll(session));
    // Oldest webhook first: deliveries go out in the order the webhooks were made.
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      const Webhook& w = it->webhook;
      if (w.status != "ACTIVE") continue;
      if (std::find(w.events.begin(), w.events.end(), event) == w.events.end()) continue;
      auto job = std::make_shared<Job>();
      job->delivery_id = NewUuid4();
      job->webhook_id = w.id;
      job->event = event;
      job->body = body;
      job->due_ms = now;
      const SqlValue params[] = {job->delivery_id, job->webhook_id, job->event,
                                 job->body,        now,             int64_t{0},
                                 now,              std::string(kPending), int64_t{0}};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute(absl::StrCat("INSERT INTO cicd_webhook_outbox (", kOutboxColumns,
                                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
                       params)
              .status());
      jobs.push_back(std::move(job));
    }
    return absl::OkStatus();
  }));
  if (options_.workers == 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::OkStatus();  // stored: the next Open delivers them
  for (auto& job : jobs) queue_.push_back(std::move(job));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WebhookDelivery>> Webhooks::ListDeliveries(std::string_view webhook_id,
                                                                      int limit) {
  if (limit < 1 || limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be an integer from 1 to 1000, got ", limit));
  }
  std::vector<WebhookDelivery> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    CAIRN_RETURN_IF_ERROR(CheckWebhookExists(session, webhook_id));
    const SqlValue params[] = {std::string(webhook_id), int64_t{limit}};
    return session.QueryEach(
        "SELECT delivery_id, attempt, webhook_id, event, payload, time_ms, is_success, "
        "is_final, is_test, http_status, error, next_try_ms FROM cicd_webhook_deliveries "
        "WHERE webhook_id = $1 ORDER BY time_ms DESC, attempt DESC, delivery_id DESC "
        "LIMIT $2",
        params, [&](const SqlRowView& row) -> absl::Status {
          WebhookDelivery d;
          d.delivery_id = std::string(row.Text(0));
          d.attempt = static_cast<int>(row.Int(1));
          d.webhook_id = std::string(row.Text(2));
          d.event = std::string(row.Text(3));
          d.payload = std::string(row.Text(4));
          d.time_ms = row.Int(5);
          d.success = row.Int(6) != 0;
          d.final = row.Int(7) != 0;
          d.test = row.Int(8) != 0;
          d.http_status = static_cast<int>(row.Int(9));
          d.error = std::string(row.Text(10));
          d.next_try_ms = row.Int(11);
          out.push_back(std::move(d));
          return absl::OkStatus();
        });
  }));
  return out;
}

absl::StatusOr<std::vector<WebhookOutboxEntry>> Webhooks::ListOutbox(std::string_view webhook_id,
                                                                     int limit) {
  if (limit < 1 || limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be an integer from 1 to 1000, got ", limit));
  }
  std::vector<WebhookOutboxEntry> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    CAIRN_RETURN_IF_ERROR(CheckWebhookExists(session, webhook_id));
    const SqlValue params[] = {std::string(webhook_id), int64_t{limit}};
    return session.QueryEach(
        absl::StrCat("SELECT ", kOutboxColumns,
                     " FROM cicd_webhook_outbox WHERE webhook_id = $1 "
                     "ORDER BY accepted_ms DESC, delivery_id DESC LIMIT $2"),
        params, [&](const SqlRowView& row) -> absl::Status {
          WebhookOutboxEntry e;
          e.delivery_id = std::string(row.Text(0));
          e.webhook_id = std::string(row.Text(1));
          e.event = std::string(row.Text(2));
          e.body = std::string(row.Text(3));
          e.accepted_ms = row.Int(4);
          e.attempts = static_cast<int>(row.Int(5));
          e.next_try_ms = row.Int(6);
          e.state = std::string(row.Text(7));
          e.finished_ms = row.Int(8);
          out.push_back(std::move(e));
          return absl::OkStatus();
        });
  }));
  return out;
}

void Webhooks::OnEvent(const Event& event) {
  std::optional<std::pair<std::string, OrderedJson>> delivery = TranslateEvent(event, registry_);
  if (!delivery) return;
  absl::Status accepted = Accept(delivery->first, delivery->second);
  if (!accepted.ok() && !absl::IsUnavailable(accepted)) {
    Log(LogLevel::kError, absl::StrCat("webhooks: ", delivery->first,
                                       " not delivered, it could not be stored: ",
                                       accepted.message()));
  }
}

bool Webhooks::WaitIdle(int64_t timeout_ms) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && busy_.empty();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), absl::Milliseconds(timeout_ms));
}

void Webhooks::Shutdown() {
  absl::MutexLock shutdown(&shutdown_mu_);
  if (bus_ != nullptr && subscription_ != 0) {
    bus_->Unsubscribe(subscription_);
    subscription_ = 0;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cancel_ = true;
    if (!queue_.empty()) {
      Log(LogLevel::kInfo, absl::StrCat("webhooks: shutting down with ", queue_.size(),
                                        " deliveries pending; they resume at the next start"));
    }
  }
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
  absl::MutexLock lock(&mu_);
  queue_.clear();
}

void Webhooks::Work() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        if (stopping_) return;
        const int64_t now = clock_.NowMillis();
        auto due = queue_.end();
        int64_t earliest = INT64_MAX;
        for (auto it = queue_.begin(); it != queue_.end(); ++it) {
          if ((*it)->due_ms < earliest && !busy_.contains((*it)->webhook_id)) {
            earliest = (*it)->due_ms;
            due = it;
          }
        }
        if (due != queue_.end() && earliest <= now) {
          job = *due;
          queue_.erase(due);
          busy_.insert(job->webhook_id);
          break;
        }
        // Re-read the clock at least every 50 ms (a FakeClock moves without telling us).
        int64_t wait_ms = due == queue_.end() ? 50 : std::clamp<int64_t>(earliest - now, 1, 50);
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](bool* stop) { return *stop; }, &stopping_),
                             absl::Milliseconds(wait_ms));
      }
    }
    const std::string webhook_id = job->webhook_id;
    Try(std::move(*job));
    absl::MutexLock lock(&mu_);
    busy_.erase(webhook_id);
  }
}

void Webhooks::Try(Job job) {
  std::optional<StoredWebhook> found;
  absl::Status read = db_.Read([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(StoredWebhook w, LoadWebhook(session, job.webhook_id));
    found = std::move(w);
    return absl::OkStatus();
  });
  if (!read.ok() && !absl::IsNotFound(read)) {
    // The database is unreachable: try again later (the row stays pending).
    Log(LogLevel::kWarning, absl::StrCat("webhooks: delivery ", job.delivery_id,
                                         " postponed, its webhook could not be read: ",
                                         read.message()));
    job.due_ms = clock_.NowMillis() + options_.backoff_ms;
    auto again = std::make_shared<Job>(std::move(job));
    absl::MutexLock lock(&mu_);
    if (!stopping_) queue_.push_back(std::move(again));
    return;
  }
  if (!read.ok() || found->webhook.status != "ACTIVE") {
    // Deleted or disabled since it was accepted: the delivery is dropped.
    Log(LogLevel::kInfo,
        absl::StrCat("webhooks: delivery ", job.delivery_id, " to ", job.webhook_id,
                     " dropped: ", read.ok() ? "the webhook is disabled" : read.message()));
    const SqlValue params[] = {job.delivery_id, clock_.NowMillis()};
    absl::Status dropped = db_.Write([&](SqlSession& session) -> absl::Status {
      return session
          .Execute("UPDATE cicd_webhook_outbox SET state = 'dropped', finished_ms = $2, "
                   "next_try_ms = 0 WHERE delivery_id = $1",
                   params)
          .status();
    });
    if (!dropped.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("webhooks: could not mark delivery ", job.delivery_id,
                                           " dropped: ", dropped.message()));
    }
    return;
  }
  WebhookHttpAnswer answer =
      PostWebhook(found->webhook.url, job.body, job.delivery_id, found->secret, clock_.NowMillis(),
                  options_.timeout_ms, &cancel_);
  const bool answered_ok = answer.status >= 200 && answer.status <= 299;
  if (cancel_.load() && !answered_ok) {
    // Cut short by Shutdown: not a try (it neither counts nor is recorded, so a delivery on
    // its last try is not lost); pending, tried again at once by the next start.
    const SqlValue params[] = {job.delivery_id, clock_.NowMillis()};
    absl::Status kept = db_.Write([&](SqlSession& session) -> absl::Status {
      return session
          .Execute("UPDATE cicd_webhook_outbox SET next_try_ms = $2 WHERE delivery_id = $1",
                   params)
          .status();
    });
    if (!kept.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("webhooks: delivery ", job.delivery_id,
                                           " abandoned at shutdown: ", kept.message()));
    }
    return;
  }
  ++job.attempts_made;
  WebhookDelivery d;
  d.delivery_id = job.delivery_id;
  d.attempt = job.attempts_made;
  d.webhook_id = job.webhook_id;
  d.event = job.event;
  d.payload = job.body;
  d.time_ms = clock_.NowMillis();
  d.http_status = answer.status;
  d.success = answer.status >= 200 && answer.status <= 299;
  d.error = answer.error;
  const bool retry = !d.success && Retryable(answer.status) && d.attempt < options_.attempts;
  d.final = !retry;
  if (retry) {
    int64_t backoff = options_.backoff_ms;
    for (int i = 1; i < d.attempt && backoff < options_.max_backoff_ms; ++i) backoff *= 2;
    backoff = std::min(std::max(backoff, answer.retry_after_ms), options_.max_backoff_ms);
    d.next_try_ms = d.time_ms + backoff;
  }
  const std::string state = d.success ? "delivered" : retry ? kPending : "failed";
  const SqlValue params[] = {d.delivery_id, int64_t{d.attempt}, d.next_try_ms, state,
                             retry ? int64_t{0} : d.time_ms};
  absl::Status recorded = db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_RETURN_IF_ERROR(InsertTry(session, d));
    CAIRN_RETURN_IF_ERROR(session
                              .Execute("UPDATE cicd_webhook_outbox SET attempts = $2, "
                                       "next_try_ms = $3, state = $4, finished_ms = $5 "
                                       "WHERE delivery_id = $1",
                                       params)
                              .status());
    if (retry) return absl::OkStatus();
    return PruneHistory(session, d.webhook_id, options_.history, options_.attempts);
  });
  if (!recorded.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("webhooks: could not record delivery ", d.delivery_id,
                                         " try ", d.attempt, ": ", recorded.message()));
  }
  if (!d.success) {
    Log(retry ? LogLevel::kInfo : LogLevel::kWarning,
        absl::StrCat("webhook ", found->webhook.name, ": ", d.event, " try ", d.attempt, " of ",
                     options_.attempts, " failed: ", d.error,
                     retry ? "; retrying"
                           : "; giving up"));
  }
  if (!retry) return;
  job.due_ms = d.next_try_ms;
  auto again = std::make_shared<Job>(std::move(job));
  absl::MutexLock lock(&mu_);
  if (!stopping_) queue_.push_back(std::move(again));
}

}  // namespace cairn::cicd
