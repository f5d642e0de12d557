// The engine on the real local executor (child processes): outputs and environment reach
// real scripts, a failing process is explained with its log, cancellation kills the
// process group, a restarted engine re-attaches a live process, and the scheduling
// overhead (printed, not asserted: dependency satisfied → process started, 10 sequential
// no-op steps, a fan-out/fan-in DAG; CAIRN_PIPELINES_PERF=1 for 1000 steps and more runs).

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "compute/local_executor.h"
#include "gtest/gtest.h"
#include "pipelines/pipeline_engine.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/tracking_store.h"

namespace cairn::pipelines {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kWaitMs = 60'000;

fs::path FreshTempDir() {
  static std::atomic<int> counter{0};
  auto dir = fs::temp_directory_path() /
             absl::StrCat("cairn-engine-local-", ::getpid(), "-", counter.fetch_add(1), "-",
                          std::random_device{}());
  fs::create_directories(dir);
  return dir;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

using SteadyTime = std::chrono::steady_clock::time_point;

// Forwards to the local executor and notes, per job name, when Submit returned (the
// process has been spawned: the local executor starts a job that fits on the caller's
// thread) and when its terminal callback arrived (the engine learns its dependents are
// satisfied).
class TimingExecutor final : public compute::Executor {
 public:
  explicit TimingExecutor(compute::Executor* inner) : inner_(inner) {}
  std::string_view name() const override { return inner_->name(); }
  absl::Status CheckSatisfiable(const compute::Resources& r) const override {
    return inner_->CheckSatisfiable(r);
  }
  absl::StatusOr<std::string> Submit(const compute::JobSpec& spec,
                                     compute::JobCallback callback) override {
    std::string step = StepOf(spec.name);
    auto wrapped = [this, step, callback](const compute::JobStatus& status) {
      if (status.state == compute::JobState::kSucceeded || status.state == compute::JobState::kFailed) {
        absl::MutexLock lock(&mu_);
        ended_[step] = std::chrono::steady_clock::now();
      }
      callback(status);
    };
    auto id = inner_->Submit(spec, wrapped);
    absl::MutexLock lock(&mu_);
    submitted_[step] = std::chrono::steady_clock::now();
    return id;
  }
  absl::Status Reattach(const std::string& id, const compute::JobSpec& spec,
                        compute::JobCallback callback) override {
    return inner_->Reattach(id, spec, std::move(callback));
  }
  absl::Status Cancel(const std::string& id) override { return inner_->Cancel(id); }
  std::string NewJobId() override { return inner_->NewJobId(); }
  compute::ExecutorStatus Status() const override { return inner_->Status(); }
  void Shutdown() override { inner_->Shutdown(); }

  // Microseconds from `upstream`'s end callback to `downstream`'s spawn.
  double GapUs(const std::string& upstream, const std::string& downstream) {
    absl::MutexLock lock(&mu_);
    return std::chrono::duration<double, std::micro>(submitted_[downstream] - ended_[upstream])
        .count();
  }

 private:
  // "pipeline/run/step#attempt" → "step".
  static std::string StepOf(const std::string& name) {
    size_t slash = name.rfind('/');
    size_t hash = name.rfind('#');
    return name.substr(slash + 1, hash - slash - 1);
  }
  compute::Executor* inner_;
  absl::Mutex mu_;
  std::map<std::string, SteadyTime> submitted_, ended_;
};

StepSpec Script(std::string name, std::string script) {
  StepSpec step;
  step.name = std::move(name);
  step.script = std::move(script);
  return step;
}

StepSpec Command(std::string name, std::vector<std::string> command) {
  StepSpec step;
  step.name = std::move(name);
  step.command = std::move(command);
  return step;
}

class EngineLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTempDir();
    auto db = storage::OpenDatabase((dir_ / "cairn.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto tracking = tracking::TrackingStore::Open(*db_, RealClock());
    ASSERT_TRUE(tracking.ok()) << tracking.status();
    tracking_ = std::move(*tracking);
    artifacts_ = std::make_unique<storage::ArtifactStore>((dir_ / "artifacts").string());
    OpenExecutor();
    OpenEngine();
  }
  void TearDown() override {
    engine_.reset();
    if (local_) local_->Shutdown();
    timing_.reset();
    local_.reset();
    tracking_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  void OpenExecutor() {
    compute::LocalExecutorOptions options;
    options.cpus = 64;  // no-op steps: let fan-outs run side by side
    options.memory_bytes = int64_t{64} << 30;
    options.gpus = std::vector<int>{};
    options.kill_grace_ms = 500;
    auto local = compute::LocalExecutor::Create(options);
    ASSERT_TRUE(local.ok()) << local.status();
    local_ = std::move(*local);
    timing_ = std::make_unique<TimingExecutor>(local_.get());
  }

  void OpenEngine() {
    engine_.reset();
    VersionLookup lookup = [this](std::string_view name, std::optional<int64_t>)
        -> absl::StatusOr<PipelineVersion> {
      absl::MutexLock lock(&mu_);
      auto it = versions_.find(std::string(name));
      if (it == versions_.end()) return absl::NotFoundError(std::string(name));
      return it->second;
    };
    EngineOptions options;
    options.data_dir = (dir_ / "data").string();
    options.server_url = "http://127.0.0.1:5999";
    options.artifacts = artifacts_.get();
    auto engine = PipelineEngine::Open(*db_, RealClock(), lookup, {{"local", timing_.get()}},
                                       tracking_.get(), options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  void Register(PipelineSpec spec) {
    absl::MutexLock lock(&mu_);
    PipelineVersion version;
    version.name = spec.name;
    version.version = 1;
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

  RunRecord WaitUntil(const std::string& run_id, std::function<bool(const RunRecord&)> predicate) {
    absl::Time deadline = absl::Now() + absl::Milliseconds(kWaitMs);
    for (;;) {
      auto run = engine_->GetRun(run_id);
      if (run.ok() && predicate(*run)) return *run;
      if (absl::Now() > deadline) {
        ADD_FAILURE() << "condition not reached for run " << run_id;
        return run.ok() ? *run : RunRecord{};
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  fs::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<tracking::TrackingStore> tracking_;
  std::unique_ptr<storage::ArtifactStore> artifacts_;
  std::unique_ptr<compute::LocalExecutor> local_;
  std::unique_ptr<TimingExecutor> timing_;
  std::unique_ptr<PipelineEngine> engine_;
  absl::Mutex mu_;
  std::map<std::string, PipelineVersion> versions_;
};

TEST_F(EngineLocalTest, RealProcessesPassOutputsAndEnvironment) {
  PipelineSpec spec;
  spec.name = "real";
  spec.params = {{.name = "depth", .type = ParamType::kInt, .default_value = "6"}};
  StepSpec build = Script("build", "printf 'rows\\n' > {{outputs.train}}");
  build.outputs = {{.name = "train", .path = "train.csv"}};
  StepSpec train = Script(
      "train",
      "mkdir -p \"$(dirname \"$CAIRN_OUTPUT_MODEL\")\"\n"
      "printf '%s depth=%s run=%s mlflow=%s' \"$(cat \"$CAIRN_INPUT_TRAIN\")\" "
      "\"$CAIRN_PARAM_DEPTH\" \"$CAIRN_PIPELINE_RUN_ID\" \"$MLFLOW_RUN_ID\" > "
      "\"$CAIRN_OUTPUT_MODEL\"\necho trained in \"$PWD\"");
  train.inputs = {{.name = "train", .from = "build.train"}};
  train.outputs = {{.name = "model", .path = "model/model.txt"}};
  spec.steps = {build, train};
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "real", .params = {{"depth", "9"}}});
  ASSERT_EQ(run.state, RunState::kSucceeded) << run.message;
  const StepRecord& step = run.steps[1];
  EXPECT_EQ(ReadFile(step.outputs.at("model")),
            absl::StrCat("rows depth=9 run=", run.id, " mlflow=", step.tracking_run_id));
  ASSERT_EQ(step.attempts.size(), 1u);
  EXPECT_EQ(step.attempts[0].exit_code, 0);
  EXPECT_GT(step.attempts[0].started_ms, 0);
  bool done = false;
  auto log = engine_->ReadLog(run.id, "train", 0, 0, 1 << 20, &done);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, absl::StrCat("trained in ", (dir_ / "data" / "pipelines" / "runs" / run.id /
                                               "train").string(), "\n"));
  EXPECT_TRUE(done);
}

TEST_F(EngineLocalTest, FailingProcessIsExplainedWithItsLog) {
  PipelineSpec spec;
  spec.name = "fails";
  StepSpec train = Script("train", "for i in $(seq 1 25); do echo line $i; done; exit 3");
  train.retry = {.attempts = 2, .backoff_ms = 10};
  StepSpec eval = Command("eval", {"true"});
  eval.depends_on = {"train"};
  spec.steps = {train, eval};
  Register(spec);
  RunRecord run = RunToEnd({.pipeline = "fails"});
  EXPECT_EQ(run.state, RunState::kFailed);
  std::string tail;
  for (int i = 6; i <= 25; ++i) absl::StrAppend(&tail, i == 6 ? "" : "\n", "line ", i);
  EXPECT_EQ(run.message, absl::StrCat("step 'train' failed after 2 attempts: exited with code 3\n"
                                      "last lines of its log:\n", tail));
  EXPECT_EQ(run.steps[0].attempts.size(), 2u);
  EXPECT_EQ(run.steps[0].attempts[1].exit_code, 3);
  EXPECT_EQ(run.steps[1].state, StepState::kSkipped);
}

TEST_F(EngineLocalTest, CancelKillsTheProcessGroup) {
  PipelineSpec spec;
  spec.name = "cancel";
  spec.steps = {Script("train", "sleep 60 & echo $! > {{run.id}}.pid; wait")};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "cancel"});
  ASSERT_TRUE(started.ok());
  fs::path pid_file = dir_ / "data" / "pipelines" / "runs" / started->id / "train" /
                      (started->id + ".pid");
  WaitUntil(started->id, [&](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning && fs::exists(pid_file) &&
           !ReadFile(pid_file).empty();
  });
  pid_t child = std::stoi(ReadFile(pid_file));
  ASSERT_TRUE(engine_->CancelRun(started->id).ok());
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kCancelled);
  EXPECT_EQ(run->steps[0].state, StepState::kCancelled);
  EXPECT_EQ(run->steps[0].attempts[0].reason, compute::FailureReason::kCancelled);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (::kill(child, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_NE(::kill(child, 0), 0) << "the step's background process survived the cancel";
}

TEST_F(EngineLocalTest, RestartedEngineReattachesTheLiveProcess) {
  PipelineSpec spec;
  spec.name = "resume";
  fs::path go = dir_ / "go";
  fs::path starts = dir_ / "starts";
  StepSpec train = Script("train", absl::StrCat("echo start >> ", starts.string(),
                                                "\nwhile [ ! -f ", go.string(),
                                                " ]; do sleep 0.01; done\necho done"));
  StepSpec eval = Command("eval", {"true"});
  eval.depends_on = {"train"};
  spec.steps = {train, eval};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "resume"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [&](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning && fs::exists(starts);
  });
  engine_.reset();  // the server stops; the process keeps running
  local_->Shutdown();
  OpenExecutor();
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  std::ofstream(go) << "go";
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  EXPECT_EQ(run->steps[0].attempts.size(), 1u);
  EXPECT_EQ(ReadFile(starts), "start\n");  // it ran once
}

// The step's processes die while the server is down (their process group killed): after
// the restart the step runs again, outside its retry budget (the default, one attempt).
TEST_F(EngineLocalTest, RestartedEngineRunsAStepWhoseProcessIsGoneAgain) {
  PipelineSpec spec;
  spec.name = "lost";
  fs::path starts = dir_ / "starts";
  StepSpec train = Script("train", absl::StrCat("echo $$ >> ", starts.string(), "\n",
                                                "[ $(wc -l < ", starts.string(),
                                                ") -ge 2 ] && exit 0\nsleep 60"));
  ASSERT_EQ(train.retry.attempts, 1);
  StepSpec eval = Command("eval", {"true"});
  eval.depends_on = {"train"};
  spec.steps = {train, eval};
  Register(spec);
  auto started = engine_->StartRun({.pipeline = "lost"});
  ASSERT_TRUE(started.ok());
  WaitUntil(started->id, [&](const RunRecord& run) {
    return run.steps[0].state == StepState::kRunning && !ReadFile(starts).empty();
  });
  engine_.reset();  // the server stops
  local_->Shutdown();
  pid_t pid = std::stoi(ReadFile(starts));
  pid_t group = ::getpgid(pid);
  ASSERT_GT(group, 1);
  ASSERT_EQ(::kill(-group, SIGKILL), 0);  // and the step's processes die meanwhile
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (::kill(pid, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  OpenExecutor();
  OpenEngine();
  ASSERT_TRUE(engine_->Recover().ok());
  auto run = engine_->WaitForRun(started->id, kWaitMs);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, RunState::kSucceeded) << run->message;
  ASSERT_EQ(run->steps[0].attempts.size(), 2u);
  EXPECT_EQ(run->steps[0].attempts[0].reason, compute::FailureReason::kLostNode);
  EXPECT_TRUE(absl::StartsWith(run->steps[0].attempts[0].message, "node lost"))
      << run->steps[0].attempts[0].message;
  EXPECT_EQ(run->steps[0].attempts[1].state, compute::JobState::kSucceeded);
  EXPECT_EQ(run->steps[1].state, StepState::kSucceeded);
  int lines = 0;
  for (char c : ReadFile(starts)) lines += c == '\n';
  EXPECT_EQ(lines, 2);  // it ran twice: once lost, once to the end
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * (values.size() - 1))];
}

// Scheduling overhead with no-op processes. Prints figures for docs/benchmarks.md.
TEST_F(EngineLocalTest, SchedulingOverhead) {
  const bool full = std::getenv("CAIRN_PIPELINES_PERF") != nullptr;
  PipelineSpec chain;
  chain.name = "chain10";
  for (int i = 0; i < 10; ++i) {
    StepSpec step = Command(absl::StrCat("s", i), {"true"});
    if (i > 0) step.depends_on = {absl::StrCat("s", i - 1)};
    chain.steps.push_back(step);
  }
  Register(chain);
  std::vector<double> walls, gaps_us, gaps_ms;
  const int runs = full ? 20 : 3;
  for (int r = 0; r < runs; ++r) {
    auto start = std::chrono::steady_clock::now();
    RunRecord run = RunToEnd({.pipeline = "chain10", .no_cache = true});
    walls.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    ASSERT_EQ(run.state, RunState::kSucceeded) << run.message;
    for (int i = 1; i < 10; ++i) {
      gaps_us.push_back(timing_->GapUs(absl::StrCat("s", i - 1), absl::StrCat("s", i)));
      gaps_ms.push_back(static_cast<double>(run.steps[i].attempts[0].started_ms -
                                            run.steps[i - 1].attempts[0].ended_ms));
    }
  }
  std::printf(
      "10 sequential no-op steps (local executor, tracking on): wall p50 %.1f ms, min %.1f ms "
      "over %d runs\n"
      "dependency satisfied -> process started: engine (end callback -> spawned) p50 %.0f us, "
      "p90 %.0f us; recorded (ended_ms -> started_ms) p50 %.0f ms, p90 %.0f ms (n=%zu)\n",
      Percentile(walls, 0.5), Percentile(walls, 0), runs, Percentile(gaps_us, 0.5),
      Percentile(gaps_us, 0.9), Percentile(gaps_ms, 0.5), Percentile(gaps_ms, 0.9),
      gaps_us.size());

  const int width = full ? 998 : 98;
  PipelineSpec fan;
  fan.name = "fan";
  fan.steps.push_back(Command("root", {"true"}));
  StepSpec sink = Command("sink", {"true"});
  for (int i = 0; i < width; ++i) {
    StepSpec step = Command(absl::StrCat("m", i), {"true"});
    step.depends_on = {"root"};
    fan.steps.push_back(step);
    sink.depends_on.push_back(step.name);
  }
  fan.steps.push_back(sink);
  Register(fan);
  auto start = std::chrono::steady_clock::now();
  RunRecord run = RunToEnd({.pipeline = "fan", .no_cache = true});
  double fan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(run.state, RunState::kSucceeded) << run.message;
  std::printf("%d-step fan-out/fan-in of no-op steps: %.0f ms\n", width + 2, fan_ms);

  // Served from the cache: no process at all.
  start = std::chrono::steady_clock::now();
  run = RunToEnd({.pipeline = "fan"});
  RunRecord cached = RunToEnd({.pipeline = "fan"});
  double cached_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(cached.state, RunState::kSucceeded);
  EXPECT_EQ(cached.steps[1].state, StepState::kCached);
  std::printf("the same DAG twice more with the cache (the second fully cached): %.0f ms\n",
              cached_ms);
}

}  // namespace
}  // namespace cairn::pipelines
