#include "features/offline/batch_sort.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <numeric>

#include "features/entity_key.h"

namespace cairn::features::offline {
namespace {

// Rows fetched this far ahead of the copy in the gathers (random reads into large
// columns: one cache miss each without it).
constexpr size_t kPrefetchAhead = 16;

template <typename T>
void GatherValues(const T* src, const uint32_t* idx, size_t n, T* dst) {
  size_t i = 0;
  for (; i + kPrefetchAhead < n; ++i) {
    __builtin_prefetch(src + idx[i + kPrefetchAhead]);
    dst[i] = src[idx[i]];
  }
  for (; i < n; ++i) dst[i] = src[idx[i]];
}

void SizeLike(const Column& src, size_t n, Column* dst) {
  dst->type = src.type;
  dst->valid.resize(n);
  switch (src.type) {
    case FeatureType::kDouble:
      dst->doubles.resize(n);
      dst->ints.clear();
      dst->strings.clear();
      break;
    case FeatureType::kString:
      dst->strings.resize(n);
      dst->ints.clear();
      dst->doubles.clear();
      break;
    default:
      dst->ints.resize(n);
      dst->doubles.clear();
      dst->strings.clear();
      break;
  }
}

// dst = rows idx[0..n) of src.
void GatherColumn(const Column& src, const uint32_t* idx, size_t n, bool has_nulls,
                  Column* dst) {
  SizeLike(src, n, dst);
  switch (src.type) {
    case FeatureType::kDouble: GatherValues(src.doubles.data(), idx, n, dst->doubles.data()); break;
    case FeatureType::kString:
      for (size_t i = 0; i < n; ++i) dst->strings[i] = src.strings[idx[i]];
      break;
    default: GatherValues(src.ints.data(), idx, n, dst->ints.data()); break;
  }
  if (has_nulls) {
    GatherValues(src.valid.data(), idx, n, dst->valid.data());
  } else {
    std::memset(dst->valid.data(), 1, n);
  }
}

// dst = rows [begin, begin + n) of src.
void CopyRange(const Column& src, size_t begin, size_t n, Column* dst) {
  SizeLike(src, n, dst);
  switch (src.type) {
    case FeatureType::kDouble:
      std::copy_n(src.doubles.begin() + begin, n, dst->doubles.begin());
      break;
    case FeatureType::kString:
      std::copy_n(src.strings.begin() + begin, n, dst->strings.begin());
      break;
    default: std::copy_n(src.ints.begin() + begin, n, dst->ints.begin()); break;
  }
  std::copy_n(src.valid.begin() + begin, n, dst->valid.begin());
}

// Orders two nullable int64 cells as CompareCells does: <0, 0, >0.
inline int CompareInt(bool a_valid, int64_t a, bool b_valid, int64_t b) {
  if (a_valid != b_valid) return a_valid ? 1 : -1;
  if (!a_valid || a == b) return 0;
  return a < b ? -1 : 1;
}

}  // namespace

SortedBatch::SortedBatch(std::span<const Column* const> columns,
                         std::span<const uint32_t> key_idx, uint32_t event_idx,
                         uint32_t created_idx)
    : cols_(columns.begin(), columns.end()),
      key_idx_(key_idx.begin(), key_idx.end()),
      event_idx_(event_idx),
      created_idx_(created_idx) {
  rows_ = cols_.empty() ? 0 : cols_[0]->size();
  for (const Column* c : cols_)
    has_nulls_.push_back(std::memchr(c->valid.data(), 0, c->valid.size()) != nullptr);
  // A table without keys (a source's raw rows) is ordered by (event, created): the event
  // time then plays the key's part in the integer-key sort.
  if (key_idx_.size() <= 1) int_key_col_ = key_idx_.empty() ? event_idx_ : key_idx_[0];
  one_int_key_ = key_idx_.size() <= 1 && cols_[int_key_col_]->type != FeatureType::kDouble &&
                 cols_[int_key_col_]->type != FeatureType::kString;
  already_sorted_ = CheckSorted();
  if (already_sorted_) return;
  if (one_int_key_) {
    SortOneIntKey();
  } else {
    SortGeneric();
  }
}

bool SortedBatch::CheckSorted() const {
  const Column& ev = *cols_[event_idx_];
  const Column& cr = *cols_[created_idx_];
  if (one_int_key_) {
    const Column& key = *cols_[int_key_col_];
    for (size_t r = 1; r < rows_; ++r) {
      int c = CompareInt(key.valid[r - 1], key.ints[r - 1], key.valid[r], key.ints[r]);
      if (c == 0) c = CompareInt(ev.valid[r - 1], ev.ints[r - 1], ev.valid[r], ev.ints[r]);
      if (c == 0) c = CompareInt(cr.valid[r - 1], cr.ints[r - 1], cr.valid[r], cr.ints[r]);
      if (c > 0) return false;
    }
    return true;
  }
  for (size_t r = 1; r < rows_; ++r) {
    int c = 0;
    for (size_t k = 0; c == 0 && k < key_idx_.size(); ++k)
      c = CompareCells(*cols_[key_idx_[k]], r - 1, *cols_[key_idx_[k]], r);
    if (c == 0) c = CompareCells(ev, r - 1, ev, r);
    if (c == 0) c = CompareCells(cr, r - 1, cr, r);
    if (c > 0) return false;
  }
  return true;
}

void SortedBatch::SortOneIntKey() {
  const Column& key = *cols_[int_key_col_];
  const Column& ev = *cols_[event_idx_];
  const Column& cr = *cols_[created_idx_];
  const size_t n = rows_;
  size_t nulls = 0;
  if (has_nulls_[int_key_col_]) nulls = std::count(key.valid.begin(), key.valid.end(), 0);
  // Null keys sort first: they fill [0, nulls) in input order, the others [nulls, n).
  recs_.resize(n);
  constexpr uint64_t kSign = uint64_t{1} << 63;  // int64 order as unsigned order
  uint64_t lo = UINT64_MAX, hi = 0;
  size_t next_null = 0, next_value = nulls;
  for (size_t i = 0; i < n; ++i) {
    bool kv = key.valid[i] != 0;
    uint8_t flags = static_cast<uint8_t>((kv ? kKeyValid : 0) | (ev.valid[i] ? kEvValid : 0) |
                                         (cr.valid[i] ? kCrValid : 0));
    Rec rec{key.ints[i], ev.ints[i], cr.ints[i], static_cast<uint32_t>(i), flags};
    if (kv) {
      uint64_t u = static_cast<uint64_t>(rec.key) ^ kSign;
      lo = std::min(lo, u);
      hi = std::max(hi, u);
      recs_[next_value++] = rec;
    } else {
      recs_[next_null++] = rec;
    }
  }

  // LSD radix sort of the keyed records by (key - min), only over the bits the range
  // needs (100k customer ids: 17 bits, two passes). Stable, so equal keys keep input order.
  const size_t m = n - nulls;
  if (m > 1 && hi > lo) {
    const int bits = 64 - std::countl_zero(hi - lo);
    const int passes = (bits + 10) / 11;
    const int digit = (bits + passes - 1) / passes;
    const uint64_t mask = (uint64_t{1} << digit) - 1;
    std::vector<std::array<uint32_t, 2048>> counts(passes);
    for (auto& c : counts) c.fill(0);
    Rec* src = recs_.data() + nulls;
    for (size_t i = 0; i < m; ++i) {
      uint64_t u = (static_cast<uint64_t>(src[i].key) ^ kSign) - lo;
      for (int p = 0; p < passes; ++p) ++counts[p][(u >> (p * digit)) & mask];
    }
    std::vector<Rec> tmp(m);
    Rec* dst = tmp.data();
    for (int p = 0; p < passes; ++p) {
      auto& count = counts[p];
      if (count[(((static_cast<uint64_t>(src[0].key) ^ kSign) - lo) >> (p * digit)) & mask] ==
          m)
        continue;  // one bucket holds every record: this digit is already in order
      uint32_t sum = 0;
      for (size_t b = 0; b <= mask; ++b) {
        uint32_t c = count[b];
        count[b] = sum;
        sum += c;
      }
      const int shift = p * digit;
      for (size_t i = 0; i < m; ++i) {
        uint64_t u = (static_cast<uint64_t>(src[i].key) ^ kSign) - lo;
        dst[count[(u >> shift) & mask]++] = src[i];
      }
      std::swap(src, dst);
    }
    if (src != recs_.data() + nulls) std::copy_n(src, m, recs_.data() + nulls);
  }

  // Within each key, (event ts, created ts, input position); the radix sort kept input
  // order, so a key whose rows arrived in time order needs no sort.
  auto time_less = [](const Rec& a, const Rec& b) {
    int c = CompareInt(a.flags & kEvValid, a.ev, b.flags & kEvValid, b.ev);
    if (c == 0) c = CompareInt(a.flags & kCrValid, a.cr, b.flags & kCrValid, b.cr);
    return c < 0 || (c == 0 && a.idx < b.idx);
  };
  auto sort_run = [&](size_t begin, size_t end) {
    if (end - begin < 2) return;
    auto first = recs_.begin() + begin, last = recs_.begin() + end;
    if (!std::is_sorted(first, last, time_less)) std::sort(first, last, time_less);
  };
  sort_run(0, nulls);
  for (size_t i = nulls; i < n;) {
    size_t j = i + 1;
    while (j < n && recs_[j].key == recs_[i].key) ++j;
    sort_run(i, j);
    i = j;
  }
}

void SortedBatch::SortGeneric() {
  order_.resize(rows_);
  std::iota(order_.begin(), order_.end(), 0u);
  const Column& ev = *cols_[event_idx_];
  const Column& cr = *cols_[created_idx_];
  std::sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) {
    for (uint32_t k : key_idx_) {
      int c = CompareCells(*cols_[k], a, *cols_[k], b);
      if (c != 0) return c < 0;
    }
    int c = CompareCells(ev, a, ev, b);
    if (c == 0) c = CompareCells(cr, a, cr, b);
    return c < 0 || (c == 0 && a < b);
  });
}

