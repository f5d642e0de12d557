#pragma once
// Bounded counts of a categorical column's labels: a Misra–Gries summary (mergeable as in
// Agarwal et al., "Mergeable Summaries", PODS 2012). At most `capacity` labels are held.
// While a column has at most `capacity` distinct labels every count is exact (exact()
// stays true). Beyond that, the summary keeps the frequent labels: each held count
// undercounts its label by at most undercount() ≤ total / (capacity + 1), and every label
// with more than undercount() occurrences is held.
//
// Adding is per distinct label of a batch (the caller counts a batch's codes first), so
// there is no per-row allocation. Not thread-safe; merge per-thread counters instead.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/json.h"

namespace cairn::monitoring {

struct LabelCount {
  std::string label;
  int64_t count = 0;
  bool operator==(const LabelCount&) const = default;
};

class CategoryCounter {
 public:
  static constexpr int kDefaultCapacity = 1000;

  // `capacity` is clamped to at least 1.
  explicit CategoryCounter(int capacity = kDefaultCapacity);

  // Adds `weight` (> 0) occurrences of `label`. Call Flush() after a batch of Adds: the
  // bound on held labels is restored there (and every 2·capacity new labels), not on
  // every Add. Merge and FromJson flush.
  void Add(std::string_view label, int64_t weight);
  void Merge(const CategoryCounter& other);

  int capacity() const { return capacity_; }
  int64_t total() const { return total_; }
  bool exact() const { return undercount_ == 0; }
  int64_t undercount() const { return undercount_; }
  size_t size() const { return entries_.size(); }

  // Held labels, most frequent first (ties by label).
  std::vector<LabelCount> Sorted() const;
  // Restores the capacity bound after Adds (Misra–Gries reduction).
  void Flush();

  // {"capacity", "total", "undercount", "labels": [[label, count], …]} (most frequent
  // first).
  Json ToJson() const;
  static absl::StatusOr<CategoryCounter> FromJson(const Json& json);

 private:
  int capacity_;
  int64_t total_ = 0;
  int64_t undercount_ = 0;
  std::vector<LabelCount> entries_;
  absl::flat_hash_map<std::string, size_t> index_;  // label → entries_ position
};

}  // namespace cairn::monitoring
