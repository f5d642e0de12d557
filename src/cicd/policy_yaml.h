#pragma once
// Promotion policies as users write them: the `kind: Policy` documents of YAML files
// (format and gate semantics in policy_spec.h). Documents of the other known kinds
// (Entity, Source, FeatureView, FeatureService, Pipeline, Monitor, Endpoint) are skipped;
// an unknown kind is an error.
//
// Checks: known fields (an unknown one names the nearest valid name), value types, name
// syntax, mode, exactly one of metric / run_metric / check per gate, metric and check
// names, which bounds each gate kind takes (a metric gate needs at least one of min, max,
// min_absolute_change, min_relative_change; latency_p99_ms and size_mb need max; loads
// takes none; features_online needs feature_service), min <= max, per_slice only on
// metric gates and only with evaluation.slices, evaluation (data.path and label required
// when a metric gate exists; 0 < threshold < 1), the rollout (RolloutSpec without
// version/alias: the challenger is the candidate version). Every error is InvalidArgument
// and reads "FILE:LINE: policy NAME: field 'F': value 'V' …" with what to do.
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cicd/policy_spec.h"
#include "features/definition_yaml.h"

namespace cairn::cicd {

// The `kind: Policy` documents of `text`, in file order, with `file` and lines set.
absl::StatusOr<std::vector<PolicySpec>> ParsePoliciesYaml(std::string_view text,
                                                          std::string_view file);

// Every file in order; one policy name defined twice, or two policies for one model:
// InvalidArgument naming both places.
absl::StatusOr<std::vector<PolicySpec>> ParsePolicyFiles(
    const std::vector<features::DefinitionFile>& files);

// "[A-Za-z0-9_.-]+", at most 255 characters.
bool IsValidPolicyName(std::string_view name);

// The metrics a `metric:` gate may name, computed on the evaluation data (metrics.h):
// auc, logloss, accuracy, precision, recall, f1, brier, rmse, mae, r2.
const std::vector<std::string_view>& PolicyMetricNames();
// The operational checks a `check:` gate may name: loads, latency_p99_ms, size_mb,
// features_online.
const std::vector<std::string_view>& PolicyCheckNames();

// The direction of "better" for a gate: greater_is_better when written; otherwise by
// name: auc, accuracy, precision, recall, f1, r2 → true; logloss, brier, rmse, mae →
// false; a run_metric by the known metric its name ends with ("val_auc" → auc, "loss"/
// "error" anywhere → false), else true; checks → false (smaller latency/size is better).
bool GreaterIsBetter(const GateSpec& gate);

// The gate as written, one short line, used as GateResult::gate and in reports:
// "auc >= 0.7", "logloss <= 0.6", "0.6 <= auc <= 0.9", "auc vs production: change >=
// -0.005", "logloss vs production: relative change >= -5%", "run val_auc >= 0.7",
// "loads", "latency_p99_ms <= 5", "size_mb <= 100", "features_online (churn)".
// A gate with bounds and changes reads "auc >= 0.7; vs production: change >= -0.005".
std::string GateText(const GateSpec& gate, std::string_view target_alias);

}  // namespace cairn::cicd
