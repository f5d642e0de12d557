#include "features/window_agg.h"

#include <cmath>
#include <limits>

namespace cairn::features {
namespace {

constexpr int64_t kNoCutoff = std::numeric_limits<int64_t>::min();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// a - b without signed overflow (saturates).
int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_sub_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return out;
}

}  // namespace

TrailingWindow::TrailingWindow(AggFn fn, int64_t window_ms)
    : fn_(fn), window_ms_(window_ms), cutoff_(kNoCutoff), newer_agg_(Identity()) {}

void TrailingWindow::Reset() {
  older_.clear();
  newer_.clear();
  newer_agg_ = Identity();
  cutoff_ = kNoCutoff;
}

TrailingWindow::Agg TrailingWindow::Identity() const {
  switch (fn_) {
    case AggFn::kMin: return Agg{kInf, 0.0};
    case AggFn::kMax: return Agg{-kInf, 0.0};
    default: return Agg{0.0, 0.0};
  }
}

TrailingWindow::Agg TrailingWindow::Combine(const Agg& a, const Agg& b) const {
  switch (fn_) {
    case AggFn::kMin:
      if (std::isnan(a.hi) || std::isnan(b.hi)) return Agg{kNaN, 0.0};
      return Agg{a.hi < b.hi ? a.hi : b.hi, 0.0};
    case AggFn::kMax:
      if (std::isnan(a.hi) || std::isnan(b.hi)) return Agg{kNaN, 0.0};
      return Agg{a.hi > b.hi ? a.hi : b.hi, 0.0};
    case AggFn::kSum:
    case AggFn::kMean: {
      // Double-double addition: TwoSum of the high parts (exact error term), then the low
      // parts, renormalized. Non-finite sums carry no error term (it would be NaN).
      const double s = a.hi + b.hi;
      if (!std::isfinite(s)) return Agg{s, 0.0};
      const double bb = s - a.hi;
      const double err = (a.hi - (s - bb)) + (b.hi - bb);
      const double lo = err + a.lo + b.lo;
      const double hi = s + lo;
      return Agg{hi, lo - (hi - s)};
    }
    default: return Agg{0.0, 0.0};  // count and kNone need no value aggregate
  }
}

void TrailingWindow::Add(int64_t event_ts, double v, bool valid) {
  if (!valid || event_ts <= cutoff_) return;
  newer_.push_back(Entry{event_ts, v, Agg{0.0, 0.0}});
  newer_agg_ = Combine(newer_agg_, Of(v));
}

void TrailingWindow::PopOldest() {
  if (older_.empty()) {
    // Flip: the newest row goes to the bottom, so each entry's aggregate covers itself and
    // everything newer than it.
    older_.reserve(newer_.size());
    Agg acc = Identity();
    for (size_t idx = newer_.size(); idx-- > 0;) {
      Entry e = newer_[idx];
      acc = Combine(Of(e.v), acc);
      e.agg = acc;
      older_.push_back(e);
    }
    newer_.clear();
    newer_agg_ = Identity();
  }
  older_.pop_back();
}

void TrailingWindow::AdvanceTo(int64_t ts) {
  const int64_t cutoff = SaturatingSub(ts, window_ms_ > 0 ? window_ms_ : 0);
  // window_ms <= 0: (ts - 0, ts] is empty, so evict everything at or before ts too.
  const int64_t effective = window_ms_ > 0 ? cutoff : ts;
  if (effective > cutoff_) cutoff_ = effective;
  while (true) {
    const Entry* oldest = !older_.empty() ? &older_.back()
                          : !newer_.empty() ? &newer_.front()
                                            : nullptr;
    if (oldest == nullptr || oldest->ts > cutoff_) break;
    PopOldest();
  }
}

Value TrailingWindow::Result() const {
  const int64_t n = size();
  switch (fn_) {
    case AggFn::kCount: return n;
    case AggFn::kNone: return std::monostate{};
    default: break;
  }
  if (n == 0) return std::monostate{};
  const Agg total = older_.empty() ? newer_agg_ : Combine(older_.back().agg, newer_agg_);
  switch (fn_) {
    case AggFn::kSum: return total.hi + total.lo;
    case AggFn::kMean: {
      const double mean = total.hi / static_cast<double>(n);
      if (!std::isfinite(mean)) return mean;
      return mean + total.lo / static_cast<double>(n);
    }
    default: return total.hi;
  }
}

}  // namespace cairn::features
