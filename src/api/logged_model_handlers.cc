#include "api/logged_model_handlers.h"

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "api/artifact_responses.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/json.h"
#include "common/status.h"
#include "storage/artifact_store.h"
#include "tracking/logged_model_store.h"

namespace cairn::api {
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;
using tracking::LoggedModel;

HttpResponse Respond(const absl::StatusOr<HttpResponse>& result) {
  return result.ok() ? *result : ErrorResponse(result.status());
}

Json KeyValuesJson(const KeyValues& values) {
  Json array = Json::array();
  for (const auto& [key, value] : values) array.push_back({{"key", key}, {"value", value}});
  return array;
}

// proto3 JSON for a double: non-finite values as strings.
Json DoubleJson(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

Json MetricJson(const tracking::LoggedModelMetric& metric) {
  Json json = {{"key", metric.key},          {"value", DoubleJson(metric.value)},
               {"timestamp", metric.timestamp}, {"step", metric.step},
               {"model_id", metric.model_id}};
  if (!metric.run_id.empty()) json["run_id"] = metric.run_id;
  if (!metric.dataset_name.empty()) json["dataset_name"] = metric.dataset_name;
  if (!metric.dataset_digest.empty()) json["dataset_digest"] = metric.dataset_digest;
  return json;
}

// MLflow's LoggedModel message as its server writes it (empty fields omitted,
// model_type always present).
Json LoggedModelJson(const LoggedModel& model) {
  Json info = {
      {"model_id", model.model_id},
      {"experiment_id", model.experiment_id},
      {"name", model.name},
      {"creation_timestamp_ms", model.creation_timestamp_ms},
      {"last_updated_timestamp_ms", model.last_updated_timestamp_ms},
      {"artifact_uri", model.artifact_location},
      {"status", std::string(tracking::LoggedModelStatusName(model.status))},
      {"model_type", model.model_type},
  };
  if (!model.source_run_id.empty()) info["source_run_id"] = model.source_run_id;
  if (!model.status_message.empty()) info["status_message"] = model.status_message;
  if (!model.tags.empty()) info["tags"] = KeyValuesJson(model.tags);
  Json data = Json::object();
  if (!model.params.empty()) data["params"] = KeyValuesJson(model.params);
  if (!model.metrics.empty()) {
    Json metrics = Json::array();
    for (const tracking::LoggedModelMetric& metric : model.metrics)
      metrics.push_back(MetricJson(metric));
    data["metrics"] = std::move(metrics);
  }
  return {{"info", std::move(info)}, {"data", std::move(data)}};
}

HttpResponse ModelResponse(const LoggedModel& model) {
  return JsonResponse(DumpJson(Json{{"model", LoggedModelJson(model)}}));
}

// A repeated {key, value} field ("params", "tags").
absl::StatusOr<KeyValues> KeyValueList(const Json& fields, std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(Json items, ObjectList(fields, name));
  KeyValues values;
  for (const Json& item : items) {
    CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredString(item, "key"));
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, OptionalString(item, "value"));
    values.emplace_back(std::move(key), value.value_or(""));
  }
  return values;
}

std::string ModelIdOf(const HttpRequest& request) {
  const std::string* id = request.PathParam("model_id");
  return id ? *id : std::string();
}

