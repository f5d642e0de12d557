#pragma once
// The stores the demo and its pipeline steps write to, opened on a data directory the
// way `cairn server --data DIR` opens them: the metadata database <data>/cairn.db
// (SQLite in WAL mode with a busy timeout, so the demo and several step processes may
// write at once), the tracking store and model registry on it, artifacts under
// <data>/artifacts and, when asked for, the feature store (offline tables under
// <data>/offline, the embedded online store under <data>/online).
//
// The embedded online store is held in memory by the process that opened it: open the
// feature store in one process at a time (the demo closes its own before the pipeline's
// training-set step opens it).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "features/feature_store.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::demo {

struct DemoStores {
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<tracking::TrackingStore> tracking;
  std::unique_ptr<tracking::ModelRegistry> registry;
  std::unique_ptr<storage::ArtifactStore> artifacts;
  std::unique_ptr<features::FeatureStore> features;  // declared after db: closed before it
};

// Creates `data_dir` when missing (InvalidArgument naming it when that fails) and opens
// the stores; the feature store only when `with_features`.
absl::StatusOr<DemoStores> OpenDemoStores(const std::string& data_dir, bool with_features);

// Opens the feature store on stores opened without it (after the pipeline ran), on
// `clock` (the online store's "now": TTLs, request-time features) when given, which must
// outlive it; else the real clock.
absl::Status OpenFeatureStore(const std::string& data_dir, DemoStores& stores,
                              Clock* clock = nullptr);

}  // namespace cairn::demo
