#include "monitoring/stats/stat_tests.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::monitoring::stats {
namespace {

using ::testing::HasSubstr;

ColumnPair Pair(std::vector<double> reference, std::vector<double> current) {
  ColumnPair pair;
  pair.name = "x";
  pair.reference = std::move(reference);
  pair.current = std::move(current);
  return pair;
}

// Small samples with scipy 1.17.1 answers (python: scipy.stats on the same lists).
const std::vector<double> kA = {2.2, 0.1, 0.9, 3.1, 1.3, 0.5, 2.0};  // unsorted on purpose
const std::vector<double> kB = {1.0, 1.5, 2.5, 3.0, 3.5, 4.0, 4.4, 5.0};

TEST(StatTestsTest, CatalogueHasEvidentlysDefaultsAndRules) {
  struct Expected {
    std::string name;
    DriftRule rule;
    double threshold;
    bool numeric;
    bool categorical;
  };
  const std::vector<Expected> expected = {
      {"ks", DriftRule::kPValueAtMost, 0.05, true, false},
      {"chisquare", DriftRule::kPValueBelow, 0.05, true, true},
      {"z", DriftRule::kPValueBelow, 0.05, true, true},
      {"wasserstein", DriftRule::kDistanceAtLeast, 0.1, true, false},
      {"jensenshannon", DriftRule::kDistanceAtLeast, 0.1, true, true},
      {"psi", DriftRule::kDistanceAtLeast, 0.1, true, true},
      {"kl_div", DriftRule::kDistanceAtLeast, 0.1, true, true},
      {"hellinger", DriftRule::kDistanceAtLeast, 0.1, true, true},
      {"tvd", DriftRule::kPValueBelow, 0.1, true, true},
      {"anderson", DriftRule::kPValueBelow, 0.1, true, false},
      {"cramer_von_mises", DriftRule::kPValueAtMost, 0.1, true, false},
      {"mannw", DriftRule::kPValueBelow, 0.05, true, false},
      {"t_test", DriftRule::kPValueBelow, 0.05, true, false},
      {"energy_dist", DriftRule::kDistanceAbove, 0.1, true, false},
  };
  ASSERT_EQ(StatTests().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const StatTestInfo& info = StatTests()[i];
    EXPECT_EQ(std::string(info.name), expected[i].name);
    EXPECT_EQ(info.rule, expected[i].rule) << info.name;
    EXPECT_EQ(info.default_threshold, expected[i].threshold) << info.name;
    EXPECT_EQ(info.numeric, expected[i].numeric) << info.name;
    EXPECT_EQ(info.categorical, expected[i].categorical) << info.name;
    EXPECT_FALSE(info.description.empty()) << info.name;
    EXPECT_EQ(FindStatTest(info.name), &info);
  }
}

TEST(StatTestsTest, AcceptsEvidentlysRegistryNames) {
  ASSERT_NE(FindStatTest("ed"), nullptr);
  EXPECT_EQ(FindStatTest("ed")->name, "energy_dist");
  ASSERT_NE(FindStatTest("TVD"), nullptr);
  EXPECT_EQ(FindStatTest("TVD")->name, "tvd");
  EXPECT_EQ(FindStatTest("KS"), nullptr);
  EXPECT_EQ(FindStatTest(""), nullptr);
  EXPECT_TRUE(CheckStatTestName("test", "ed").ok());
}

TEST(StatTestsTest, UnknownNameSuggestsTheNearest) {
  absl::Status status = CheckStatTestName("--test", "wasserstien");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--test: unknown drift test 'wasserstien' (did you "
                                          "mean 'wasserstein'?); known tests: ks, chisquare"));
  auto result = RunStatTest("psii", Pair(kA, kB));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr("column 'x': unknown drift test 'psii' (did you mean 'psi'?)"));
  // Nothing near: no suggestion.
  EXPECT_THAT(CheckStatTestName("test", "bootstrap").message(),
              ::testing::Not(HasSubstr("did you mean")));
}

TEST(StatTestsTest, RefusesTestsThatDoNotApplyAndEmptySamples) {
  ColumnPair categorical = Pair({0, 1, 1}, {0, 0, 1});
  categorical.name = "city";
  categorical.categorical = true;
  categorical.categories = {"Paris", "Oslo"};
  auto result = RunStatTest("wasserstein", categorical);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr("column 'city' is categorical and test 'wasserstein' applies to numeric "
                        "columns only; tests for categorical columns: chisquare, z, "
                        "jensenshannon, psi, kl_div, hellinger, tvd"));

  result = RunStatTest("ks", Pair({}, {1, 2}));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr("column 'x': the reference sample has no values left"));
  result = RunStatTest("ks", Pair({1, 2}, {}));
  EXPECT_THAT(result.status().message(), HasSubstr("the current sample has no values left"));

  result = RunStatTest("ks", Pair(kA, kB), std::nan(""));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("threshold nan of test 'ks' must be a finite"));
}

