// The executor contract (executor.h), one suite run against every executor: the local
// executor (child processes) and the Slurm executor (a real cluster: scripts/run_tests
// starts one with scripts/slurm_test_server and exports SLURM_CONF; without it the Slurm
// instance is skipped).

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/strings.h"
#include "compute/executor.h"
#include "compute/local_executor.h"
#include "compute/slurm_executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::compute {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Slurm takes about a second per job on one node; leave a lot of room on a busy CI box.
constexpr absl::Duration kDeadline = absl::Seconds(90);

// Records every callback of one job.
class Recorder {
 public:
  JobCallback Callback() {
    return [this](const JobStatus& s) {
      absl::MutexLock lock(&mu_);
      history_.push_back(s);
    };
  }

  // The terminal status, or a failure when none arrives before the deadline.
  JobStatus WaitTerminal() {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !history_.empty() && IsTerminal(history_.back().state);
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), kDeadline)) {
      ADD_FAILURE() << "no terminal state within " << kDeadline << "; states: " << StatesLocked();
      return JobStatus{};
    }
    return history_.back();
  }

  // True once the job is running (or false when it ended or the deadline passed first).
  bool WaitRunning() {
    absl::MutexLock lock(&mu_);
    auto started = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !history_.empty() && history_.back().state != JobState::kQueued;
    };
    mu_.AwaitWithTimeout(absl::Condition(&started), kDeadline);
    return !history_.empty() && history_.back().state == JobState::kRunning;
  }

  std::vector<JobState> States() {
    absl::MutexLock lock(&mu_);
    std::vector<JobState> out;
    for (const auto& s : history_) out.push_back(s.state);
    return out;
  }

  std::string StatesText() {
    absl::MutexLock lock(&mu_);
    return StatesLocked();
  }

 private:
  std::string StatesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string out;
    for (const auto& s : history_) {
      absl::StrAppend(&out, out.empty() ? "" : " → ", ToAbsl(JobStateName(s.state)));
      if (IsTerminal(s.state)) absl::StrAppend(&out, " (", s.message, ")");
    }
    return out.empty() ? "none" : out;
  }

  absl::Mutex mu_;
  std::vector<JobStatus> history_ ABSL_GUARDED_BY(mu_);
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True once the file at `path` holds `text` (false after kDeadline).
bool WaitForFile(const std::string& path, const std::string& text) {
  const absl::Time deadline = absl::Now() + kDeadline;
  while (ReadFile(path) != text) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// One executor kind under test.
struct Backend {
  std::string name;
  // Why the backend cannot run here ("" when it can).
  std::function<std::string()> unavailable;
  std::function<std::unique_ptr<Executor>()> make;
  std::string unknown_id;  // an id in this executor's format that no job has
};

Backend LocalBackend() {
  return Backend{
      "local",
      [] { return std::string(); },
      [] {
        LocalExecutorOptions options;
        options.cpus = 4;
        options.memory_bytes = int64_t{8} << 30;
        options.gpus = std::vector<int>{0, 1};  // fake GPUs: only CUDA_VISIBLE_DEVICES matters
        options.kill_grace_ms = 2000;
        auto executor = LocalExecutor::Create(options);
        EXPECT_TRUE(executor.ok()) << executor.status();
        return executor.ok() ? std::unique_ptr<Executor>(std::move(*executor)) : nullptr;
      },
      "local:no-such-job",
  };
}

Backend SlurmBackend() {
  return Backend{
      "slurm",
      [] {
        const char* conf = getenv("SLURM_CONF");
        if (conf == nullptr || *conf == '\0') {
          return std::string(
              "SLURM_CONF is not set: start a cluster with `scripts/slurm_test_server up` and "
              "export the SLURM_CONF it prints (scripts/run_tests does both)");
        }
        return std::string();
      },
      [] {
        SlurmOptions options;
        options.partitions = {{"cpu", false}, {"gpu", true}};
        options.poll_interval_ms = 200;
        return std::unique_ptr<Executor>(std::make_unique<SlurmExecutor>(options));
      },
      "999999999",
  };
}

class ExecutorContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = GetParam() == "local" ? LocalBackend() : SlurmBackend();
    if (std::string why = backend_.unavailable(); !why.empty()) GTEST_SKIP() << why;
    char tmpl[] = "/tmp/cairn-executor-contract-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = std::filesystem::canonical(tmpl).string();
    executor_ = backend_.make();
    ASSERT_NE(executor_, nullptr);
  }

  void TearDown() override {
    if (executor_) executor_->Shutdown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  JobSpec Spec(const std::string& name, const std::string& script) {
    JobSpec spec;
    spec.name = absl::StrCat("contract-", name);
    spec.argv = {"/bin/sh", "-c", script};
    spec.workdir = dir_ + "/work-" + name;
    spec.log_path = dir_ + "/logs/" + name + ".log";
    return spec;
  }

  // Submits and waits for the end.
  JobStatus Run(const JobSpec& spec, Recorder& recorder) {
    auto id = executor_->Submit(spec, recorder.Callback());
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return JobStatus{};
    JobStatus status = recorder.WaitTerminal();
    EXPECT_EQ(status.job_id, *id);
    return status;
  }

  Backend backend_;
  std::string dir_;
  std::unique_ptr<Executor> executor_;
};

