#include "monitoring/stats/kolmogorov.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <tuple>
#include <utility>
#include <vector>

namespace cairn::monitoring::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = std::numbers::pi;
constexpr double kPiSquared = kPi * kPi;
constexpr double kPiFour = kPiSquared * kPiSquared;
constexpr double kPiSix = kPiFour * kPiSquared;

// Intermediate results are rescaled by 2^±128 and the exponent kept aside, as scipy does,
// so long products neither overflow nor underflow.
constexpr int kScaleExponent = 128;
const long double kScaleUp = std::ldexp(1.0L, kScaleExponent);
const long double kScaleDown = std::ldexp(1.0L, -kScaleExponent);

double Clip01(double p) { return p < 0 ? 0.0 : (p > 1 ? 1.0 : p); }  // NaN stays NaN

// log(n! / n^n) by Stirling's series with n·log(n) taken out first (no cancellation).
double LogFactorialOverPower(double n) {
  // B_2j / (2j (2j − 1)) for j = 8 … 1.
  static constexpr std::array<double, 8> kStirling = {
      -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3,
      8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
      -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n;
  const double y = rn / n;
  double poly = 0;
  for (double c : kStirling) poly = poly * y + c;
  return std::log(n) / 2 - n + std::log(2 * kPi) / 2 + rn * poly;
}

// ---------------------------------------------------------------------------------------
// Durbin's matrix method as Marsaglia, Tsang & Wang evaluate it: Pr(D_n <= d) is
// n!/n^n times the (k, k) entry of H^n, H the (2k−1)² matrix of d = (k − h)/n.

using Matrix = std::vector<double>;  // row-major, size × size

void Multiply(const Matrix& a, const Matrix& b, int size, Matrix& out) {
  std::fill(out.begin(), out.end(), 0.0);
  for (int row = 0; row < size; ++row) {
    for (int mid = 0; mid < size; ++mid) {
      const double left = a[row * size + mid];
      if (left == 0) continue;
      const double* right = &b[mid * size];
      double* dst = &out[row * size];
      for (int col = 0; col < size; ++col) dst[col] += left * right[col];
    }
  }
}

double DurbinCdf(int64_t n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = static_cast<double>(n) * d;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int size = 2 * k - 1;

  // First column v (and, reversed, the last row); w[j] = 1/j! fills the band.
  std::vector<double> v(size), w(size);
  double factorial_inverse = 1.0;
  for (int j = 1; j <= size; ++j) {
    v[j - 1] = 1.0 - std::pow(h, j);
    w[j - 1] = factorial_inverse;
    factorial_inverse /= j;
    v[j - 1] *= factorial_inverse;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), size) - 2 * std::pow(h, size);
  v[size - 1] = (1.0 + tt) * factorial_inverse;

  Matrix power_of_h(size * size, 0.0);
  for (int col = 1; col < size; ++col) {
    for (int row = col - 1; row < size; ++row) power_of_h[row * size + col] = w[row - col + 1];
  }
  for (int row = 0; row < size; ++row) power_of_h[row * size] = v[row];
  for (int col = 0; col < size; ++col) power_of_h[(size - 1) * size + col] = v[size - 1 - col];

  Matrix result(size * size, 0.0);
  for (int i = 0; i < size; ++i) result[i * size + i] = 1.0;
  Matrix scratch(size * size);
  int64_t exponent = 0;        // scaling of `result`
  int64_t power_exponent = 0;  // scaling of `power_of_h`
  const int diagonal = (k - 1) * size + (k - 1);
  for (int64_t remaining = n; remaining > 0; remaining /= 2) {
    if (remaining % 2 != 0) {
      Multiply(result, power_of_h, size, scratch);
      result.swap(scratch);
      exponent += power_exponent;
    }
    if (remaining == 1) break;  // the last squaring would not be used
    Multiply(power_of_h, power_of_h, size, scratch);
    power_of_h.swap(scratch);
    power_exponent *= 2;
    if (std::abs(power_of_h[diagonal]) > kScaleUp) {
      for (double& x : power_of_h) x = static_cast<double>(x * kScaleDown);
      power_exponent += kScaleExponent;
    }
  }

  long double p = result[diagonal];
  for (int64_t i = 1; i <= n; ++i) {  // times n!/n^n
    p = i * p / n;
    if (std::abs(p) < kScaleDown) {
      p *= kScaleUp;
      exponent -= kScaleExponent;
    }
  }
  if (exponent != 0) p = std::ldexp(p, static_cast<int>(exponent));
  return Clip01(static_cast<double>(p));
}

