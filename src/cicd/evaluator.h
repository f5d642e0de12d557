#pragma once
// The offline gate (issue 6 item 4): evaluates a candidate model version against a policy
// (policy_spec.h) — on the policy's evaluation CSV it scores the candidate AND the version
// that holds the policy's target alias (the baseline, "production") on the same rows,
// overall and per slice, and checks every gate; the outcome is an Evaluation
// (evaluation.h) with each gate's value, baseline and verdict. It stores nothing and
// moves nothing: promotion_service.h does.
//
// Gates (one GateResult per part and slice, in the policy's order):
//   - {metric: M, min/max}: M on the evaluation rows (metrics.h) within the bounds;
//     "auc >= 0.7", "logloss <= 0.6", "0.6 <= auc <= 0.9" (GateResult::gate is
//     policy_yaml.h's GateText of the part; "better" is its GreaterIsBetter).
//   - {metric: M, min_absolute_change / min_relative_change}: the comparison with the
//     baseline on the same rows, in M's better direction (policy_spec.h);
//     "auc vs production: change >= -0.005". No version holds the target alias →
//     verdict "skipped". A gate with bounds AND changes gives two results.
//   - per_slice: the same gate again for every value of every evaluation.slices column
//     ("plan=basic"; a missing value is "plan=(missing)"), after the overall result. A
//     metric that is undefined on a slice (auc with one class there) is "skipped" there,
//     "error" overall.
//   - {run_metric: M, …}: the latest value of M logged on the version's source run
//     (TrackingStore); the baseline's from its own run.
//   - {check: loads}: the candidate loads in its runtime and predicts one evaluation row
//     (only loads when the policy names no evaluation data) (value: load time in ms).
//   - {check: latency_p99_ms, max}: p99 of single-row predictions over the first 1,000
//     evaluation rows (nearest rank; one untimed warm-up call first), in ms, timed with
//     `deps.now_ns`; "error" when the policy names no evaluation data.
//   - {check: size_mb, max}: ModelInfo::size_bytes in MiB (2^20 bytes).
//   - {check: features_online, feature_service: S}: every input column of the model is a
//     feature of S's online features, by name or by the part after a view prefix
//     ("view:name") (value: how many are missing, at most max (default 0); detail names
//     them). A model that names no inputs cannot be checked ("error").
//   Checks accept min/max and change thresholds like metrics (the baseline measured the
//   same way).
// Bound gates also show the baseline's value where it costs nothing more (metrics, run
// metrics), so reports can print the change.
// Verdicts: "pass", "fail", "skipped" (no baseline / undefined on a slice: counts as
// passing), "error" (the value could not be computed: the model did not load, a column
// is missing, the run has no such metric — the detail says what to do; counts as
// failing). Evaluation::passed is true when no gate failed or erred.
//
// Model inputs: the model's input_columns (ModelInfo), taken from the CSV by name (numeric
// columns as doubles, NaN → null; categorical as strings, missing → null); a model that
// names no inputs gets every column except the label. Predictions go to the runtime in
// batches of at most 10,000 rows.
//
// Errors (no Evaluation): InvalidArgument when the policy governs another model or the
// evaluation data lacks the label or a slice column (naming the file and column, "did you
// mean"), or a label is missing or not a number (naming the row); NotFound for an unknown
// model / version or a missing evaluation file (naming the path). A candidate or baseline
// that does not load or predict is NOT an error of Evaluate: its gates say "error" (or
// "fail" for check loads), so the evaluation is stored and reported.
//
// Thread-safe as its dependencies are; runs on the caller's thread (seconds for big data).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cicd/evaluation.h"
#include "cicd/policy_spec.h"
#include "common/clock.h"
#include "serving/model_runtime.h"

namespace cairn::tracking {
class ModelRegistry;
class TrackingStore;
}  // namespace cairn::tracking

namespace cairn::cicd {

struct EvaluatorDeps {
  tracking::ModelRegistry* registry = nullptr;  // required
  tracking::TrackingStore* tracking = nullptr;  // run_metric gates; null: they say "error"
  // Loads a registered version in its runtime (the server: resolve the version's source
  // under the artifact root, serving::LoadModelRuntime). Required for metric and check
  // gates; unset: those gates say "error".
  std::function<absl::StatusOr<std::shared_ptr<serving::ModelRuntime>>(std::string_view model,
                                                                       int64_t version)>
      load_runtime;
  // The names of a feature service's online features (check features_online); unset:
  // that check says "error".
  std::function<absl::StatusOr<std::vector<std::string>>(std::string_view feature_service)>
      online_features;
  // Relative evaluation.data paths resolve under this directory (the server's --data);
  // empty: the working directory.
  std::string data_dir;
  Clock* clock = nullptr;  // Evaluation::created_ms; null: the real clock
  // A monotonic nanosecond counter for latency_p99_ms (tests inject one their fake runtime
  // advances); unset: std::chrono::steady_clock.
  std::function<int64_t()> now_ns;
};

// Evaluates `version` of `model` under `policy` (version `policy_version` of it in the
// policy registry). Fills every field of Evaluation: a new id "ev-<32 hex>", created_ms,
// baseline_version (0 when no version holds policy.target_alias), rows, metrics
// ({"candidate": {…}, "baseline": {…}, "slices": {"plan=basic": {"rows": N,
// "candidate": {…}, "baseline": {…}}}} — every metric that applies), gates, passed.
absl::StatusOr<Evaluation> Evaluate(const PolicySpec& policy, int64_t policy_version,
                                    std::string_view model, int64_t version, std::string_view actor,
                                    const EvaluatorDeps& deps);

}  // namespace cairn::cicd
