// The engine against an in-process executor (testing/fake_executor.h): DAG order,
// parameters, templates and environment, retries with backoff, failure messages with the
// log tail, skipped downstream steps, cancellation, the cache, missing outputs, recovery
// after a restart and the tracking mirror.

#include "pipelines/pipeline_engine.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "pipelines/pipeline_registry.h"
#include "pipelines/run_store.h"
#include "pipelines/step_cache.h"
#include "pipelines/testing/fake_executor.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "storage/testing/test_databases.h"
#include "tracking/tracking_store.h"

namespace cairn::pipelines {
namespace {

namespace fs = std::filesystem;
using testing::FakeExecutor;
using testing::FakeOutcome;

constexpr int64_t kWaitMs = 20'000;

fs::path FreshTempDir() {
  static std::atomic<int> counter{0};
  auto dir = fs::temp_directory_path() /
             absl::StrCat("cairn-engine-test-", ::getpid(), "-", counter.fetch_add(1), "-",
                          std::random_device{}());
  fs::create_directories(dir);
  return dir;
}

std::map<std::string, std::string> TagMap(const tracking::Run& run) {
  std::map<std::string, std::string> out;
  for (const tracking::RunTag& tag : run.tags) out[tag.key] = tag.value;
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fake executor's "commands":
//   ok                   exit 0
//   exit N [LINES]       print LINES numbered log lines, exit N
//   flaky K              fail the first K attempts of the step, then succeed
//   hang                 run until cancelled
//   produce              write every CAIRN_OUTPUT_* file ("<step>:<inputs' contents>")
//   skip-output          succeed without writing outputs
FakeOutcome Interpret(const compute::JobSpec& job, std::map<std::string, int>* tries,
                      absl::Mutex* mu) {
  const std::vector<std::string>& argv = job.argv;
  std::string command = argv.empty() ? "" : argv[0];
  if (command == "hang") return {.hang = true};
  if (command == "exit") {
    FakeOutcome outcome{.exit_code = std::stoi(argv.at(1))};
    int lines = argv.size() > 2 ? std::stoi(argv[2]) : 0;
    for (int i = 1; i <= lines; ++i) absl::StrAppend(&outcome.log, "line ", i, "\n");
    return outcome;
  }
  if (command == "garbage") {  // invalid UTF-8 and a NUL in the log, then exit 1
    return {.exit_code = 1,
            .log = std::string("first\nok \xff\xfe bad\0 nul \xe2\x82 cut \xc3\xa9t\xc3\xa9\n",
                               34)};
  }
  if (command == "flaky") {
    absl::MutexLock lock(mu);
    int& count = (*tries)[job.env.at("CAIRN_STEP")];
    return {.exit_code = ++count <= std::stoi(argv.at(1)) ? 1 : 0,
            .log = absl::StrCat("try ", count, "\n")};
  }
  if (command == "produce") {
    std::string inputs;
    for (const auto& [name, value] : job.env)
      if (name.rfind("CAIRN_INPUT_", 0) == 0) absl::StrAppend(&inputs, "[", ReadFile(value), "]");
    for (const auto& [name, value] : job.env) {
      if (name.rfind("CAIRN_OUTPUT_", 0) != 0) continue;
      std::ofstream(value) << job.env.at("CAIRN_STEP") << ":" << inputs;
    }
    return {};
  }
  return {};
}

StepSpec Step(std::string name, std::vector<std::string> command) {
  StepSpec step;
  step.name = std::move(name);
  step.command = std::move(command);
  return step;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTempDir();
    auto db = storage::OpenDatabase(DatabaseUrl());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto tracking = tracking::TrackingStore::Open(*db_, RealClock());
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    artifacts_ = std::make_unique<storage::ArtifactStore>((dir_ / "artifacts").string());
    executor_ = std::make_unique<FakeExecutor>(clock());
    executor_->set_handler(
        [this](const compute::JobSpec& job) { return Interpret(job, &tries_, &tries_mu_); });
    OpenEngine();
  }
  void TearDown() override {
    engine_.reset();
    executor_.reset();
    slurm_.reset();
    tracking_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  virtual Clock& clock() { return RealClock(); }
  virtual std::string DatabaseUrl() { return (dir_ / "cairn.db").string(); }

  void OpenEngine() {
    engine_.reset();
    VersionLookup lookup = [this](std::string_view name, std::optional<int64_t> version)
        -> absl::StatusOr<PipelineVersion> {
      absl::MutexLock lock(&versions_mu_);
      auto it = versions_.find(std::string(name));
      if (it == versions_.end())
        return absl::NotFoundError(absl::StrCat("pipeline '", std::string(name), "' not found"));
      return it->second;
    };
    EngineOptions options;
    options.data_dir = (dir_ / "data").string();
    options.server_url = "http://127.0.0.1:5999";
    options.artifacts = artifacts_.get();
    std::map<std::string, compute::Executor*> executors{{"local", executor_.get()}};
    if (slurm_ != nullptr) executors["slurm"] = slurm_.get();
    auto engine = PipelineEngine::Open(*db_, clock(), lookup, executors, tracking_.get(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  void Register(PipelineSpec spec) {
    absl::MutexLock lock(&versions_mu_);
    PipelineVersion version;
    version.name = spec.name;
    version.version = versions_.count(spec.name) ? versions_[spec.name].version + 1 : 1;
    version.spec = std::move(spec);
    versions_[version.name] = version;
  }

  RunRecord RunToEnd(StartRunRequest request) {
    auto started = engine_->StartRun(request);
    EXPECT_TRUE(started.ok()) << started.status();
    if (!started.ok()) return {};
    auto done = engine_->WaitForRun(started->id, kWaitMs);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : RunRecord{};
  }

  // Waits (bounded) until `predicate(run)` holds.
  RunRecord WaitUntil(const std::string& run_id, std::function<bool(const RunRecord&)> predicate) {
    absl::Time deadline = absl::Now() + absl::Milliseconds(kWaitMs);
    for (;;) {
      auto run = engine_->GetRun(run_id);
      if (run.ok() && predicate(*run)) return *run;
      if (absl::Now() > deadline) {
        ADD_FAILURE() << "condition not reached for run " << run_id;
        return run.ok() ? *run : RunRecord{};
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  }

  // A step printing invalid UTF-8 and a NUL fails: its log tail and the run's message are
  // valid UTF-8, stored, and the run ends failed.
  void CheckBinaryLogTail() {
    PipelineSpec spec;
    spec.name = "binary-log";
    spec.steps = {Step("dump", {"garbage"})};
    Register(spec);
    RunRecord run = RunToEnd({.pipeline = "binary-log"});
    EXPECT_EQ(run.state, RunState::kFailed);
    const std::string expected_tail =
        "first\nok \xEF\xBF\xBD\xEF\xBF\xBD bad nul \xEF\xBF\xBD cut \xc3\xa9t\xc3\xa9";
    EXPECT_EQ(StepOf(run, "dump").log_tail, expected_tail);
    EXPECT_TRUE(absl::EndsWith(run.message, "last lines of its log:\n" + expected_tail))
        << run.message;
    auto stored = engine_->GetRun(run.id);  // from the database, the run having ended
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->state, RunState::kFailed);
    EXPECT_EQ(stored->message, run.message);
  }

  static const StepRecord& StepOf(const RunRecord& run, std::string_view name) {
    for (const StepRecord& step : run.steps)
      if (step.name == name) return step;
    static StepRecord none;
    ADD_FAILURE() << "no step " << name;
    return none;
  }

  fs::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  std::unique_ptr<storage::ArtifactStore> artifacts_;
  std::unique_ptr<FakeExecutor> executor_;
  std::unique_ptr<FakeExecutor> slurm_;  // an executor named "slurm", when a test makes one
  std::unique_ptr<PipelineEngine> engine_;
  absl::Mutex versions_mu_;
  std::map<std::string, PipelineVersion> versions_;
  absl::Mutex tries_mu_;
  std::map<std::string, int> tries_;
};

PipelineSpec ThreeSteps() {
  PipelineSpec spec;
  spec.name = "churn";
  spec.params = {{.name = "depth", .type = ParamType::kInt, .default_value = "6"}};
  StepSpec eval = Step("eval", {"produce", "{{inputs.model}}"});
  eval.inputs = {{.name = "model", .from = "train.model"}};
  eval.outputs = {{.name = "report", .path = "report.txt"}};
  StepSpec train = Step("train", {"produce", "--depth={{params.depth}}"});
  train.inputs = {{.name = "train", .from = "build.train"}};
  train.outputs = {{.name = "model", .path = "model/model.json"}};
  train.env = {{"RUN", "{{run.id}}/{{step.name}}"}};
  StepSpec build = Step("build", {"produce"});
  build.outputs = {{.name = "train", .path = "train.csv"}};
  spec.steps = {eval, train, build};  // file order is not run order
  return spec;
}

TEST_F(EngineTest, RunsStepsInDagOrderPassingOutputs) {
  Register(ThreeSteps());
  RunRecord run = RunToEnd({.pipeline = "churn", .params = {{"depth", "8"}}});
  EXPECT_EQ(run.state, RunState::kSucceeded) << run.message;
  EXPECT_EQ(run.version, 1);
  EXPECT_EQ(run.params, (std::map<std::string, std::string>{{"depth", "8"}}));
  ASSERT_EQ(run.steps.size(), 3u);
  EXPECT_EQ(run.steps[0].name, "build");
  EXPECT_EQ(run.steps[1].name, "train");
  EXPECT_EQ(run.steps[2].name, "eval");
  for (const StepRecord& step : run.steps) {
    EXPECT_EQ(step.state, StepState::kSucceeded) << step.name << ": " << step.message;
    ASSERT_EQ(step.attempts.size(), 1u);
    EXPECT_EQ(step.attempts[0].state, compute::JobState::kSucceeded);
    EXPECT_EQ(step.attempts[0].executor, "local");
    EXPECT_EQ(step.attempts[0].host, "fakehost");
    EXPECT_FALSE(step.attempts[0].job_id.empty());
    EXPECT_EQ(step.cache_key.size(), 64u);
  }
  std::string run_dir = (dir_ / "data" / "pipelines" / "runs" / run.id).string();
  EXPECT_EQ(StepOf(run, "train").outputs.at("model"), run_dir + "/train/out/model/model.json");
  EXPECT_EQ(ReadFile(StepOf(run, "eval").outputs.at("report")),
            "eval:[train:[build:]]");  // outputs flowed build → train → eval
  EXPECT_EQ(StepOf(run, "train").input_hashes.size(), 1u);

  std::vector<compute::JobSpec> jobs = executor_->submitted();
  ASSERT_EQ(jobs.size(), 3u);
  const compute::JobSpec& train = jobs[1];
  EXPECT_EQ(train.argv, (std::vector<std::string>{"produce", "--depth=8"}));
  EXPECT_EQ(train.env.at("RUN"), run.id + "/train");
  EXPECT_EQ(train.env.at("CAIRN_PARAM_DEPTH"), "8");
  EXPECT_EQ(train.env.at("CAIRN_INPUT_TRAIN"), run_dir + "/build/out/train.csv");
  EXPECT_EQ(train.env.at("CAIRN_OUTPUT_MODEL"), run_dir + "/train/out/model/model.json");
  EXPECT_EQ(train.env.at("CAIRN_URL"), "http://127.0.0.1:5999");
  EXPECT_EQ(train.env.at("MLFLOW_TRACKING_URI"), "http://127.0.0.1:5999");
  EXPECT_EQ(train.env.at("MLFLOW_RUN_ID"), StepOf(run, "train").tracking_run_id);
  EXPECT_EQ(train.env.at("CAIRN_PIPELINE_RUN_ID"), run.id);
  EXPECT_EQ(train.workdir, run_dir + "/train");
  EXPECT_EQ(train.log_path, run_dir + "/train/attempt-1.log");
  EXPECT_EQ(jobs[2].argv[1], run_dir + "/train/out/model/model.json");

  // Listed newest first.
  auto list = engine_->ListRuns({.pipeline = "churn"});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->runs.size(), 1u);
  EXPECT_EQ(list->runs[0].state, RunState::kSucceeded);
}

TEST_F(EngineTest, BadParametersAreInvalidArgumentNamingThem) {
  Register(ThreeSteps());
  auto unknown = engine_->StartRun({.pipeline = "churn", .params = {{"dept", "3"}}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(unknown.status().message()).find("params.dept"), std::string::npos);
  auto wrong = engine_->StartRun({.pipeline = "churn", .params = {{"depth", "x"}}});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(wrong.status().message()).find("'x' is not an int"), std::string::npos);
  auto missing = engine_->StartRun({.pipeline = "nope"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(executor_->submit_count(), 0);
}

TEST_F(EngineTest, FailureRetriesThenSkipsDownstreamAndExplainsWithLogTail) {
  PipelineSpec spec;
  spec.name = "fails";
  StepSpec build = Step("build", {"ok"});
  StepSpec train = Step("train", {"exit", "1", "30"});
  train.depends_on = {"build"};
  train.retry = {.attempts = 3, .backoff_ms = 1, .factor = 2, .max_backoff_ms = 10};
  StepSpec eval = Step("eval", {"ok"});
  eval.depends_on = {"train"};
  StepSpec report = Step("report", {"ok"});
  report.depends_on = {"eval"};
  StepSpec side = Step("side", {"ok"});
  spec.steps = {build, train, eval, report, side};
  Register(spec);
  std::vector<std::string> finished;
  absl::Mutex finished_mu;
  engine_->OnRunFinished([&](const RunRecord& run) {
    absl::MutexLock lock(&finished_mu);
    finished.push_back(absl::StrCat(run.id, ":", std::string(RunStateName(run.state))));
  });

  RunRecord run = RunToEnd({.pipeline = "fails"});
  EXPECT_EQ(run.state, RunState::kFailed);
  std::string tail;
  for (int i = 11; i <= 30; ++i) absl::StrAppend(&tail, i == 11 ? "" : "\n", "line ", i);
  EXPECT_EQ(run.message, absl::StrCat("step 'train' failed after 3 attempts: exited with code 1\n"
                                      "last lines of its log:\n",
                                      tail));
  const StepRecord& train_step = StepOf(run, "train");
  EXPECT_EQ(train_step.state, StepState::kFailed);
  EXPECT_EQ(train_step.log_tail, tail);
  ASSERT_EQ(train_step.attempts.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(train_step.attempts[i].attempt, i + 1);
    EXPECT_EQ(train_step.attempts[i].exit_code, 1);
    EXPECT_EQ(train_step.attempts[i].reason, compute::FailureReason::kExitCode);
    EXPECT_NE(train_step.attempts[i].log_path, train_step.attempts[(i + 1) % 3].log_path);
  }
  // Backoff: 1 ms, then 2 ms between the attempts.
  EXPECT_GE(train_step.attempts[1].queued_ms - train_step.attempts[0].ended_ms, 1);
  EXPECT_GE(train_step.attempts[2].queued_ms - train_step.attempts[1].ended_ms, 2);
  EXPECT_EQ(StepOf(run, "eval").state, StepState::kSkipped);
  EXPECT_EQ(StepOf(run, "eval").message, "upstream step 'train' failed");
  EXPECT_EQ(StepOf(run, "report").state, StepState::kSkipped);
  EXPECT_EQ(StepOf(run, "report").message, "upstream step 'train' failed");
  EXPECT_EQ(StepOf(run, "side").state, StepState::kSucceeded);
  EXPECT_EQ(StepOf(run, "build").state, StepState::kSucceeded);

  bool done = false;
  auto log = engine_->ReadLog(run.id, "train", 2, 0, 1 << 20, &done);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::StartsWith(*log, "line 1\nline 2\n"));
  EXPECT_TRUE(done);
  log = engine_->ReadLog(run.id, "train", 0, 7, 6, &done);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, "line 2");
  EXPECT_FALSE(done);
  EXPECT_EQ(engine_->ReadLog(run.id, "train", 4, 0, 10, &done).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->ReadLog(run.id, "nope", 0, 0, 10, &done).status().code(),
            absl::StatusCode::kNotFound);
  log = engine_->ReadLog(run.id, "eval", 0, 0, 10, &done);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, "");
  EXPECT_TRUE(done);

  absl::MutexLock lock(&finished_mu);
  EXPECT_EQ(finished, (std::vector<std::string>{run.id + ":failed"}));
}

TEST_F(EngineTest, FlakyStepSucceedsOnRetry) {
  PipelineSpec spec;
  spec.name = "flaky";
  StepSpec step = Step("fetch", {"flaky", "2"});
  step.retry = {.attempts = 3, .backoff_ms = 1, .factor = 1, .max_backoff_ms = 1};
  spec.steps = {step};
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "flaky"});
  EXPECT_EQ(run.state, RunState::kSucceeded) << run.message;
  ASSERT_EQ(run.steps[0].attempts.size(), 3u);
  EXPECT_EQ(run.steps[0].attempts[0].state, compute::JobState::kFailed);
  EXPECT_EQ(run.steps[0].attempts[2].state, compute::JobState::kSucceeded);
}

TEST_F(EngineTest, MissingDeclaredOutputFailsTheStep) {
  PipelineSpec spec;
  spec.name = "missing";
  StepSpec step = Step("train", {"ok"});
  step.outputs = {{.name = "model", .path = "model.json"}};
  spec.steps = {step};
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "missing"});
  EXPECT_EQ(run.state, RunState::kFailed);
  EXPECT_EQ(run.message,
            "step 'train' failed after 1 attempt: declared output 'model' (model.json) was not "
            "produced");
}

TEST_F(EngineTest, UnknownExecutorFailsTheStepNamingIt) {
  PipelineSpec spec;
  spec.name = "gpu";
  StepSpec step = Step("train", {"ok"});
  step.executor = "slurm";
  spec.steps = {step};
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "gpu"});
  EXPECT_EQ(run.state, RunState::kFailed);
  EXPECT_NE(run.message.find("asks for executor 'slurm', which this server does not have (local)"),
            std::string::npos)
      << run.message;
}

