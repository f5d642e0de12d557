#include "monitoring/stats/binned_tests.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/math/special_functions/gamma.hpp>

#include "monitoring/stats/sort_sample.h"

namespace cairn::monitoring::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Evidently bins a numeric column into Sturges bins when its reference sample has more
// distinct values than this; otherwise one bin per distinct value.
constexpr size_t kMaxValueBins = 20;

// scipy.special.rel_entr: x·ln(x/y), 0 when x == 0 and y >= 0, +inf otherwise.
double RelEntr(double x, double y) {
  if (x > 0 && y > 0) return x * std::log(x / y);
  if (x == 0 && y >= 0) return 0;
  return std::numeric_limits<double>::infinity();
}

double Sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Counts of codes 0..size-1 (categorical samples hold codes as doubles).
void CountCodes(std::span<const double> codes, std::vector<int64_t>& counts) {
  for (double c : codes) {
    const auto code = static_cast<size_t>(c);
    if (code >= counts.size()) counts.resize(code + 1, 0);
    ++counts[code];
  }
}

// Whether the sorted `sample` has more than `limit` distinct values (stops at the
// first limit + 1).
bool MoreDistinctThan(std::span<const double> sorted, size_t limit) {
  size_t distinct = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i == 0 || sorted[i] != sorted[i - 1]) {
      if (distinct == limit) return true;
      ++distinct;
    }
  }
  return false;
}

std::pair<double, double> MinMax(std::span<const double> a, std::span<const double> b,
                                 bool sorted) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  if (sorted) {
    if (!a.empty()) lo = std::min(lo, a.front()), hi = std::max(hi, a.back());
    if (!b.empty()) lo = std::min(lo, b.front()), hi = std::max(hi, b.back());
    return {lo, hi};
  }
  for (std::span<const double> s : {a, b}) {
    double l = lo, h = hi;
    for (double x : s) {
      l = x < l ? x : l;
      h = x > h ? x : h;
    }
    lo = l;
    hi = h;
  }
  return {lo, hi};
}

// Counts of `sample` in the bins of `edges` as numpy.histogram counts them: bin i holds
// edges[i] <= x < edges[i+1], the last bin also x == edges.back(); values outside are
// not counted. One pass: the bin is estimated arithmetically and corrected against the
// edges themselves, so the result is the comparison rule exactly.
std::vector<double> HistogramCounts(std::span<const double> sample,
                                    const std::vector<double>& edges) {
  const size_t bins = edges.size() - 1;
  std::vector<int64_t> counts(bins, 0);
  const double first = edges.front();
  const double last = edges.back();
  const double scale = static_cast<double>(bins) / (last - first);
  const auto top = static_cast<int64_t>(bins) - 1;
  for (double x : sample) {
    if (!(x >= first && x <= last)) continue;
    auto i = static_cast<int64_t>((x - first) * scale);
    i = std::clamp<int64_t>(i, 0, top);
    while (i > 0 && x < edges[i]) --i;
    while (i < top && x >= edges[i + 1]) ++i;
    ++counts[i];
  }
  return std::vector<double>(counts.begin(), counts.end());
}

// Distinct values of both samples with a count per sample: an open-addressing table
// keyed by the value's bits (-0.0 folded into 0.0, as pandas counts them), a one-entry
// cache in front for runs of equal values. No allocation per value.
class DistinctCounter {
 public:
  DistinctCounter() { Rehash(64); }

  void Add(double x, int sample) {
    if (x == 0) x = 0;  // -0.0 → +0.0
    if (size_ > 0 && x == last_value_) {
      ++counts_[last_slot_][sample];
      return;
    }
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    size_t i = Hash(bits) & mask_;
    while (used_[i] && keys_[i] != x) i = (i + 1) & mask_;
    if (!used_[i]) {
      used_[i] = 1;
      keys_[i] = x;
      counts_[i] = {0, 0};
      if (++size_ * 2 > keys_.size()) {
        Rehash(keys_.size() * 2);
        i = Hash(bits) & mask_;
        while (keys_[i] != x) i = (i + 1) & mask_;
      }
    }
    ++counts_[i][sample];
    last_value_ = x;
    last_slot_ = i;
  }

  size_t size() const { return size_; }