TEST(StatTestsTest, KsSortsUnsortedSamplesAndAppliesPAtMost) {
  auto result = RunStatTest("ks", Pair(kA, kB));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->test, "ks");
  EXPECT_NEAR(result->statistic, 0.6071428571428571, 1e-12);
  ASSERT_TRUE(result->p_value.has_value());
  EXPECT_NEAR(*result->p_value, 0.08702408702408701, 1e-12);
  EXPECT_EQ(result->method, "exact");
  EXPECT_EQ(result->rule, DriftRule::kPValueAtMost);
  EXPECT_EQ(result->score, *result->p_value);
  EXPECT_FALSE(result->drifted);
  // p <= threshold drifts: at exactly the p-value, it does.
  result = RunStatTest("ks", Pair(kA, kB), *result->p_value);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->drifted);
}

TEST(StatTestsTest, SortedFlagIsTrustedAndGivesTheSameAnswer) {
  ColumnPair sorted = Pair(kA, kB);
  std::sort(sorted.reference.begin(), sorted.reference.end());
  sorted.sorted = true;
  for (std::string_view name : {"ks", "wasserstein", "energy_dist", "mannw", "anderson",
                                "cramer_von_mises", "t_test"}) {
    auto unsorted_result = RunStatTest(name, Pair(kA, kB));
    auto sorted_result = RunStatTest(name, sorted);
    ASSERT_TRUE(unsorted_result.ok()) << unsorted_result.status();
    ASSERT_TRUE(sorted_result.ok()) << sorted_result.status();
    EXPECT_DOUBLE_EQ(unsorted_result->statistic, sorted_result->statistic) << name;
    EXPECT_EQ(unsorted_result->p_value.has_value(), sorted_result->p_value.has_value()) << name;
  }
}

TEST(StatTestsTest, NumericTestsMatchScipy) {
  // scipy 1.17.1 on kA, kB.
  auto wasserstein = RunStatTest("wasserstein", Pair(kA, kB));
  ASSERT_TRUE(wasserstein.ok()) << wasserstein.status();
  EXPECT_NEAR(wasserstein->statistic, 1.7146758104536264, 1e-12);  // / np.std(kA)
  EXPECT_FALSE(wasserstein->p_value.has_value());
  EXPECT_TRUE(wasserstein->drifted);

  auto energy = RunStatTest("ed", Pair(kA, kB));
  ASSERT_TRUE(energy.ok()) << energy.status();
  EXPECT_EQ(energy->test, "energy_dist");
  EXPECT_NEAR(energy->statistic, 1.1538809845606315, 1e-12);
  EXPECT_EQ(energy->rule, DriftRule::kDistanceAbove);

  auto mannw = RunStatTest("mannw", Pair(kA, kB));
  ASSERT_TRUE(mannw.ok()) << mannw.status();
  // mannwhitneyu(a, b, alternative="less"), exact (as Evidently; two-sided would be 0.0289).
  EXPECT_NEAR(*mannw->p_value, 0.014452214452214451, 1e-12);
  EXPECT_TRUE(mannw->drifted);

  auto student = RunStatTest("t_test", Pair(kA, kB));
  ASSERT_TRUE(student.ok()) << student.status();
  // ttest_ind(a, b) with equal_var=True as Evidently (Welch's would be 0.0208).
  EXPECT_NEAR(*student->p_value, 0.022637275668188885, 1e-10);
}

TEST(StatTestsTest, WassersteinNormAndTTestNearTheEndsOfTheDoubleRange) {
  // Both are scale-free: 1e200 · kA vs 1e200 · kB gives kA vs kB's answer. numpy's std of
  // the scaled reference overflows (Evidently would divide by inf and report 0).
  for (double factor : {1e200, 1e300, 1e-300}) {
    std::vector<double> a = kA, b = kB;
    for (double& v : a) v *= factor;
    for (double& v : b) v *= factor;
    auto wasserstein = RunStatTest("wasserstein", Pair(a, b));
    ASSERT_TRUE(wasserstein.ok()) << wasserstein.status();
    if (factor > 1) {
      EXPECT_NEAR(wasserstein->statistic, 1.7146758104536264, 1e-12) << factor;
    } else {  // Evidently's floor: the norm is max(std, 0.001)
      const double expected = 1.7146758104536264 * 0.9737367535972556 * factor / 0.001;
      EXPECT_NEAR(wasserstein->statistic, expected, 1e-12 * expected);
    }
    auto student = RunStatTest("t_test", Pair(a, b));
    ASSERT_TRUE(student.ok()) << student.status();
    EXPECT_NEAR(*student->p_value, 0.022637275668188885, 1e-10) << factor;
  }
}

}  // namespace
}  // namespace cairn::monitoring::stats
