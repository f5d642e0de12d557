#include "api/registry_handlers.h"

#include <cmath>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/artifact_responses.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "cicd/policy_registry.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/artifact_store.h"
#include "tracking/logged_model_store.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

using tracking::ModelRegistry;
using tracking::ModelVersion;
using tracking::RegisteredModel;
using tracking::RegistryTag;

constexpr int64_t kModelsMaxResults = 1000;
constexpr int64_t kVersionsMaxResults = 200'000;

// ---- Request fields with MLflow's strictness and wording ----

std::string PythonTypeName(const Json& value) {
  if (value.is_boolean()) return "bool";
  if (value.is_number_integer()) return "int";
  if (value.is_number()) return "float";
  if (value.is_string()) return "str";
  if (value.is_array()) return "list";
  if (value.is_object()) return "dict";
  return "NoneType";
}

absl::Status WrongType(const Json& value, std::string_view name) {
  std::string shown = DumpJson(value);
  if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid value ", shown, " for parameter '", ToAbsl(name), "' supplied:  Hint: Value was of type '",
      PythonTypeName(value), "'. See the API docs for more information about request parameters."));
}

absl::Status Missing(std::string_view name) {
  return absl::InvalidArgumentError(
      absl::StrCat("Missing value for required parameter '", ToAbsl(name),
                   "'. See the API docs for more information about request parameters."));
}

const Json* Field(const Json& fields, std::string_view name) {
  auto it = fields.find(name);
  if (it == fields.end() || it->is_null()) return nullptr;
  return &*it;
}

// A string field: absent/null → nullopt; anything but a string → InvalidArgument.
absl::StatusOr<std::optional<std::string>> StringField(const Json& fields, std::string_view name) {
  const Json* value = Field(fields, name);
  if (!value) return std::optional<std::string>();
  if (!value->is_string()) return WrongType(*value, name);
  return std::optional<std::string>(value->get<std::string>());
}

absl::StatusOr<std::string> RequiredStringField(const Json& fields, std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, StringField(fields, name));
  if (!value || value->empty()) return Missing(name);
  return *value;
}

// `version` is a string in MLflow's protos; an integer is accepted too.
absl::StatusOr<int64_t> VersionField(const Json& fields) {
  const Json* value = Field(fields, "version");
  if (!value) return Missing("version");
  if (value->is_number_integer()) return value->get<int64_t>();
  if (!value->is_string()) return WrongType(*value, "version");
  std::string text = value->get<std::string>();
  if (text.empty()) return Missing("version");
  return tracking::ParseModelVersion(text);
}

