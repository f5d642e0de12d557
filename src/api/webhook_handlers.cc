#include "api/webhook_handlers.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "cicd/webhooks.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::api {
namespace {

using cicd::Webhook;
using cicd::Webhooks;

enum class Dialect { kMlflow, kCairn };

HttpResponse Error(const absl::Status& status, Dialect dialect) {
  return ErrorResponse(status,
                       dialect == Dialect::kMlflow ? ErrorDialect::kMlflow : ErrorDialect::kCairn);
}

// webhooks.proto's enums, by number (index) and name.
constexpr const char* kEntities[] = {"",
                                     "registered_model",
                                     "model_version",
                                     "model_version_tag",
                                     "model_version_alias",
                                     "prompt",
                                     "prompt_version",
                                     "prompt_tag",
                                     "prompt_version_tag",
                                     "prompt_alias",
                                     "budget_policy"};
constexpr const char* kActions[] = {"", "created", "updated", "deleted", "set", "exceeded"};
constexpr const char* kStatuses[] = {"", "ACTIVE", "DISABLED"};

// A proto enum value: its name (any case) or its number.
template <size_t N>
absl::StatusOr<std::string> EnumValue(const Json& value, const char* const (&names)[N],
                                      const std::string& field) {
  if (value.is_number_integer()) {
    int64_t n = value.get<int64_t>();
    if (n > 0 && n < static_cast<int64_t>(N)) return std::string(names[n]);
  } else if (value.is_string()) {
    return absl::AsciiStrToLower(value.get<std::string>());
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", DumpJson(value), " is not a value of this field"));
}

// An MLflow event: {"entity": "MODEL_VERSION", "action": "CREATED"} (or numbers), or
// "model_version.created".
absl::StatusOr<std::string> MlflowEvent(const Json& event, const std::string& field) {
  if (event.is_string()) return event.get<std::string>();
  if (!event.is_object() || !event.contains("entity") || !event.contains("action")) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", DumpJson(event),
        " is not an event; write {\"entity\": \"MODEL_VERSION\", \"action\": \"CREATED\"}"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::string entity,
                         EnumValue(event["entity"], kEntities, field + ".entity"));
  CAIRN_ASSIGN_OR_RETURN(std::string action,
                         EnumValue(event["action"], kActions, field + ".action"));
  return absl::StrCat(entity, ".", action);
}

absl::StatusOr<std::vector<std::string>> Events(const Json& fields, Dialect dialect) {
  std::vector<std::string> out;
  auto it = fields.find("events");
  if (it == fields.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("events: must be a list of events, got ", DumpJson(*it)));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string field = absl::StrCat("events[", i, "]");
    if (dialect == Dialect::kMlflow) {
      CAIRN_ASSIGN_OR_RETURN(std::string event, MlflowEvent((*it)[i], field));
      out.push_back(std::move(event));
    } else if ((*it)[i].is_string()) {
      out.push_back((*it)[i].get<std::string>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": ", DumpJson((*it)[i]),
          " is not an event; write \"entity.action\", e.g. \"model_version.created\""));
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> Status(const Json& fields) {
  auto it = fields.find("status");
  if (it == fields.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) {
    CAIRN_ASSIGN_OR_RETURN(std::string status, EnumValue(*it, kStatuses, "status"));
    return status;
  }
  if (it->is_string()) return absl::AsciiStrToUpper(it->get<std::string>());
  return absl::InvalidArgumentError(
      absl::StrCat("status: ", DumpJson(*it), " is not a webhook status; use ACTIVE or DISABLED"));
}

Json MlflowEventJson(const std::string& event) {
  size_t dot = event.find('.');
  return Json{{"entity", absl::AsciiStrToUpper(event.substr(0, dot))},
              {"action", absl::AsciiStrToUpper(event.substr(dot + 1))}};
}

Json WebhookJson(const Webhook& w, Dialect dialect) {
  if (dialect == Dialect::kCairn) {
    return Json{{"id", w.id},
                {"name", w.name},
                {"description", w.description},
                {"url", w.url},
                {"events", w.events},
                {"status", w.status},
                {"has_secret", w.has_secret},
                {"creation_timestamp", w.creation_timestamp},
                {"last_updated_timestamp", w.last_updated_timestamp}};
  }
  Json events = Json::array();
  for (const std::string& event : w.events) {
    if (cicd::IsMlflowWebhookEvent(event)) events.push_back(MlflowEventJson(event));
  }
  Json out = {{"webhook_id", w.id},
              {"name", w.name},
              {"url", w.url},
              {"events", std::move(events)},
              {"status", w.status},
              {"creation_timestamp", w.creation_timestamp},
              {"last_updated_timestamp", w.last_updated_timestamp}};
  if (!w.description.empty()) out["description"] = w.description;
  return out;
}

HttpResponse WebhookResponse(const absl::StatusOr<Webhook>& w, Dialect dialect) {
  if (!w.ok()) return Error(w.status(), dialect);
  return JsonResponse(DumpJson(Json{{"webhook", WebhookJson(*w, dialect)}}));
}

HttpResponse Create(Webhooks& webhooks, const HttpRequest& request, Dialect dialect) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status(), dialect);
  cicd::WebhookCreate create;
  auto name = RequiredString(*fields, "name");
  if (!name.ok()) return Error(name.status(), dialect);
  create.name = *std::move(name);
  auto url = RequiredString(*fields, "url");
  if (!url.ok()) return Error(url.status(), dialect);
  create.url = *std::move(url);
  auto events = Events(*fields, dialect);
  if (!events.ok()) return Error(events.status(), dialect);
  create.events = *std::move(events);
  for (auto [key, target] :
       {std::pair{"description", &create.description}, std::pair{"secret", &create.secret}}) {
    auto value = OptionalString(*fields, key);
    if (!value.ok()) return Error(value.status(), dialect);
    *target = value->value_or("");
  }
  auto status = Status(*fields);
  if (!status.ok()) return Error(status.status(), dialect);
  if (*status) create.status = **status;
  return WebhookResponse(webhooks.Create(create), dialect);
}

