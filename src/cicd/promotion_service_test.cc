#include "cicd/promotion_service.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cicd/evaluation_store.h"
#include "cicd/policy_registry.h"
#include "cicd/testing/fake_runtime.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "gtest/gtest.h"
#include "storage/database.h"
#include "tracking/model_registry.h"

namespace cairn::cicd {
namespace {

using testing::FakeLoader;
using testing::FakeRuntime;
using testing::Info;

constexpr char kEvalCsv[] = "x,churned\n0.1,0\n0.9,1\n0.4,0\n0.8,1\n0.2,0\n0.7,1\n0.3,1\n0.6,0\n";

std::shared_ptr<serving::ModelRuntime> Identity() {
  return std::make_shared<FakeRuntime>(Info({"x"}), "x", [](double x) { return x; });
}
std::shared_ptr<serving::ModelRuntime> Constant(double p) {
  return std::make_shared<FakeRuntime>(Info({"x"}), "x", [p](double) { return p; });
}

struct RolloutCall {
  std::string model;
  int64_t version = 0;
  serving::RolloutSpec rollout;
  std::string actor, reason;
};

class PromotionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-promotion-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "eval.csv") << kEvalCsv;
    auto db = storage::OpenDatabase("sqlite::memory:");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto registry = tracking::ModelRegistry::Open(*db_, clock_);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
    auto policies = PolicyRegistry::Open(*db_, clock_);
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = std::move(*policies);
    auto evaluations = EvaluationStore::Open(*db_);
    ASSERT_TRUE(evaluations.ok()) << evaluations.status();
    evaluations_ = std::move(*evaluations);
    ASSERT_TRUE(registry_->CreateRegisteredModel("churn").ok());
    bus_ = std::make_unique<EventBus>(clock_);
    bus_->Subscribe("", [this](const Event& event) {
      absl::MutexLock lock(&events_mu_);
      events_.push_back(event);
    });

    spec_.name = "churn-gate";
    spec_.model = "churn";
    spec_.evaluation.path = "eval.csv";
    spec_.evaluation.label = "churned";
    GateSpec auc;
    auc.kind = "metric";
    auc.name = "auc";
    auc.min = 0.6;
    GateSpec vs;
    vs.kind = "metric";
    vs.name = "auc";
    vs.min_absolute_change = 0.0;
    spec_.gates = {auc, vs};
  }
  void TearDown() override {
    service_.reset();
    bus_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  void ApplyPolicy() {
    auto changes = policies_->Apply({spec_}, /*dry_run=*/false, /*prune=*/false);
    ASSERT_TRUE(changes.ok()) << changes.status();
  }

  PromotionService& Service() {
    if (service_ == nullptr) {
      PromotionDeps deps;
      deps.registry = registry_.get();
      deps.policies = policies_.get();
      deps.evaluations = evaluations_.get();
      deps.events = bus_.get();
      deps.evaluator.load_runtime = loader_.Fn();
      deps.evaluator.data_dir = dir_.string();
      deps.evaluator.clock = &clock_;
      deps.start_rollout = start_rollout_;
      service_ = std::make_unique<PromotionService>(std::move(deps));
    }
    return *service_;
  }

  int64_t NewVersion(std::shared_ptr<serving::ModelRuntime> runtime) {
    auto mv = registry_->CreateModelVersion("churn", "models:/fake");
    EXPECT_TRUE(mv.ok()) << mv.status();
    loader_.versions.emplace(mv->version, std::move(runtime));
    return mv->version;
  }

  int64_t Production() {
    auto mv = registry_->GetModelVersionByAlias("churn", "production");
    return mv.ok() ? mv->version : 0;
  }

  tracking::AliasChange LatestChange() {
    auto history = registry_->AliasHistory("churn");
    EXPECT_TRUE(history.ok() && !history->empty());
    return history->front();
  }

  std::vector<Event> Events(std::string_view type) {
    bus_->Drain();
    absl::MutexLock lock(&events_mu_);
    std::vector<Event> out;
    for (const Event& e : events_) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  FakeLoader loader_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::ModelRegistry> registry_;
  std::unique_ptr<PolicyRegistry> policies_;
  std::unique_ptr<EvaluationStore> evaluations_;
  std::unique_ptr<EventBus> bus_;
  absl::Mutex events_mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(events_mu_);
  PolicySpec spec_;
  StartRolloutFn start_rollout_;
  std::unique_ptr<PromotionService> service_;
};

TEST_F(PromotionServiceTest, AutoModePromotesAPassingVersionThroughTheAliasHistory) {
  ApplyPolicy();
  const int64_t v1 = NewVersion(Identity());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v1, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->evaluation.passed);
  EXPECT_EQ(check->promotion.action, "promoted");
  EXPECT_EQ(check->promotion.alias, "production");
  EXPECT_EQ(check->promotion.from_version, 0);
  EXPECT_EQ(check->promotion.to_version, v1);
  const std::string reason =
      "auto: evaluation " + check->evaluation.id + " passed (policy churn-gate v1)";
  EXPECT_EQ(check->promotion.detail, reason);
  EXPECT_EQ(Production(), v1);

  const tracking::AliasChange change = LatestChange();
  EXPECT_EQ(change.actor, "ci");
  EXPECT_EQ(change.reason, reason);

  // Stored, and both events published.
  absl::StatusOr<Evaluation> stored = evaluations_->Get(check->evaluation.id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, check->evaluation);
  std::vector<Event> finished = Events(kEventEvaluationFinished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].attributes.at("evaluation_id"), check->evaluation.id);
  EXPECT_EQ(finished[0].attributes.at("passed"), "true");
  EXPECT_EQ(finished[0].attributes.at("policy"), "churn-gate");
  std::vector<Event> moved = Events(kEventModelAliasMoved);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0].attributes.at("from_version"), "");
  EXPECT_EQ(moved[0].attributes.at("to_version"), "1");
  EXPECT_EQ(moved[0].attributes.at("actor"), "ci");
  EXPECT_EQ(moved[0].attributes.at("reason"), reason);

  // Checking the holder again changes nothing.
  absl::StatusOr<CheckResult> again = Service().Check("churn", v1, "ci");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->promotion.action, "already_current");
  EXPECT_EQ(Events(kEventModelAliasMoved).size(), 1u);
}