// An integer field (MLflow's _assert_intlike) in 1..`max_value`; absent → 0 (the default).
absl::StatusOr<int64_t> MaxResultsField(const Json& fields, int64_t max_value) {
  const Json* value = Field(fields, "max_results");
  if (!value) return 0;
  int64_t parsed = 0;
  bool ok = false;
  if (value->is_number_integer()) {
    parsed = value->get<int64_t>();
    ok = true;
  } else if (value->is_number_float()) {
    double number = value->get<double>();  // int(10.0) is fine for MLflow
    ok = std::floor(number) == number && std::fabs(number) <= static_cast<double>(max_value);
    if (ok) parsed = static_cast<int64_t>(number);
  } else if (value->is_string()) {
    ok = absl::SimpleAtoi(value->get<std::string>(), &parsed);
  }
  if (!ok || parsed > max_value) return WrongType(*value, "max_results");
  if (parsed < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid value for max_results. It must be a positive integer, but got ", parsed));
  return parsed;
}

absl::StatusOr<std::vector<std::string>> StringListField(const Json& fields,
                                                         std::string_view name) {
  const Json* value = Field(fields, name);
  std::vector<std::string> out;
  if (!value) return out;
  if (value->is_string()) {
    out.push_back(value->get<std::string>());
    return out;
  }
  if (!value->is_array()) return WrongType(*value, name);
  for (const Json& item : *value) {
    if (!item.is_string()) return WrongType(*value, name);
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::vector<RegistryTag>> TagsField(const Json& fields) {
  const Json* value = Field(fields, "tags");
  std::vector<RegistryTag> tags;
  if (!value) return tags;
  if (!value->is_array()) return WrongType(*value, "tags");
  for (const Json& item : *value) {
    if (!item.is_object()) return WrongType(*value, "tags");
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> key, StringField(item, "key"));
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> tag_value, StringField(item, "value"));
    tags.push_back({key.value_or(""), tag_value.value_or("")});
  }
  return tags;
}

// ---- Response shapes (what MLflow's server writes and its client parses) ----

Json TagsJson(const std::vector<RegistryTag>& tags) {
  Json out = Json::array();
  for (const RegistryTag& tag : tags) out.push_back({{"key", tag.key}, {"value", tag.value}});
  return out;
}

Json VersionJson(const ModelVersion& mv) {
  Json out = {
      {"name", mv.name},
      {"version", std::to_string(mv.version)},
      {"creation_timestamp", mv.creation_timestamp},
      {"last_updated_timestamp", mv.last_updated_timestamp},
      {"current_stage", mv.current_stage},
      {"description", mv.description.value_or("")},
      {"source", mv.source},
      {"run_id", mv.run_id.value_or("")},
      {"status", mv.status},
      {"run_link", mv.run_link},
  };
  if (!mv.user_id.empty()) out["user_id"] = mv.user_id;
  if (!mv.status_message.empty()) out["status_message"] = mv.status_message;
  if (mv.model_id) out["model_id"] = *mv.model_id;
  if (!mv.tags.empty()) out["tags"] = TagsJson(mv.tags);
  if (!mv.aliases.empty()) out["aliases"] = mv.aliases;
  return out;
}

Json RegisteredModelJson(const RegisteredModel& model) {
  Json out = {
      {"name", model.name},
      {"creation_timestamp", model.creation_timestamp},
      {"last_updated_timestamp", model.last_updated_timestamp},
  };
  if (model.description && !model.description->empty()) out["description"] = *model.description;
  if (!model.latest_versions.empty()) {
    Json versions = Json::array();
    for (const ModelVersion& mv : model.latest_versions) versions.push_back(VersionJson(mv));
    out["latest_versions"] = std::move(versions);
  }
  if (!model.tags.empty()) out["tags"] = TagsJson(model.tags);
  if (!model.aliases.empty()) {
    Json aliases = Json::array();
    for (const auto& alias : model.aliases)
      aliases.push_back({{"alias", alias.alias}, {"version", std::to_string(alias.version)}});
    out["aliases"] = std::move(aliases);
  }
  return out;
}

// ---- Handler plumbing ----

using JsonHandler = std::function<absl::StatusOr<Json>(const HttpRequest&, const Json& fields)>;

// Parses the fields, runs `fn`, and turns its result into MLflow's response or error.
// Third-party exceptions (nlohmann) stop here as 400/500 answers; nothing escapes.
Handler Mlflow(JsonHandler fn) {
  return [fn = std::move(fn)](const HttpRequest& request) -> HttpResponse {
    try {
      absl::StatusOr<Json> fields = RequestFields(request);
      if (!fields.ok()) return ErrorResponse(fields.status());
      absl::StatusOr<Json> body = fn(request, *fields);
      if (!body.ok()) return ErrorResponse(body.status());
      return JsonResponse(DumpJson(*body));
    } catch (const nlohmann::json::exception& e) {
      return ErrorResponse(absl::InvalidArgumentError(absl::StrCat("malformed request: ", e.what())));
    } catch (const std::exception& e) {
      return ErrorResponse(absl::InternalError(e.what()));
    }
  };
}

std::string Actor(const HttpRequest& request) {
  const std::string* actor = request.Header("x-cairn-actor");
  return actor && !actor->empty() ? *actor : "anonymous";
}

absl::StatusOr<std::string> Reason(const HttpRequest& request, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> reason, StringField(fields, "reason"));
  if (reason) return *reason;
  const std::string* header = request.Header("x-cairn-reason");
  return header ? *header : std::string();
}

// ---- Model version sources (MLflow's create-time validation and resolution) ----

absl::Status InvalidSource(std::string_view source, std::string_view id_name) {
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid model version source: '", ToAbsl(source), "'. The ", ToAbsl(id_name),
      " request parameter must identify the resource that contains the source."));
}

absl::Status InvalidLocalSource(std::string_view source, std::string_view id_name,
                                std::string_view owner) {
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid model version source: '", ToAbsl(source),
      "'. To use a local path as a model version source, the ", ToAbsl(id_name),
      " request parameter has to be specified and the local path has to be contained within "
      "the artifact directory of the run specified by the ",
      ToAbsl(owner), "."));
}

struct ParsedUri {
  std::string scheme;     // lower case; empty for a plain path
  std::string authority;  // lower case
  std::string path;
};

ParsedUri ParseUri(std::string_view uri) {
  ParsedUri out;
  size_t colon = uri.find(':');
  bool has_scheme = colon != std::string_view::npos && colon > 1;  // "C:" is a drive
  for (size_t idx = 0; has_scheme && idx < colon; ++idx) {
    char c = uri[idx];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      has_scheme = false;
  }
  std::string_view rest = uri;
  if (has_scheme) {
    out.scheme = absl::AsciiStrToLower(ToAbsl(uri.substr(0, colon)));
    rest = uri.substr(colon + 1);
  }
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    size_t slash = rest.find('/');
    out.authority = absl::AsciiStrToLower(ToAbsl(rest.substr(0, slash)));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  size_t query = rest.find_first_of("?#");
  out.path = std::string(rest.substr(0, query));
  return out;
}

// urllib.parse.unquote (and unquote_plus with `plus_is_space`).
std::string PercentDecode(std::string_view text, bool plus_is_space = false) {
  std::string out;
  for (size_t idx = 0; idx < text.size(); ++idx) {
    int value = 0;
    if (text[idx] == '%' && idx + 2 < text.size() &&
        absl::SimpleHexAtoi(ToAbsl(text.substr(idx + 1, 2)), &value) &&
        std::isxdigit(static_cast<unsigned char>(text[idx + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[idx + 2]))) {
      out.push_back(static_cast<char>(value));
      idx += 2;
    } else if (plus_is_space && text[idx] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[idx]);
    }
  }
  return out;
}