  // Ascending values with their counts.
  void Extract(BinnedCounts& out) const {
    std::vector<size_t> slots;
    slots.reserve(size_);
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (used_[i]) slots.push_back(i);
    }
    std::sort(slots.begin(), slots.end(), [&](size_t a, size_t b) { return keys_[a] < keys_[b]; });
    for (size_t i : slots) {
      out.values.push_back(keys_[i]);
      out.reference.push_back(static_cast<double>(counts_[i][0]));
      out.current.push_back(static_cast<double>(counts_[i][1]));
    }
  }

 private:
  static size_t Hash(uint64_t bits) {
    bits ^= bits >> 33;
    bits *= 0xff51afd7ed558ccdULL;
    bits ^= bits >> 33;
    return static_cast<size_t>(bits);
  }

  void Rehash(size_t capacity) {
    std::vector<double> keys(capacity);
    std::vector<std::array<int64_t, 2>> counts(capacity);
    std::vector<uint8_t> used(capacity, 0);
    const size_t mask = capacity - 1;
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (!used_[i]) continue;
      uint64_t bits;
      std::memcpy(&bits, &keys_[i], sizeof bits);
      size_t j = Hash(bits) & mask;
      while (used[j]) j = (j + 1) & mask;
      used[j] = 1;
      keys[j] = keys_[i];
      counts[j] = counts_[i];
    }
    keys_ = std::move(keys);
    counts_ = std::move(counts);
    used_ = std::move(used);
    mask_ = mask;
    size_ = 0;
    for (uint8_t u : used_) size_ += u;
    last_value_ = std::numeric_limits<double>::quiet_NaN();  // never equal
  }

  std::vector<double> keys_;
  std::vector<std::array<int64_t, 2>> counts_;
  std::vector<uint8_t> used_;
  size_t mask_ = 0;
  size_t size_ = 0;
  double last_value_ = std::numeric_limits<double>::quiet_NaN();
  size_t last_slot_ = 0;
};

// One bin per distinct value of both samples (ascending), with the counts of each sample.
// Sorted samples: one merge walk; otherwise a DistinctCounter.
void SortedValueBins(const std::vector<double>& a, const std::vector<double>& b,
                     BinnedCounts& out);

// Past this many distinct values a table is slower than sorting copies (radix sort).
constexpr size_t kMaxHashedValues = 1 << 16;

void ValueBins(const ColumnPair& column, BinnedCounts& out) {
  if (column.sorted) {
    SortedValueBins(column.reference, column.current, out);
    return;
  }
  DistinctCounter counter;
  bool many = false;
  const std::vector<double>* samples[2] = {&column.reference, &column.current};
  for (int which = 0; which < 2 && !many; ++which) {
    for (double x : *samples[which]) {
      counter.Add(x, which);
      if (counter.size() > kMaxHashedValues) {
        many = true;
        break;
      }
    }
  }
  if (!many) {
    counter.Extract(out);
    return;
  }
  std::vector<double> a = column.reference;
  std::vector<double> b = column.current;
  SortSample(a);
  SortSample(b);
  SortedValueBins(a, b, out);
}

// One merge walk over two sorted samples.
void SortedValueBins(const std::vector<double>& a, const std::vector<double>& b,
                     BinnedCounts& out) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    const double v = j == b.size() || (i < a.size() && a[i] < b[j]) ? a[i] : b[j];
    size_t ci = i, cj = j;
    while (i < a.size() && a[i] == v) ++i;
    while (j < b.size() && b[j] == v) ++j;
    out.values.push_back(v);
    out.reference.push_back(static_cast<double>(i - ci));
    out.current.push_back(static_cast<double>(j - cj));
  }
}

void CodeBins(const ColumnPair& column, BinnedCounts& out) {
  std::vector<int64_t> ref(column.categories.size(), 0);
  std::vector<int64_t> cur(column.categories.size(), 0);
  CountCodes(column.reference, ref);
  CountCodes(column.current, cur);
  cur.resize(std::max(ref.size(), cur.size()), 0);
  ref.resize(cur.size(), 0);
  for (size_t code = 0; code < ref.size(); ++code) {
    if (ref[code] == 0 && cur[code] == 0) continue;
    out.values.push_back(static_cast<double>(code));
    out.reference.push_back(static_cast<double>(ref[code]));
    out.current.push_back(static_cast<double>(cur[code]));
  }
}

