#pragma once
// Tests on the raw numeric samples: Anderson–Darling k-sample (k = 2), Mann–Whitney U,
// Welch's t-test, energy distance and the Wasserstein-1 distance, each as scipy.stats
// computes it (anderson_ksamp, mannwhitneyu(alternative="two-sided", method="auto"),
// ttest_ind(equal_var=False), energy_distance, wasserstein_distance), so results
// cross-check to 1e-6 relative. Samples are sorted ascending, non-empty and finite.

#include <span>

#include "monitoring/stats/ks.h"  // StatisticAndP

namespace cairn::monitoring::stats {

// scipy.stats.anderson_ksamp([a, b]) as Evidently uses it: statistic, and the p-value
// ("significance level") interpolated from the critical-value table and capped to
// [0.001, 0.25] as scipy does (say so in `exact` = false).
StatisticAndP AndersonDarling(std::span<const double> a, std::span<const double> b);

// U of `a`, two-sided p-value: exact when there are no ties and both samples have fewer
// than 8 values (scipy's "auto"), otherwise the normal approximation with tie correction
// and continuity correction.
StatisticAndP MannWhitneyU(std::span<const double> a, std::span<const double> b);

// Welch's t statistic and two-sided p-value (Student t with Welch–Satterthwaite df).
StatisticAndP WelchTTest(std::span<const double> a, std::span<const double> b);

// scipy.stats.energy_distance(a, b) (equal weights).
double EnergyDistance(std::span<const double> a, std::span<const double> b);

// scipy.stats.wasserstein_distance(a, b) (equal weights). The drift test divides it by
// max(std(reference, ddof=0… as Evidently does), 0.001) — see stat_tests.cc.
double Wasserstein(std::span<const double> a, std::span<const double> b);

}  // namespace cairn::monitoring::stats
