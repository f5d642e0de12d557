#pragma once
// Trailing-window aggregation over one entity's rows: the engine behind aggregation
// features (FeatureSpec::agg over `of` in `window_ms`) in the point-in-time join and in
// materialization.

#include <cstdint>
#include <vector>

#include "features/definitions.h"
#include "features/types.h"

namespace cairn::features {

// Aggregate over a trailing window (ts - window_ms, ts] of one entity's rows, fed in
// non-decreasing event-time order, queried at non-decreasing times.
//
//   count → int64 (0 on an empty window)
//   sum   → double (null on an empty window)
//   mean, min, max → double (null on an empty window)
//   kNone → always null
//
// Null inputs (valid = false) are skipped: not counted, not summed. NaN inputs are values:
// sum and mean become NaN, and so do min and max, while a NaN is in the window; ±inf follow
// IEEE arithmetic (inf + -inf = NaN).
//
// Usage per query time ts: Add every row with event_ts <= ts, then AdvanceTo(ts), then
// Result(). The window's upper bound is the caller's business (rows are only ever added up
// to the query time); AdvanceTo enforces the lower bound. A row added with
// event_ts <= the last AdvanceTo's cutoff (ts - window_ms) is already outside the window and
// is dropped. window_ms <= 0 makes every window empty once AdvanceTo has been called.
//
// Cost: Add, AdvanceTo and Result are O(1) amortized. Precision: no value is ever
// subtracted out of a running total. The window is kept as two stacks (the "two-stack
// queue" of sliding-window aggregation): the older stack stores, for each element, the
// aggregate of it and everything newer in that stack; the newer stack keeps one running
// aggregate. Eviction pops the older stack; when it runs out the newer stack is flipped
// into it (each element is moved once). Sums are accumulated in double-double (TwoSum), so
// sum and mean equal an exact recomputation over the window's values to about 1e-15
// relative regardless of what was evicted before (an evicted 1e300 or inf leaves no residue).
//
// Not thread-safe; one instance per (feature, entity stream).
class TrailingWindow {
 public:
  TrailingWindow(AggFn fn, int64_t window_ms);

  AggFn fn() const { return fn_; }
  int64_t window_ms() const { return window_ms_; }

  void Reset();  // next entity: empties the window and forgets the last AdvanceTo
  void Add(int64_t event_ts, double v, bool valid);
  void AdvanceTo(int64_t ts);  // evict rows with event_ts <= ts - window_ms
  Value Result() const;        // int64_t for count, double or null otherwise

  // Rows (non-null values) currently in the window.
  int64_t size() const { return static_cast<int64_t>(older_.size() + newer_.size()); }

 private:
  // A partial aggregate: hi + lo is a double-double sum; hi alone is the min or max.
  struct Agg {
    double hi;
    double lo;
  };
  struct Entry {
    int64_t ts;
    double v;
    Agg agg;  // older stack: aggregate of this entry and every newer entry of the stack
  };

  Agg Identity() const;
  Agg Combine(const Agg& a, const Agg& b) const;
  Agg Of(double v) const { return Agg{v, 0.0}; }
  void PopOldest();

  AggFn fn_;
  int64_t window_ms_;
  int64_t cutoff_;             // rows with event_ts <= cutoff_ are out of the window
  std::vector<Entry> older_;   // top (back) = oldest row in the window
  std::vector<Entry> newer_;   // in arrival order; agg unused
  Agg newer_agg_;
};

}  // namespace cairn::features
