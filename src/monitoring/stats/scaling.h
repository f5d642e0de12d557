#pragma once
// Power-of-two scaling for means and variances of values near the ends of the double range
// (±1e200, ±1e300, 1e-300): their sums or squared deviations would overflow to inf (or
// underflow to 0) although the mean and the standard deviation themselves are
// representable. The moments are computed on x · 2^-e instead and scaled back: mean · 2^e,
// std · 2^e, M2 · 4^e. Scaling by a power of two is exact and IEEE rounding does not depend
// on it, so a scaled computation gives the same bits as the unscaled one wherever the
// unscaled one neither overflows nor underflows; and e is 0 (no scaling at all) for every
// column whose largest magnitude lies in [2^-256, 2^256) — the usual case costs nothing and
// its output is unchanged.

#include <cmath>

namespace cairn::monitoring::stats {

// The binary exponent e to scale values of largest magnitude `max_abs` by (x · 2^-e): 0
// when max_abs is 0, not finite, or in [2^-256, 2^256); otherwise the exponent that brings
// max_abs into [0.5, 1) (at least -960, so that 2^-e is a double). Non-decreasing in
// max_abs.
inline int MomentScaleExponent(double max_abs) {
  constexpr double kSmall = 0x1p-256;
  constexpr double kLarge = 0x1p256;
  if (!(max_abs > 0) || !std::isfinite(max_abs)) return 0;
  if (max_abs >= kSmall && max_abs < kLarge) return 0;
  int e = 0;
  std::frexp(max_abs, &e);
  return e < -960 ? -960 : e;  // 2^960 is still a double; 2^1073 (for 5e-324) is not
}

}  // namespace cairn::monitoring::stats