void SortedBatch::Gather(size_t begin, size_t n, std::vector<Column>* out) const {
  out->resize(cols_.size());
  if (already_sorted_) {
    for (size_t c = 0; c < cols_.size(); ++c) CopyRange(*cols_[c], begin, n, &(*out)[c]);
    return;
  }
  if (!one_int_key_) {
    for (size_t c = 0; c < cols_.size(); ++c)
      GatherColumn(*cols_[c], order_.data() + begin, n, has_nulls_[c], &(*out)[c]);
    return;
  }
  const Rec* recs = recs_.data() + begin;
  std::vector<uint32_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = recs[i].idx;
  const uint32_t key_col = int_key_col_;
  for (size_t c = 0; c < cols_.size(); ++c) {
    Column& dst = (*out)[c];
    int64_t Rec::*field = nullptr;
    uint8_t flag = 0;
    if (c == key_col) {
      field = &Rec::key;
      flag = kKeyValid;
    } else if (c == event_idx_) {
      field = &Rec::ev;
      flag = kEvValid;
    } else if (c == created_idx_) {
      field = &Rec::cr;
      flag = kCrValid;
    }
    if (field == nullptr) {
      GatherColumn(*cols_[c], idx.data(), n, has_nulls_[c], &dst);
      continue;
    }
    // The key and timestamp columns come from the sorted records, sequentially (a null
    // cell keeps the source's value).
    SizeLike(*cols_[c], n, &dst);
    for (size_t i = 0; i < n; ++i) {
      dst.ints[i] = recs[i].*field;
      dst.valid[i] = (recs[i].flags & flag) != 0;
    }
  }
}

std::vector<uint32_t> SortedBatch::Order() const {
  if (already_sorted_) return {};
  if (!one_int_key_) return order_;
  std::vector<uint32_t> order(recs_.size());
  for (size_t i = 0; i < recs_.size(); ++i) order[i] = recs_[i].idx;
  return order;
}

}  // namespace cairn::features::offline
