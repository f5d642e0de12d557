#pragma once
// Tests on binned or counted data, as Evidently computes them (FACTS.md "Drift
// statistics"): its binning rule (Sturges edges over both samples for numeric columns
// with more than 20 distinct reference values, otherwise one bin per distinct value),
// its empty-bin smoothing (PSI and KL only), and Jensen–Shannon, PSI, KL divergence,
// Hellinger, total variation distance, chi-squared and the two-proportion Z-test.

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

// Evidently's binning of `column` (get_binned_data with feature_type and n, without
// smoothing).
BinnedCounts BinColumn(const ColumnPair& column);

// Shares with Evidently's empty-bin smoothing (PSI, KL): zero shares become
// min(non-zero share)/1e6 when that minimum is <= 1e-4, else 1e-4 — applied per sample as
// Evidently does.
void SmoothedShares(const BinnedCounts& bins, std::vector<double>* reference,
                    std::vector<double>* current);

double JensenShannon(const ColumnPair& column);   // scipy jensenshannon, natural log
double Psi(const ColumnPair& column);             // Σ (r − c)·ln(r / c), smoothed shares
double KlDivergence(const ColumnPair& column);    // scipy entropy(r, c), smoothed shares
double Hellinger(const ColumnPair& column);       // as Evidently's hellinger_stat_test
StatisticAndP TotalVariation(const ColumnPair& column);  // as Evidently's tvd_stat_test
StatisticAndP ChiSquared(const ColumnPair& column);      // as Evidently's chi_stat_test
StatisticAndP ProportionZ(const ColumnPair& column);     // as Evidently's z_stat_test

}  // namespace cairn::monitoring::stats
