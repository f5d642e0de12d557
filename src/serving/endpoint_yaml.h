#pragma once
// Endpoint definitions as users write them: the `kind: Endpoint` documents of YAML files
// (format in endpoint_spec.h). Documents of the other known kinds (Entity, Source,
// FeatureView, FeatureService, Pipeline, Monitor, Policy) are skipped; an unknown kind is
// an error.
//
// Checks: known fields (an unknown one names the nearest valid name), value types, the
// endpoint name, the model reference (`churn@production` or `churn/3`), the feature
// service name, runtime, replicas, max_queue, inference_log, the rollout (mode, exactly
// one of version / alias, percent, guard durations and bounds, drift test name, on_pass,
// on_fail). Every error is InvalidArgument and reads "FILE:LINE: endpoint NAME: field 'F':
// value 'V' …" with what to do. Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "features/definition_yaml.h"
#include "serving/endpoint_spec.h"

namespace cairn::serving {

// The `kind: Endpoint` documents of `text`, in file order, with `file` and lines set.
absl::StatusOr<std::vector<EndpointSpec>> ParseEndpointsYaml(std::string_view text,
                                                             std::string_view file);

// Every file in order; one name defined twice (in one file or across files) is an error
// naming both places.
absl::StatusOr<std::vector<EndpointSpec>> ParseEndpointFiles(
    const std::vector<features::DefinitionFile>& files);

// "[A-Za-z0-9_.-]+", at most 255 characters (the endpoint name appears in URLs).
bool IsValidEndpointName(std::string_view name);

// A model reference: "churn@production" (alias, followed) or "churn/3" (pinned version).
struct ModelRef {
  std::string model;
  std::string alias;     // set for name@alias
  int64_t version = 0;   // set (>= 1) for name/N
  bool operator==(const ModelRef&) const = default;
};
// InvalidArgument "model reference 'X' …: write NAME@ALIAS (e.g. churn@production) or
// NAME/VERSION (e.g. churn/3)" — for YAML, the API and the CLI.
absl::StatusOr<ModelRef> ParseModelRef(std::string_view text);
// "churn@production" or "churn/3".
std::string FormatModelRef(std::string_view model, std::string_view alias, int64_t version);

// The checks of a rollout that do not need YAML (for API / CLI bodies and for specs built
// in code): mode canary|shadow, percent in (0, 100], exactly one of version (>= 1) / alias
// when `require_target` (a policy's rollout names no target: pass false), guard window > 0,
// min_requests >= 1, max_error_rate_increase in [0, 1], max_p99_latency_ratio > 0,
// max_prediction_drift >= 0, drift_test a known test (monitoring/stats), on_pass
// promote|none, on_fail rollback|none. InvalidArgument "<prefix>.<field>: value V …" with
// `field_prefix` (e.g. "rollout") naming where it came from.
absl::Status ValidateRolloutSpec(const RolloutSpec& rollout, bool require_target,
                                 std::string_view field_prefix = "rollout");

// Every check of the YAML parser on a spec built in code (the API's single-endpoint
// forms): name, model / alias / version, runtime, replicas, max_queue, log_sample,
// log_max_rows, feature_service name, rollout. InvalidArgument naming the field.
absl::Status ValidateEndpointSpec(const EndpointSpec& spec);

}  // namespace cairn::serving
