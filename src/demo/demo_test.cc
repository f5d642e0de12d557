#include "demo/demo.h"

#include <filesystem>
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
    options_.max_depths = {2, 4};
    options_.etas = {0.3};
    options_.num_round = 5;
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  std::filesystem::path data_dir_;
  DemoOptions options_;
};

TEST_F(DemoTest, LogsRunsRegistersBestAndMovesAliasOnRerun) {
  std::ostringstream out;
  absl::StatusOr<DemoResult> first = RunDemoSteps(options_, out);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->runs.size(), 2u);
  EXPECT_EQ(first->model_version, 1);
  for (const DemoRun& run : first->runs) EXPECT_GT(run.val_auc, 0.7) << run.run_name;
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

  std::ostringstream rerun_out;
  absl::StatusOr<DemoResult> second = RunDemoSteps(options_, rerun_out);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->experiment_id, first->experiment_id);
  EXPECT_EQ(second->model_version, 2);
  EXPECT_THAT(rerun_out.str(), HasSubstr("Moved alias 'production' from version 1 to version 2"));
  // Same definitions, same events: nothing re-applied or re-ingested, the same rows.
  EXPECT_THAT(rerun_out.str(), HasSubstr("= FeatureView    customer_spend (v1, unchanged)"));
  EXPECT_TRUE(second->reused_ingested_events);
  EXPECT_EQ(second->training_set_hash, first->training_set_hash);
  EXPECT_NE(second->training_set_id, first->training_set_id);

  // What a server on the same directory would serve.
  auto db = storage::OpenDatabase((data_dir_ / "cairn.db").string());
  ASSERT_TRUE(db.ok()) << db.status();
  auto store = tracking::TrackingStore::Open(**db, RealClock());
  ASSERT_TRUE(store.ok()) << store.status();
  auto registry = tracking::ModelRegistry::Open(**db, RealClock());
  ASSERT_TRUE(registry.ok()) << registry.status();

  tracking::SearchRunsRequest search;
  search.experiment_ids = {first->experiment_id};
  search.filter = "attributes.status = 'FINISHED' and params.max_depth = '4'";
  auto runs = (*store)->SearchRuns(search);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->runs.size(), 2u);  // one per demo run

  const std::string best_run_id = second->runs[second->best_run_index].run_id;
  auto best = (*store)->GetRun(best_run_id);
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(best->info.status, "FINISHED");
  EXPECT_EQ(best->info.run_name, second->runs[second->best_run_index].run_name);
  // Every run names the training-set snapshot it was trained on.
  ASSERT_EQ(best->inputs.size(), 1u);
  const tracking::Dataset& dataset = best->inputs[0].dataset;
  EXPECT_EQ(dataset.name, "churn-training-set");
  EXPECT_EQ(dataset.digest, second->training_set_hash.substr(0, 36));
  EXPECT_EQ(dataset.source_type, "cairn");
  // MLflow keeps one dataset per (name, digest) in an experiment: the rerun's identical
  // rows are the dataset the first run logged; the run's tag names its own snapshot.
  EXPECT_EQ(dataset.source, "cairn://training-sets/" + first->training_set_id);
  std::string tagged_snapshot;
  for (const tracking::RunTag& tag : best->tags) {
    if (tag.key == "cairn.training_set") tagged_snapshot = tag.value;
  }
  EXPECT_EQ(tagged_snapshot, "cairn://training-sets/" + second->training_set_id);
  ASSERT_EQ(best->inputs[0].tags.size(), 1u);
  EXPECT_EQ(best->inputs[0].tags[0].value, "training");
  auto history = (*store)->GetMetricHistory(best_run_id, "val_auc", std::nullopt, "");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->metrics.size(), 5u);
  EXPECT_EQ(history->metrics.back().step, 4);
  EXPECT_DOUBLE_EQ(history->metrics.back().value, second->runs[second->best_run_index].val_auc);

  storage::ArtifactStore artifacts((data_dir_ / "artifacts").string());
  auto run_dir = storage::ArtifactStore::RelativePathOfUri(best->info.artifact_uri);
  ASSERT_TRUE(run_dir.ok()) << run_dir.status();
  EXPECT_TRUE(artifacts.FileForRead(*run_dir + "/model/model.json").ok());
  EXPECT_TRUE(artifacts.FileForRead(*run_dir + "/model/MLmodel").ok());

  auto production = (*registry)->GetModelVersionByAlias(kDemoModel, kDemoAlias);
  ASSERT_TRUE(production.ok()) << production.status();
  EXPECT_EQ(production->version, 2);
  EXPECT_EQ(production->run_id, best_run_id);
  auto changes = (*registry)->AliasHistory(kDemoModel);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_EQ(changes->size(), 2u);
  EXPECT_EQ((*changes)[0].from_version, 1);
  EXPECT_EQ((*changes)[0].to_version, 2);
  EXPECT_EQ((*changes)[0].actor, "cairn demo");
  EXPECT_THAT((*changes)[0].reason, HasSubstr("best val_auc"));
}

TEST_F(DemoTest, RefusesToMixTheEventsOfAnotherSizeIntoItsFeatureStore) {
  options_.max_depths = {2};
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

TEST_F(DemoTest, RejectsTooFewRowsAndEmptyGrid) {
  std::ostringstream out;
  options_.rows = 10;
  EXPECT_EQ(RunDemoSteps(options_, out).status().code(), absl::StatusCode::kInvalidArgument);
  options_.rows = 2000;
  options_.etas.clear();
  EXPECT_EQ(RunDemoSteps(options_, out).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::demo
