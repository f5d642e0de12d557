#pragma once
// Sorting one OfflineStore::Append batch into segment order: (join keys, __event_ts,
// __created_ts, input position), every column compared as CompareCells does (null first).
// The sorted rows are handed out a block at a time, so the sorted copy never exists whole.
//
// Paths, fastest first:
//   - already sorted (checked in one sequential pass): nothing is sorted or copied;
//   - one integer key (int64, timestamp or bool; the common case): flat 32-byte records
//     (key, event ts, created ts, position) are LSD radix-sorted by key (only the digits
//     the batch's key range needs), then each key's run is sorted by time unless it
//     already is (a time-ordered file keyed by customer needs only the radix passes); the
//     key and timestamp columns of a block come from the records, sequentially;
//   - anything else: a permutation sorted with the generic comparison.
// Every other column is gathered in sorted order once per block, with prefetching; a
// column without nulls skips gathering its validity bytes.
//
// Not thread-safe. Borrows the columns, which must outlive the object and not change.

#include <cstdint>
#include <span>
#include <vector>

#include "features/table.h"

namespace cairn::features::offline {

class SortedBatch {
 public:
  // `columns` in schema order, all of equal length (< 2^32); `key_idx`, `event_idx` and
  // `created_idx` index into them.
  SortedBatch(std::span<const Column* const> columns, std::span<const uint32_t> key_idx,
              uint32_t event_idx, uint32_t created_idx);

  size_t rows() const { return rows_; }
  // True when the input already is in segment order (Gather would copy it unchanged).
  bool already_sorted() const { return already_sorted_; }
  // Replaces `out` (one column per input column, same types) with sorted rows
  // [begin, begin + n).
  void Gather(size_t begin, size_t n, std::vector<Column>* out) const;
  // The sorted order as input row indices (tests; empty when already sorted).
  std::vector<uint32_t> Order() const;

 private:
  struct Rec {
    int64_t key, ev, cr;
    uint32_t idx;
    uint8_t flags;  // kKeyValid | kEvValid | kCrValid
  };
  static constexpr uint8_t kKeyValid = 1, kEvValid = 2, kCrValid = 4;

  bool CheckSorted() const;
  void SortOneIntKey();
  void SortGeneric();

  std::vector<const Column*> cols_;
  std::vector<uint32_t> key_idx_;
  uint32_t event_idx_, created_idx_;
  size_t rows_ = 0;
  bool already_sorted_ = false;
  bool one_int_key_ = false;
  uint32_t int_key_col_ = 0;  // the integer sort key: the one key column, or the event time
  std::vector<uint8_t> has_nulls_;  // per column
  std::vector<Rec> recs_;           // one-int-key path: the sorted records
  std::vector<uint32_t> order_;     // generic path: the sorted permutation
};

}  // namespace cairn::features::offline
