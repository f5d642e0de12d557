#include "monitoring/stats/rank_tests.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace cairn::monitoring::stats {
namespace {

// Expected values come from scipy 1.17.1 (python3, numpy 2.4.6), printed with repr(); the
// call that produced each is in the comment above it. Relative tolerance 1e-12 unless said.
constexpr double kRel = 1e-12;

void ExpectRel(double got, double want, double rel = kRel) {
  EXPECT_NEAR(got, want, std::fabs(want) * rel) << "got " << got << " want " << want;
}

const std::vector<double> kA = {0.1, 0.5, 1.2, 1.9, 2.4, 3.3, 4.0, 5.1};
const std::vector<double> kB = {1.0, 2.2, 2.9, 3.1, 4.4, 5.5, 6.0, 7.2, 8.1};
// Integer data with ties within and between the samples.
const std::vector<double> kTiesA = {1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5, 5};
const std::vector<double> kTiesB = {2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 7, 8};

std::vector<double> Range(int from, int to, double offset = 0, double step = 1) {
  std::vector<double> values;
  for (int i = from; i < to; ++i) values.push_back(offset + step * i);
  return values;
}

std::vector<double> SortedNormal(std::size_t n, double mean, double sd, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, sd);
  std::vector<double> values(n);
  for (double& v : values) v = dist(rng);
  std::sort(values.begin(), values.end());
  return values;
}

// --- Anderson–Darling -----------------------------------------------------------------------

TEST(AndersonDarlingTest, MatchesScipyWithoutTies) {
  // anderson_ksamp([kA, kB]) → statistic 1.4731196773516708, [2] 0.08017710158551032
  const StatisticAndP r = AndersonDarling(kA, kB);
  ExpectRel(r.statistic, 1.4731196773516708);
  ExpectRel(r.p_value, 0.08017710158551032);
  EXPECT_FALSE(r.exact);
}

TEST(AndersonDarlingTest, MatchesScipyMidrankWithTies) {
  // anderson_ksamp([kTiesA, kTiesB]) → 3.9511652749435164, 0.00841838941740671
  const StatisticAndP r = AndersonDarling(kTiesA, kTiesB);
  ExpectRel(r.statistic, 3.9511652749435164);
  ExpectRel(r.p_value, 0.00841838941740671);
}

TEST(AndersonDarlingTest, SmallestDefinedSample) {
  // anderson_ksamp([[1., 2.], [3., 4.]]) → 1.5427784316797186, 0.07502559142197442
  const StatisticAndP r = AndersonDarling(std::vector<double>{1, 2}, std::vector<double>{3, 4});
  ExpectRel(r.statistic, 1.5427784316797186);
  ExpectRel(r.p_value, 0.07502559142197442);
}

TEST(AndersonDarlingTest, PValueFlooredAndCappedAsScipy) {
  // anderson_ksamp([range(20), range(100, 120)]) → 20.043912434676297, 0.001 (floored)
  const StatisticAndP far = AndersonDarling(Range(0, 20), Range(100, 120));
  ExpectRel(far.statistic, 20.043912434676297);
  EXPECT_EQ(far.p_value, 0.001);
  // anderson_ksamp([range(10), [x + 0.5 for x in range(10)]]) → -1.1820361279065328, 0.25
  const StatisticAndP near = AndersonDarling(Range(0, 10), Range(0, 10, 0.5));
  ExpectRel(near.statistic, -1.1820361279065328);
  EXPECT_EQ(near.p_value, 0.25);
  // anderson_ksamp([[1., 1.], [1., 2.]]) → 0.0, 0.25
  const StatisticAndP zero = AndersonDarling(std::vector<double>{1, 1}, std::vector<double>{1, 2});
  EXPECT_NEAR(zero.statistic, 0.0, 1e-15);
  EXPECT_EQ(zero.p_value, 0.25);
}

TEST(AndersonDarlingTest, UndefinedCasesAreNaN) {
  // scipy: NaN for N = 3 ([1, 2], [3]); IndexError for N = 2; ValueError for one distinct
  // value.
  EXPECT_TRUE(std::isnan(AndersonDarling(std::vector<double>{1, 2}, std::vector<double>{3})
                             .p_value));
  EXPECT_TRUE(
      std::isnan(AndersonDarling(std::vector<double>{1}, std::vector<double>{2}).statistic));
  const StatisticAndP same =
      AndersonDarling(std::vector<double>{4, 4, 4}, std::vector<double>{4, 4});
  EXPECT_TRUE(std::isnan(same.statistic));
  EXPECT_TRUE(std::isnan(same.p_value));
}