std::vector<std::string> PathParts(std::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(ToAbsl(path), '/', absl::SkipEmpty())) {
    std::string decoded(part);
    while (true) {
      std::string next = PercentDecode(decoded);
      if (next == decoded) break;
      decoded = std::move(next);
    }
    parts.push_back(std::move(decoded));
  }
  return parts;
}

bool IsLocal(const ParsedUri& uri) {
  return uri.scheme.empty() || (uri.scheme == "file" && (uri.authority.empty() ||
                                                         uri.authority == "localhost"));
}

// MLflow's _validate_non_local_source_contains_relative_paths: after repeated
// unquoting, no NUL, no ".." segment anywhere and no "." or ".." in the path.
absl::Status CheckNoRelativeParts(std::string_view source) {
  std::string decoded(source);
  while (true) {
    std::string next = PercentDecode(decoded, /*plus_is_space=*/true);
    if (next == decoded) break;
    decoded = std::move(next);
  }
  bool bad = decoded.find('\0') != std::string::npos;
  for (absl::string_view part : absl::StrSplit(decoded, '/')) bad |= part == "..";
  ParsedUri parsed = ParseUri(decoded);
  for (absl::string_view part : absl::StrSplit(parsed.path, '/')) bad |= part == ".";
  if (bad)
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid model version source: '", ToAbsl(source),
        "'. If supplying a source as an http, https, local file path, ftp, objectstore, or "
        "mlflow-artifacts uri, an absolute path must be provided without relative path "
        "references present. Please provide an absolute path."));
  return absl::OkStatus();
}

bool UriWithinRoot(std::string_view source, std::string_view root) {
  ParsedUri s = ParseUri(source), r = ParseUri(root);
  std::vector<std::string> sp = PathParts(s.path), rp = PathParts(r.path);
  if (s.scheme != r.scheme || s.authority != r.authority || rp.empty() || sp.size() < rp.size())
    return false;
  return std::equal(rp.begin(), rp.end(), sp.begin());
}

bool LocalWithinRoot(std::string_view source, std::string_view root) {
  std::filesystem::path s =
      std::filesystem::weakly_canonical(std::filesystem::path(ParseUri(source).path));
  std::filesystem::path r =
      std::filesystem::weakly_canonical(std::filesystem::path(ParseUri(root).path));
  auto mismatch = std::mismatch(r.begin(), r.end(), s.begin(), s.end());
  return mismatch.first == r.end();
}

bool IsMlflowArtifactSource(std::string_view source) {
  ParsedUri uri = ParseUri(source);
  if (uri.scheme == "mlflow-artifacts") return true;
  if (uri.scheme != "http" && uri.scheme != "https") return false;
  std::vector<std::string> parts = PathParts(uri.path);
  const std::vector<std::string> route = {"api", "2.0", "mlflow-artifacts", "artifacts"};
  return std::search(parts.begin(), parts.end(), route.begin(), route.end()) != parts.end();
}

// `models:/…` URIs: a logged model ("models:/m-…") or a registered one
// ("models:/name/3", "models:/name@alias", "models:/name/Production", "models:/name/latest").
struct ModelsUri {
  std::string logged_model_id;
  std::string name;
  std::optional<int64_t> version;
  std::string alias;
  std::string stage;
};

absl::StatusOr<ModelsUri> ParseModelsUri(std::string_view source) {
  ParsedUri uri = ParseUri(source);
  std::string path = uri.path;
  while (!path.empty() && path.front() == '/') path.erase(path.begin());
  while (!path.empty() && path.back() == '/') path.pop_back();
  ModelsUri out;
  if (path.empty()) return InvalidSource(source, "model_id");
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  if (parts.size() == 1) {
    size_t at = parts[0].find('@');
    if (at != std::string::npos) {
      out.name = parts[0].substr(0, at);
      out.alias = parts[0].substr(at + 1);
      if (out.name.empty() || out.alias.empty()) return InvalidSource(source, "model_id");
      return out;
    }
    if (absl::StartsWith(parts[0], "m-")) {
      out.logged_model_id = parts[0];
      return out;
    }
    return InvalidSource(source, "model_id");
  }
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty())
    return InvalidSource(source, "model_id");
  out.name = parts[0];
  int64_t version;
  if (absl::SimpleAtoi(parts[1], &version)) {
    out.version = version;
  } else if (absl::AsciiStrToLower(parts[1]) == "latest") {
    out.alias = "latest";
  } else {
    out.stage = parts[1];
  }
  return out;
}

struct ResolvedSource {
  std::string source;
  std::string storage_location;
  std::optional<std::string> run_id;
  std::optional<std::string> model_id;
};

