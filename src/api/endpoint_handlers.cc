#include "api/endpoint_handlers.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/api_context.h"
#include "api/apply_changes.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/status.h"
#include "common/clock.h"
#include "common/strings.h"
#include "features/definition_yaml.h"
#include "features/feature_store.h"
#include "serving/endpoint_json.h"
#include "serving/endpoint_registry.h"
#include "serving/endpoint_service.h"
#include "serving/endpoint_store.h"
#include "serving/endpoint_yaml.h"
#include "serving/inference_log.h"

namespace cairn::api {
namespace {

using serving::EndpointChange;
using serving::EndpointSpec;
using serving::EndpointVersion;

HttpResponse Error(const absl::Status& status) {
  return ErrorResponse(status, ErrorDialect::kCairn);
}

HttpResponse Ok(const Json& body) { return JsonResponse(DumpJson(body)); }

// NotFound naming the endpoint when it was never defined (a removed one stays readable:
// its log, rollouts and events are kept).
absl::Status KnownEndpoint(const ApiContext& ctx, const HttpRequest& request) {
  if (ctx.endpoint_registry == nullptr) return absl::OkStatus();
  return ctx.endpoint_registry->Get(*request.PathParam("name")).status();
}

absl::StatusOr<bool> Flag(const Json& body, const char* name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<bool> value, OptionalBool(body, name));
  return value.value_or(false);
}

HttpResponse Apply(const ApiContext& ctx, const HttpRequest& request) {
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
  absl::StatusOr<std::vector<EndpointSpec>> specs = serving::ParseEndpointFiles(definitions);
  if (!specs.ok()) return Error(specs.status());
  absl::StatusOr<std::vector<EndpointChange>> plan =
      ctx.endpoint_registry->Apply(*specs, *dry_run, *prune);
  if (!plan.ok()) return Error(plan.status());
  Json reply = ApplyChangesReply("Endpoint", *plan, *specs, *dry_run);
  if (!*dry_run && ctx.endpoints != nullptr) {
    // The definitions are stored either way; a model that cannot load yet (not
    // registered, no alias) is reported and retried by the service's recheck.
    absl::Status synced = ctx.endpoints->Sync();
    if (!synced.ok()) reply["sync_error"] = std::string(synced.message());
  }
  return Ok(reply);
}

HttpResponse List(const ApiContext& ctx) {
  absl::StatusOr<std::vector<EndpointVersion>> defined = ctx.endpoint_registry->List();
  if (!defined.ok()) return Error(defined.status());
  std::map<std::string, serving::DeploymentStatus> deployed;
  if (ctx.endpoints != nullptr) {
    for (serving::DeploymentStatus& status : ctx.endpoints->List()) {
      std::string name = status.endpoint;
      deployed.emplace(std::move(name), std::move(status));
    }
  }
  Json items = Json::array();
  for (const EndpointVersion& version : *defined) {
    auto it = deployed.find(version.name);
    Json item = it != deployed.end()
                    ? serving::DeploymentStatusToJson(it->second)
                    : Json{{"endpoint", version.name}, {"state", "pending"}};
    item["definition"] = serving::EndpointVersionToJson(version);
    items.push_back(std::move(item));
  }
  return Ok(Json{{"endpoints", std::move(items)}});
}

HttpResponse Describe(const ApiContext& ctx, const HttpRequest& request) {
  const std::string& name = *request.PathParam("name");
  if (ctx.endpoints != nullptr) {
    absl::StatusOr<Json> described = ctx.endpoints->Describe(name);
    if (described.ok()) return Ok(*described);
    if (described.status().code() != absl::StatusCode::kNotFound) {
      return Error(described.status());
    }
  }
  // Defined but not deployed (yet): the definition alone.
  absl::StatusOr<EndpointVersion> version = ctx.endpoint_registry->Get(name);
  if (!version.ok()) return Error(version.status());
  return Ok(Json{{"name", name},
                 {"definition_version", version->version},
                 {"spec", serving::EndpointSpecToJson(version->spec)},
                 {"status", {{"endpoint", name}, {"state", "pending"}}},
                 {"rollout", nullptr}});
}

HttpResponse Predict(const ApiContext& ctx, const HttpRequest& request) {
  if (request.on_io_thread) {
    // Only if the deployment it reads now still computes in process (it may have been
    // redeployed since inline_when asked); otherwise on to the predict pool.
    std::optional<absl::StatusOr<std::string>> answer =
        ctx.endpoints->PredictInProcess(*request.PathParam("name"), request.body);
    if (!answer.has_value()) {
      HttpResponse elsewhere;
      elsewhere.run_on_pool = true;
      return elsewhere;
    }
    if (!answer->ok()) return Error(answer->status());
    return JsonResponse(std::move(**answer));
  }
  absl::StatusOr<std::string> answer =
      ctx.endpoints->Predict(*request.PathParam("name"), request.body);
  if (!answer.ok()) return Error(answer.status());
  return JsonResponse(std::move(*answer));
}

HttpResponse PredictBatch(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<std::optional<std::string>> input = OptionalString(*body, "input");
  if (!input.ok()) return Error(input.status());
  absl::StatusOr<std::optional<std::string>> training_set =
      OptionalString(*body, "training_set");
  if (!training_set.ok()) return Error(training_set.status());
  if (input->has_value() == training_set->has_value()) {
    return Error(absl::InvalidArgumentError(absl::StrCat(
        "input, training_set: ", input->has_value() ? "both given" : "neither given",
        "; give exactly one: \"input\" (a CSV file under the server's data directory) or "
        "\"training_set\" (the id of a saved training set)")));
  }
  absl::StatusOr<std::string> output = RequiredString(*body, "output");
  if (!output.ok()) return Error(output.status());
  const std::string& name = *request.PathParam("name");
  absl::StatusOr<int64_t> rows =
      input->has_value() ? ctx.endpoints->PredictBatch(name, **input, *output)
                         : ctx.endpoints->PredictTrainingSet(name, **training_set, *output);
  if (!rows.ok()) return Error(rows.status());
  Json answer{{"rows", *rows}, {"output", *output}};
  if (training_set->has_value()) answer["training_set"] = **training_set;
  return Ok(answer);
}

Json RecordToJson(const serving::InferenceRecord& r) {
  return Json{{"id", r.id},
              {"endpoint", r.endpoint},
              {"model", r.model},
              {"model_version", r.model_version},
              {"variant", r.variant},
              {"time_ms", r.time_ms},
              {"latency_us", r.latency_us},
              {"features", r.features},
              {"prediction", r.prediction},
              {"error", r.error},
              {"label", r.label ? Json(*r.label) : Json()},
              {"label_time_ms", r.label_time_ms}};
}

HttpResponse InferenceLog(const ApiContext& ctx, const HttpRequest& request) {
  if (absl::Status known = KnownEndpoint(ctx, request); !known.ok()) return Error(known);
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  serving::InferenceLogQuery query;
  query.endpoint = *request.PathParam("name");
  auto from = OptionalInt64(*fields, "from_ms");
  if (!from.ok()) return Error(from.status());
  auto to = OptionalInt64(*fields, "to_ms");
  if (!to.ok()) return Error(to.status());
  auto max_results = OptionalInt64(*fields, "max_results");
  if (!max_results.ok()) return Error(max_results.status());
  auto variant = OptionalString(*fields, "variant");
  if (!variant.ok()) return Error(variant.status());
  auto token = OptionalString(*fields, "page_token");
  if (!token.ok()) return Error(token.status());
  query.from_ms = from->value_or(0);
  query.to_ms = to->value_or(0);
  if (max_results->has_value()) {
    if (**max_results < 1 || **max_results > 10'000) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "max_results: must be an integer from 1 to 10000, got ", **max_results)));
    }
    query.max_results = static_cast<int>(**max_results);
  }
  query.variant = variant->value_or("");
  query.page_token = token->value_or("");
  absl::StatusOr<serving::InferenceLogPage> page = ctx.inference_log->Read(query);
  if (!page.ok()) return Error(page.status());
  Json records = Json::array();
  for (const serving::InferenceRecord& record : page->records) {
    records.push_back(RecordToJson(record));
  }
  return Ok(Json{{"records", std::move(records)}, {"next_page_token", page->next_page_token}});
}

HttpResponse Labels(const ApiContext& ctx, const HttpRequest& request) {
  if (absl::Status known = KnownEndpoint(ctx, request); !known.ok()) return Error(known);
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  absl::StatusOr<Json> list = ObjectList(*body, "labels");
  if (!list.ok()) return Error(list.status());
  if (list->empty()) {
    return Error(absl::InvalidArgumentError(
        "labels: give at least one {\"id\": …, \"label\": …} to record"));
  }
  std::vector<std::pair<std::string, double>> labels;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    auto id = RequiredString(item, "id");
    if (!id.ok()) {
      return Error(absl::InvalidArgumentError(absl::StrCat("labels[", i, "].", id.status().message())));
    }
    auto label = OptionalDouble(item, "label");
    if (!label.ok() || !label->has_value()) {
      return Error(absl::InvalidArgumentError(absl::StrCat(
          "labels[", i, "].label: give the ground truth as a number (0/1 for a classifier)")));
    }
    labels.emplace_back(std::move(*id), **label);
  }
  absl::StatusOr<std::vector<serving::LabelResult>> results =
      ctx.inference_log->PostLabels(*request.PathParam("name"), labels, RealClock().NowMillis());
  if (!results.ok()) return Error(results.status());
  Json items = Json::array();
  int64_t labelled = 0;
  for (const serving::LabelResult& result : *results) {
    labelled += result.status.ok() ? 1 : 0;
    items.push_back({{"id", result.id},
                     {"ok", result.status.ok()},
                     {"error", std::string(result.status.message())}});
  }
  return Ok(Json{{"results", std::move(items)}, {"labelled", labelled}});
}