TEST(AndersonDarlingTest, SymmetricInTheSamplesAndDetectsAShift) {
  const std::vector<double> a = SortedNormal(5000, 0, 1, 1);
  const std::vector<double> b = SortedNormal(3000, 0, 1, 2);
  const std::vector<double> shifted = SortedNormal(3000, 0.3, 1, 3);
  const StatisticAndP ab = AndersonDarling(a, b);
  const StatisticAndP ba = AndersonDarling(b, a);
  ExpectRel(ab.statistic, ba.statistic, 1e-12);
  EXPECT_EQ(ab.p_value, ba.p_value);
  EXPECT_GE(ab.p_value, 0.001);
  EXPECT_LE(ab.p_value, 0.25);
  EXPECT_EQ(AndersonDarling(a, shifted).p_value, 0.001);
}

// --- Mann–Whitney U -------------------------------------------------------------------------

TEST(MannWhitneyUTest, ExactMatchesScipyDocumentationExample) {
  // scipy.stats.mannwhitneyu docs: males vs females → U 17.0, two-sided p 0.1111111111111111
  // (method "exact" under "auto"); alternative="less" 0.9682539682539683, "greater"
  // 0.05555555555555555.
  std::vector<double> males = {19, 22, 16, 29, 24};
  std::vector<double> females = {20, 11, 17, 12};
  std::sort(males.begin(), males.end());
  std::sort(females.begin(), females.end());
  const StatisticAndP two = MannWhitneyU(males, females);
  EXPECT_EQ(two.statistic, 17.0);
  ExpectRel(two.p_value, 0.1111111111111111);
  EXPECT_TRUE(two.exact);
  ExpectRel(MannWhitneyU(males, females, Alternative::kLess).p_value, 0.9682539682539683);
  ExpectRel(MannWhitneyU(males, females, Alternative::kGreater).p_value, 0.05555555555555555);
}

TEST(MannWhitneyUTest, ExactWhenOnlyOneSampleIsSmall) {
  // x = [0.25, 1.55, 2.75], y = [i / 10 for i in range(200)]: mannwhitneyu(x, y) → U 47.0,
  // p 0.00520054946454869; "less" 0.002600274732274345; "greater" 0.9975511410416096.
  const std::vector<double> x = {0.25, 1.55, 2.75};
  std::vector<double> y_scipy;  // i / 10 exactly as Python computes it
  for (int i = 0; i < 200; ++i) y_scipy.push_back(i / 10.0);
  const StatisticAndP two = MannWhitneyU(x, y_scipy);
  EXPECT_EQ(two.statistic, 47.0);
  EXPECT_TRUE(two.exact);
  ExpectRel(two.p_value, 0.00520054946454869);
  ExpectRel(MannWhitneyU(x, y_scipy, Alternative::kLess).p_value, 0.002600274732274345);
  ExpectRel(MannWhitneyU(x, y_scipy, Alternative::kGreater).p_value, 0.9975511410416096);
  // mannwhitneyu(y, x) → U 553.0, same two-sided p; "less" 0.9975511410416096.
  const StatisticAndP swapped = MannWhitneyU(y_scipy, x);
  EXPECT_EQ(swapped.statistic, 553.0);
  ExpectRel(swapped.p_value, 0.00520054946454869);
  ExpectRel(MannWhitneyU(y_scipy, x, Alternative::kLess).p_value, 0.9975511410416096);
  // x8 = [0.05 + 0.37 * i for i in range(8)]: mannwhitneyu(x8, y) → 112.0, 1.326767287851486e-06
  std::vector<double> x8;
  for (int i = 0; i < 8; ++i) x8.push_back(0.05 + 0.37 * i);
  const StatisticAndP eight = MannWhitneyU(x8, y_scipy);
  EXPECT_EQ(eight.statistic, 112.0);
  EXPECT_TRUE(eight.exact);
  ExpectRel(eight.p_value, 1.326767287851486e-06, 1e-10);
}

TEST(MannWhitneyUTest, VeryLargeExactCaseFallsBackToTheNormalApproximation) {
  // 3 × 3M / 2 coefficients ≥ 2²²: normal approximation (our documented bound). x =
  // [0.2500005, 1.5500005, 2.7500005], y = np.arange(3_000_000) / 1e6:
  // mannwhitneyu(x, y, method="asymptotic") → 4550003.0, 0.9734074610186159; "less"
  // 0.5132965353043022.
  const std::vector<double> x = {0.2500005, 1.5500005, 2.7500005};
  std::vector<double> y(3000000);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i) / 1e6;
  const StatisticAndP two = MannWhitneyU(x, y);
  EXPECT_FALSE(two.exact);
  EXPECT_EQ(two.statistic, 4550003.0);
  ExpectRel(two.p_value, 0.9734074610186159);
  ExpectRel(MannWhitneyU(x, y, Alternative::kLess).p_value, 0.5132965353043022);
}