absl::StatusOr<ResolvedSource> ResolveSource(const ApiContext& ctx, const std::string& source,
                                             std::optional<std::string> run_id,
                                             std::optional<std::string> model_id) {
  ResolvedSource out{source, "", run_id, model_id};
  ParsedUri uri = ParseUri(source);
  const bool has_run_id = run_id.has_value();
  const bool has_model_id = model_id.has_value();
  std::string run = run_id.value_or("");
  std::string logged = model_id.value_or("");

  // A registered model version as the source: point at it and inherit its lineage.
  if (uri.scheme == "models") {
    if (!uri.authority.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid model version source: '", source,
          "'. Registered model sources must use the active model registry."));
    CAIRN_ASSIGN_OR_RETURN(ModelsUri parsed, ParseModelsUri(source));
    if (parsed.logged_model_id.empty()) {
      ModelVersion referenced;
      if (parsed.version) {
        CAIRN_ASSIGN_OR_RETURN(referenced, ctx.registry->GetModelVersion(parsed.name,
                                                                         *parsed.version));
      } else if (!parsed.alias.empty()) {
        CAIRN_ASSIGN_OR_RETURN(referenced,
                               ctx.registry->GetModelVersionByAlias(parsed.name, parsed.alias));
      } else {
        CAIRN_ASSIGN_OR_RETURN(std::vector<ModelVersion> latest,
                               ctx.registry->GetLatestVersions(parsed.name, {parsed.stage}));
        if (latest.empty())
          return absl::NotFoundError(absl::StrCat("No versions of model with name '",
                                                  parsed.name, "' and stage '", parsed.stage,
                                                  "' found"));
        referenced = latest.back();
      }
      if ((has_run_id && run != referenced.run_id.value_or("")) ||
          (has_model_id && logged != referenced.model_id.value_or("")))
        return absl::InvalidArgumentError(absl::StrCat(
            "Invalid model version source: '", source,
            "'. The run_id and model_id request parameters must match the referenced model "
            "version."));
      out.source = absl::StrCat("models:/", referenced.name, "/", referenced.version);
      out.storage_location = referenced.storage_location.empty() ? referenced.source
                                                                 : referenced.storage_location;
      if (!has_run_id) out.run_id = referenced.run_id;
      if (!has_model_id) out.model_id = referenced.model_id;
      return out;
    }
    // A logged model: the model_id parameter must name it.
    if (logged != parsed.logged_model_id) return InvalidSource(source, "model_id");
  } else {
    CAIRN_RETURN_IF_ERROR(IsLocal(uri) ? absl::OkStatus() : CheckNoRelativeParts(source));
  }

  if (!logged.empty()) {
    // MLflow 3: the source lies in (or is) the logged model.
    if (ctx.logged_models == nullptr) return InvalidSource(source, "model_id");
    auto model = ctx.logged_models->Get(logged);
    if (!model.ok()) {
      if (model.status().code() == absl::StatusCode::kNotFound)
        return InvalidSource(source, "model_id");
      return model.status();
    }
    if (uri.scheme == "models") {
      out.storage_location = model->artifact_location;
    } else if (IsLocal(uri)) {
      if (!IsLocal(ParseUri(model->artifact_location)) ||
          !LocalWithinRoot(source, model->artifact_location))
        return InvalidLocalSource(source, "model_id", "model_id");
    } else if (uri.scheme == "runs") {
      return InvalidSource(source, "model_id");
    } else if (IsMlflowArtifactSource(source) &&
               !UriWithinRoot(source, model->artifact_location)) {
      return InvalidSource(source, "model_id");
    }
    if (run.empty() && !model->source_run_id.empty()) out.run_id = model->source_run_id;
    return out;
  }

  // The source lies in a run.
  std::optional<tracking::RunInfo> run_info;
  auto load_run = [&]() -> absl::Status {
    if (run.empty() || ctx.tracking == nullptr) return InvalidSource(source, "run_id");
    auto info = ctx.tracking->GetRunInfo(run);
    if (!info.ok()) {
      if (info.status().code() == absl::StatusCode::kNotFound)
        return InvalidSource(source, "run_id");
      return info.status();
    }
    run_info = *std::move(info);
    return absl::OkStatus();
  };
  if (IsLocal(uri)) {
    if (run.empty() || ctx.tracking == nullptr)
      return InvalidLocalSource(source, "run_id", "run_id");
    auto loaded = load_run();
    if (!loaded.ok() || !IsLocal(ParseUri(run_info->artifact_uri)) ||
        !LocalWithinRoot(source, run_info->artifact_uri))
      return InvalidLocalSource(source, "run_id", "run_id");
    return out;
  }
  if (uri.scheme == "runs") {
    if (!uri.authority.empty()) return InvalidSource(source, "run_id");
    std::string path = uri.path;
    while (!path.empty() && path.front() == '/') path.erase(path.begin());
    size_t slash = path.find('/');
    std::string source_run = path.substr(0, slash);
    std::string artifact_path = slash == std::string::npos ? "" : path.substr(slash + 1);
    if (run.empty() || source_run != run) return InvalidSource(source, "run_id");
    // Resolve to the run's artifact location when the run is known here.
    if (ctx.tracking != nullptr) {
      auto info = ctx.tracking->GetRunInfo(run);
      if (info.ok()) {
        std::string root = info->artifact_uri;
        while (!root.empty() && root.back() == '/') root.pop_back();
        out.storage_location = artifact_path.empty() ? root : absl::StrCat(root, "/", artifact_path);
      }
    }
    return out;
  }
  if (IsMlflowArtifactSource(source)) {
    CAIRN_RETURN_IF_ERROR(load_run());
    if (!UriWithinRoot(source, run_info->artifact_uri)) return InvalidSource(source, "run_id");
  }
  return out;
}

