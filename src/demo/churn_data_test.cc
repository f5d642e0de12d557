#include "demo/churn_data.h"

#include <set>

#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

TEST(ChurnDataTest, SameSeedGivesIdenticalData) {
  const Dataset first = GenerateChurnData(5000, 7);
  const Dataset second = GenerateChurnData(5000, 7);
  EXPECT_EQ(first.features, second.features);
  EXPECT_EQ(first.labels, second.labels);
}

TEST(ChurnDataTest, DifferentSeedsGiveDifferentData) {
  EXPECT_NE(GenerateChurnData(1000, 1).features, GenerateChurnData(1000, 2).features);
}

TEST(ChurnDataTest, ShapeAndFeatureNames) {
  const Dataset data = GenerateChurnData(1234, 3);
  EXPECT_EQ(data.rows(), 1234u);
  EXPECT_EQ(data.cols(), 11u);
  EXPECT_EQ(data.features.size(), 1234u * 11u);
  EXPECT_EQ(data.feature_names.front(), "tenure_months");
  EXPECT_EQ(std::set<std::string>(data.feature_names.begin(), data.feature_names.end()).size(),
            data.cols());
}

TEST(ChurnDataTest, ClassBalanceIsAboutOneQuarterChurners) {
  const Dataset data = GenerateChurnData(50'000, 42);
  EXPECT_GT(data.PositiveRate(), 0.15);
  EXPECT_LT(data.PositiveRate(), 0.40);
  for (float label : data.labels) ASSERT_TRUE(label == 0.0f || label == 1.0f);
}

TEST(ChurnDataTest, FeaturesStayInTheirDomains) {
  const Dataset data = GenerateChurnData(20'000, 5);
  const size_t cols = data.cols();
  for (size_t row_idx = 0; row_idx < data.rows(); ++row_idx) {
    const float* row = &data.features[row_idx * cols];
    ASSERT_GE(row[0], 1.0f);   // tenure_months
    ASSERT_LE(row[0], 72.0f);
    ASSERT_GE(row[1], 0.0f);   // plan
    ASSERT_LE(row[1], 2.0f);
    ASSERT_GE(row[3], 5.0f);   // monthly_spend
    ASSERT_GE(row[4], 0.0f);   // logins_30d
    ASSERT_GE(row[10], 18.0f);  // age
    ASSERT_LE(row[10], 85.0f);
  }
}

TEST(ChurnDataTest, SplitPartitionsRowsDeterministically) {
  const Dataset data = GenerateChurnData(1000, 9);
  const TrainValidationSplit split = SplitTrainValidation(data, 0.2, 11);
  EXPECT_EQ(split.validation.rows(), 200u);
  EXPECT_EQ(split.train.rows(), 800u);
  EXPECT_EQ(split.train.features.size(), 800u * data.cols());
  EXPECT_EQ(split.train.feature_names, data.feature_names);
  // Every row lands in exactly one side: the label sums add up.
  EXPECT_DOUBLE_EQ(split.train.PositiveRate() * 800 + split.validation.PositiveRate() * 200,
                   data.PositiveRate() * 1000);
  const TrainValidationSplit again = SplitTrainValidation(data, 0.2, 11);
  EXPECT_EQ(again.validation.features, split.validation.features);
}

}  // namespace
}  // namespace cairn::demo
