#include "monitoring/profile.h"

#include <cmath>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/testing/frames.h"

namespace cairn::monitoring {
namespace {

using test_support::Categorical;
using test_support::Frame;
using test_support::Numeric;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const double kNaN = std::nan("");

TEST(ProfileTest, NumericSummariesMatchPandasDescribe) {
  // pandas.Series([1, 2, 3, 4, 10, None]).describe(): count 5, mean 4, std 3.535534,
  // min 1, 25% 2, 50% 3, 75% 4, max 10.
  auto profile = ProfileFrame(Frame({Numeric("x", {1, 2, 3, 4, 10, kNaN})}));
  ASSERT_TRUE(profile.ok()) << profile.status();
  const ColumnProfile* x = profile->Find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->count(), 5);
  EXPECT_EQ(x->nulls(), 1);
  EXPECT_DOUBLE_EQ(x->completeness(), 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(x->mean(), 4.0);
  EXPECT_NEAR(x->stddev(), 3.5355339059327378, 1e-12);
  EXPECT_EQ(x->min(), 1);
  EXPECT_EQ(x->max(), 10);
  EXPECT_EQ(x->type(), InferredType::kIntegral);
  std::vector<double> q = x->Quantiles();  // 0.01 0.05 0.25 0.5 0.75 0.95 0.99
  EXPECT_DOUBLE_EQ(q[2], 2.0);
  EXPECT_DOUBLE_EQ(q[3], 3.0);
  EXPECT_DOUBLE_EQ(q[4], 4.0);
  EXPECT_DOUBLE_EQ(q[5], 8.8);  // numpy.quantile(..., 0.95)
  Histogram h = x->MakeHistogram(3);
  EXPECT_THAT(h.edges, ElementsAre(1, 4, 7, 10));
  EXPECT_THAT(h.counts, ElementsAre(3, 1, 1));  // 4 sits on an edge: the upper bin
}

TEST(ProfileTest, FractionalAndNonFiniteAreMissing) {
  auto profile = ProfileFrame(
      Frame({Numeric("x", {0.5, INFINITY, -INFINITY, 1.5}), Numeric("empty", {kNaN, kNaN, kNaN, kNaN})}));
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->Find("x")->type(), InferredType::kFractional);
  EXPECT_EQ(profile->Find("x")->nulls(), 2);
  EXPECT_EQ(profile->Find("empty")->type(), InferredType::kUnknown);
  EXPECT_TRUE(std::isnan(profile->Find("empty")->mean()));
  Json json = ProfileToJson(*profile);
  EXPECT_TRUE(json["columns"][1]["mean"].is_null());
  EXPECT_EQ(json["columns"][1]["quantiles"], Json::array());
}

TEST(ProfileTest, CategoricalCountsAndTop) {
  auto profile = ProfileFrame(
      Frame({Categorical("c", {0, 1, 1, -1, 2, 1}, {"a", "b", "z"})}));
  ASSERT_TRUE(profile.ok());
  const ColumnProfile* c = profile->Find("c");
  EXPECT_EQ(c->type(), InferredType::kString);
  EXPECT_EQ(c->count(), 5);
  EXPECT_EQ(c->nulls(), 1);
  Json json = ProfileToJson(*profile)["columns"][0];
  EXPECT_EQ(json["distinct"], 3);
  EXPECT_EQ(json["distinct_exact"], true);
  EXPECT_EQ(json["top"][0], (Json{{"value", "b"}, {"count", 3}}));
  EXPECT_EQ(json["top"][1], (Json{{"value", "a"}, {"count", 1}}));
}

TEST(ProfileTest, BatchesEqualOneFrameAndMissingColumnsCountAsNulls) {
  DataProfile batched;
  ASSERT_TRUE(batched.Add(Frame({Numeric("x", {1, 2}), Categorical("c", {0, 0}, {"a"})})).ok());
  // Second batch: no x, a new column y, and c with another dictionary.
  ASSERT_TRUE(batched.Add(Frame({Categorical("c", {0, 1, 1}, {"b", "a"}), Numeric("y", {5, 6, 7})}))
                  .ok());
  EXPECT_EQ(batched.rows(), 5);
  EXPECT_EQ(batched.Find("x")->count(), 2);
  EXPECT_EQ(batched.Find("x")->nulls(), 3);
  EXPECT_EQ(batched.Find("y")->nulls(), 2);
  EXPECT_THAT(batched.Find("c")->categories().Sorted(),
              ElementsAre(LabelCount{"a", 4}, LabelCount{"b", 1}));
}

TEST(ProfileTest, KindChangeBetweenBatchesIsRefusedAndChangesNothing) {
  DataProfile profile;
  ASSERT_TRUE(profile.Add(Frame({Numeric("x", {1})})).ok());
  absl::Status status = profile.Add(Frame({Categorical("x", {0}, {"a"})}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("column 'x': numeric in the rows profiled so far but "
                                          "categorical in this batch"));
  EXPECT_EQ(profile.rows(), 1);
}

TEST(ProfileTest, RaggedBatchIsRefused) {
  DataFrame frame = Frame({Numeric("x", {1, 2})});
  frame.rows = 3;
  EXPECT_EQ(ProfileFrame(frame).status().message(),
            "column 'x': has 2 values, but the batch has 3 rows");
}

TEST(ProfileTest, MergeMatchesProfileOfUnion) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> dist(5, 2);
  std::vector<double> a(30'000), b(20'000), all;
  for (double& v : a) v = dist(rng);
  for (double& v : b) v = dist(rng) * 3;
  all = a;
  all.insert(all.end(), b.begin(), b.end());
  auto pa = ProfileFrame(Frame({Numeric("x", a)}));
  auto pb = ProfileFrame(Frame({Numeric("x", b)}));
  auto whole = ProfileFrame(Frame({Numeric("x", all)}));
  ASSERT_TRUE(pa->Merge(*pb).ok());
  const ColumnProfile& m = *pa->Find("x");
  const ColumnProfile& w = *whole->Find("x");
  EXPECT_EQ(m.count(), w.count());
  EXPECT_NEAR(m.mean(), w.mean(), 1e-12 * std::abs(w.mean()));
  EXPECT_NEAR(m.stddev(), w.stddev(), 1e-10 * w.stddev());
  EXPECT_EQ(m.min(), w.min());
  EXPECT_EQ(m.max(), w.max());
}

TEST(ProfileTest, VarianceIsStableForLargeOffsets) {
  // A naive sum-of-squares variance loses every digit here.
  std::vector<double> values;
  for (int i = 0; i < 100'000; ++i) values.push_back(1e9 + (i % 2));
  auto profile = ProfileFrame(Frame({Numeric("x", values)}));
  EXPECT_NEAR(profile->Find("x")->stddev(), 0.5000025, 1e-6);
}

TEST(ProfileTest, JsonRoundTripKeepsStateAndSummaries) {
  std::vector<double> values;
  for (int i = 0; i < 5000; ++i) values.push_back(i * 0.25);
  auto profile = ProfileFrame(Frame({Numeric("x", values), Categorical("c", std::vector<int32_t>(5000, 0), {"k"})}));
  Json json = ProfileToJson(*profile);
  auto back = ProfileFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ProfileToJson(*back), json);
  // Still mergeable after the round trip.
  ASSERT_TRUE(back->Merge(*profile).ok());
  EXPECT_EQ(back->rows(), 10'000);
  EXPECT_EQ(back->Find("c")->categories().Sorted()[0].count, 10'000);
}

// Columns near the ends of the double range: the values' sums and squared deviations
// overflow (or underflow) a double, their mean and std do not. Expected values: exact
// rational arithmetic (Python's fractions), rounded once.
TEST(ProfileTest, MeanAndStdStayFiniteNearTheEndsOfTheDoubleRange) {
  struct Case {
    std::vector<double> values;
    double mean;
    double std;
  };
  const std::vector<Case> cases = {
      {{1e300, -1e300, 3e300, 5e299}, 8.75e+299, 1.6520189667999176e+300},
      {{1e308, -1e308, 1.5e308}, 5e+307, 1.3228756555322954e+308},
      {{1e308, 1.7e308, 1.2e308, 1.79e308}, 1.4225e+308, 3.830034812722551e+307},
      {{1e-300, 3e-300, 2e-300, 5e-301}, 1.625e-300, 1.1086778913041727e-300},
  };
  for (const Case& c : cases) {
    auto profile = ProfileFrame(Frame({Numeric("x", c.values)}));
    ASSERT_TRUE(profile.ok()) << profile.status();
    const ColumnProfile& x = *profile->Find("x");
    EXPECT_NEAR(x.mean(), c.mean, 1e-14 * std::abs(c.mean)) << c.values[0];
    EXPECT_NEAR(x.stddev(), c.std, 1e-14 * c.std) << c.values[0];
    // The stored state reads back (the server refused inf before) and says the same.
    Json json = ProfileToJson(*profile);
    EXPECT_TRUE(json["columns"][0]["state"].contains("scale_exponent")) << json.dump();
    auto back = ProfileFromJson(json);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(ProfileToJson(*back), json);
    EXPECT_EQ(back->Find("x")->stddev(), x.stddev());
  }
}

TEST(ProfileTest, ScaledColumnMatchesTheUnscaledOneScaled) {
  // 1e200 · N(3, 2): every statistic is 1e200 times the unit column's, to rounding.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> dist(3, 2);
  std::vector<double> unit(50'000), big, tiny;
  for (double& v : unit) v = dist(rng);
  for (double v : unit) big.push_back(v * 1e200);
  for (double v : unit) tiny.push_back(v * 1e-200);
  auto pu = ProfileFrame(Frame({Numeric("x", unit)}));
  auto pb = ProfileFrame(Frame({Numeric("x", big)}));
  auto pt = ProfileFrame(Frame({Numeric("x", tiny)}));
  const ColumnProfile& u = *pu->Find("x");
  for (auto [p, factor] : {std::pair{&*pb, 1e200}, std::pair{&*pt, 1e-200}}) {
    const ColumnProfile& x = *p->Find("x");
    EXPECT_NEAR(x.mean() / factor, u.mean(), 1e-13 * u.mean());
    EXPECT_NEAR(x.stddev() / factor, u.stddev(), 1e-13 * u.stddev());
  }
}

TEST(ProfileTest, MergeOfPartialProfilesAcrossScales) {
  // One part near 1, one near 1e300 with both signs, merged in either order and in
  // batches: the union's exact mean and std (Python's fractions).
  const std::vector<double> a = {1.0, 2.0, -3.5, 4.25};
  const std::vector<double> b = {1e300, -2e300, 3e300};
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  const double mean = 2.8571428571428572e+299;    // (2e300 + 3.75) / 7
  const double stddev = 1.4960264830861914e+300;  // sample std of the 7 values
  auto pa = ProfileFrame(Frame({Numeric("x", a)}));
  auto pb = ProfileFrame(Frame({Numeric("x", b)}));
  auto ab = ProfileFrame(Frame({Numeric("x", a)}));
  ASSERT_TRUE(ab->Merge(*pb).ok());
  auto ba = ProfileFrame(Frame({Numeric("x", b)}));
  ASSERT_TRUE(ba->Merge(*pa).ok());
  DataProfile batches;
  ASSERT_TRUE(batches.Add(Frame({Numeric("x", a)})).ok());
  ASSERT_TRUE(batches.Add(Frame({Numeric("x", b)})).ok());
  auto whole = ProfileFrame(Frame({Numeric("x", all)}));
  for (const DataProfile* p : {&*ab, &*ba, &batches, &*whole}) {
    const ColumnProfile& x = *p->Find("x");
    EXPECT_EQ(x.count(), 7);
    EXPECT_NEAR(x.mean(), mean, 1e-14 * mean);
    EXPECT_NEAR(x.stddev(), stddev, 1e-14 * stddev);
    EXPECT_EQ(x.min(), -2e300);
    EXPECT_EQ(x.max(), 3e300);
  }
  // Merging a stored (JSON) scaled profile into an unscaled one.
  auto stored = ProfileFromJson(ProfileToJson(*pb));
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(pa->Merge(*stored).ok());
  EXPECT_NEAR(pa->Find("x")->stddev(), stddev, 1e-14 * stddev);
}

TEST(ProfileTest, HistogramOfTheWholeDoubleRangeIsFinite) {
  auto profile = ProfileFrame(Frame({Numeric("x", {-1.7e308, -1e308, 0, 1e308, 1.7e308})}));
  Histogram h = profile->Find("x")->MakeHistogram(4);
  ASSERT_EQ(h.edges.size(), 5u);
  for (double e : h.edges) EXPECT_TRUE(std::isfinite(e)) << e;
  EXPECT_EQ(h.edges.front(), -1.7e308);
  EXPECT_EQ(h.edges.back(), 1.7e308);
  EXPECT_THAT(h.counts, ElementsAre(2, 0, 1, 2));  // edges −1.7, −0.85, 0, 0.85, 1.7 (e308)
  EXPECT_TRUE(std::isfinite(profile->Find("x")->mean()));
}

TEST(ProfileTest, OrdinaryColumnsKeepTheUnscaledState) {
  // No scale_exponent (and the same numbers as before the scaling) for magnitudes in
  // [2^-256, 2^256).
  auto profile = ProfileFrame(Frame({Numeric("x", {1e-70, 2.5, 1e70})}));
  Json json = ProfileToJson(*profile);
  EXPECT_FALSE(json["columns"][0]["state"].contains("scale_exponent")) << json.dump();
  // One block: mean = sum / n and m2 = Σ (x − mean)², in this order, bit for bit.
  const double mean = (1e-70 + 2.5 + 1e70) / 3;
  const double m2 = (1e-70 - mean) * (1e-70 - mean) + (2.5 - mean) * (2.5 - mean) +
                    (1e70 - mean) * (1e70 - mean);
  EXPECT_EQ(profile->Find("x")->mean(), mean);
  EXPECT_EQ(json["columns"][0]["state"]["m2"].get<double>(), m2);
}

TEST(ProfileTest, FromJsonNamesTheBadField) {
  auto profile = ProfileFrame(Frame({Numeric("x", {1, 2})}));
  Json json = ProfileToJson(*profile);
  json["columns"][0]["nulls"] = 5;
  EXPECT_EQ(ProfileFromJson(json).status().message(),
            "column 'x': count + nulls = 7, but the profile has 2 rows");
  json["columns"][0]["kind"] = "text";
  EXPECT_EQ(ProfileFromJson(json).status().message(),
            "column 'x': kind: must be 'numeric' or 'categorical'");
}

}  // namespace
}  // namespace cairn::monitoring