HttpResponse List(Webhooks& webhooks, const HttpRequest& request, Dialect dialect) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status(), dialect);
  auto max_results = OptionalInt64(*fields, "max_results");
  if (!max_results.ok()) return Error(max_results.status(), dialect);
  auto token = OptionalString(*fields, "page_token");
  if (!token.ok()) return Error(token.status(), dialect);
  const int64_t n = max_results->value_or(0);
  if (n < 0 || n > 1000) {
    return Error(absl::InvalidArgumentError(
                     absl::StrCat("max_results: must be between 1 and 1000, got ", n)),
                 dialect);
  }
  auto page = webhooks.List(static_cast<int>(n), token->value_or(""),
                            /*mlflow_only=*/dialect == Dialect::kMlflow);
  if (!page.ok()) return Error(page.status(), dialect);
  Json items = Json::array();
  for (const Webhook& w : page->webhooks) items.push_back(WebhookJson(w, dialect));
  Json out = {{"webhooks", std::move(items)}};
  if (!page->next_page_token.empty()) out["next_page_token"] = page->next_page_token;
  return JsonResponse(DumpJson(out));
}

HttpResponse Update(Webhooks& webhooks, const HttpRequest& request, const std::string& id,
                    Dialect dialect) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status(), dialect);
  cicd::WebhookUpdate update;
  for (auto [key, target] :
       {std::pair{"name", &update.name}, std::pair{"url", &update.url},
        std::pair{"description", &update.description}, std::pair{"secret", &update.secret}}) {
    auto value = OptionalString(*fields, key);
    if (!value.ok()) return Error(value.status(), dialect);
    *target = *std::move(value);
  }
  // MLflow's handler: an empty name or url changes nothing.
  if (update.name && update.name->empty()) update.name.reset();
  if (update.url && update.url->empty()) update.url.reset();
  auto events = Events(*fields, dialect);
  if (!events.ok()) return Error(events.status(), dialect);
  if (!events->empty()) update.events = *std::move(events);
  auto status = Status(*fields);
  if (!status.ok()) return Error(status.status(), dialect);
  update.status = *status;
  return WebhookResponse(webhooks.Update(id, update), dialect);
}

HttpResponse Delete(Webhooks& webhooks, const std::string& id, Dialect dialect) {
  absl::Status deleted = webhooks.Delete(id);
  if (!deleted.ok()) return Error(deleted, dialect);
  return JsonResponse("{}");
}

HttpResponse Test(Webhooks& webhooks, const HttpRequest& request, const std::string& id,
                  Dialect dialect) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status(), dialect);
  std::optional<std::string> event;
  auto it = fields->find("event");
  if (it != fields->end() && !it->is_null()) {
    absl::StatusOr<std::string> parsed = MlflowEvent(*it, "event");
    if (!parsed.ok()) return Error(parsed.status(), dialect);
    event = *std::move(parsed);
  }
  auto result = webhooks.Test(id, event);
  if (!result.ok()) return Error(result.status(), dialect);
  Json out = {{"success", result->success}};
  if (result->response_status != 0) out["response_status"] = result->response_status;
  if (!result->response_body.empty()) out["response_body"] = result->response_body;
  if (!result->error_message.empty()) out["error_message"] = result->error_message;
  return JsonResponse(DumpJson(Json{{"result", std::move(out)}}));
}

