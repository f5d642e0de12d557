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

// D = sup |F_a − F_b| (each difference formed as i/n − j/m in doubles, as scipy does).
// `a` and `b` are sorted ascending and finite. P-value as scipy's mode "auto":
// - max(n, m) <= 10000: exact (exact = true), and then `statistic` is D rounded to the
//   lattice, h/lcm(n, m), as scipy reports it. n == m: the reflection sum; otherwise
//   Hodges' band recursion, O(max(n, m) · min(n, m, 2·D·min(n, m))) — up to ~1e8 steps for
//   10000 × 9999 values far apart, as in scipy (subnormal intermediate shares count as 0
//   here, so p-values below ~1e-300 may read 0 where scipy gives a subnormal). When
//   rounding pushes the exact value out of [0, 1], the asymptotic tail, as scipy does.
// - otherwise the asymptotic tail kstwo.sf(D, round(n·m/(n+m))) (kolmogorov.h).
// The statistic is one O(n + m) merge pass; the tail costs O(1) to O(n·m/(n+m)) (the
// Smirnov sum for 2.2 <= n_eff·D² < 370). Either sample empty: statistic and p-value NaN.
StatisticAndP KolmogorovSmirnov(std::span<const double> a, std::span<const double> b);

// T statistic and p-value as scipy.stats.cramervonmises_2samp(a, b, method="auto"):
// T = U/(nm(n+m)) − (4nm − 1)/(6(n+m)) with mid-ranks for ties (one O(n + m) merge pass).
// P-value exact (exact = true) when both samples have at most 20 values (enumeration of
// the U distribution, with or without ties, as scipy), otherwise Anderson's asymptotic
// approximation through the limiting one-sample CDF — which, like scipy's, floors near
// 1e-8..1e-11 for very large T (the series stops at terms below 1e-7).
// `a` and `b` sorted ascending, finite. Fewer than two values in either: NaN and NaN
// (scipy: "too small").
StatisticAndP CramerVonMises(std::span<const double> a, std::span<const double> b);

}  // namespace cairn::monitoring::stats
