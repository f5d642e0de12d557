// libFuzzer target for request decoding: arbitrary bytes as a POST body and as a GET
// query string, through RequestFields and every field accessor, and the body read as
// an MLflow runs/log-batch payload. Invariants beyond "no crash, no hang": every error
// is InvalidArgument, and nothing throws across the accessor boundary.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "api/http_types.h"
#include "api/request_fields.h"
#include "common/json.h"

namespace {

using cairn::Json;

void Check(bool condition) {
  if (!condition) std::abort();
}

template <typename T>
void CheckResult(const absl::StatusOr<T>& result) {
  if (!result.ok()) Check(result.status().code() == absl::StatusCode::kInvalidArgument);
}

constexpr std::string_view kFieldNames[] = {
    "run_id",   "run_uuid",  "experiment_id", "experiment_ids", "key",      "value",
    "metrics",  "params",    "tags",          "max_results",    "timestamp", "step",
    "filter",   "order_by",  "page_token",    "run_ids",        "name",      "view_type",
    "start_time", "end_time", "status",       "run_name",       "version",   "datasets",
};

// Every accessor on every field name, whatever the field holds.
void ExerciseAccessors(const Json& fields) {
  for (std::string_view name : kFieldNames) {
    CheckResult(cairn::api::RequiredString(fields, name));
    CheckResult(cairn::api::OptionalString(fields, name));
    CheckResult(cairn::api::OptionalInt64(fields, name));
    CheckResult(cairn::api::OptionalDouble(fields, name));
    CheckResult(cairn::api::OptionalBool(fields, name));
    CheckResult(cairn::api::StringList(fields, name));
    auto objects = cairn::api::ObjectList(fields, name);
    CheckResult(objects);
    if (objects.ok()) Check(objects->is_array());
  }
}

// runs/log-batch: {"run_id", "metrics": [{key, value, timestamp, step}], "params":
// [{key, value}], "tags": [{key, value}]}, read the way a handler reads it.
void ExerciseLogBatch(const Json& fields) {
  CheckResult(cairn::api::RequiredString(fields, "run_id"));
  auto metrics = cairn::api::ObjectList(fields, "metrics");
  CheckResult(metrics);
  if (metrics.ok()) {
    for (const Json& metric : *metrics) {
      Check(metric.is_object());
      CheckResult(cairn::api::RequiredString(metric, "key"));
      CheckResult(cairn::api::OptionalDouble(metric, "value"));
      CheckResult(cairn::api::OptionalInt64(metric, "timestamp"));
      CheckResult(cairn::api::OptionalInt64(metric, "step"));
      CheckResult(cairn::api::OptionalString(metric, "dataset_name"));
    }
  }
  for (std::string_view list : {"params", "tags"}) {
    auto entries = cairn::api::ObjectList(fields, list);
    CheckResult(entries);
    if (!entries.ok()) continue;
    for (const Json& entry : *entries) {
      CheckResult(cairn::api::RequiredString(entry, "key"));
      CheckResult(cairn::api::OptionalString(entry, "value"));
    }
  }
}

// "a=1&b=2&a=3" → ordered pairs, as the server hands them over after decoding.
std::vector<std::pair<std::string, std::string>> SplitQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      pairs.emplace_back(std::string(part), "");
    } else {
      pairs.emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return pairs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  cairn::api::HttpRequest post;
  post.method = "POST";
  post.target = "/api/2.0/mlflow/runs/log-batch";
  post.path = post.target;
  post.headers = {{"content-type", "application/json"}};
  post.body = input;
  auto body_fields = cairn::api::RequestFields(post);
  CheckResult(body_fields);
  if (body_fields.ok()) {
    Check(body_fields->is_object());
    ExerciseAccessors(*body_fields);
    ExerciseLogBatch(*body_fields);
    (void)cairn::DumpJson(*body_fields);
  }

  cairn::api::HttpRequest get;
  get.method = "GET";
  get.path = "/api/2.0/mlflow/runs/get";
  get.target = get.path + "?" + input;
  get.query = SplitQuery(input);
  auto query_fields = cairn::api::RequestFields(get);
  CheckResult(query_fields);
  if (query_fields.ok()) {
    Check(query_fields->is_object());
    ExerciseAccessors(*query_fields);
    (void)cairn::DumpJson(*query_fields);
  }
  return 0;
}