// ---------------------------------------------------------------------------------------
// Pomeranz's recursion (1974): rows of a (2n+2)-step recursion, each the convolution of the
// previous row with (almost) Poisson weights; only a short window of each row is non-zero.

std::pair<int64_t, int64_t> PomeranzWindow(int64_t i, int64_t n, int64_t ll, int ceilf,
                                           int roundf) {
  int64_t j1;
  int64_t j2;
  if (i == 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const int64_t half = (i + 1) / 2;
    if ((i + 1) % 2 == 0) {  // i is odd
      if (half == n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return {std::max<int64_t>(j1 + 2, 0), std::min(j2, n)};
}

double PomeranzCdf(int64_t n, double x) {
  const double t = static_cast<double>(n) * x;
  const int64_t ll = static_cast<int64_t>(std::floor(t));
  const double f = t - static_cast<double>(ll);
  const double g = std::min(f, 1.0 - f);
  const int ceilf = f > 0 ? 1 : 0;
  const int roundf = f > 0.5 ? 1 : 0;
  const int64_t width = 2 * (ll + 1);  // the most powers a convolution needs
  std::vector<double> g_powers(width), two_g_powers(width), one_minus_two_g_powers(width);
  g_powers[0] = two_g_powers[0] = one_minus_two_g_powers[0] = 1.0;
  const double g_over_n = g / n;
  const double two_g_over_n = 2 * g / n;
  const double one_minus_two_g_over_n = (1 - 2 * g) / n;
  for (int64_t m = 1; m < width; ++m) {
    g_powers[m] = g_powers[m - 1] * g_over_n / m;
    two_g_powers[m] = two_g_powers[m - 1] * two_g_over_n / m;
    one_minus_two_g_powers[m] = one_minus_two_g_powers[m - 1] * one_minus_two_g_over_n / m;
  }

  std::vector<double> previous(width, 0.0), current(width, 0.0);
  current[0] = 1.0;
  int64_t previous_start = 0;
  int64_t current_start = 0;
  int64_t exponent = 0;
  auto [j1, j2] = PomeranzWindow(0, n, ll, ceilf, roundf);
  for (int64_t i = 1; i <= 2 * n + 1; ++i) {
    const int64_t k1 = j1;
    previous.swap(current);
    std::swap(previous_start, current_start);
    std::fill(current.begin(), current.end(), 0.0);
    std::tie(j1, j2) = PomeranzWindow(i, n, ll, ceilf, roundf);
    const std::vector<double>& weights =
        (i == 1 || i == 2 * n + 1) ? g_powers
                                   : (i % 2 != 0 ? two_g_powers : one_minus_two_g_powers);
    const int64_t span = j2 - k1 + 1;
    if (span <= 0) continue;
    // Convolve previous[k1 − start, +span) with weights[0, span) and keep the terms
    // [j1 − k1, j2 − k1].
    const int64_t seg_begin = k1 - previous_start;
    const int64_t seg_len = std::min(span, width - seg_begin);
    const int64_t weights_len = std::min(span, width);
    const int64_t out_begin = j1 - k1;
    const int64_t out_len = j2 - j1 + 1;
    double largest = 0;
    for (int64_t out = 0; out < out_len; ++out) {
      const int64_t term = out_begin + out;
      double sum = 0;
      const int64_t lo = std::max<int64_t>(0, term - weights_len + 1);
      const int64_t hi = std::min(term, seg_len - 1);
      for (int64_t s = lo; s <= hi; ++s) sum += previous[seg_begin + s] * weights[term - s];
      current[out] = sum;
      largest = std::max(largest, sum);
    }
    if (largest > 0 && largest < kScaleDown) {
      for (double& value : current) value = static_cast<double>(value * kScaleUp);
      exponent -= kScaleExponent;
    }
    current_start = previous_start + j1 - k1;
  }

  long double answer = current[n - current_start];
  for (int64_t m = 1; m <= n; ++m) {  // times n!
    if (std::abs(answer) > kScaleUp) {
      answer *= kScaleDown;
      exponent += kScaleExponent;
    }
    answer *= m;
  }
  if (exponent != 0) answer = std::ldexp(answer, static_cast<int>(exponent));
  return Clip01(static_cast<double>(answer));
}

// ---------------------------------------------------------------------------------------
// The Pelz–Good expansion (1976) of Li-Chien and Korolyuk's series in 1/√n, transformed
// with Jacobi's theta identities so it converges fast for small z = √n·x. Not clipped.

double PelzGoodCdf(int64_t n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double z2 = z * z;
  const double z3 = z * z * z;
  const double z4 = z2 * z2;
  const double z6 = z4 * z2;
  const double qlog = -kPiSquared / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);

  const double k1a = -z2;
  const double k1b = kPiSquared / 4;
  const double k2a = 6 * z6 + 2 * z4;
  const double k2b = (2 * z4 - 5 * z2) * kPiSquared / 4;
  const double k2c = kPiFour * (1 - 2 * z2) / 16;
  const double k3d = kPiSix * (5 - 30 * z2) / 64;
  const double k3c = kPiFour * (-60 * z2 + 212 * z4) / 16;
  const double k3b = kPiSquared * (135 * z4 - 96 * z6) / 4;
  const double k3a = -30 * z6 - 90 * std::pow(z, 8);

  std::array<double, 4> terms = {0, 0, 0, 0};
  const int max_k = static_cast<int>(std::ceil(16 * z / kPi));
  for (int k = max_k; k >= 1; --k) {  // Horner in q^8k over the odd m = 2k − 1
    const double m = 2.0 * k - 1;
    const double m2 = m * m;
    const double m4 = m2 * m2;
    const double m6 = m4 * m2;
    const double q_power = std::pow(q, 8 * k);
    const std::array<double, 4> coeffs = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                                          k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) terms[i] = terms[i] * q_power + coeffs[i];
  }
  const double sqrt_2pi = std::sqrt(2 * kPi);
  const std::array<double, 4> divisors = {z, 6 * z4, 72 * std::pow(z, 7),
                                          6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) terms[i] = terms[i] * q * sqrt_2pi / divisors[i];

  // The terms over all integers k of K_2 and K_3.
  q = std::exp(-kPiSquared / 2 / z2);
  const double sqrt3z = std::sqrt(3.0) * z;
  double k2extra = 0;
  double k3extra = 0;
  for (int k = max_k; k >= 1; --k) {
    const double k2 = static_cast<double>(k) * k;
    const double kpi = kPi * k;
    const double q_power = std::pow(q, k2);
    k2extra += k2 * q_power;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * q_power;
  }
  terms[2] += k2extra * (kPiSquared * sqrt_2pi / (-36 * z3));
  terms[3] += k3extra * (kPiSquared * sqrt_2pi / (216 * z6));
  double cdf = 0;
  for (int i = 0; i < 4; ++i) cdf += terms[i] / std::pow(static_cast<double>(n), i / 2.0);
  return cdf;
}

}  // namespace

