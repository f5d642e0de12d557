#include "monitoring/stats/sort_sample.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::monitoring::stats {
namespace {

void ExpectSortsLikeStdSort(std::vector<double> values) {
  std::vector<double> expected = values;
  std::sort(expected.begin(), expected.end());
  SortSample(values);
  ASSERT_EQ(values.size(), expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(values[i], expected[i]) << "at " << i;
  }
}

TEST(SortSampleTest, SortsLargeSamplesOfEverySignAndScale) {
  std::mt19937_64 random(7);
  std::normal_distribution<double> normal(0, 1);
  std::vector<double> values(100000);
  for (double& v : values) v = normal(random) * std::pow(10.0, static_cast<int>(random() % 40) - 20);
  values[10] = 0.0;
  values[20] = -0.0;
  values[30] = std::numeric_limits<double>::max();
  values[40] = std::numeric_limits<double>::lowest();
  values[50] = std::numeric_limits<double>::denorm_min();
  values[60] = -std::numeric_limits<double>::denorm_min();
  ExpectSortsLikeStdSort(values);
}

TEST(SortSampleTest, SortsIntegersAndRepeatedValues) {
  std::vector<double> values;
  for (int i = 0; i < 50000; ++i) values.push_back(static_cast<double>((i * 7919) % 1001) - 500);
  ExpectSortsLikeStdSort(values);
  ExpectSortsLikeStdSort(std::vector<double>(10000, 3.25));
}

// Most values in one 16-bit key prefix (one bucket of the first pass, split again by
// later passes), decimals rounded to 7 digits as CSV files hold them, outliers, both
// zeros: the order is std::sort's, and -0.0 comes before +0.0.
TEST(SortSampleTest, SortsConcentratedAndRoundedSamples) {
  std::mt19937_64 random(3);
  std::normal_distribution<double> normal(10, 2);
  std::vector<double> values(300000);
  for (double& v : values) v = std::round(normal(random) * 1e5) / 1e5;
  for (size_t i = 0; i < 100000; ++i) values[i] = 1.0 + static_cast<double>(random() % 1000) * 1e-6;
  values[7] = 1e300;
  values[8] = -1e-300;
  values[9] = 0.0;
  values[11] = -0.0;
  std::shuffle(values.begin(), values.end(), random);
  ExpectSortsLikeStdSort(values);
  std::vector<double> sorted = values;
  SortSample(sorted);
  const auto zero = std::find(sorted.begin(), sorted.end(), 0.0);
  ASSERT_NE(zero, sorted.end());
  EXPECT_TRUE(std::signbit(*zero));
  EXPECT_FALSE(std::signbit(*(zero + 1)));
  // All equal but one.
  std::vector<double> almost(50000, 2.5);
  almost[123] = 2.4999999999999996;
  ExpectSortsLikeStdSort(almost);
}

TEST(SortSampleTest, SortsSmallSamples) {
  ExpectSortsLikeStdSort({});
  ExpectSortsLikeStdSort({1});
  ExpectSortsLikeStdSort({3, -1, 2, -0.5, 0});
}

}  // namespace
}  // namespace cairn::monitoring::stats