TEST_F(EngineTest, CancelStopsRunningJobsAndQueuedSteps) {
  PipelineSpec spec;
  spec.name = "long";
  StepSpec train = Step("train", {"hang"});
  StepSpec eval = Step("eval", {"ok"});
  eval.depends_on = {"train"};
  spec.steps = {train, eval};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "long"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning;
  });
  ASSERT_TRUE(engine_->CancelRun(started->id).ok());
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kCancelled);
  EXPECT_EQ(run->message, "cancelled");
  EXPECT_EQ(run->steps[0].state, StepState::kCancelled);
  EXPECT_EQ(run->steps[0].attempts[0].state, compute::JobState::kCancelled);
  EXPECT_EQ(run->steps[1].state, StepState::kCancelled);
  EXPECT_TRUE(executor_->running().empty());
  EXPECT_EQ(engine_->CancelRun(started->id).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->CancelRun("nope").code(), absl::StatusCode::kNotFound);
}

// `width` fan-out steps running `command`, joined by a no-op step "join", then "after".
PipelineSpec NoopJoin(std::string name, int width, std::vector<std::string> command,
                      std::vector<std::string> failing_command = {}) {
  PipelineSpec spec;
  spec.name = std::move(name);
  StepSpec join;
  join.name = "join";
  join.noop = true;
  for (int i = 0; i < width; ++i) {
    StepSpec fan = Step(absl::StrCat("f", i),
                        i == 0 && !failing_command.empty() ? failing_command : command);
    join.depends_on.push_back(fan.name);
    spec.steps.push_back(fan);
  }
  spec.steps.push_back(join);
  StepSpec after = Step("after", {"ok"});
  after.depends_on = {"join"};
  spec.steps.push_back(after);
  return spec;
}

