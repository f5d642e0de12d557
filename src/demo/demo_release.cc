#include "demo/demo_release.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <ostream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cicd/policy_yaml.h"
#include "cicd/release_stack.h"
#include "cicd/report.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "common/json.h"
#include "common/status.h"
#include "demo/churn_serving.h"
#include "demo/retrain_step.h"
#include "demo/step_io.h"
#include "demo/steps.h"
#include "demo/traffic.h"
#include "serving/endpoint_yaml.h"

namespace cairn::demo {
namespace {

namespace fs = std::filesystem;

constexpr char kActor[] = "cairn demo";
constexpr char kTrafficDir[] = "traffic";
// The tag that marks the demo's rushed candidate, so a rerun reuses it.
constexpr char kCandidateTag[] = "cairn.demo.candidate";
constexpr char kRushed[] = "rushed";
// How long the canary may take before the chapter gives up (its window is 2 s).
constexpr int64_t kCanaryDeadlineMs = 60'000;

std::string Sign(const std::string& action) {
  return action == "added" ? "+" : action == "unchanged" ? "=" : action == "removed" ? "-" : "~";
}

// The version of `model` the alias names, 0 when none.
int64_t AliasVersion(tracking::ModelRegistry& registry, std::string_view alias) {
  absl::StatusOr<tracking::ModelVersion> version =
      registry.GetModelVersionByAlias(kDemoModel, alias);
  return version.ok() ? version->version : 0;
}

// The evaluation's gates that failed or erred, as "gate (slice): detail".
std::vector<std::string> FailedGates(const cicd::Evaluation& evaluation) {
  std::vector<std::string> failed;
  for (const cicd::GateResult& gate : evaluation.gates) {
    if (gate.verdict != "fail" && gate.verdict != "error") continue;
    failed.push_back(absl::StrCat(gate.gate, gate.slice.empty() ? "" : " [" + gate.slice + "]",
                                  ": ", gate.detail));
  }
  return failed;
}

void PrintIndented(const std::string& text, std::ostream& out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out << "        " << text.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

// The demo's rushed candidate: two depth-1 trees on the newest labeled day, registered as
// a version of churn (without an alias), or the one a previous run registered.
absl::StatusOr<int64_t> RushedCandidate(DemoStores& stores, const std::string& data_dir) {
  tracking::SearchRegistryRequest search;
  search.filter = absl::StrCat("name = '", kDemoModel, "'");
  search.max_results = 1000;
  CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersionPage page,
                         stores.registry->SearchModelVersions(search));
  for (const tracking::ModelVersion& version : page.versions) {
    for (const tracking::RegistryTag& tag : version.tags) {
      if (tag.key == kCandidateTag && tag.value == kRushed) return version.version;
    }
  }
  const fs::path dir = fs::path(data_dir) / "evaluation" / "rushed";
  RetrainSetRequest set;
  set.traffic_dir = (fs::path(data_dir) / kTrafficDir).string();
  set.days = 1;
  set.train_path = (dir / "train.csv").string();
  set.validation_path = (dir / "validation.csv").string();
  set.snapshot_path = (dir / "snapshot.json").string();
  std::vector<std::string> files;
  CAIRN_RETURN_IF_ERROR(RunRetrainSetStep(set, &files).status());
  TrainStepRequest train;
  train.train_path = set.train_path;
  train.validation_path = set.validation_path;
  train.snapshot_path = set.snapshot_path;
  train.max_depth = 1;
  train.eta = 0.3;
  train.num_round = 2;
  train.threads = 1;
  train.model_path = (dir / "model.json").string();
  train.metrics_path = (dir / "metrics.json").string();
  CAIRN_ASSIGN_OR_RETURN(DemoRun run, RunTrainStep(stores, train));
  CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo info, stores.tracking->GetRunInfo(run.run_id));
  CAIRN_ASSIGN_OR_RETURN(
      tracking::ModelVersion version,
      stores.registry->CreateModelVersion(
          kDemoModel, absl::StrCat(info.artifact_uri, "/model"), run.run_id,
          {{kCandidateTag, kRushed},
           {"run_name", run.run_name},
           {"val_auc", absl::StrFormat("%.4f", run.val_auc)}}));
  return version.version;
}

}  // namespace

