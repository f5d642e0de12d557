#pragma once
// What the HTTP handlers can reach. Owned by the server's main; handlers borrow it.

namespace cairn::tracking {
class TrackingStore;
class ModelRegistry;
class LoggedModelStore;
}  // namespace cairn::tracking
namespace cairn::storage {
class ArtifactStore;
}  // namespace cairn::storage

namespace cairn::api {

struct ApiContext {
  tracking::TrackingStore* tracking = nullptr;
  tracking::ModelRegistry* registry = nullptr;
  tracking::LoggedModelStore* logged_models = nullptr;
  storage::ArtifactStore* artifacts = nullptr;
};

}  // namespace cairn::api