TEST_F(EngineTest, ANoopJoinSucceedsOnlyAfterAllItsDependenciesWithoutAJob) {
  constexpr int kWidth = 5;
  Register(NoopJoin("join", kWidth, {"hang"}));
  auto started = engine_->StartRun({.pipeline = "join"});
  ASSERT_TRUE(started.ok()) << started.status();
  WaitUntil(started->id, [](const RunRecord& run) {
    int running = 0;
    for (const StepRecord& step : run.steps) running += step.state == StepState::kRunning;
    return running == kWidth;
  });
  std::vector<std::string> jobs = executor_->running();
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kWidth));
  for (int i = 0; i + 1 < kWidth; ++i) executor_->Finish(jobs[i], 0);
  RunRecord partial = WaitUntil(started->id, [](const RunRecord& run) {
    int done = 0;
    for (const StepRecord& step : run.steps) done += step.state == StepState::kSucceeded;
    return done == kWidth - 1;
  });
  EXPECT_EQ(StepOf(partial, "join").state, StepState::kQueued);
  EXPECT_EQ(StepOf(partial, "after").state, StepState::kQueued);
  executor_->Finish(jobs.back(), 0);
  auto done = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(done.ok()) << done.status();
  const RunRecord& run = *done;
  EXPECT_EQ(run.state, RunState::kSucceeded) << run.message;
  const StepRecord& join = StepOf(run, "join");
  EXPECT_EQ(join.state, StepState::kSucceeded);
  EXPECT_EQ(join.message, "noop: nothing to run");
  EXPECT_TRUE(join.attempts.empty());
  EXPECT_TRUE(join.cached_from.empty());
  int64_t last_fan_end = 0;
  for (int i = 0; i < kWidth; ++i) {
    last_fan_end = std::max(last_fan_end, StepOf(run, absl::StrCat("f", i)).ended_ms);
  }
  EXPECT_GE(join.started_ms, last_fan_end);
  EXPECT_GE(join.ended_ms, join.started_ms);
  EXPECT_EQ(StepOf(run, "after").state, StepState::kSucceeded);
  EXPECT_GE(StepOf(run, "after").started_ms, join.ended_ms);
  // No job, no step folder.
  EXPECT_EQ(executor_->submit_count(), kWidth + 1);
  EXPECT_FALSE(fs::exists(dir_ / "data" / "pipelines" / "runs" / run.id / "join"));
  EXPECT_TRUE(fs::exists(dir_ / "data" / "pipelines" / "runs" / run.id / "after"));
  // Its child run, like every step's.
  auto child = tracking_->GetRun(join.tracking_run_id);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(child->info.status, "FINISHED");
  EXPECT_EQ(child->info.run_name, "join");
  EXPECT_EQ(TagMap(*child)["mlflow.parentRunId"], run.tracking_run_id);
  // As stored.
  auto stored = engine_->GetRun(run.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(StepOf(*stored, "join").state, StepState::kSucceeded);
  EXPECT_EQ(StepOf(*stored, "join").ended_ms, join.ended_ms);
  EXPECT_EQ(StepOf(*stored, "join").tracking_run_id, join.tracking_run_id);
  // Its log is empty and complete.
  bool log_done = false;
  auto log = engine_->ReadLog(run.id, "join", 0, 0, 1 << 20, &log_done);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(*log, "");
  EXPECT_TRUE(log_done);
}

