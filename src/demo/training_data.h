#pragma once
// The glue between the feature store and the demo's trainer and tracking runs: entity
// rows from the generated labels, a point-in-time training set turned into the dense
// matrix XGBoost reads, and the training set's snapshot as an MLflow dataset input.
// Pure functions; thread-safe.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/churn_data.h"
#include "demo/churn_events.h"
#include "features/table.h"
#include "features/training_sets.h"
#include "tracking/types.h"

namespace cairn::demo {

// The columns of a training set that are not features.
struct TrainingColumns {
  std::vector<std::string> keys = {"customer_id"};
  std::string timestamp = "event_timestamp";
  std::string label = "label";
};

// The dataset name, source type and context under which runs log their training set.
inline constexpr char kTrainingDatasetName[] = "churn-training-set";
inline constexpr char kTrainingDatasetSourceType[] = "cairn";

// customer_id (int64), event_timestamp (timestamp: the prediction time) and label
// (int64 0/1), one row per label, in label order.
features::Table EntityRows(const std::vector<LabelRecord>& labels);

// Every column besides the keys, the timestamp and the label is a feature, in table
// order: int64, double and bool columns as numbers; a timestamp column as days before
// the row's timestamp, named "days_since_<name>" (so the model sees tenure and recency,
// not calendar dates); nulls as NaN (XGBoost's missing value). InvalidArgument naming
// the column for a missing key/timestamp/label column, a null or non-0/1 label, or a
// string feature (encode it in the feature view, e.g. `if(plan == 'premium', 2, …)`).
absl::StatusOr<Dataset> TrainingSetToDataset(const features::Table& table,
                                             const TrainingColumns& columns = {});

// The snapshot as MLflow's log-inputs dataset: name "churn-training-set", source type
// "cairn", source "cairn://training-sets/<id>", digest = the content hash cut to
// MLflow's 36 characters, the schema as an mlflow_colspec of `table`'s columns and a
// profile with the row count, the full content hash and the feature-view versions;
// tagged mlflow.data.context = training. MLflow keeps one dataset per (name, digest) in
// an experiment, so a rerun's identical rows share the first snapshot's source; the demo
// also tags each run with its own snapshot (cairn.training_set).
tracking::DatasetInput TrainingSetInput(const features::TrainingSetRecord& snapshot,
                                        const features::Table& table);

}  // namespace cairn::demo