TEST_P(ExecutorContractTest, SuccessReportsExitCodeZeroStatesInOrderAndTheLog) {
  Recorder recorder;
  JobSpec spec = Spec("ok", "echo hello out; echo hello err >&2");
  JobStatus status = Run(spec, recorder);
  EXPECT_EQ(status.state, JobState::kSucceeded) << status.message;
  EXPECT_EQ(status.reason, FailureReason::kNone);
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_FALSE(status.signal.has_value());
  EXPECT_FALSE(status.host.empty());
  EXPECT_GT(status.queued_ms, 0);
  EXPECT_GE(status.started_ms, status.queued_ms);
  EXPECT_GE(status.ended_ms, status.started_ms);
  EXPECT_EQ(recorder.States(),
            (std::vector<JobState>{JobState::kQueued, JobState::kRunning, JobState::kSucceeded}))
      << recorder.StatesText();
  const std::string log = ReadFile(spec.log_path);
  EXPECT_THAT(log, HasSubstr("hello out\n"));
  EXPECT_THAT(log, HasSubstr("hello err\n"));
  EXPECT_EQ(executor_->name(), backend_.name);
}

TEST_P(ExecutorContractTest, LogIsAppendedNotReplaced) {
  JobSpec spec = Spec("append", "echo second run");
  std::filesystem::create_directories(std::filesystem::path(spec.log_path).parent_path());
  std::ofstream(spec.log_path) << "first run\n";
  Recorder recorder;
  EXPECT_EQ(Run(spec, recorder).state, JobState::kSucceeded);
  EXPECT_EQ(ReadFile(spec.log_path), "first run\nsecond run\n");
}

TEST_P(ExecutorContractTest, NonZeroExitIsAFailureWithTheCode) {
  Recorder recorder;
  JobStatus status = Run(Spec("exit3", "echo about to fail; exit 3"), recorder);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kExitCode);
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_EQ(status.message, "exited with code 3");
}

TEST_P(ExecutorContractTest, KilledBySignalIsReportedAsSignal) {
  Recorder recorder;
  JobStatus status = Run(Spec("signal", "kill -9 $$"), recorder);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kSignal) << status.message;
  EXPECT_EQ(status.signal, 9);
  EXPECT_THAT(status.message, HasSubstr("signal 9"));
}

TEST_P(ExecutorContractTest, AMissingCommandFailsAndSaysSo) {
  Recorder recorder;
  JobSpec spec = Spec("missing", "");
  spec.argv = {"cairn-no-such-command-xyz", "arg"};
  JobStatus status = Run(spec, recorder);
  EXPECT_EQ(status.state, JobState::kFailed);
  // The local executor knows before it starts anything (kLaunchError); on Slurm the batch
  // script finds out on the node (exit 127, as a shell).
  EXPECT_TRUE(status.reason == FailureReason::kLaunchError ||
              (status.reason == FailureReason::kExitCode && status.exit_code == 127))
      << FailureReasonName(status.reason) << ": " << status.message;
  EXPECT_THAT(status.message + ReadFile(spec.log_path), HasSubstr("cairn-no-such-command-xyz"));
}