HttpResponse StartRollout(const ApiContext& ctx, const HttpRequest& request) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  Json spec_json = *body;
  for (const char* key : {"actor", "reason"}) spec_json.erase(key);
  absl::StatusOr<serving::RolloutSpec> spec = serving::RolloutSpecFromJson(spec_json);
  if (!spec.ok()) return Error(spec.status());
  auto reason = OptionalString(*body, "reason");
  if (!reason.ok()) return Error(reason.status());
  absl::StatusOr<std::string> actor = RequestActor(request, *body);
  if (!actor.ok()) return Error(actor.status());
  absl::StatusOr<serving::Rollout> rollout = ctx.endpoints->StartRollout(
      *request.PathParam("name"), *spec, *actor, reason->value_or(""));
  if (!rollout.ok()) return Error(rollout.status());
  return Ok(Json{{"rollout", serving::RolloutToJson(*rollout)}});
}

HttpResponse ListRollouts(const ApiContext& ctx, const HttpRequest& request) {
  if (absl::Status known = KnownEndpoint(ctx, request); !known.ok()) return Error(known);
  absl::StatusOr<std::vector<serving::Rollout>> rollouts =
      ctx.endpoint_store->List(*request.PathParam("name"));
  if (!rollouts.ok()) return Error(rollouts.status());
  Json items = Json::array();
  for (const serving::Rollout& rollout : *rollouts) items.push_back(serving::RolloutToJson(rollout));
  return Ok(Json{{"rollouts", std::move(items)}});
}