// Records the new version on the logged model (tag mlflow.modelVersions), as MLflow does.
void TagLoggedModel(const ApiContext& ctx, const std::string& model_id, const ModelVersion& mv) {
  if (ctx.logged_models == nullptr) return;
  auto model = ctx.logged_models->Get(model_id);
  if (!model.ok()) return;
  Json entry = {{"name", mv.name}, {"version", mv.version}};
  Json versions = Json::array();
  for (const auto& [key, value] : model->tags) {
    if (key != "mlflow.modelVersions") continue;
    auto parsed = ParseJson(value);
    if (parsed.ok() && parsed->is_array()) versions = *parsed;
  }
  for (const Json& existing : versions)
    if (existing == entry) return;
  versions.push_back(entry);
  ctx.logged_models->SetTags(model_id, {{"mlflow.modelVersions", DumpJson(versions)}})
      .IgnoreError();
}

// ---- Events for webhooks (cicd/webhooks.h) and other subscribers ----

// MLflow's test of a prompt (RegisteredModel._is_prompt): tag mlflow.prompt.is_prompt is
// "true" in any case; among repeated keys the last one counts.
bool IsPromptTags(const std::vector<RegistryTag>& tags) {
  bool prompt = false;
  for (const RegistryTag& tag : tags)
    if (tag.key == "mlflow.prompt.is_prompt") prompt = absl::AsciiStrToLower(tag.value) == "true";
  return prompt;
}

// "true" when the registered model `name` is a prompt, else "false".
std::string PromptAttribute(const ApiContext& ctx, const std::string& name) {
  absl::StatusOr<RegisteredModel> model = ctx.registry->GetRegisteredModel(name);
  return model.ok() && IsPromptTags(model->tags) ? "true" : "false";
}

// The request's tags as a JSON object in request order (a repeated key keeps its first
// place and its last value, as Python's dict comprehension does).
std::string TagsAttribute(const std::vector<RegistryTag>& tags) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const RegistryTag& tag : tags) out[tag.key] = tag.value;
  return out.dump();
}

void Publish(const ApiContext& ctx, const char* type,
             std::map<std::string, std::string> attributes) {
  if (ctx.events == nullptr) return;
  ctx.events->Publish(Event{.type = type, .attributes = std::move(attributes)});
}

// ---- Handlers ----

absl::StatusOr<Json> CreateRegisteredModel(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<RegistryTag> tags, TagsField(f));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> description, StringField(f, "description"));
  CAIRN_ASSIGN_OR_RETURN(RegisteredModel model,
                         ctx.registry->CreateRegisteredModel(name, description, tags));
  Publish(ctx, kEventRegisteredModelCreated,
          {{"model", name},
           {"tags", TagsAttribute(tags)},
           {"description", description.value_or("")},
           {"prompt", IsPromptTags(tags) ? "true" : "false"}});
  return Json{{"registered_model", RegisteredModelJson(model)}};
}

absl::StatusOr<Json> GetRegisteredModel(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(RegisteredModel model, ctx.registry->GetRegisteredModel(name));
  return Json{{"registered_model", RegisteredModelJson(model)}};
}

absl::StatusOr<Json> UpdateRegisteredModel(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> description, StringField(f, "description"));
  // As MLflow: an absent description is the proto default "" and clears it.
  CAIRN_ASSIGN_OR_RETURN(RegisteredModel model,
                         ctx.registry->UpdateRegisteredModel(name, description.value_or("")));
  return Json{{"registered_model", RegisteredModelJson(model)}};
}

absl::StatusOr<Json> RenameRegisteredModel(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string new_name, RequiredStringField(f, "new_name"));
  CAIRN_ASSIGN_OR_RETURN(RegisteredModel model,
                         ctx.registry->RenameRegisteredModel(name, new_name));
  return Json{{"registered_model", RegisteredModelJson(model)}};
}

absl::StatusOr<Json> DeleteRegisteredModel(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_RETURN_IF_ERROR(ctx.registry->DeleteRegisteredModel(name));
  return Json::object();
}

absl::StatusOr<tracking::SearchRegistryRequest> SearchRequest(const Json& f, int64_t max_value) {
  tracking::SearchRegistryRequest request;
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> filter, StringField(f, "filter"));
  request.filter = filter.value_or("");
  CAIRN_ASSIGN_OR_RETURN(request.max_results, MaxResultsField(f, max_value));
  CAIRN_ASSIGN_OR_RETURN(request.order_by, StringListField(f, "order_by"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> token, StringField(f, "page_token"));
  request.page_token = token.value_or("");
  return request;
}

absl::StatusOr<Json> SearchRegisteredModels(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(tracking::SearchRegistryRequest request,
                         SearchRequest(f, kModelsMaxResults));
  CAIRN_ASSIGN_OR_RETURN(tracking::RegisteredModelPage page,
                         ctx.registry->SearchRegisteredModels(request));
  Json out = Json::object();
  if (!page.models.empty()) {
    Json models = Json::array();
    for (const RegisteredModel& model : page.models) models.push_back(RegisteredModelJson(model));
    out["registered_models"] = std::move(models);
  }
  if (!page.next_page_token.empty()) out["next_page_token"] = page.next_page_token;
  return out;
}

Json VersionsJson(const std::vector<ModelVersion>& versions) {
  Json out = Json::array();
  for (const ModelVersion& mv : versions) out.push_back(VersionJson(mv));
  return out;
}