TEST_F(PromotionServiceTest, AFailingCandidateIsRejectedAndOnlyAnOverrideMovesIt) {
  ApplyPolicy();
  const int64_t v1 = NewVersion(Identity());
  const int64_t v2 = NewVersion(Constant(0.5));
  ASSERT_TRUE(Service().Check("churn", v1, "ci").ok());

  absl::StatusOr<CheckResult> check = Service().Check("churn", v2, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_FALSE(check->evaluation.passed);
  EXPECT_EQ(check->promotion.action, "rejected");
  EXPECT_EQ(check->promotion.detail,
            "evaluation " + check->evaluation.id +
                " failed (auc >= 0.6 (fail), auc vs production: change >= 0 (fail)): "
                "production stays where it is");
  EXPECT_EQ(Production(), v1);
  std::vector<Event> finished = Events(kEventEvaluationFinished);
  ASSERT_EQ(finished.size(), 2u);
  EXPECT_EQ(finished[1].attributes.at("passed"), "false");

  absl::StatusOr<PromotionOutcome> refused = Service().Promote("churn", v2, "alice");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "the latest evaluation of churn version 2 under policy churn-gate v1 (" +
                check->evaluation.id +
                ") failed: auc >= 0.6 (fail), auc vs production: change >= 0 (fail); register "
                "a better version and `cairn ci check` it, or promote this one with --override "
                "WHY");
  EXPECT_EQ(Production(), v1);

  absl::StatusOr<PromotionOutcome> forced =
      Service().Promote("churn", v2, "alice", "hotfix for ticket 42");
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->action, "promoted");
  EXPECT_EQ(forced->from_version, v1);
  EXPECT_EQ(Production(), v2);
  EXPECT_EQ(LatestChange().actor, "alice");
  EXPECT_EQ(LatestChange().reason, "override by alice: hotfix for ticket 42");
}

