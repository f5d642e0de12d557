#include "monitoring/stats/rank_tests.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <boost/math/distributions/students_t.hpp>
#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/erf.hpp>

#include "monitoring/stats/scaling.h"

namespace cairn::monitoring::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Boost.Math reports domain and overflow problems by returning NaN / inf instead of throwing;
// the callers below only pass finite arguments anyway.
using QuietPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::pole_error<boost::math::policies::ignore_error>>;

// The head of a sorted sample at index i, +inf once it is used up (the index is clamped so
// the load stays valid and the choice compiles to a conditional move).
inline double Head(std::span<const double> s, std::size_t i) {
  const double v = s[std::min(i, s.size() - 1)];
  return i < s.size() ? v : std::numeric_limits<double>::infinity();
}

// Calls fn(z, a_below, b_below, a_equal, b_equal) for every distinct value z of the pooled
// sample in ascending order: how many values of a (b) are < z, and how many equal z. One
// merge step per value without data-dependent branches except the (well predicted) end of
// a group of equal values; no allocation. Values are finite, so +inf marks the end.
template <typename Fn>
inline void ForEachDistinct(std::span<const double> a, std::span<const double> b, Fn&& fn) {
  std::size_t i = 0;
  std::size_t j = 0;
  std::size_t group_i = 0;  // a_below / b_below of the current group
  std::size_t group_j = 0;
  double x = a[0];
  double y = b[0];
  for (std::size_t k = 0, total = a.size() + b.size(); k < total; ++k) {
    const bool take_a = x <= y;
    const double current = take_a ? x : y;
    i += take_a ? 1 : 0;
    j += take_a ? 0 : 1;
    x = Head(a, i);
    y = Head(b, j);
    if (std::min(x, y) != current) {
      fn(current, group_i, group_j, i - group_i, j - group_j);
      group_i = i;
      group_j = j;
    }
  }
}

// Φ(x), the standard normal CDF (scipy.special.ndtr), including ±inf.
double NormalCdf(double x) {
  if (std::isnan(x)) return kNaN;
  if (std::isinf(x)) return x > 0 ? 1.0 : 0.0;
  return 0.5 * boost::math::erfc(-x / std::sqrt(2.0), QuietPolicy());
}