absl::StatusOr<HttpResponse> Create(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  tracking::CreateLoggedModelRequest create;
  CAIRN_ASSIGN_OR_RETURN(create.experiment_id, RequiredString(fields, "experiment_id"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> name, OptionalString(fields, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> model_type,
                         OptionalString(fields, "model_type"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> source_run_id,
                         OptionalString(fields, "source_run_id"));
  create.name = name.value_or("");
  create.model_type = model_type.value_or("");
  create.source_run_id = source_run_id.value_or("");
  CAIRN_ASSIGN_OR_RETURN(create.params, KeyValueList(fields, "params"));
  CAIRN_ASSIGN_OR_RETURN(create.tags, KeyValueList(fields, "tags"));
  CAIRN_ASSIGN_OR_RETURN(LoggedModel model, ctx.logged_models->Create(create));
  return ModelResponse(model);
}

absl::StatusOr<HttpResponse> Get(const ApiContext& ctx, const HttpRequest& request) {
  const std::string* allow = request.QueryParam("allow_deleted");
  bool allow_deleted = allow != nullptr && absl::AsciiStrToLower(*allow) == "true";
  CAIRN_ASSIGN_OR_RETURN(LoggedModel model,
                         ctx.logged_models->Get(ModelIdOf(request), allow_deleted));
  return ModelResponse(model);
}

absl::StatusOr<HttpResponse> Finalize(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  auto status_field = fields.find("status");
  if (status_field == fields.end() || status_field->is_null()) {
    return absl::InvalidArgumentError(
        "Missing value for required parameter 'status'. See the API docs for more information "
        "about request parameters.");
  }
  std::string status_text;
  if (status_field->is_string()) {
    status_text = status_field->get<std::string>();
  } else if (status_field->is_number_integer()) {
    status_text = std::to_string(status_field->get<int64_t>());
  } else {
    return absl::InvalidArgumentError(absl::StrCat("Invalid value ", DumpJson(*status_field),
                                                   " for parameter 'status' supplied"));
  }
  CAIRN_ASSIGN_OR_RETURN(tracking::LoggedModelStatus status,
                         tracking::ParseLoggedModelStatus(status_text));
  CAIRN_ASSIGN_OR_RETURN(LoggedModel model,
                         ctx.logged_models->Finalize(ModelIdOf(request), status));
  return ModelResponse(model);
}

absl::StatusOr<HttpResponse> Delete(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_RETURN_IF_ERROR(ctx.logged_models->Delete(ModelIdOf(request)));
  return JsonResponse("{}");
}

absl::StatusOr<HttpResponse> SetTags(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(KeyValues tags, KeyValueList(fields, "tags"));
  CAIRN_RETURN_IF_ERROR(ctx.logged_models->SetTags(ModelIdOf(request), tags));
  return JsonResponse("{}");
}

absl::StatusOr<HttpResponse> DeleteTag(const ApiContext& ctx, const HttpRequest& request) {
  const std::string* key = request.PathParam("tag_key");
  CAIRN_RETURN_IF_ERROR(ctx.logged_models->DeleteTag(ModelIdOf(request), key ? *key : ""));
  return JsonResponse("{}");
}

absl::StatusOr<HttpResponse> LogParams(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(KeyValues params, KeyValueList(fields, "params"));
  CAIRN_RETURN_IF_ERROR(ctx.logged_models->LogParams(ModelIdOf(request), params));
  return JsonResponse("{}");
}

absl::StatusOr<HttpResponse> Search(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  tracking::SearchLoggedModelsRequest search;
  CAIRN_ASSIGN_OR_RETURN(search.experiment_ids, StringList(fields, "experiment_ids"));
  if (search.experiment_ids.empty()) {
    return absl::InvalidArgumentError(
        "Missing value for required parameter 'experiment_ids'. See the API docs for more "
        "information about request parameters.");
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> filter, OptionalString(fields, "filter"));
  search.filter = filter.value_or("");
  CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> max_results,
                         OptionalInt64(fields, "max_results"));
  search.max_results = max_results.value_or(0);
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> page_token,
                         OptionalString(fields, "page_token"));
  search.page_token = page_token.value_or("");
  CAIRN_ASSIGN_OR_RETURN(Json datasets, ObjectList(fields, "datasets"));
  for (const Json& dataset : datasets) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> name,
                           OptionalString(dataset, "dataset_name"));
    if (!name || name->empty()) {
      return absl::InvalidArgumentError(
          "`dataset_name` in the `datasets` clause must be specified.");
    }
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> digest,
                           OptionalString(dataset, "dataset_digest"));
    search.datasets.emplace_back(*name, digest.value_or(""));
  }
  CAIRN_ASSIGN_OR_RETURN(Json order_by, ObjectList(fields, "order_by"));
  for (const Json& order : order_by) {
    tracking::LoggedModelOrderBy clause;
    CAIRN_ASSIGN_OR_RETURN(clause.field_name, RequiredString(order, "field_name"));
    CAIRN_ASSIGN_OR_RETURN(std::optional<bool> ascending, OptionalBool(order, "ascending"));
    clause.ascending = ascending.value_or(true);
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> dataset_name,
                           OptionalString(order, "dataset_name"));
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> dataset_digest,
                           OptionalString(order, "dataset_digest"));
    clause.dataset_name = dataset_name.value_or("");
    clause.dataset_digest = dataset_digest.value_or("");
    search.order_by.push_back(std::move(clause));
  }
  CAIRN_ASSIGN_OR_RETURN(tracking::LoggedModelPage page, ctx.logged_models->Search(search));
  Json body = Json::object();
  if (!page.models.empty()) {
    Json models = Json::array();
    for (const LoggedModel& model : page.models) models.push_back(LoggedModelJson(model));
    body["models"] = std::move(models);
  }
  if (!page.next_page_token.empty()) body["next_page_token"] = page.next_page_token;
  return JsonResponse(DumpJson(body));
}

