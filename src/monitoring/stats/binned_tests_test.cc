#include "monitoring/stats/binned_tests.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/stats/sort_sample.h"

namespace cairn::monitoring::stats {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// Expected values come from Evidently 0.7.23's own stattest functions (evidently.legacy.
// calculations.stattests.{psi._psi, kl_div._kl_div, jensenshannon._jensenshannon,
// hellinger_distance._hellinger_distance, chisquare_stattest._chi_stat_test,
// z_stattest._z_stat_test, tvd_stattest._tvd_stattest}) on pandas Series built from the
// same formulas as the fixtures below (numeric: float64 values; categorical: the labels as
// strings), with numpy 2.4.6 / scipy 1.17.1, printed with %.17g. Evidently 0.7.23 does not
// import under pandas 3, so they were run with pandas 2.2.3.
constexpr double kRel = 1e-12;

void ExpectNear(double actual, double expected, double rel = kRel) {
  EXPECT_NEAR(actual, expected, std::fabs(expected) * rel + 1e-15) << "expected " << expected;
}

// A: numeric, > 20 distinct reference values → Sturges bins (11 over both samples).
//   ref_i = ((37 i) mod 101) / 7 + (i mod 3) / 10, i < 500
//   cur_i = ((53 i) mod 97) / 6 + 1.5, i < 400
ColumnPair FixtureA() {
  ColumnPair c;
  c.name = "a";
  for (int i = 0; i < 500; ++i) c.reference.push_back(((i * 37) % 101) / 7.0 + (i % 3) * 0.1);
  for (int i = 0; i < 400; ++i) c.current.push_back(((i * 53) % 97) / 6.0 + 1.5);
  return c;
}

// B: numeric, 5 distinct reference values → one bin per value (0..6; 5 and 6 only current).
ColumnPair FixtureB() {
  ColumnPair c;
  c.name = "b";
  for (int i = 0; i < 300; ++i) c.reference.push_back(i % 5);
  for (int i = 0; i < 250; ++i) c.current.push_back((i * 3) % 7);
  return c;
}

ColumnPair Categorical(std::vector<std::string> labels, std::vector<double> ref,
                       std::vector<double> cur) {
  ColumnPair c;
  c.name = "cat";
  c.categorical = true;
  c.categories = std::move(labels);
  c.reference = std::move(ref);
  c.current = std::move(cur);
  return c;
}

// C: categories a, b, c, d; reference a,b,c cyclic (200); current a,a,b,d cyclic (180):
// "d" is new in the current sample.
ColumnPair FixtureC() {
  std::vector<double> ref, cur;
  for (int i = 0; i < 200; ++i) ref.push_back(i % 3);
  const int pattern[] = {0, 0, 1, 3};
  for (int i = 0; i < 180; ++i) cur.push_back(pattern[i % 4]);
  return Categorical({"a", "b", "c", "d"}, ref, cur);
}

// C2: as C, the current sample a,a,b,c,c cyclic: no new category.
ColumnPair FixtureC2() {
  ColumnPair c = FixtureC();
  c.current.clear();
  const int pattern[] = {0, 0, 1, 2, 2};
  for (int i = 0; i < 180; ++i) c.current.push_back(pattern[i % 5]);
  return c;
}

// D: binary "yes"/"no": reference yes when i mod 4 == 0 (400), current when i mod 3 == 0
// (300). Python sorts the labels, so the Z-test's base key is "no" (code 1).
ColumnPair FixtureD() {
  std::vector<double> ref, cur;
  for (int i = 0; i < 400; ++i) ref.push_back(i % 4 == 0 ? 0 : 1);
  for (int i = 0; i < 300; ++i) cur.push_back(i % 3 == 0 ? 0 : 1);
  return Categorical({"yes", "no"}, ref, cur);
}

// T: small categorical sample whose TVD permutation p-value is not 0 or 1.
ColumnPair FixtureT() {
  std::vector<double> ref, cur;
  for (int i = 0; i < 60; ++i) ref.push_back((i * 7) % 3);
  const int pattern[] = {0, 1, 1, 2};
  for (int i = 0; i < 50; ++i) cur.push_back(pattern[i % 4]);
  return Categorical({"a", "b", "c", "d"}, ref, cur);
}

ColumnPair Sorted(ColumnPair c) {
  SortSample(c.reference);
  SortSample(c.current);
  c.sorted = true;
  return c;
}

TEST(SturgesEdgesTest, IntegerColumnsGetBinsAtLeastOneWide) {
  // a = np.concatenate([np.arange(21)] * 40000): np.histogram_bin_edges(a, "sturges") has
  // 20 bins (width clamped to 1 for int64), a.astype(float) 21.
  std::vector<double> e = SturgesEdges(0, 20, 840000, /*integer=*/true);
  ASSERT_EQ(e.size(), 21u);
  for (size_t i = 0; i < e.size(); ++i) EXPECT_EQ(e[i], static_cast<double>(i));
  EXPECT_EQ(SturgesEdges(0, 20, 840000).size(), 22u);
  // Below ~2^19 values the width is above 1 anyway: the flag changes nothing.
  EXPECT_EQ(SturgesEdges(0, 20, 21000, true), SturgesEdges(0, 20, 21000));

  ColumnPair pair;
  for (int copy = 0; copy < 20000; ++copy) {
    for (int v = 0; v <= 20; ++v) {
      pair.reference.push_back(v);
      pair.current.push_back(v < 10 ? v : 20 - (v % 3));
    }
  }
  pair.integer = true;
  BinnedCounts bins = BinColumn(pair);
  ASSERT_EQ(bins.edges.size(), 21u);
  ASSERT_EQ(bins.reference.size(), 20u);
  EXPECT_EQ(bins.reference[0], 20000);
  EXPECT_EQ(bins.reference[19], 40000);  // [19, 20] holds 19 and 20
}

TEST(SturgesEdgesTest, MatchesNumpyHistogramBinEdges) {
  // np.histogram_bin_edges(np.arange(1000) * 0.1, bins="sturges"): 11 bins.
  std::vector<double> e = SturgesEdges(0, 99.9, 1000);
  ASSERT_EQ(e.size(), 12u);
  EXPECT_EQ(e[1], 9.081818181818182);
  EXPECT_EQ(e[10], 90.81818181818181);
  EXPECT_EQ(e.back(), 99.9);
  // A constant sample: one bin over [x − 0.5, x + 0.5].
  EXPECT_THAT(SturgesEdges(5, 5, 3), ElementsAre(4.5, 5.5));
  // Powers of two: log2 is exact (np.linspace(0, 1, 1024) → 11 bins, 2048 → 12,
  // np.linspace(-3, 7, 4096) → 13).
  e = SturgesEdges(0, 1, 1024);
  ASSERT_EQ(e.size(), 12u);
  EXPECT_EQ(e[1], 0.09090909090909091);
  EXPECT_EQ(e[10], 0.9090909090909092);
  EXPECT_EQ(SturgesEdges(0, 1, 2048).size(), 13u);
  e = SturgesEdges(-3, 7, 4096);
  ASSERT_EQ(e.size(), 14u);
  EXPECT_EQ(e[1], -2.230769230769231);
  EXPECT_EQ(e[12], 6.230769230769232);
}

TEST(BinColumnTest, CountsLikeNumpyHistogramWithClosedLastEdge) {
  // np.histogram([0, e1, e1 - 1e-17, 1, 0.5], edges) == [2 1 0 0 0 1 0 0 0 0 1] for the
  // Sturges edges of 1024 values over [0, 1]: a value on an inner edge goes right, one
  // just below it left, the maximum into the last bin.
  ColumnPair c;
  const std::vector<double> edges = SturgesEdges(0, 1, 1024);
  for (int i = 0; i < 1019; ++i) c.reference.push_back(i / 1018.0);
  c.current = {0.0, edges[1], edges[1] - 1e-17, 1.0, 0.5};
  // 1019 + 5 values over [0, 1]: the same 11 bins.
  BinnedCounts bins = BinColumn(c);
  ASSERT_EQ(bins.edges.size(), 12u);
  EXPECT_THAT(bins.current, ElementsAre(2, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1));
  double total = 0;
  for (double x : bins.reference) total += x;
  EXPECT_EQ(total, 1019);
}

TEST(BinColumnTest, SturgesBinsOverBothSamples) {
  // get_binned_data(A_ref, A_cur, Numerical, 30, False) · sizes.
  BinnedCounts bins = BinColumn(FixtureA());
  ASSERT_EQ(bins.edges.size(), 12u);
  EXPECT_EQ(bins.edges[1], 1.5909090909090908);
  EXPECT_THAT(bins.reference, ElementsAre(54, 54, 56, 56, 54, 56, 55, 56, 54, 5, 0));
  EXPECT_THAT(bins.current, ElementsAre(5, 42, 37, 41, 37, 41, 37, 41, 37, 41, 41));
  BinnedCounts sorted = BinColumn(Sorted(FixtureA()));
  EXPECT_EQ(sorted.edges, bins.edges);
  EXPECT_EQ(sorted.reference, bins.reference);
  EXPECT_EQ(sorted.current, bins.current);
}

TEST(BinColumnTest, OneBinPerValueUpToTwentyDistinctReferenceValues) {
  BinnedCounts bins = BinColumn(FixtureB());
  EXPECT_TRUE(bins.edges.empty());
  EXPECT_THAT(bins.values, ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(bins.reference, ElementsAre(60, 60, 60, 60, 60, 0, 0));
  // (3 i) mod 7 over 250 values: 36 of each residue, 0..5 get one more (i = 245..249 → 0,
  // 3, 6, 2, 5 → the first 250 = 35·7 + 5).
  double total = 0;
  for (double x : bins.current) total += x;
  EXPECT_EQ(total, 250);

  // Exactly 20 distinct reference values stay per-value; 21 switch to Sturges.
  ColumnPair c;
  for (int i = 0; i < 200; ++i) c.reference.push_back(i % 20);
  c.current = {0.5};
  EXPECT_TRUE(BinColumn(c).edges.empty());
  EXPECT_EQ(BinColumn(c).values.size(), 21u);
  c.reference.push_back(20);
  EXPECT_FALSE(BinColumn(c).edges.empty());
}

TEST(BinColumnTest, CategoricalBinsAreTheCodesPresent) {
  BinnedCounts bins = BinColumn(FixtureC());
  EXPECT_THAT(bins.values, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(bins.reference, ElementsAre(67, 67, 66, 0));
  EXPECT_THAT(bins.current, ElementsAre(90, 45, 0, 45));
  // A category neither sample has gets no bin.
  ColumnPair c = Categorical({"x", "y", "z"}, {0, 0, 2}, {2});
  EXPECT_THAT(BinColumn(c).values, ElementsAre(0, 2));
}

TEST(SmoothedSharesTest, ZeroSharesBecomeTinyOrOneInTenThousand) {
  BinnedCounts bins;
  bins.reference = {5, 0, 5};   // min share 0.5 > 1e-4 → zeros become 1e-4
  bins.current = {1, 0, 19999};  // min share 5e-5 <= 1e-4 → zeros become 5e-11
  std::vector<double> r, c;
  SmoothedShares(bins, &r, &c);
  EXPECT_THAT(r, ElementsAre(0.5, 0.0001, 0.5));
  EXPECT_THAT(c, ElementsAre(1 / 20000.0, 1 / 20000.0 / 1e6, 19999 / 20000.0));
}

TEST(BinnedDistancesTest, MatchEvidentlyOnSturgesBins) {
  for (const ColumnPair& c : {FixtureA(), Sorted(FixtureA())}) {
    ExpectNear(Psi(c), 1.1452679538310546);
    ExpectNear(KlDivergence(c), 0.31556574325215325);
    ExpectNear(JensenShannon(c), 0.28477496018591969);
    ExpectNear(Hellinger(c), 0.29565113890718392);
  }
}

TEST(BinnedDistancesTest, MatchEvidentlyOnValueBins) {
  ColumnPair c = FixtureB();
  ExpectNear(Psi(c), 2.1909859339056093);
  ExpectNear(KlDivergence(c), 0.33805030801992986);
  ExpectNear(JensenShannon(c), 0.33466829923902036);
  ExpectNear(Hellinger(c), 0.39522448135347077);
}

TEST(BinnedDistancesTest, MatchEvidentlyOnCategories) {
  struct Case {
    ColumnPair column;
    double psi, kl, js, hellinger;
  };
  const Case cases[] = {
      {FixtureC(), 4.718928302673616, 2.6363919487315579, 0.46077796998025106,
       0.54894119797718022},
      {FixtureC2(), 0.094627520791110475, 0.049907790674367764, 0.10829927972030627,
       0.10852774319473718},
      {FixtureD(), 0.033788759009013694, 0.016416758629342415, 0.064904507112493195,
       0.064946779894307013},
      {FixtureT(), 0.11645839728397407, 0.057166772720790376, 0.12032009993007861,
       0.12048638173637351},
  };
  for (const Case& c : cases) {
    ExpectNear(Psi(c.column), c.psi);
    ExpectNear(KlDivergence(c.column), c.kl);
    ExpectNear(JensenShannon(c.column), c.js);
    ExpectNear(Hellinger(c.column), c.hellinger);
  }
}

TEST(ChiSquaredTest, MatchesEvidentlyChiStatTest) {
  // A value only the current sample has → scipy's statistic is inf and p = 0.
  EXPECT_EQ(ChiSquared(FixtureA()).p_value, 0);
  EXPECT_TRUE(std::isinf(ChiSquared(FixtureB()).statistic));
  EXPECT_EQ(ChiSquared(FixtureC()).p_value, 0);
  ExpectNear(ChiSquared(FixtureC2()).p_value, 0.00063131417451389488, 1e-10);
  ExpectNear(ChiSquared(FixtureD()).p_value, 0.00085812066639367579, 1e-10);
  ExpectNear(ChiSquared(FixtureT()).p_value, 0.04328279790196591, 1e-10);
  // One value in both samples: 0 degrees of freedom, scipy's p-value is NaN.
  ColumnPair same;
  same.reference = {1, 1};
  same.current = {1};
  EXPECT_TRUE(std::isnan(ChiSquared(same).p_value));
}

TEST(ProportionZTest, MatchesEvidentlyZStatTest) {
  ExpectNear(ProportionZ(FixtureA()).p_value, 0.20539894465873232, 1e-10);
  ExpectNear(ProportionZ(FixtureB()).p_value, 0.084923552475760111, 1e-10);
  ExpectNear(ProportionZ(FixtureC()).p_value, 0.0011080285095310671, 1e-10);
  ExpectNear(ProportionZ(FixtureC2()).p_value, 0.189003922058125, 1e-10);
  ExpectNear(ProportionZ(FixtureD()).p_value, 0.015725299754505428, 1e-10);
  ExpectNear(ProportionZ(FixtureT()).p_value, 0.40331756510948313, 1e-10);
  // The two-sided p-value does not depend on which of two labels is the base.
  ColumnPair d = FixtureD();
  d.categories = {"no", "yes"};
  ExpectNear(ProportionZ(d).p_value, 0.015725299754505428, 1e-10);
  // One and the same value in both samples: p = 1.
  ColumnPair same = Categorical({"x"}, {0, 0}, {0});
  EXPECT_EQ(ProportionZ(same).p_value, 1);
}

TEST(ProportionZTest, BaseCategoryIsTheSmallestLabelAsPythonSortsIt) {
  // Three categories: the base (indicator 0) is the smallest label. Labels that are all
  // numbers sort numerically ("9" < "10"), as pandas holds a numeric column.
  ColumnPair c = Categorical({"10", "9", "11"}, {0, 0, 1, 2, 2, 2}, {0, 1, 1, 1, 2, 2});
  ColumnPair base_nine = Categorical({"b", "a", "c"}, c.reference, c.current);
  ColumnPair base_ten = Categorical({"a", "b", "c"}, c.reference, c.current);
  EXPECT_EQ(ProportionZ(c).p_value, ProportionZ(base_nine).p_value);
  EXPECT_NE(ProportionZ(c).p_value, ProportionZ(base_ten).p_value);
}

TEST(LegacyPermutationTest, ReplaysNumpyRandomState) {
  // np.random.seed(0); np.random.permutation(10)
  EXPECT_THAT(LegacyPermutation(0, 10), ElementsAre(2, 8, 4, 9, 1, 6, 7, 3, 0, 5));
  // np.random.RandomState(7).permutation(5)
  EXPECT_THAT(LegacyPermutation(7, 5), ElementsAre(0, 3, 2, 1, 4));
}

TEST(TotalVariationTest, MatchesEvidentlyTvdStatTest) {
  // Fixture T has permutations whose TVD equals the observed 1/6 exactly. Evidently
  // compares float sums taken in a Python set's order, so its p-value for T depends on
  // PYTHONHASHSEED (0.15 for seeds 0, 2-5; 0.153 for seed 1); counting every exact tie
  // gives 0.16 — the same loop replayed in Python with fractions.Fraction statistics
  // (np.random.seed(0), np.random.choice(reference + current, 60, replace=False), …)
  // prints 0.16. The other fixtures have no ties at the boundary.
  struct Case {
    ColumnPair column;
    double statistic, p;
  };
  const Case cases[] = {
      {FixtureA(), 0.95800000000000018, 0},     {FixtureB(), 0.28800000000000003, 0},
      {FixtureC(), 0.41500000000000004, 0},     {FixtureC2(), 0.13500000000000001, 0.017},
      {FixtureD(), 0.083333333333333343, 0.017}, {FixtureT(), 0.16666666666666666, 0.16},
  };
  for (const Case& c : cases) {
    StatisticAndP r = TotalVariation(c.column);
    ExpectNear(r.statistic, c.statistic);
    ExpectNear(TotalVariationDistance(c.column), c.statistic);
    EXPECT_EQ(r.p_value, c.p) << c.column.name;
  }
}

TEST(BinnedPropertiesTest, IdenticalSamplesShowNoDrift) {
  for (ColumnPair c : {FixtureA(), FixtureB(), FixtureC()}) {
    c.current = c.reference;
    EXPECT_EQ(Psi(c), 0);
    EXPECT_EQ(KlDivergence(c), 0);
    EXPECT_EQ(JensenShannon(c), 0);
    EXPECT_NEAR(Hellinger(c), 0, 1e-7);
    EXPECT_EQ(TotalVariation(c).statistic, 0);
    EXPECT_EQ(TotalVariation(c).p_value, 1);
    EXPECT_EQ(ChiSquared(c).statistic, 0);
    EXPECT_EQ(ChiSquared(c).p_value, 1);
  }
}

TEST(BinnedPropertiesTest, SymmetryAndBounds) {
  for (const ColumnPair& c : {FixtureA(), FixtureB(), FixtureC(), FixtureD(), FixtureT()}) {
    ColumnPair swapped = c;
    std::swap(swapped.reference, swapped.current);
    ExpectNear(JensenShannon(swapped), JensenShannon(c), 1e-12);
    ExpectNear(TotalVariationDistance(swapped), TotalVariationDistance(c), 1e-12);
    EXPECT_LE(JensenShannon(c), std::sqrt(std::log(2.0)));
    EXPECT_GE(Psi(c), 0);
    EXPECT_GE(KlDivergence(c), 0);
    EXPECT_GE(Hellinger(c), 0);
    EXPECT_LE(Hellinger(c), 1);
  }
  // Disjoint supports: JS reaches its maximum sqrt(ln 2).
  ColumnPair disjoint = Categorical({"x", "y"}, {0, 0}, {1, 1, 1});
  ExpectNear(JensenShannon(disjoint), std::sqrt(std::log(2.0)));
  ExpectNear(TotalVariationDistance(disjoint), 1);
}

TEST(BinnedPropertiesTest, EmptySampleGivesNaN) {
  ColumnPair c = FixtureA();
  c.current.clear();
  EXPECT_TRUE(std::isnan(Psi(c)));
  EXPECT_TRUE(std::isnan(JensenShannon(c)));
  EXPECT_TRUE(std::isnan(ChiSquared(c).p_value));
}

TEST(BinnedPropertiesTest, ManyDistinctUnsortedValuesMatchTheSortedPath) {
  // Past 65,536 distinct values the per-value bins come from sorted copies, not the table.
  ColumnPair c;
  for (int i = 0; i < 80'000; ++i) c.reference.push_back(std::sin(i * 1.7) * 100);
  for (int i = 0; i < 70'000; ++i) c.current.push_back(std::cos(i * 0.3) * 90 + (i % 7));
  for (int i = 0; i < 50; ++i) c.current.push_back(c.reference[i]);  // shared values
  const ColumnPair s = Sorted(c);
  EXPECT_EQ(Hellinger(c), Hellinger(s));
  EXPECT_EQ(ChiSquared(c).statistic, ChiSquared(s).statistic);
  EXPECT_EQ(TotalVariationDistance(c), TotalVariationDistance(s));
  ColumnPair few = c;  // fewer values: the table path, same answers as the merge walk
  few.reference.resize(3000);
  few.current.resize(2000);
  EXPECT_EQ(Hellinger(few), Hellinger(Sorted(few)));
  EXPECT_EQ(ChiSquared(few).statistic, ChiSquared(Sorted(few)).statistic);
}

TEST(BinColumnTest, MillionValueColumnsCountEveryValue) {
  // Not a timing test: a large column is binned completely in one counting pass.
  ColumnPair c;
  c.reference.resize(1'000'000);
  c.current.resize(1'000'000);
  for (size_t i = 0; i < c.reference.size(); ++i) {
    c.reference[i] = std::sin(static_cast<double>(i)) * 3;
    c.current[i] = std::cos(static_cast<double>(i)) * 3 + 0.5;
  }
  BinnedCounts bins = BinColumn(c);
  ASSERT_EQ(bins.edges.size(), 23u);  // ceil(log2(2e6) + 1) = 22 bins
  double r = 0, k = 0;
  for (double x : bins.reference) r += x;
  for (double x : bins.current) k += x;
  EXPECT_EQ(r, 1e6);
  EXPECT_EQ(k, 1e6);
  EXPECT_GT(JensenShannon(c), 0.05);
}

}  // namespace
}  // namespace cairn::monitoring::stats