TEST(MannWhitneyUTest, AsymptoticWithTiesMatchesScipy) {
  // mannwhitneyu(kTiesA, kTiesB) → U 38.0, p 0.01782668337036784; "less"
  // 0.00891334168518392; "greater" 0.9922667817718491.
  const StatisticAndP two = MannWhitneyU(kTiesA, kTiesB);
  EXPECT_EQ(two.statistic, 38.0);
  EXPECT_FALSE(two.exact);
  ExpectRel(two.p_value, 0.01782668337036784);
  ExpectRel(MannWhitneyU(kTiesA, kTiesB, Alternative::kLess).p_value, 0.00891334168518392);
  ExpectRel(MannWhitneyU(kTiesA, kTiesB, Alternative::kGreater).p_value, 0.9922667817718491);
}

TEST(MannWhitneyUTest, AsymptoticWithoutTiesWhenBothSamplesAreLarger) {
  // mannwhitneyu(range(10), [x + 0.5 for x in range(10)]) → 45.0, 0.7337299956962472
  const StatisticAndP r = MannWhitneyU(Range(0, 10), Range(0, 10, 0.5));
  EXPECT_EQ(r.statistic, 45.0);
  EXPECT_FALSE(r.exact);
  ExpectRel(r.p_value, 0.7337299956962472);
  // mannwhitneyu(kA, kB) → 17.0, 0.07445495680789799 (n = 8 ≤ 8: exact)
  const StatisticAndP small = MannWhitneyU(kA, kB);
  EXPECT_EQ(small.statistic, 17.0);
  EXPECT_TRUE(small.exact);
  ExpectRel(small.p_value, 0.07445495680789799);
}

TEST(MannWhitneyUTest, AllValuesTiedGivesPOne) {
  // mannwhitneyu([1., 1.], [1., 1., 1.]) → statistic 3.0, pvalue 1.0
  const StatisticAndP r = MannWhitneyU(std::vector<double>{1, 1}, std::vector<double>{1, 1, 1});
  EXPECT_EQ(r.statistic, 3.0);
  EXPECT_EQ(r.p_value, 1.0);
}

TEST(MannWhitneyUTest, OneSidedPValuesMirrorAndCombine) {
  for (const auto& [n, m] : std::vector<std::pair<int, int>>{{6, 7}, {40, 55}, {3, 500}}) {
    const std::vector<double> a = SortedNormal(n, 0.2, 1, 10 + n);
    const std::vector<double> b = SortedNormal(m, 0, 1, 20 + m);
    const StatisticAndP ab = MannWhitneyU(a, b);
    const StatisticAndP ba = MannWhitneyU(b, a);
    EXPECT_DOUBLE_EQ(ab.statistic + ba.statistic, static_cast<double>(n) * m);
    ExpectRel(ab.p_value, ba.p_value, 1e-12);
    const double less = MannWhitneyU(a, b, Alternative::kLess).p_value;
    const double greater = MannWhitneyU(a, b, Alternative::kGreater).p_value;
    ExpectRel(MannWhitneyU(b, a, Alternative::kGreater).p_value, less, 1e-12);
    ExpectRel(std::min(1.0, 2 * std::min(less, greater)), ab.p_value, 1e-12);
  }
}

// --- t-tests --------------------------------------------------------------------------------

TEST(TTestTest, WelchMatchesScipy) {
  // ttest_ind(kA, kB, equal_var=False) → -2.1642257402075455, 0.04758166612199768
  // (df 14.501330773084167)
  const StatisticAndP r = WelchTTest(kA, kB);
  ExpectRel(r.statistic, -2.1642257402075455);
  ExpectRel(r.p_value, 0.04758166612199768);
  // ttest_ind(kTiesA, kTiesB, equal_var=False) → -2.8538609916045274, 0.008761056175028037
  const StatisticAndP ties = WelchTTest(kTiesA, kTiesB);
  ExpectRel(ties.statistic, -2.8538609916045274);
  ExpectRel(ties.p_value, 0.008761056175028037);
}

