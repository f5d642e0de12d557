#include "features/view_rows.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/entity_key.h"
#include "features/pit_join.h"
#include "features/row_stream.h"

namespace cairn::features {

std::string SourceTableName(std::string_view source) {
  return absl::StrCat("source.", ToAbsl(source));
}

std::string ViewTableName(std::string_view view) { return absl::StrCat("view.", ToAbsl(view)); }

OfflineTableLayout SourceTableLayout(const SourceSpec& source) {
  OfflineTableLayout layout;
  layout.schema = source.schema;
  layout.schema.push_back({kEventTsColumn, FeatureType::kTimestamp, false});
  layout.schema.push_back({kCreatedTsColumn, FeatureType::kTimestamp, false});
  return layout;
}

absl::StatusOr<Table> ToSourceRows(const SourceSpec& source, Table batch, int64_t ingested_at) {
  int ts = batch.Find(source.timestamp_field);
  if (ts < 0) {
    return absl::InvalidArgumentError(absl::StrCat("source ", source.meta.name,
                                                   ": rows lack the timestamp field '",
                                                   source.timestamp_field, "'"));
  }
  int created = source.created_timestamp_field.empty()
                    ? -1
                    : batch.Find(source.created_timestamp_field);
  size_t n = batch.num_rows();
  Column event(FeatureType::kTimestamp), created_col(FeatureType::kTimestamp);
  event.Reserve(n);
  created_col.Reserve(n);
  const Column& ts_col = batch.columns[ts];
  for (size_t i = 0; i < n; ++i) {
    if (ts_col.valid[i] == 0) {
      return absl::InvalidArgumentError(absl::StrCat("source ", source.meta.name, ": row ",
                                                     i + 1, " has no ", source.timestamp_field,
                                                     " (event time); every row needs one"));
    }
    event.AppendInt(ts_col.ints[i]);
    if (created >= 0 && batch.columns[created].valid[i]) {
      created_col.AppendInt(batch.columns[created].ints[i]);
    } else {
      created_col.AppendInt(ingested_at);
    }
  }
  batch.names.push_back(kEventTsColumn);
  batch.columns.push_back(std::move(event));
  batch.names.push_back(kCreatedTsColumn);
  batch.columns.push_back(std::move(created_col));
  return batch;
}

absl::StatusOr<Column> CastColumn(Column column, FeatureType type, std::string_view what) {
  if (column.type == type) return column;
  bool int_like = column.type == FeatureType::kInt64 || column.type == FeatureType::kBool ||
                  column.type == FeatureType::kTimestamp;
  if (type == FeatureType::kDouble && int_like) {
    Column out(FeatureType::kDouble);
    out.doubles.resize(column.size());
    for (size_t i = 0; i < column.size(); ++i) out.doubles[i] = static_cast<double>(column.ints[i]);
    out.valid = std::move(column.valid);
    return out;
  }
  if ((type == FeatureType::kInt64 && column.type == FeatureType::kTimestamp) ||
      (type == FeatureType::kTimestamp && column.type == FeatureType::kInt64)) {
    column.type = type;
    return column;
  }
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), ": a ",
                                                 ToAbsl(TypeName(column.type)),
                                                 " value cannot be stored as ",
                                                 ToAbsl(TypeName(type))));
}

absl::StatusOr<std::shared_ptr<const ViewDeriver>> ViewDeriver::Make(const FeatureViewSpec& view,
                                                                     std::vector<Field> join_keys,
                                                                     const SourceSpec& source) {
  auto d = std::shared_ptr<ViewDeriver>(new ViewDeriver());
  d->view_ = view;
  d->join_keys_ = std::move(join_keys);
  for (const Field& k : d->join_keys_) {
    d->layout_.key_columns.push_back(k.name);
    d->layout_.schema.push_back({k.name, k.type, true});
  }
  d->layout_.schema.push_back({kEventTsColumn, FeatureType::kTimestamp, false});
  d->layout_.schema.push_back({kCreatedTsColumn, FeatureType::kTimestamp, false});
  const Schema& inputs = source.schema;
  for (const FeatureSpec& f : view.features) {
    Output out;
    std::string what = absl::StrCat("feature view ", view.meta.name, ": feature ", f.name);
    if (f.agg != AggFn::kNone) {
      if (f.of.empty()) continue;  // count of rows: no input column
      out.column = absl::StrCat(kAggInputPrefix, f.name);
      out.type = FeatureType::kDouble;
      auto e = Expression::Compile(f.of, inputs);
      if (!e.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": of: ", std::string(e.status().message())));
      }
      out.expr = std::make_unique<Expression>(std::move(*e));
    } else if (!f.expr.empty()) {
      out.column = f.name;
      out.type = f.type;
      auto e = Expression::Compile(f.expr, inputs);
      if (!e.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": expr: ", std::string(e.status().message())));
      }
      out.expr = std::make_unique<Expression>(std::move(*e));
    } else {
      out.column = f.name;
      out.type = f.type;
      out.source_column = f.name;
    }
    d->layout_.schema.push_back({out.column, out.type, true});
    d->outputs_.push_back(std::move(out));
  }
  return std::shared_ptr<const ViewDeriver>(std::move(d));
}

