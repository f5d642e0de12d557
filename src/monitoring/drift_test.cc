#include "monitoring/drift.h"

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/stats/stat_tests.h"
#include "monitoring/testing/frames.h"

namespace cairn::monitoring {
namespace {

using test_support::Categorical;
using test_support::Frame;
using test_support::Numeric;

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<std::string> Repeat(const std::string& label, int times) {
  return std::vector<std::string>(times, label);
}

std::vector<std::string> Concat(std::vector<std::vector<std::string>> parts) {
  std::vector<std::string> all;
  for (auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

stats::ColumnPair NumericPair(std::vector<double> reference, std::vector<double> current) {
  stats::ColumnPair pair;
  pair.name = "x";
  pair.reference = std::move(reference);
  pair.current = std::move(current);
  return pair;
}

std::vector<double> Cycle(int count, int distinct, double offset = 0) {
  std::vector<double> values;
  for (int i = 0; i < count; ++i) values.push_back(i % distinct + offset);
  return values;
}

// Evidently 0.7.23's _get_default_stattest, case by case at the boundaries.
TEST(DefaultStatTestTest, FollowsEvidentlysRuleAtEveryBoundary) {
  struct Case {
    int reference_count;
    int distinct;
    bool categorical;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {1000, 6, false, "ks"},          {1000, 5, false, "chisquare"},
      {1000, 3, false, "chisquare"},   {1000, 2, false, "z"},
      {1000, 1, false, "z"},           {1001, 6, false, "wasserstein"},
      {1001, 5, false, "jensenshannon"}, {1001, 2, false, "jensenshannon"},
      {1000, 3, true, "chisquare"},    {1000, 2, true, "z"},
      {1001, 3, true, "jensenshannon"}, {1001, 2, true, "jensenshannon"},
  };
  for (const Case& c : cases) {
    stats::ColumnPair pair = NumericPair(Cycle(c.reference_count, c.distinct), Cycle(10, 1));
    pair.categorical = c.categorical;
    EXPECT_EQ(DefaultStatTest(pair), c.expected)
        << "n=" << c.reference_count << " u=" << c.distinct << " categorical=" << c.categorical;
  }
}

TEST(DefaultStatTestTest, CountsDistinctValuesOverBothSamples) {
  // Two values in the reference, a third only in the current sample: pandas nunique of
  // the concatenation is 3, so chi-squared rather than the Z-test.
  EXPECT_EQ(DefaultStatTest(NumericPair({1, 2, 1, 2}, {3, 1})), "chisquare");
  // Five in the reference and a sixth in the current: KS.
  EXPECT_EQ(DefaultStatTest(NumericPair({1, 2, 3, 4, 5}, {6})), "ks");
  EXPECT_EQ(DefaultStatTest(NumericPair({1, 2, 3, 4, 5}, {5})), "chisquare");
}

TEST(ComputeDriftTest, SmallNumericColumnGetsKsWithScipysPValue) {
  // scipy.stats.ks_2samp: D = 0.6071428571428571, p = 0.08702408702408701 (exact).
  DataFrame reference = Frame({Numeric("x", {0.1, 0.5, 0.9, 1.3, 2.0, 2.2, 3.1})});
  DataFrame current = Frame({Numeric("x", {1.0, 1.5, 2.5, 3.0, 3.5, 4.0, 4.4, 5.0})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->columns.size(), 1u);
  const stats::TestResult& result = report->columns[0].result;
  EXPECT_EQ(result.test, "ks");
  EXPECT_NEAR(result.statistic, 0.6071428571428571, 1e-12);
  ASSERT_TRUE(result.p_value.has_value());
  EXPECT_NEAR(*result.p_value, 0.08702408702408701, 1e-12);
  EXPECT_EQ(result.threshold, 0.05);
  EXPECT_FALSE(result.drifted);
  EXPECT_FALSE(report->dataset_drift);
}

TEST(ComputeDriftTest, LargeNumericColumnGetsWassersteinNormedByReferenceStd) {
  // Reference: 0..9, 120 times each (population std sqrt(8.25)); current: shifted by 1, so
  // the Wasserstein-1 distance is exactly 1.
  DataFrame reference = Frame({Numeric("x", Cycle(1200, 10))});
  DataFrame current = Frame({Numeric("x", Cycle(1000, 10, 1.0))});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  const stats::TestResult& result = report->columns[0].result;
  EXPECT_EQ(result.test, "wasserstein");
  EXPECT_NEAR(result.statistic, 1 / std::sqrt(8.25), 1e-12);
  EXPECT_FALSE(result.p_value.has_value());
  EXPECT_TRUE(result.drifted);  // 0.348 >= 0.1
  EXPECT_TRUE(report->dataset_drift);
}

TEST(ComputeDriftTest, WassersteinNormIsFlooredAtOneThousandth) {
  // A constant reference has std 0: Evidently divides by 0.001 instead.
  stats::ColumnPair pair = NumericPair({5, 5, 5, 5}, {5, 6});
  auto result = stats::RunStatTest("wasserstein", pair);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->statistic, 0.5 / 0.001, 1e-9);
}

TEST(ComputeDriftTest, SmallCategoricalColumnGetsChiSquaredAsEvidently) {
  // evidently _chi_stat_test: p = 0.04285212686704018.
  DataFrame reference = Frame({Categorical("k", {"a", "a", "a", "a", "a", "b", "b", "b", "c", "c"})});
  DataFrame current = Frame({Categorical("k", {"c", "c", "c", "c", "c", "a", "a", "b", "b", "b"})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  const stats::TestResult& result = report->columns[0].result;
  EXPECT_EQ(result.test, "chisquare");
  ASSERT_TRUE(result.p_value.has_value());
  EXPECT_NEAR(*result.p_value, 0.04285212686704018, 1e-12);
  EXPECT_TRUE(result.drifted);
}

TEST(ComputeDriftTest, LargeCategoricalColumnGetsJensenShannonAsEvidently) {
  // evidently _jensenshannon: 0.24957156614041712.
  DataFrame reference = Frame({Categorical("k", Concat({Repeat("a", 600), Repeat("b", 500)}))});
  DataFrame current =
      Frame({Categorical("k", Concat({Repeat("c", 100), Repeat("b", 700), Repeat("a", 300)}))});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  const stats::TestResult& result = report->columns[0].result;
  EXPECT_EQ(result.test, "jensenshannon");
  EXPECT_NEAR(result.statistic, 0.24957156614041712, 1e-12);
  EXPECT_TRUE(result.drifted);
}

TEST(ComputeDriftTest, TwoValuedNumericColumnGetsZTest) {
  // evidently _z_stat_test on 30×1.0 + 20×2.0 vs 15×1.0 + 35×2.0: p = 0.002568831527022697.
  std::vector<double> reference(30, 1.0), current(15, 1.0);
  reference.insert(reference.end(), 20, 2.0);
  current.insert(current.end(), 35, 2.0);
  auto report = ComputeDrift(Frame({Numeric("x", reference)}), Frame({Numeric("x", current)}), {});
  ASSERT_TRUE(report.ok()) << report.status();
  const stats::TestResult& result = report->columns[0].result;
  EXPECT_EQ(result.test, "z");
  ASSERT_TRUE(result.p_value.has_value());
  EXPECT_NEAR(*result.p_value, 0.002568831527022697, 1e-12);
}

TEST(ComputeDriftTest, AlignsCategoryCodesOfBothFramesIntoOneCodeSpace) {
  // The same distribution with the dictionaries in opposite orders: JS distance 0.
  DataFrame reference = Frame({Categorical("k", Concat({Repeat("a", 700), Repeat("b", 400)}))});
  DataFrame current = Frame({Categorical("k", Concat({Repeat("b", 400), Repeat("a", 700)}))});
  ASSERT_EQ(current.columns[0].categories, (std::vector<std::string>{"b", "a"}));
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->columns[0].result.test, "jensenshannon");
  EXPECT_NEAR(report->columns[0].result.statistic, 0.0, 1e-12);
  EXPECT_FALSE(report->columns[0].result.drifted);
}

TEST(ComputeDriftTest, HistogramNamesCategoriesOfBothSamplesAndSkipsMissing) {
  DataFrame reference = Frame({Categorical("k", {"a", "a", "b", ""})});
  DataFrame current = Frame({Categorical("k", {"c", "b", "c", "", ""})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  const ColumnDrift& column = report->columns[0];
  EXPECT_EQ(column.reference_count, 3);
  EXPECT_EQ(column.reference_missing, 1);
  EXPECT_EQ(column.current_count, 3);
  EXPECT_EQ(column.current_missing, 2);
  std::map<std::string, std::pair<double, double>> counts;
  ASSERT_EQ(column.histogram.values.size(), column.histogram.reference.size());
  for (size_t bin = 0; bin < column.histogram.values.size(); ++bin) {
    const auto code = static_cast<size_t>(column.histogram.values[bin]);
    ASSERT_LT(code, column.categories.size());
    counts[column.categories[code]] = {column.histogram.reference[bin],
                                       column.histogram.current[bin]};
  }
  const std::map<std::string, std::pair<double, double>> expected = {
      {"a", {2, 0}}, {"b", {1, 1}}, {"c", {0, 2}}};
  EXPECT_EQ(counts, expected);

  const Json json = DriftReportToJson(*report);
  const Json& histogram = json["columns"][0]["histogram"];
  ASSERT_TRUE(histogram.contains("labels"));
  EXPECT_EQ(histogram["labels"].size(), 3u);
}

TEST(ComputeDriftTest, DropsNaNAndInfinitiesBeforeChoosingAndTesting) {
  // 1000 finite reference values plus NaN and ±inf: n is counted after cleaning (1000),
  // so KS, not Wasserstein.
  std::vector<double> reference = Cycle(1000, 50);
  reference.insert(reference.end(), {kNaN, kInf, -kInf});
  std::vector<double> current = Cycle(200, 50, 0.5);
  current.push_back(kNaN);
  auto report = ComputeDrift(Frame({Numeric("x", reference)}), Frame({Numeric("x", current)}), {});
  ASSERT_TRUE(report.ok()) << report.status();
  const ColumnDrift& column = report->columns[0];
  EXPECT_EQ(column.result.test, "ks");
  EXPECT_EQ(column.reference_count, 1000);
  EXPECT_EQ(column.reference_missing, 3);
  EXPECT_EQ(column.current_count, 200);
  EXPECT_EQ(column.current_missing, 1);
  EXPECT_EQ(report->reference_rows, 1003);
}

TEST(ComputeDriftTest, PerColumnOverridesWinOverTheGlobalTestAndThreshold) {
  DataFrame reference = Frame({Numeric("x", Cycle(1200, 10)), Numeric("y", Cycle(1200, 10))});
  DataFrame current = Frame({Numeric("x", Cycle(1000, 10, 1.0)), Numeric("y", Cycle(1000, 10))});
  DriftOptions options;
  options.test = "psi";
  options.threshold = 0.5;
  options.per_column["y"] = {.test = "ks", .threshold = std::nullopt};
  auto report = ComputeDrift(reference, current, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->columns[0].result.test, "psi");
  EXPECT_EQ(report->columns[0].result.threshold, 0.5);
  // The global threshold still applies when the override names only a test (Evidently's
  // get_threshold: per column, else for all features, else the test's default).
  EXPECT_EQ(report->columns[1].result.test, "ks");
  EXPECT_EQ(report->columns[1].result.threshold, 0.5);
  EXPECT_NEAR(*report->columns[1].result.p_value, 1.0, 1e-12);
}

TEST(ComputeDriftTest, GlobalTestAppliesToTheColumnKindsItSupports) {
  // `--test ks` on mixed data: the numeric column gets KS (with the threshold given), the
  // categorical one keeps its default test (chi-squared on a small reference) and threshold.
  DataFrame reference = Frame({Numeric("x", {0.1, 0.5, 0.9, 1.3, 2.0, 2.2, 3.1}),
                               Categorical("k", {"a", "a", "b", "b", "c", "c", "c"})});
  DataFrame current = Frame({Numeric("x", {1.0, 1.5, 2.5, 3.0, 3.5, 4.0, 4.4}),
                             Categorical("k", {"a", "b", "b", "c", "c", "c", "c"})});
  DriftOptions options;
  options.test = "ks";
  options.threshold = 0.01;
  auto report = ComputeDrift(reference, current, options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->columns.size(), 2u);
  EXPECT_EQ(report->columns[0].result.test, "ks");
  EXPECT_EQ(report->columns[0].result.threshold, 0.01);
  EXPECT_EQ(report->columns[1].result.test, "chisquare");
  EXPECT_EQ(report->columns[1].result.threshold, 0.05);
}

TEST(ComputeDriftTest, AFrameWithoutRowsIsAnError) {
  DataFrame reference = Frame({Numeric("x", {0.1, 0.5, 0.9})});
  DataFrame current = Frame({Numeric("x", {})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(),
              HasSubstr("the current data set has no rows (only a header?)"));
}

TEST(ComputeDriftTest, DatasetDriftWhenTheShareOfDriftedColumnsReachesTheThreshold) {
  // x and y drift (shifted), z and w do not: share 0.5.
  DataFrame reference = Frame({Numeric("x", Cycle(1200, 10)), Numeric("y", Cycle(1200, 10)),
                               Numeric("z", Cycle(1200, 10)), Numeric("w", Cycle(1200, 10))});
  DataFrame current =
      Frame({Numeric("x", Cycle(1000, 10, 1.0)), Numeric("y", Cycle(1000, 10, 2.0)),
             Numeric("z", Cycle(1000, 10)), Numeric("w", Cycle(1000, 10))});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->drifted_columns, 2);
  EXPECT_DOUBLE_EQ(report->drift_share, 0.5);
  EXPECT_TRUE(report->dataset_drift);

  DriftOptions stricter;
  stricter.drift_share = 0.75;
  report = ComputeDrift(reference, current, stricter);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->share_threshold, 0.75);
  EXPECT_FALSE(report->dataset_drift);
}

TEST(ComputeDriftTest, ColumnsDefaultToThoseBothFramesShareInReferenceOrder) {
  DataFrame reference = Frame({Numeric("b", {1, 2, 3}), Numeric("only_ref", {1, 2, 3}),
                               Numeric("a", {1, 2, 3})});
  DataFrame current = Frame({Numeric("a", {1, 2, 3}), Numeric("b", {1, 2, 3}),
                             Numeric("only_cur", {1, 2, 3})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->columns.size(), 2u);
  EXPECT_EQ(report->columns[0].column, "b");
  EXPECT_EQ(report->columns[1].column, "a");

  DriftOptions asked;
  asked.columns = {"a"};
  report = ComputeDrift(reference, current, asked);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->columns.size(), 1u);
  EXPECT_EQ(report->columns[0].column, "a");
}

TEST(ComputeDriftTest, ParallelColumnsGiveTheSameReportAsOneThread) {
  std::vector<FrameColumn> reference_columns, current_columns;
  for (int c = 0; c < 9; ++c) {
    const std::string name = "c" + std::to_string(c);
    reference_columns.push_back(Numeric(name, Cycle(3000 + c, 7 + c)));
    current_columns.push_back(Numeric(name, Cycle(2500, 7 + c, 0.1 * c)));
  }
  reference_columns.push_back(
      Categorical("k", Concat({Repeat("a", 700), Repeat("b", 400), Repeat("c", 10)})));
  current_columns.push_back(Categorical("k", Concat({Repeat("b", 300), Repeat("a", 700)})));
  DataFrame reference = Frame(reference_columns);
  DataFrame current = Frame(current_columns);
  DriftOptions one, four;
  one.threads = 1;
  four.threads = 4;
  auto serial = ComputeDrift(reference, current, one);
  auto parallel = ComputeDrift(reference, current, four);
  ASSERT_TRUE(serial.ok()) << serial.status();
  ASSERT_TRUE(parallel.ok()) << parallel.status();
  EXPECT_EQ(DriftReportToJson(*serial).dump(), DriftReportToJson(*parallel).dump());
}

TEST(ComputeDriftTest, JsonCarriesEveryFieldAndNullPValueForDistances) {
  DataFrame reference = Frame({Numeric("x", Cycle(1200, 10))});
  DataFrame current = Frame({Numeric("x", Cycle(1000, 10, 1.0))});
  DriftOptions options;
  options.keep_histograms = false;
  auto report = ComputeDrift(reference, current, options);
  ASSERT_TRUE(report.ok()) << report.status();
  const Json json = DriftReportToJson(*report);
  EXPECT_EQ(json["dataset_drift"], true);
  EXPECT_EQ(json["drifted_columns"], 1);
  EXPECT_EQ(json["number_of_columns"], 1);
  EXPECT_EQ(json["share_threshold"], 0.5);
  EXPECT_EQ(json["reference_rows"], 1200);
  EXPECT_EQ(json["current_rows"], 1000);
  const Json& column = json["columns"][0];
  EXPECT_EQ(column["column"], "x");
  EXPECT_EQ(column["kind"], "numeric");
  EXPECT_EQ(column["test"], "wasserstein");
  EXPECT_TRUE(column["p_value"].is_null());
  EXPECT_EQ(column["threshold"], 0.1);
  EXPECT_EQ(column["rule"], "statistic >= threshold");
  EXPECT_EQ(column["drifted"], true);
  EXPECT_EQ(column["reference_count"], 1200);
  EXPECT_EQ(column["current_missing"], 0);
  EXPECT_FALSE(column.contains("histogram"));
}

TEST(ComputeDriftTest, AColumnWithNoCurrentValuesIsDriftedAndSaysWhy) {
  // "gone" stopped arriving (all missing now); "x" still looks the same.
  DataFrame reference = Frame({Numeric("x", {1, 2, 3, 4}), Numeric("gone", {1, 2, 3, 4}),
                               Categorical("plan", {"a", "b", "a", "b"})});
  DataFrame current = Frame({Numeric("x", {1, 2, 3, 4}), Numeric("gone", {kNaN, kNaN, kInf, kNaN}),
                             Categorical("plan", {"", "", "", ""})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->drifted_columns, 2);
  EXPECT_TRUE(report->dataset_drift);  // 2 of 3 >= 0.5: the alert fires
  const Json json = DriftReportToJson(*report);
  const Json& gone = json["columns"][1];
  EXPECT_EQ(gone["column"], "gone");
  EXPECT_EQ(gone["drifted"], true);
  EXPECT_EQ(gone["reason"], "no values in the current data");
  EXPECT_EQ(gone["current_count"], 0);
  EXPECT_EQ(gone["current_missing"], 4);
  EXPECT_TRUE(gone["statistic"].is_null());
  EXPECT_EQ(gone["test"], "chisquare");  // the default test for the reference alone
  EXPECT_FALSE(gone.contains("histogram"));
  EXPECT_FALSE(gone.contains("tested"));
  EXPECT_EQ(json["columns"][2]["reason"], "no values in the current data");
  // Columns tested normally keep their JSON as before (no reason, no tested).
  EXPECT_FALSE(json["columns"][0].contains("reason"));
  EXPECT_FALSE(json.contains("untested_columns"));

  // A per-column threshold still shows.
  DriftOptions options;
  options.per_column["gone"] = {.test = "psi", .threshold = 0.3};
  auto named = ComputeDrift(reference, current, options);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->columns[1].result.test, "psi");
  EXPECT_EQ(named->columns[1].result.threshold, 0.3);
}

TEST(ComputeDriftTest, AnAllMissingColumnReadAsNumbersFacesACategoricalOneAsMissingLabels) {
  // CSV reads a column with no values as numeric; against a categorical reference it is
  // the categories that stopped arriving, not a kind mismatch.
  DataFrame reference = Frame({Categorical("city", {"Paris", "Oslo", "Paris"})});
  DataFrame current = Frame({Numeric("city", {kNaN, kNaN})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->columns[0].categorical);
  EXPECT_TRUE(report->columns[0].result.drifted);
  EXPECT_EQ(report->columns[0].reason, "no values in the current data");
  EXPECT_EQ(report->columns[0].current_missing, 2);
}

TEST(ComputeDriftTest, AColumnWithNoReferenceValuesIsReportedUntestedAndLeftOutOfTheShare) {
  DataFrame reference = Frame({Numeric("x", {1, 2, 3, 4}), Numeric("new", {kNaN, kNaN, kNaN, kNaN})});
  DataFrame current = Frame({Numeric("x", {1, 2, 3, 4}), Numeric("new", {1, 2, 3, 4})});
  auto report = ComputeDrift(reference, current, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->drifted_columns, 0);
  EXPECT_EQ(report->untested_columns, 1);
  EXPECT_EQ(report->drift_share, 0.0);
  EXPECT_FALSE(report->dataset_drift);
  const Json json = DriftReportToJson(*report);
  EXPECT_EQ(json["untested_columns"], 1);
  EXPECT_EQ(json["columns"][1]["tested"], false);
  EXPECT_EQ(json["columns"][1]["drifted"], false);
  EXPECT_EQ(json["columns"][1]["reason"], "no values in the reference data: not tested");

  // Only untested columns: no share, no drift (even at drift_share 0), no error.
  DriftOptions only;
  only.columns = {"new"};
  only.drift_share = 0;
  auto alone = ComputeDrift(reference, current, only);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_FALSE(alone->dataset_drift);
}

TEST(ComputeDriftErrorsTest, NameTheColumnAndSayWhatToDo) {
  DataFrame reference = Frame({Numeric("x", {1, 2, 3}), Numeric("empty", {kNaN, kInf}),
                               Numeric("mixed", {1, 2}), Categorical("k", {"a", "b"})});
  DataFrame current = Frame({Numeric("x", {1, 2}), Numeric("empty", {1, 2}),
                             Categorical("mixed", {"3", "abc"}), Categorical("k", {"a"})});
  const auto error = [&](const DriftOptions& options) {
    auto report = ComputeDrift(reference, current, options);
    EXPECT_FALSE(report.ok());
    EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(report.status().message());
  };
  DriftOptions options;
  options.columns = {"x", "nope"};
  EXPECT_THAT(error(options), HasSubstr("column 'nope' is not in the reference data (columns: x, "
                                        "empty, mixed, k)"));

  options.columns = {"mixed"};
  EXPECT_THAT(error(options), HasSubstr("column 'mixed' is numeric in the reference data but "
                                        "categorical in the current data"));
  EXPECT_THAT(error(options), HasSubstr("'abc'"));
  EXPECT_THAT(error(options), HasSubstr("--categorical mixed"));

  options.columns = {"k"};
  options.per_column["k"] = {.test = "ks", .threshold = std::nullopt};
  EXPECT_THAT(error(options), HasSubstr("column 'k' is categorical and test 'ks' applies to "
                                        "numeric columns only"));
  options.per_column.clear();

  options.columns = {"x"};
  options.test = "kss";
  EXPECT_THAT(error(options), HasSubstr("test: unknown drift test 'kss' (did you mean 'ks'?)"));

  options.test = std::nullopt;
  options.per_column["y"] = {.test = "ks", .threshold = std::nullopt};
  EXPECT_THAT(error(options), HasSubstr("per_column: column 'y' is not among the columns compared"));

  options.per_column.clear();
  options.drift_share = 1.5;
  EXPECT_THAT(error(options), HasSubstr("drift_share 1.5 must be a share of columns"));

  options.drift_share = 0.5;
  options.test = "ks";
  options.threshold = -1;
  EXPECT_THAT(error(options), HasSubstr("column 'x': threshold -1 of test 'ks'"));
}

}  // namespace
}  // namespace cairn::monitoring