TEST_F(PromotionServiceTest, ManualModeWaitsForApproval) {
  spec_.mode = "manual";
  ApplyPolicy();
  const int64_t v1 = NewVersion(Identity());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v1, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->promotion.action, "awaiting_approval");
  EXPECT_EQ(check->promotion.detail,
            "passed; policy churn-gate v1 is manual: approve with `cairn models approve churn "
            "1`");
  EXPECT_EQ(Production(), 0);

  absl::StatusOr<PromotionOutcome> promote = Service().Promote("churn", v1, "alice");
  EXPECT_EQ(promote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(promote.status().message(),
            "policy churn-gate v1 (model churn) is manual: a passing version is promoted by "
            "approval: `cairn models approve churn 1` (or promote with --override WHY)");

  absl::StatusOr<PromotionOutcome> approved = Service().Approve("churn", v1, "carol");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->action, "promoted");
  EXPECT_EQ(Production(), v1);
  EXPECT_EQ(LatestChange().actor, "carol");
  EXPECT_EQ(LatestChange().reason, "approved by carol; evaluation " + check->evaluation.id +
                                       " passed (policy churn-gate v1)");
}

TEST_F(PromotionServiceTest, AnEvaluationAgainstAnotherBaselineOrPolicyVersionDoesNotCount) {
  spec_.mode = "manual";
  ApplyPolicy();
  const int64_t v1 = NewVersion(Identity());
  const int64_t v2 = NewVersion(Identity());
  const int64_t v3 = NewVersion(Identity());
  ASSERT_TRUE(Service().Check("churn", v1, "ci").ok());
  ASSERT_TRUE(Service().Approve("churn", v1, "carol").ok());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v2, "ci");
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->evaluation.baseline_version, v1);
  ASSERT_TRUE(Service().Promote("churn", v3, "dave", "incident 7").ok());

  absl::StatusOr<PromotionOutcome> stale = Service().Approve("churn", v2, "carol");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(stale.status().message(),
            "evaluation " + check->evaluation.id +
                " compared version 2 with version 1, but production now holds version 3: run "
                "`cairn ci check churn 2` again to compare it with what serves now");

  // A new policy version: evaluations under the old one no longer count.
  spec_.gates[0].min = 0.65;
  ApplyPolicy();
  absl::StatusOr<PromotionOutcome> old = Service().Approve("churn", v2, "carol");
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(old.status().message(),
            "version 2 of churn has no evaluation under policy churn-gate v2: run `cairn ci "
            "check churn 2` first (or promote with --override WHY)");
  ASSERT_TRUE(Service().Check("churn", v2, "ci").ok());
  absl::StatusOr<PromotionOutcome> approved = Service().Approve("churn", v2, "carol");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(Production(), v2);
}

TEST_F(PromotionServiceTest, ARolloutPolicyStartsACanaryWhoseVerdictPromotes) {
  serving::RolloutSpec rollout;
  rollout.mode = "canary";
  rollout.percent = 20;
  spec_.rollout = rollout;
  ApplyPolicy();
  std::vector<RolloutCall> calls;
  start_rollout_ = [&](std::string_view model, int64_t version, const serving::RolloutSpec& spec,
                       std::string_view actor,
                       std::string_view reason) -> absl::StatusOr<std::string> {
    calls.push_back({std::string(model), version, spec, std::string(actor), std::string(reason)});
    return std::string("canary of churn version 2 at 20% on endpoint churn");
  };
  const int64_t v1 = NewVersion(Constant(0.5));
  const int64_t v2 = NewVersion(Identity());
  ASSERT_TRUE(Service().Promote("churn", v1, "ops", "bootstrap").ok());

  absl::StatusOr<CheckResult> check = Service().Check("churn", v2, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->promotion.action, "rollout_started");
  EXPECT_EQ(check->promotion.from_version, v1);
  EXPECT_EQ(check->promotion.to_version, v2);
  const std::string reason =
      "auto: evaluation " + check->evaluation.id + " passed (policy churn-gate v1)";
  EXPECT_EQ(check->promotion.detail,
            "canary of churn version 2 at 20% on endpoint churn; its verdict promotes or rolls "
            "back (" +
                reason + ")");
  EXPECT_EQ(Production(), v1);  // not yet
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].model, "churn");
  EXPECT_EQ(calls[0].version, v2);
  EXPECT_EQ(calls[0].rollout.version, v2);
  EXPECT_EQ(calls[0].rollout.mode, "canary");
  EXPECT_EQ(calls[0].rollout.percent, 20);
  EXPECT_EQ(calls[0].actor, "ci");
  EXPECT_EQ(calls[0].reason, reason);

  absl::StatusOr<PromotionOutcome> done = Service().PromoteAfterRollout(
      "churn", v2, "canary", "guard passed: error rate 0.1% vs 0.1%, p99 2.1 vs 2.0 ms");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->action, "promoted");
  EXPECT_EQ(Production(), v2);
  EXPECT_EQ(LatestChange().actor, "canary");
  EXPECT_EQ(LatestChange().reason,
            "rollout passed: guard passed: error rate 0.1% vs 0.1%, p99 2.1 vs 2.0 ms; "
            "evaluation " +
                check->evaluation.id + " passed (policy churn-gate v1)");
  EXPECT_EQ(calls.size(), 1u);  // the verdict starts no second rollout
}