// P(T <= t) for Student's t with `df` degrees of freedom (scipy.special.stdtr), including
// t = ±inf; NaN for NaN arguments.
double StudentTCdf(double df, double t) {
  if (std::isnan(df) || std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  if (std::isinf(df)) return NormalCdf(t);
  const boost::math::students_t_distribution<double, QuietPolicy> dist(df);
  return boost::math::cdf(dist, t);
}

// The p-value of a t statistic under `df` degrees of freedom (scipy's _get_pvalue,
// symmetric): two-sided 2·sf(|t|).
double TwoSidedTPValue(double t, double df) {
  if (std::isnan(t)) return kNaN;
  return 2.0 * StudentTCdf(df, -std::fabs(t));
}

// Mean and the ddof=1 variance of one sorted sample. Sums run in long double over the
// deviations from the middle value, so a sample far from zero (1e9 ± 1e3) keeps the digits
// of its spread: the mean is pivot + mean deviation, and the difference of two means is
// taken in long double. Variance is NaN for a single value, as scipy's `_var(x, ddof=1)`
// (0 · n/(n−1) with n − 1 = 0). Both come scaled by 2^-scale_exp (stats/scaling.h): the
// mean times 2^-e, the variance times 4^-e, so a sample of ±1e200 has a variance that is a
// double (t is the same for any common scale of both samples).
struct MeanVar {
  long double mean = 0;
  double var = 0;
};

// The exponent both samples of a t-test are scaled by (0 for magnitudes in 2^±256).
int TTestScaleExponent(std::span<const double> a, std::span<const double> b) {
  double max_abs = 0;
  for (double v : a) max_abs = std::max(max_abs, std::fabs(v));
  for (double v : b) max_abs = std::max(max_abs, std::fabs(v));
  return MomentScaleExponent(max_abs);
}

MeanVar MeanAndVariance(std::span<const double> x, int scale_exp) {
  const long double count = static_cast<long double>(x.size());
  const long double pivot = x[x.size() / 2];
  long double deviations = 0;
  for (double v : x) deviations += static_cast<long double>(v) - pivot;
  const long double mean = pivot + deviations / count;
  long double squares = 0;
  for (double v : x) {
    const long double d = static_cast<long double>(v) - mean;
    squares += d * d;
  }
  const double n = static_cast<double>(x.size());
  const double m2 = static_cast<double>(std::ldexp(squares / count, -2 * scale_exp));
  // n = 1: 0 · inf = NaN, as scipy.
  return {std::ldexp(mean, -scale_exp), m2 * (n / (n - 1.0))};
}

// ∫ |F_a − F_b| (or ∫ (F_a − F_b)² when kSquared) over the real line, for the empirical
// CDFs of two non-empty sorted samples: between consecutive pooled values both CDFs are
// flat, so the integral is Σ_k g(F_a(x_k) − F_b(x_k)) · (x_{k+1} − x_k) over the pooled
// sorted values x_k (scipy's _cdf_distance). One branch-free merge step per value (ties
// need no grouping: between equal values the width is 0, and after the last copy of a
// value both counts include every copy, because a merge takes all values ≤ x before any
// larger one).
// kHalved measures the widths in halves ((x_{k+1} − x_k) / 2, exact) and returns half the
// integral: for pooled ranges wider than the largest double (−1e308 … 1e308).
template <bool kSquared, bool kHalved = false>
double CdfDifferenceIntegral(std::span<const double> a, std::span<const double> b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  const double inv_n = 1.0 / static_cast<double>(n);
  const double inv_m = 1.0 / static_cast<double>(m);
  std::size_t i = 0;
  std::size_t j = 0;
  double x = a[0];
  double y = b[0];
  double integral = 0;
  for (std::size_t k = 0, last = n + m - 1; k < last; ++k) {
    const bool take_a = x <= y;
    const double current = take_a ? x : y;
    i += take_a ? 1 : 0;
    j += take_a ? 0 : 1;
    x = Head(a, i);
    y = Head(b, j);
    const double next = std::min(x, y);
    const double diff = static_cast<double>(i) * inv_n - static_cast<double>(j) * inv_m;
    const double width = kHalved ? next * 0.5 - current * 0.5 : next - current;
    integral += (kSquared ? diff * diff : std::fabs(diff)) * width;
  }
  return integral;
}

// --- Anderson–Darling ---------------------------------------------------------------------

// Scholz & Stephens (1987) Table 2 interpolation coefficients for significance levels
// 25%, 10%, 5%, 2.5%, 1%, 0.5%, 0.1% (the values scipy.stats.anderson_ksamp uses).
constexpr std::array<double, 7> kAdB0 = {0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085};
constexpr std::array<double, 7> kAdB1 = {-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615};
constexpr std::array<double, 7> kAdB2 = {-0.105, -0.305, -0.362, -0.391, -0.396, -0.345,
                                         -0.154};
constexpr std::array<double, 7> kAdSig = {0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001};

// The critical values for k = 2 samples (m = k − 1 = 1) and the least-squares quadratic
// through (critical_i, ln sig_i), as numpy.polyfit(critical, log(sig), 2): coefficients
// highest degree first. Solved once from the 3×3 normal equations in long double (the
// Vandermonde matrix over [0.3, 6.6] is well enough conditioned for that to be exact to
// double precision).
struct AdTable {
  std::array<double, 7> critical{};
  std::array<double, 3> poly{};  // ln p ≈ poly[0]·A² + poly[1]·A + poly[2]
};

AdTable MakeAdTable() {
  AdTable table;
  const double m = 1.0;
  for (std::size_t i = 0; i < 7; ++i) {
    table.critical[i] = kAdB0[i] + kAdB1[i] / std::sqrt(m) + kAdB2[i] / m;
  }
  // Normal equations (VᵀV) c = Vᵀy with V = [x², x, 1].
  long double s[5] = {0, 0, 0, 0, 0};  // Σ x^k, k = 0..4
  long double t[3] = {0, 0, 0};        // Σ x^k y, k = 0..2
  for (std::size_t i = 0; i < 7; ++i) {
    const long double x = table.critical[i];
    const long double y = std::log(static_cast<long double>(kAdSig[i]));
    long double p = 1;
    for (int k = 0; k <= 4; ++k) {
      s[k] += p;
      if (k <= 2) t[k] += p * y;
      p *= x;
    }
  }
  // Unknowns ordered (c0, c1, c2) for 1, x, x²: row r is Σ_k s[r + k] c_k = t[r].
  long double mat[3][4] = {{s[0], s[1], s[2], t[0]},
                           {s[1], s[2], s[3], t[1]},
                           {s[2], s[3], s[4], t[2]}};
  for (int col = 0; col < 3; ++col) {  // Gaussian elimination with partial pivoting
    int pivot = col;
    for (int r = col + 1; r < 3; ++r) {
      if (std::fabs(mat[r][col]) > std::fabs(mat[pivot][col])) pivot = r;
    }
    for (int k = 0; k < 4; ++k) std::swap(mat[col][k], mat[pivot][k]);
    for (int r = 0; r < 3; ++r) {
      if (r == col) continue;
      const long double f = mat[r][col] / mat[col][col];
      for (int k = col; k < 4; ++k) mat[r][k] -= f * mat[col][k];
    }
  }
  const long double c0 = mat[0][3] / mat[0][0];
  const long double c1 = mat[1][3] / mat[1][1];
  const long double c2 = mat[2][3] / mat[2][2];
  table.poly = {static_cast<double>(c2), static_cast<double>(c1), static_cast<double>(c0)};
  return table;
}

const AdTable& GetAdTable() {
  static const AdTable table = MakeAdTable();
  return table;
}

// The harmonic sums of Scholz & Stephens' variance of A²kN for a pooled size N, summed in
// scipy's order: h = Σ_{i=1}^{N−1} 1/i, g = Σ_{i=1}^{N−2} Σ_{j=i+1}^{N−1} 1/((N−i)·j). O(N);
// the last N is remembered per thread (every column of a data set has the same N).
struct AdSums {
  double h = 0;
  double g = 0;
};

AdSums HarmonicSums(std::size_t total) {
  thread_local std::size_t cached_n = 0;
  thread_local AdSums cached;
  if (total == cached_n) return cached;
  const double n = static_cast<double>(total);
  // scipy: hs_cs = cumsum(1 / arange(N−1, 1, −1)); h = hs_cs[−1] + 1;
  //        g = sum(hs_cs / arange(2, N)).
  double cumulative = 0;
  double g = 0;
  for (std::size_t t = 0; t + 2 < total; ++t) {
    cumulative += 1.0 / (n - 1.0 - static_cast<double>(t));
    g += cumulative / (static_cast<double>(t) + 2.0);
  }
  cached = {cumulative + 1.0, g};
  cached_n = total;
  return cached;
}

// --- Mann–Whitney exact distribution -------------------------------------------------------

// P(U ≤ k) for k = 0..max_k under H0 for sample sizes (small, large), from the counts of
// U = the coefficients of the Gaussian binomial [small + large choose small]_q, built as
// Π_{i=1}^{small} (1 − q^{large+i}) / (1 − q^i) truncated to degree max_k. O(small · max_k).
// Returns the cumulative probabilities (counts / C(small + large, small)).
std::vector<long double> MwuCdf(std::int64_t small, std::int64_t large, std::int64_t max_k) {
  std::vector<long double> c(static_cast<std::size_t>(max_k) + 1, 0.0L);
  c[0] = 1;
  for (std::int64_t i = 1; i <= small; ++i) {
    for (std::int64_t u = max_k; u >= large + i; --u) c[u] -= c[u - large - i];
    for (std::int64_t u = i; u <= max_k; ++u) c[u] += c[u - i];
  }
  long double total = 1;  // C(large + small, small)
  for (std::int64_t i = 1; i <= small; ++i) {
    total = total * static_cast<long double>(large + i) / static_cast<long double>(i);
  }
  long double running = 0;
  for (auto& v : c) {
    running += v;
    v = running / total;
  }
  return c;
}

// The most coefficients (16 bytes each) the exact Mann–Whitney distribution may use.
constexpr std::int64_t kMaxExactMwuCoefficients = std::int64_t{1} << 22;

// P(U ≥ k) under H0 (scipy's _MWU.sf): by symmetry P(U ≤ n1·n2 − k) when k is in the upper
// half, else 1 − P(U ≤ k) + P(U = k).
double MwuExactSf(std::int64_t n1, std::int64_t n2, std::int64_t k) {
  const std::int64_t small = std::min(n1, n2);
  const std::int64_t large = std::max(n1, n2);
  const std::int64_t complement = small * large - k;
  if (k < complement) {
    const std::vector<long double> cdf = MwuCdf(small, large, k);
    const long double pmf_k = k > 0 ? cdf[k] - cdf[k - 1] : cdf[0];
    return static_cast<double>(1.0L - cdf[k] + pmf_k);
  }
  const std::vector<long double> cdf = MwuCdf(small, large, complement);
  return static_cast<double>(cdf[complement]);
}

}  // namespace

