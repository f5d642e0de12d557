#pragma once
// The point-in-time join: builds a training set by attaching to every entity row the
// feature values that were current at that row's timestamp (Feast's semantics,
// FACTS.md "Feast").
//
// For each entity row (keys, ts) and each view:
//   - row features: the view row with the same keys, event_ts <= ts and, when the view's
//     ttl_ms > 0, event_ts >= ts - ttl_ms (both ends inclusive), with the greatest
//     event_ts, ties broken by the greatest __created_ts; null when no row qualifies;
//   - aggregation features (agg != kNone): a TrailingWindow (features/window_agg.h) over
//     the view rows of the key with event_ts in (ts - window_ms, ts], reading the double
//     column "__agg_input.<feature>" (count without that column counts rows). A key that
//     the view lacks gets the empty-window result (count 0, others null).
// An entity row with a null key cell or a null timestamp gets null for every feature.
//
// Implemented as a sort-merge: the entity rows are sorted once by (keys, ts) per distinct
// key-column list, and each view's RowStream is read once, batch by batch, in step with
// them; memory is the output plus one or two batches per view (and the rows inside each
// trailing window). Views are joined on parallel threads.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "features/definitions.h"
#include "features/row_stream.h"
#include "features/table.h"

namespace cairn::features {

// The prefix of the double column that holds a window-aggregation feature's input in a
// view table: "__agg_input.<feature name>".
inline constexpr char kAggInputPrefix[] = "__agg_input.";

struct PitView {
  const FeatureViewSpec* spec = nullptr;  // its name, features, ttl; borrowed
  std::vector<std::string> key_columns;   // the view's join keys (names in the view rows)
  std::unique_ptr<RowStream> rows;        // the view table, sorted, from OfflineStore::Scan
  std::vector<std::string> features;      // names of the features requested, in output order
  // Instead of `rows`, for views without aggregation features: the table's segments
  // unmerged (OfflineStore::ScanSegments), each sorted, same schema. The join reads them
  // one after the other and keeps, per entity row, the candidate a merge of them would
  // have chosen (the greatest (event_ts, created_ts); on a tie the later segment's) —
  // the same result without the cost of merging.
  std::vector<std::unique_ptr<RowStream>> segments = {};
};

struct PitOptions {
  std::string timestamp_column = "event_timestamp";
  bool full_feature_names = false;
  // Threads joining views in parallel: 0 = one per view up to the hardware's cores.
  int threads = 0;
};

// Entity rows: join-key columns (named as the views' keys, of the same types) plus the
// timestamp column (timestamp or int64 epoch milliseconds), in any order, with any other
// columns. Output: the entity rows in input order with all their columns, then one column
// per requested feature, views in order, named "feature" or, with full_feature_names,
// "view__feature". Row features keep their view column's type; count is int64, the other
// aggregations double.
//
// InvalidArgument (nothing is read) when: the timestamp column or a key column is missing
// from `entities` or has another type than the view's key; a view lacks __event_ts,
// __created_ts, a key column or a requested feature's column, or `spec` is null; a
// requested feature is not in the view's spec; two output columns would have the same
// name (names both; full_feature_names resolves clashes between views). Errors from a
// view's RowStream are returned as they are. Takes ownership of the views' streams.
absl::StatusOr<Table> PointInTimeJoin(const Table& entities, std::vector<PitView> views,
                                      const PitOptions& options);

}  // namespace cairn::features
