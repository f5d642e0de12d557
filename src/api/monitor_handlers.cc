#include "api/monitor_handlers.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/apply_changes.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/monitors/monitor_registry.h"
#include "monitoring/monitors/monitor_service.h"
#include "monitoring/monitors/monitor_yaml.h"

namespace cairn::api {
namespace {

using monitoring::MonitorChange;
using monitoring::MonitorRun;
using monitoring::MonitorService;
using monitoring::MonitorSpec;
using monitoring::MonitorVersion;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

absl::StatusOr<bool> Flag(const Json& body, const char* name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<bool> value, OptionalBool(body, name));
  return value.value_or(false);
}

Json Summary(const MonitorVersion& v) {
  const MonitorSpec& spec = v.spec;
  Json target = {{"feature_view", spec.target.feature_view},
                 {"window_ms", spec.target.window_ms},
                 {"rows", spec.target.rows}};
  if (!spec.target.endpoint.empty()) target["endpoint"] = spec.target.endpoint;
  Json reference = Json::object();
  if (!spec.reference.path.empty()) reference["path"] = spec.reference.path;
  if (!spec.reference.profile.empty()) reference["profile"] = spec.reference.profile;
  if (!spec.reference.feature_view.empty()) {
    reference["feature_view"] = spec.reference.feature_view;
    reference["from_ms"] = spec.reference.from_ms;
    reference["to_ms"] = spec.reference.to_ms;
  }
  return Json{{"name", v.name},
              {"version", v.version},
              {"content_hash", v.content_hash},
              {"description", spec.description},
              {"owner", spec.owner},
              {"target", std::move(target)},
              {"reference", std::move(reference)},
              {"schedule", spec.cron.empty() ? Json() : Json(spec.cron)},
              {"trigger", spec.trigger_on.empty() ? Json() : Json(spec.trigger_on)},
              {"severity", std::string(monitoring::SeverityName(spec.severity))},
              {"on_alert", spec.on_alert ? Json(spec.on_alert->pipeline) : Json()},
              {"created_ms", v.created_ms},
              {"removed", v.removed}};
}

// The canonical JSON with literal webhook secrets hidden (a "${NAME}" reference is not a
// secret and stays readable).
Json PublicSpec(const MonitorSpec& spec) {
  Json json = monitoring::MonitorSpecToJson(spec);
  for (Json& sink : json["sinks"]) {
    std::string secret = sink.value("secret", "");
    if (!secret.empty() && !(secret.rfind("${", 0) == 0 && secret.back() == '}')) {
      sink["secret"] = "***";
    }
  }
  return json;
}

HttpResponse Apply(MonitorService& service, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<bool> dry_run = Flag(*body, "dry_run");
  if (!dry_run.ok()) return Error(dry_run.status());
  absl::StatusOr<bool> prune = Flag(*body, "prune");
  if (!prune.ok()) return Error(prune.status());
  absl::StatusOr<std::vector<ApplyFile>> files = ApplyFiles(*body);
  if (!files.ok()) return Error(files.status());
  std::vector<features::DefinitionFile> definitions;
  for (ApplyFile& file : *files) {
    definitions.push_back({std::move(file.path), std::move(file.content)});
  }
  absl::StatusOr<std::vector<MonitorSpec>> specs = monitoring::ParseMonitorFiles(definitions);
  if (!specs.ok()) return Error(specs.status());
  absl::StatusOr<std::vector<MonitorChange>> plan = service.Apply(*specs, *dry_run, *prune);
  if (!plan.ok()) return Error(plan.status());
  return JsonResponse(DumpJson(ApplyChangesReply("Monitor", *plan, *specs, *dry_run)));
}

HttpResponse List(MonitorService& service) {
  auto list = service.registry().List();
  if (!list.ok()) return Error(list.status());
  Json items = Json::array();
  for (const MonitorVersion& v : *list) items.push_back(Summary(v));
  return JsonResponse(DumpJson(Json{{"monitors", std::move(items)}}));
}

HttpResponse Get(MonitorService& service, const HttpRequest& request) {
  const std::string& name = *request.PathParam("name");
  auto monitor = service.registry().Get(name);
  if (!monitor.ok()) return Error(monitor.status());
  Json item = Summary(*monitor);
  item["spec"] = PublicSpec(monitor->spec);
  item["schedule_state"] = nullptr;
  if (auto state = service.ScheduleState(name)) {
    item["schedule_state"] = {{"cron", state->cron},
                              {"catchup", std::string(pipelines::CatchupName(state->catchup))},
                              {"handled_until_ms", state->handled_until_ms},
                              {"next_fire_ms", state->next_fire_ms ? Json(*state->next_fire_ms)
                                                                   : Json()},
                              {"last_fire_ms", state->last_fire_ms},
                              {"last_run_id", state->last_run_id},
                              {"last_error", state->last_error}};
  }
  auto runs = service.runner().ListRuns(name, 1);
  if (!runs.ok()) return Error(runs.status());
  item["last_run"] = runs->empty() ? Json() : monitoring::MonitorRunToJson(runs->front(), false);
  return JsonResponse(DumpJson(Json{{"monitor", std::move(item)}}));
}

HttpResponse Run(MonitorService& service, const HttpRequest& request) {
  auto run = service.RunNow(*request.PathParam("name"));
  if (!run.ok()) return Error(run.status());
  return JsonResponse(DumpJson(Json{{"run", monitoring::MonitorRunToJson(*run, true)}}));
}

HttpResponse Runs(MonitorService& service, const HttpRequest& request) {
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  auto limit = OptionalInt64(*fields, "limit");
  if (!limit.ok()) return Error(limit.status());
  const int64_t n = limit->value_or(50);
  if (n < 1 || n > 1000) {
    return Error(absl::InvalidArgumentError(
        absl::StrCat("limit: must be an integer from 1 to 1000, got ", n)));
  }
  const std::string& name = *request.PathParam("name");
  auto monitor = service.registry().Get(name);
  if (!monitor.ok()) return Error(monitor.status());
  auto runs = service.runner().ListRuns(name, static_cast<int>(n));
  if (!runs.ok()) return Error(runs.status());
  Json items = Json::array();
  for (const MonitorRun& run : *runs) items.push_back(monitoring::MonitorRunToJson(run, false));
  return JsonResponse(DumpJson(Json{{"runs", std::move(items)}}));
}

HttpResponse GetRun(MonitorService& service, const HttpRequest& request) {
  auto run = service.runner().GetRun(*request.PathParam("id"));
  if (!run.ok()) return Error(run.status());
  return JsonResponse(DumpJson(Json{{"run", monitoring::MonitorRunToJson(*run, true)}}));
}

HttpResponse Report(MonitorService& service, const HttpRequest& request) {
  auto html = service.runner().Report(*request.PathParam("id"));
  if (!html.ok()) return Error(html.status());
  const std::string* format = request.QueryParam("format");
  if (format != nullptr && *format == "json") {
    return JsonResponse(DumpJson(Json{{"html", std::move(*html)}}));
  }
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body = std::move(*html);
  return response;
}

}  // namespace

void RegisterMonitorRoutes(Router& router, MonitorService& monitors) {
  MonitorService* m = &monitors;
  router.Add("POST", "/api/v1/monitoring/apply",
             [m](const HttpRequest& request) { return Apply(*m, request); });
  router.Add("GET", "/api/v1/monitoring/monitors", [m](const HttpRequest&) { return List(*m); });
  router.Add("GET", "/api/v1/monitoring/monitors/{name}",
             [m](const HttpRequest& request) { return Get(*m, request); });
  router.Add("POST", "/api/v1/monitoring/monitors/{name}/run",
             [m](const HttpRequest& request) { return Run(*m, request); });
  router.Add("GET", "/api/v1/monitoring/monitors/{name}/runs",
             [m](const HttpRequest& request) { return Runs(*m, request); });
  router.Add("GET", "/api/v1/monitoring/runs/{id}",
             [m](const HttpRequest& request) { return GetRun(*m, request); });
  router.Add("GET", "/api/v1/monitoring/runs/{id}/report",
             [m](const HttpRequest& request) { return Report(*m, request); });
}

}  // namespace cairn::api
