#include "cicd/promotion_service.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cicd/evaluation_store.h"
#include "cicd/policy_registry.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/status.h"
#include "common/strings.h"
#include "tracking/model_registry.h"

namespace cairn::cicd {
namespace {

std::string PolicyRef(const PolicyVersion& policy) {
  return absl::StrCat("policy ", policy.name, " v", policy.version);
}

// The gates an evaluation did not pass, for messages: "auc >= 0.7 (fail), …".
std::string FailedGates(const Evaluation& ev) {
  std::vector<std::string> failed;
  for (const GateResult& g : ev.gates) {
    if (g.verdict == "pass" || g.verdict == "skipped") continue;
    failed.push_back(absl::StrCat(g.gate, g.slice.empty() ? "" : absl::StrCat(" [", g.slice, "]"),
                                  " (", g.verdict, ")"));
  }
  return absl::StrJoin(failed, ", ");
}

// The version `alias` names now; 0 when the alias does not exist.
absl::StatusOr<int64_t> AliasVersion(tracking::ModelRegistry& registry, std::string_view model,
                                     std::string_view alias) {
  absl::StatusOr<tracking::ModelVersion> holder = registry.GetModelVersionByAlias(model, alias);
  if (holder.ok()) return holder->version;
  // The registry answers InvalidArgument (MLflow's code) for an alias that does not exist.
  if (holder.status().code() == absl::StatusCode::kInvalidArgument) return 0;
  return holder.status();
}

}  // namespace

PromotionService::PromotionService(PromotionDeps deps) : deps_(std::move(deps)) {
  CAIRN_CHECK(deps_.registry != nullptr);
  CAIRN_CHECK(deps_.policies != nullptr);
  CAIRN_CHECK(deps_.evaluations != nullptr);
  if (deps_.evaluator.registry == nullptr) deps_.evaluator.registry = deps_.registry;
}

absl::StatusOr<CheckResult> PromotionService::Check(std::string_view model, int64_t version,
                                                    std::string_view actor) {
  absl::StatusOr<PolicyVersion> policy = deps_.policies->ForModel(model);
  if (policy.status().code() == absl::StatusCode::kNotFound) {
    return absl::FailedPreconditionError(policy.status().message());
  }
  if (!policy.ok()) return policy.status();
  CAIRN_ASSIGN_OR_RETURN(Evaluation evaluation, Evaluate(policy->spec, policy->version, model,
                                                         version, actor, deps_.evaluator));
  CAIRN_RETURN_IF_ERROR(deps_.evaluations->Put(evaluation));
  if (deps_.events != nullptr) {
    deps_.events->Publish(Event{kEventEvaluationFinished,
                                {{"model", evaluation.model},
                                 {"version", absl::StrCat(evaluation.version)},
                                 {"policy", evaluation.policy},
                                 {"evaluation_id", evaluation.id},
                                 {"passed", evaluation.passed ? "true" : "false"}}});
  }
  CheckResult result;
  result.evaluation = evaluation;
  PromotionOutcome& outcome = result.promotion;
  outcome.alias = policy->spec.target_alias;
  outcome.from_version = evaluation.baseline_version;
  if (!evaluation.passed) {
    outcome.action = "rejected";
    outcome.to_version = evaluation.baseline_version;
    outcome.detail =
        absl::StrCat("evaluation ", evaluation.id, " failed (", FailedGates(evaluation),
                     "): ", outcome.alias, " stays where it is");
    return result;
  }
  if (policy->spec.mode == "manual") {
    outcome.action = "awaiting_approval";
    outcome.to_version = evaluation.baseline_version;
    outcome.detail = absl::StrCat("passed; ", PolicyRef(*policy),
                                  " is manual: approve with `cairn models approve ", ToAbsl(model),
                                  " ", version, "`");
    return result;
  }
  absl::StatusOr<PromotionOutcome> promoted = Decide(model, version, actor, "", Route::kAuto);
  if (promoted.ok()) {
    outcome = std::move(*promoted);
  } else {
    // The evaluation is stored and passed; what failed is the step after it.
    outcome.action = "not_promoted";
    outcome.to_version = evaluation.baseline_version;
    outcome.detail = absl::StrCat("passed, but not promoted: ", promoted.status().message());
  }
  return result;
}

absl::StatusOr<PromotionOutcome> PromotionService::Promote(std::string_view model, int64_t version,
                                                           std::string_view actor,
                                                           std::string_view override_reason) {
  return Decide(model, version, actor, override_reason, Route::kPromote);
}

absl::StatusOr<PromotionOutcome> PromotionService::Approve(std::string_view model, int64_t version,
                                                           std::string_view actor) {
  return Decide(model, version, actor, "", Route::kApprove);
}

absl::StatusOr<PromotionOutcome> PromotionService::PromoteAfterRollout(std::string_view model,
                                                                       int64_t version,
                                                                       std::string_view actor,
                                                                       std::string_view reason) {
  return Decide(model, version, actor, reason, Route::kAfterRollout);
}

absl::StatusOr<PromotionOutcome> PromotionService::Decide(std::string_view model, int64_t version,
                                                          std::string_view actor,
                                                          std::string_view override_or_reason,
                                                          Route route) {
  // NotFound for an unknown model or version before anything else.
  CAIRN_RETURN_IF_ERROR(deps_.registry->GetModelVersion(model, version).status());
  Plan plan;
  {
    absl::MutexLock lock(&mu_);
    CAIRN_ASSIGN_OR_RETURN(plan, PlanLocked(model, version, actor, override_or_reason, route));
  }
  if (plan.done.has_value()) return *plan.done;

  absl::StatusOr<std::string> started =
      deps_.start_rollout(model, version, plan.rollout, actor, plan.reason);
  if (started.ok()) {
    PromotionOutcome outcome;
    outcome.action = "rollout_started";
    outcome.alias = plan.alias;
    outcome.from_version = plan.from_version;
    outcome.to_version = version;
    outcome.detail =
        absl::StrCat(*started, "; its verdict promotes or rolls back (", plan.reason, ")");
    return outcome;
  }
  if (started.status().code() != absl::StatusCode::kNotFound) return started.status();
  // No endpoint serves the model: there is no traffic to canary, so the alias moves now.
  absl::MutexLock lock(&mu_);
  CAIRN_ASSIGN_OR_RETURN(
      PromotionOutcome outcome,
      MoveAlias(model, plan.alias, version, actor,
                absl::StrCat(plan.reason, "; no rollout: ", started.status().message())));
  return outcome;
}

absl::StatusOr<PromotionService::Plan> PromotionService::PlanLocked(
    std::string_view model, int64_t version, std::string_view actor,
    std::string_view override_or_reason, Route route) {
  Plan plan;
  absl::StatusOr<PolicyVersion> policy = deps_.policies->ForModel(model);
  if (!policy.ok() && policy.status().code() != absl::StatusCode::kNotFound) {
    return policy.status();
  }
  const bool governed = policy.ok();
  plan.alias = governed ? policy->spec.target_alias : "production";
  CAIRN_ASSIGN_OR_RETURN(plan.from_version, AliasVersion(*deps_.registry, model, plan.alias));

  if (route == Route::kPromote && !override_or_reason.empty()) {
    CAIRN_ASSIGN_OR_RETURN(plan.done, MoveAlias(model, plan.alias, version, actor,
                                                absl::StrCat("override by ", ToAbsl(actor), ": ",
                                                             ToAbsl(override_or_reason))));
    return plan;
  }
  if (!governed) {
    if (route == Route::kAfterRollout) {
      CAIRN_ASSIGN_OR_RETURN(
          plan.done, MoveAlias(model, plan.alias, version, actor,
                               absl::StrCat("rollout passed: ", ToAbsl(override_or_reason))));
      return plan;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("no policy governs model '", ToAbsl(model), "', so version ", version,
                     " has no gate to pass: apply a kind: Policy with model: ", ToAbsl(model),
                     " and run `cairn ci check ", ToAbsl(model), " ", version,
                     "`, or promote with an override reason (--override WHY)"));
  }
  const PolicySpec& spec = policy->spec;
  if (route == Route::kPromote && spec.mode == "manual") {
    return absl::FailedPreconditionError(
        absl::StrCat(PolicyRef(*policy), " (model ", ToAbsl(model),
                     ") is manual: a passing version is promoted by "
                     "approval: `cairn models approve ",
                     ToAbsl(model), " ", version, "` (or promote with --override WHY)"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<Evaluation> latest,
                         deps_.evaluations->Latest(model, version, policy->name, policy->version));
  const std::string how_to = absl::StrCat("run `cairn ci check ", ToAbsl(model), " ", version, "`");
  if (!latest.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("version ", version, " of ", ToAbsl(model), " has no evaluation under ",
                     PolicyRef(*policy), ": ", how_to, " first (or promote with --override WHY)"));
  }
  if (!latest->passed) {
    return absl::FailedPreconditionError(
        absl::StrCat("the latest evaluation of ", ToAbsl(model), " version ", version, " under ",
                     PolicyRef(*policy), " (", latest->id, ") failed: ", FailedGates(*latest),
                     "; register a better version and `cairn ci check` it, or promote this one "
                     "with --override WHY"));
  }
  if (plan.from_version == version) {
    PromotionOutcome same;
    same.action = "already_current";
    same.alias = plan.alias;
    same.from_version = same.to_version = version;
    same.detail = absl::StrCat(plan.alias, " already holds version ", version);
    plan.done = same;
    return plan;
  }
  if (latest->baseline_version != plan.from_version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "evaluation ", latest->id, " compared version ", version, " with ",
        latest->baseline_version == 0 ? std::string("no baseline")
                                      : absl::StrCat("version ", latest->baseline_version),
        ", but ", plan.alias, " now holds ",
        plan.from_version == 0 ? std::string("no version")
                               : absl::StrCat("version ", plan.from_version),
        ": ", how_to, " again to compare it with what serves now"));
  }
  const std::string evidence =
      absl::StrCat("evaluation ", latest->id, " passed (", PolicyRef(*policy), ")");
  switch (route) {
    case Route::kAuto:
      plan.reason = absl::StrCat("auto: ", evidence);
      break;
    case Route::kPromote:
      plan.reason = evidence;
      break;
    case Route::kApprove:
      plan.reason = absl::StrCat("approved by ", ToAbsl(actor), "; ", evidence);
      break;
    case Route::kAfterRollout:
      plan.reason = absl::StrCat("rollout passed: ", ToAbsl(override_or_reason), "; ", evidence);
      break;
  }
  // A rollout compares the candidate with the champion: the first version to take the
  // alias has none to be compared with, so it is promoted directly.
  if (route != Route::kAfterRollout && spec.rollout.has_value() && deps_.start_rollout &&
      plan.from_version != 0) {
    plan.rollout = *spec.rollout;
    plan.rollout.version = version;  // the challenger is the candidate
    plan.rollout.alias.clear();
    return plan;
  }
  CAIRN_ASSIGN_OR_RETURN(plan.done, MoveAlias(model, plan.alias, version, actor, plan.reason));
  return plan;
}

