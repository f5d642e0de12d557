#include "demo/demo.h"

#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "common/ids.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::demo {
namespace {

using ::testing::HasSubstr;

class DemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = std::filesystem::temp_directory_path() / ("cairn-demo-test-" + NewUuidHex());
    options_.data_dir = data_dir_.string();
    options_.rows = 2000;
    options_.threads = 2;
    options_.max_depths = {2, 3, 4};
    options_.etas = {0.3, 0.5};
    options_.num_round = 5;
    options_.step_binary = CAIRN_DEMO_CLI;
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  std::filesystem::path data_dir_;
  DemoOptions options_;
};

// The grid's step names, in grid order.
const std::vector<std::string> kTrainSteps = {"train-1-1", "train-1-2", "train-2-1",
                                              "train-2-2", "train-3-1", "train-3-2"};

TEST_F(DemoTest, TrainsAsAPipelineAndARerunIsServedFromTheCache) {
  std::ostringstream out;
  absl::StatusOr<DemoResult> first = RunDemoSteps(options_, out);
  ASSERT_TRUE(first.ok()) << first.status() << "\n" << out.str();

  // The pipeline: applied, run, every step ran once and succeeded.
  EXPECT_THAT(out.str(), HasSubstr("+ Pipeline churn-train (v1) in the pipeline registry"));
  EXPECT_EQ(first->pipeline_version, 1);
  ASSERT_EQ(first->pipeline_steps.size(), 9u) << out.str();
  std::vector<std::string> names;
  for (const PipelineStepOutcome& step : first->pipeline_steps) {
    names.push_back(step.name);
    EXPECT_EQ(step.state, "succeeded") << step.name;
    EXPECT_EQ(step.attempts, 1) << step.name;
  }
  EXPECT_EQ(names.front(), "training-set");  // the others wait for its outputs
  EXPECT_EQ(names[names.size() - 2], "evaluate");
  EXPECT_EQ(names.back(), "register");
  EXPECT_EQ(first->steps_cached, 0);
  EXPECT_THAT(out.str(), HasSubstr("9 steps in"));
  EXPECT_THAT(out.str(), HasSubstr("9 ran, 0 cached"));

  ASSERT_EQ(first->runs.size(), 6u);
  EXPECT_EQ(first->runs[3].max_depth, 3);  // grid order: train-2-2
  EXPECT_DOUBLE_EQ(first->runs[3].eta, 0.5);
  for (const DemoRun& run : first->runs) EXPECT_GT(run.val_auc, 0.7) << run.run_name;
  EXPECT_EQ(first->model_version, 1);
  EXPECT_TRUE(first->model_version_created);
  EXPECT_THAT(out.str(), HasSubstr("Pointed alias 'production' at version 1"));
  EXPECT_THAT(out.str(), HasSubstr("cairn models alias get churn production"));
  EXPECT_THAT(out.str(), HasSubstr("xgb-depth4-eta0.3"));

  // The feature-store chapter: raw files ingested, one training row per customer.
  EXPECT_THAT(out.str(), HasSubstr("+ FeatureView    customer_spend (v1)"));
  EXPECT_THAT(out.str(), HasSubstr("+ FeatureService churn (v1)"));
  EXPECT_TRUE(std::filesystem::exists(data_dir_ / "raw" / "logins.csv"));
  EXPECT_FALSE(first->reused_ingested_events);
  EXPECT_EQ(first->ingested_rows.at("customers"), 2000);
  EXPECT_GT(first->raw_events, 2000 * 40);
  EXPECT_EQ(first->training_rows, 2000);
  EXPECT_EQ(first->training_set_hash.size(), 64u);
  EXPECT_THAT(first->feature_names, ::testing::Contains("days_since_last_login_at"));
  EXPECT_THAT(first->feature_names, ::testing::Contains("logins_7d"));
  EXPECT_EQ(first->materialized_keys.at("customer_profile"), 2000);

  // The online lookup: the Feast response for the showcase customer, every value present.
  auto online = ParseJson(first->online_response);
  ASSERT_TRUE(online.ok()) << online.status();
  const Json& results = (*online)["results"];
  ASSERT_EQ(results.size(), first->feature_names.size() + 1);  // the key, then the features
  EXPECT_EQ(results[0]["values"][0], first->online_customer_id);
  for (size_t idx = 1; idx < results.size(); ++idx) {
    EXPECT_EQ(results[idx]["statuses"][0], "PRESENT")
        << (*online)["metadata"]["feature_names"][idx];
  }

  // Again on the same directory: same definitions, same events, same pipeline version —
  // every step comes from the cache, nothing is trained or registered again.
  std::ostringstream rerun_out;
  absl::StatusOr<DemoResult> second = RunDemoSteps(options_, rerun_out);
  ASSERT_TRUE(second.ok()) << second.status() << "\n" << rerun_out.str();
  EXPECT_THAT(rerun_out.str(), HasSubstr("= Pipeline churn-train (v1, unchanged)"));
  EXPECT_NE(second->pipeline_run_id, first->pipeline_run_id);
  ASSERT_EQ(second->pipeline_steps.size(), 9u);
  for (const PipelineStepOutcome& step : second->pipeline_steps) {
    EXPECT_EQ(step.state, "cached") << step.name;
    EXPECT_EQ(step.cached_from, first->pipeline_run_id) << step.name;
  }
  EXPECT_EQ(second->steps_cached, 9);
  EXPECT_THAT(rerun_out.str(), HasSubstr("9 of 9 steps cached: nothing re-ran"));
  EXPECT_EQ(second->experiment_id, first->experiment_id);
  EXPECT_EQ(second->model_version, 1);
  EXPECT_FALSE(second->model_version_created);
  EXPECT_THAT(rerun_out.str(), HasSubstr("Alias 'production' was moved since (now version 2)"));
  EXPECT_THAT(rerun_out.str(), HasSubstr("= FeatureView    customer_spend (v1, unchanged)"));
  EXPECT_TRUE(second->reused_ingested_events);
  EXPECT_EQ(second->training_set_id, first->training_set_id);  // the cached snapshot
  for (size_t idx = 0; idx < second->runs.size(); ++idx) {
    EXPECT_EQ(second->runs[idx].run_id, first->runs[idx].run_id);
  }

  // What a server on the same directory would serve.
  auto db = storage::OpenDatabase((data_dir_ / "cairn.db").string());
  ASSERT_TRUE(db.ok()) << db.status();
  auto store = tracking::TrackingStore::Open(**db, RealClock());
  ASSERT_TRUE(store.ok()) << store.status();
  auto registry = tracking::ModelRegistry::Open(**db, RealClock());
  ASSERT_TRUE(registry.ok()) << registry.status();

  auto experiment = (*store)->GetExperimentByName("pipelines/churn-train");
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  EXPECT_EQ(experiment->experiment_id, first->experiment_id);
  tracking::SearchRunsRequest search;
  search.experiment_ids = {first->experiment_id};
  search.filter = "attributes.status = 'FINISHED' and params.max_depth = '4'";
  auto runs = (*store)->SearchRuns(search);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->runs.size(), 2u);  // train-3-1 and train-3-2, trained once

  const DemoRun& best_run = first->runs[first->best_run_index];
  auto best = (*store)->GetRun(best_run.run_id);
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(best->info.status, "FINISHED");  // ended by the engine
  EXPECT_EQ(best->info.run_name, best_run.run_name);
  std::map<std::string, std::string> tags;
  for (const tracking::RunTag& tag : best->tags) tags[tag.key] = tag.value;
  EXPECT_EQ(tags["cairn.step"], kTrainSteps[first->best_run_index]);
  EXPECT_EQ(tags["cairn.pipeline.name"], "churn-train");
  EXPECT_FALSE(tags["mlflow.parentRunId"].empty());
  EXPECT_EQ(tags["cairn.training_set"], "cairn://training-sets/" + first->training_set_id);
  // Every run names the training-set snapshot it was trained on.
  ASSERT_EQ(best->inputs.size(), 1u);
  const tracking::Dataset& dataset = best->inputs[0].dataset;
  EXPECT_EQ(dataset.name, "churn-training-set");
  EXPECT_EQ(dataset.digest, first->training_set_hash.substr(0, 36));
  EXPECT_EQ(dataset.source_type, "cairn");
  EXPECT_EQ(dataset.source, "cairn://training-sets/" + first->training_set_id);
  auto history = (*store)->GetMetricHistory(best_run.run_id, "val_auc", std::nullopt, "");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->metrics.size(), 5u);
  EXPECT_EQ(history->metrics.back().step, 4);
  EXPECT_DOUBLE_EQ(history->metrics.back().value, best_run.val_auc);

  storage::ArtifactStore artifacts((data_dir_ / "artifacts").string());
  auto run_dir = storage::ArtifactStore::RelativePathOfUri(best->info.artifact_uri);
  ASSERT_TRUE(run_dir.ok()) << run_dir.status();
  EXPECT_TRUE(artifacts.FileForRead(*run_dir + "/model/model.json").ok());
  EXPECT_TRUE(artifacts.FileForRead(*run_dir + "/model/MLmodel").ok());

  // Version 1 is the grid's best; the monitoring chapter's retraining made version 2, which
  // the release gate and its canary moved production to; version 3 is the rushed candidate
  // the gate rejected. The rerun's retraining was served from the cache and the rushed
  // candidate reused.
  auto versions = (*registry)->SearchModelVersions({.filter = "name = 'churn'"});
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->versions.size(), 3u);  // the rerun added none
  auto production = (*registry)->GetModelVersionByAlias(kDemoModel, kDemoAlias);
  ASSERT_TRUE(production.ok()) << production.status();
  EXPECT_EQ(production->version, 2);
  EXPECT_NE(production->run_id, best_run.run_id);
  auto changes = (*registry)->AliasHistory(kDemoModel);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 2u);  // newest first
  EXPECT_EQ((*changes)[0].to_version, 2);
  EXPECT_THAT((*changes)[0].reason, HasSubstr("rollout passed"));
  EXPECT_EQ((*changes)[1].to_version, 1);
  EXPECT_EQ((*changes)[1].actor, "cairn demo");
  EXPECT_THAT((*changes)[1].reason, HasSubstr("best val_auc"));
}

