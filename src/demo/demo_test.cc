#include "demo/demo.h"

#include <filesystem>
#include <sstream>

#include "common/clock.h"
#include "common/ids.h"
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

  std::ostringstream rerun_out;
  absl::StatusOr<DemoResult> second = RunDemoSteps(options_, rerun_out);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->experiment_id, first->experiment_id);
  EXPECT_EQ(second->model_version, 2);
  EXPECT_THAT(rerun_out.str(), HasSubstr("Moved alias 'production' from version 1 to version 2"));

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