absl::StatusOr<Json> GetLatestVersions(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> stages, StringListField(f, "stages"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<ModelVersion> versions,
                         ctx.registry->GetLatestVersions(name, stages));
  Json out = Json::object();
  if (!versions.empty()) out["model_versions"] = VersionsJson(versions);
  return out;
}

absl::StatusOr<Json> SetRegisteredModelTag(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> key, StringField(f, "key"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, StringField(f, "value"));
  CAIRN_RETURN_IF_ERROR(
      ctx.registry->SetRegisteredModelTag(name, key.value_or(""), value.value_or("")));
  if (ctx.events != nullptr) {
    Publish(ctx, kEventRegisteredModelTagSet,
            {{"model", name},
             {"key", key.value_or("")},
             {"value", value.value_or("")},
             {"prompt", PromptAttribute(ctx, name)}});
  }
  return Json::object();
}

absl::StatusOr<Json> DeleteRegisteredModelTag(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredStringField(f, "key"));
  CAIRN_RETURN_IF_ERROR(ctx.registry->DeleteRegisteredModelTag(name, key));
  if (ctx.events != nullptr) {
    Publish(ctx, kEventRegisteredModelTagDeleted,
            {{"model", name}, {"key", key}, {"prompt", PromptAttribute(ctx, name)}});
  }
  return Json::object();
}

// The version `alias` names now, as text; "" when it names none (or the model is unknown:
// the registry call that follows reports that).
std::string AliasVersion(const ApiContext& ctx, const std::string& name, const std::string& alias) {
  absl::StatusOr<ModelVersion> current = ctx.registry->GetModelVersionByAlias(name, alias);
  return current.ok() ? std::to_string(current->version) : std::string();
}

// For endpoints that follow the alias, webhooks and pipeline triggers. Nothing when the
// alias did not change (the registry recorded nothing either).
void PublishAliasMoved(const ApiContext& ctx, const std::string& name, const std::string& alias,
                       const std::string& from, const std::string& to, const std::string& actor,
                       const std::string& reason) {
  if (ctx.events == nullptr || from == to) return;
  ctx.events->Publish(Event{.type = kEventModelAliasMoved,
                            .attributes = {{"model", name},
                                           {"alias", alias},
                                           {"from_version", from},
                                           {"to_version", to},
                                           {"actor", actor},
                                           {"reason", reason}}});
}

// A policy's target alias moves only through the gate (cairn models promote / approve /
// rollback), where every move is evaluated or recorded as an override: the plain MLflow
// alias routes refuse it.
absl::Status CheckNotGated(const ApiContext& ctx, const std::string& name,
                           const std::string& alias) {
  if (ctx.policies == nullptr) return absl::OkStatus();
  absl::StatusOr<cicd::PolicyVersion> policy = ctx.policies->ForModel(name);
  if (!policy.ok() || policy->spec.target_alias != alias) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "alias '", alias, "' of model '", name, "' is governed by policy '", policy->name,
      "': move it with `cairn models promote ", name,
      " VERSION` after `cairn ci check` (or --override WHY), or `cairn models rollback ", name,
      "`"));
}

absl::StatusOr<Json> SetAlias(const ApiContext& ctx, const HttpRequest& request, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string alias, RequiredStringField(f, "alias"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::string reason, Reason(request, f));
  CAIRN_RETURN_IF_ERROR(CheckNotGated(ctx, name, alias));
  const std::string before = AliasVersion(ctx, name, alias);
  CAIRN_RETURN_IF_ERROR(ctx.registry->SetAlias(name, alias, version, Actor(request), reason));
  PublishAliasMoved(ctx, name, alias, before, std::to_string(version), Actor(request), reason);
  return Json::object();
}

absl::StatusOr<Json> DeleteAlias(const ApiContext& ctx, const HttpRequest& request,
                                 const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string alias, RequiredStringField(f, "alias"));
  CAIRN_ASSIGN_OR_RETURN(std::string reason, Reason(request, f));
  CAIRN_RETURN_IF_ERROR(CheckNotGated(ctx, name, alias));
  const std::string before = AliasVersion(ctx, name, alias);
  CAIRN_RETURN_IF_ERROR(ctx.registry->DeleteAlias(name, alias, Actor(request), reason));
  PublishAliasMoved(ctx, name, alias, before, "", Actor(request), reason);
  return Json::object();
}

absl::StatusOr<Json> GetModelVersionByAlias(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string alias, RequiredStringField(f, "alias"));
  CAIRN_ASSIGN_OR_RETURN(ModelVersion mv, ctx.registry->GetModelVersionByAlias(name, alias));
  return Json{{"model_version", VersionJson(mv)}};
}