absl::StatusOr<PromotionOutcome> PromotionService::MoveAlias(std::string_view model,
                                                             std::string_view alias,
                                                             int64_t version,
                                                             std::string_view actor,
                                                             std::string_view reason) {
  CAIRN_ASSIGN_OR_RETURN(int64_t from, AliasVersion(*deps_.registry, model, alias));
  PromotionOutcome outcome;
  outcome.alias = std::string(alias);
  outcome.from_version = from;
  outcome.to_version = version;
  if (from == version) {
    outcome.action = "already_current";
    outcome.detail = absl::StrCat(ToAbsl(alias), " already holds version ", version);
    return outcome;
  }
  CAIRN_RETURN_IF_ERROR(deps_.registry->SetAlias(model, alias, version, actor, reason));
  if (deps_.events != nullptr) {
    deps_.events->Publish(Event{kEventModelAliasMoved,
                                {{"model", std::string(model)},
                                 {"alias", std::string(alias)},
                                 {"from_version", from == 0 ? "" : absl::StrCat(from)},
                                 {"to_version", absl::StrCat(version)},
                                 {"actor", std::string(actor)},
                                 {"reason", std::string(reason)}}});
  }
  outcome.action = "promoted";
  outcome.detail = std::string(reason);
  return outcome;
}