TEST_F(EngineTest, ANoopJoinIsSkippedWhenAnUpstreamStepFails) {
  Register(NoopJoin("join-fail", 3, {"ok"}, {"exit", "1"}));
  RunRecord run = RunToEnd({.pipeline = "join-fail"});
  EXPECT_EQ(run.state, RunState::kFailed);
  EXPECT_EQ(StepOf(run, "f0").state, StepState::kFailed);
  EXPECT_EQ(StepOf(run, "join").state, StepState::kSkipped);
  EXPECT_EQ(StepOf(run, "join").message, "upstream step 'f0' failed");
  EXPECT_EQ(StepOf(run, "after").state, StepState::kSkipped);
  EXPECT_TRUE(StepOf(run, "join").attempts.empty());
}

TEST_F(EngineTest, ANoopStepIsNeverCachedAndCancelsLikeAQueuedStep) {
  Register(NoopJoin("join-cache", 2, {"ok"}));
  RunRecord first = RunToEnd({.pipeline = "join-cache"});
  ASSERT_EQ(first.state, RunState::kSucceeded) << first.message;
  RunRecord second = RunToEnd({.pipeline = "join-cache"});
  ASSERT_EQ(second.state, RunState::kSucceeded) << second.message;
  EXPECT_EQ(StepOf(second, "f0").state, StepState::kCached);
  EXPECT_EQ(StepOf(second, "join").state, StepState::kSucceeded);  // succeeds, never cached
  EXPECT_TRUE(StepOf(second, "join").cached_from.empty());
  EXPECT_NE(StepOf(second, "join").tracking_run_id, StepOf(first, "join").tracking_run_id);
  EXPECT_EQ(StepOf(second, "after").state, StepState::kCached);

  Register(NoopJoin("join-cancel", 2, {"hang"}));
  auto started = engine_->StartRun({.pipeline = "join-cancel"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning && run.steps[1].state == StepState::kRunning;
  });
  ASSERT_TRUE(engine_->CancelRun(started->id).ok());
  auto cancelled = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state, RunState::kCancelled);
  EXPECT_EQ(StepOf(*cancelled, "join").state, StepState::kCancelled);
  EXPECT_EQ(StepOf(*cancelled, "join").message, "cancelled before it started");
  EXPECT_EQ(StepOf(*cancelled, "after").state, StepState::kSkipped);
  EXPECT_EQ(StepOf(*cancelled, "after").message, "upstream step 'join' was cancelled");
}

TEST_F(EngineTest, ANoopStepReadyWhenTheServerStoppedSucceedsAfterTheRestart) {
  // Its upstream step ends while the server is down (re-attached after the restart) ...
  Register(NoopJoin("join-resume", 1, {"hang"}));
  auto started = engine_->StartRun({.pipeline = "join-resume"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning;
  });
  engine_.reset();
  ASSERT_EQ(executor_->running().size(), 1u);
  std::string job = executor_->running()[0];
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  executor_->Finish(job, 0);
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  EXPECT_EQ(StepOf(*run, "join").state, StepState::kSucceeded);
  EXPECT_FALSE(StepOf(*run, "join").tracking_run_id.empty());

  // ... and a run stored with its upstream step done but the no-op step still queued (the
  // commit that would have recorded it never happened): it simply succeeds.
  engine_.reset();
  auto store = RunStore::Open(*db_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto stored = (*store)->GetRun(started->id);
  ASSERT_TRUE(stored.ok());
  RunRecord record = *stored;
  record.id = "0123456789abcdef0123456789abcdef";
  record.state = RunState::kRunning;
  record.ended_ms = 0;
  record.message.clear();
  record.tracking_run_id.clear();
  record.no_cache = true;  // "after" runs (its earlier success would be a cache hit)
  for (StepRecord& step : record.steps) {
    if (step.name == "f0") continue;
    step = StepRecord{.name = step.name};
  }
  RunChange change{&record, {0, 1, 2}};
  ASSERT_TRUE((*store)->Save({&change, 1}).ok());
  store->reset();
  const int submitted = executor_->submit_count();
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  auto resumed = engine_->WaitForRun(record.id, kWaitMs);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->state, RunState::kSucceeded) << resumed->message;
  EXPECT_EQ(StepOf(*resumed, "join").state, StepState::kSucceeded);
  EXPECT_TRUE(StepOf(*resumed, "join").attempts.empty());
  EXPECT_EQ(StepOf(*resumed, "after").state, StepState::kSucceeded);
  EXPECT_EQ(executor_->submit_count(), submitted + 1);  // "after" only: f0 did not run again
}

TEST_F(EngineTest, WaitForRunTimesOut) {
  PipelineSpec spec;
  spec.name = "long";
  spec.steps = {Step("train", {"hang"})};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "long"});
  ASSERT_TRUE(started.ok());
  auto waited = engine_->WaitForRun(started->id, 20);
  EXPECT_EQ(waited.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(engine_->CancelRun(started->id).ok());
}

PipelineSpec CachedPipeline(const std::string& input) {
  PipelineSpec spec;
  spec.name = "cached";
  spec.params = {{.name = "seed", .type = ParamType::kInt, .default_value = "1"}};
  StepSpec build = Step("build", {"produce"});
  build.inputs = {{.name = "raw", .path = input}};
  build.outputs = {{.name = "train", .path = "train.csv"}};
  StepSpec train = Step("train", {"produce"});
  train.inputs = {{.name = "train", .from = "build.train"}};
  train.outputs = {{.name = "model", .path = "model.json"}};
  StepSpec notify = Step("notify", {"ok"});
  notify.depends_on = {"train"};
  notify.cache = false;
  spec.steps = {build, train, notify};
  return spec;
}

