#include "api/alert_handlers.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/json.h"
#include "monitoring/alerts/alert_service.h"
#include "monitoring/alerts/alert_types.h"

namespace cairn::api {
namespace {

using monitoring::Alert;
using monitoring::AlertService;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

HttpResponse AlertResponse(const absl::StatusOr<Alert>& alert) {
  if (!alert.ok()) return Error(alert.status());
  return JsonResponse(DumpJson(Json{{"alert", monitoring::AlertToJson(*alert, true)}}));
}

// A query parameter (or body field) that must be one of a closed set.
absl::StatusOr<std::optional<std::string>> Choice(const Json& fields, const char* name) {
  absl::StatusOr<std::optional<std::string>> value = OptionalString(fields, name);
  if (!value.ok()) return value.status();
  if (value->has_value() && (*value)->empty()) return std::optional<std::string>();
  return value;
}

HttpResponse List(AlertService& alerts, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  monitoring::AlertFilter filter;
  absl::StatusOr<std::optional<std::string>> state = Choice(*fields, "state");
  if (!state.ok()) return Error(state.status());
  if (state->has_value()) {
    filter.state = monitoring::ParseAlertState(**state);
    if (!filter.state) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "state: '", **state, "' is not an alert state; use open, acknowledged or resolved")));
    }
  }
  absl::StatusOr<std::optional<std::string>> severity = Choice(*fields, "severity");
  if (!severity.ok()) return Error(severity.status());
  if (severity->has_value()) {
    filter.severity = monitoring::ParseSeverity(**severity);
    if (!filter.severity) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "severity: '", **severity, "' is not a severity; use info, warning or critical")));
    }
  }
  absl::StatusOr<std::optional<std::string>> monitor = Choice(*fields, "monitor");
  if (!monitor.ok()) return Error(monitor.status());
  if (monitor->has_value()) filter.monitor = **monitor;
  absl::StatusOr<std::optional<int64_t>> limit = OptionalInt64(*fields, "limit");
  if (!limit.ok()) return Error(limit.status());
  if (limit->has_value()) {
    if (**limit < 1 || **limit > 1000) {
      return Error(absl::InvalidArgumentError(
          absl::StrCat("limit: ", **limit, " is out of range; use 1 to 1000")));
    }
    filter.limit = static_cast<int>(**limit);
  }
  absl::StatusOr<std::vector<Alert>> found = alerts.List(filter);
  if (!found.ok()) return Error(found.status());
  Json list = Json::array();
  for (const Alert& alert : *found) list.push_back(monitoring::AlertToJson(alert, false));
  return JsonResponse(DumpJson(Json{{"alerts", std::move(list)}}));
}

std::string IdParam(const HttpRequest& request) {
  const std::string* id = request.PathParam("id");
  return id == nullptr ? std::string() : *id;
}

// ack / resolve: {"by": "...", "note": "..."}, both optional.
HttpResponse Act(AlertService& alerts, const HttpRequest& request, bool resolve) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  absl::StatusOr<std::optional<std::string>> by = OptionalString(*fields, "by");
  if (!by.ok()) return Error(by.status());
  absl::StatusOr<std::optional<std::string>> note = OptionalString(*fields, "note");
  if (!note.ok()) return Error(note.status());
  const std::string who = by->value_or("");
  const std::string text = note->value_or("");
  const std::string id = IdParam(request);
  return AlertResponse(resolve ? alerts.Resolve(id, who, text)
                               : alerts.Acknowledge(id, who, text));
}

}  // namespace

void RegisterAlertRoutes(Router& router, AlertService& alerts) {
  AlertService* a = &alerts;
  router.Add("GET", "/api/v1/monitoring/alerts",
             [a](const HttpRequest& request) { return List(*a, request); });
  router.Add("GET", "/api/v1/monitoring/alerts/{id}",
             [a](const HttpRequest& request) { return AlertResponse(a->Get(IdParam(request))); });
  router.Add("POST", "/api/v1/monitoring/alerts/{id}/ack",
             [a](const HttpRequest& request) { return Act(*a, request, false); });
  router.Add("POST", "/api/v1/monitoring/alerts/{id}/resolve",
             [a](const HttpRequest& request) { return Act(*a, request, true); });
}

}  // namespace cairn::api
