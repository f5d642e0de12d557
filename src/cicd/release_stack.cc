#include "cicd/release_stack.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/online/online_feature_service.h"
#include "features/training_sets.h"
#include "serving/model_loader.h"
#include "serving/model_source.h"

namespace cairn::cicd {

void ReleaseStack::Shutdown() {
  if (endpoints != nullptr) endpoints->Shutdown();
  if (inference_log != nullptr) inference_log->Shutdown();
}

absl::StatusOr<std::unique_ptr<ReleaseStack>> OpenReleaseStack(
    const ReleaseStackOptions& options) {
  if (options.db == nullptr || options.registry == nullptr) {
    return absl::InvalidArgumentError("release stack: a database and a model registry are needed");
  }
  auto stack = std::make_unique<ReleaseStack>();
  CAIRN_ASSIGN_OR_RETURN(stack->inference_log,
                         serving::InferenceLog::Open(*options.db, options.inference_log));
  CAIRN_ASSIGN_OR_RETURN(stack->endpoint_registry,
                         serving::EndpointRegistry::Open(*options.db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(stack->endpoint_store,
                         serving::EndpointStore::Open(*options.db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(stack->policies, PolicyRegistry::Open(*options.db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(stack->evaluations, EvaluationStore::Open(*options.db));
  ReleaseStack* s = stack.get();

  PromotionDeps promotion;
  promotion.registry = options.registry;
  promotion.policies = stack->policies.get();
  promotion.evaluations = stack->evaluations.get();
  promotion.events = options.events;
  promotion.evaluator.registry = options.registry;
  promotion.evaluator.tracking = options.tracking;
  promotion.evaluator.data_dir = options.data_dir;
  tracking::ModelRegistry* registry = options.registry;
  const storage::ArtifactStore* artifacts = options.artifacts;
  promotion.evaluator.load_runtime =
      [registry, artifacts](std::string_view model,
          int64_t version) -> absl::StatusOr<std::shared_ptr<serving::ModelRuntime>> {
    CAIRN_ASSIGN_OR_RETURN(std::string dir,
                           serving::LocalModelDir(*registry, artifacts, model, version));
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<serving::ModelRuntime> runtime,
                           serving::LoadModelRuntime(dir, {}));
    return std::shared_ptr<serving::ModelRuntime>(std::move(runtime));
  };
  if (const features::OnlineFeatureService* online = options.online) {
    promotion.evaluator.online_features =
        [online](std::string_view service) -> absl::StatusOr<std::vector<std::string>> {
      CAIRN_ASSIGN_OR_RETURN(features::OnlineFeatureSet set, online->ResolveFeatures(service));
      std::vector<std::string> names;
      names.reserve(set.features.size());
      for (const features::OnlineFeatureSet::Feature& feature : set.features) {
        names.push_back(feature.name);
      }
      return names;
    };
  }
  promotion.start_rollout = [s](std::string_view model, int64_t version,
                                const serving::RolloutSpec& rollout, std::string_view actor,
                                std::string_view reason) -> absl::StatusOr<std::string> {
    CAIRN_ASSIGN_OR_RETURN(PolicyVersion policy, s->policies->ForModel(model));
    CAIRN_ASSIGN_OR_RETURN(std::vector<serving::EndpointVersion> endpoints,
                           s->endpoint_registry->List());
    serving::RolloutSpec spec = rollout;
    spec.version = version;
    spec.alias.clear();
    // Endpoints that serve a champion now (a canary compares the candidate with it).
    std::map<std::string, int64_t> serving_now;
    for (const serving::DeploymentStatus& status : s->endpoints->List()) {
      if (status.state == "serving" && status.model_version > 0) {
        serving_now[status.endpoint] = status.model_version;
      }
    }
    std::vector<std::string> started, failed;
    for (const serving::EndpointVersion& endpoint : endpoints) {
      if (endpoint.spec.model != model || endpoint.spec.alias != policy.spec.target_alias ||
          !serving_now.contains(endpoint.name)) {
        continue;
      }
      absl::StatusOr<serving::Rollout> run =
          s->endpoints->StartRollout(endpoint.name, spec, actor, reason);
      if (run.ok()) {
        started.push_back(absl::StrCat(run->mode, " ", run->id, " at ", run->percent,
                                       "% on endpoint ", endpoint.name));
      } else {
        failed.push_back(absl::StrCat("endpoint ", endpoint.name, ": ", run.status().message()));
      }
    }
    if (started.empty() && failed.empty()) {
      return absl::NotFoundError(absl::StrCat("no endpoint serving ", ToAbsl(model), "@",
                                              policy.spec.target_alias));
    }
    if (started.empty()) {
      // Endpoints follow the alias but no canary could start: do not move it unwatched.
      return absl::FailedPreconditionError(absl::StrCat(
          "the rollout of version ", version, " could not start (", absl::StrJoin(failed, "; "),
          "); fix that, or promote with --override"));
    }
    const std::string skipped =
        failed.empty() ? "" : absl::StrCat(" (not on: ", absl::StrJoin(failed, "; "), ")");
    return absl::StrCat("version ", version, " of ", ToAbsl(model), " rolls out: ",
                        absl::StrJoin(started, "; "), skipped);
  };
  stack->promotion = std::make_unique<PromotionService>(std::move(promotion));

  serving::EndpointServiceOptions service;
  service.models = options.registry;
  service.definitions = stack->endpoint_registry.get();
  service.store = stack->endpoint_store.get();
  service.artifacts = options.artifacts;
  service.online = options.online;
  service.inference_log = stack->inference_log.get();
  service.events = options.events;
  service.recheck_ms = options.recheck_ms;
  service.data_dir = options.data_dir;  // batch prediction's relative paths
  service.protected_paths = options.protected_paths;
  if (features::TrainingSets* sets = options.training_sets) {
    service.load_training_set = [sets](std::string_view id)
        -> absl::StatusOr<serving::TrainingSetRows> {
      CAIRN_ASSIGN_OR_RETURN(features::TrainingSetRecord record, sets->Get(id));
      serving::TrainingSetRows rows;
      CAIRN_ASSIGN_OR_RETURN(rows.table, sets->Load(id));
      // The point-in-time join puts the entity input's columns first, the features last.
      const size_t entity_columns =
          rows.table.num_columns() - std::min(rows.table.num_columns(), record.features.size());
      rows.entity_columns.assign(rows.table.names.begin(),
                                 rows.table.names.begin() + entity_columns);
      return rows;
    };
  }
  service.seed = options.seed;
  service.should_sample = [](std::string_view id, double rate) {
    return serving::InferenceLog::ShouldSample(id, rate);
  };
  service.set_log_retention = [log = stack->inference_log.get()](std::string_view endpoint,
                                                                  int64_t max_rows) {
    log->SetRetention(endpoint, max_rows);
  };
  service.promote = [s](std::string_view model, int64_t version, std::string_view actor,
                        std::string_view reason) -> absl::Status {
    return s->promotion->PromoteAfterRollout(model, version, actor, reason).status();
  };
  CAIRN_ASSIGN_OR_RETURN(stack->endpoints, serving::EndpointService::Start(std::move(service)));
  return stack;
}

}  // namespace cairn::cicd
