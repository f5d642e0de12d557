#pragma once
// Promotion semantics (issue 6 item 5): who may move a model's target alias (the policy's
// target_alias, "production" by default), when, and the record of it.
//
//   Check(model, version)   evaluates the version under the policy that governs the model
//                           (PolicyRegistry::ForModel), stores the Evaluation, publishes
//                           kEventEvaluationFinished; then, when it passed and the policy's
//                           mode is auto, promotes it (below). Mode manual: a passing
//                           version waits for Approve.
//   Promote(model, version, override_reason)
//                           moves the alias when this version's latest evaluation under the
//                           CURRENT policy version passed AND compared it with the version
//                           the alias holds now (a stale baseline needs a new check); in
//                           mode manual it needs Approve instead. A non-empty override
//                           reason skips every condition and is recorded as
//                           "override by <actor>: <reason>"; it moves the alias at once,
//                           without the policy's rollout (also without a policy: the alias
//                           is then "production").
//   Approve(model, version) the manual mode's promotion: the same conditions as Promote
//                           without override; recorded "approved by <actor>".
//   Rollback(model, alias)  moves the alias back to the version it held before the move
//                           that brought it to its current version, rollbacks not counted
//                           (AliasHistory; rolling back twice goes 3 → 2 → 1); NotFound
//                           when the alias does not exist or has nothing before it.
//
// "Promote" means: when the policy has a rollout (canary / shadow), `start_rollout` is
// set and a version holds the alias already (a champion to compare with), the rollout
// starts on the endpoints that follow model@alias and the alias does not move yet — the
// canary's verdict calls PromoteAfterRollout (the endpoint service's
// injected `promote`); when start_rollout is unset or answers NotFound (no endpoint serves
// the model) the alias moves at once and the outcome says so. Every move goes through
// ModelRegistry::SetAlias with the actor and a reason (the alias-history record) and is
// published as kEventModelAliasMoved (model, alias, from_version, to_version, actor,
// reason). Moving an alias to the version it already holds changes nothing.
//
// Thread-safe. Evaluations run on the caller's thread without locks; the decision and the
// alias move of one service are serialized (one mutex, held neither while evaluating nor
// while calling start_rollout).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cicd/evaluation.h"
#include "cicd/evaluator.h"
#include "serving/endpoint_spec.h"

namespace cairn {
class EventBus;
}  // namespace cairn

namespace cairn::cicd {

class PolicyRegistry;
class EvaluationStore;

// Starts `rollout` (its version set to the candidate) for `model` on the endpoints that
// follow model@target_alias. Returns a sentence for the outcome ("canary of churn version
// 4 at 20% on endpoint churn"); NotFound when no endpoint follows the model.
using StartRolloutFn = std::function<absl::StatusOr<std::string>(
    std::string_view model, int64_t version, const serving::RolloutSpec& rollout,
    std::string_view actor, std::string_view reason)>;

struct PromotionDeps {
  tracking::ModelRegistry* registry = nullptr;  // required
  PolicyRegistry* policies = nullptr;           // required
  EvaluationStore* evaluations = nullptr;       // required
  EventBus* events = nullptr;                   // null: nothing published
  EvaluatorDeps evaluator;                      // its registry defaults to `registry`
  StartRolloutFn start_rollout;                 // unset: promote directly
};

// What a Check / Promote / Approve did.
struct PromotionOutcome {
  // "promoted"          the alias moved to the version;
  // "already_current"   the alias already named the version;
  // "rollout_started"   a canary/shadow started; its verdict promotes or rolls back;
  // "awaiting_approval" passed under a manual policy (Check only);
  // "rejected"          the evaluation failed (Check only): nothing moved;
  // "not_promoted"      passed, but the promotion that should follow could not happen
  //                     (Check only: the alias moved meanwhile, the rollout could not
  //                     start, a storage error): detail says why; nothing moved.
  std::string action;
  std::string alias;         // the target alias
  int64_t from_version = 0;  // what the alias held before (0: none)
  int64_t to_version = 0;    // what it holds now / will hold after the rollout
  std::string detail;        // one sentence for people (the reason recorded, …)
};

struct CheckResult {
  Evaluation evaluation;       // as stored
  PromotionOutcome promotion;  // what followed it
};

class PromotionService {
 public:
  // `deps` pointers outlive the service.
  explicit PromotionService(PromotionDeps deps);

  // FailedPrecondition when no policy governs `model` ("apply a kind: Policy for it");
  // Evaluate's errors (NotFound for an unknown version, …); a storage error. A failing
  // evaluation is a successful Check (action "rejected"), and so is one whose promotion
  // failed after it was stored (action "not_promoted": the evaluation is the result).
  absl::StatusOr<CheckResult> Check(std::string_view model, int64_t version,
                                    std::string_view actor);

  // FailedPrecondition (the message says why and what to run: `cairn ci check`, `cairn
  // models approve`, or `--override`) when the conditions above do not hold; NotFound for
  // an unknown model / version.
  absl::StatusOr<PromotionOutcome> Promote(std::string_view model, int64_t version,
                                           std::string_view actor,
                                           std::string_view override_reason = {});
  absl::StatusOr<PromotionOutcome> Approve(std::string_view model, int64_t version,
                                           std::string_view actor);

  // The canary's verdict passed (the endpoint service's `promote`): moves the target alias
  // to `version` with reason "rollout passed: <reason>". Requires the version's latest
  // evaluation under the current policy to have passed when a policy governs the model
  // (FailedPrecondition otherwise, so a hand-started canary cannot bypass the gate);
  // never starts another rollout.
  absl::StatusOr<PromotionOutcome> PromoteAfterRollout(std::string_view model, int64_t version,
                                                       std::string_view actor,
                                                       std::string_view reason);

  // Moves `alias` back to the version it held before (see above); reason "rollback by
  // <actor>: <reason>" (or "rollback by <actor>"). Returns action "promoted" with the
  // versions (from = the version rolled back from).
  absl::StatusOr<PromotionOutcome> Rollback(std::string_view model, std::string_view alias,
                                            std::string_view actor, std::string_view reason);

 private:
  enum class Route { kAuto, kPromote, kApprove, kAfterRollout };
  // What the decision under mu_ found: done (moved, or nothing to do), or a rollout to
  // start outside mu_ (the endpoint service takes its own locks and calls back).
  struct Plan {
    std::optional<PromotionOutcome> done;
    serving::RolloutSpec rollout;
    std::string alias;
    int64_t from_version = 0;
    std::string reason;
  };
  absl::StatusOr<PromotionOutcome> Decide(std::string_view model, int64_t version,
                                          std::string_view actor,
                                          std::string_view override_or_reason, Route route);
  absl::StatusOr<Plan> PlanLocked(std::string_view model, int64_t version, std::string_view actor,
                                  std::string_view override_or_reason, Route route)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Points `alias` at `version` (SetAlias with actor and reason) and publishes the move;
  // "already_current" when it names the version already.
  absl::StatusOr<PromotionOutcome> MoveAlias(std::string_view model, std::string_view alias,
                                             int64_t version, std::string_view actor,
                                             std::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  PromotionDeps deps_;
  absl::Mutex mu_;  // decisions and alias moves
};

}  // namespace cairn::cicd