// The monitoring chapter: day 1 like training, day 2 drifts and opens an alert whose
// retraining run succeeds, day 3 finds no drift against the new reference and resolves it.
// The release chapter: the retrained model passes the gate against production and its
// canary's guard promotes it; a rushed candidate fails the gate; the endpoint serves the
// new version with online features.
TEST_F(DemoTest, DriftOpensAnAlertThatRetrainingResolvesAndTheGateReleases) {
  std::ostringstream out;
  absl::StatusOr<DemoResult> result = RunDemoSteps(options_, out);
  ASSERT_TRUE(result.ok()) << result.status() << "\n" << out.str();
  const MonitoringChapterResult& monitoring = result->monitoring;
  ASSERT_EQ(monitoring.days.size(), 3u) << out.str();
  EXPECT_FALSE(monitoring.days[0].drift) << monitoring.days[0].summary;
  EXPECT_TRUE(monitoring.days[1].drift) << monitoring.days[1].summary;
  EXPECT_EQ(monitoring.days[1].alert_state, "open");
  EXPECT_FALSE(monitoring.days[2].drift) << monitoring.days[2].summary;
  EXPECT_EQ(monitoring.alert_state, "resolved");
  EXPECT_EQ(monitoring.alert_severity, "warning");
  ASSERT_EQ(monitoring.retrain_runs.size(), 1u);
  EXPECT_THAT(out.str(), HasSubstr("resolved: monitor run"));
  EXPECT_THAT(out.str(), HasSubstr("churn-retrain run " + monitoring.retrain_runs[0].substr(0, 8) +
                                   " succeeded"));

  const ReleaseChapterResult& release = result->release;
  EXPECT_EQ(release.candidate_version, 2) << out.str();
  EXPECT_TRUE(release.candidate_passed) << out.str();
  EXPECT_EQ(release.candidate_action, "rollout_started");
  EXPECT_FALSE(release.rollout_id.empty());
  EXPECT_EQ(release.rollout_state, "promoted") << out.str();
  EXPECT_GT(release.canary_requests, 0);
  EXPECT_EQ(release.rejected_version, 3);
  EXPECT_FALSE(release.rejected_passed) << out.str();
  EXPECT_FALSE(release.failed_gates.empty());
  EXPECT_EQ(release.production_version, 2);
  ASSERT_EQ(release.predictions.size(), 3u);
  for (const ServedPrediction& p : release.predictions) {
    EXPECT_EQ(p.model_version, 2);
    EXPECT_GT(p.score, 0.0);
    EXPECT_LT(p.score, 1.0);
  }
  EXPECT_GE(release.logged_predictions, release.canary_requests);
  EXPECT_THAT(out.str(), HasSubstr("cairn ci check churn 2"));
  EXPECT_THAT(out.str(), HasSubstr("REJECTED"));
}