// ---------------------------------------------------------------------------------------

double SmirnovSf(int64_t n, double d) {
  if (!(n > 0 && d >= 0.0 && d <= 1.0)) return kNaN;
  if (n == 1) return 1 - d;
  if (d == 0.0) return 1.0;
  if (d == 1.0) return 0.0;

  // floor(n·d) and its remainder, exactly enough in long double (n·d needs ≤ 84 bits).
  const long double nd = static_cast<long double>(n) * d;
  const int64_t nd_floor = static_cast<int64_t>(std::floor(nd));
  const long double alpha = nd - static_cast<long double>(nd_floor);
  // Lower sum: v = 0 … last_lower, upper sum: v = n … first_upper. When n·d is an integer
  // the term at v = n(1 − d) vanishes and belongs to neither.
  int64_t last_lower = n - nd_floor - (alpha == 0 ? 0 : 1);
  int64_t first_upper = n - nd_floor;
  if (alpha == 0) {
    last_lower -= 1;
    first_upper += 1;
  }
  if (nd_floor == 0 || (nd_floor == 1 && alpha == 0)) {  // d <= 1/n
    const double cdf = d * std::pow(1.0 + d, static_cast<double>(n - 1));
    return Clip01(1 - cdf);
  }
  if (-2.0 * static_cast<double>(n) * d * d < -745.1332191019412) return 0.0;  // < 2^-1075
  if (nd_floor >= n - 1) return Clip01(std::pow(1.0 - d, static_cast<double>(n)));
  if (n > 1000000) {  // asymptotic: Pr ~ exp(−(6nd + 1)² / 18n)
    const double logp = -std::pow(6.0 * n * d + 1, 2) / 18.0 / n;
    return Clip01(logp < -std::numbers::ln2 ? std::exp(logp) : 1 - (-std::expm1(logp)));
  }
  // The alternating upper sum only when it has at most a few terms (it loses ~1.6 bits a
  // term); otherwise the all-positive lower sum.
  const int64_t upper_terms = n - first_upper + 1;
  const bool use_upper =
      (upper_terms <= 1 && d < 0.5) ||
      (n >= 10 && upper_terms <= 3 && d <= 0.5 / std::sqrt(static_cast<double>(n)));

  // A_v = C(n, v) (1 − d − v/n)^(n − v) (d + v/n)^(v − 1), in logs with its sign.
  const long double log_d = std::log(static_cast<long double>(d));
  auto term = [&](int64_t v, long double log_binomial) -> long double {
    const long double base_low = (static_cast<long double>(n - v) - nd) / n;  // 1 − d − v/n
    const long double base_high = (static_cast<long double>(v) + nd) / n;     // d + v/n
    long double log_term = log_binomial + (v - 1) * std::log(base_high);
    long double sign = 1;
    if (n - v > 0) {
      log_term += (n - v) * std::log(std::abs(base_low));
      if (base_low < 0 && (n - v) % 2 != 0) sign = -1;
    }
    return sign * std::exp(log_term);
  };

  const int64_t start = use_upper ? n : 0;
  const int64_t step = use_upper ? -1 : 1;
  const int64_t n_terms = use_upper ? upper_terms : last_lower + 1;
  long double sum =
      use_upper ? std::pow(1.0L + d, static_cast<long double>(n - 1))
                : std::exp(n * std::log1p(-static_cast<long double>(d)) - log_d);  // A_0
  // C(n, j) as mantissa · 2^exponent, updated by multiplication: summing logs instead
  // would let rounding build up over the ~n/2 terms large n needs (1e-11 at n = 500000).
  long double binomial_mantissa = 0.5L;
  int64_t binomial_exponent = 1;
  const long double ln2 = std::numbers::ln2_v<long double>;
  const long double eps = std::numeric_limits<double>::epsilon();
  for (int64_t j = 1; j < n_terms; ++j) {
    int scale = 0;
    binomial_mantissa =
        std::frexp(binomial_mantissa * (static_cast<long double>(n - j + 1) / j), &scale);
    binomial_exponent += scale;
    const long double log_binomial =  // log C(n, j); C(n, v) = C(n, n − v)
        std::log(binomial_mantissa) + static_cast<long double>(binomial_exponent) * ln2;
    const long double a_j = term(start + j * step, log_binomial);
    if (std::isfinite(a_j) && a_j != 0) sum += a_j;
    if (a_j != 0) {
      if (4 * (n_terms - j) * std::abs(a_j) < eps * sum && j != n_terms - 1) break;
    } else if (j > n / 2) {
      break;
    }
  }
  const double prob = static_cast<double>(d * sum);
  return Clip01(use_upper ? 1 - prob : prob);
}

