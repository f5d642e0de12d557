#include "monitoring/stats/quality_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace cairn::monitoring::stats {
namespace {

constexpr std::array<std::string_view, 10> kMetrics = {
    "auc", "logloss", "accuracy", "precision", "recall", "f1", "brier", "rmse", "mae", "r2"};
constexpr std::array<std::string_view, 7> kClassification = {
    "auc", "logloss", "accuracy", "precision", "recall", "f1", "brier"};

}  // namespace

std::span<const std::string_view> KnownMetrics() { return kMetrics; }

bool IsKnownMetric(std::string_view name) {
  return std::find(kMetrics.begin(), kMetrics.end(), name) != kMetrics.end();
}

bool IsClassificationMetric(std::string_view name) {
  return std::find(kClassification.begin(), kClassification.end(), name) != kClassification.end();
}

bool HigherIsBetter(std::string_view name) {
  return name != "logloss" && name != "brier" && name != "rmse" && name != "mae";
}

double RocAuc(std::span<const double> labels, std::span<const double> scores) {
  const size_t n = labels.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the positives' ranks (1-based), tied scores sharing their average rank.
  double positive_rank_sum = 0;
  double positives = 0;
  size_t start = 0;
  while (start < n) {
    size_t end = start + 1;
    while (end < n && scores[order[end]] == scores[order[start]]) ++end;
    const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2;
    for (size_t k = start; k < end; ++k) {
      if (labels[order[k]] == 1.0) {
        positive_rank_sum += average_rank;
        positives += 1;
      }
    }
    start = end;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

double LogLoss(std::span<const double> labels, std::span<const double> probabilities) {
  constexpr double kEps = std::numeric_limits<double>::epsilon();
  double sum = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double p = std::clamp(probabilities[i], kEps, 1 - kEps);
    sum -= labels[i] == 1.0 ? std::log(p) : std::log1p(-p);
  }
  return sum / static_cast<double>(labels.size());
}

absl::StatusOr<MetricSet> ComputeMetrics(std::span<const double> labels,
                                         std::span<const double> predictions, double threshold) {
  CAIRN_CHECK(labels.size() == predictions.size());
  const size_t n = labels.size();
  if (n == 0) return absl::InvalidArgumentError("no rows to compute metrics on");
  std::optional<double> non_binary;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(labels[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("label of row ", i, " is ", labels[i], ": labels must be finite numbers"));
    }
    if (!std::isfinite(predictions[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prediction of row ", i, " is ", predictions[i], ": the model returned a non-number"));
    }
    if (!non_binary && labels[i] != 0.0 && labels[i] != 1.0) non_binary = labels[i];
  }
  const double count = static_cast<double>(n);
  MetricSet out;

  // Regression metrics.
  double squared = 0, absolute = 0, label_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double error = predictions[i] - labels[i];
    squared += error * error;
    absolute += std::fabs(error);
    label_sum += labels[i];
  }
  const double label_mean = label_sum / count;
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += (labels[i] - label_mean) * (labels[i] - label_mean);
  out.values["rmse"] = std::sqrt(squared / count);
  out.values["mae"] = absolute / count;
  if (total != 0) {
    out.values["r2"] = 1 - squared / total;
  } else {
    out.values["r2"] = squared == 0 ? 1.0 : 0.0;
  }

  if (non_binary) {
    const std::string why =
        absl::StrCat("the labels are not all 0 or 1 (e.g. ", absl::StrFormat("%g", *non_binary),
                     "): a classification metric needs a binary label");
    for (std::string_view name : kClassification) out.unavailable[std::string(name)] = why;
    return out;
  }

  double tp = 0, fp = 0, fn = 0, tn = 0, brier = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool positive = labels[i] == 1.0;
    const bool predicted = predictions[i] >= threshold;
    if (positive && predicted) tp += 1;
    if (!positive && predicted) fp += 1;
    if (positive && !predicted) fn += 1;
    if (!positive && !predicted) tn += 1;
    brier += (predictions[i] - labels[i]) * (predictions[i] - labels[i]);
  }
  const double precision = tp + fp > 0 ? tp / (tp + fp) : 0.0;
  const double recall = tp + fn > 0 ? tp / (tp + fn) : 0.0;
  out.values["accuracy"] = (tp + tn) / count;
  out.values["precision"] = precision;
  out.values["recall"] = recall;
  out.values["f1"] = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
  out.values["brier"] = brier / count;
  out.values["logloss"] = LogLoss(labels, predictions);
  const double auc = RocAuc(labels, predictions);
  if (std::isnan(auc)) {
    out.unavailable["auc"] =
        absl::StrCat("only one class in the labels (all ", tp + fn > 0 ? "1" : "0",
                     "): the ROC AUC needs positives and negatives");
  } else {
    out.values["auc"] = auc;
  }
  return out;
}

}  // namespace cairn::monitoring::stats
