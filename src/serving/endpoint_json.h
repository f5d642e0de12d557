#pragma once
// The canonical JSON of endpoint definitions (what the registry hashes and stores and what
// the API returns): keys sorted (common/json.h objects sort), every field present with its
// value (defaults included), `file` / `line` left out. FromJson is the inverse for what
// ToJson wrote; it checks types (InvalidArgument naming the field) but not values — run
// ValidateEndpointSpec / ValidateRolloutSpec (endpoint_yaml.h) on input from users.
//
//   EndpointSpecToJson → {"alias", "description", "feature_service",
//     "inference_log": {"max_rows", "sample"}, "model", "name", "owner", "max_queue",
//     "replicas": {"max", "min"}, "rollout": null | RolloutSpecToJson, "runtime", "tags",
//     "version"}
//   RolloutSpecToJson → {"alias", "guard": GuardSpecToJson, "mode", "on_fail", "on_pass",
//     "percent", "version"}
//   GuardSpecToJson → {"drift_test", "max_error_rate_increase", "max_p99_latency_ratio",
//     "max_prediction_drift": number | null, "min_requests", "window_ms"}
//
// GuardSpecFromJson also takes "window": "10m" (a duration, common/duration.h) instead of
// "window_ms", and every FromJson leaves absent keys at the struct's defaults, so API
// bodies such as {"mode": "canary", "version": 4, "percent": 10, "guard": {"window": "5m"}}
// read directly. Pure functions; thread-safe.

#include "absl/status/statusor.h"
#include "common/json.h"
#include "serving/endpoint_spec.h"

namespace cairn::serving {

Json GuardSpecToJson(const GuardSpec& guard);
absl::StatusOr<GuardSpec> GuardSpecFromJson(const Json& json);

Json RolloutSpecToJson(const RolloutSpec& rollout);
absl::StatusOr<RolloutSpec> RolloutSpecFromJson(const Json& json);

Json EndpointSpecToJson(const EndpointSpec& spec);
// "name" and "model" are required; the rest defaults.
absl::StatusOr<EndpointSpec> EndpointSpecFromJson(const Json& json);

}  // namespace cairn::serving
