#include "monitoring/stats/quality_metrics.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::monitoring::stats {
namespace {

// Expected values computed with scikit-learn 1.9.1 (roc_auc_score, log_loss,
// accuracy_score, precision_score, recall_score, f1_score on p >= 0.5, brier_score_loss,
// root_mean_squared_error, mean_absolute_error, r2_score) on the same arrays.
TEST(ComputeMetricsTest, BinaryClassifierMatchesScikitLearn) {
  const std::vector<double> labels = {0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0};
  const std::vector<double> scores = {0.1, 0.9, 0.4, 0.4, 0.65, 0.2, 0.7, 0.5, 0.8, 0.05, 0.5, 0.3};
  absl::StatusOr<MetricSet> m = ComputeMetrics(labels, scores, 0.5);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->unavailable.empty());
  EXPECT_NEAR(m->values.at("auc"), 0.8750000000000001, 1e-12);  // 0.4 tied across classes
  EXPECT_NEAR(m->values.at("logloss"), 0.4594285674540651, 1e-12);
  EXPECT_NEAR(m->values.at("accuracy"), 0.8333333333333334, 1e-12);
  EXPECT_NEAR(m->values.at("precision"), 0.8333333333333334, 1e-12);
  EXPECT_NEAR(m->values.at("recall"), 0.8333333333333334, 1e-12);
  EXPECT_NEAR(m->values.at("f1"), 0.8333333333333334, 1e-12);
  EXPECT_NEAR(m->values.at("brier"), 0.15208333333333332, 1e-12);
  EXPECT_NEAR(m->values.at("rmse"), 0.389978631893253, 1e-12);
  EXPECT_NEAR(m->values.at("mae"), 0.3333333333333333, 1e-12);
  EXPECT_NEAR(m->values.at("r2"), 0.3916666666666667, 1e-12);
  EXPECT_EQ(m->values.size(), KnownMetrics().size());
}

TEST(ComputeMetricsTest, LogLossClipsCertainMissesLikeScikitLearn) {
  EXPECT_NEAR(LogLoss(std::vector<double>{1, 0, 1, 0}, std::vector<double>{0.0, 1.0, 0.9, 0.2}),
              18.103952711301584, 1e-9);
}

TEST(ComputeMetricsTest, RegressionLabelsGetOnlyRegressionMetrics) {
  const std::vector<double> labels = {3.0, -0.5, 2.0, 7.0, 4.2};
  const std::vector<double> predictions = {2.5, 0.0, 2.0, 8.0, 3.9};
  absl::StatusOr<MetricSet> m = ComputeMetrics(labels, predictions, 0.5);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->values.at("rmse"), 0.5639148871948674, 1e-12);
  EXPECT_NEAR(m->values.at("mae"), 0.4600000000000001, 1e-12);
  EXPECT_NEAR(m->values.at("r2"), 0.9480256276150627, 1e-12);
  EXPECT_EQ(m->values.count("auc"), 0u);
  ASSERT_EQ(m->unavailable.count("auc"), 1u);
  EXPECT_EQ(m->unavailable.at("auc"),
            "the labels are not all 0 or 1 (e.g. 3): a classification metric needs a binary "
            "label");
  EXPECT_EQ(m->unavailable.size(), 7u);
}

TEST(ComputeMetricsTest, OneClassHasNoAucButTheOtherMetrics) {
  absl::StatusOr<MetricSet> m =
      ComputeMetrics(std::vector<double>{0, 0, 0}, std::vector<double>{0.1, 0.7, 0.2}, 0.5);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->values.count("auc"), 0u);
  EXPECT_EQ(m->unavailable.at("auc"),
            "only one class in the labels (all 0): the ROC AUC needs positives and negatives");
  EXPECT_DOUBLE_EQ(m->values.at("accuracy"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m->values.at("precision"), 0.0);  // sklearn's zero_division
  EXPECT_DOUBLE_EQ(m->values.at("recall"), 0.0);
  EXPECT_DOUBLE_EQ(m->values.at("f1"), 0.0);
}

TEST(ComputeMetricsTest, ConstantLabelsR2IsOneWhenExactElseZero) {
  absl::StatusOr<MetricSet> exact =
      ComputeMetrics(std::vector<double>{2, 2}, std::vector<double>{2, 2}, 0.5);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->values.at("r2"), 1.0);
  absl::StatusOr<MetricSet> off =
      ComputeMetrics(std::vector<double>{2, 2}, std::vector<double>{2, 3}, 0.5);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->values.at("r2"), 0.0);
}

TEST(ComputeMetricsTest, NonFiniteInputsAndNoRowsAreRefused) {
  absl::StatusOr<MetricSet> none = ComputeMetrics({}, {}, 0.5);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<MetricSet> nan_pred =
      ComputeMetrics(std::vector<double>{0, 1}, std::vector<double>{0.2, NAN}, 0.5);
  EXPECT_EQ(nan_pred.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nan_pred.status().message(),
            "prediction of row 1 is nan: the model returned a non-number");
  absl::StatusOr<MetricSet> nan_label =
      ComputeMetrics(std::vector<double>{NAN, 1}, std::vector<double>{0.2, 0.3}, 0.5);
  EXPECT_EQ(nan_label.status().message(), "label of row 0 is nan: labels must be finite numbers");
}

TEST(MetricNamesTest, Kinds) {
  EXPECT_TRUE(IsKnownMetric("brier"));
  EXPECT_FALSE(IsKnownMetric("val_auc"));
  EXPECT_TRUE(IsClassificationMetric("f1"));
  EXPECT_FALSE(IsClassificationMetric("r2"));
}

}  // namespace
}  // namespace cairn::monitoring::stats
