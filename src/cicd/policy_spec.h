#pragma once
// A promotion policy as users write it (`kind: Policy`, DESIGN.md §8; issue 6 item 4):
// for one registered model, the gates a candidate version must pass before it may take the
// target alias, the evaluation data they are computed on, and how a passing version is
// promoted. Parsed and validated by policy_yaml.h, versioned by policy_registry.h,
// evaluated by evaluator.h. Semantics follow MLflow's MetricThreshold and TFX's Evaluator
// (FACTS.md "Model CI/CD").
//
//   kind: Policy
//   name: churn-gate
//   description: …            owner: …            tags: {team: growth}
//   model: churn
//   target_alias: production        # the alias a passing version takes (the baseline)
//   mode: auto                      # auto: promote when passed | manual: `approve` needed
//   evaluation:
//     data: {path: eval/churn.csv}  # CSV on the server (relative: under --data)
//     label: churned                # the ground-truth column
//     slices: [plan]                # per-slice metrics for gates with per_slice
//     threshold: 0.5                # classification cut for accuracy/precision/recall/f1
//   gates:
//     - {metric: auc, min: 0.70}                          # absolute bounds (min / max)
//     - {metric: logloss, max: 0.60}
//     - {metric: auc, min_absolute_change: -0.005, per_slice: true}  # vs production
//     - {metric: logloss, min_relative_change: -0.05}     # at most 5 % worse
//     - {run_metric: val_auc, min: 0.7}                   # logged on the source run
//     - {check: loads}                                    # loads and serves in its runtime
//     - {check: latency_p99_ms, max: 5}                   # over the evaluation rows, 1 row
//     - {check: size_mb, max: 100}                        #   per request
//     - {check: features_online, feature_service: churn}  # its inputs are served online
//   rollout: {mode: canary, percent: 20, guard: {window: 10m, min_requests: 200}}
//     # optional: promotion goes through a canary on the endpoints that follow
//     # model@target_alias; the guard's verdict promotes or rolls back.
//
// Changes are measured in the better direction: change = candidate − baseline when
// greater_is_better, baseline − candidate otherwise; relative change = change / |baseline|.
// A comparison gate passes when change >= min_absolute_change (and relative change >=
// min_relative_change); it passes with verdict "skipped" when no version holds the target
// alias yet (the first model has nothing to beat), and is reported as such.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "serving/endpoint_spec.h"

namespace cairn::cicd {

struct GateSpec {
  // "metric": computed on the evaluation data (auc, logloss, accuracy, precision, recall,
  //           f1, brier, rmse, mae, r2);
  // "run_metric": the latest value of a metric logged on the version's source run;
  // "check": an operational check (loads, latency_p99_ms, size_mb, features_online).
  std::string kind;
  std::string name;
  std::optional<double> min;  // absolute bounds on the candidate's value
  std::optional<double> max;
  std::optional<double> min_absolute_change;  // vs the target alias's version
  std::optional<double> min_relative_change;
  std::optional<bool> greater_is_better;  // default: by metric (auc yes, logloss no, …)
  bool per_slice = false;                 // also per slice of evaluation.slices
  std::string feature_service;            // check features_online: the service to check
  bool operator==(const GateSpec&) const = default;
};

struct EvaluationDataSpec {
  std::string path;                 // CSV file on the server
  std::string label;                // ground-truth column
  std::vector<std::string> slices;  // columns whose values define slices
  double threshold = 0.5;
  bool operator==(const EvaluationDataSpec&) const = default;
};

struct PolicySpec {
  std::string name;  // [A-Za-z0-9_.-]+, at most 255
  std::string description;
  std::string owner;
  std::map<std::string, std::string> tags;
  std::string model;
  std::string target_alias = "production";
  std::string mode = "auto";  // "auto" | "manual"
  EvaluationDataSpec evaluation;
  std::vector<GateSpec> gates;  // at least one
  // The challenger in a policy's rollout is the candidate version: version/alias unset.
  std::optional<serving::RolloutSpec> rollout;
  std::string file;  // messages only
  int line = 0;
  bool operator==(const PolicySpec& o) const {
    return name == o.name && description == o.description && owner == o.owner &&
           tags == o.tags && model == o.model && target_alias == o.target_alias &&
           mode == o.mode && evaluation == o.evaluation && gates == o.gates &&
           rollout == o.rollout;
  }
};

}  // namespace cairn::cicd
