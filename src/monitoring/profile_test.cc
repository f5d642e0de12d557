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
