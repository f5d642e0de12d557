#include "api/request_fields.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::api {
namespace {

absl::Status InvalidValue(const Json& value, std::string_view name, std::string_view expected) {
  std::string shown = value.is_string() ? value.get<std::string>() : DumpJson(value);
  if (shown.size() > 100) shown = shown.substr(0, 100) + "...";
  return absl::InvalidArgumentError(absl::StrCat("Invalid value ", shown, " for parameter '",
                                                 ToAbsl(name), "' supplied: expected ", ToAbsl(expected)));
}

const Json* FieldOrNull(const Json& fields, std::string_view name) {
  auto it = fields.find(name);
  if (it == fields.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

absl::StatusOr<Json> RequestFields(const HttpRequest& request) {
  // HEAD runs GET's handler (http_server.h) and must read the same fields.
  bool use_query = request.method == "GET" || request.method == "HEAD" ||
                   (request.method == "DELETE" && request.body.empty());
  if (!use_query) {
    CAIRN_ASSIGN_OR_RETURN(Json body, ParseJson(request.body));
    if (!body.is_object())
      return absl::InvalidArgumentError("request body must be a JSON object");
    return body;
  }
  Json fields = Json::object();
  for (const auto& [key, value] : request.query) {
    auto it = fields.find(key);
    if (it == fields.end()) {
      fields[key] = value;
    } else if (it->is_array()) {
      it->push_back(value);
    } else {
      Json array = Json::array({*it, value});
      *it = std::move(array);
    }
  }
  return fields;
}

absl::StatusOr<std::string> RequiredString(const Json& fields, std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value, OptionalString(fields, name));
  if (!value || value->empty())
    return absl::InvalidArgumentError(
        absl::StrCat("Missing value for required parameter '", ToAbsl(name),
                     "'. See the API docs for more information about request parameters."));
  return *value;
}

absl::StatusOr<std::optional<std::string>> OptionalString(const Json& fields,
                                                          std::string_view name) {
  const Json* value = FieldOrNull(fields, name);
  if (!value) return std::optional<std::string>();
  if (value->is_string()) return std::optional<std::string>(value->get<std::string>());
  if (value->is_number_integer()) return std::optional<std::string>(value->dump());
  return InvalidValue(*value, name, "a string");
}

absl::StatusOr<std::optional<int64_t>> OptionalInt64(const Json& fields, std::string_view name) {
  const Json* value = FieldOrNull(fields, name);
  if (!value) return std::optional<int64_t>();
  if (value->is_number_integer()) return std::optional<int64_t>(value->get<int64_t>());
  if (value->is_number_float()) {
    double d = value->get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9.2e18)
      return std::optional<int64_t>(static_cast<int64_t>(d));
  }
  if (value->is_string()) {
    int64_t parsed;
    if (absl::SimpleAtoi(value->get<std::string>(), &parsed)) return std::optional<int64_t>(parsed);
  }
  return InvalidValue(*value, name, "an integer");
}

absl::StatusOr<std::optional<double>> OptionalDouble(const Json& fields, std::string_view name) {
  const Json* value = FieldOrNull(fields, name);
  if (!value) return std::optional<double>();
  if (value->is_number()) return std::optional<double>(value->get<double>());
  if (value->is_string()) {
    // proto3 JSON spells special values as strings.
    const std::string& s = value->get<std::string>();
    if (s == "NaN") return std::optional<double>(std::nan(""));
    if (s == "Infinity") return std::optional<double>(INFINITY);
    if (s == "-Infinity") return std::optional<double>(-INFINITY);
    double parsed;
    if (absl::SimpleAtod(s, &parsed)) return std::optional<double>(parsed);
  }
  return InvalidValue(*value, name, "a number");
}

absl::StatusOr<std::optional<bool>> OptionalBool(const Json& fields, std::string_view name) {
  const Json* value = FieldOrNull(fields, name);
  if (!value) return std::optional<bool>();
  if (value->is_boolean()) return std::optional<bool>(value->get<bool>());
  if (value->is_string()) {
    const std::string& s = value->get<std::string>();
    if (s == "true" || s == "True") return std::optional<bool>(true);
    if (s == "false" || s == "False") return std::optional<bool>(false);
  }
  return InvalidValue(*value, name, "a boolean");
}

absl::StatusOr<std::vector<std::string>> StringList(const Json& fields, std::string_view name) {
  std::vector<std::string> out;
  const Json* value = FieldOrNull(fields, name);
  if (!value) return out;
  if (value->is_string()) {
    out.push_back(value->get<std::string>());
    return out;
  }
  if (!value->is_array()) return InvalidValue(*value, name, "a list of strings");
  for (const Json& item : *value) {
    if (!item.is_string()) return InvalidValue(*value, name, "a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<Json> ObjectList(const Json& fields, std::string_view name) {
  const Json* value = FieldOrNull(fields, name);
  if (!value) return Json::array();
  if (!value->is_array()) return InvalidValue(*value, name, "a list of objects");
  for (const Json& item : *value)
    if (!item.is_object()) return InvalidValue(*value, name, "a list of objects");
  return *value;
}

absl::StatusOr<std::vector<ApplyFile>> ApplyFiles(const Json& body) {
  constexpr size_t kMaxFiles = 10'000;
  auto files = body.is_object() ? body.find("files") : body.end();
  if (!body.is_object() || files == body.end() || !files->is_array() || files->empty()) {
    return absl::InvalidArgumentError(
        "files: give a non-empty list of {\"path\": \"a.yaml\", \"content\": \"…\"}");
  }
  if (files->size() > kMaxFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat("files: at most ", kMaxFiles, " files per apply, got ", files->size()));
  }
  std::vector<ApplyFile> out;
  out.reserve(files->size());
  for (size_t i = 0; i < files->size(); ++i) {
    const Json& file = (*files)[i];
    auto path = file.is_object() ? file.find("path") : file.end();
    auto content = file.is_object() ? file.find("content") : file.end();
    if (!file.is_object() || path == file.end() || !path->is_string() ||
        content == file.end() || !content->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "files[", i, "]: must be {\"path\": string, \"content\": string}, got ",
          DumpJson(file).substr(0, 200)));
    }
    out.push_back({path->get<std::string>(), content->get<std::string>()});
  }
  return out;
}

absl::StatusOr<std::string> RequestActor(const HttpRequest& request, const Json& fields) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> actor, OptionalString(fields, "actor"));
  if (actor.has_value() && !actor->empty()) return *actor;
  const std::string* header = request.Header("x-cairn-actor");
  return header != nullptr && !header->empty() ? *header : std::string("anonymous");
}

}  // namespace cairn::api