absl::StatusOr<Json> CreateModelVersion(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(std::string source, RequiredStringField(f, "source"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> run_id, StringField(f, "run_id"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<RegistryTag> tags, TagsField(f));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> run_link, StringField(f, "run_link"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> description, StringField(f, "description"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> model_id, StringField(f, "model_id"));
  CAIRN_RETURN_IF_ERROR(tracking::ValidateModelName(name));
  bool is_prompt = false;
  for (const RegistryTag& tag : tags)
    if (tag.key == "mlflow.prompt.is_prompt") is_prompt = absl::AsciiStrToLower(tag.value) == "true";
  ResolvedSource resolved{source, "", run_id, model_id};
  if (!is_prompt) {
    CAIRN_ASSIGN_OR_RETURN(resolved, ResolveSource(ctx, source, run_id, model_id));
  }
  tracking::ModelVersionOptions options;
  options.model_id = resolved.model_id.value_or("");
  options.storage_location = resolved.storage_location;
  CAIRN_ASSIGN_OR_RETURN(
      ModelVersion mv,
      ctx.registry->CreateModelVersion(name, resolved.source, resolved.run_id.value_or(""), tags,
                                       run_link.value_or(""), description.value_or(""), options));
  if (!is_prompt && !options.model_id.empty()) TagLoggedModel(ctx, options.model_id, mv);
  if (ctx.events != nullptr && !is_prompt) {
    // For pipelines triggered `on: model_version_registered` (e.g. an evaluation).
    ctx.events->Publish(Event{.type = kEventModelVersionRegistered,
                              .attributes = {{"model", mv.name},
                                             {"version", std::to_string(mv.version)}}});
  }
  if (is_prompt) {
    Publish(ctx, kEventPromptVersionCreated,
            {{"model", mv.name},
             {"version", std::to_string(mv.version)},
             {"tags", TagsAttribute(tags)},
             {"description", description.value_or("")}});
  }
  return Json{{"model_version", VersionJson(mv)}};
}

absl::StatusOr<Json> GetModelVersion(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(ModelVersion mv, ctx.registry->GetModelVersion(name, version));
  return Json{{"model_version", VersionJson(mv)}};
}

absl::StatusOr<Json> UpdateModelVersion(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> description, StringField(f, "description"));
  CAIRN_ASSIGN_OR_RETURN(ModelVersion mv,
                         ctx.registry->UpdateModelVersion(name, version, description));
  return Json{{"model_version", VersionJson(mv)}};
}

absl::StatusOr<Json> TransitionStage(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::string stage, RequiredStringField(f, "stage"));
  bool archive = false;
  if (const Json* value = Field(f, "archive_existing_versions")) {
    if (value->is_boolean()) {
      archive = value->get<bool>();
    } else if (value->is_string() && (value->get<std::string>() == "true" ||
                                      value->get<std::string>() == "false")) {
      archive = value->get<std::string>() == "true";  // query-string spelling
    } else {
      return WrongType(*value, "archive_existing_versions");
    }
  }
  CAIRN_ASSIGN_OR_RETURN(ModelVersion mv,
                         ctx.registry->TransitionModelVersionStage(name, version, stage, archive));
  return Json{{"model_version", VersionJson(mv)}};
}

absl::StatusOr<Json> DeleteModelVersion(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_RETURN_IF_ERROR(ctx.registry->DeleteModelVersion(name, version));
  return Json::object();
}

absl::StatusOr<Json> GetDownloadUri(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::string uri, ctx.registry->GetModelVersionDownloadUri(name, version));
  return Json{{"artifact_uri", uri}};
}

absl::StatusOr<Json> SearchModelVersions(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(tracking::SearchRegistryRequest request,
                         SearchRequest(f, kVersionsMaxResults));
  CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersionPage page,
                         ctx.registry->SearchModelVersions(request));
  Json out = Json::object();
  if (!page.versions.empty()) out["model_versions"] = VersionsJson(page.versions);
  if (!page.next_page_token.empty()) out["next_page_token"] = page.next_page_token;
  return out;
}

absl::StatusOr<Json> SetModelVersionTag(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredStringField(f, "key"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, StringField(f, "value"));
  CAIRN_RETURN_IF_ERROR(ctx.registry->SetModelVersionTag(name, version, key, value.value_or("")));
  if (ctx.events != nullptr) {
    Publish(ctx, kEventModelVersionTagSet,
            {{"model", name},
             {"version", std::to_string(version)},
             {"key", key},
             {"value", value.value_or("")},
             {"prompt", PromptAttribute(ctx, name)}});
  }
  return Json::object();
}

absl::StatusOr<Json> DeleteModelVersionTag(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::string key, RequiredStringField(f, "key"));
  CAIRN_RETURN_IF_ERROR(ctx.registry->DeleteModelVersionTag(name, version, key));
  if (ctx.events != nullptr) {
    Publish(ctx, kEventModelVersionTagDeleted,
            {{"model", name},
             {"version", std::to_string(version)},
             {"key", key},
             {"prompt", PromptAttribute(ctx, name)}});
  }
  return Json::object();
}

// GET /model-versions/get-artifact?name=&version=&path= (what MLflow's UI uses to show a
// version's files): streams `path` below the version's download URI when that URI is in
// this server's artifact store (mlflow-artifacts:/…).
absl::StatusOr<HttpResponse> ModelVersionArtifact(const ApiContext& ctx, const Json& f) {
  CAIRN_ASSIGN_OR_RETURN(std::string name, RequiredStringField(f, "name"));
  CAIRN_ASSIGN_OR_RETURN(int64_t version, VersionField(f));
  CAIRN_ASSIGN_OR_RETURN(std::string path, RequiredStringField(f, "path"));
  CAIRN_RETURN_IF_ERROR(ValidatePathIsSafe(path));
  CAIRN_ASSIGN_OR_RETURN(std::string uri, ctx.registry->GetModelVersionDownloadUri(name, version));
  if (ctx.artifacts == nullptr)
    return absl::UnavailableError("this server has no artifact store");
  auto relative = storage::ArtifactStore::RelativePathOfUri(uri);
  if (!relative.ok())
    return absl::InvalidArgumentError(absl::StrCat(
        "The artifacts of model version ", version, " of '", name, "' are at '", uri,
        "', which this server does not serve; download them from there."));
  return FileDownloadResponse(*ctx.artifacts, JoinRelative(*relative, path));
}