StatisticAndP AndersonDarling(std::span<const double> a, std::span<const double> b) {
  StatisticAndP result;
  result.exact = false;
  const std::size_t total = a.size() + b.size();
  const bool one_value = !a.empty() && !b.empty() && a.front() == a.back() &&
                         b.front() == b.back() && a.front() == b.front();
  if (a.empty() || b.empty() || total < 4 || one_value) {
    result.statistic = kNaN;
    result.p_value = kNaN;
    return result;
  }
  const double big_n = static_cast<double>(total);
  const double na = static_cast<double>(a.size());
  const double nb = static_cast<double>(b.size());
  // A²akN, equation 7 of Scholz & Stephens: the midrank EDF of each sample against the
  // pooled one, summed over the distinct pooled values z_j (l_j = multiplicity,
  // B_j = pooled values below z_j + l_j / 2, M_ij = values of sample i below z_j + half of
  // those equal to it).
  double sum_a = 0;
  double sum_b = 0;
  ForEachDistinct(a, b, [&](double, std::size_t a_below, std::size_t b_below,
                            std::size_t a_equal, std::size_t b_equal) {
    const double l = static_cast<double>(a_equal + b_equal);
    const double bj = static_cast<double>(a_below + b_below) + l / 2.0;
    const double ma = static_cast<double>(a_below) + static_cast<double>(a_equal) / 2.0;
    const double mb = static_cast<double>(b_below) + static_cast<double>(b_equal) / 2.0;
    const double denominator = bj * (big_n - bj) - big_n * l / 4.0;
    const double da = big_n * ma - bj * na;
    const double db = big_n * mb - bj * nb;
    sum_a += l / big_n * (da * da) / denominator;
    sum_b += l / big_n * (db * db) / denominator;
  });
  const double a2akn = (sum_a / na + sum_b / nb) * ((big_n - 1.0) / big_n);

  // Standardize with the exact variance under H0 (k = 2 samples).
  const AdSums sums = HarmonicSums(total);
  const double h = sums.h;
  const double g = sums.g;
  const double k = 2.0;
  const double hh = 1.0 / na + 1.0 / nb;
  const double ca = (4 * g - 6) * (k - 1) + (10 - 6 * g) * hh;
  const double cb = (2 * g - 4) * k * k + 8 * h * k + (2 * g - 14 * h - 4) * hh - 8 * h +
                    4 * g - 6;
  const double cc = (6 * h + 2 * g - 2) * k * k + (4 * h - 4 * g + 6) * k + (2 * h - 6) * hh +
                    4 * h;
  const double cd = (2 * h + 6) * k * k - 4 * h * k;
  const double sigma_sq =
      (ca * big_n * big_n * big_n + cb * big_n * big_n + cc * big_n + cd) /
      ((big_n - 1.0) * (big_n - 2.0) * (big_n - 3.0));
  const double m = k - 1;
  const double a2 = (a2akn - m) / std::sqrt(sigma_sq);
  result.statistic = a2;

  const AdTable& table = GetAdTable();
  if (a2 < table.critical.front()) {
    result.p_value = kAdSig.front();  // capped: the true p-value is larger than 0.25
  } else if (a2 > table.critical.back()) {
    result.p_value = kAdSig.back();  // floored: the true p-value is smaller than 0.001
  } else {
    // NaN A2 falls through here and stays NaN, as in scipy.
    result.p_value = std::exp((table.poly[0] * a2 + table.poly[1]) * a2 + table.poly[2]);
  }
  return result;
}

