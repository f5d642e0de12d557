#pragma once
// Two-sample Kolmogorov–Smirnov and Cramér–von Mises tests, two-sided, with the p-values
// scipy computes (scipy.stats.ks_2samp with method="auto", cramervonmises_2samp with
// method="auto"), so results cross-check to 1e-6 relative.

#include <span>

namespace cairn::monitoring::stats {

struct StatisticAndP {
  double statistic = 0;
  double p_value = 1;
  bool exact = false;  // the p-value came from the exact distribution
};

// D = sup |F_a − F_b|. `a` and `b` are sorted ascending, non-empty, finite.
// P-value as scipy's mode "auto": exact when max(n, m) <= 10000 (falling back to the
// asymptotic one where the exact computation is not feasible, as scipy does), otherwise
// the asymptotic distribution (scipy's kstwo.sf(D, round(n·m/(n+m)))).
StatisticAndP KolmogorovSmirnov(std::span<const double> a, std::span<const double> b);

// T statistic and p-value as scipy.stats.cramervonmises_2samp(a, b, method="auto")
// (exact when both samples have at most 20 values and no ties… as scipy decides).
// `a` and `b` sorted ascending, non-empty, finite.
StatisticAndP CramerVonMises(std::span<const double> a, std::span<const double> b);

}  // namespace cairn::monitoring::stats