HttpResponse AliasHistory(const ApiContext& ctx, const HttpRequest& request) {
  try {
    const std::string* name = request.PathParam("name");
    if (name == nullptr || name->empty())
      return ErrorResponse(absl::InvalidArgumentError("name: must not be empty"),
                           ErrorDialect::kCairn);
    auto history = ctx.registry->AliasHistory(*name);
    if (!history.ok()) return ErrorResponse(history.status(), ErrorDialect::kCairn);
    Json changes = Json::array();
    for (const tracking::AliasChange& change : *history) {
      changes.push_back({
          {"alias", change.alias},
          {"from_version", change.from_version ? Json(*change.from_version) : Json(nullptr)},
          {"to_version", change.to_version ? Json(*change.to_version) : Json(nullptr)},
          {"time", change.time},
          {"actor", change.actor},
          {"reason", change.reason},
      });
    }
    return JsonResponse(DumpJson(Json{{"alias_changes", std::move(changes)}}));
  } catch (const std::exception& e) {
    return ErrorResponse(absl::InternalError(e.what()), ErrorDialect::kCairn);
  }
}

}  // namespace

void RegisterRegistryRoutes(Router& router, const ApiContext& ctx) {
  const ApiContext* c = &ctx;
  auto simple = [c](absl::StatusOr<Json> (*fn)(const ApiContext&, const Json&)) {
    return Mlflow([c, fn](const HttpRequest&, const Json& f) { return fn(*c, f); });
  };
  router.AddMlflow("POST", "registered-models/create", simple(&CreateRegisteredModel));
  router.AddMlflow("GET", "registered-models/get", simple(&GetRegisteredModel));
  router.AddMlflow("PATCH", "registered-models/update", simple(&UpdateRegisteredModel));
  router.AddMlflow("POST", "registered-models/rename", simple(&RenameRegisteredModel));
  router.AddMlflow("DELETE", "registered-models/delete", simple(&DeleteRegisteredModel));
  router.AddMlflow("GET", "registered-models/search", simple(&SearchRegisteredModels));
  router.AddMlflow("POST", "registered-models/search", simple(&SearchRegisteredModels));
  router.AddMlflow("GET", "registered-models/get-latest-versions", simple(&GetLatestVersions));
  router.AddMlflow("POST", "registered-models/get-latest-versions", simple(&GetLatestVersions));
  router.AddMlflow("POST", "registered-models/set-tag", simple(&SetRegisteredModelTag));
  router.AddMlflow("DELETE", "registered-models/delete-tag", simple(&DeleteRegisteredModelTag));
  router.AddMlflow("POST", "registered-models/alias",
                   Mlflow([c](const HttpRequest& r, const Json& f) { return SetAlias(*c, r, f); }));
  router.AddMlflow(
      "DELETE", "registered-models/alias",
      Mlflow([c](const HttpRequest& r, const Json& f) { return DeleteAlias(*c, r, f); }));
  router.AddMlflow("GET", "registered-models/alias", simple(&GetModelVersionByAlias));

  router.AddMlflow("POST", "model-versions/create", simple(&CreateModelVersion));
  router.AddMlflow("GET", "model-versions/get", simple(&GetModelVersion));
  router.AddMlflow("PATCH", "model-versions/update", simple(&UpdateModelVersion));
  router.AddMlflow("POST", "model-versions/transition-stage", simple(&TransitionStage));
  router.AddMlflow("DELETE", "model-versions/delete", simple(&DeleteModelVersion));
  router.AddMlflow("GET", "model-versions/get-download-uri", simple(&GetDownloadUri));
  router.AddMlflow("GET", "model-versions/search", simple(&SearchModelVersions));
  router.AddMlflow("POST", "model-versions/search", simple(&SearchModelVersions));
  router.AddMlflow("POST", "model-versions/set-tag", simple(&SetModelVersionTag));
  router.AddMlflow("DELETE", "model-versions/delete-tag", simple(&DeleteModelVersionTag));

  router.Add("GET", "/model-versions/get-artifact", [c](const HttpRequest& request) {
    try {
      absl::StatusOr<Json> fields = RequestFields(request);
      if (!fields.ok()) return ErrorResponse(fields.status());
      absl::StatusOr<HttpResponse> response = ModelVersionArtifact(*c, *fields);
      if (!response.ok()) return ErrorResponse(response.status());
      return *std::move(response);
    } catch (const std::exception& e) {
      return ErrorResponse(absl::InternalError(e.what()));
    }
  });
  router.Add("GET", "/api/v1/models/{name}/alias-history",
             [c](const HttpRequest& request) { return AliasHistory(*c, request); });
}

}  // namespace cairn::api
