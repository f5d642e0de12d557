#include "monitoring/stats/ks.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/bessel.hpp>

#include "monitoring/stats/kolmogorov.h"

namespace cairn::monitoring::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// scipy's 'auto' computes the exact KS p-value while both samples have at most this many
// values, the exact Cramér–von Mises one while both have at most 20.
constexpr size_t kMaxExactKs = 10000;
constexpr size_t kMaxExactCvm = 20;

// ---------------------------------------------------------------------------------------
// Kolmogorov–Smirnov.

// max |F_a − F_b| over the pooled values, each difference formed as i/n − j/m in doubles
// like scipy's searchsorted/n1 − searchsorted/n2, so the statistic is bit-identical.
// One merge pass over the two sorted samples: O(n + m).
double KsStatistic(std::span<const double> a, std::span<const double> b) {
  const size_t n = a.size();
  const size_t m = b.size();
  const double dn = static_cast<double>(n);
  const double dm = static_cast<double>(m);
  size_t i = 0;
  size_t j = 0;
  double largest = 0;
  while (i < n && j < m) {
    const double value = std::min(a[i], b[j]);
    while (i < n && a[i] <= value) ++i;
    while (j < m && b[j] <= value) ++j;
    largest = std::max(largest, std::abs(static_cast<double>(i) / dn - static_cast<double>(j) / dm));
  }
  // Once one sample is used up the difference only shrinks towards 0: nothing left to see.
  return largest;
}

// Pr(D_{n,n} >= h/n) for two samples of n: the reflection principle gives
// 2·Σ_k (−1)^(k−1) C(2n, n − kh) / C(2n, n), evaluated Horner-like from the largest k with
// each ratio of binomials built from h factors, as scipy does (no cancellation).
double ProbOutsideSquare(int64_t n, int64_t h) {
  double p = 0.0;
  for (int64_t k = static_cast<int64_t>(std::floor(static_cast<double>(n) / h)); k >= 0; --k) {
    double ratio = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      ratio = static_cast<double>(n - k * h - j) * ratio / static_cast<double>(n + k * h + j + 1);
    }
    p = ratio * (1.0 - p);
  }
  return 2 * p;
}

// Flushes subnormal results and operands to zero on this thread while alive (SSE's FTZ
// and DAZ), restoring the previous mode after. The band recursion below otherwise spends
// most of its time on subnormal shares (4 s instead of 0.5 s for 10000 × 9999 values far
// apart, scipy's time included).
class FlushSubnormals {
 public:
#if defined(__SSE2__)
  FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushSubnormals() { _mm_setcsr(saved_); }
#endif
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
#if defined(__SSE2__)
  static constexpr unsigned kFlushToZero = 0x8000;
  static constexpr unsigned kDenormalsAreZero = 0x0040;
  unsigned saved_;
#endif
};

// Pr(D_{m,n} >= h/lcm(m, n)) by Hodges' "inside" lattice-path count, kept as the share of
// paths that have already left the band |x/m − y/n| < h/lcm, one column at a time over a
// sliding window (Viehmann 2021: computing 1 − p directly keeps small p-values accurate).
// The arithmetic and its order are scipy's, so the answer (and whether it lands outside
// [0, 1], which sends scipy to the asymptotic tail) is the same, except that shares below
// 2^-1022 count as 0: every value is a convex combination of the previous column's, so
// the answer moves by less than m · 2^-1022 (< 1e-303) — p-values above 1e-290 agree to
// the last digits, smaller ones are 0 for every practical purpose. O(m · window).
double ProbOutsideBand(int64_t m, int64_t n, int64_t g, int64_t h) {
  FlushSubnormals flush;
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g;
  const int64_t ng = n / g;
  int64_t min_j = 0;
  int64_t max_j = std::min(static_cast<int64_t>(std::ceil(static_cast<double>(h) / mg)), n + 1);
  int64_t current_len = max_j - min_j;
  const int64_t len = std::min(2 * max_j + 2, n + 1);
  std::vector<double> column(len, 1.0);
  std::fill(column.begin() + min_j, column.begin() + max_j, 0.0);
  for (int64_t i = 1; i <= m; ++i) {
    const int64_t last_min_j = min_j;
    const int64_t last_len = current_len;
    min_j = std::max(
        static_cast<int64_t>(std::floor(static_cast<double>(ng * i - h) / mg)) + 1, int64_t{0});
    min_j = std::min(min_j, n);
    max_j = std::min(static_cast<int64_t>(std::ceil(static_cast<double>(ng * i + h) / mg)),
                     n + 1);
    if (max_j <= min_j) return 1.0;
    const double di = static_cast<double>(i);
    double value = min_j == 0 ? 0.0 : 1.0;
    const double* source = column.data() + (min_j - last_min_j);
    double* target = column.data();
    for (int64_t jj = 0; jj < max_j - min_j; ++jj) {
      const double dj = static_cast<double>(jj + min_j);
      value = (source[jj] * di + value * dj) / (di + dj);
      target[jj] = value;
    }
    current_len = max_j - min_j;
    if (last_len > current_len) {  // cells the next column reads past this one's end
      const int64_t from = std::min(max_j - min_j, len);
      const int64_t to = std::min(max_j - min_j + (last_len - current_len), len);
      std::fill(column.begin() + from, column.begin() + to, 1.0);
    }
  }
  return column[max_j - min_j - 1];
}