// --no-cache runs every step again: new runs, and the best of them a new version.
TEST_F(DemoTest, NoCacheRetrainsAndRegistersTheNewBestRun) {
  std::ostringstream out;
  absl::StatusOr<DemoResult> first = RunDemoSteps(options_, out);
  ASSERT_TRUE(first.ok()) << first.status() << "\n" << out.str();
  options_.no_cache = true;
  std::ostringstream rerun_out;
  absl::StatusOr<DemoResult> second = RunDemoSteps(options_, rerun_out);
  ASSERT_TRUE(second.ok()) << second.status() << "\n" << rerun_out.str();
  EXPECT_EQ(second->steps_cached, 0);
  for (const PipelineStepOutcome& step : second->pipeline_steps) {
    EXPECT_EQ(step.state, "succeeded") << step.name;
  }
  EXPECT_NE(second->runs[0].run_id, first->runs[0].run_id);
  EXPECT_DOUBLE_EQ(second->runs[0].val_auc, first->runs[0].val_auc);  // deterministic
  // Version 2 came from the first run's retraining, version 3 is its rushed candidate; the
  // grid's new best is version 4.
  EXPECT_EQ(second->model_version, 4);
  EXPECT_TRUE(second->model_version_created);
  EXPECT_THAT(rerun_out.str(), HasSubstr("Moved alias 'production' from version 2 to version 4"));
}