// Shares (count / sample size) of both samples.
void Shares(const BinnedCounts& bins, size_t n_ref, size_t n_cur, std::vector<double>* ref,
            std::vector<double>* cur) {
  ref->resize(bins.reference.size());
  cur->resize(bins.current.size());
  for (size_t i = 0; i < bins.reference.size(); ++i) {
    (*ref)[i] = bins.reference[i] / static_cast<double>(n_ref);
    (*cur)[i] = bins.current[i] / static_cast<double>(n_cur);
  }
}

// Evidently's feel_zeroes on one sample's shares.
void FillZeroes(std::vector<double>& shares) {
  double min_nonzero = std::numeric_limits<double>::infinity();
  for (double s : shares) {
    if (s != 0 && s < min_nonzero) min_nonzero = s;
  }
  if (!std::isfinite(min_nonzero)) return;  // an empty sample: nothing to smooth against
  const double fill = min_nonzero <= 0.0001 ? min_nonzero / 1e6 : 0.0001;
  for (double& s : shares) {
    if (s == 0) s = fill;
  }
}

bool Empty(const ColumnPair& column) {
  return column.reference.empty() || column.current.empty();
}

// scipy.special.ndtr (the standard normal CDF), in the cephes formulation.
double NormalCdf(double a) {
  const double x = a * M_SQRT1_2;
  const double z = std::fabs(x);
  if (z < M_SQRT1_2) return 0.5 + 0.5 * std::erf(x);
  const double y = 0.5 * std::erfc(z);
  return x > 0 ? 1.0 - y : y;
}

// Distinct keys of both samples and, per value of the concatenation reference ‖ current,
// the index of its key (numeric: ascending values; categorical: codes).
struct KeyedSample {
  std::vector<int32_t> keys;  // reference values first, then current
  size_t n_keys = 0;
};

KeyedSample KeySamples(const ColumnPair& column) {
  KeyedSample out;
  out.keys.reserve(column.reference.size() + column.current.size());
  if (column.categorical) {
    std::vector<int32_t> index(column.categories.size(), -1);
    for (std::span<const double> s : {std::span<const double>(column.reference),
                                      std::span<const double>(column.current)}) {
      for (double c : s) {
        const auto code = static_cast<size_t>(c);
        if (code >= index.size()) index.resize(code + 1, -1);
        if (index[code] < 0) index[code] = static_cast<int32_t>(out.n_keys++);
        out.keys.push_back(index[code]);
      }
    }
    return out;
  }
  BinnedCounts bins;
  ValueBins(column, bins);
  out.n_keys = bins.values.size();
  for (std::span<const double> s : {std::span<const double>(column.reference),
                                    std::span<const double>(column.current)}) {
    for (double x : s) {
      out.keys.push_back(static_cast<int32_t>(
          std::lower_bound(bins.values.begin(), bins.values.end(), x) - bins.values.begin()));
    }
  }
  return out;
}

// 0.5 · Σ |ref_k / n_ref − cur_k / n_cur| (Evidently's _total_variation_distance).
double Tvd(const std::vector<int64_t>& ref, const std::vector<int64_t>& cur, double n_ref,
           double n_cur) {
  double sum = 0;
  for (size_t k = 0; k < ref.size(); ++k) {
    if (ref[k] == 0 && cur[k] == 0) continue;
    sum += std::fabs(static_cast<double>(ref[k]) / n_ref - static_cast<double>(cur[k]) / n_cur);
  }
  return 0.5 * sum;
}

// 2·n_ref·n_cur · TVD = Σ |ref_k·n_cur − cur_k·n_ref|, exactly (to compare statistics
// without the rounding of the shares).
__int128 ScaledTvd(const std::vector<int64_t>& ref, const std::vector<int64_t>& cur,
                   int64_t n_ref, int64_t n_cur) {
  __int128 sum = 0;
  for (size_t k = 0; k < ref.size(); ++k) {
    const __int128 d =
        static_cast<__int128>(ref[k]) * n_cur - static_cast<__int128>(cur[k]) * n_ref;
    sum += d < 0 ? -d : d;
  }
  return sum;
}

// numpy's legacy RandomState (MT19937) as far as the permutation test needs it.
class LegacyMt19937 {
 public:
  explicit LegacyMt19937(uint32_t seed) {
    state_[0] = seed;
    for (uint32_t i = 1; i < kN; ++i) {
      state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + i;
    }
    pos_ = kN;
  }

