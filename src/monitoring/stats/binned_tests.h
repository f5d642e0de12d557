#pragma once
// Tests on binned or counted data, as Evidently computes them (FACTS.md "Drift
// statistics"): its binning rule (Sturges edges over both samples for numeric columns
// with more than 20 distinct reference values, otherwise one bin per distinct value),
// its empty-bin smoothing (PSI and KL only), and Jensen–Shannon, PSI, KL divergence,
// Hellinger, total variation distance, chi-squared and the two-proportion Z-test.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "monitoring/stats/column_pair.h"
#include "monitoring/stats/ks.h"  // StatisticAndP

namespace cairn::monitoring::stats {

// Counts of the reference and the current sample over the same bins.
struct BinnedCounts {
  std::vector<double> edges;  // numeric Sturges bins: n_bins + 1 edges; empty otherwise
  std::vector<double> values;  // one-bin-per-value: the value (numeric) or code of each bin
  std::vector<double> reference;  // counts per bin
  std::vector<double> current;
};

// Bin edges as numpy.histogram_bin_edges(x, bins="sturges") for `count` values spanning
// [min, max]: ceil(range / width) equal bins with width = range / (log2(count) + 1), at
// least 1 when `integer` (numpy's rule for an integer-typed x) (one bin when min == max,
// then over [min − 0.5, max + 0.5]), edges as numpy.linspace computes them.
std::vector<double> SturgesEdges(double min, double max, size_t count, bool integer = false);

// Evidently's binning of `column` (get_binned_data with feature_type and n, without
// smoothing): categorical → one bin per code present in either sample (ascending code);
// numeric with more than 20 distinct reference values → Sturges edges over both samples
// combined, counted as numpy.histogram counts (bin i = [e_i, e_i+1), the last bin closed);
// otherwise one bin per distinct value of either sample (ascending). Numeric columns use
// column.sorted to skip work; no per-value allocation, one counting pass per sample.
// Integer columns (ColumnPair::integer, a pandas int64 column on both sides) get numpy's
// Sturges width of at least 1.
BinnedCounts BinColumn(const ColumnPair& column);

// Shares with Evidently's empty-bin smoothing (PSI, KL): zero shares become
// min(non-zero share)/1e6 when that minimum is <= 1e-4, else 1e-4 — applied per sample as
// Evidently does.
void SmoothedShares(const BinnedCounts& bins, std::vector<double>* reference,
                    std::vector<double>* current);

double JensenShannon(const ColumnPair& column);   // scipy jensenshannon, natural log
double Psi(const ColumnPair& column);             // Σ (r − c)·ln(r / c), smoothed shares
double KlDivergence(const ColumnPair& column);    // scipy entropy(r, c), smoothed shares
// As Evidently's hellinger_stat_test: categorical → over the shares per category; numeric →
// Sturges edges over the DISTINCT values of both samples, density histograms on them.
double Hellinger(const ColumnPair& column);
// 0.5 · Σ_value |ref share − cur share| over every distinct value (no binning).
double TotalVariationDistance(const ColumnPair& column);
// As Evidently's tvd_stat_test: the statistic above and the p-value of its permutation
// test (numpy.random.seed(0), 1000 permutations of reference ‖ current, p = share of
// permuted statistics >= observed), replaying numpy's legacy MT19937 stream exactly, so
// the permutations equal Evidently's when the samples are in row order (categorical
// columns; numeric columns with column.sorted lose the row order). Ties with the observed
// statistic are counted exactly; Evidently's float comparison counts some of them
// depending on PYTHONHASHSEED (see the test). O(1000 · (n + m)).
StatisticAndP TotalVariation(const ColumnPair& column);
StatisticAndP ChiSquared(const ColumnPair& column);      // as Evidently's chi_stat_test
StatisticAndP ProportionZ(const ColumnPair& column);     // as Evidently's z_stat_test
// Every function above returns NaN (statistic and p-value) when a sample is empty.
// ChiSquared: statistic +inf and p 0 when the current sample has a value the reference
// lacks; p NaN with a single value overall (0 degrees of freedom), as scipy.

// numpy.random.RandomState(seed).permutation(n) (legacy MT19937 Fisher–Yates); exposed
// so tests can pin the stream against numpy.
std::vector<uint32_t> LegacyPermutation(uint32_t seed, uint32_t n);

}  // namespace cairn::monitoring::stats
