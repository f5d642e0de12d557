#include "demo/training_data.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/json.h"

namespace cairn::demo {
namespace {

using features::Column;
using features::FeatureType;
using features::Table;

constexpr double kMillisPerDay = 86'400'000.0;
// MLflow's limit on a dataset digest (kMaxDatasetDigestSize).
constexpr size_t kDigestChars = 36;

std::string MlflowType(FeatureType type) {
  switch (type) {
    case FeatureType::kInt64: return "long";
    case FeatureType::kDouble: return "double";
    case FeatureType::kString: return "string";
    case FeatureType::kBool: return "boolean";
    case FeatureType::kTimestamp: return "datetime";
  }
  return "string";
}

}  // namespace

Table EntityRows(const std::vector<LabelRecord>& labels) {
  Table entities;
  entities.AddColumn("customer_id", FeatureType::kInt64);
  entities.AddColumn("event_timestamp", FeatureType::kTimestamp);
  entities.AddColumn("label", FeatureType::kInt64);
  for (Column& column : entities.columns) column.Reserve(labels.size());
  for (const LabelRecord& label : labels) {
    entities.columns[0].AppendInt(label.customer_id);
    entities.columns[1].AppendInt(label.prediction_ts);
    entities.columns[2].AppendInt(label.churned ? 1 : 0);
  }
  return entities;
}

absl::StatusOr<Dataset> TrainingSetToDataset(const Table& table, const TrainingColumns& columns) {
  auto find = [&](const std::string& name, const char* role) -> absl::StatusOr<int> {
    const int index = table.Find(name);
    if (index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("training set: no ", role, " column '", name, "'"));
    }
    return index;
  };
  for (const std::string& key : columns.keys) {
    if (absl::StatusOr<int> found = find(key, "key"); !found.ok()) return found.status();
  }
  absl::StatusOr<int> ts_index = find(columns.timestamp, "timestamp");
  if (!ts_index.ok()) return ts_index.status();
  absl::StatusOr<int> label_index = find(columns.label, "label");
  if (!label_index.ok()) return label_index.status();
  const Column& ts = table.columns[*ts_index];
  const Column& label = table.columns[*label_index];
  if (ts.type != FeatureType::kTimestamp && ts.type != FeatureType::kInt64) {
    return absl::InvalidArgumentError(absl::StrCat("training set: column '", columns.timestamp,
                                                   "' must be a timestamp"));
  }

  const size_t rows = table.num_rows();
  Dataset data;
  data.labels.reserve(rows);
  for (size_t row = 0; row < rows; ++row) {
    double value = std::numeric_limits<double>::quiet_NaN();
    if (!label.IsNull(row)) {
      if (label.type == FeatureType::kDouble) value = label.doubles[row];
      else if (label.type != FeatureType::kString) value = static_cast<double>(label.ints[row]);
    }
    if (value != 0.0 && value != 1.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training set: row ", row + 1, ": column '", columns.label,
          "' must be 0 or 1, got ", label.IsNull(row) ? "null" : label.type == FeatureType::kString
                                                                   ? label.strings[row]
                                                                   : absl::StrCat(value)));
    }
    data.labels.push_back(static_cast<float>(value));
  }

  std::vector<int> feature_columns;
  for (size_t col = 0; col < table.num_columns(); ++col) {
    const std::string& name = table.names[col];
    if (static_cast<int>(col) == *ts_index || static_cast<int>(col) == *label_index) continue;
    bool is_key = false;
    for (const std::string& key : columns.keys) is_key |= key == name;
    if (is_key) continue;
    if (table.columns[col].type == FeatureType::kString) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training set: feature '", name,
          "' is a string; the model reads numbers: encode it in its feature view (for "
          "example expr: \"if(plan == 'premium', 2, 1)\")"));
    }
    feature_columns.push_back(static_cast<int>(col));
    data.feature_names.push_back(table.columns[col].type == FeatureType::kTimestamp
                                     ? absl::StrCat("days_since_", name)
                                     : name);
  }

  const size_t cols = feature_columns.size();
  data.features.assign(rows * cols, std::numeric_limits<float>::quiet_NaN());
  for (size_t feature = 0; feature < cols; ++feature) {
    const Column& column = table.columns[feature_columns[feature]];
    for (size_t row = 0; row < rows; ++row) {
      if (column.IsNull(row)) continue;
      double value = 0;
      switch (column.type) {
        case FeatureType::kDouble: value = column.doubles[row]; break;
        case FeatureType::kTimestamp:
          if (ts.IsNull(row)) continue;
          value = static_cast<double>(ts.ints[row] - column.ints[row]) / kMillisPerDay;
          break;
        default: value = static_cast<double>(column.ints[row]); break;
      }
      data.features[row * cols + feature] = static_cast<float>(value);
    }
  }
  return data;
}

tracking::DatasetInput TrainingSetInput(const features::TrainingSetRecord& snapshot,
                                        const Table& table) {
  tracking::DatasetInput input;
  input.tags = {{"mlflow.data.context", "training"}};
  tracking::Dataset& dataset = input.dataset;
  dataset.name = kTrainingDatasetName;
  dataset.digest = snapshot.content_hash.substr(0, kDigestChars);
  dataset.source_type = kTrainingDatasetSourceType;
  dataset.source = absl::StrCat("cairn://training-sets/", snapshot.id);
  Json colspec = Json::array();
  for (size_t col = 0; col < table.num_columns(); ++col) {
    colspec.push_back({{"name", table.names[col]},
                       {"type", MlflowType(table.columns[col].type)},
                       {"required", false}});
  }
  dataset.schema = DumpJson(Json{{"mlflow_colspec", colspec}});
  Json views = Json::object();
  for (const auto& [view, version] : snapshot.view_versions) views[view] = version;
  dataset.profile = DumpJson(Json{{"num_rows", snapshot.rows},
                                  {"content_hash", snapshot.content_hash},
                                  {"feature_service", snapshot.feature_service},
                                  {"feature_views", views}});
  return input;
}

}  // namespace cairn::demo
