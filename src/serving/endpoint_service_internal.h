#pragma once
// Internal to the endpoint service, shared by its two files (endpoint_service.cc:
// deployments, sync, rollouts; endpoint_predict.cc: the predict path and batch
// prediction): the parts of a deployment. Not for other modules.

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/strings.h"
#include "features/online/online_feature_service.h"
#include "serving/endpoint_service.h"
#include "serving/predict_request.h"
#include "serving/rollout_guard.h"

namespace cairn::serving {

// ---- the deployment's parts ----------------------------------------------------------

// A loaded model version.
struct EndpointService::Runtime {
  std::shared_ptr<ModelRuntime> model;
  std::string model_name;
  int64_t version = 0;
  std::string model_dir;
  // The runtime settings it was loaded with (a changed definition reloads only when these
  // or the version change).
  std::string runtime;
  int min_replicas = 0, max_replicas = 0, max_queue = 0;
  int64_t timeout_ms = 0;
};


namespace endpoint_internal {

// Where each model input column comes from, for one runtime and one feature set.
struct ColumnPlan {
  std::vector<std::string> columns;  // the model's inputs; empty: decided per request
  std::vector<int> online;           // per column: index into the feature set, or -1
};

// Matches the runtime's input columns with the feature set's features by name.
ColumnPlan PlanColumns(const EndpointService::Runtime& runtime,
                       const features::OnlineFeatureSet* set);

// "churn version 3" (messages).
inline std::string ModelLabel(std::string_view model, int64_t version) {
  return absl::StrCat(ToAbsl(model), " version ", version);
}

}  // namespace endpoint_internal

struct EndpointService::RolloutState {
  Rollout record;
  std::shared_ptr<const Runtime> challenger;
  endpoint_internal::ColumnPlan plan;
  std::shared_ptr<RolloutGuard> guard;
  double share = 0;  // percent / 100
};

// One endpoint's serving state. Immutable once published: a change builds a new one.
struct EndpointService::Serving {
  EndpointSpec spec;
  int64_t definition_version = 0;
  std::shared_ptr<const Runtime> champion;  // null: nothing loaded
  endpoint_internal::ColumnPlan plan;
  std::shared_ptr<const features::OnlineFeatureSet> features;  // null: none / not resolved
  std::string features_error;  // why `features` is null although a service is named
  std::shared_ptr<const RolloutState> rollout;
};


struct EndpointService::Deployment {
  std::string name;
  mutable absl::Mutex mu;
  std::shared_ptr<const Serving> serving ABSL_GUARDED_BY(mu);
  std::string error ABSL_GUARDED_BY(mu);  // the last load / resolve error
  int64_t deployed_ms ABSL_GUARDED_BY(mu) = 0;
  std::atomic<int64_t> requests{0}, rows{0}, errors{0}, shadow_dropped{0};
  // The version that last failed to load and when to try it again (used under the
  // service's sync_mu_ only).
  int64_t retry_version = 0, retry_at_ms = 0, retry_delay_ms = 0;
  // A definition whose runtime failed to load while the previous one keeps serving (with
  // its own spec and definition version): retried by the recheck (under sync_mu_ only).
  std::optional<EndpointSpec> pending_spec;
  int64_t pending_definition_version = 0;

  std::shared_ptr<const Serving> Get() const {
    absl::ReaderMutexLock lock(&mu);
    return serving;
  }
  void Set(std::shared_ptr<const Serving> next) {
    absl::MutexLock lock(&mu);
    serving = std::move(next);
  }
  std::string Error() const {
    absl::ReaderMutexLock lock(&mu);
    return error;
  }
};

struct EndpointService::ShadowTask {
  std::shared_ptr<const Serving> serving;
  std::shared_ptr<Deployment> deployment;
  PredictRequest request;  // owns its strings: names copied below
  // A deque: appending never moves the strings the request's views point into.
  std::deque<std::string> names;
  std::vector<std::string> ids;
  int64_t time_ms = 0;
};

// A rollout's verdict found by a recheck, acted on once the recheck's lock is released.
struct EndpointService::PendingVerdict {
  std::shared_ptr<Deployment> deployment;
  std::string rollout_id, action, reason;
  Json record;
};

}  // namespace cairn::serving