// ---------------------------------------------------------------------------------------
// Cramér–von Mises.

// numpy's float floor_divide (Python's // on floats), which need not equal floor(a / b).
double FloorDivide(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0) {
    if ((b < 0) != (mod < 0)) div -= 1.0;
  }
  if (div == 0) return std::copysign(0.0, a / b);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

uint64_t Binomial(uint64_t n, uint64_t k) {
  k = std::min(k, n - k);
  unsigned __int128 result = 1;
  for (uint64_t i = 1; i <= k; ++i) result = result * (n - k + i) / i;
  return static_cast<uint64_t>(result);
}

// Pr(U >= u) under the null by enumerating the distribution of U over all C(m+n, m)
// orderings: Xiao, Gordon & Yakovlev's recursion (J. Stat. Soft. 17(8), 2006) on the
// lattice of (v, w) = (values of x, values of y) seen so far, each node holding the sorted
// (value, count) table of the partial sums of (a·v − b·w)², a = lcm/m, b = lcm/n.
double CvmExactPValue(double u, int64_t m, int64_t n) {
  const int64_t lcm = std::lcm(m, n);
  const int64_t a = lcm / m;
  const int64_t b = lcm / n;
  const int64_t mn = m * n;
  // U of the sample → the integer criterion of [Anderson 1962, eq. 9], as scipy writes it.
  const double zeta = FloorDivide(
      static_cast<double>(lcm * lcm * (m + n)) * (6 * u - static_cast<double>(mn * (4 * mn - 1))),
      static_cast<double>(6 * mn * mn));

  struct Entry {
    int64_t value;
    uint64_t count;
  };
  std::vector<std::vector<Entry>> nodes(m + 1);
  nodes[0].push_back({0, 1});
  std::vector<Entry> merged;
  for (int64_t w = 0; w <= n; ++w) {
    for (int64_t v = 0; v <= m; ++v) {
      // paths into (v, w) from (v − 1, w) (already updated) and (v, w − 1) (this slot).
      merged.clear();
      const std::vector<Entry>* left = v > 0 ? &nodes[v - 1] : nullptr;
      const std::vector<Entry>& below = nodes[v];
      size_t li = 0;
      size_t bi = 0;
      const size_t left_size = left ? left->size() : 0;
      while (li < left_size || bi < below.size()) {
        if (bi == below.size() || (li < left_size && (*left)[li].value < below[bi].value)) {
          merged.push_back((*left)[li++]);
        } else if (li == left_size || below[bi].value < (*left)[li].value) {
          merged.push_back(below[bi++]);
        } else {
          merged.push_back({below[bi].value, below[bi].count + (*left)[li].count});
          ++li;
          ++bi;
        }
      }
      const int64_t step = a * v - b * w;
      for (Entry& entry : merged) entry.value += step * step;
      nodes[v].swap(merged);
    }
  }
  uint64_t at_least = 0;
  for (const Entry& entry : nodes[m]) {
    if (static_cast<double>(entry.value) >= zeta) at_least += entry.count;
  }
  return static_cast<double>(at_least) /
         static_cast<double>(Binomial(static_cast<uint64_t>(m + n), static_cast<uint64_t>(m)));
}

using BesselPolicy = boost::math::policies::policy<
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::promote_double<false>>;

// The limiting CDF of the one-sample criterion (Csörgő & Faraway 1996, eq. 1.2 and 1.3),
// summed until a term is below 1e-7 as scipy does (so the two stop at the same term).
double CvmLimitCdf(double x) {
  constexpr double kPiPow15 = 5.568327996831708;  // π^1.5
  double total = 0;
  for (int k = 0;; ++k) {
    const double u =
        std::exp(std::lgamma(k + 0.5) - std::lgamma(k + 1.0)) / (kPiPow15 * std::sqrt(x));
    const double y = 4.0 * k + 1;
    const double q = y * y / (16 * x);
    const double bessel = boost::math::cyl_bessel_k(0.25, q, BesselPolicy());
    const double term = u * std::sqrt(y) * std::exp(-q) * bessel;
    total += term;
    if (!(std::abs(term) >= 1e-7)) break;
  }
  return total;
}

