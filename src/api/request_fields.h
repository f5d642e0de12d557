#pragma once
// Reading MLflow-style request fields. POST/PATCH/DELETE bodies are JSON objects; GET
// requests carry the same fields as query parameters (a repeated field repeats its key).
// Errors are InvalidArgument with MLflow's wording, naming the parameter.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/http_types.h"
#include "common/json.h"

namespace cairn::api {

// The request's fields as a JSON object: the parsed body, or for GET and HEAD (and for a
// body-less DELETE) the query parameters (each value a string; repeated keys become arrays).
// InvalidArgument for malformed JSON or a body that is not an object.
absl::StatusOr<Json> RequestFields(const HttpRequest& request);

// Field accessors. "Required" fails with "Missing value for required parameter 'x'." when
// the field is absent, null or an empty string. Numbers given as strings (query
// parameters, proto3 JSON int64) are accepted; anything else of the wrong type fails with
// "Invalid value … for parameter 'x' supplied".
absl::StatusOr<std::string> RequiredString(const Json& fields, std::string_view name);
absl::StatusOr<std::optional<std::string>> OptionalString(const Json& fields,
                                                          std::string_view name);
absl::StatusOr<std::optional<int64_t>> OptionalInt64(const Json& fields, std::string_view name);
absl::StatusOr<std::optional<double>> OptionalDouble(const Json& fields, std::string_view name);
absl::StatusOr<std::optional<bool>> OptionalBool(const Json& fields, std::string_view name);
// A repeated string field: absent → empty; a single string → one element.
absl::StatusOr<std::vector<std::string>> StringList(const Json& fields, std::string_view name);
// A repeated message field: absent → empty array; otherwise must be an array of objects.
absl::StatusOr<Json> ObjectList(const Json& fields, std::string_view name);

// One definition file of an apply request (`cairn apply` sends the files it read).
struct ApplyFile {
  std::string path;
  std::string content;
};
// body["files"]: a non-empty list of {"path": string, "content": string}, at most 10,000;
// InvalidArgument naming files / files[i] otherwise.
absl::StatusOr<std::vector<ApplyFile>> ApplyFiles(const Json& body);

// Who asks (recorded with promotions, rollouts, alias moves): the body's "actor" (a
// string), else the x-cairn-actor header, else "anonymous". InvalidArgument naming
// "actor" when the body's value is not a string.
absl::StatusOr<std::string> RequestActor(const HttpRequest& request, const Json& fields);

}  // namespace cairn::api