TEST_F(EngineTest, CacheHitsMissesNoCacheAndChangedInput) {
  std::string input = (dir_ / "raw.csv").string();
  std::ofstream(input) << "a,b\n1,2\n";
  Register(CachedPipeline(input));
  RunRecord first = RunToEnd({.pipeline = "cached"});
  ASSERT_EQ(first.state, RunState::kSucceeded) << first.message;
  EXPECT_EQ(executor_->submit_count(), 3);

  // Unchanged: build and train come from the cache; notify (cache: false) runs.
  RunRecord second = RunToEnd({.pipeline = "cached"});
  ASSERT_EQ(second.state, RunState::kSucceeded) << second.message;
  EXPECT_EQ(executor_->submit_count(), 4);
  EXPECT_EQ(StepOf(second, "build").state, StepState::kCached);
  EXPECT_EQ(StepOf(second, "build").cached_from, first.id);
  EXPECT_TRUE(StepOf(second, "build").attempts.empty());
  EXPECT_EQ(StepOf(second, "train").state, StepState::kCached);
  EXPECT_EQ(StepOf(second, "train").outputs, StepOf(first, "train").outputs);
  EXPECT_EQ(StepOf(second, "train").cache_key, StepOf(first, "train").cache_key);
  EXPECT_EQ(StepOf(second, "notify").state, StepState::kSucceeded);

  // A third run served from the second still names the run that did the work.
  RunRecord third = RunToEnd({.pipeline = "cached"});
  EXPECT_EQ(StepOf(third, "train").cached_from, first.id);
  EXPECT_EQ(executor_->submit_count(), 5);

  // --no-cache runs everything.
  RunRecord forced = RunToEnd({.pipeline = "cached", .no_cache = true});
  EXPECT_EQ(StepOf(forced, "build").state, StepState::kSucceeded);
  EXPECT_EQ(executor_->submit_count(), 8);

  // Other parameters: a new key.
  RunRecord seeded = RunToEnd({.pipeline = "cached", .params = {{"seed", "2"}}});
  EXPECT_EQ(StepOf(seeded, "build").state, StepState::kSucceeded);
  EXPECT_EQ(executor_->submit_count(), 11);

  // A changed input re-runs build, and train whose input (build's output) changed with it.
  std::ofstream(input) << "a,b\n1,3\n";
  RunRecord changed = RunToEnd({.pipeline = "cached"});
  EXPECT_EQ(StepOf(changed, "build").state, StepState::kSucceeded);
  EXPECT_NE(StepOf(changed, "build").input_hashes, StepOf(first, "build").input_hashes);
  EXPECT_EQ(StepOf(changed, "train").state, StepState::kSucceeded);
  EXPECT_NE(StepOf(changed, "train").cache_key, StepOf(first, "train").cache_key);
  EXPECT_EQ(executor_->submit_count(), 14);

  // Outputs that are gone are no cache entry.
  for (const RunRecord* run : {&first, &forced, &seeded, &changed})
    fs::remove_all(dir_ / "data" / "pipelines" / "runs" / run->id / "train");
  RunRecord gone = RunToEnd({.pipeline = "cached"});
  EXPECT_EQ(StepOf(gone, "build").state, StepState::kCached);
  EXPECT_EQ(StepOf(gone, "train").state, StepState::kSucceeded);
}

TEST_F(EngineTest, MissingExternalInputFailsNamingIt) {
  Register(CachedPipeline((dir_ / "absent.csv").string()));
  RunRecord run = RunToEnd({.pipeline = "cached"});
  EXPECT_EQ(run.state, RunState::kFailed);
  EXPECT_NE(run.message.find("step 'build' input 'raw' ("), std::string::npos) << run.message;
  EXPECT_NE(run.message.find("absent.csv"), std::string::npos);
  EXPECT_EQ(StepOf(run, "train").message, "upstream step 'build' failed");
  EXPECT_EQ(executor_->submit_count(), 0);
}

TEST_F(EngineTest, TracksParentAndChildRunsWithLineageAndArtifacts) {
  Register(ThreeSteps());
  RunRecord run = RunToEnd({.pipeline = "churn", .trigger = "schedule"});
  ASSERT_EQ(run.state, RunState::kSucceeded) << run.message;
  auto experiment = tracking_->GetExperimentByName("pipelines/churn");
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  auto parent = tracking_->GetRun(run.tracking_run_id);
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(parent->info.experiment_id, experiment->experiment_id);
  EXPECT_EQ(parent->info.status, "FINISHED");
  std::map<std::string, std::string> tags = TagMap(*parent);
  EXPECT_EQ(tags["cairn.pipeline.name"], "churn");
  EXPECT_EQ(tags["cairn.pipeline.version"], "1");
  EXPECT_EQ(tags["cairn.pipeline.trigger"], "schedule");
  EXPECT_EQ(tags["cairn.pipeline.run_id"], run.id);
  ASSERT_EQ(parent->params.size(), 1u);
  EXPECT_EQ(parent->params[0].key, "depth");
  EXPECT_EQ(parent->params[0].value, "6");

  const StepRecord& train = StepOf(run, "train");
  auto child = tracking_->GetRun(train.tracking_run_id);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(child->info.status, "FINISHED");
  EXPECT_EQ(child->info.experiment_id, experiment->experiment_id);
  std::map<std::string, std::string> child_tags = TagMap(*child);
  EXPECT_EQ(child_tags["mlflow.parentRunId"], run.tracking_run_id);
  EXPECT_EQ(child_tags["cairn.step"], "train");
  EXPECT_EQ(child_tags["cairn.cache_key"], train.cache_key);
  EXPECT_EQ(child_tags["cairn.input_hashes"],
            absl::StrCat("{\"train\":\"", train.input_hashes.at("train"), "\"}"));
  auto relative = storage::ArtifactStore::RelativePathOfUri(child->info.artifact_uri);
  ASSERT_TRUE(relative.ok());
  auto model = artifacts_->FileForRead(*relative + "/outputs/model/model.json");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(ReadFile(*model), ReadFile(train.outputs.at("model")));

  // A cached step's child run names the run it came from.
  RunRecord again = RunToEnd({.pipeline = "churn"});
  auto cached = tracking_->GetRun(StepOf(again, "train").tracking_run_id);
  ASSERT_TRUE(cached.ok());
  std::map<std::string, std::string> cached_tags = TagMap(*cached);
  EXPECT_EQ(cached_tags["cairn.cached_from"], run.id);
  EXPECT_EQ(cached->info.status, "FINISHED");
}

TEST_F(EngineTest, AFanOutsChildRunsAreCreatedTogetherAndEachStepGetsItsOwn) {
  PipelineSpec spec;
  spec.name = "wide";
  spec.steps.push_back(Step("start", {"produce"}));
  StepSpec end = Step("end", {"produce"});
  for (int i = 0; i < 20; ++i) {
    StepSpec middle = Step(absl::StrCat("m", i), {"produce"});
    middle.depends_on = {"start"};
    end.depends_on.push_back(middle.name);
    spec.steps.push_back(middle);
  }
  spec.steps.push_back(end);
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "wide"});
  ASSERT_EQ(run.state, RunState::kSucceeded) << run.message;
  std::set<std::string> child_ids;
  for (const StepRecord& step : run.steps) {
    auto child = tracking_->GetRun(step.tracking_run_id);
    ASSERT_TRUE(child.ok()) << step.name << ": " << child.status();
    EXPECT_EQ(child->info.status, "FINISHED") << step.name;
    EXPECT_EQ(child->info.run_name, step.name);
    std::map<std::string, std::string> tags = TagMap(*child);
    EXPECT_EQ(tags["mlflow.parentRunId"], run.tracking_run_id);
    EXPECT_EQ(tags["cairn.step"], step.name);
    EXPECT_EQ(tags["cairn.pipeline.run_id"], run.id);
    EXPECT_EQ(tags["cairn.cache_key"], step.cache_key);
    child_ids.insert(step.tracking_run_id);
  }
  EXPECT_EQ(child_ids.size(), run.steps.size());
  // Every job was told its own step's child run.
  std::vector<compute::JobSpec> jobs = executor_->submitted();
  ASSERT_EQ(jobs.size(), run.steps.size());
  for (const compute::JobSpec& job : jobs) {
    std::string step_name = job.env.at("CAIRN_STEP");
    EXPECT_EQ(job.env.at("MLFLOW_RUN_ID"), StepOf(run, step_name).tracking_run_id) << step_name;
  }
}

