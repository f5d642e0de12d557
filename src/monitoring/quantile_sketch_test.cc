#include "monitoring/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::monitoring {
namespace {

// The largest |rank(returned value) - q·n| / n over a grid of q, against the exact sort.
double MaxRankError(const QuantileSketch& sketch, std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  double worst = 0;
  for (int i = 0; i <= 100; ++i) {
    const double q = i / 100.0;
    const double v = sketch.Quantile(q);
    // The returned value covers ranks [lower, upper) of the sorted data.
    const double lower = std::lower_bound(values.begin(), values.end(), v) - values.begin();
    const double upper = std::upper_bound(values.begin(), values.end(), v) - values.begin();
    const double target = q * (n - 1);
    double err = 0;
    if (target < lower) err = lower - target;
    if (target > upper - 1) err = target - (upper - 1);
    worst = std::max(worst, err / n);
  }
  return worst;
}

TEST(QuantileSketchTest, ExactBelowKMatchesNumpyLinearInterpolation) {
  QuantileSketch sketch(64);
  for (double v : {5.0, 1.0, 4.0, 2.0, 3.0}) sketch.Add(v);
  EXPECT_TRUE(sketch.exact());
  EXPECT_EQ(sketch.count(), 5);
  EXPECT_DOUBLE_EQ(sketch.Quantile(0.0), 1.0);
  EXPECT_DOUBLE_EQ(sketch.Quantile(0.5), 3.0);
  EXPECT_DOUBLE_EQ(sketch.Quantile(1.0), 5.0);
  // numpy.quantile([1,2,3,4,5], 0.1) = 1.4 (linear between order statistics).
  EXPECT_DOUBLE_EQ(sketch.Quantile(0.1), 1.4);
  EXPECT_DOUBLE_EQ(sketch.Quantile(0.75), 4.0);
  EXPECT_EQ(sketch.RankError(), 0.0);
}

TEST(QuantileSketchTest, EmptyGivesNaN) {
  QuantileSketch sketch;
  EXPECT_TRUE(std::isnan(sketch.Quantile(0.5)));
  EXPECT_TRUE(sketch.SortedItems().empty());
}

TEST(QuantileSketchTest, DocumentedBoundValues) {
  EXPECT_NEAR(QuantileSketch::RankErrorBound(400), 0.0066, 0.0002);
  EXPECT_NEAR(QuantileSketch::RankErrorBound(200), 0.0133, 0.0002);
}

TEST(QuantileSketchTest, RankErrorWithinBoundOnManyStreams) {
  const int k = 200;
  const double bound = QuantileSketch::RankErrorBound(k);
  int over = 0;
  for (int trial = 0; trial < 20; ++trial) {
    std::mt19937_64 rng(1000 + trial);
    std::vector<double> values;
    QuantileSketch sketch(k);
    const int n = 50'000 + trial * 7919;
    std::lognormal_distribution<double> dist(0.0, 1.0 + trial % 3);
    for (int i = 0; i < n; ++i) {
      // Half the trials sorted input, the adversarial order for naive samplers.
      values.push_back(dist(rng));
    }
    if (trial % 2 == 1) std::sort(values.begin(), values.end());
    for (double v : values) sketch.Add(v);
    EXPECT_FALSE(sketch.exact());
    EXPECT_EQ(sketch.count(), n);
    int64_t weight = 0;
    for (const auto& item : sketch.SortedItems()) weight += item.second;
    EXPECT_EQ(weight, n);
    // Memory: about 4k values, not n.
    EXPECT_LT(sketch.retained(), static_cast<size_t>(4 * k + 64));
    if (MaxRankError(sketch, values) > bound) ++over;
  }
  // The bound holds with 99% probability per query; over a 101-point grid, allow one
  // stream in twenty to exceed it somewhere.
  EXPECT_LE(over, 1);
}

TEST(QuantileSketchTest, MergedSketchSummarizesBothStreamsWithinBound) {
  const int k = 200;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> a(0, 1), b(10, 2);
  QuantileSketch left(k), right(k);
  std::vector<double> all;
  for (int i = 0; i < 80'000; ++i) {
    double x = a(rng);
    left.Add(x);
    all.push_back(x);
  }
  for (int i = 0; i < 40'000; ++i) {
    double x = b(rng);
    right.Add(x);
    all.push_back(x);
  }
  left.Merge(right);
  EXPECT_EQ(left.count(), 120'000);
  EXPECT_LE(MaxRankError(left, all), QuantileSketch::RankErrorBound(k));
  EXPECT_LT(left.retained(), static_cast<size_t>(4 * k + 64));
}

TEST(QuantileSketchTest, MergeOfExactSketchesStaysExact) {
  QuantileSketch a(100), b(100);
  for (int i = 0; i < 30; ++i) a.Add(i);
  for (int i = 30; i < 60; ++i) b.Add(i);
  a.Merge(b);
  EXPECT_TRUE(a.exact());
  EXPECT_DOUBLE_EQ(a.Quantile(0.5), 29.5);
}

TEST(QuantileSketchTest, JsonRoundTripKeepsState) {
  QuantileSketch sketch(50);
  for (int i = 0; i < 10'000; ++i) sketch.Add((i * 7919) % 10'007);
  auto back = QuantileSketch::FromJson(sketch.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->count(), sketch.count());
  EXPECT_EQ(back->k(), 50);
  for (double q : {0.01, 0.5, 0.99}) EXPECT_EQ(back->Quantile(q), sketch.Quantile(q));
}

TEST(QuantileSketchTest, FromJsonRejectsInconsistentWeights) {
  Json bad = {{"k", 50}, {"n", 5}, {"levels", {{1.0, 2.0}, {3.0}}}};
  auto parsed = QuantileSketch::FromJson(bad);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(),
            "sketch: levels hold values of total weight 4, but n is 5");
  Json unsorted = {{"k", 50}, {"n", 4}, {"levels", {Json::array(), {3.0, 1.0}}}};
  EXPECT_EQ(QuantileSketch::FromJson(unsorted).status().message(),
            "sketch: levels[1]: must be sorted");
}

TEST(QuantileSketchTest, SameInputSameSketch) {
  QuantileSketch a(64), b(64);
  for (int i = 0; i < 5000; ++i) {
    a.Add(i % 97);
    b.Add(i % 97);
  }
  EXPECT_EQ(a.ToJson(), b.ToJson());
}

}  // namespace
}  // namespace cairn::monitoring
