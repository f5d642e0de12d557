#pragma once
// The model-quality metrics on labels and predictions of the same rows: what a CI/CD
// policy's `{metric: …}` gates are computed with (issue 6 item 4, cicd/evaluator.h) and what
// a monitor's live `quality:` checks compute on an endpoint's labelled predictions (item 3,
// monitors/monitor_runner.h). Definitions are scikit-learn's
// (1.9), so a gate agrees with what a data scientist computed in a notebook:
//
//   auc        roc_auc_score: area under the ROC curve; tied scores count half
//              (Mann–Whitney with average ranks). Needs both classes.
//   logloss    log_loss: −mean(y·log p + (1−y)·log(1−p)), p clipped to [ε, 1−ε] with
//              ε = 2.2e-16 (double's machine epsilon), so a confident miss is finite.
//   accuracy   accuracy_score of (p >= threshold) against y.
//   precision  precision_score: TP / (TP + FP); 0 when nothing is predicted positive.
//   recall     recall_score: TP / (TP + FN); 0 when no label is positive.
//   f1         f1_score: 2·P·R / (P + R); 0 when P + R = 0.
//   brier      brier_score_loss: mean((p − y)²).
//   rmse       root_mean_squared_error.
//   mae        mean_absolute_error.
//   r2         r2_score: 1 − SS_res / SS_tot; with constant labels 1 when the
//              predictions are exact, else 0 (sklearn's force_finite).
//
// Classification metrics (auc … brier) are computed only when every label is 0 or 1
// (a binary classifier's positive-class probability is the prediction); regression
// metrics (rmse, mae, r2) always.

#include <map>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn::monitoring::stats {

// Every metric name above, in that order.
std::span<const std::string_view> KnownMetrics();
bool IsKnownMetric(std::string_view name);
// auc, logloss, accuracy, precision, recall, f1, brier.
bool IsClassificationMetric(std::string_view name);
// True when a larger value is better (auc, accuracy, precision, recall, f1, r2); false for
// the losses and errors (logloss, brier, rmse, mae).
bool HigherIsBetter(std::string_view name);

struct MetricSet {
  std::map<std::string, double> values;  // name → value, for every metric that applies
  // name → why it was not computed, for every other known metric (a sentence:
  // "the labels are not all 0 or 1 (e.g. 2.5)", "only one class in the labels (all 0)").
  std::map<std::string, std::string> unavailable;
};

// Computes every known metric that applies to these rows. `labels` and `predictions` have
// one value per row, same length (programmer error otherwise). InvalidArgument when there
// are no rows, or a label or prediction is NaN or infinite (naming the row, 0-based).
absl::StatusOr<MetricSet> ComputeMetrics(std::span<const double> labels,
                                         std::span<const double> predictions, double threshold);

// The single metrics, for callers that want one (same definitions; inputs assumed valid:
// non-empty, finite; labels 0/1 for the classification ones). RocAuc returns NaN when the
// labels hold one class only.
double RocAuc(std::span<const double> labels, std::span<const double> scores);
double LogLoss(std::span<const double> labels, std::span<const double> probabilities);

}  // namespace cairn::monitoring::stats
