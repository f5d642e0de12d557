#pragma once
// The release path wired together, for the server and the demo alike: endpoint
// definitions and their live deployments (following the registry's aliases, logging into
// the inference log), promotion policies, evaluations and the promotion service. The two
// calls between them are wired here: a canary whose guard passes promotes through the
// promotion service (PromoteAfterRollout), and a promotion under a policy with a rollout
// starts a canary (or shadow) on every endpoint that follows model@target_alias.
// Gates load registered versions the way endpoints do (EndpointService::LocalModelDir,
// serving::LoadModelRuntime) and check features_online against the online store.

#include <memory>
#include <vector>
#include <string>

#include "absl/status/statusor.h"
#include "cicd/evaluation_store.h"
#include "cicd/policy_registry.h"
#include "cicd/promotion_service.h"
#include "serving/endpoint_registry.h"
#include "serving/endpoint_service.h"
#include "serving/endpoint_store.h"
#include "serving/inference_log.h"

namespace cairn {
class EventBus;
}  // namespace cairn
namespace cairn::storage {
class ArtifactStore;
class Database;
}  // namespace cairn::storage
namespace cairn::tracking {
class ModelRegistry;
class TrackingStore;
}  // namespace cairn::tracking
namespace cairn::features {
class OnlineFeatureService;
class TrainingSets;
}  // namespace cairn::features

namespace cairn::cicd {

struct ReleaseStackOptions {
  storage::Database* db = nullptr;                // required
  tracking::ModelRegistry* registry = nullptr;    // required
  tracking::TrackingStore* tracking = nullptr;    // run_metric gates; may be null
  storage::ArtifactStore* artifacts = nullptr;    // model sources under mlflow-artifacts:
  const features::OnlineFeatureService* online = nullptr;  // entity lookups; may be null
  // Batch prediction over saved training sets (predict-batch "training_set"); null: refused.
  features::TrainingSets* training_sets = nullptr;
  EventBus* events = nullptr;                     // alias moves, evaluations; may be null
  std::string data_dir;  // relative evaluation paths resolve under it (absolute)
  // Under data_dir, the server's own state: batch prediction never reads or writes there.
  std::vector<std::string> protected_paths;
  serving::InferenceLogOptions inference_log;
  int64_t recheck_ms = 1000;  // the endpoint service's alias recheck / guard judging
  uint64_t seed = 0;          // the canary split's sequence
};

// Owns every part; destroy (or Shutdown) it before the stores it borrows.
struct ReleaseStack {
  std::unique_ptr<serving::InferenceLog> inference_log;
  std::unique_ptr<serving::EndpointRegistry> endpoint_registry;
  std::unique_ptr<serving::EndpointStore> endpoint_store;
  std::unique_ptr<PolicyRegistry> policies;
  std::unique_ptr<EvaluationStore> evaluations;
  std::unique_ptr<PromotionService> promotion;
  std::unique_ptr<serving::EndpointService> endpoints;

  // Endpoints stop taking predictions and promoting, then the inference log writes what
  // it holds. Idempotent.
  void Shutdown();
  ~ReleaseStack() { Shutdown(); }
};

// Opens the stores (their migrations) and starts the endpoint service (which deploys the
// endpoints already defined). Errors of the stores and of EndpointService::Start.
absl::StatusOr<std::unique_ptr<ReleaseStack>> OpenReleaseStack(const ReleaseStackOptions& options);

}  // namespace cairn::cicd