TEST(TTestTest, StudentMatchesScipy) {
  // ttest_ind(kA, kB) → -2.1231145817162806, 0.05079351900752874 (df 15)
  const StatisticAndP r = StudentTTest(kA, kB);
  ExpectRel(r.statistic, -2.1231145817162806);
  ExpectRel(r.p_value, 0.05079351900752874);
  // ttest_ind(kTiesA, kTiesB) → -2.823102071390103, 0.009409725764110788
  const StatisticAndP ties = StudentTTest(kTiesA, kTiesB);
  ExpectRel(ties.statistic, -2.823102071390103);
  ExpectRel(ties.p_value, 0.009409725764110788);
  // ttest_ind([1.], [2., 3.]) → -1.7320508075688774, 0.33333333333333337
  const StatisticAndP single = StudentTTest(std::vector<double>{1}, std::vector<double>{2, 3});
  ExpectRel(single.statistic, -1.7320508075688774);
  ExpectRel(single.p_value, 0.33333333333333337);
}

TEST(TTestTest, DegenerateSamplesAsScipy) {
  const std::vector<double> one = {1};
  const std::vector<double> two = {2, 3};
  const std::vector<double> ones = {1, 1};
  const std::vector<double> twos = {2, 2, 2};
  const std::vector<double> more_ones = {1, 1, 1};
  // ttest_ind([1.], [2., 3.], equal_var=False) → nan, nan
  EXPECT_TRUE(std::isnan(WelchTTest(one, two).statistic));
  EXPECT_TRUE(std::isnan(WelchTTest(one, two).p_value));
  // ttest_ind([1., 1.], [2., 2., 2.]) (either variant) → -inf, 0.0
  for (const StatisticAndP& r : {WelchTTest(ones, twos), StudentTTest(ones, twos)}) {
    EXPECT_TRUE(std::isinf(r.statistic) && r.statistic < 0);
    EXPECT_EQ(r.p_value, 0.0);
  }
  // ttest_ind([1., 1.], [1., 1., 1.]) (either variant) → nan, nan
  EXPECT_TRUE(std::isnan(WelchTTest(ones, more_ones).p_value));
  EXPECT_TRUE(std::isnan(StudentTTest(ones, more_ones).p_value));
  // ttest_ind([1.], [2.]) → nan (df 0)
  EXPECT_TRUE(std::isnan(StudentTTest(one, std::vector<double>{2}).p_value));
}

TEST(TTestTest, EqualSizesGiveTheSameStatisticAndLargeOffsetsKeepDigits) {
  const std::vector<double> a = SortedNormal(500, 0, 1, 5);
  const std::vector<double> b = SortedNormal(500, 0.1, 2, 6);
  ExpectRel(WelchTTest(a, b).statistic, StudentTTest(a, b).statistic, 1e-12);
  // Adding 1e9 to both samples leaves t unchanged up to the rounding of the shifted data.
  std::vector<double> a_far = a;
  std::vector<double> b_far = b;
  for (double& v : a_far) v += 1e9;
  for (double& v : b_far) v += 1e9;
  ExpectRel(WelchTTest(a_far, b_far).statistic, WelchTTest(a, b).statistic, 1e-5);
}

// --- energy distance and Wasserstein ---------------------------------------------------------

TEST(DistanceTest, MatchesScipy) {
  // energy_distance(kA, kB) → 1.1588195089490805; wasserstein_distance(kA, kB) →
  // 2.176388888888889
  ExpectRel(EnergyDistance(kA, kB), 1.1588195089490805);
  ExpectRel(Wasserstein(kA, kB), 2.176388888888889);
  // energy_distance(kTiesA, kTiesB) → 1.1047721674400173; wasserstein → 1.9047619047619049
  ExpectRel(EnergyDistance(kTiesA, kTiesB), 1.1047721674400173);
  ExpectRel(Wasserstein(kTiesA, kTiesB), 1.9047619047619049);
  // scipy docs: wasserstein_distance([0, 1, 3], [5, 6, 8]) → 5.0;
  // wasserstein_distance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4]) → 2.7 (printed);
  // energy_distance([0], [2]) → 2.0000000000000004; energy_distance([0.7, 7.4, 2.4, 6.8],
  // [1.4, 8.]) → 0.7664854858377946
  ExpectRel(Wasserstein(std::vector<double>{0, 1, 3}, std::vector<double>{5, 6, 8}), 5.0);
  ExpectRel(Wasserstein(std::vector<double>{3.4, 3.9, 7.5, 7.8}, std::vector<double>{1.4, 4.5}),
            2.7);
  ExpectRel(EnergyDistance(std::vector<double>{0}, std::vector<double>{2}), 2.0000000000000004);
  ExpectRel(EnergyDistance(std::vector<double>{0.7, 2.4, 6.8, 7.4}, std::vector<double>{1.4, 8}),
            0.7664854858377946);
}