TEST_P(ExecutorContractTest, EnvironmentAndWorkdirReachTheCommand) {
  Recorder recorder;
  JobSpec spec = Spec("env", "printf 'greeting=[%s]\\n' \"$GREETING\"; echo \"pwd=$(pwd -P)\"");
  // Quotes, $ and a newline must arrive literally.
  spec.env = {{"GREETING", "it's a \"test\" $HOME `x`\nline2"}};
  spec.workdir = dir_ + "/does/not/exist/yet";
  JobStatus status = Run(spec, recorder);
  EXPECT_EQ(status.state, JobState::kSucceeded) << status.message;
  const std::string log = ReadFile(spec.log_path);
  EXPECT_THAT(log, HasSubstr("greeting=[it's a \"test\" $HOME `x`\nline2]\n"));
  EXPECT_THAT(log, HasSubstr("pwd=" + spec.workdir + "\n"));
}

TEST_P(ExecutorContractTest, CancelStopsARunningJob) {
  Recorder recorder;
  JobSpec spec = Spec("cancel", "echo started; exec sleep 300");
  auto id = executor_->Submit(spec, recorder.Callback());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(recorder.WaitRunning()) << recorder.StatesText();
  ASSERT_TRUE(executor_->Cancel(*id).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kCancelled) << status.message;
  EXPECT_EQ(status.reason, FailureReason::kCancelled);
  // Cancelling an ended job is a no-op; an unknown one is NotFound.
  EXPECT_TRUE(executor_->Cancel(*id).ok());
  EXPECT_EQ(executor_->Cancel(backend_.unknown_id).code(), absl::StatusCode::kNotFound);
  std::vector<JobState> states = recorder.States();
  EXPECT_EQ(std::count_if(states.begin(), states.end(), [](JobState s) { return IsTerminal(s); }),
            1);
}

TEST_P(ExecutorContractTest, AStepThatExceedsItsTimeLimitEndsWithTimeout) {
  Recorder recorder;
  JobSpec spec = Spec("timeout", "echo started; exec sleep 300");
  spec.resources.timeout_ms = 2000;
  JobStatus status = Run(spec, recorder);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kTimeout) << status.message;
  EXPECT_EQ(status.message, "exceeded its time limit of 2s");
  EXPECT_GE(status.ended_ms - status.started_ms, 2000);
}

TEST_P(ExecutorContractTest, AGpuJobGetsItsGpuInCudaVisibleDevices) {
  Recorder recorder;
  JobSpec spec = Spec("gpu",
                      "echo \"gpu=[$CUDA_VISIBLE_DEVICES]\"; "
                      "echo \"partition=[${SLURM_JOB_PARTITION:-}]\"");
  spec.resources.gpus = 1;
  JobStatus status = Run(spec, recorder);
  EXPECT_EQ(status.state, JobState::kSucceeded) << status.message;
  const std::string log = ReadFile(spec.log_path);
  EXPECT_THAT(log, ::testing::ContainsRegex("gpu=\\[[01]\\]\n")) << log;
  if (backend_.name == "slurm") {
    EXPECT_THAT(log, HasSubstr("partition=[gpu]\n"));
  } else {
    ASSERT_EQ(status.gpus.size(), 1u);
    EXPECT_THAT(log, HasSubstr(absl::StrCat("gpu=[", status.gpus[0], "]\n")));
  }

  // A job without GPUs sees none (and on Slurm lands on the CPU partition).
  Recorder cpu_recorder;
  JobSpec cpu_spec = Spec("cpu",
                          "echo \"gpu=[${CUDA_VISIBLE_DEVICES:-}]\"; "
                          "echo \"partition=[${SLURM_JOB_PARTITION:-}]\"");
  EXPECT_EQ(Run(cpu_spec, cpu_recorder).state, JobState::kSucceeded);
  const std::string cpu_log = ReadFile(cpu_spec.log_path);
  EXPECT_THAT(cpu_log, HasSubstr("gpu=[]\n"));
  if (backend_.name == "slurm") EXPECT_THAT(cpu_log, HasSubstr("partition=[cpu]\n"));
}