TEST_F(PromotionServiceTest, WithoutAnEndpointTheRolloutPolicyPromotesDirectly) {
  spec_.rollout = serving::RolloutSpec{};
  ApplyPolicy();
  start_rollout_ = [](std::string_view, int64_t, const serving::RolloutSpec&, std::string_view,
                      std::string_view) -> absl::StatusOr<std::string> {
    return absl::NotFoundError("no endpoint follows churn@production");
  };
  const int64_t v1 = NewVersion(Identity());
  ASSERT_TRUE(Service().Promote("churn", v1, "ana", "the first version").ok());
  const int64_t v2 = NewVersion(Identity());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v2, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->promotion.action, "promoted");
  EXPECT_EQ(Production(), v2);
  EXPECT_EQ(LatestChange().reason, "auto: evaluation " + check->evaluation.id +
                                       " passed (policy churn-gate v1); no rollout: no "
                                       "endpoint follows churn@production");
}

TEST_F(PromotionServiceTest, APassingCheckWhoseRolloutCannotStartReportsItAndMovesNothing) {
  spec_.rollout = serving::RolloutSpec{};
  ApplyPolicy();
  start_rollout_ = [](std::string_view, int64_t, const serving::RolloutSpec&, std::string_view,
                      std::string_view) -> absl::StatusOr<std::string> {
    return absl::FailedPreconditionError("endpoint churn already runs rollout r-1");
  };
  const int64_t v1 = NewVersion(Identity());
  ASSERT_TRUE(Service().Promote("churn", v1, "ana", "the first version").ok());
  const int64_t v2 = NewVersion(Identity());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v2, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->evaluation.passed);
  EXPECT_EQ(check->promotion.action, "not_promoted");
  EXPECT_EQ(check->promotion.detail,
            "passed, but not promoted: endpoint churn already runs rollout r-1");
  EXPECT_EQ(Production(), v1);
  EXPECT_TRUE(evaluations_->Get(check->evaluation.id).ok());
}

// The first version to take the alias has no champion to be compared with: no rollout.
TEST_F(PromotionServiceTest, TheFirstVersionIsPromotedWithoutARollout) {
  spec_.rollout = serving::RolloutSpec{};
  ApplyPolicy();
  int calls = 0;
  start_rollout_ = [&calls](std::string_view, int64_t, const serving::RolloutSpec&,
                            std::string_view, std::string_view) -> absl::StatusOr<std::string> {
    ++calls;
    return std::string("canary started");
  };
  const int64_t v1 = NewVersion(Identity());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v1, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->promotion.action, "promoted");
  EXPECT_EQ(Production(), v1);
  EXPECT_EQ(calls, 0);
  const int64_t v2 = NewVersion(Identity());
  check = Service().Check("churn", v2, "ci");
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->promotion.action, "rollout_started");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Production(), v1);
}