  uint32_t Next32() {
    if (pos_ >= kN) Refill();
    uint32_t y = state_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  // numpy's random_interval: uniform in [0, max] by masking and rejection (max < 2^32).
  uint32_t Interval(uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t value;
    while ((value = (Next32() & mask)) > max) {
    }
    return value;
  }

 private:
  static constexpr uint32_t kN = 624;
  static constexpr uint32_t kM = 397;

  void Refill() {
    constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
    auto twist = [&](uint32_t i, uint32_t next, uint32_t far) {
      const uint32_t y = (state_[i] & kUpper) | (state_[next] & kLower);
      state_[i] = state_[far] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
    };
    uint32_t i = 0;
    for (; i < kN - kM; ++i) twist(i, i + 1, i + kM);
    for (; i < kN - 1; ++i) twist(i, i + 1, i + kM - kN);
    twist(kN - 1, 0, kM - 1);
    pos_ = 0;
  }

  std::array<uint32_t, kN> state_{};
  uint32_t pos_ = 0;
};

}  // namespace

std::vector<uint32_t> LegacyPermutation(uint32_t seed, uint32_t n) {
  LegacyMt19937 rng(seed);
  std::vector<uint32_t> perm(n);
  for (uint32_t i = 0; i < n; ++i) perm[i] = i;
  for (uint32_t i = n; i-- > 1;) std::swap(perm[i], perm[rng.Interval(i)]);
  return perm;
}

std::vector<double> SturgesEdges(double min, double max, size_t count, bool integer) {
  double first = min, last = max;
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  size_t bins = 1;
  if (count > 0) {
    double width = (max - min) / (std::log2(static_cast<double>(count)) + 1.0);
    if (integer && width != 0 && width < 1) width = 1;  // numpy, for integer dtypes
    if (width != 0) bins = static_cast<size_t>(std::ceil((last - first) / width));
  }
  // numpy.linspace(first, last, bins + 1): start + i·step, the last edge exactly `last`.
  std::vector<double> edges(bins + 1);
  const double step = (last - first) / static_cast<double>(bins);
  for (size_t i = 0; i <= bins; ++i) edges[i] = static_cast<double>(i) * step + first;
  edges[bins] = last;
  return edges;
}

BinnedCounts BinColumn(const ColumnPair& column) {
  BinnedCounts out;
  if (column.categorical) {
    CodeBins(column, out);
    return out;
  }
  if (column.sorted) {
    if (!MoreDistinctThan(column.reference, kMaxValueBins)) {
      ValueBins(column, out);
      return out;
    }
  } else {
    // Count the reference until it shows a 21st value; few values → finish the counts.
    DistinctCounter counter;
    bool many = false;
    for (double x : column.reference) {
      counter.Add(x, 0);
      if (counter.size() > kMaxValueBins) {
        many = true;
        break;
      }
    }
    if (!many) {
      for (double x : column.current) counter.Add(x, 1);
      counter.Extract(out);
      return out;
    }
  }
  const auto [lo, hi] = MinMax(column.reference, column.current, column.sorted);
  out.edges =
      SturgesEdges(lo, hi, column.reference.size() + column.current.size(), column.integer);
  out.reference = HistogramCounts(column.reference, out.edges);
  out.current = HistogramCounts(column.current, out.edges);
  return out;
}

void SmoothedShares(const BinnedCounts& bins, std::vector<double>* reference,
                    std::vector<double>* current) {
  Shares(bins, static_cast<size_t>(Sum(bins.reference)), static_cast<size_t>(Sum(bins.current)),
         reference, current);
  FillZeroes(*reference);
  FillZeroes(*current);
}

double JensenShannon(const ColumnPair& column) {
  if (Empty(column)) return kNaN;
  const BinnedCounts bins = BinColumn(column);
  std::vector<double> p, q;
  Shares(bins, column.reference.size(), column.current.size(), &p, &q);
  const double sp = Sum(p), sq = Sum(q);
  double left = 0, right = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double pi = p[i] / sp, qi = q[i] / sq;
    const double m = (pi + qi) / 2.0;
    left += RelEntr(pi, m);
    right += RelEntr(qi, m);
  }
  return std::sqrt((left + right) / 2.0);
}

