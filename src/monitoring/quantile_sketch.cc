#include "monitoring/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace cairn::monitoring {
namespace {

constexpr size_t kMinLevelWidth = 8;
constexpr double kShrink = 2.0 / 3.0;

}  // namespace

QuantileSketch::QuantileSketch(int k) { Reset(k); }

void QuantileSketch::Reset(int k) {
  k_ = std::clamp(k, kMinK, kMaxK);
  n_ = 0;
  levels_.assign(1, {});
  levels_[0].reserve(static_cast<size_t>(k_));
  retained_ = 0;
  UpdateCapacity();
}

size_t QuantileSketch::LevelCapacity(size_t level) const {
  const size_t depth = levels_.size() - 1 - level;  // 0 for the top level
  const double width = std::ceil(static_cast<double>(k_) * std::pow(kShrink, depth));
  if (level == 0) return static_cast<size_t>(k_);
  return std::max(kMinLevelWidth, static_cast<size_t>(width));
}

void QuantileSketch::UpdateCapacity() {
  capacity_ = 0;
  for (size_t level = 0; level < levels_.size(); ++level) capacity_ += LevelCapacity(level);
}

bool QuantileSketch::CoinFlip() {
  // xorshift64: cheap, and fixed-seeded so sketches are reproducible.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return (rng_ >> 32) & 1;
}

void QuantileSketch::Compress() {
  // Compact the lowest level that is at (or, lazily, past) its capacity; one exists
  // whenever the sketch as a whole is full.
  size_t level = 0;
  while (level < levels_.size() && levels_[level].size() < LevelCapacity(level)) ++level;
  if (level >= levels_.size()) return;
  if (level + 1 == levels_.size()) {
    levels_.emplace_back();
    UpdateCapacity();
  }
  CompactLevel(level);
}

void QuantileSketch::CompactLevel(size_t level) {
  std::vector<double>& items = levels_[level];
  if (level == 0) std::sort(items.begin(), items.end());
  // With an odd count the smallest value stays behind at its weight; the rest halve.
  const size_t odd = items.size() % 2;
  const size_t offset = odd + (CoinFlip() ? 1 : 0);
  promoted_.clear();
  for (size_t i = offset; i < items.size(); i += 2) promoted_.push_back(items[i]);
  retained_ -= items.size() - odd - promoted_.size();
  items.resize(odd);
  std::vector<double>& above = levels_[level + 1];
  merged_.resize(above.size() + promoted_.size());
  std::merge(above.begin(), above.end(), promoted_.begin(), promoted_.end(), merged_.begin());
  above.swap(merged_);
}

void QuantileSketch::AddMany(const double* values, size_t n) {
  while (n > 0) {
    const size_t take = std::min(n, capacity_ - retained_);
    levels_[0].insert(levels_[0].end(), values, values + take);
    n_ += static_cast<int64_t>(take);
    retained_ += take;
    values += take;
    n -= take;
    if (retained_ >= capacity_) Compress();
  }
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.n_ == 0) return;
  if (other.k_ < k_) k_ = other.k_;
  if (levels_.size() < other.levels_.size()) levels_.resize(other.levels_.size());
  levels_[0].insert(levels_[0].end(), other.levels_[0].begin(), other.levels_[0].end());
  for (size_t level = 1; level < other.levels_.size(); ++level) {
    const std::vector<double>& theirs = other.levels_[level];
    std::vector<double>& mine = levels_[level];
    std::vector<double> merged(mine.size() + theirs.size());
    std::merge(mine.begin(), mine.end(), theirs.begin(), theirs.end(), merged.begin());
    mine.swap(merged);
  }
  n_ += other.n_;
  retained_ += other.retained_;
  UpdateCapacity();
  while (retained_ >= capacity_) Compress();
}

std::vector<std::pair<double, int64_t>> QuantileSketch::SortedItems() const {
  std::vector<std::pair<double, int64_t>> items;
  items.reserve(retained_);
  for (size_t level = 0; level < levels_.size(); ++level) {
    const int64_t weight = int64_t{1} << level;
    for (double v : levels_[level]) items.emplace_back(v, weight);
  }
  std::sort(items.begin(), items.end());
  return items;
}

