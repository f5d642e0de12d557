#include "monitoring/category_counter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace cairn::monitoring {

CategoryCounter::CategoryCounter(int capacity) : capacity_(std::max(1, capacity)) {}

void CategoryCounter::Add(std::string_view label, int64_t weight) {
  if (weight <= 0) return;
  total_ += weight;
  auto it = index_.find(ToAbsl(label));
  if (it != index_.end()) {
    entries_[it->second].count += weight;
    return;
  }
  index_.emplace(std::string(label), entries_.size());
  entries_.push_back({std::string(label), weight});
  // Reduce lazily, so that a batch with many new labels costs O(n log n), not O(n·cap).
  if (entries_.size() > 2 * static_cast<size_t>(capacity_) + 16) Flush();
}

void CategoryCounter::Flush() {
  if (entries_.size() <= static_cast<size_t>(capacity_)) return;
  // Subtract the (capacity+1)-th largest count from every label and drop those left at
  // zero or below: at least size - capacity labels go, and each survivor loses the same
  // amount, which is what bounds the undercount.
  std::vector<int64_t> counts;
  counts.reserve(entries_.size());
  for (const LabelCount& e : entries_) counts.push_back(e.count);
  std::nth_element(counts.begin(), counts.begin() + capacity_, counts.end(),
                   std::greater<int64_t>());
  const int64_t cut = counts[static_cast<size_t>(capacity_)];
  std::vector<LabelCount> kept;
  kept.reserve(static_cast<size_t>(capacity_));
  for (LabelCount& e : entries_) {
    if (e.count > cut) kept.push_back({std::move(e.label), e.count - cut});
  }
  undercount_ += cut;
  entries_.swap(kept);
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].label, i);
}

void CategoryCounter::Merge(const CategoryCounter& other) {
  capacity_ = std::min(capacity_, other.capacity_);
  const int64_t total = total_ + other.total_;
  for (const LabelCount& e : other.entries_) Add(e.label, e.count);
  total_ = total;  // Add counted the held part of other's total only
  undercount_ += other.undercount_;
  Flush();
}

std::vector<LabelCount> CategoryCounter::Sorted() const {
  std::vector<LabelCount> out = entries_;
  std::sort(out.begin(), out.end(), [](const LabelCount& a, const LabelCount& b) {
    return a.count != b.count ? a.count > b.count : a.label < b.label;
  });
  return out;
}

Json CategoryCounter::ToJson() const {
  Json labels = Json::array();
  for (const LabelCount& e : Sorted()) labels.push_back(Json::array({e.label, e.count}));
  return Json{{"capacity", capacity_},
              {"total", total_},
              {"undercount", undercount_},
              {"labels", std::move(labels)}};
}

absl::StatusOr<CategoryCounter> CategoryCounter::FromJson(const Json& json) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("categories: ", what));
  };
  if (!json.is_object()) return bad("must be an object {capacity, total, undercount, labels}");
  for (const char* key : {"capacity", "total", "undercount"}) {
    auto it = json.find(key);
    if (it == json.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
      return bad(absl::StrCat(key, ": must be a non-negative integer"));
  }
  auto labels = json.find("labels");
  if (labels == json.end() || !labels->is_array()) return bad("labels: must be an array");
  CategoryCounter counter(json["capacity"].get<int>());
  int64_t held = 0;
  for (const Json& item : *labels) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_string() ||
        !item[1].is_number_integer() || item[1].get<int64_t>() <= 0) {
      return bad(absl::StrCat("labels: each must be [label, count > 0], got ", item.dump()));
    }
    const std::string label = item[0].get<std::string>();
    if (counter.index_.contains(label)) return bad(absl::StrCat("labels: '", label, "' twice"));
    counter.index_.emplace(label, counter.entries_.size());
    counter.entries_.push_back({label, item[1].get<int64_t>()});
    held += item[1].get<int64_t>();
  }
  counter.total_ = json["total"].get<int64_t>();
  counter.undercount_ = json["undercount"].get<int64_t>();
  if (held > counter.total_)
    return bad(absl::StrCat("labels count ", held, " occurrences, more than total ",
                            counter.total_));
  counter.Flush();
  return counter;
}

}  // namespace cairn::monitoring