// The model's artifact root as a path in the proxy store; InvalidArgument when the model
// lives elsewhere (a client-chosen location this server does not serve).
absl::StatusOr<std::string> ModelArtifactRoot(const LoggedModel& model) {
  return storage::ArtifactStore::RelativePathOfUri(model.artifact_location);
}

absl::StatusOr<HttpResponse> ListArtifacts(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> dir,
                         OptionalString(fields, "artifact_directory_path"));
  std::string relative = dir.value_or("");
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(relative));
  CAIRN_ASSIGN_OR_RETURN(LoggedModel model, ctx.logged_models->Get(ModelIdOf(request)));
  Json body = {{"root_uri", model.artifact_location}};
  absl::StatusOr<std::string> root = ModelArtifactRoot(model);
  if (root.ok()) {
    CAIRN_ASSIGN_OR_RETURN(Json files, ListFilesJson(*ctx.artifacts, JoinRelative(*root, relative),
                                                     /*display_prefix=*/relative));
    if (!files.empty()) body["files"] = std::move(files);
  }
  return JsonResponse(DumpJson(body));
}

absl::StatusOr<HttpResponse> DownloadArtifact(const ApiContext& ctx,
                                              const HttpRequest& request) {
  const std::string* file = request.QueryParam("artifact_file_path");
  if (file == nullptr || file->empty()) {
    return ErrorResponse(400, "BAD_REQUEST",
                         "Request must include the \"artifact_file_path\" query parameter.");
  }
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(*file));
  CAIRN_ASSIGN_OR_RETURN(LoggedModel model, ctx.logged_models->Get(ModelIdOf(request)));
  CAIRN_ASSIGN_OR_RETURN(std::string root, ModelArtifactRoot(model));
  return FileDownloadResponse(*ctx.artifacts, JoinRelative(root, *file));
}

absl::StatusOr<HttpResponse> LogOutputs(const ApiContext& ctx, const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json fields, RequestFields(request));
  CAIRN_ASSIGN_OR_RETURN(std::string run_id, RequiredString(fields, "run_id"));
  CAIRN_ASSIGN_OR_RETURN(Json models, ObjectList(fields, "models"));
  std::vector<tracking::ModelOutput> outputs;
  for (const Json& model : models) {
    tracking::ModelOutput output;
    CAIRN_ASSIGN_OR_RETURN(output.model_id, RequiredString(model, "model_id"));
    CAIRN_ASSIGN_OR_RETURN(std::optional<int64_t> step, OptionalInt64(model, "step"));
    output.step = step.value_or(0);
    outputs.push_back(std::move(output));
  }
  CAIRN_RETURN_IF_ERROR(ctx.logged_models->LogOutputs(run_id, outputs));
  return JsonResponse("{}");
}

}  // namespace

void RegisterLoggedModelRoutes(Router& router, const ApiContext& ctx) {
  const ApiContext context = ctx;
  auto route = [&](const char* method, std::string_view suffix,
                   absl::StatusOr<HttpResponse> (*handler)(const ApiContext&,
                                                           const HttpRequest&)) {
    router.AddMlflow(method, suffix, [context, handler](const HttpRequest& request) {
      return Respond(handler(context, request));
    });
  };
  route("POST", "logged-models", Create);
  route("POST", "logged-models/search", Search);
  route("GET", "logged-models/{model_id}", Get);
  route("PATCH", "logged-models/{model_id}", Finalize);
  route("DELETE", "logged-models/{model_id}", Delete);
  route("PATCH", "logged-models/{model_id}/tags", SetTags);
  route("DELETE", "logged-models/{model_id}/tags/{*tag_key}", DeleteTag);
  route("POST", "logged-models/{model_id}/params", LogParams);
  route("GET", "logged-models/{model_id}/artifacts/directories", ListArtifacts);
  route("GET", "logged-models/{model_id}/artifacts/files", DownloadArtifact);
  route("POST", "runs/outputs", LogOutputs);
}

}  // namespace cairn::api
