#include "serving/endpoint_json.h"

#include <exception>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::serving {
namespace {

// Reads `key` of `object` into `out` when present (absent or null keeps the default);
// `path` names the field in the error.
template <typename T>
absl::Status Read(const Json& object, const char* key, std::string_view path, T* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  try {
    *out = it->get<T>();
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint JSON: field '", ToAbsl(path), "': value ", DumpJson(*it).substr(0, 80),
        " has the wrong type"));
  }
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, int>) {
    if (!it->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint JSON: field '", ToAbsl(path),
                                                     "': value ", DumpJson(*it).substr(0, 80),
                                                     " must be a whole number"));
    }
  }
  if constexpr (std::is_same_v<T, double>) {
    if (!it->is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint JSON: field '", ToAbsl(path),
                                                     "': value ", DumpJson(*it).substr(0, 80),
                                                     " must be a number"));
    }
  }
  return absl::OkStatus();
}

absl::Status RequireObject(const Json& json, std::string_view path) {
  if (json.is_object()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("endpoint JSON: field '", ToAbsl(path),
                                                 "': value ", DumpJson(json).substr(0, 80),
                                                 " must be an object"));
}

#define CAIRN_READ(object, key, path, out) CAIRN_RETURN_IF_ERROR(Read(object, key, path, out))

absl::StatusOr<GuardSpec> GuardFromJson(const Json& json, std::string_view prefix) {
  CAIRN_RETURN_IF_ERROR(RequireObject(json, prefix));
  GuardSpec guard;
  const std::string p(prefix);
  auto window = json.find("window");
  if (window != json.end() && !window->is_null()) {
    if (!window->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoint JSON: field '", p, ".window': value ",
                       DumpJson(*window).substr(0, 80),
                       " must be a duration like \"10m\" (or give window_ms)"));
    }
    absl::StatusOr<int64_t> ms = ParseDuration(window->get<std::string>());
    if (!ms.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint JSON: field '", p,
                                                     ".window': ", ms.status().message()));
    }
    guard.window_ms = *ms;
  }
  CAIRN_READ(json, "window_ms", p + ".window_ms", &guard.window_ms);
  CAIRN_READ(json, "min_requests", p + ".min_requests", &guard.min_requests);
  CAIRN_READ(json, "max_error_rate_increase", p + ".max_error_rate_increase",
             &guard.max_error_rate_increase);
  CAIRN_READ(json, "max_p99_latency_ratio", p + ".max_p99_latency_ratio",
             &guard.max_p99_latency_ratio);
  double drift = 0;
  auto drift_it = json.find("max_prediction_drift");
  if (drift_it != json.end() && !drift_it->is_null()) {
    CAIRN_READ(json, "max_prediction_drift", p + ".max_prediction_drift", &drift);
    guard.max_prediction_drift = drift;
  }
  CAIRN_READ(json, "drift_test", p + ".drift_test", &guard.drift_test);
  return guard;
}

absl::StatusOr<RolloutSpec> RolloutFromJson(const Json& json, std::string_view prefix) {
  CAIRN_RETURN_IF_ERROR(RequireObject(json, prefix));
  RolloutSpec rollout;
  const std::string p(prefix);
  CAIRN_READ(json, "mode", p + ".mode", &rollout.mode);
  CAIRN_READ(json, "version", p + ".version", &rollout.version);
  CAIRN_READ(json, "alias", p + ".alias", &rollout.alias);
  CAIRN_READ(json, "percent", p + ".percent", &rollout.percent);
  CAIRN_READ(json, "on_pass", p + ".on_pass", &rollout.on_pass);
  CAIRN_READ(json, "on_fail", p + ".on_fail", &rollout.on_fail);
  auto guard = json.find("guard");
  if (guard != json.end() && !guard->is_null()) {
    absl::StatusOr<GuardSpec> parsed = GuardFromJson(*guard, p + ".guard");
    if (!parsed.ok()) return parsed.status();
    rollout.guard = std::move(*parsed);
  }
  return rollout;
}

}  // namespace

Json GuardSpecToJson(const GuardSpec& guard) {
  return Json{
      {"window_ms", guard.window_ms},
      {"min_requests", guard.min_requests},
      {"max_error_rate_increase", guard.max_error_rate_increase},
      {"max_p99_latency_ratio", guard.max_p99_latency_ratio},
      {"max_prediction_drift", guard.max_prediction_drift.has_value()
                                   ? Json(*guard.max_prediction_drift)
                                   : Json(nullptr)},
      {"drift_test", guard.drift_test},
  };
}