TEST(DistanceTest, IdenticalSamplesAreAtDistanceZeroAndOrderDoesNotMatter) {
  const std::vector<double> a = SortedNormal(1000, 0, 1, 7);
  const std::vector<double> b = SortedNormal(700, 1, 3, 8);
  EXPECT_EQ(Wasserstein(a, a), 0.0);
  EXPECT_EQ(EnergyDistance(a, a), 0.0);
  ExpectRel(Wasserstein(a, b), Wasserstein(b, a), 1e-13);
  ExpectRel(EnergyDistance(a, b), EnergyDistance(b, a), 1e-13);
}

TEST(DistanceTest, ShiftOfALargeSampleIsTheWassersteinDistance) {
  // W(X, X + c) = |c|; for two point masses the energy distance is sqrt(2|c|).
  const std::vector<double> a = SortedNormal(200000, 0, 1, 9);
  std::vector<double> b = a;
  for (double& v : b) v += 0.25;
  ExpectRel(Wasserstein(a, b), 0.25, 1e-9);
  ExpectRel(Wasserstein(b, a), 0.25, 1e-9);
  ExpectRel(EnergyDistance(std::vector<double>{1}, std::vector<double>{1.5}), 1.0, 1e-15);
  // Scaling both samples scales Wasserstein linearly and energy distance by its square root.
  const std::vector<double> c = SortedNormal(3000, 0.5, 2, 10);
  std::vector<double> a10 = a;
  std::vector<double> c10 = c;
  for (double& v : a10) v *= 10;
  for (double& v : c10) v *= 10;
  ExpectRel(Wasserstein(a10, c10), 10 * Wasserstein(a, c), 1e-12);
  ExpectRel(EnergyDistance(a10, c10), std::sqrt(10.0) * EnergyDistance(a, c), 1e-12);
}

std::vector<double> Scaled(std::vector<double> values, double factor) {
  for (double& v : values) v *= factor;
  return values;
}

TEST(TTestTest, SamplesNearTheEndsOfTheDoubleRangeGiveTheUnscaledAnswer) {
  // t does not depend on a common scale of both samples; scipy's variance of 1e200-sized
  // values overflows (t = 0, p = 1), Cairn's is scaled first (stats/scaling.h).
  const StatisticAndP welch = WelchTTest(kA, kB);
  const StatisticAndP student = StudentTTest(kA, kB);
  for (double factor : {0x1p700, 1e200, 1e300, -1e300, 1e-300}) {
    const std::vector<double> a = Scaled(kA, factor);
    const std::vector<double> b = Scaled(kB, factor);
    const double sign = factor < 0 ? -1 : 1;
    ExpectRel(WelchTTest(a, b).statistic, sign * welch.statistic, 1e-13);
    ExpectRel(WelchTTest(a, b).p_value, welch.p_value, 1e-12);
    ExpectRel(StudentTTest(a, b).statistic, sign * student.statistic, 1e-13);
    ExpectRel(StudentTTest(a, b).p_value, student.p_value, 1e-12);
  }
}

TEST(DistanceTest, PooledRangeWiderThanTheDoubles) {
  // −1.5e308 … 1.5e308: the widths between pooled values are measured in halves.
  const std::vector<double> a = {-1.5e308, 0.0};
  const std::vector<double> b = {0.0, 1.5e308};
  // ∫|F_a − F_b| = 0.5 · 1.5e308 + 0.5 · 1.5e308; energy = sqrt(2 · 0.25 · 3e308).
  ExpectRel(Wasserstein(a, b), 1.5e308, 1e-15);
  ExpectRel(EnergyDistance(a, b), std::sqrt(1.5e308), 1e-15);
  const std::vector<double> c = SortedNormal(2000, 0.0, 1.0, 3);
  const std::vector<double> d = SortedNormal(2500, 0.7, 1.5, 4);
  ExpectRel(Wasserstein(Scaled(c, 1e307), Scaled(d, 1e307)), 1e307 * Wasserstein(c, d), 1e-12);
  ExpectRel(EnergyDistance(Scaled(c, 1e307), Scaled(d, 1e307)),
            std::sqrt(1e307) * EnergyDistance(c, d), 1e-12);
}

}  // namespace
}  // namespace cairn::monitoring::stats