StatisticAndP MannWhitneyU(std::span<const double> a, std::span<const double> b,
                           Alternative alternative) {
  StatisticAndP result;
  if (a.empty() || b.empty()) {
    result.statistic = kNaN;
    result.p_value = kNaN;
    return result;
  }
  // 2·U1 = Σ over values of a of (2 · values of b below it + values of b equal to it),
  // i.e. the rank sum of a minus n1(n1+1)/2 with average ranks for ties; exact integers.
  std::int64_t twice_u1 = 0;
  double tie_term = 0;  // Σ (t³ − t) over the tie groups of the pooled sample
  bool ties = false;
  ForEachDistinct(a, b, [&](double, std::size_t, std::size_t b_below, std::size_t a_equal,
                            std::size_t b_equal) {
    twice_u1 += static_cast<std::int64_t>(a_equal) *
                (2 * static_cast<std::int64_t>(b_below) + static_cast<std::int64_t>(b_equal));
    const std::size_t t = a_equal + b_equal;
    if (t > 1) {
      ties = true;
      const double td = static_cast<double>(t);
      tie_term += td * td * td - td;
    }
  });
  const std::int64_t n1 = static_cast<std::int64_t>(a.size());
  const std::int64_t n2 = static_cast<std::int64_t>(b.size());
  const double u1 = static_cast<double>(twice_u1) / 2.0;
  const double u2 = static_cast<double>(n1) * static_cast<double>(n2) - u1;
  result.statistic = u1;

  double u = 0;
  double factor = 1;
  switch (alternative) {
    case Alternative::kGreater: u = u1; break;
    case Alternative::kLess: u = u2; break;
    case Alternative::kTwoSided:
      u = std::max(u1, u2);
      factor = 2;
      break;
  }

  double p = 0;
  // scipy's _mwu_choose_method, plus a bound of our own: the exact distribution needs
  // n1·n2/2 coefficients, so past kMaxExactMwuCoefficients (8 vs 1M values) the normal
  // approximation is used (scipy would still go exact, in O((n1·n2)²) time).
  const bool exact = !(n1 > 8 && n2 > 8) && !ties && n1 * n2 / 2 < kMaxExactMwuCoefficients;
  if (exact) {
    p = MwuExactSf(n1, n2, static_cast<std::int64_t>(u));
  } else {
    const double d1 = static_cast<double>(n1);
    const double d2 = static_cast<double>(n2);
    const double n = d1 + d2;
    const double mu = d1 * d2 / 2.0;
    const double s = std::sqrt(d1 * d2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0))));
    const double numerator = u - mu - 0.5;  // continuity correction
    const double z = numerator / s;         // s = 0 (all tied): −inf → p = 1, as numpy
    p = NormalCdf(-z);
  }
  p *= factor;
  result.p_value = std::isnan(p) ? p : std::clamp(p, 0.0, 1.0);
  result.exact = exact;
  return result;
}

