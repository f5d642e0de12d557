#pragma once
// A mergeable quantile sketch: KLL (Karnin, Lang, Liberty, "Optimal Quantile Approximation
// in Streams", FOCS 2016) with the lazy compaction schedule of Apache DataSketches'
// KllSketch — levels h = 0, 1, …, H-1 hold values of weight 2^h; level h may hold
// max(8, ceil(k·(2/3)^(H-1-h))) values before it is compacted (sorted, and every other
// value, starting at a random offset, promoted to level h+1). One change for speed:
// level 0 may always hold k values (DataSketches shrinks it to 8 as the sketch grows), so
// values arrive in runs of about k and each compaction of level 0 sorts one run; a
// larger bottom level only means fewer compactions, i.e. no more error.
//
// Error bound. With parameter k, the rank of the value returned for quantile q differs
// from q·n by at most ε·n with probability ≥ 99%, where
//     ε = RankErrorBound(k) = 2.296 / k^0.9723      (k = 400: ε ≈ 0.66%)
// — the bound DataSketches measured for this compaction schedule (its
// getNormalizedRankError(k, false)); quantile_sketch_test checks it on random data. The
// bound holds for merged sketches too (KLL is fully mergeable). While fewer than k values
// were added nothing is compacted and the sketch is exact: Quantile then interpolates
// linearly between order statistics, as numpy.quantile (and pandas' describe) does.
//
// Memory: at most about 4k retained doubles plus one level per doubling of n, whatever n
// is. Add is amortized O(log k). Deterministic: the coin flips come from a fixed-seed
// generator, so the same input in the same order gives the same sketch.
// Not thread-safe; merge per-thread sketches instead.

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"

namespace cairn::monitoring {

class QuantileSketch {
 public:
  static constexpr int kDefaultK = 400;
  static constexpr int kMinK = 8;
  static constexpr int kMaxK = 65535;

  // `k` is clamped to [kMinK, kMaxK].
  explicit QuantileSketch(int k = kDefaultK);

  // Adds one value. The caller filters NaN (a NaN would make the order meaningless).
  void Add(double value) {
    levels_[0].push_back(value);
    ++n_;
    if (++retained_ >= capacity_) Compress();
  }

  // Adds n values (none NaN) — the fast path: copied into level 0 in runs.
  void AddMany(const double* values, size_t n);

  // Adds everything `other` summarized. The result summarizes both streams with the same
  // error bound (of the smaller k when they differ).
  void Merge(const QuantileSketch& other);

  int k() const { return k_; }
  int64_t count() const { return n_; }
  bool empty() const { return n_ == 0; }
  // True while nothing was compacted: every value added is still held.
  bool exact() const { return levels_.size() == 1; }
  size_t retained() const { return retained_; }

  // The q-quantile, q in [0, 1] (clamped); NaN when empty. Exact sketches interpolate
  // linearly between order statistics (numpy's default); otherwise the retained value at
  // weighted rank q·(n-1).
  double Quantile(double q) const;
  // Quantile for each of `qs`, sorting the retained values once.
  std::vector<double> Quantiles(const std::vector<double>& qs) const;

  // The retained values sorted ascending, each with its weight (how many values it
  // stands for); weights sum to count().
  std::vector<std::pair<double, int64_t>> SortedItems() const;

  // ε for parameter k (see the header comment); 0 is returned by RankError() for an exact
  // sketch.
  static double RankErrorBound(int k);
  double RankError() const { return exact() ? 0.0 : RankErrorBound(k_); }

  // {"k", "n", "levels": [[values of level 0], [level 1], …]}. FromJson checks that the
  // weights add up to n and that levels above 0 are sorted.
  Json ToJson() const;
  static absl::StatusOr<QuantileSketch> FromJson(const Json& json);

 private:
  void Compress();
  void Reset(int k);
  void CompactLevel(size_t level);
  void UpdateCapacity();
  size_t LevelCapacity(size_t level) const;
  bool CoinFlip();

  int k_;
  int64_t n_ = 0;
  std::vector<std::vector<double>> levels_;  // level 0 unsorted, the others sorted
  size_t retained_ = 0;
  size_t capacity_ = 0;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  // Scratch for compactions, kept so that compacting does not allocate.
  std::vector<double> promoted_;
  std::vector<double> merged_;
};

}  // namespace cairn::monitoring