// A job's attempt, with the id its executor reserved, is committed before the job is
// submitted: a server that crashes at any moment leaves no started job without a stored
// attempt (the restarted server re-attaches it rather than running the step again).
TEST_F(EngineTest, AnAttemptIsStoredWithItsJobIdBeforeTheJobIsSubmitted) {
  Register(ThreeSteps());
  absl::Mutex mu;
  std::vector<std::string> unstored;
  int checked = 0;
  executor_->set_on_submit([&](const compute::JobSpec& job) {
    int64_t stored = 0;
    const storage::SqlValue params[] = {job.job_id};
    absl::Status read = db_->Read([&](storage::SqlSession& session) {
      return session.QueryEach("SELECT count(*) FROM pipeline_attempts WHERE job_id = $1", params,
                               [&](const storage::SqlRowView& row) {
                                 stored = row.Int(0);
                                 return absl::OkStatus();
                               });
    });
    absl::MutexLock lock(&mu);
    ++checked;
    if (!read.ok() || job.job_id.empty() || stored != 1) unstored.push_back(job.name);
  });
  RunRecord run = RunToEnd({.pipeline = "churn"});
  executor_->set_on_submit(nullptr);
  EXPECT_EQ(run.state, RunState::kSucceeded) << run.message;
  absl::MutexLock lock(&mu);
  EXPECT_EQ(checked, 3);
  EXPECT_TRUE(unstored.empty()) << "submitted before their attempt was stored: "
                                << absl::StrJoin(unstored, ", ");
  for (const StepRecord& step : run.steps) {
    ASSERT_EQ(step.attempts.size(), 1u) << step.name;
    EXPECT_TRUE(absl::StartsWith(step.attempts[0].job_id, "fake:")) << step.name;
  }
}

// The dispatcher commits the reports of a fan-out's jobs together (group commit) and may
// hold handled reports for a few milliseconds before their commit; a reader never sees a
// step further along than what the database holds.
TEST_F(EngineTest, ReadersSeeOnlyStoredStatesWhileAFanOutsReportsAreGathered) {
  constexpr int kWidth = 30;
  PipelineSpec spec;
  spec.name = "gathered";
  spec.steps.push_back(Step("start", {"ok"}));
  StepSpec end = Step("end", {"ok"});
  for (int i = 0; i < kWidth; ++i) {
    StepSpec middle = Step(absl::StrCat("m", i), {"hang"});
    middle.depends_on = {"start"};
    end.depends_on.push_back(middle.name);
    spec.steps.push_back(middle);
  }
  spec.steps.push_back(end);
  Register(spec);
  auto store = RunStore::Open(*db_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto started = engine_->StartRun({.pipeline = "gathered"});
  ASSERT_TRUE(started.ok()) << started.status();
  WaitUntil(started->id, [](const RunRecord& run) {
    int running = 0;
    for (const StepRecord& step : run.steps) running += step.state == StepState::kRunning;
    return running == kWidth;
  });
  auto rank = [](StepState state) {
    return state == StepState::kQueued ? 0 : state == StepState::kRunning ? 1 : 2;
  };
  std::vector<std::string> jobs = executor_->running();
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kWidth));
  std::thread finisher([&] {
    for (const std::string& job : jobs) executor_->Finish(job, 0);
  });
  int compared = 0;
  for (;;) {
    auto seen = engine_->GetRun(started->id);
    ASSERT_TRUE(seen.ok()) << seen.status();
    auto stored = (*store)->GetRun(started->id);
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(stored->steps.size(), seen->steps.size());
    for (size_t pos = 0; pos < seen->steps.size(); ++pos) {
      EXPECT_GE(rank(stored->steps[pos].state), rank(seen->steps[pos].state))
          << seen->steps[pos].name << " is " << StepStateName(seen->steps[pos].state)
          << " to a reader but " << StepStateName(stored->steps[pos].state) << " in the store";
    }
    ++compared;
    if (IsTerminal(seen->state)) break;
  }
  finisher.join();
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  EXPECT_GT(compared, 0);
  EXPECT_EQ(executor_->submit_count(), kWidth + 2);
}

// Not a test: the engine's own CPU per step of a fan-out whose jobs cost nothing (the
// in-process executor ends each job at once), i.e. what a step without a process would cost
// at most. Run with --gtest_also_run_disabled_tests --gtest_filter='*EngineCpuPerStep*'.
TEST_F(EngineTest, DISABLED_EngineCpuPerStepOfAFanOut) {
  const int width = 1000;
  PipelineSpec spec;
  spec.name = "cpu";
  spec.steps.push_back(Step("start", {"ok"}));
  StepSpec end = Step("end", {"ok"});
  for (int i = 0; i < width; ++i) {
    StepSpec middle = Step(absl::StrCat("m", i), {"ok"});
    middle.depends_on = {"start"};
    middle.cache = false;
    end.depends_on.push_back(middle.name);
    spec.steps.push_back(middle);
  }
  spec.steps.push_back(end);
  Register(spec);
  RunToEnd({.pipeline = "cpu", .no_cache = true});  // warm-up
  for (int round = 0; round < 3; ++round) {
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    absl::Time t0 = absl::Now();
    RunRecord run = RunToEnd({.pipeline = "cpu", .no_cache = true});
    double wall_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
    getrusage(RUSAGE_SELF, &after);
    auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
    double cpu = ms(after.ru_utime) - ms(before.ru_utime) + ms(after.ru_stime) -
                 ms(before.ru_stime);
    ASSERT_EQ(run.state, RunState::kSucceeded) << run.message;
    std::printf("round %d: %.3f ms CPU per step (engine + in-process executor), wall %.0f ms\n",
                round, cpu / (width + 2), wall_ms);
  }
}

// An executor that numbers jobs as it accepts them (Slurm's sbatch): the attempt is stored
// with the reserved id before the job is submitted, then with the executor's number. A
// server that stopped before storing the number re-attaches the job by the reserved id (the
// Slurm executor finds it by name), stores the number its reports carry, and does not submit
// the step again.
TEST_F(EngineTest, AJobNumberedOnSubmitIsStoredByNumberAndFoundByItsReservedIdAfterARestart) {
  executor_->set_numbers_jobs(true);
  PipelineSpec spec;
  spec.name = "numbered";
  spec.steps = {Step("train", {"hang"})};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "numbered"});
  ASSERT_TRUE(started.ok()) << started.status();
  WaitUntil(started->id,
            [](const RunRecord& run) { return run.steps[0].state == StepState::kRunning; });
  auto store = RunStore::Open(*db_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto stored = (*store)->GetRun(started->id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->steps[0].attempts.size(), 1u);
  EXPECT_EQ(stored->steps[0].attempts[0].job_id, "n:1");
  const std::string reserved = executor_->submitted().at(0).job_id;
  ASSERT_TRUE(absl::StartsWith(reserved, "fake:")) << reserved;

  engine_.reset();  // the server stops; the job keeps running
  // ... as if it had stopped before the write that replaced the reserved id.
  const storage::SqlValue params[] = {reserved};
  ASSERT_TRUE(
      db_->Write([&](storage::SqlSession& session) {
           return session.Execute("UPDATE pipeline_attempts SET job_id = $1", params).status();
         })
          .ok());
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  EXPECT_EQ(executor_->reattach_count(), 1);
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].attempts.size() == 1 && run.steps[0].attempts[0].job_id == "n:1";
  });
  executor_->Finish("n:1", 0);
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  ASSERT_EQ(run->steps[0].attempts.size(), 1u);
  EXPECT_EQ(run->steps[0].attempts[0].job_id, "n:1");
  stored = (*store)->GetRun(started->id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->steps[0].attempts[0].job_id, "n:1");
  EXPECT_EQ(executor_->submit_count(), 1);
}