StatisticAndP WelchTTest(std::span<const double> a, std::span<const double> b) {
  StatisticAndP result;
  if (a.empty() || b.empty()) {
    result.statistic = kNaN;
    result.p_value = kNaN;
    return result;
  }
  const int scale_exp = TTestScaleExponent(a, b);
  const MeanVar x = MeanAndVariance(a, scale_exp);
  const MeanVar y = MeanAndVariance(b, scale_exp);
  const double n1 = static_cast<double>(a.size());
  const double n2 = static_cast<double>(b.size());
  const double vn1 = x.var / n1;
  const double vn2 = y.var / n2;
  double df = (vn1 + vn2) * (vn1 + vn2) / (vn1 * vn1 / (n1 - 1.0) + vn2 * vn2 / (n2 - 1.0));
  if (std::isnan(df)) df = 1.0;  // both variances zero: df does not matter (scipy)
  const double denominator = std::sqrt(vn1 + vn2);
  const double t = static_cast<double>(x.mean - y.mean) / denominator;
  result.statistic = t;
  result.p_value = TwoSidedTPValue(t, df);
  return result;
}

StatisticAndP StudentTTest(std::span<const double> a, std::span<const double> b) {
  StatisticAndP result;
  if (a.empty() || b.empty()) {
    result.statistic = kNaN;
    result.p_value = kNaN;
    return result;
  }
  const int scale_exp = TTestScaleExponent(a, b);
  const MeanVar x = MeanAndVariance(a, scale_exp);
  const MeanVar y = MeanAndVariance(b, scale_exp);
  const double n1 = static_cast<double>(a.size());
  const double n2 = static_cast<double>(b.size());
  // A single observation contributes no squared deviations to the pooled variance.
  const double v1 = a.size() == 1 ? 0.0 : x.var;
  const double v2 = b.size() == 1 ? 0.0 : y.var;
  const double df = n1 + n2 - 2.0;
  const double pooled = ((n1 - 1.0) * v1 + (n2 - 1.0) * v2) / df;
  const double denominator = std::sqrt(pooled * (1.0 / n1 + 1.0 / n2));
  const double t = static_cast<double>(x.mean - y.mean) / denominator;
  result.statistic = t;
  result.p_value = TwoSidedTPValue(t, df);
  return result;
}

namespace {

// Whether the pooled range of two sorted samples overflows a double.
bool WiderThanDoubles(std::span<const double> a, std::span<const double> b) {
  return !std::isfinite(std::max(a.back(), b.back()) - std::min(a.front(), b.front()));
}

}  // namespace

double EnergyDistance(std::span<const double> a, std::span<const double> b) {
  if (a.empty() || b.empty()) return kNaN;
  if (WiderThanDoubles(a, b)) {
    return 2.0 * std::sqrt(CdfDifferenceIntegral</*kSquared=*/true, /*kHalved=*/true>(a, b));
  }
  return std::sqrt(2.0) * std::sqrt(CdfDifferenceIntegral</*kSquared=*/true>(a, b));
}

double Wasserstein(std::span<const double> a, std::span<const double> b) {
  if (a.empty() || b.empty()) return kNaN;
  if (WiderThanDoubles(a, b)) {
    // Twice the halved integral: inf only when the distance itself is beyond the doubles.
    return 2.0 * CdfDifferenceIntegral</*kSquared=*/false, /*kHalved=*/true>(a, b);
  }
  return CdfDifferenceIntegral</*kSquared=*/false>(a, b);
}

}  // namespace cairn::monitoring::stats