// Anderson (1962): T standardised by its exact mean and variance, read off the limiting
// one-sample distribution.
double CvmAsymptoticPValue(double t, int64_t nx, int64_t ny) {
  using Int = __int128;
  const Int k = static_cast<Int>(nx) * ny;
  const Int big_n = nx + ny;
  const double et = (1 + 1.0 / static_cast<double>(big_n)) / 6;
  const Int numerator = (big_n + 1) * (4 * k * big_n - 3 * (static_cast<Int>(nx) * nx +
                                                            static_cast<Int>(ny) * ny) -
                                       2 * k);
  const Int denominator = 45 * big_n * big_n * 4 * k;
  const double vt = static_cast<double>(static_cast<long double>(numerator) /
                                        static_cast<long double>(denominator));
  const double tn = 1.0 / 6 + (t - et) / std::sqrt(45 * vt);
  if (!(tn >= 0.003)) return 1.0;  // the CDF there is below 1.3e-18
  return std::max(1.0 - CvmLimitCdf(tn), 0.0);
}

}  // namespace

StatisticAndP KolmogorovSmirnov(std::span<const double> a, std::span<const double> b) {
  if (a.empty() || b.empty()) return {kNaN, kNaN, false};
  double d = KsStatistic(a, b);
  const int64_t n1 = static_cast<int64_t>(a.size());
  const int64_t n2 = static_cast<int64_t>(b.size());
  if (std::max(a.size(), b.size()) <= kMaxExactKs) {
    const int64_t g = std::gcd(n1, n2);
    const int64_t lcm = (n1 / g) * n2;
    const int64_t h = static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
    d = static_cast<double>(h) / static_cast<double>(lcm);  // scipy reports the rounded D
    if (h == 0) return {d, 1.0, true};
    // D_{n1,n2} <= D_n1 + D_n2 and Massart's DKW bound for each give
    // Pr(D >= d) <= 4·exp(−d²·n1·n2/(n1+n2)): past 800 that is below 1e-347, under the
    // smallest double, so the p-value is 0 without the O(n1·n2) band recursion (5 s for
    // 10000 × 9999 values that do not overlap).
    const double n_eff = static_cast<double>(n1) * static_cast<double>(n2) /
                         static_cast<double>(n1 + n2);
    if (n1 != n2 && n_eff * d * d > 800) return {d, 0.0, true};
    const double prob = n1 == n2 ? ProbOutsideSquare(n1, h) : ProbOutsideBand(n1, n2, g, h);
    if (prob >= 0 && prob <= 1) return {d, prob, true};
    // Rounding pushed the exact value out of [0, 1]: scipy warns and uses the tail below.
  }
  const double larger = static_cast<double>(std::max(n1, n2));
  const double smaller = static_cast<double>(std::min(n1, n2));
  const double effective_n = std::nearbyint(larger * smaller / (larger + smaller));
  if (effective_n < 1) return {d, kNaN, false};
  const double p = KolmogorovTwoSidedSf(static_cast<int64_t>(effective_n), d);
  return {d, std::clamp(p, 0.0, 1.0), false};
}

StatisticAndP CramerVonMises(std::span<const double> a, std::span<const double> b) {
  const int64_t nx = static_cast<int64_t>(a.size());
  const int64_t ny = static_cast<int64_t>(b.size());
  if (nx < 2 || ny < 2) return {kNaN, kNaN, false};

  // Σ (r(x_i) − i)² and Σ (r(y_j) − j)² with mid-ranks r in the pooled sample, in quarters
  // (2r is an integer), exactly, in one merge pass.
  using Int = __int128;
  Int quarters_x = 0;
  Int quarters_y = 0;
  size_t i = 0;
  size_t j = 0;
  int64_t pooled = 0;
  while (i < a.size() || j < b.size()) {
    double value;
    if (j == b.size() || (i < a.size() && a[i] <= b[j])) {
      value = a[i];
    } else {
      value = b[j];
    }
    const size_t i0 = i;
    const size_t j0 = j;
    while (i < a.size() && a[i] <= value) ++i;
    while (j < b.size() && b[j] <= value) ++j;
    const int64_t ties = static_cast<int64_t>((i - i0) + (j - j0));
    const int64_t twice_rank = 2 * pooled + ties + 1;  // ranks pooled+1 … pooled+ties
    for (size_t t = i0; t < i; ++t) {
      const Int diff = twice_rank - 2 * static_cast<Int>(t + 1);
      quarters_x += diff * diff;
    }
    for (size_t t = j0; t < j; ++t) {
      const Int diff = twice_rank - 2 * static_cast<Int>(t + 1);
      quarters_y += diff * diff;
    }
    pooled += ties;
  }
  const double sum_x = static_cast<double>(quarters_x) / 4;
  const double sum_y = static_cast<double>(quarters_y) / 4;
  const double u = static_cast<double>(nx) * sum_x + static_cast<double>(ny) * sum_y;

  const Int k = static_cast<Int>(nx) * ny;
  const Int big_n = nx + ny;
  const double t = u / static_cast<double>(k * big_n) -
                   static_cast<double>(4 * k - 1) / static_cast<double>(6 * big_n);
  if (std::max(nx, ny) <= static_cast<int64_t>(kMaxExactCvm)) {
    return {t, CvmExactPValue(u, nx, ny), true};
  }
  return {t, CvmAsymptoticPValue(t, nx, ny), false};
}

}  // namespace cairn::monitoring::stats