absl::StatusOr<GuardSpec> GuardSpecFromJson(const Json& json) {
  return GuardFromJson(json, "guard");
}

Json RolloutSpecToJson(const RolloutSpec& rollout) {
  return Json{
      {"mode", rollout.mode},         {"version", rollout.version},
      {"alias", rollout.alias},       {"percent", rollout.percent},
      {"guard", GuardSpecToJson(rollout.guard)},
      {"on_pass", rollout.on_pass},   {"on_fail", rollout.on_fail},
  };
}

absl::StatusOr<RolloutSpec> RolloutSpecFromJson(const Json& json) {
  return RolloutFromJson(json, "rollout");
}

Json EndpointSpecToJson(const EndpointSpec& spec) {
  Json out{
      {"name", spec.name},
      {"description", spec.description},
      {"owner", spec.owner},
      {"tags", spec.tags},
      {"model", spec.model},
      {"alias", spec.alias},
      {"version", spec.version},
      {"feature_service", spec.feature_service},
      {"runtime", spec.runtime},
      {"replicas", {{"min", spec.min_replicas}, {"max", spec.max_replicas}}},
      {"max_queue", spec.max_queue},
      {"inference_log", {{"sample", spec.log_sample}, {"max_rows", spec.log_max_rows}}},
      {"rollout", spec.rollout.has_value() ? RolloutSpecToJson(*spec.rollout) : Json(nullptr)},
  };
  // Only when set: definitions stored before the field existed keep their content hash
  // (a re-apply of an unchanged file is no new version).
  if (spec.timeout_ms != kDefaultEndpointTimeoutMs) out["timeout_ms"] = spec.timeout_ms;
  return out;
}

absl::StatusOr<EndpointSpec> EndpointSpecFromJson(const Json& json) {
  CAIRN_RETURN_IF_ERROR(RequireObject(json, "endpoint"));
  EndpointSpec spec;
  for (const char* required : {"name", "model"}) {
    if (!json.contains(required) || !json.at(required).is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint JSON: field '", required, "' is required (a string)"));
    }
  }
  CAIRN_READ(json, "name", "name", &spec.name);
  CAIRN_READ(json, "description", "description", &spec.description);
  CAIRN_READ(json, "owner", "owner", &spec.owner);
  CAIRN_READ(json, "tags", "tags", &spec.tags);
  CAIRN_READ(json, "model", "model", &spec.model);
  CAIRN_READ(json, "alias", "alias", &spec.alias);
  CAIRN_READ(json, "version", "version", &spec.version);
  CAIRN_READ(json, "feature_service", "feature_service", &spec.feature_service);
  CAIRN_READ(json, "runtime", "runtime", &spec.runtime);
  auto replicas = json.find("replicas");
  if (replicas != json.end() && !replicas->is_null()) {
    CAIRN_RETURN_IF_ERROR(RequireObject(*replicas, "replicas"));
    CAIRN_READ(*replicas, "min", "replicas.min", &spec.min_replicas);
    CAIRN_READ(*replicas, "max", "replicas.max", &spec.max_replicas);
  }
  CAIRN_READ(json, "max_queue", "max_queue", &spec.max_queue);
  // timeout_ms (a number) or timeout (a duration like "30s", as in YAML).
  auto timeout = json.find("timeout");
  if (timeout != json.end() && !timeout->is_null()) {
    absl::StatusOr<int64_t> ms = timeout->is_string()
                                     ? ParseDuration(timeout->get<std::string>())
                                     : absl::InvalidArgumentError("not a string");
    if (!ms.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint JSON: field 'timeout': value ", DumpJson(*timeout).substr(0, 80),
          " must be a duration like \"30s\" (or give timeout_ms)"));
    }
    spec.timeout_ms = *ms;
  }
  CAIRN_READ(json, "timeout_ms", "timeout_ms", &spec.timeout_ms);
  auto log = json.find("inference_log");
  if (log != json.end() && !log->is_null()) {
    CAIRN_RETURN_IF_ERROR(RequireObject(*log, "inference_log"));
    CAIRN_READ(*log, "sample", "inference_log.sample", &spec.log_sample);
    CAIRN_READ(*log, "max_rows", "inference_log.max_rows", &spec.log_max_rows);
  }
  auto rollout = json.find("rollout");
  if (rollout != json.end() && !rollout->is_null()) {
    absl::StatusOr<RolloutSpec> parsed = RolloutFromJson(*rollout, "rollout");
    if (!parsed.ok()) return parsed.status();
    spec.rollout = std::move(*parsed);
  }
  return spec;
}

}  // namespace cairn::serving