TEST_P(ExecutorContractTest, UnsatisfiableResourcesAreRefusedSayingWhatDoesNotFit) {
  Resources too_many_gpus;
  too_many_gpus.gpus = 64;
  absl::Status status = executor_->CheckSatisfiable(too_many_gpus);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("asks for 64 GPUs"));
  Resources too_many_cpus;
  too_many_cpus.cpus = 4096;
  status = executor_->CheckSatisfiable(too_many_cpus);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("4096 CPUs"));
  EXPECT_TRUE(executor_->CheckSatisfiable(Resources{}).ok());
}

TEST_P(ExecutorContractTest, ANewExecutorReattachesToARunningJobWithoutRunningItAgain) {
  // The job waits for a file the test creates after the restart, so it is surely still
  // running when the new executor attaches.
  const std::string go = dir_ + "/go";
  Recorder first;
  JobSpec spec = Spec("reattach", "echo started; while [ ! -e '" + go +
                                      "' ]; do sleep 0.1; done; "
                                      "echo finished; exit 4");
  auto id = executor_->Submit(spec, first.Callback());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(first.WaitRunning()) << first.StatesText();
  // The command itself has started (not only its launcher) before the "restart".
  ASSERT_TRUE(WaitForFile(spec.log_path, "started\n")) << ReadFile(spec.log_path);
  executor_->Shutdown();
  executor_.reset();
  EXPECT_FALSE(IsTerminal(first.States().back()));  // Shutdown does not kill jobs

  executor_ = backend_.make();
  ASSERT_NE(executor_, nullptr);
  Recorder second;
  ASSERT_TRUE(executor_->Reattach(*id, spec, second.Callback()).ok());
  ASSERT_TRUE(second.WaitRunning()) << second.StatesText();  // not ended, not lost
  Recorder third;
  EXPECT_EQ(executor_->Reattach(*id, spec, third.Callback()).code(),
            absl::StatusCode::kAlreadyExists);
  std::ofstream(go) << "go\n";
  JobStatus status = second.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed) << status.message;
  EXPECT_EQ(status.reason, FailureReason::kExitCode);
  EXPECT_EQ(status.exit_code, 4);
  EXPECT_EQ(status.job_id, *id);
  EXPECT_EQ(second.States().front(), JobState::kRunning);
  EXPECT_EQ(ReadFile(spec.log_path), "started\nfinished\n");  // ran exactly once
}

TEST_P(ExecutorContractTest, ANewExecutorReportsAJobThatEndedWhileNobodyFollowedIt) {
  Recorder first;
  JobSpec spec = Spec("ended", "echo once; exit 5");
  ASSERT_EQ(Run(spec, first).state, JobState::kFailed);
  const std::string id = first.WaitTerminal().job_id;
  executor_->Shutdown();
  executor_ = backend_.make();
  ASSERT_NE(executor_, nullptr);
  Recorder second;
  ASSERT_TRUE(executor_->Reattach(id, spec, second.Callback()).ok());
  JobStatus status = second.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.exit_code, 5);
  EXPECT_EQ(ReadFile(spec.log_path), "once\n");
}

TEST_P(ExecutorContractTest, ReattachingAnUnknownJobReportsALostNode) {
  Recorder recorder;
  JobSpec spec = Spec("unknown", "echo never");
  ASSERT_TRUE(executor_->Reattach(backend_.unknown_id, spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kLostNode) << status.message;
  EXPECT_THAT(status.message, HasSubstr("node lost"));
  EXPECT_THAT(ReadFile(spec.log_path), Not(HasSubstr("never")));
}

INSTANTIATE_TEST_SUITE_P(Executors, ExecutorContractTest, ::testing::Values("local", "slurm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::compute
