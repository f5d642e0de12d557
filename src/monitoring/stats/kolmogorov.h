#pragma once
// The distribution of the one-sample Kolmogorov–Smirnov statistics, the tails the
// two-sample KS test falls back on for large samples: the two-sided D_n (scipy.stats.kstwo)
// and the one-sided D_n+ (scipy.special.smirnov). Both follow the algorithm choices scipy
// 1.17 makes (Simard & L'Ecuyer 2011), so p-values cross-check with scipy.

#include <cstdint>

namespace cairn::monitoring::stats {

// Pr(D_n >= d), D_n = sup |F_n − F| of n values: scipy.stats.kstwo.sf(d, n). Picks, as
// scipy's kolmogn does by n and n·d², Ruben–Gambino's closed forms, Durbin's matrix method
// (Marsaglia–Tsang–Wang), Pomeranz's recursion, the Pelz–Good expansion or twice the
// one-sided tail. 1 for d <= 1/(2n), 0 for d >= 1; NaN when n < 1 or d is NaN.
// Cost: O(1) to O(n) except Durbin's method (n <= 100000, small d): O(k³ log n), k ≈ n·d.
double KolmogorovTwoSidedSf(int64_t n, double d);

// Pr(D_n+ >= d), D_n+ = sup (F − F_n) of n values: scipy.special.smirnov(n, d), by the
// Birnbaum–Tingey sum (Smirnov 1944), its short alternating form when only a few terms
// are left, and the asymptotic exp(−(6nd+1)²/(18n)) for n > 1,000,000. NaN unless n >= 1
// and 0 <= d <= 1.
double SmirnovSf(int64_t n, double d);

}  // namespace cairn::monitoring::stats