double Psi(const ColumnPair& column) {
  if (Empty(column)) return kNaN;
  const BinnedCounts bins = BinColumn(column);
  std::vector<double> r, c;
  Shares(bins, column.reference.size(), column.current.size(), &r, &c);
  FillZeroes(r);
  FillZeroes(c);
  double psi = 0;
  for (size_t i = 0; i < r.size(); ++i) psi += (r[i] - c[i]) * std::log(r[i] / c[i]);
  return psi;
}

double KlDivergence(const ColumnPair& column) {
  if (Empty(column)) return kNaN;
  const BinnedCounts bins = BinColumn(column);
  std::vector<double> r, c;
  Shares(bins, column.reference.size(), column.current.size(), &r, &c);
  FillZeroes(r);
  FillZeroes(c);
  const double sr = Sum(r), sc = Sum(c);
  double kl = 0;
  for (size_t i = 0; i < r.size(); ++i) kl += RelEntr(r[i] / sr, c[i] / sc);
  return kl;
}

double Hellinger(const ColumnPair& column) {
  if (Empty(column)) return kNaN;
  const double n_ref = static_cast<double>(column.reference.size());
  const double n_cur = static_cast<double>(column.current.size());
  double overlap = 0;
  if (column.categorical) {
    BinnedCounts bins;
    CodeBins(column, bins);
    for (size_t i = 0; i < bins.values.size(); ++i) {
      overlap += std::sqrt((bins.reference[i] / n_ref) * (bins.current[i] / n_cur));
    }
  } else {
    // Sturges edges over the distinct values of both samples (not over the values), and
    // the two density histograms on them, as Evidently's hellinger_stat_test.
    BinnedCounts distinct;
    ValueBins(column, distinct);
    const std::vector<double> edges =
        SturgesEdges(distinct.values.front(), distinct.values.back(), distinct.values.size(),
                     column.integer);
    const std::vector<double> h1 = HistogramCounts(column.reference, edges);
    const std::vector<double> h2 = HistogramCounts(column.current, edges);
    const double t1 = Sum(h1), t2 = Sum(h2);
    const double bin_width =
        (edges.back() - edges.front()) / static_cast<double>(edges.size() - 1);
    for (size_t i = 0; i < h1.size(); ++i) {
      const double width = edges[i + 1] - edges[i];
      const double d1 = h1[i] / width / t1;
      const double d2 = h2[i] / width / t2;
      overlap += std::sqrt(d1 * d2) * bin_width;
    }
  }
  overlap = std::clamp(overlap, 0.0, 1.0);
  return std::sqrt(1 - overlap);
}

double TotalVariationDistance(const ColumnPair& column) {
  if (Empty(column)) return kNaN;
  const KeyedSample keyed = KeySamples(column);
  std::vector<int64_t> ref(keyed.n_keys, 0), cur(keyed.n_keys, 0);
  const size_t n_ref = column.reference.size();
  for (size_t i = 0; i < keyed.keys.size(); ++i) ++(i < n_ref ? ref : cur)[keyed.keys[i]];
  return Tvd(ref, cur, static_cast<double>(n_ref), static_cast<double>(column.current.size()));
}

