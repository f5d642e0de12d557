#pragma once
// Tests on the raw numeric samples: Anderson–Darling k-sample (k = 2), Mann–Whitney U,
// Welch's and Student's t-tests, energy distance and the Wasserstein-1 distance, each as
// scipy.stats 1.17 computes it (anderson_ksamp, mannwhitneyu(method="auto"),
// ttest_ind(equal_var=False / True), energy_distance, wasserstein_distance), so results
// cross-check to 1e-6 relative (in practice ~1e-12). Samples are sorted ascending,
// non-empty and finite. Every function is one merge-walk over the two sorted samples,
// O(n + m) time and O(1) extra memory (1M vs 1M values: 8–14 ms of one core each), except
// the exact Mann–Whitney p-value (only when a sample has at most 8 values: O(min²·max)
// time, O(min·max) memory, at most 64 MiB; 5 vs 1M values: ~0.12 s).
//
// Where scipy answers NaN or raises (the statistic is undefined for the data), the
// functions return NaN for that number, so the caller can tell "undefined" from a value:
// a NaN p-value compares false with any threshold (no drift), and JSON writes it as null.
//
// Evidently 0.7.23 (evidently/legacy/calculations/stattests/) calls:
//   "anderson": anderson_ksamp([reference, current])[2]      → AndersonDarling(ref, cur)
//   "mannw":    mannwhitneyu(reference, current, alternative="less")[1]
//                                       → MannWhitneyU(ref, cur, Alternative::kLess)
//   "t_test":   ttest_ind(reference, current)[1]  (equal_var=True: pooled variance!)
//                                       → StudentTTest(ref, cur)
//   "ed":       energy_distance(reference, current)           → EnergyDistance(ref, cur)
//   "wasserstein": wasserstein_distance(ref, cur) / max(np.std(ref) (ddof=0), 0.001)

#include <span>

#include "monitoring/stats/ks.h"  // StatisticAndP

namespace cairn::monitoring::stats {

// The alternative hypothesis of a one- or two-sided test (scipy's `alternative`).
enum class Alternative {
  kTwoSided,  // "two-sided"
  kLess,      // "less": a is stochastically smaller than b
  kGreater,   // "greater": a is stochastically larger than b
};

// scipy.stats.anderson_ksamp([a, b]) with its defaults (variant unspecified = midrank,
// method=None) — the tuple Evidently indexes: statistic = the normalized k-sample
// statistic A2 (Scholz & Stephens 1987, midrank version), p_value = the "significance
// level" (result[2], alias pvalue), interpolated (quadratic fit of log(sig) on the
// critical values) and capped to [0.001, 0.25] as scipy does; `exact` is false.
// Undefined (NaN statistic and p-value): a total of fewer than 4 values (scipy: NaN for
// 3, IndexError for 2) or a single distinct value in both samples (scipy raises).
StatisticAndP AndersonDarling(std::span<const double> a, std::span<const double> b);

// U of `a` (scipy's U1, whatever the alternative) and the p-value of `alternative`
// (default two-sided, source-compatible with the first version of this header): exact
// (`exact` = true) when there are no ties in the pooled sample and at least one sample
// has at most 8 values (scipy's "auto": asymptotic only when both n > 8 or on ties),
// otherwise the normal approximation with tie correction and continuity correction.
// Two-sided p = 2·P(U ≥ max(U1, U2)), clipped to 1. One deviation from scipy: when
// n1·n2/2 ≥ 2²² (e.g. 5 values against 2M) the exact path would need more than 64 MiB and
// the normal approximation is used instead (scipy stays exact but takes O((n1·n2)²) time).
StatisticAndP MannWhitneyU(std::span<const double> a, std::span<const double> b,
                           Alternative alternative = Alternative::kTwoSided);

// Welch's t statistic (mean(a) − mean(b)) / sqrt(va/n + vb/m) (ddof = 1) and two-sided
// p-value from Student t with the Welch–Satterthwaite df: ttest_ind(a, b,
// equal_var=False). As scipy: a sample of 1 value → NaN; zero variance in both samples →
// t = ±inf, p = 0 when the means differ, NaN when they are equal.
StatisticAndP WelchTTest(std::span<const double> a, std::span<const double> b);

// Student's two-sample t-test with pooled variance, df = n + m − 2: ttest_ind(a, b)
// (equal_var=True, scipy's and Evidently's default). As scipy: n + m = 2 → NaN; a
// 1-value sample contributes no variance; zero pooled variance → ±inf / p 0, or NaN.
StatisticAndP StudentTTest(std::span<const double> a, std::span<const double> b);

// scipy.stats.energy_distance(a, b) (equal weights): sqrt(2 ∫ (F_a − F_b)²).
double EnergyDistance(std::span<const double> a, std::span<const double> b);

// scipy.stats.wasserstein_distance(a, b) (equal weights): ∫ |F_a − F_b|. The drift test
// divides it by max(std(reference, ddof=0), 0.001) as Evidently does — see stat_tests.cc.
double Wasserstein(std::span<const double> a, std::span<const double> b);

}  // namespace cairn::monitoring::stats