// A step that fails fails the run; the demo names the step and shows its log.
TEST_F(DemoTest, AFailedStepIsReportedWithItsLog) {
  options_.step_binary = "/bin/sh";  // `sh demo step …`: no such script, exit 2
  std::ostringstream out;
  absl::StatusOr<DemoResult> result = RunDemoSteps(options_, out);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  const std::string message(result.status().message());
  EXPECT_THAT(message, HasSubstr("pipeline churn-train run "));
  EXPECT_THAT(message, HasSubstr("training-set"));
  EXPECT_THAT(message, HasSubstr("demo"));  // the log's last line: sh cannot open it
  EXPECT_THAT(out.str(), HasSubstr("training-set  failed"));
}

TEST_F(DemoTest, RefusesToMixTheEventsOfAnotherSizeIntoItsFeatureStore) {
  options_.num_round = 2;
  std::ostringstream out;
  ASSERT_TRUE(RunDemoSteps(options_, out).ok());
  options_.rows = 1000;
  absl::StatusOr<DemoResult> other = RunDemoSteps(options_, out);
  ASSERT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("fresh --data directory"));
}

TEST_F(DemoTest, ReadsFeatureDefinitionsFromAPathAndNamesTheFileOfAnError) {
  std::filesystem::create_directories(data_dir_);
  const std::filesystem::path bad = data_dir_ / "bad.yaml";
  std::ofstream(bad) << "kind: Entity\nname: customer\njoin_keyz: [{name: customer_id}]\n";
  options_.features_path = bad.string();
  std::ostringstream out;
  absl::StatusOr<DemoResult> result = RunDemoSteps(options_, out);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("bad.yaml"));
}

TEST_F(DemoTest, RejectsTooFewRowsAndAGridOfAnotherShape) {
  std::ostringstream out;
  options_.rows = 10;
  EXPECT_EQ(RunDemoSteps(options_, out).status().code(), absl::StatusCode::kInvalidArgument);
  options_.rows = 2000;
  options_.etas = {0.3};
  absl::Status grid = RunDemoSteps(options_, out).status();
  EXPECT_EQ(grid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(grid.message()), HasSubstr("3 max_depth x 2 eta values"));
}

}  // namespace
}  // namespace cairn::demo