absl::StatusOr<Table> ViewDeriver::Derive(const Table& source_rows) const {
  Table out;
  auto copy_column = [&](std::string_view name, FeatureType type) -> absl::Status {
    int c = source_rows.Find(name);
    if (c < 0) {
      return absl::InvalidArgumentError(absl::StrCat("feature view ", view_.meta.name,
                                                     ": source rows lack column '",
                                                     ToAbsl(name), "'"));
    }
    CAIRN_ASSIGN_OR_RETURN(
        Column col, CastColumn(source_rows.columns[c], type,
                               absl::StrCat("feature view ", view_.meta.name, ": column ",
                                            ToAbsl(name))));
    out.names.emplace_back(name);
    out.columns.push_back(std::move(col));
    return absl::OkStatus();
  };
  for (const Field& k : join_keys_) CAIRN_RETURN_IF_ERROR(copy_column(k.name, k.type));
  CAIRN_RETURN_IF_ERROR(copy_column(kEventTsColumn, FeatureType::kTimestamp));
  CAIRN_RETURN_IF_ERROR(copy_column(kCreatedTsColumn, FeatureType::kTimestamp));
  for (const Output& o : outputs_) {
    if (!o.source_column.empty()) {
      int c = source_rows.Find(o.source_column);
      if (c < 0) {
        return absl::InvalidArgumentError(absl::StrCat("feature view ", view_.meta.name,
                                                       ": source rows lack column '",
                                                       o.source_column, "'"));
      }
      CAIRN_ASSIGN_OR_RETURN(Column col, CastColumn(source_rows.columns[c], o.type,
                                                    absl::StrCat("feature view ",
                                                                 view_.meta.name, ": feature ",
                                                                 o.column)));
      out.names.push_back(o.column);
      out.columns.push_back(std::move(col));
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(Column value, o.expr->Evaluate(source_rows));
    CAIRN_ASSIGN_OR_RETURN(
        Column col, CastColumn(std::move(value), o.type,
                               absl::StrCat("feature view ", view_.meta.name, ": feature ",
                                            o.column)));
    out.names.push_back(o.column);
    out.columns.push_back(std::move(col));
  }
  return out;
}

void ViewDeriver::ToOnlineRows(const Table& view_rows, std::vector<std::string>* keys,
                               std::vector<OnlineRow>* rows) const {
  std::vector<int> key_cols;
  for (const Field& k : join_keys_) key_cols.push_back(view_rows.Find(k.name));
  int event = view_rows.Find(kEventTsColumn);
  int created = view_rows.Find(kCreatedTsColumn);
  std::vector<int> feature_cols;
  for (const FeatureSpec& f : view_.features) {
    feature_cols.push_back(f.agg == AggFn::kNone ? view_rows.Find(f.name) : -1);
  }
  size_t n = view_rows.num_rows();
  keys->reserve(keys->size() + n);
  rows->reserve(rows->size() + n);
  for (size_t i = 0; i < n; ++i) {
    std::string key;
    EncodeKey(view_rows, key_cols, i, &key);
    keys->push_back(std::move(key));
    OnlineRow row;
    row.event_ts = view_rows.columns[event].ints[i];
    row.created_ts = view_rows.columns[created].ints[i];
    row.values.reserve(feature_cols.size());
    for (int c : feature_cols) {
      row.values.push_back(c < 0 ? Value{} : view_rows.columns[c].Get(i));
    }
    rows->push_back(std::move(row));
  }
}

}  // namespace cairn::features