TEST_F(EngineTest, RecoveryReattachesRunningJobsWithoutRunningThemTwice) {
  PipelineSpec spec;
  spec.name = "resume";
  StepSpec build = Step("build", {"ok"});
  StepSpec train = Step("train", {"hang"});
  train.depends_on = {"build"};
  StepSpec eval = Step("eval", {"ok"});
  eval.depends_on = {"train"};
  spec.steps = {build, train, eval};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "resume"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[1].state == StepState::kRunning;
  });
  engine_.reset();  // the server stops; the job keeps running
  ASSERT_EQ(executor_->running().size(), 1u);
  std::string job = executor_->running()[0];

  OpenEngine();
  auto stored = engine_->GetRun(started->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, RunState::kRunning);
  ASSERT_TRUE(engine_->Recover().ok());  // returns once the job is re-attached
  EXPECT_EQ(executor_->reattach_count(), 1);
  executor_->Finish(job, 0);
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  EXPECT_EQ(run->steps[0].attempts.size(), 1u);
  EXPECT_EQ(run->steps[1].attempts.size(), 1u);
  EXPECT_EQ(executor_->submit_count(), 3);  // build, train, eval: each once
}

TEST_F(EngineTest, RecoveryRetriesALostJob) {
  PipelineSpec spec;
  spec.name = "lost";
  StepSpec train = Step("train", {"hang"});
  train.retry = {.attempts = 2, .backoff_ms = 1};
  spec.steps = {train};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "lost"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning;
  });
  engine_.reset();
  std::string job = executor_->running().at(0);
  executor_->Forget(job);  // the process vanished while the server was down
  executor_->set_handler([](const compute::JobSpec&) { return FakeOutcome{}; });
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  ASSERT_EQ(run->steps[0].attempts.size(), 2u);
  EXPECT_EQ(run->steps[0].attempts[0].reason, compute::FailureReason::kLostNode);
  EXPECT_EQ(run->steps[0].attempts[1].state, compute::JobState::kSucceeded);
  EXPECT_EQ(executor_->submit_count(), 2);
}

// A step whose process vanished while the server was down (or whose job had not started)
// runs again after the restart even with no retries left: the lost attempt is recorded.
TEST_F(EngineTest, RecoveryRunsALostJobAgainOutsideTheRetryBudget) {
  PipelineSpec spec;
  spec.name = "lost-once";
  spec.steps = {Step("train", {"hang"})};  // retry.attempts = 1 (the default)
  ASSERT_EQ(spec.steps[0].retry.attempts, 1);
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "lost-once"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning;
  });
  engine_.reset();
  executor_->Forget(executor_->running().at(0));
  executor_->set_handler([](const compute::JobSpec&) { return FakeOutcome{}; });
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  ASSERT_EQ(run->steps[0].attempts.size(), 2u);
  EXPECT_EQ(run->steps[0].attempts[0].state, compute::JobState::kFailed);
  EXPECT_EQ(run->steps[0].attempts[0].reason, compute::FailureReason::kLostNode);
  EXPECT_TRUE(absl::StartsWith(run->steps[0].attempts[0].message, "node lost"))
      << run->steps[0].attempts[0].message;
  EXPECT_EQ(run->steps[0].attempts[1].state, compute::JobState::kSucceeded);
  EXPECT_EQ(executor_->submit_count(), 2);
}

// Outside a restart, a lost node is an ordinary failure: it uses up the retry budget.
TEST_F(EngineTest, ALostNodeWhileRunningCountsAgainstTheRetryBudget) {
  executor_->set_handler([](const compute::JobSpec&) {
    return FakeOutcome{.exit_code = 1, .reason = compute::FailureReason::kLostNode};
  });
  PipelineSpec spec;
  spec.name = "node-fails";
  spec.steps = {Step("train", {"ok"})};
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "node-fails"});
  EXPECT_EQ(run.state, RunState::kFailed);
  ASSERT_EQ(run.steps.size(), 1u);
  EXPECT_EQ(run.steps[0].attempts.size(), 1u);
  EXPECT_EQ(executor_->submit_count(), 1);
}

// A job on an executor the restarted server does not have is left alone: the step fails
// saying which job it is and how to follow it, and nothing is resubmitted elsewhere.
TEST_F(EngineTest, RecoveryWithoutTheAttemptsExecutorLeavesTheJobAndSaysHowToFollowIt) {
  slurm_ = std::make_unique<FakeExecutor>(clock(), "slurm");
  slurm_->set_handler([](const compute::JobSpec&) { return FakeOutcome{.hang = true}; });
  OpenEngine();
  PipelineSpec spec;
  spec.name = "on-slurm";
  StepSpec train = Step("train", {"hang"});
  train.executor = "slurm";
  train.retry = {.attempts = 3, .backoff_ms = 1};
  StepSpec eval = Step("eval", {"ok"});
  eval.depends_on = {"train"};
  spec.steps = {train, eval};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "on-slurm"});
  ASSERT_TRUE(started.ok());
  RunRecord running = WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning;
  });
  std::string job = running.steps[0].attempts.at(0).job_id;
  ASSERT_FALSE(job.empty());
  engine_.reset();
  std::unique_ptr<FakeExecutor> slurm = std::move(slurm_);  // restarted without --slurm
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kFailed);
  const StepRecord& step = StepOf(*run, "train");
  EXPECT_EQ(step.state, StepState::kFailed);
  EXPECT_EQ(step.message,
            absl::StrCat("attempt 1 runs as slurm job ", job,
                         ", but this server has no slurm executor: restart it with --slurm to "
                         "follow it"));
  EXPECT_EQ(step.attempts.size(), 1u);
  EXPECT_TRUE(absl::StrContains(run->message, "restart it with --slurm")) << run->message;
  EXPECT_EQ(StepOf(*run, "eval").state, StepState::kSkipped);
  EXPECT_EQ(executor_->submit_count(), 0);  // not retried on the local executor
  EXPECT_EQ(slurm->running(), std::vector<std::string>{job});  // left alone, not cancelled
  EXPECT_EQ(slurm->submit_count(), 1);
}

// A failing step's log tail (in the step and the run's message) is valid UTF-8 without NULs,
// whatever the step printed, so that every database stores it and the run ends failed.
TEST_F(EngineTest, LogTailOfBinaryOutputIsValidUtf8AndTheRunEndsFailed) {
  CheckBinaryLogTail();
}

// When storing run state fails (here: its table is away for a moment), the changes are kept
// and stored on a later turn: the run ends in the database, not "running" forever.
void RenameTable(storage::Database& db, const std::string& from, const std::string& to) {
  absl::Status status = db.Write([&](storage::SqlSession& session) {
    return session.ExecuteScript(absl::StrCat("ALTER TABLE ", from, " RENAME TO ", to));
  });
  ASSERT_TRUE(status.ok()) << status;
}

