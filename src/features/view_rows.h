#pragma once
// How a feature view's offline table is laid out and how its rows are derived from the
// rows of its source. The feature store runs this at ingestion and push (so training
// sets and materialization read precomputed rows) and when a changed view version is
// rebuilt from the stored source rows.
//
// Source table ("source.<name>"): the source's schema columns, plus __event_ts (a copy of
// the timestamp field) and __created_ts (the created-timestamp field when the source
// declares one, else the ingestion time), keyed by nothing (sorted by time).
// View table ("view.<name>"): the entities' join keys, __event_ts, __created_ts, every
// row-level feature (plain column or expression) with its declared type, and for each
// aggregation with an `of` input a double column "__agg_input.<feature>".

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "features/definitions.h"
#include "features/expr/expression.h"
#include "features/offline/offline_store.h"
#include "features/online/online_store.h"
#include "features/table.h"

namespace cairn::features {

std::string SourceTableName(std::string_view source);
std::string ViewTableName(std::string_view view);

// The source table's layout.
OfflineTableLayout SourceTableLayout(const SourceSpec& source);

// Turns a batch of rows typed by the source schema (as a RecordReader yields them) into
// source-table rows: adds __event_ts and __created_ts (`ingested_at` when the source has
// no created-timestamp field, or the field is null). InvalidArgument naming the row when
// an event time is null.
absl::StatusOr<Table> ToSourceRows(const SourceSpec& source, Table batch, int64_t ingested_at);

// A compiled view: layout plus the expressions that derive its rows. Immutable after
// Make; thread-safe.
class ViewDeriver {
 public:
  // `join_keys` are the view's entities' join keys in entity order. InvalidArgument when
  // an expression does not compile against the source schema (definitions are validated
  // at apply, so this means the registry and the source disagree).
  static absl::StatusOr<std::shared_ptr<const ViewDeriver>> Make(const FeatureViewSpec& view,
                                                                 std::vector<Field> join_keys,
                                                                 const SourceSpec& source);

  const FeatureViewSpec& view() const { return view_; }
  const std::vector<Field>& join_keys() const { return join_keys_; }
  const OfflineTableLayout& layout() const { return layout_; }

  // View-table rows for source-table rows (ToSourceRows output). Same row count and order.
  absl::StatusOr<Table> Derive(const Table& source_rows) const;

  // Online rows for derived view rows: entity keys encoded with EncodeKey, values in the
  // view's feature order; aggregation features are null (materialization computes them).
  void ToOnlineRows(const Table& view_rows, std::vector<std::string>* keys,
                    std::vector<OnlineRow>* rows) const;

 private:
  struct Output {
    std::string column;                    // column name in the view table
    FeatureType type;                      // its type
    std::string source_column;             // plain feature: the source column
    std::unique_ptr<Expression> expr;      // expression feature / aggregation input
  };
  ViewDeriver() = default;
  FeatureViewSpec view_;
  std::vector<Field> join_keys_;
  OfflineTableLayout layout_;
  std::vector<Output> outputs_;
};

// Casts a column to `type` where the conversion is lossless in meaning: int64/bool →
// double, int64 ↔ timestamp; the same type is returned as is. InvalidArgument otherwise.
absl::StatusOr<Column> CastColumn(Column column, FeatureType type, std::string_view what);

}  // namespace cairn::features