double KolmogorovTwoSidedSf(int64_t n, double d) {
  if (n < 1 || std::isnan(d)) return kNaN;
  const double nd_ = static_cast<double>(n);
  if (d <= 0.5 / nd_) return 1.0;  // below the support
  if (d >= 1.0) return 0.0;
  const double t = nd_ * d;
  if (t <= 1.0) {  // Ruben–Gambino: Pr(D_n <= d) = n!/n^n (2t − 1)^n
    if (t <= 0.5) return 1.0;
    double cdf;
    if (n <= 140) {
      cdf = 1.0;
      for (int64_t i = 1; i <= n; ++i) cdf *= static_cast<double>(i) * (1.0 / nd_) * (2 * t - 1);
    } else {
      cdf = std::exp(LogFactorialOverPower(nd_) + nd_ * std::log(2 * t - 1));
    }
    return Clip01(1.0 - cdf);
  }
  if (t >= nd_ - 1) return Clip01(2 * std::pow(1.0 - d, nd_));  // Ruben–Gambino
  if (d >= 0.5) return Clip01(2 * SmirnovSf(n, d));         // D_n+ and D_n− cannot both be

  const double nd_squared = t * d;
  if (n <= 140) {
    if (nd_squared <= 0.754693) return Clip01(1.0 - DurbinCdf(n, d));
    if (nd_squared <= 4) return Clip01(1.0 - PomeranzCdf(n, d));
    return Clip01(2 * SmirnovSf(n, d));
  }
  if (nd_squared >= 370.0) return 0.0;
  if (nd_squared >= 2.2) return Clip01(2 * SmirnovSf(n, d));
  double cdf;
  if (n <= 100000 && nd_ * std::pow(d, 1.5) <= 1.4) {
    cdf = DurbinCdf(n, d);
  } else {
    cdf = PelzGoodCdf(n, d);
  }
  return Clip01(1.0 - cdf);
}

}  // namespace cairn::monitoring::stats