StatisticAndP TotalVariation(const ColumnPair& column) {
  StatisticAndP out;
  if (Empty(column)) return {kNaN, kNaN, false};
  KeyedSample keyed = KeySamples(column);
  const size_t n_ref = column.reference.size();
  const size_t n = keyed.keys.size();
  const double dn_ref = static_cast<double>(n_ref);
  const double dn_cur = static_cast<double>(column.current.size());
  std::vector<int64_t> total(keyed.n_keys, 0), ref(keyed.n_keys, 0), cur(keyed.n_keys, 0);
  for (size_t i = 0; i < n; ++i) {
    ++total[keyed.keys[i]];
    if (i >= n_ref) ++cur[keyed.keys[i]];
  }
  for (size_t k = 0; k < total.size(); ++k) ref[k] = total[k] - cur[k];
  out.statistic = Tvd(ref, cur, dn_ref, dn_cur);
  const auto i_ref = static_cast<int64_t>(n_ref);
  const auto i_cur = static_cast<int64_t>(column.current.size());
  const __int128 observed = ScaledTvd(ref, cur, i_ref, i_cur);

  // Evidently's permutation_test: np.random.seed(0), then 1000 times a new reference of
  // n_ref values drawn without replacement from reference ‖ current (RandomState.choice =
  // the first n_ref of a Fisher–Yates permutation), the rest the new current; p = share
  // of permuted statistics >= the observed one. The shuffle is replayed on the keys
  // themselves; positions below n_ref are never read, so only their draws are made.
  // Statistics are compared exactly (in integers): Evidently compares floating-point sums
  // whose order follows a Python set's, so its count of exact ties — and its p-value —
  // varies with PYTHONHASHSEED; counting every tie is what "observed <= permuted" means.
  constexpr int kIterations = 1000;
  LegacyMt19937 rng(0);
  std::vector<int32_t> shuffled;
  int at_least = 0;
  for (int it = 0; it < kIterations; ++it) {
    shuffled = keyed.keys;
    std::fill(cur.begin(), cur.end(), 0);
    size_t i = n;
    while (i-- > 1) {
      const uint32_t j = rng.Interval(static_cast<uint32_t>(i));
      if (i < n_ref) {
        // Positions [0, i] form the new reference whatever the remaining swaps do.
        continue;
      }
      std::swap(shuffled[i], shuffled[j]);
      ++cur[shuffled[i]];
    }
    for (size_t k = 0; k < total.size(); ++k) ref[k] = total[k] - cur[k];
    if (observed <= ScaledTvd(ref, cur, i_ref, i_cur)) ++at_least;
  }
  out.p_value = static_cast<double>(at_least) / kIterations;
  return out;
}

StatisticAndP ChiSquared(const ColumnPair& column) {
  if (Empty(column)) return {kNaN, kNaN, false};
  BinnedCounts bins;
  if (column.categorical) {
    CodeBins(column, bins);
  } else {
    ValueBins(column, bins);
  }
  const double k_norm =
      static_cast<double>(column.current.size()) / static_cast<double>(column.reference.size());
  double stat = 0;
  for (size_t i = 0; i < bins.reference.size(); ++i) {
    const double expected = bins.reference[i] * k_norm;
    const double d = bins.current[i] - expected;
    stat += d * d / expected;  // +inf for a value the reference never had
  }
  const double df = static_cast<double>(bins.reference.size()) - 1;
  StatisticAndP out;
  out.statistic = stat;
  if (df < 1 || std::isnan(stat)) {
    out.p_value = kNaN;  // scipy: chi² with 0 degrees of freedom has no p-value
  } else if (std::isinf(stat)) {
    out.p_value = 0;
  } else {
    out.p_value = boost::math::gamma_q(df / 2, stat / 2);
  }
  return out;
}

StatisticAndP ProportionZ(const ColumnPair& column) {
  if (Empty(column)) return {kNaN, kNaN, false};
  BinnedCounts bins;
  if (column.categorical) {
    CodeBins(column, bins);
  } else {
    ValueBins(column, bins);
  }
  StatisticAndP out;
  const size_t n_bins = bins.values.size();
  if (n_bins == 1) {  // one and the same value in both samples
    out.statistic = 0;
    out.p_value = 1;
    return out;
  }
  // The base key is the smallest: by value for numbers; for categories as Python sorts
  // the labels (numerically when every label is a number, as pandas would hold them).
  size_t base = 0;
  if (column.categorical) {
    std::vector<double> numbers(n_bins);
    bool all_numbers = true;
    for (size_t i = 0; i < n_bins && all_numbers; ++i) {
      const std::string& label = column.categories[static_cast<size_t>(bins.values[i])];
      char* end = nullptr;
      numbers[i] = std::strtod(label.c_str(), &end);
      all_numbers = !label.empty() && end == label.c_str() + label.size();
    }
    for (size_t i = 1; i < n_bins; ++i) {
      const bool less =
          all_numbers ? numbers[i] < numbers[base]
                      : column.categories[static_cast<size_t>(bins.values[i])] <
                            column.categories[static_cast<size_t>(bins.values[base])];
      if (less) base = i;
    }
  }
  const double n1 = static_cast<double>(column.reference.size());
  const double n2 = static_cast<double>(column.current.size());
  const double p1 = (n1 - bins.reference[base]) / n1;
  const double p2 = (n2 - bins.current[base]) / n2;
  const double pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const double z = (p1 - p2) / std::sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
  out.statistic = z;
  out.p_value = 2 * (1 - NormalCdf(std::fabs(z)));
  return out;
}

}  // namespace cairn::monitoring::stats