TEST_F(PromotionServiceTest, AHandStartedCanaryCannotBypassTheGate) {
  ApplyPolicy();
  const int64_t v1 = NewVersion(Constant(0.5));
  absl::StatusOr<PromotionOutcome> done =
      Service().PromoteAfterRollout("churn", v1, "canary", "guard passed");
  EXPECT_EQ(done.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Production(), 0);
}

TEST_F(PromotionServiceTest, RollbackMovesTheAliasBackToItsPreviousVersion) {
  ApplyPolicy();
  const int64_t v1 = NewVersion(Identity());
  const int64_t v2 = NewVersion(Identity());
  ASSERT_TRUE(Service().Check("churn", v1, "ci").ok());

  absl::StatusOr<PromotionOutcome> never = Service().Rollback("churn", "production", "alice", "");
  EXPECT_EQ(never.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(never.status().message(),
            "alias 'production' of model 'churn' was set to version 1 and never moved: there "
            "is no earlier version to roll back to");

  ASSERT_TRUE(Service().Check("churn", v2, "ci").ok());
  ASSERT_EQ(Production(), v2);
  absl::StatusOr<PromotionOutcome> back =
      Service().Rollback("churn", "production", "alice", "canary alerts");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->action, "promoted");
  EXPECT_EQ(back->from_version, v2);
  EXPECT_EQ(back->to_version, v1);
  EXPECT_EQ(Production(), v1);
  EXPECT_EQ(LatestChange().actor, "alice");
  EXPECT_EQ(LatestChange().reason, "rollback by alice: canary alerts");
  std::vector<Event> moved = Events(kEventModelAliasMoved);
  ASSERT_EQ(moved.size(), 3u);
  EXPECT_EQ(moved[2].attributes.at("from_version"), "2");
  EXPECT_EQ(moved[2].attributes.at("to_version"), "1");

  absl::StatusOr<PromotionOutcome> missing = Service().Rollback("churn", "staging", "alice", "");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "model 'churn' has no alias 'staging': nothing to roll back");
  EXPECT_EQ(Service().Rollback("fraud", "production", "a", "").status().code(),
            absl::StatusCode::kNotFound);
}

// Rolling back twice walks further back (3 → 2 → 1) instead of undoing the first rollback.
TEST_F(PromotionServiceTest, RollingBackTwiceWalksFurtherBack) {
  ApplyPolicy();
  const int64_t v1 = NewVersion(Identity());
  const int64_t v2 = NewVersion(Identity());
  const int64_t v3 = NewVersion(Identity());
  for (int64_t v : {v1, v2, v3}) ASSERT_TRUE(Service().Check("churn", v, "ci").ok());
  ASSERT_EQ(Production(), v3);
  absl::StatusOr<PromotionOutcome> first = Service().Rollback("churn", "production", "bo", "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Production(), v2);
  absl::StatusOr<PromotionOutcome> second = Service().Rollback("churn", "production", "bo", "");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->from_version, v2);
  EXPECT_EQ(second->to_version, v1);
  EXPECT_EQ(Production(), v1);
  EXPECT_EQ(Service().Rollback("churn", "production", "bo", "").status().code(),
            absl::StatusCode::kNotFound);  // version 1 was the first: nothing before it
}

TEST_F(PromotionServiceTest, WithoutAPolicyOnlyAnOverridePromotes) {
  const int64_t v1 = NewVersion(Identity());
  absl::StatusOr<CheckResult> check = Service().Check("churn", v1, "ci");
  EXPECT_EQ(check.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<PromotionOutcome> promote = Service().Promote("churn", v1, "alice");
  EXPECT_EQ(promote.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(promote.status().message(),
            "no policy governs model 'churn', so version 1 has no gate to pass: apply a kind: "
            "Policy with model: churn and run `cairn ci check churn 1`, or promote with an "
            "override reason (--override WHY)");
  absl::StatusOr<PromotionOutcome> forced = Service().Promote("churn", v1, "alice", "first");
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(Production(), v1);
  EXPECT_EQ(Service().Promote("churn", 9, "alice", "x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Service().Check("churn", 9, "ci").status().code(),
            absl::StatusCode::kFailedPrecondition);  // no policy comes first
}

}  // namespace
}  // namespace cairn::cicd
