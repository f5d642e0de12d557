#pragma once
// The canonical JSON of a policy (keys sorted by nlohmann's object; file/line left out):
// what policy_registry.h hashes and stores, and what the API returns. Every field is
// written, defaults included, so equal specs give byte-equal JSON. FromJson accepts what
// ToJson writes (missing fields take the PolicySpec defaults). Pure; thread-safe.
//
//   {"description": "", "evaluation": {"data": {"path": "eval.csv"}, "label": "churned",
//    "slices": ["plan"], "threshold": 0.5},
//    "gates": [{"feature_service": "", "greater_is_better": null, "kind": "metric",
//               "max": null, "min": 0.7, "min_absolute_change": null,
//               "min_relative_change": null, "name": "auc", "per_slice": false}],
//    "mode": "auto", "model": "churn", "name": "churn-gate", "owner": "", "tags": {},
//    "target_alias": "production",
//    "rollout": null | {"mode": "canary", "percent": 20, "on_pass": "promote",
//                       "on_fail": "rollback", "guard": {"window_ms": 600000,
//                       "min_requests": 100, "max_error_rate_increase": 0.01,
//                       "max_p99_latency_ratio": 2.0, "max_prediction_drift": null,
//                       "drift_test": "psi"}}}

#include "absl/status/statusor.h"
#include "cicd/policy_spec.h"
#include "common/json.h"

namespace cairn::cicd {

Json PolicySpecToJson(const PolicySpec& spec);
// InvalidArgument naming the field when the JSON does not have the shape above.
absl::StatusOr<PolicySpec> PolicySpecFromJson(const Json& json);

// One gate in the form above ("kind": metric | run_metric | check, "name": …).
Json GateSpecToJson(const GateSpec& gate);
absl::StatusOr<GateSpec> GateSpecFromJson(const Json& json);

}  // namespace cairn::cicd