HttpResponse StopRollout(const ApiContext& ctx, const HttpRequest& request,
                         const char* action) {
  absl::StatusOr<Json> body = RequestFields(request);
  if (!body.ok()) return Error(body.status());
  auto reason = OptionalString(*body, "reason");
  if (!reason.ok()) return Error(reason.status());
  absl::StatusOr<std::string> actor = RequestActor(request, *body);
  if (!actor.ok()) return Error(actor.status());
  absl::StatusOr<serving::Rollout> rollout =
      ctx.endpoints->StopRollout(*request.PathParam("name"), *request.PathParam("id"), action,
                                 *actor, reason->value_or(""));
  if (!rollout.ok()) return Error(rollout.status());
  return Ok(Json{{"rollout", serving::RolloutToJson(*rollout)}});
}

HttpResponse Events(const ApiContext& ctx, const HttpRequest& request) {
  if (absl::Status known = KnownEndpoint(ctx, request); !known.ok()) return Error(known);
  absl::StatusOr<Json> fields = RequestFields(request);
  if (!fields.ok()) return Error(fields.status());
  auto limit = OptionalInt64(*fields, "limit");
  if (!limit.ok()) return Error(limit.status());
  auto kind = OptionalString(*fields, "kind");
  if (!kind.ok()) return Error(kind.status());
  const int64_t n = limit->value_or(100);
  if (n < 1 || n > 10'000) {
    return Error(absl::InvalidArgumentError(
        absl::StrCat("limit: must be an integer from 1 to 10000, got ", n)));
  }
  absl::StatusOr<std::vector<serving::EndpointEvent>> events =
      ctx.endpoint_store->ListEvents(*request.PathParam("name"), n, kind->value_or(""));
  if (!events.ok()) return Error(events.status());
  Json items = Json::array();
  for (const serving::EndpointEvent& event : *events) {
    items.push_back(serving::EndpointEventToJson(event));
  }
  return Ok(Json{{"events", std::move(items)}});
}

}  // namespace