std::vector<double> QuantileSketch::Quantiles(const std::vector<double>& qs) const {
  std::vector<double> out(qs.size(), std::numeric_limits<double>::quiet_NaN());
  if (n_ == 0) return out;
  if (exact()) {
    std::vector<double> values = levels_[0];
    std::sort(values.begin(), values.end());
    for (size_t i = 0; i < qs.size(); ++i) {
      const double pos = std::clamp(qs[i], 0.0, 1.0) * static_cast<double>(values.size() - 1);
      const size_t lo = static_cast<size_t>(std::floor(pos));
      const size_t hi = std::min(lo + 1, values.size() - 1);
      const double frac = pos - static_cast<double>(lo);
      out[i] = frac == 0.0 ? values[lo] : values[lo] + frac * (values[hi] - values[lo]);
    }
    return out;
  }
  const std::vector<std::pair<double, int64_t>> items = SortedItems();
  for (size_t i = 0; i < qs.size(); ++i) {
    const double target = std::clamp(qs[i], 0.0, 1.0) * static_cast<double>(n_ - 1);
    int64_t cumulative = 0;
    out[i] = items.back().first;
    for (const auto& [value, weight] : items) {
      cumulative += weight;
      if (static_cast<double>(cumulative) > target) {
        out[i] = value;
        break;
      }
    }
  }
  return out;
}

double QuantileSketch::Quantile(double q) const { return Quantiles({q})[0]; }

double QuantileSketch::RankErrorBound(int k) {
  return 2.296 / std::pow(static_cast<double>(std::clamp(k, kMinK, kMaxK)), 0.9723);
}

Json QuantileSketch::ToJson() const {
  Json levels = Json::array();
  for (const std::vector<double>& level : levels_) levels.push_back(level);
  return Json{{"k", k_}, {"n", n_}, {"levels", std::move(levels)}};
}

absl::StatusOr<QuantileSketch> QuantileSketch::FromJson(const Json& json) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("sketch: ", absl::string_view(what.data(), what.size())));
  };
  if (!json.is_object()) return bad("must be an object {k, n, levels}");
  auto k = json.find("k");
  auto n = json.find("n");
  auto levels = json.find("levels");
  if (k == json.end() || !k->is_number_integer()) return bad("k: must be an integer");
  if (n == json.end() || !n->is_number_integer() || n->get<int64_t>() < 0)
    return bad("n: must be a non-negative integer");
  if (levels == json.end() || !levels->is_array() || levels->empty() || levels->size() > 62)
    return bad("levels: must be a non-empty array of at most 62 levels");
  QuantileSketch sketch(k->get<int>());
  sketch.levels_.clear();
  int64_t weight_sum = 0;
  for (size_t level = 0; level < levels->size(); ++level) {
    const Json& items = (*levels)[level];
    if (!items.is_array()) return bad(absl::StrCat("levels[", level, "]: must be an array"));
    std::vector<double> values;
    values.reserve(items.size());
    for (const Json& item : items) {
      if (!item.is_number()) {
        return bad(absl::StrCat("levels[", level, "]: values must be numbers, got ",
                                item.dump()));
      }
      values.push_back(item.get<double>());
    }
    if (level > 0 && !std::is_sorted(values.begin(), values.end()))
      return bad(absl::StrCat("levels[", level, "]: must be sorted"));
    weight_sum += static_cast<int64_t>(values.size()) << level;
    sketch.retained_ += values.size();
    sketch.levels_.push_back(std::move(values));
  }
  while (sketch.levels_.size() > 1 && sketch.levels_.back().empty()) sketch.levels_.pop_back();
  if (weight_sum != n->get<int64_t>()) {
    return bad(absl::StrCat("levels hold values of total weight ", weight_sum, ", but n is ",
                            n->get<int64_t>()));
  }
  sketch.n_ = weight_sum;
  sketch.UpdateCapacity();
  while (sketch.retained_ >= sketch.capacity_) sketch.Compress();
  return sketch;
}

}  // namespace cairn::monitoring
