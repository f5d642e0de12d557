#pragma once
// The server's MonitorIo (monitor_runner.h): feature views read from the feature store's
// offline tables, CSV references through csv_frame.h, a named profile's stored rows
// (profile_store.h), constraints through constraints.h (inferred from the reference rows,
// or those stored with a named profile), and the HTML
// report of html_report.h. `on_outcome` is left for the caller (the alert service).

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "monitoring/constraints.h"
#include "monitoring/data_frame.h"
#include "monitoring/monitors/monitor_runner.h"

namespace cairn::features {
class FeatureStore;
struct Table;
}  // namespace cairn::features

namespace cairn::tracking {
class ModelRegistry;
class TrackingStore;
}  // namespace cairn::tracking

namespace cairn::monitoring {

class ProfileStore;

struct StandardIoOptions {
  // Views come from here; null: feature_view targets and references fail saying so.
  features::FeatureStore* feature_store = nullptr;
  // The constraints stored with a named profile (the profile store); unset: monitors with
  // `reference: {profile: NAME}` fail saying so.
  std::function<absl::StatusOr<Constraints>(const std::string& profile)> profile_constraints;
  // Where monitors with `reference: {profile: NAME}` read the rows kept with the profile's
  // latest version to test drift against (ProfileStore::GetRows; columns the monitor names
  // in `categorical` that were stored as numbers become categories, ForceCategorical).
  // Null: such monitors with drift fail saying so.
  const ProfileStore* profile_store = nullptr;
  // Monitors with `reference: {model: NAME, alias: A}` resolve the model version here, its
  // source run in `tracking`, and read the run's training-set snapshot from the feature
  // store (ReadModelTrainingSet). Any of the three null: such monitors fail saying so.
  tracking::ModelRegistry* model_registry = nullptr;
  tracking::TrackingStore* tracking = nullptr;
  int csv_threads = 2;
};

MonitorIo StandardMonitorIo(StandardIoOptions options);

// The reference of a model monitor: the version `ref.model_alias` names (or
// `ref.model_version`) in `registry` → its source run in `tracking` → the run's log-inputs
// dataset whose source names a Cairn training-set snapshot ("cairn://training-sets/<id>",
// or the snapshot's URL on a server, …/training-sets/<id>; else the run's tag
// cairn.training_set) → that snapshot's rows (`load_training_set`) as a frame: every
// column but internal "__" ones, a "view__feature" column under its feature's name when
// that name is free; string columns and those in `categorical` categorical. The source:
// {"model", "model_version", "run_id", "training_set"}. Errors name what is missing: the
// model or alias (NotFound / InvalidArgument from the registry), a version not registered
// from a run, a run without a training-set input (FailedPrecondition), a snapshot that is
// gone (NotFound).
absl::StatusOr<StoredReference> ReadModelTrainingSet(
    tracking::ModelRegistry& registry, tracking::TrackingStore& tracking,
    const std::function<absl::StatusOr<features::Table>(const std::string& id)>&
        load_training_set,
    const MonitorReference& ref, const std::vector<std::string>& categorical);

// The rows of a feature view's offline table (features::ViewTableName) as a frame: every
// stored feature column (join keys, timestamps and internal "__" columns left out); int64,
// double, bool and timestamp columns numeric, string columns categorical, and the columns
// named in request.categorical categorical whatever their type (numbers as text). Rows
// with event time in [from_ms, to_ms) (0: unbounded), then the last `last_rows` by event
// time (ties: the later scanned). NotFound naming the view when it is not registered.
absl::StatusOr<DataFrame> ReadFeatureViewFrame(features::FeatureStore& store,
                                               const ViewReadRequest& request);

}  // namespace cairn::monitoring
