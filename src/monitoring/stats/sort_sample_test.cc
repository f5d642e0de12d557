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

TEST(SortSampleTest, SortsSmallSamples) {
  ExpectSortsLikeStdSort({});
  ExpectSortsLikeStdSort({1});
  ExpectSortsLikeStdSort({3, -1, 2, -0.5, 0});
}

}  // namespace
}  // namespace cairn::monitoring::stats
