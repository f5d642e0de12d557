#include "demo/demo_stores.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status.h"

namespace cairn::demo {

absl::StatusOr<DemoStores> OpenDemoStores(const std::string& data_dir, bool with_features) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data ", data_dir, ": cannot create directory: ", ec.message()));
  }
  DemoStores stores;
  const std::filesystem::path root(data_dir);
  CAIRN_ASSIGN_OR_RETURN(stores.db, storage::OpenDatabase((root / "cairn.db").string()));
  CAIRN_ASSIGN_OR_RETURN(stores.tracking,
                         tracking::TrackingStore::Open(*stores.db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(stores.registry, tracking::ModelRegistry::Open(*stores.db, RealClock()));
  stores.artifacts = std::make_unique<storage::ArtifactStore>((root / "artifacts").string());
  if (with_features) CAIRN_RETURN_IF_ERROR(OpenFeatureStore(data_dir, stores));
  return stores;
}

absl::Status OpenFeatureStore(const std::string& data_dir, DemoStores& stores, Clock* clock) {
  Clock& now = clock != nullptr ? *clock : RealClock();
  CAIRN_ASSIGN_OR_RETURN(stores.features,
                         features::FeatureStore::Open(*stores.db, now,
                                                      {.data_dir = data_dir,
                                                       .online_url = "embedded"}));
  return absl::OkStatus();
}

}  // namespace cairn::demo