absl::StatusOr<PromotionOutcome> PromotionService::Rollback(std::string_view model,
                                                            std::string_view alias,
                                                            std::string_view actor,
                                                            std::string_view reason) {
  absl::MutexLock lock(&mu_);
  CAIRN_ASSIGN_OR_RETURN(std::vector<tracking::AliasChange> history,
                         deps_.registry->AliasHistory(model));
  CAIRN_ASSIGN_OR_RETURN(int64_t current, AliasVersion(*deps_.registry, model, alias));
  if (current == 0) {
    return absl::NotFoundError(absl::StrCat("model '", ToAbsl(model), "' has no alias '",
                                            ToAbsl(alias), "': nothing to roll back"));
  }
  // The newest move that brought the alias to its current version, not counting
  // rollbacks: rolling back twice walks further back (3 → 2 → 1) instead of undoing the
  // first rollback.
  const tracking::AliasChange* latest = nullptr;
  for (const tracking::AliasChange& change : history) {  // newest first
    if (change.alias != alias || change.reason.rfind("rollback by ", 0) == 0) continue;
    if (change.to_version.has_value() && *change.to_version == current) {
      latest = &change;
      break;
    }
  }
  if (latest == nullptr || !latest->from_version.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "alias '", ToAbsl(alias), "' of model '", ToAbsl(model), "' was set to version ", current,
        " and never moved: there is no earlier version to roll back to"));
  }
  const int64_t target = *latest->from_version;
  absl::StatusOr<tracking::ModelVersion> exists = deps_.registry->GetModelVersion(model, target);
  if (!exists.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("alias '", ToAbsl(alias), "' of model '", ToAbsl(model), "' held version ",
                     target, " before, which is gone (", exists.status().message(),
                     "); promote a version by hand with `cairn models promote ", ToAbsl(model),
                     " VERSION --override WHY`"));
  }
  return MoveAlias(model, alias, target, actor,
                   reason.empty()
                       ? absl::StrCat("rollback by ", ToAbsl(actor))
                       : absl::StrCat("rollback by ", ToAbsl(actor), ": ", ToAbsl(reason)));
}

}  // namespace cairn::cicd
