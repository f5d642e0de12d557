#include "demo/steps.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "demo/churn_definitions.h"
#include "demo/churn_events.h"
#include "demo/step_command.h"
#include "demo/step_io.h"
#include "features/definition_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::demo {
namespace {

using ::testing::HasSubstr;

constexpr int kCustomers = 400;

// Runs demo_cli with `args` in a child process (MLFLOW_RUN_ID unset), its output
// in `log`; returns the pid.
pid_t SpawnStep(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {CAIRN_DEMO_CLI, "demo", "step"};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    unsetenv("MLFLOW_RUN_ID");
    std::vector<char*> raw;
    for (std::string& arg : argv) raw.push_back(arg.data());
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class DemoStepsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("cairn-demo-steps-" + NewUuidHex());
    data_dir_ = (root_ / "data").string();
    // The state `cairn demo` leaves before its pipeline: events generated, definitions
    // applied, files ingested.
    const ChurnEvents events = GenerateChurnEvents(kCustomers, 11);
    const std::string raw_dir = (std::filesystem::path(data_dir_) / "raw").string();
    ASSERT_TRUE(WriteChurnCsvFiles(events, raw_dir).ok());
    absl::StatusOr<DemoStores> stores = OpenDemoStores(data_dir_, /*with_features=*/true);
    ASSERT_TRUE(stores.ok()) << stores.status();
    auto definitions = features::ParseDefinitionFiles(ChurnDefinitionFiles());
    ASSERT_TRUE(definitions.ok()) << definitions.status();
    ASSERT_TRUE(stores->features->Apply(*definitions, false, false).ok());
    for (const char* file : {kCustomersCsv, kTransactionsCsv, kLoginsCsv, kTicketsCsv}) {
      features::IngestRequest ingest;
      ingest.source = std::filesystem::path(file).stem().string();
      ingest.path = (std::filesystem::path(raw_dir) / file).string();
      auto ingested = stores->features->Ingest(ingest);
      ASSERT_TRUE(ingested.ok()) << file << ": " << ingested.status();
    }
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string Out(const std::string& name) const { return (root_ / "out" / name).string(); }

  // Runs the training-set step in process.
  TrainingSetStepResult BuildTrainingSet() {
    absl::StatusOr<DemoStores> stores = OpenDemoStores(data_dir_, /*with_features=*/true);
    EXPECT_TRUE(stores.ok()) << stores.status();
    TrainingSetStepRequest request{.data_dir = data_dir_,
                                   .expected_rows = kCustomers,
                                   .data_version = "v-test",
                                   .train_path = Out("set/train.csv"),
                                   .validation_path = Out("set/validation.csv"),
                                   .snapshot_path = Out("set/snapshot.json")};
    absl::StatusOr<TrainingSetStepResult> result = RunTrainingSetStep(*stores, request);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : TrainingSetStepResult{};
  }

  std::filesystem::path root_;
  std::string data_dir_;
};

TEST_F(DemoStepsTest, TrainingSetWritesTheSplitAndTheSnapshot) {
  const TrainingSetStepResult set = BuildTrainingSet();
  EXPECT_EQ(set.rows, kCustomers);
  EXPECT_EQ(set.train_rows + set.validation_rows, kCustomers);
  EXPECT_EQ(set.validation_rows, kCustomers / 5);
  EXPECT_EQ(set.uri, "cairn://training-sets/" + set.id);
  EXPECT_EQ(set.content_hash.size(), 64u);
  EXPECT_THAT(set.feature_names, ::testing::Contains("logins_7d"));

  absl::StatusOr<Dataset> train = ReadDatasetCsv(Out("set/train.csv"));
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(static_cast<int64_t>(train->rows()), set.train_rows);
  EXPECT_EQ(train->feature_names, set.feature_names);
  absl::StatusOr<Json> snapshot = ReadJsonFile(Out("set/snapshot.json"));
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)["data_version"], "v-test");
  EXPECT_EQ((*snapshot)["dataset"]["name"], "churn-training-set");
  EXPECT_EQ((*snapshot)["dataset"]["source"], set.uri);
  auto parsed = TrainingSetStepResultFromJson(*snapshot);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->content_hash, set.content_hash);

  // Labels of another size: the pipeline's rows parameter does not match the data.
  absl::StatusOr<DemoStores> stores = OpenDemoStores(data_dir_, /*with_features=*/true);
  ASSERT_TRUE(stores.ok());
  TrainingSetStepRequest other{.data_dir = data_dir_, .expected_rows = 999,
                               .train_path = Out("x/t.csv"), .validation_path = Out("x/v.csv"),
                               .snapshot_path = Out("x/s.json")};
  absl::Status mismatch = RunTrainingSetStep(*stores, other).status();
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(mismatch.message()),
              HasSubstr("holds 400 customers, the pipeline's parameter rows is 999"));
}

