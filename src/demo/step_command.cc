#include "demo/step_command.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <ostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "demo/demo_stores.h"
#include "demo/retrain_step.h"
#include "demo/steps.h"

namespace cairn::demo {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

int Fail(std::ostream& err, const std::string& step, const absl::Status& status) {
  err << "cairn demo step " << step << ": " << ToStd(status.message()) << "\n";
  return kExitFailed;
}

}  // namespace

int RunDemoStepCommand(const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
  CLI::App app("One stage of the churn-train pipeline (its steps run these)", "cairn demo step");
  app.require_subcommand(1);
  int exit_code = 0;

  auto set = std::make_shared<TrainingSetStepRequest>();
  CLI::App* training_set = app.add_subcommand(
      "training-set", "Point-in-time training set of the churn feature service");
  training_set->add_option("--data", set->data_dir, "Data directory")->required();
  training_set->add_option("--rows", set->expected_rows, "Customers the labels must hold");
  training_set->add_option("--data-version", set->data_version,
                           "Fingerprint of the events and feature definitions (recorded)");
  training_set->add_option("--train", set->train_path, "Train matrix to write")->required();
  training_set->add_option("--validation", set->validation_path, "Validation matrix to write")
      ->required();
  training_set->add_option("--snapshot", set->snapshot_path, "snapshot.json to write")
      ->required();
  training_set->callback([&] {
    absl::StatusOr<DemoStores> stores = OpenDemoStores(set->data_dir, /*with_features=*/true);
    if (!stores.ok()) {
      exit_code = Fail(err, "training-set", stores.status());
      return;
    }
    absl::StatusOr<TrainingSetStepResult> result = RunTrainingSetStep(*stores, *set);
    if (!result.ok()) {
      exit_code = Fail(err, "training-set", result.status());
      return;
    }
    out << absl::StrFormat(
        "training set %s (data version %s): %d rows x %d features (join %d ms), content "
        "hash %s; %d train / %d validation rows\n",
        result->uri, set->data_version.empty() ? "-" : set->data_version, result->rows, result->feature_names.size(), result->join_ms,
        result->content_hash, result->train_rows, result->validation_rows);
  });

  auto retrain = std::make_shared<RetrainSetRequest>();
  CLI::App* retrain_set = app.add_subcommand(
      "retrain-set", "Train and validation matrices from the newest labeled production traffic");
  retrain_set->add_option("--traffic", retrain->traffic_dir, "Traffic directory (traffic.h)")
      ->required();
  retrain_set->add_option("--days", retrain->days, "Newest days of labeled traffic to use")
      ->capture_default_str();
  retrain_set->add_option("--train", retrain->train_path, "Train matrix to write")->required();
  retrain_set->add_option("--validation", retrain->validation_path, "Validation matrix to write")
      ->required();
  retrain_set->add_option("--snapshot", retrain->snapshot_path, "snapshot.json to write")
      ->required();
  retrain_set->callback([&] {
    std::vector<std::string> files;
    absl::StatusOr<TrainingSetStepResult> result = RunRetrainSetStep(*retrain, &files);
    if (!result.ok()) {
      exit_code = Fail(err, "retrain-set", result.status());
      return;
    }
    out << absl::StrFormat(
        "retrain set from %s: %d rows (%.1f%% churned); %d train / %d validation rows\n",
        absl::StrJoin(files, ", "), result->rows, 100.0 * result->positive_rate,
        result->train_rows, result->validation_rows);
  });

  auto train = std::make_shared<TrainStepRequest>();
  std::string train_data_dir;
  CLI::App* train_cmd = app.add_subcommand("train", "Train one XGBoost model and log it");
  train_cmd->add_option("--data", train_data_dir, "Data directory")->required();
  train_cmd->add_option("--train", train->train_path, "Train matrix")->required();
  train_cmd->add_option("--validation", train->validation_path, "Validation matrix")
      ->required();
  train_cmd->add_option("--snapshot", train->snapshot_path, "snapshot.json of the training set")
      ->required();
  train_cmd->add_option("--max-depth", train->max_depth, "Tree depth")->required();
  train_cmd->add_option("--eta", train->eta, "Learning rate")->required();
  train_cmd->add_option("--num-round", train->num_round, "Boosting rounds")->required();
  train_cmd->add_option("--threads", train->threads, "xgboost threads")->capture_default_str();
  train_cmd->add_option("--run-id", train->run_id,
                        "Tracking run to log into (default: $MLFLOW_RUN_ID; none: a new run "
                        "in experiment churn)");
  train_cmd->add_option("--model", train->model_path, "model.json to write")->required();
  train_cmd->add_option("--metrics", train->metrics_path, "metrics.json to write")->required();
  train_cmd->callback([&] {
    if (train->run_id.empty()) train->run_id = EnvOr("MLFLOW_RUN_ID", "");
    absl::StatusOr<DemoStores> stores = OpenDemoStores(train_data_dir, /*with_features=*/false);
    if (!stores.ok()) {
      exit_code = Fail(err, "train", stores.status());
      return;
    }
    absl::StatusOr<DemoRun> run = RunTrainStep(*stores, *train);
    if (!run.ok()) {
      exit_code = Fail(err, "train", run.status());
      return;
    }
    out << absl::StrFormat("%s: val AUC %.4f, val logloss %.4f in %.2fs; logged to run %s\n",
                           run->run_name, run->val_auc, run->val_logloss, run->seconds,
                           run->run_id);
  });

  std::string evaluate_out;
  std::vector<std::string> metrics_files;
  CLI::App* evaluate = app.add_subcommand("evaluate", "Pick the best model by validation AUC");
  evaluate->add_option("--out", evaluate_out, "best.json to write")->required();
  evaluate->add_option("metrics", metrics_files, "metrics.json of each train step")->required();
  evaluate->callback([&] {
    absl::StatusOr<EvaluateStepResult> result = RunEvaluateStep(metrics_files, evaluate_out);
    if (!result.ok()) {
      exit_code = Fail(err, "evaluate", result.status());
      return;
    }
    const DemoRun& best = result->candidates[result->best];
    out << absl::StrFormat("best of %d: %s, val AUC %.4f (run %s)\n", result->candidates.size(),
                           best.run_name, best.val_auc, best.run_id);
  });

  std::string register_data_dir, best_path, register_out;
  bool register_only = false;
  CLI::App* register_cmd = app.add_subcommand(
      "register", "Register the best model as churn and point production at it");
  register_cmd->add_flag("--no-promote", register_only,
                         "Register only: the release gate decides about production");
  register_cmd->add_option("--data", register_data_dir, "Data directory")->required();
  register_cmd->add_option("--best", best_path, "best.json of the evaluate step")->required();
  register_cmd->add_option("--out", register_out, "registered.json to write")->required();
  register_cmd->callback([&] {
    absl::StatusOr<DemoStores> stores =
        OpenDemoStores(register_data_dir, /*with_features=*/false);
    if (!stores.ok()) {
      exit_code = Fail(err, "register", stores.status());
      return;
    }
    absl::StatusOr<RegisterStepResult> result =
        RunRegisterStep(*stores, best_path, register_out, /*promote=*/!register_only);
    if (!result.ok()) {
      exit_code = Fail(err, "register", result.status());
      return;
    }
    out << absl::StrFormat("model %s version %d %s (run %s, val AUC %.4f); %s\n", kDemoModel,
                           result->version,
                           result->created ? "registered" : "already registered: reused",
                           result->run_name, result->val_auc,
                           register_only ? "awaits the release gate"
                                         : absl::StrFormat("alias %s -> %d", kDemoAlias,
                                                           result->version));
  });

  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error, out, err);
    return code == 0 ? 0 : kExitUsage;
  }
  out << std::flush;
  return exit_code;
}

}  // namespace cairn::demo