// The largest predict body answered on an I/O thread (a few hundred rows).
constexpr size_t kInlinePredictMaxBody = 16 * 1024;

void RegisterEndpointRoutes(Router& router, const ApiContext& ctx) {
  const ApiContext* c = &ctx;
  const std::string base = "/api/v1/endpoints";
  if (ctx.endpoint_registry != nullptr) {
    router.Add("POST", base + "/apply", [c](const HttpRequest& r) { return Apply(*c, r); });
    router.Add("GET", base, [c](const HttpRequest&) { return List(*c); });
    router.Add("GET", base + "/{name}", [c](const HttpRequest& r) { return Describe(*c, r); });
  }
  if (ctx.endpoints != nullptr) {
    // A prediction that computes in process (XGBoost) over in-memory online features
    // answers on the I/O thread: two thread hand-offs fewer per request. The rest (Python
    // workers, a remote online store) runs on the predict pool.
    RouteOptions predict_options{.pool = HandlerPool::kPredict};
    // Small requests only: a big batch of rows would hold the I/O thread (and every
    // connection on it) for its whole prediction.
    if (ctx.feature_store == nullptr || ctx.feature_store->online_is_embedded()) {
      predict_options.inline_when = [c](const HttpRequest& r) {
        const std::string* name = r.PathParam("name");
        return r.body.size() <= kInlinePredictMaxBody && name != nullptr &&
               c->endpoints->PredictsInProcess(*name);
      };
    }
    router.Add("POST", base + "/{name}/predict",
               [c](const HttpRequest& r) { return Predict(*c, r); }, std::move(predict_options));
    router.Add("POST", base + "/{name}/predict-batch",
               [c](const HttpRequest& r) { return PredictBatch(*c, r); });
    router.Add("POST", base + "/{name}/rollouts",
               [c](const HttpRequest& r) { return StartRollout(*c, r); });
    router.Add("POST", base + "/{name}/rollouts/{id}/promote",
               [c](const HttpRequest& r) { return StopRollout(*c, r, "promote"); });
    router.Add("POST", base + "/{name}/rollouts/{id}/rollback",
               [c](const HttpRequest& r) { return StopRollout(*c, r, "rollback"); });
  }
  if (ctx.endpoint_store != nullptr) {
    router.Add("GET", base + "/{name}/rollouts",
               [c](const HttpRequest& r) { return ListRollouts(*c, r); });
    router.Add("GET", base + "/{name}/events", [c](const HttpRequest& r) { return Events(*c, r); });
  }
  if (ctx.inference_log != nullptr) {
    router.Add("GET", base + "/{name}/inference-log",
               [c](const HttpRequest& r) { return InferenceLog(*c, r); });
    router.Add("POST", base + "/{name}/labels", [c](const HttpRequest& r) { return Labels(*c, r); });
  }
}

}  // namespace cairn::api
