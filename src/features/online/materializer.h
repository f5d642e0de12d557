#pragma once
// Materialization (Feast's `materialize START END`): writes, for every entity key of a
// feature view, its latest row with start <= event_ts < end into the online store.
//
//   - Row features (agg == kNone) come from that row (the greatest event_ts, ties broken
//     by the greatest __created_ts, as the point-in-time join).
//   - Aggregation features are computed as of `end` with TrailingWindow over the key's
//     rows with event_ts in (end - window, end], reading the double column
//     "__agg_input.<feature>" (count with an absent column counts rows). So the stream
//     must start at MaterializeScanStart(spec, start), not at `start`: the window reaches
//     back before the range.
//   - A key whose rows all lie before `start` (or at/after `end`) is not written, so
//     neither are its aggregation values.
//   - The OnlineRow's event_ts / created_ts are those of the chosen row.
//
// Streams in bounded memory: one key's window state plus one batch of output
// (`batch_keys` rows) at a time; the store's newer-or-equal rule makes a rerun harmless.

#include <cstdint>
#include <functional>
#include <span>

#include "absl/status/statusor.h"
#include "features/definitions.h"
#include "features/online/online_store.h"
#include "features/row_stream.h"

namespace cairn::features {

struct MaterializeProgress {
  int64_t rows_read = 0;
  int64_t keys_written = 0;
};

struct MaterializeOptions {
  size_t batch_keys = 10000;  // rows per OnlineStore::Write
  // Called after every Write (and once at the end). May be empty.
  std::function<void(const MaterializeProgress&)> progress;
};

struct MaterializeResult {
  int64_t rows_read = 0;      // rows the stream delivered
  int64_t rows_in_range = 0;  // of which start <= event_ts < end
  int64_t keys_written = 0;   // rows written to the online store (one per key)
};

// The earliest event time the stream must cover: start minus the view's longest
// aggregation window (start when it has none).
int64_t MaterializeScanStart(const FeatureViewSpec& spec, int64_t start);

// Materializes `rows` (the view table in (keys, __event_ts, __created_ts) order, e.g.
// OfflineStore::Scan of "view.<name>" over [MaterializeScanStart(spec, start), end)) into
// `store` under the view's name. `join_keys` names the key columns, in key order.
// InvalidArgument when start >= end or a needed column is missing or mistyped (naming
// it); the store's error when a write fails (rows written before stay written).
absl::StatusOr<MaterializeResult> Materialize(const FeatureViewSpec& spec,
                                              std::span<const Field> join_keys,
                                              RowStream& rows, OnlineStore& store,
                                              int64_t start, int64_t end,
                                              const MaterializeOptions& options = {});

}  // namespace cairn::features
