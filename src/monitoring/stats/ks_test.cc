#include "monitoring/stats/ks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "monitoring/stats/kolmogorov.h"

namespace cairn::monitoring::stats {
namespace {

// Expected values come from scipy 1.17.1 (numpy 2.4). The samples are rational numbers
// that numpy and C++ spell identically: Seq(n, mul, mod, scale, off) is
//   np.sort([((i * mul) % mod) / scale + off for i in range(n)]).
std::vector<double> Seq(int n, int64_t mul, int64_t mod, double scale, double off = 0.0) {
  std::vector<double> values;
  values.reserve(n);
  for (int64_t i = 0; i < n; ++i) values.push_back(static_cast<double>((i * mul) % mod) / scale + off);
  std::sort(values.begin(), values.end());
  return values;
}

// |actual − expected| <= 1e-12·|expected| (and exact zeros compare exactly).
MATCHER_P(Near, expected, "") {
  if (expected == 0) return arg == 0;
  return std::abs(arg - expected) <= 1e-12 * std::abs(expected);
}

// --- Kolmogorov–Smirnov against scipy.stats.ks_2samp(a, b) (method="auto") -------------

TEST(KolmogorovSmirnov, ExactUnequalSizesMatchScipy) {
  // ks_2samp(Seq(60, 37, 101, 10), Seq(45, 53, 97, 10, 1.5))
  StatisticAndP r = KolmogorovSmirnov(Seq(60, 37, 101, 10.0), Seq(45, 53, 97, 10.0, 1.5));
  EXPECT_DOUBLE_EQ(r.statistic, 0.15);
  EXPECT_THAT(r.p_value, Near(0.5658078840059115));
  EXPECT_TRUE(r.exact);
}

TEST(KolmogorovSmirnov, ExactEqualSizesMatchScipy) {
  // ks_2samp(Seq(40, 7, 50, 1), Seq(40, 11, 53, 1, 3.0))
  StatisticAndP r = KolmogorovSmirnov(Seq(40, 7, 50, 1.0), Seq(40, 11, 53, 1.0, 3.0));
  EXPECT_DOUBLE_EQ(r.statistic, 0.125);
  EXPECT_THAT(r.p_value, Near(0.9188052214121167));
  EXPECT_TRUE(r.exact);
}

TEST(KolmogorovSmirnov, ExactAtTheLargestExactSizesMatchesScipy) {
  // ks_2samp(Seq(10000, 7919, 10007, 100), Seq(9999, 104729, 10009, 100, 0.5))
  StatisticAndP r =
      KolmogorovSmirnov(Seq(10000, 7919, 10007, 100.0), Seq(9999, 104729, 10009, 100.0, 0.5));
  EXPECT_DOUBLE_EQ(r.statistic, 0.005317141714171417);
  EXPECT_THAT(r.p_value, Near(0.9987520610259356));
  EXPECT_TRUE(r.exact);
}

TEST(KolmogorovSmirnov, AsymptoticAboveTenThousandMatchesScipy) {
  // ks_2samp(Seq(12000, 7919, 10007, 100), Seq(11000, 104729, 10009, 100, 2.0)):
  // kstwo.sf(D, round(12000·11000/23000) = 5739).
  StatisticAndP r =
      KolmogorovSmirnov(Seq(12000, 7919, 10007, 100.0), Seq(11000, 104729, 10009, 100.0, 2.0));
  EXPECT_DOUBLE_EQ(r.statistic, 0.020545454545454533);
  EXPECT_THAT(r.p_value, Near(0.015516329144596476));
  EXPECT_FALSE(r.exact);
}

TEST(KolmogorovSmirnov, TiesCountAtTheirValue) {
  // ks_2samp(Seq(300, 1, 7, 1), Seq(250, 3, 7, 1)): seven distinct values, many ties.
  StatisticAndP r = KolmogorovSmirnov(Seq(300, 1, 7, 1.0), Seq(250, 3, 7, 1.0));
  EXPECT_DOUBLE_EQ(r.statistic, 0.004666666666666667);
  EXPECT_EQ(r.p_value, 1.0);
  EXPECT_TRUE(r.exact);
}

TEST(KolmogorovSmirnov, ExactValueRoundedAboveOneFallsBackToTheAsymptoticTailAsScipyDoes) {
  // ks_2samp([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 4.5, 5.5]): the exact sum for D = 1/5 comes
  // out a hair above 1, so scipy warns and answers kstwo.sf(0.2, round(2.5) = 2) = 1.
  StatisticAndP r = KolmogorovSmirnov(std::vector<double>{1, 2, 3, 4, 5},
                                      std::vector<double>{1.5, 2.5, 3.5, 4.5, 5.5});
  EXPECT_DOUBLE_EQ(r.statistic, 0.2);
  EXPECT_EQ(r.p_value, 1.0);
  EXPECT_FALSE(r.exact);
}

TEST(KolmogorovSmirnov, IdenticalSamplesHaveNoDistance) {
  for (int n : {1, 2, 17, 500, 10000, 20000}) {
    std::vector<double> a = Seq(n, 31, 97, 3.0);
    StatisticAndP r = KolmogorovSmirnov(a, a);
    EXPECT_EQ(r.statistic, 0.0) << n;
    EXPECT_EQ(r.p_value, 1.0) << n;
  }
}

TEST(KolmogorovSmirnov, DisjointSamplesAreAtDistanceOne) {
  // ks_2samp(arange(7), arange(5) + 10): p = 2 / C(12, 5) exactly.
  StatisticAndP small = KolmogorovSmirnov(Seq(7, 1, 7, 1.0), Seq(5, 1, 5, 1.0, 10.0));
  EXPECT_EQ(small.statistic, 1.0);
  EXPECT_THAT(small.p_value, Near(0.0025252525252525255));
  EXPECT_TRUE(small.exact);
  // Either order, and past the exact limit (ks_2samp(arange(20000), [1e9]) → p = 0).
  StatisticAndP reversed = KolmogorovSmirnov(Seq(5, 1, 5, 1.0, 10.0), Seq(7, 1, 7, 1.0));
  EXPECT_EQ(reversed.statistic, 1.0);
  EXPECT_EQ(reversed.p_value, small.p_value);
  StatisticAndP large = KolmogorovSmirnov(Seq(20000, 1, 20000, 1.0), std::vector<double>{1e9});
  EXPECT_EQ(large.statistic, 1.0);
  EXPECT_EQ(large.p_value, 0.0);
  // One value each: D = 1 is certain under the null (scipy: p = 1).
  StatisticAndP single = KolmogorovSmirnov(std::vector<double>{1}, std::vector<double>{2});
  EXPECT_EQ(single.statistic, 1.0);
  EXPECT_EQ(single.p_value, 1.0);
}

TEST(KolmogorovSmirnov, FarApartLargeSamplesAreZeroWithoutTheBandRecursion) {
  // ks_2samp(Seq(10000, 7919, 10007, 100), Seq(9999, 104729, 10009, 100, 90.0)): D ≈ 0.9,
  // p = 0.0 (exact), which scipy spends seconds on.
  StatisticAndP r =
      KolmogorovSmirnov(Seq(10000, 7919, 10007, 100.0), Seq(9999, 104729, 10009, 100.0, 90.0));
  EXPECT_DOUBLE_EQ(r.statistic, 0.899491799179918);
  EXPECT_EQ(r.p_value, 0.0);
  EXPECT_TRUE(r.exact);
}

TEST(KolmogorovSmirnov, IsSymmetric) {
  std::vector<double> a = Seq(700, 37, 101, 10.0);
  std::vector<double> b = Seq(333, 53, 97, 10.0, 0.7);
  StatisticAndP ab = KolmogorovSmirnov(a, b);
  StatisticAndP ba = KolmogorovSmirnov(b, a);
  EXPECT_EQ(ab.statistic, ba.statistic);
  EXPECT_EQ(ab.p_value, ba.p_value);
}

TEST(KolmogorovSmirnov, MillionValueSamples) {
  // Two shifted uniform grids of a million values (D = 0.001 in real numbers);
  // scipy: ks_2samp(arange(1e6) / 1e6, arange(1e6) / 1e6 + 0.001) → p = kstwo.sf(D, 500000).
  std::vector<double> a(1000000);
  std::vector<double> b(1000000);
  for (int i = 0; i < 1000000; ++i) {
    a[i] = i / 1e6;
    b[i] = i / 1e6 + 0.001;
  }
  StatisticAndP r = KolmogorovSmirnov(a, b);
  EXPECT_EQ(r.statistic, 0.0010010000000000002);  // i/n − j/n in doubles, as scipy
  EXPECT_EQ(r.p_value, KolmogorovTwoSidedSf(500000, r.statistic));
  EXPECT_THAT(r.p_value, Near(0.6977968256813429));
  EXPECT_FALSE(r.exact);
}

TEST(KolmogorovSmirnov, EmptySampleHasNoAnswer) {
  StatisticAndP r = KolmogorovSmirnov(std::vector<double>{}, std::vector<double>{1.0});
  EXPECT_TRUE(std::isnan(r.statistic));
  EXPECT_TRUE(std::isnan(r.p_value));
}

// --- The distributions against scipy.stats.kstwo.sf(d, n) and scipy.special.smirnov -----

TEST(KolmogorovTwoSidedSf, EveryBranchMatchesScipy) {
  struct Case {
    int64_t n;
    double d;
    double sf;  // kstwo.sf(d, n)
  };
  const Case cases[] = {
      {10, 0.04, 1.0},                        // d below 1/(2n)
      {5, 0.19, 0.977325184},                 // Ruben–Gambino, n·d <= 1
      {300, 0.0033, 1.0},                     // the same with Stirling's n!/n^n
      {5, 0.85, 0.0001518750000000001},       // Ruben–Gambino, n·d >= n − 1
      {50, 0.6, 9.634070456142374e-18},       // d >= 1/2: twice the one-sided tail
      {100, 0.995, 1.5777218104421636e-230},  // (ditto, deep in the tail)
      {100, 0.05, 0.9532159710635725},        // n <= 140: Durbin
      {100, 0.15, 0.019839242125641813},      // n <= 140: Pomeranz
      {100, 0.3, 1.7719869892662917e-08},     // n <= 140: 2·smirnov
      {150, 0.04, 0.9622260690500474},        // n > 140, small d: Durbin
      {1000, 0.02, 0.8108971656895577},       // Pelz–Good
      {100000, 0.001, 0.9999638407940036},    // Pelz–Good
      {500000, 0.001, 0.698980144366366},     // Pelz–Good beyond n = 100000
      {1000, 0.2, 1.5528629204250538e-35},    // n·d² >= 2.2: 2·smirnov
      {500000, 0.003, 0.00024632301239186754},
      {500000, 0.03, 0.0},  // n·d² >= 370
      {1000, 0.7, 0.0},
      {1000, 1.0, 0.0},
  };
  for (const Case& c : cases) {
    const double tolerance = c.n <= 140 && c.d > 0.1 && c.d < 0.5 ? 1e-11 : 1e-12;
    const double sf = KolmogorovTwoSidedSf(c.n, c.d);
    if (c.sf == 0) {
      EXPECT_EQ(sf, 0.0) << c.n << " " << c.d;
    } else {
      EXPECT_NEAR(sf, c.sf, tolerance * c.sf) << c.n << " " << c.d;
    }
  }
  EXPECT_TRUE(std::isnan(KolmogorovTwoSidedSf(0, 0.5)));
}

TEST(SmirnovSf, MatchesScipy) {
  EXPECT_THAT(SmirnovSf(1, 0.3), Near(0.7));                                  // smirnov(1, .3)
  EXPECT_THAT(SmirnovSf(5, 0.1), Near(0.85359));                              // d <= 1/n
  EXPECT_THAT(SmirnovSf(20, 0.02), Near(0.970863776549444));
  EXPECT_THAT(SmirnovSf(100, 0.05), Near(0.5871453380805337));                // lower sum
  EXPECT_THAT(SmirnovSf(100, 0.3), Near(8.859934946331458e-09));
  EXPECT_THAT(SmirnovSf(1000, 0.01), Near(0.8133237754763678));
  EXPECT_THAT(SmirnovSf(2000000, 0.001), Near(0.018303432023617325));        // asymptotic
  // Subnormal tails survive until exp(−2nd²) would fall below 2^−1075 (cephes' MINLOG).
  EXPECT_THAT(SmirnovSf(1202673, 0.01724587931125215), Near(2.00092523266e-311));
  EXPECT_EQ(SmirnovSf(1000, 0.85), 0.0);
  EXPECT_EQ(SmirnovSf(10, 0.0), 1.0);
  EXPECT_EQ(SmirnovSf(10, 1.0), 0.0);
  EXPECT_TRUE(std::isnan(SmirnovSf(10, 1.5)));
}

// --- Cramér–von Mises against scipy.stats.cramervonmises_2samp(a, b) (method="auto") ---

TEST(CramerVonMises, ExactForSmallSamplesMatchesScipy) {
  // cramervonmises_2samp(Seq(9, 5, 17, 4), Seq(12, 7, 19, 4, 0.75))
  StatisticAndP r = CramerVonMises(Seq(9, 5, 17, 4.0), Seq(12, 7, 19, 4.0, 0.75));
  EXPECT_THAT(r.statistic, Near(0.2767857142857144));
  EXPECT_THAT(r.p_value, Near(0.16850610689619977));
  EXPECT_TRUE(r.exact);
}

TEST(CramerVonMises, ExactWithTiesUsesMidranks) {
  // cramervonmises_2samp(Seq(20, 3, 6, 1), Seq(15, 5, 7, 1))
  StatisticAndP r = CramerVonMises(Seq(20, 3, 6, 1.0), Seq(15, 5, 7, 1.0));
  EXPECT_THAT(r.statistic, Near(0.6238095238095234));
  EXPECT_THAT(r.p_value, Near(0.01925928962377531));
  EXPECT_TRUE(r.exact);
}

TEST(CramerVonMises, AsymptoticAboveTwentyMatchesScipy) {
  // cramervonmises_2samp(Seq(800, 37, 1009, 10), Seq(650, 53, 997, 10, 3.0))
  StatisticAndP r = CramerVonMises(Seq(800, 37, 1009, 10.0), Seq(650, 53, 997, 10.0, 3.0));
  EXPECT_THAT(r.statistic, Near(0.19446976127321136));
  EXPECT_THAT(r.p_value, Near(0.2786579910569441));
  EXPECT_FALSE(r.exact);
}

TEST(CramerVonMises, IdenticalSamplesHaveTheSmallestStatistic) {
  // cramervonmises_2samp(x, x): T = (1 + 1/N)/6 − … is the minimum; p = 1.
  std::vector<double> x = Seq(10, 3, 11, 1.0);
  StatisticAndP r = CramerVonMises(x, x);
  EXPECT_EQ(r.p_value, 1.0);
  std::vector<double> y = Seq(500, 3, 499, 1.0);
  EXPECT_EQ(CramerVonMises(y, y).p_value, 1.0);
}

TEST(CramerVonMises, FewerThanTwoValuesHaveNoAnswer) {
  // scipy: "One or more sample arguments is too small" → statistic and p-value NaN.
  StatisticAndP r = CramerVonMises(std::vector<double>{1}, std::vector<double>{1, 2, 3});
  EXPECT_TRUE(std::isnan(r.statistic));
  EXPECT_TRUE(std::isnan(r.p_value));
}

}  // namespace
}  // namespace cairn::monitoring::stats