// Four train steps as four processes writing to one SQLite database at once (WAL, busy
// timeout), then evaluate and register; registering again reuses the version.
TEST_F(DemoStepsTest, ParallelTrainProcessesThenEvaluateAndRegisterOnce) {
  const TrainingSetStepResult set = BuildTrainingSet();
  struct Point {
    int max_depth;
    double eta;
  };
  const std::vector<Point> grid = {{2, 0.3}, {3, 0.3}, {4, 0.1}, {5, 0.5}};
  std::vector<pid_t> pids;
  std::vector<std::string> metrics_files;
  for (size_t idx = 0; idx < grid.size(); ++idx) {
    const std::string dir = absl::StrCat("train-", idx);
    metrics_files.push_back(Out(dir + "/metrics.json"));
    std::filesystem::create_directories(root_ / "out" / dir);
    pids.push_back(SpawnStep(
        {"train", "--data", data_dir_, "--train", Out("set/train.csv"), "--validation",
         Out("set/validation.csv"), "--snapshot", Out("set/snapshot.json"), "--max-depth",
         absl::StrCat(grid[idx].max_depth), "--eta", absl::StrCat(grid[idx].eta),
         "--num-round", "8", "--model", Out(dir + "/model.json"), "--metrics",
         metrics_files.back()},
        Out(dir + "/log")));
  }
  for (size_t idx = 0; idx < pids.size(); ++idx) {
    const std::string log = Out(absl::StrCat("train-", idx, "/log"));
    ASSERT_EQ(WaitExit(pids[idx]), 0) << ReadText(log);
    EXPECT_THAT(ReadText(log), HasSubstr("val AUC"));
    EXPECT_TRUE(std::filesystem::exists(Out(absl::StrCat("train-", idx, "/model.json"))));
  }

  absl::StatusOr<EvaluateStepResult> evaluated =
      RunEvaluateStep(metrics_files, Out("evaluate/best.json"));
  ASSERT_TRUE(evaluated.ok()) << evaluated.status();
  ASSERT_EQ(evaluated->candidates.size(), 4u);
  for (const DemoRun& run : evaluated->candidates) {
    EXPECT_LE(run.val_auc, evaluated->candidates[evaluated->best].val_auc) << run.run_name;
    EXPECT_EQ(run.num_round, 8);
  }
  const DemoRun& best = evaluated->candidates[evaluated->best];

  absl::StatusOr<DemoStores> stores = OpenDemoStores(data_dir_, /*with_features=*/false);
  ASSERT_TRUE(stores.ok()) << stores.status();
  // Each process created its own run in experiment "churn" (no MLFLOW_RUN_ID given).
  auto experiment = stores->tracking->GetExperimentByName(kDemoExperiment);
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  tracking::SearchRunsRequest search;
  search.experiment_ids = {experiment->experiment_id};
  search.filter = "attributes.status = 'FINISHED'";
  auto runs = stores->tracking->SearchRuns(search);
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_EQ(runs->runs.size(), 4u);
  auto best_run = stores->tracking->GetRun(best.run_id);
  ASSERT_TRUE(best_run.ok()) << best_run.status();
  EXPECT_EQ(best_run->info.run_name, best.run_name);
  ASSERT_EQ(best_run->inputs.size(), 1u);
  EXPECT_EQ(best_run->inputs[0].dataset.source, set.uri);
  auto history = stores->tracking->GetMetricHistory(best.run_id, "val_auc", std::nullopt, "");
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->metrics.size(), 8u);

  absl::StatusOr<RegisterStepResult> registered =
      RunRegisterStep(*stores, Out("evaluate/best.json"), Out("register/registered.json"));
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_TRUE(registered->created);
  EXPECT_EQ(registered->version, 1);
  EXPECT_EQ(registered->run_id, best.run_id);
  EXPECT_FALSE(registered->previous_version.has_value());

  // Again (a rerun without the cache): the same model is not registered twice.
  absl::StatusOr<RegisterStepResult> again =
      RunRegisterStep(*stores, Out("evaluate/best.json"), Out("register2/registered.json"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->version, 1);
  EXPECT_EQ(again->previous_version, 1);
  auto versions = stores->registry->SearchModelVersions({.filter = "name = 'churn'"});
  ASSERT_TRUE(versions.ok()) << versions.status();
  EXPECT_EQ(versions->versions.size(), 1u);
  auto production = stores->registry->GetModelVersionByAlias(kDemoModel, kDemoAlias);
  ASSERT_TRUE(production.ok()) << production.status();
  EXPECT_EQ(production->version, 1);
  auto moves = stores->registry->AliasHistory(kDemoModel);
  ASSERT_TRUE(moves.ok()) << moves.status();
  EXPECT_EQ(moves->size(), 1u);  // the second registration moved nothing
  auto saved = ReadJsonFile(Out("register2/registered.json"));
  ASSERT_TRUE(saved.ok()) << saved.status();
  auto parsed = RegisterStepResultFromJson(*saved, "registered.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version, 1);
  EXPECT_FALSE(parsed->created);
}

TEST_F(DemoStepsTest, TrainLogsIntoTheRunItIsGivenAndLeavesItOpen) {
  BuildTrainingSet();
  absl::StatusOr<DemoStores> stores = OpenDemoStores(data_dir_, /*with_features=*/false);
  ASSERT_TRUE(stores.ok()) << stores.status();
  auto experiment = stores->tracking->CreateExperiment("pipelines/churn-train", "", {});
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  tracking::CreateRunRequest create;
  create.experiment_id = *experiment;
  create.run_name = "train-1-1";
  auto child = stores->tracking->CreateRun(create);
  ASSERT_TRUE(child.ok()) << child.status();

  TrainStepRequest request{.train_path = Out("set/train.csv"),
                           .validation_path = Out("set/validation.csv"),
                           .snapshot_path = Out("set/snapshot.json"),
                           .max_depth = 3,
                           .eta = 0.3,
                           .num_round = 3,
                           .run_id = child->info.run_id,
                           .model_path = Out("t/model.json"),
                           .metrics_path = Out("t/metrics.json")};
  absl::StatusOr<DemoRun> run = RunTrainStep(*stores, request);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->run_id, child->info.run_id);
  auto logged = stores->tracking->GetRun(child->info.run_id);
  ASSERT_TRUE(logged.ok()) << logged.status();
  EXPECT_EQ(logged->info.run_name, "xgb-depth3-eta0.3");
  EXPECT_EQ(logged->info.status, "RUNNING");  // its owner (the engine) ends it
  bool has_depth = false;
  for (const tracking::Param& param : logged->params) {
    has_depth |= param.key == "max_depth" && param.value == "3";
  }
  EXPECT_TRUE(has_depth);
  // No experiment "churn" was created: everything went into the given run.
  EXPECT_EQ(stores->tracking->GetExperimentByName(kDemoExperiment).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DemoStepsTest, StepCommandsNameWhatIsWrong) {
  std::ostringstream out, err;
  const std::string empty = (root_ / "empty").string();
  EXPECT_EQ(RunDemoStepCommand({"training-set", "--data", empty, "--train", Out("a"),
                                "--validation", Out("b"), "--snapshot", Out("c")},
                               out, err),
            1);
  EXPECT_THAT(err.str(), HasSubstr("cairn demo step training-set: "));
  EXPECT_THAT(err.str(), HasSubstr("labels.csv does not exist: run `cairn demo --data"));

  err.str("");
  EXPECT_EQ(RunDemoStepCommand({"evaluate", "--out", Out("best.json"), Out("nope.json")}, out,
                               err),
            1);
  EXPECT_THAT(err.str(), HasSubstr("nope.json: cannot read the file"));

  err.str("");
  EXPECT_EQ(RunDemoStepCommand({"train", "--data", data_dir_}, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("--train is required"));
  EXPECT_EQ(RunDemoStepCommand({"fly"}, out, err), 2);
}

}  // namespace
}  // namespace cairn::demo