absl::StatusOr<ReleaseChapterResult> RunReleaseChapter(DemoStores& stores,
                                                       const ReleaseChapterOptions& options,
                                                       std::ostream& out) {
  ReleaseChapterResult result;
  if (stores.features == nullptr) {
    return absl::FailedPreconditionError("the release chapter needs the feature store open");
  }
  if (options.customer_ids.empty()) {
    return absl::InvalidArgumentError("the release chapter needs customer ids to ask about");
  }
  const fs::path root(options.data_dir);

  // The policy's evaluation data: the newest day of labeled production traffic.
  std::vector<std::string> eval_files;
  CAIRN_ASSIGN_OR_RETURN(
      Dataset evaluation_rows,
      ReadLabeledTraffic((root / kTrafficDir).string(), /*days=*/1, &eval_files));
  const std::string eval_path = (root / kChurnEvaluationFile).string();
  CAIRN_RETURN_IF_ERROR(WriteDatasetCsv(evaluation_rows, eval_path));

  // The services a server runs for releases (cicd/release_stack.h).
  EventBus bus;
  cicd::ReleaseStackOptions stack_options;
  stack_options.db = stores.db.get();
  stack_options.registry = stores.registry.get();
  stack_options.tracking = stores.tracking.get();
  stack_options.artifacts = stores.artifacts.get();
  stack_options.online = &stores.features->online_service();
  stack_options.events = &bus;
  stack_options.data_dir = options.data_dir;
  stack_options.recheck_ms = 100;
  stack_options.seed = options.seed;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<cicd::ReleaseStack> stack,
                         cicd::OpenReleaseStack(stack_options));

  // The endpoint and the policy, as `cairn apply -f examples/churn/serving` registers them.
  const std::vector<features::DefinitionFile> files = ChurnServingFiles();
  CAIRN_ASSIGN_OR_RETURN(std::vector<serving::EndpointSpec> endpoints,
                         serving::ParseEndpointFiles(files));
  CAIRN_ASSIGN_OR_RETURN(std::vector<cicd::PolicySpec> policies, cicd::ParsePolicyFiles(files));
  CAIRN_ASSIGN_OR_RETURN(std::vector<serving::EndpointChange> endpoint_changes,
                         stack->endpoint_registry->Apply(endpoints, false, false));
  CAIRN_ASSIGN_OR_RETURN(std::vector<cicd::PolicyChange> policy_changes,
                         stack->policies->Apply(policies, false, false));
  for (const serving::EndpointChange& change : endpoint_changes) {
    out << absl::StrFormat("      %s Endpoint %s (v%d): %s@%s, features online from service %s\n",
                           Sign(change.action), change.name,
                           change.new_version.value_or(change.old_version.value_or(0)),
                           kDemoModel, kDemoAlias, "churn");
  }
  for (const cicd::PolicyChange& change : policy_changes) {
    out << absl::StrFormat(
        "      %s Policy %s (v%d): gates on %s (%d rows of labeled traffic, %s)\n",
        Sign(change.action), change.name,
        change.new_version.value_or(change.old_version.value_or(0)), kChurnEvaluationFile,
        evaluation_rows.rows(), fs::path(eval_files.empty() ? "" : eval_files.back()).filename().string());
  }
  CAIRN_RETURN_IF_ERROR(stack->endpoints->Sync());
  const int64_t production_before = AliasVersion(*stores.registry, kDemoAlias);
  out << absl::StrFormat("      endpoint %s serves %s version %d\n", kChurnEndpointName,
                         kDemoModel, production_before);

  // The candidate: the newest version that is not the rushed one (the retrained model).
  tracking::SearchRegistryRequest search;
  search.filter = absl::StrCat("name = '", kDemoModel, "'");
  search.max_results = 1000;
  CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersionPage page,
                         stores.registry->SearchModelVersions(search));
  for (const tracking::ModelVersion& version : page.versions) {
    bool rushed = false;
    for (const tracking::RegistryTag& tag : version.tags) {
      rushed = rushed || (tag.key == kCandidateTag && tag.value == kRushed);
    }
    if (!rushed) result.candidate_version = std::max(result.candidate_version, version.version);
  }
  if (result.candidate_version == 0) {
    return absl::FailedPreconditionError("no version of churn to gate: run the demo from the start");
  }

  // 1. The retrained model through the gate.
  out << absl::StrFormat("      cairn ci check %s %d  (the retrained model vs production v%d)\n",
                         kDemoModel, result.candidate_version, production_before);
  CAIRN_ASSIGN_OR_RETURN(cicd::CheckResult checked,
                         stack->promotion->Check(kDemoModel, result.candidate_version, kActor));
  result.candidate_passed = checked.evaluation.passed;
  result.candidate_action = checked.promotion.action;
  PrintIndented(cicd::EvaluationToText(checked.evaluation), out);
  out << "        → " << checked.promotion.detail << "\n";

  // 2. The canary: simulated requests while the guard watches.
  absl::StatusOr<std::optional<serving::Rollout>> active =
      stack->endpoint_store->Active(kChurnEndpointName);
  if (active.ok() && active->has_value()) {
    result.rollout_id = (*active)->id;
    const auto start = std::chrono::steady_clock::now();
    size_t next = 0;
    std::string state = "running";
    while (state == "running") {
      const int64_t customer = options.customer_ids[next++ % options.customer_ids.size()];
      const std::string request =
          absl::StrCat(R"({"entities": {"customer_id": [)", customer, "]}}");
      absl::StatusOr<std::string> answer = stack->endpoints->Predict(kChurnEndpointName, request);
      if (!answer.ok()) return answer.status();
      ++result.canary_requests;
      if (result.canary_requests % 50 == 0) {
        stack->endpoints->RecheckNow();
        CAIRN_ASSIGN_OR_RETURN(serving::Rollout rollout,
                               stack->endpoint_store->Get(result.rollout_id));
        state = rollout.state;
      }
      const auto elapsed = std::chrono::steady_clock::now() - start;
      if (std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() >
          kCanaryDeadlineMs) {
        return absl::DeadlineExceededError(absl::StrCat(
            "canary ", result.rollout_id, " gave no verdict within ", kCanaryDeadlineMs / 1000,
            " s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CAIRN_ASSIGN_OR_RETURN(serving::Rollout rollout, stack->endpoint_store->Get(result.rollout_id));
    result.rollout_state = rollout.state;
    const double seconds = static_cast<double>(rollout.ended_ms - rollout.started_ms) / 1000.0;
    out << absl::StrFormat(
        "      canary %s: %d simulated requests in %.1fs, %g%% to version %d\n"
        "        guard: %s\n"
        "        → rollout %s\n",
        rollout.id, result.canary_requests, seconds, rollout.percent, rollout.version,
        rollout.verdict.is_object() ? rollout.verdict.value("reason", "") : std::string("-"),
        rollout.state);
    stack->endpoints->RecheckNow();  // the alias moved: redeploy now
  }

  // 3. A rushed candidate: rejected by the gate.
  CAIRN_ASSIGN_OR_RETURN(result.rejected_version, RushedCandidate(stores, options.data_dir));
  out << absl::StrFormat(
      "      cairn ci check %s %d  (a rushed candidate: 2 trees of depth 1)\n", kDemoModel,
      result.rejected_version);
  CAIRN_ASSIGN_OR_RETURN(cicd::CheckResult rejected,
                         stack->promotion->Check(kDemoModel, result.rejected_version, kActor));
  result.rejected_passed = rejected.evaluation.passed;
  result.failed_gates = FailedGates(rejected.evaluation);
  out << absl::StrFormat("        %s: %d of %d gates failed\n",
                         rejected.evaluation.passed ? "PASSED" : "REJECTED",
                         result.failed_gates.size(), rejected.evaluation.gates.size());
  for (const std::string& gate : result.failed_gates) out << "          ✗ " << gate << "\n";
  out << "        → " << rejected.promotion.detail << "\n";
  if (rejected.promotion.action == "rollout_started") {
    // Not expected; the demo never lets a rushed model take traffic.
    CAIRN_RETURN_IF_ERROR(stack->endpoints
                              ->StopRollout(kChurnEndpointName, "", "rollback", kActor,
                                            "the demo's rushed candidate")
                              .status());
  }

  // 4. Serving: predictions for customers by id, features from the online store.
  result.production_version = AliasVersion(*stores.registry, kDemoAlias);
  const size_t shown = std::min<size_t>(3, options.customer_ids.size());
  std::vector<std::string> ids;
  for (size_t i = 0; i < shown; ++i) ids.push_back(absl::StrCat(options.customer_ids[i]));
  const std::string request =
      absl::StrCat(R"({"entities": {"customer_id": [)", absl::StrJoin(ids, ", "), "]}}");
  CAIRN_ASSIGN_OR_RETURN(std::string answer,
                         stack->endpoints->Predict(kChurnEndpointName, request));
  CAIRN_ASSIGN_OR_RETURN(Json reply, ParseJson(answer));
  out << absl::StrFormat("      POST /api/v1/endpoints/%s/predict %s\n", kChurnEndpointName,
                         request);
  const Json predictions = reply.value("predictions", Json::array());
  const int64_t served_by = reply.value("model_version", int64_t{0});
  for (size_t i = 0; i < shown && i < predictions.size(); ++i) {
    ServedPrediction p{options.customer_ids[i], predictions[i].get<double>(), served_by};
    result.predictions.push_back(p);
    out << absl::StrFormat("        customer %d: churn risk %.3f (model %s v%d, %s)\n",
                           p.customer_id, p.score, kDemoModel, p.model_version,
                           reply.value("variant", ""));
  }
  CAIRN_RETURN_IF_ERROR(stack->inference_log->Flush());
  result.logged_predictions = stack->inference_log->Stats().written;
  out << absl::StrFormat(
      "      %s@%s is version %d; %d predictions logged (cairn endpoints log %s)\n", kDemoModel,
      kDemoAlias, result.production_version, result.logged_predictions, kChurnEndpointName);
  stack->Shutdown();
  return result;
}

}  // namespace cairn::demo