// The request's `limit` (default 50): InvalidArgument outside 1..1000.
absl::StatusOr<int> ListLimit(const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> limit, OptionalInt64(fields, "limit"));
  const int64_t n = limit.value_or(50);
  if (n < 1 || n > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be an integer from 1 to 1000, got ", n));
  }
  return static_cast<int>(n);
}

HttpResponse Deliveries(Webhooks& webhooks, const HttpRequest& request, const std::string& id) {
  absl::StatusOr<int> limit = ListLimit(request);
  if (!limit.ok()) return Error(limit.status(), Dialect::kCairn);
  auto deliveries = webhooks.ListDeliveries(id, *limit);
  if (!deliveries.ok()) return Error(deliveries.status(), Dialect::kCairn);
  Json items = Json::array();
  for (const cicd::WebhookDelivery& d : *deliveries) {
    items.push_back(Json{{"delivery_id", d.delivery_id},
                         {"attempt", d.attempt},
                         {"event", d.event},
                         {"time_ms", d.time_ms},
                         {"success", d.success},
                         {"final", d.final},
                         {"test", d.test},
                         {"http_status", d.http_status},
                         {"error", d.error},
                         {"next_try_ms", d.next_try_ms},
                         {"payload", d.payload}});
  }
  return JsonResponse(DumpJson(Json{{"deliveries", std::move(items)}}));
}

HttpResponse Outbox(Webhooks& webhooks, const HttpRequest& request, const std::string& id) {
  absl::StatusOr<int> limit = ListLimit(request);
  if (!limit.ok()) return Error(limit.status(), Dialect::kCairn);
  auto outbox = webhooks.ListOutbox(id, *limit);
  if (!outbox.ok()) return Error(outbox.status(), Dialect::kCairn);
  Json items = Json::array();
  for (const cicd::WebhookOutboxEntry& e : *outbox) {
    items.push_back(Json{{"delivery_id", e.delivery_id},
                         {"event", e.event},
                         {"state", e.state},
                         {"attempts", e.attempts},
                         {"accepted_ms", e.accepted_ms},
                         {"next_try_ms", e.next_try_ms},
                         {"finished_ms", e.finished_ms}});
  }
  return JsonResponse(DumpJson(Json{{"outbox", std::move(items)}}));
}

void RegisterDialect(Router& router, Webhooks* w, Dialect dialect) {
  const char* id_param = dialect == Dialect::kMlflow ? "webhook_id" : "id";
  auto add = [&](std::string method, std::string suffix, Handler handler) {
    if (dialect == Dialect::kMlflow) {
      router.AddMlflow(std::move(method), suffix, std::move(handler));
    } else {
      router.Add(std::move(method), "/api/v1/" + suffix, std::move(handler));
    }
  };
  const std::string one = absl::StrCat("webhooks/{", id_param, "}");
  auto id = [id_param](const HttpRequest& request) { return *request.PathParam(id_param); };
  add("POST", "webhooks", [w, dialect](const HttpRequest& r) { return Create(*w, r, dialect); });
  add("GET", "webhooks", [w, dialect](const HttpRequest& r) { return List(*w, r, dialect); });
  add("GET", one,
      [w, dialect, id](const HttpRequest& r) { return WebhookResponse(w->Get(id(r)), dialect); });
  add("PATCH", one,
      [w, dialect, id](const HttpRequest& r) { return Update(*w, r, id(r), dialect); });
  add("DELETE", one, [w, dialect, id](const HttpRequest& r) { return Delete(*w, id(r), dialect); });
  add("POST", one + "/test",
      [w, dialect, id](const HttpRequest& r) { return Test(*w, r, id(r), dialect); });
  if (dialect == Dialect::kCairn) {
    add("GET", one + "/deliveries",
        [w, id](const HttpRequest& r) { return Deliveries(*w, r, id(r)); });
    add("GET", one + "/outbox", [w, id](const HttpRequest& r) { return Outbox(*w, r, id(r)); });
  }
}

}  // namespace

void RegisterWebhookRoutes(Router& router, Webhooks& webhooks) {
  RegisterDialect(router, &webhooks, Dialect::kMlflow);
  RegisterDialect(router, &webhooks, Dialect::kCairn);
}

}  // namespace cairn::api
