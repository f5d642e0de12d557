#pragma once
// What the HTTP handlers can reach. Owned by the server's main; handlers borrow it.

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "features/definition_yaml.h"
#include "features/feature_plan.h"

namespace cairn {
class EventBus;
}  // namespace cairn
namespace cairn::tracking {
class TrackingStore;
class ModelRegistry;
class LoggedModelStore;
}  // namespace cairn::tracking
namespace cairn::storage {
class ArtifactStore;
}  // namespace cairn::storage
namespace cairn::features {
class FeatureRegistry;
class FeatureStore;
}  // namespace cairn::features

namespace cairn::compute {
class Executor;
}  // namespace cairn::compute
namespace cairn::monitoring {
class AlertService;
class MonitorService;
class ProfileStore;
}  // namespace cairn::monitoring

namespace cairn::serving {
class EndpointService;
class EndpointRegistry;
class EndpointStore;
class InferenceLog;
}  // namespace cairn::serving
namespace cairn::cicd {
class PolicyRegistry;
class EvaluationStore;
class PromotionService;
class Webhooks;
}  // namespace cairn::cicd

namespace cairn::api {

struct PipelineApi;

using FeatureApplier = std::function<absl::StatusOr<std::vector<features::PlannedChange>>(
    const features::DefinitionSet& definitions, bool dry_run, bool prune)>;

struct ApiContext {
  tracking::TrackingStore* tracking = nullptr;
  tracking::ModelRegistry* registry = nullptr;
  tracking::LoggedModelStore* logged_models = nullptr;
  storage::ArtifactStore* artifacts = nullptr;
  // Versioned feature-store definitions, on the metadata database.
  features::FeatureRegistry* feature_registry = nullptr;
  // The feature store's data plane (ingest, push, training sets, online, materialize).
  features::FeatureStore* feature_store = nullptr;
  // Applies definitions through the feature store (tables are created and rebuilt with
  // the registry versions); unset → the registry alone.
  FeatureApplier apply_features;
  // The in-server event bus: handlers publish source_ingested and
  // model_version_registered on it (pipeline triggers listen). May be null (tests).
  EventBus* events = nullptr;
  // Pipelines (registry, engine) and the executors; null / empty: no such routes.
  const PipelineApi* pipelines = nullptr;
  std::vector<compute::Executor*> executors;
  // Named data profiles and their constraints (monitoring); null: no profile routes.
  monitoring::ProfileStore* profiles = nullptr;
  // Alerts (list, ack, resolve) and monitors (apply, run, reports); null: no such routes.
  monitoring::AlertService* alerts = nullptr;
  monitoring::MonitorService* monitors = nullptr;
  // Serving: endpoint definitions (apply, list), live deployments (predict, rollouts),
  // their rollouts and events, the inference log; null: no such routes.
  serving::EndpointRegistry* endpoint_registry = nullptr;
  serving::EndpointService* endpoints = nullptr;
  serving::EndpointStore* endpoint_store = nullptr;
  serving::InferenceLog* inference_log = nullptr;
  // Model CI/CD: policies, evaluations, promotion / approval / rollback, registry webhooks;
  // null: no such routes.
  cicd::PolicyRegistry* policies = nullptr;
  cicd::EvaluationStore* evaluations = nullptr;
  cicd::PromotionService* promotion = nullptr;
  cicd::Webhooks* webhooks = nullptr;
};

}  // namespace cairn::api