TEST_F(EngineTest, AFailedSaveIsRetriedAndTheRunEndsStored) {
  PipelineSpec spec;
  spec.name = "save-later";
  spec.steps = {Step("train", {"hang"})};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "save-later"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning;
  });
  RenameTable(*db_, "pipeline_steps", "pipeline_steps_away");
  executor_->Finish(executor_->running().at(0), 0);
  // GetRun serves the run from memory while it is unsaved; the dispatcher saves (and here
  // fails) under the same lock, so seeing the end means a Save was tried.
  WaitUntil(started->id, [](const RunRecord& run) { return run.state == RunState::kSucceeded; });
  RenameTable(*db_, "pipeline_steps_away", "pipeline_steps");
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  ASSERT_EQ(run->steps.size(), 1u);
  EXPECT_EQ(run->steps[0].state, StepState::kSucceeded);
  engine_.reset();
  OpenEngine();  // what a restarted server reads
  auto stored = engine_->GetRun(started->id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state, RunState::kSucceeded);
  // The tracking ends, written in the same commit as the run's state, were kept for the
  // Save that succeeded.
  EXPECT_EQ(tracking_->GetRunInfo(stored->steps[0].tracking_run_id)->status, "FINISHED");
  EXPECT_EQ(tracking_->GetRunInfo(stored->tracking_run_id)->status, "FINISHED");
}

// The same on PostgreSQL, which refuses invalid UTF-8 and NULs in text.
class EnginePostgresTest : public EngineTest {
 protected:
  void SetUp() override {
    CAIRN_REQUIRE_POSTGRES();
    EngineTest::SetUp();
  }
  std::string DatabaseUrl() override { return storage::test_support::PrivatePostgresUrl(); }
};

TEST_F(EnginePostgresTest, LogTailOfBinaryOutputIsValidUtf8AndTheRunEndsFailed) {
  CheckBinaryLogTail();
}

TEST_F(EngineTest, OpensOverTheRegistryAndPinsTheVersion) {
  auto registry = PipelineRegistry::Open(*db_, RealClock());
  ASSERT_TRUE(registry.ok()) << registry.status();
  PipelineSpec spec;
  spec.name = "registered";
  spec.steps = {Step("only", {"ok"})};
  ASSERT_TRUE((*registry)->Apply({spec}, false, false).ok());
  spec.steps[0].command = {"ok", "v2"};
  ASSERT_TRUE((*registry)->Apply({spec}, false, false).ok());
  engine_.reset();
  EngineOptions options;
  options.data_dir = (dir_ / "data").string();
  auto engine = PipelineEngine::Open(*db_, RealClock(), **registry, {{"local", executor_.get()}},
                                     nullptr, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = std::move(*engine);
  RunRecord latest = RunToEnd({.pipeline = "registered"});
  EXPECT_EQ(latest.state, RunState::kSucceeded) << latest.message;
  EXPECT_EQ(latest.version, 2);
  RunRecord pinned = RunToEnd({.pipeline = "registered", .version = 1});
  EXPECT_EQ(pinned.version, 1);
  EXPECT_EQ(executor_->submitted().back().argv, (std::vector<std::string>{"ok"}));
}

// A same-size rewrite whose mtime is put back (cp -p, rsync -t, tar) changes the hash:
// the memo also keys on the inode's ctime (and device and inode number).
TEST(InputHasher, SameSizeRewriteWithRestoredMtimeChangesTheHash) {
  fs::path dir = FreshTempDir();
  std::string file = (dir / "data.csv").string();
  std::ofstream(file) << "a,1\n";
  InputHasher hasher;
  auto before = hasher.Hash(file);
  ASSERT_TRUE(before.ok()) << before.status();
  struct stat old_stat;
  ASSERT_EQ(::stat(file.c_str(), &old_stat), 0);
  // The kernel stamps ctime from a coarse clock: wait (bounded) until it has moved on.
  std::string probe = (dir / "probe").string();
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (;;) {
    std::ofstream(probe) << "x";
    struct stat probe_stat;
    ASSERT_EQ(::stat(probe.c_str(), &probe_stat), 0);
    if (probe_stat.st_ctim.tv_sec != old_stat.st_ctim.tv_sec ||
        probe_stat.st_ctim.tv_nsec != old_stat.st_ctim.tv_nsec) break;
    ASSERT_LT(absl::Now(), deadline) << "the ctime clock did not move";
  }
  std::ofstream(file, std::ios::trunc) << "b,2\n";  // same size
  struct timespec times[2] = {old_stat.st_atim, old_stat.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  struct stat new_stat;
  ASSERT_EQ(::stat(file.c_str(), &new_stat), 0);
  ASSERT_EQ(new_stat.st_size, old_stat.st_size);
  ASSERT_EQ(new_stat.st_mtim.tv_nsec, old_stat.st_mtim.tv_nsec);
  auto after = hasher.Hash(file);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, Sha256Hex("b,2\n"));
  EXPECT_NE(*before, *after);
  EXPECT_NE(StepCacheKey(Step("s", {"ok"}), {}, {{"in", *before}}),
            StepCacheKey(Step("s", {"ok"}), {}, {{"in", *after}}));
  fs::remove_all(dir);
}

// A link to a directory inside an input directory is followed: its contents count. A link
// back up (a loop) is recorded, not followed forever.
TEST(InputHasher, DirectoryHashFollowsLinkedDirectoriesWithALoopGuard) {
  fs::path dir = FreshTempDir();
  fs::create_directories(dir / "input" / "sub");
  fs::create_directories(dir / "elsewhere");
  std::ofstream(dir / "input" / "a.txt") << "1";
  std::ofstream(dir / "elsewhere" / "b.txt") << "2";
  fs::create_directory_symlink(dir / "elsewhere", dir / "input" / "linked");
  fs::create_directory_symlink("..", dir / "input" / "sub" / "up");  // a loop
  InputHasher hasher;
  std::string input = (dir / "input").string();
  auto before = hasher.Hash(input);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, Sha256Hex(absl::StrCat("a.txt", std::string(1, '\0'), Sha256Hex("1"), "\n",
                                            "linked/\n", "linked/b.txt", std::string(1, '\0'),
                                            Sha256Hex("2"), "\n", "sub/\n", "sub/up/ (loop)\n")));
  std::ofstream(dir / "elsewhere" / "b.txt") << "22";
  auto after = hasher.Hash(input);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(*before, *after);
  fs::remove_all(dir);
}

// Retry delays on a fake clock: the second attempt waits for exactly the backoff.
class EngineFakeClockTest : public EngineTest {
 protected:
  Clock& clock() override { return fake_; }
  FakeClock fake_;
};

TEST_F(EngineFakeClockTest, RetryWaitsForTheBackoff) {
  PipelineSpec spec;
  spec.name = "backoff";
  StepSpec step = Step("fetch", {"flaky", "1"});
  step.retry = {.attempts = 2, .backoff_ms = 60'000, .factor = 2, .max_backoff_ms = 600'000};
  spec.steps = {step};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "backoff"});
  ASSERT_TRUE(started.ok());
  RunRecord waiting = WaitUntil(started->id, [](const RunRecord& run) {
    return absl::StrContains(run.steps[0].message, "retrying in");
  });
  EXPECT_EQ(waiting.steps[0].message, "attempt 1 failed: exited with code 1; retrying in 1m");
  EXPECT_EQ(executor_->submit_count(), 1);
  fake_.Advance(59'999);
  absl::SleepFor(absl::Milliseconds(100));  // the engine must not start it early
  EXPECT_EQ(executor_->submit_count(), 1);
  fake_.Advance(1);
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  ASSERT_EQ(run->steps[0].attempts.size(), 2u);
  EXPECT_EQ(run->steps[0].attempts[1].queued_ms - run->steps[0].attempts[0].ended_ms, 60'000);
}

}  // namespace
}  // namespace cairn::pipelines
