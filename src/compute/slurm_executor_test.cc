// The Slurm executor's own tests: the pure pieces (script, sbatch arguments, node and
// GRES parsing), the state mapping against a fake cluster (shell scripts standing in for
// sbatch/squeue/scancel/scontrol), and — with SLURM_CONF set (scripts/slurm_test_server
// up) — what reaches a real cluster. The behaviour shared with the local executor is in
// executor_contract_test.cc.

#include "compute/slurm_executor.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "compute/slurm_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::compute {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace slurm;  // NOLINT

constexpr absl::Duration kDeadline = absl::Seconds(90);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text, bool executable = false) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  if (executable) chmod(tmp.c_str(), 0755);
  std::filesystem::rename(tmp, path);  // atomic: a reader never sees half a file
}

class Recorder {
 public:
  JobCallback Callback() {
    return [this](const JobStatus& s) {
      absl::MutexLock lock(&mu_);
      history_.push_back(s);
      times_.push_back(absl::Now());
    };
  }
  JobStatus WaitTerminal() {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !history_.empty() && IsTerminal(history_.back().state);
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), kDeadline)) {
      ADD_FAILURE() << "no terminal state within " << kDeadline;
      return JobStatus{};
    }
    return history_.back();
  }
  bool WaitState(JobState state) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& s : history_) {
        if (s.state == state) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kDeadline);
  }
  // The first status the callback got in `state` (a default one when none).
  JobStatus StatusIn(JobState state) {
    absl::MutexLock lock(&mu_);
    for (const auto& s : history_) {
      if (s.state == state) return s;
    }
    return JobStatus{};
  }
  std::vector<JobState> States() {
    absl::MutexLock lock(&mu_);
    std::vector<JobState> out;
    for (const auto& s : history_) out.push_back(s.state);
    return out;
  }
  // When the callback saw `state` first.
  absl::Time TimeOf(JobState state) {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < history_.size(); ++i) {
      if (history_[i].state == state) return times_[i];
    }
    return absl::InfiniteFuture();
  }

 private:
  absl::Mutex mu_;
  std::vector<JobStatus> history_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> times_ ABSL_GUARDED_BY(mu_);
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cairn-slurm-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

JobSpec SimpleSpec(const std::string& dir, const std::string& name, const std::string& script) {
  JobSpec spec;
  spec.name = name;
  spec.argv = {"/bin/sh", "-c", script};
  spec.workdir = dir + "/work";
  spec.log_path = dir + "/logs/" + name + ".log";
  return spec;
}

// ---------------------------------------------------------------------------------------
// Pure pieces.

TEST(SlurmScriptTest, ShellQuoteSurvivesTheShell) {
  EXPECT_EQ(ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

TEST(SlurmScriptTest, BatchScriptExportsEnvCdsAndExecsArgv) {
  JobSpec spec;
  spec.name = "p/1/train#1";
  spec.argv = {"python3", "train.py", "--lr=0.1", "a b"};
  spec.env = {{"A", "x'y"}, {"B", "$HOME"}};
  spec.workdir = "/data/run 1";
  spec.log_path = "/logs/a.log";
  spec.resources.gpus = 1;
  EXPECT_EQ(
      BatchScript(spec),
      "#!/bin/sh\n# Written by cairn's Slurm executor for job 'p/1/train#1'.\n"
      "if [ -e '/logs/a.log.slurm-abandoned' ]; then : > '/logs/a.log.slurm-not-run'; echo "
      "'cairn: not run: the server gave this job up before Slurm started it' >&2; exit 1; fi\n"
      "export A='x'\\''y'\n"
      "export B='$HOME'\n"
      "cd '/data/run 1' || exit 1\n"
      "command -v 'python3' >/dev/null 2>&1 || { printf 'cairn: cannot run %s: command "
      "not found\\n' 'python3' >&2; exit 127; }\n"
      "'python3' 'train.py' '--lr=0.1' 'a b'\n"
      "rc=$?\n"
      "printf '%s %s\\n' \"$rc\" \"${SLURM_JOB_ID:-}\" > '/logs/a.log.slurm-status.tmp' && mv -f "
      "'/logs/a.log.slurm-status.tmp' '/logs/a.log.slurm-status'\n"
      "[ \"$rc\" -gt 128 ] && kill -$((rc - 128)) $$\n"
      "exit $rc\n");
  // No GPUs asked: none visible.
  spec.resources.gpus = 0;
  EXPECT_THAT(BatchScript(spec), HasSubstr("export CUDA_VISIBLE_DEVICES=''\n"));
}

TEST(SlurmScriptTest, SbatchArgsMapResources) {
  JobSpec spec;
  spec.name = "churn train";
  spec.argv = {"true"};
  spec.workdir = "/w";
  spec.log_path = "/logs/100%.log";
  spec.resources.cpus = 1.5;
  spec.resources.memory_bytes = int64_t{512} << 20;
  spec.resources.gpus = 2;
  spec.resources.timeout_ms = 90'000;
  EXPECT_THAT(SbatchArgs(spec, "gpu", "/logs/x.sbatch"),
              ElementsAre("--parsable", "--job-name=churn_train", "--output=/logs/100%%.log",
                          "--error=/logs/100%%.log", "--open-mode=append", "--cpus-per-task=2",
                          "--chdir=/w", "--mem=512M", "--gres=gpu:2", "--time=2", "--partition=gpu",
                          "--export=ALL", "/logs/x.sbatch"));
  // Undeclared memory, no GPUs, no timeout, no partition: no flags for them.
  JobSpec plain;
  plain.name = "n";
  plain.log_path = "/l";
  plain.resources.cpus = 0.5;
  EXPECT_THAT(SbatchArgs(plain, "", "/s"),
              ElementsAre("--parsable", "--job-name=n", "--output=/l", "--error=/l",
                          "--open-mode=append", "--cpus-per-task=1", "--export=ALL", "/s"));
}

TEST(SlurmParseTest, GresCountsAndIndices) {
  EXPECT_EQ(GresGpuCount("gpu:2"), 2);
  EXPECT_EQ(GresGpuCount("gpu:a100:4(S:0-1)"), 4);
  EXPECT_EQ(GresGpuCount("gpu:a100:2(S:0,1),gpu:v100:1,shard:8"), 3);
  EXPECT_EQ(GresGpuCount("(null)"), 0);
  EXPECT_EQ(GresGpuCount(""), 0);
  EXPECT_THAT(GresGpuIndices("gpu:2(IDX:0-1)"), ElementsAre(0, 1));
  EXPECT_THAT(GresGpuIndices("gpu:3(IDX:0,2-3)"), ElementsAre(0, 2, 3));
  EXPECT_THAT(GresGpuIndices("gpu:0(IDX:N/A)"), ElementsAre());
}

TEST(SlurmParseTest, NodesFromScontrol) {
  const std::string text =
      "NodeName=vm Arch=x86_64 CoresPerSocket=1  CPUAlloc=1 CPUEfctv=2 CPUTot=2 CPULoad=0.98 "
      "AvailableFeatures=(null) Gres=gpu:2 NodeAddr=127.0.0.1 RealMemory=21695 AllocMem=512 "
      "State=MIXED Partitions=cpu,gpu GresUsed=gpu:1(IDX:0) Reason=being tested by ops "
      "[root@2026]\n"
      "NodeName=big CPUTot=64 RealMemory=512000 Gres=(null) State=IDLE Partitions=cpu\n";
  std::vector<SlurmNode> nodes = ParseNodes(text);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].name, "vm");
  EXPECT_EQ(nodes[0].state, "MIXED");
  EXPECT_EQ(nodes[0].cpus, 2);
  EXPECT_EQ(nodes[0].cpus_alloc, 1);
  EXPECT_EQ(nodes[0].memory_mib, 21695);
  EXPECT_EQ(nodes[0].memory_alloc_mib, 512);
  EXPECT_EQ(nodes[0].gpus, 2);
  EXPECT_EQ(nodes[0].gpus_alloc, 1);
  EXPECT_THAT(nodes[0].partitions, ElementsAre("cpu", "gpu"));
  EXPECT_EQ(nodes[1].cpus, 64);
  EXPECT_EQ(nodes[1].gpus, 0);
}

// ---------------------------------------------------------------------------------------
// A fake cluster: sbatch answers the id in $DIR/next_id (or fails with $DIR/sbatch_error),
// squeue prints $DIR/rows, scancel appends its arguments to $DIR/scancelled, scontrol
// prints $DIR/nodes.

class FakeSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string& d = dir_.path();
    WriteFile(d + "/sbatch",
              "#!/bin/sh\n"
              "echo \"$@\" >> '" +
                  d +
                  "/sbatch_args'\n"
                  "if [ -e '" +
                  d + "/sbatch_error' ]; then cat '" + d +
                  "/sbatch_error' >&2; exit 1; fi\n"
                  "cat '" +
                  d + "/next_id'\n",
              true);
    WriteFile(d + "/squeue", "#!/bin/sh\ncat '" + d + "/rows'\n", true);
    WriteFile(d + "/scancel", "#!/bin/sh\necho \"$@\" >> '" + d + "/scancelled'\n", true);
    WriteFile(d + "/scontrol", "#!/bin/sh\ncat '" + d + "/nodes'\n", true);
    WriteFile(d + "/sinfo", "#!/bin/sh\necho 'cpu*|up|vm'\necho 'gpu|up|vm'\n", true);
    WriteFile(d + "/rows", "");
    WriteFile(d + "/nodes",
              "NodeName=vm CPUTot=2 CPUAlloc=0 RealMemory=4096 AllocMem=0 Gres=gpu:2 "
              "GresUsed=gpu:0(IDX:N/A) State=IDLE Partitions=cpu,gpu\n");
    options_.partitions = {{"cpu", false}, {"gpu", true}};
    options_.sbatch = d + "/sbatch";
    options_.squeue = d + "/squeue";
    options_.scancel = d + "/scancel";
    options_.scontrol = d + "/scontrol";
    options_.sinfo = d + "/sinfo";
    options_.poll_interval_ms = 20;
  }

  // Rows as squeue prints them: JobID|State|exit_code|NodeList|Reason|StartTime|EndTime|
  void SetRow(const std::string& id, const std::string& state, int raw_status,
              const std::string& node = "vm") {
    WriteFile(dir_.path() + "/rows", absl::StrCat(id, "|", state, "|", raw_status, "|", node,
                                                  "|None|2026-11-28T06:02:40|N/A|\n"));
  }

  TempDir dir_;
  SlurmOptions options_;
};

TEST_F(FakeSlurmTest, SlurmStatesMapToJobStatesReasonsAndMessages) {
  struct Case {
    std::string slurm_state;
    int raw_status;
    JobState state;
    FailureReason reason;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"COMPLETED", 0, JobState::kSucceeded, FailureReason::kNone, "exited with code 0"},
      {"FAILED", 3 << 8, JobState::kFailed, FailureReason::kExitCode, "exited with code 3"},
      {"FAILED", 9, JobState::kFailed, FailureReason::kSignal, "killed by signal 9 (SIGKILL)"},
      {"TIMEOUT", 15, JobState::kFailed, FailureReason::kTimeout, "exceeded its time limit of 5s"},
      {"OUT_OF_MEMORY", 9, JobState::kFailed, FailureReason::kOutOfMemory,
       "out of memory: Slurm killed it for exceeding its memory limit of 512Mi"},
      {"NODE_FAIL", 0, JobState::kFailed, FailureReason::kLostNode,
       "node lost: Slurm node vm failed while the job ran (NODE_FAIL)"},
      {"CANCELLED", 15, JobState::kCancelled, FailureReason::kCancelled,
       "cancelled outside cairn (scancel by a person or an administrator)"},
  };
  int next_id = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.slurm_state);
    SlurmExecutor executor(options_);
    const std::string id = absl::StrCat(next_id++);
    WriteFile(dir_.path() + "/next_id", id + "\n");
    SetRow(id, "PENDING", 0, "");
    JobSpec spec = SimpleSpec(dir_.path(), "j" + id, "true");
    spec.resources.timeout_ms = 5000;
    spec.resources.memory_bytes = int64_t{512} << 20;
    Recorder recorder;
    auto submitted = executor.Submit(spec, recorder.Callback());
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    EXPECT_EQ(*submitted, id);
    ASSERT_TRUE(recorder.WaitState(JobState::kQueued));
    SetRow(id, "RUNNING", 0);
    ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
    SetRow(id, c.slurm_state, c.raw_status);
    JobStatus status = recorder.WaitTerminal();
    EXPECT_EQ(status.state, c.state);
    EXPECT_EQ(status.reason, c.reason);
    EXPECT_EQ(status.message, c.message);
    EXPECT_EQ(status.host, "vm");
    EXPECT_EQ(recorder.States(),
              (std::vector<JobState>{JobState::kQueued, JobState::kRunning, c.state}));
  }
}

TEST_F(FakeSlurmTest, AJobSlurmHasForgottenEndsFromItsStatusFileElseAsLost) {
  // Re-attached after the server was down longer than MinJobAge: squeue lists nothing.
  JobSpec spec = SimpleSpec(dir_.path(), "old", "true");
  std::filesystem::create_directories(dir_.path() + "/logs");
  WriteFile(spec.log_path + ".slurm-status", "3\n");
  SlurmExecutor executor(options_);
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach("41", spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kExitCode);
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_EQ(status.message,
            "exited with code 3 (from its status file: Slurm had forgotten the job)");

  JobSpec gone = SimpleSpec(dir_.path(), "gone", "true");
  Recorder lost;
  ASSERT_TRUE(executor.Reattach("42", gone, lost.Callback()).ok());
  EXPECT_EQ(lost.WaitTerminal().reason, FailureReason::kLostNode);
}

// squeue --name=N prints $DIR/named (the look-up of a reserved id) and logs its arguments.
void UseNamedLookup(const std::string& d) {
  WriteFile(d + "/squeue",
            "#!/bin/sh\ncase \"$*\" in\n*--name=*) echo \"$@\" >> '" + d + "/named_args'; cat '" +
                d + "/named' 2>/dev/null || true;;\n*) cat '" + d + "/rows';;\nesac\n",
            true);
}

int Lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

TEST_F(FakeSlurmTest, AJobSubmittedWithAReservedIdIsNamedByItAndReportsSlurmsId) {
  UseNamedLookup(dir_.path());
  WriteFile(dir_.path() + "/next_id", "77\n");
  SlurmExecutor executor(options_);
  const std::string reserved = executor.NewJobId();
  ASSERT_TRUE(absl::StartsWith(reserved, "slurm:")) << reserved;
  EXPECT_EQ(reserved.size(), 26u);
  EXPECT_NE(reserved, executor.NewJobId());
  JobSpec spec = SimpleSpec(dir_.path(), "train", "true");
  spec.job_id = reserved;
  SetRow("77", "RUNNING", 0);
  Recorder recorder;
  auto submitted = executor.Submit(spec, recorder.Callback());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(*submitted, "77");  // Slurm's id, for the caller to store in place of the reserved one
  ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
  EXPECT_EQ(recorder.StatusIn(JobState::kQueued).job_id, "77");
  EXPECT_EQ(recorder.StatusIn(JobState::kRunning).job_id, "77");
  EXPECT_THAT(ReadFile(dir_.path() + "/sbatch_args"),
              HasSubstr("--job-name=train-" + reserved.substr(6) + " "));
  // A reserved id is used once; another executor's ids are refused.
  EXPECT_EQ(executor.Submit(spec, Recorder().Callback()).status().code(),
            absl::StatusCode::kAlreadyExists);
  JobSpec foreign = spec;
  foreign.job_id = "local:abc";
  EXPECT_EQ(executor.Submit(foreign, Recorder().Callback()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Lines(ReadFile(dir_.path() + "/sbatch_args")), 1);
  // Either id cancels it.
  ASSERT_TRUE(executor.Cancel(reserved).ok());
  EXPECT_EQ(ReadFile(dir_.path() + "/scancelled"), "77\n");
  SetRow("77", "CANCELLED", 15);
  EXPECT_EQ(recorder.WaitTerminal().state, JobState::kCancelled);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/named_args"));  // no look-up by name
  EXPECT_TRUE(executor.Cancel(reserved).ok());                         // ended: a no-op
  EXPECT_TRUE(executor.Cancel("77").ok());
}

TEST_F(FakeSlurmTest, AReservedIdIsFoundAgainByJobNameAfterARestart) {
  // The server stopped after sbatch accepted the job but before it stored Slurm's id.
  UseNamedLookup(dir_.path());
  WriteFile(dir_.path() + "/next_id", "78\n");
  JobSpec spec = SimpleSpec(dir_.path(), "p/1/train#1", "true");
  std::string reserved;
  {
    SlurmExecutor executor(options_);
    reserved = executor.NewJobId();
    spec.job_id = reserved;
    SetRow("78", "PENDING", 0, "");
    ASSERT_TRUE(executor.Submit(spec, Recorder().Callback()).ok());
  }  // Slurm job 78 stays
  WriteFile(dir_.path() + "/named", "78|p/1/train#1-" + reserved.substr(6) + "|\n");
  SetRow("78", "RUNNING", 0);
  SlurmExecutor restarted(options_);
  Recorder recorder;
  spec.job_id.clear();
  ASSERT_TRUE(restarted.Reattach(reserved, spec, recorder.Callback()).ok());
  EXPECT_EQ(restarted.Reattach(reserved, spec, Recorder().Callback()).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
  EXPECT_EQ(recorder.States().front(), JobState::kRunning);  // its state now, with Slurm's id
  EXPECT_EQ(recorder.StatusIn(JobState::kRunning).job_id, "78");
  EXPECT_THAT(
      ReadFile(dir_.path() + "/named_args"),
      HasSubstr("--all --states=all --noheader --name=p/1/train#1-" + reserved.substr(6) + " "));
  EXPECT_EQ(Lines(ReadFile(dir_.path() + "/sbatch_args")), 1);  // submitted once
  ASSERT_TRUE(restarted.Cancel("78").ok());                     // by the id its reports carried
  EXPECT_EQ(ReadFile(dir_.path() + "/scancelled"), "78\n");
  SetRow("78", "CANCELLED", 15);
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kCancelled);
  EXPECT_EQ(end.job_id, "78");
}

TEST_F(FakeSlurmTest, AReservedIdCancelledBeforeItsJobIsFoundIsCancelledOnceFound) {
  UseNamedLookup(dir_.path());
  options_.reserved_lookup_grace_ms = 60'000;
  SlurmExecutor executor(options_);
  const std::string reserved = executor.NewJobId();
  Recorder recorder;
  JobSpec spec = SimpleSpec(dir_.path(), "slow", "true");
  ASSERT_TRUE(executor.Reattach(reserved, spec, recorder.Callback()).ok());
  ASSERT_TRUE(executor.Cancel(reserved).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/scancelled"));  // no Slurm id yet
  SetRow("79", "RUNNING", 0);
  // The stopped server's sbatch answered late (squeue ignores the case of names).
  WriteFile(dir_.path() + "/named", "79|SLOW-" + reserved.substr(6) + "|\n");
  ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
  for (int i = 0; i < 500 && !std::filesystem::exists(dir_.path() + "/scancelled"); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(ReadFile(dir_.path() + "/scancelled"), "79\n");
  SetRow("79", "CANCELLED", 15);
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kCancelled);
  EXPECT_EQ(end.message, "cancelled");
}

TEST_F(FakeSlurmTest, AReservedIdThatSlurmHasNoJobForEndsFromItsStatusFileElseAsLost) {
  // The server stopped between storing the reserved id and running sbatch: lost, after the
  // grace period (the look-up is repeated meanwhile).
  UseNamedLookup(dir_.path());
  options_.reserved_lookup_grace_ms = 1500;
  SlurmExecutor executor(options_);
  const std::string reserved = executor.NewJobId();
  Recorder recorder;
  const absl::Time start = absl::Now();
  JobSpec never = SimpleSpec(dir_.path(), "never", "true");
  std::filesystem::create_directories(dir_.path() + "/logs");
  ASSERT_TRUE(executor.Reattach(reserved, never, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_GE(Lines(ReadFile(dir_.path() + "/named_args")), 2);
  // A job an sbatch still in flight submits later exits without running its command.
  EXPECT_TRUE(std::filesystem::exists(AbandonedPath(never)));
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kLostNode);
  EXPECT_EQ(status.job_id, reserved);
  EXPECT_THAT(status.message, HasSubstr("Slurm has no job named 'never-" + reserved.substr(6)));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/sbatch_args"));  // nothing submitted

  // Ran, and ended more than MinJobAge ago: its status file has its end and Slurm's id.
  JobSpec old = SimpleSpec(dir_.path(), "old", "true");
  WriteFile(old.log_path + ".slurm-status", "0 4711\n");
  Recorder ended;
  ASSERT_TRUE(executor.Reattach(executor.NewJobId(), old, ended.Callback()).ok());
  JobStatus end = ended.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kSucceeded);
  EXPECT_EQ(end.job_id, "4711");
  EXPECT_FALSE(std::filesystem::exists(AbandonedPath(old)));
}

TEST_F(FakeSlurmTest, ReservedIdsAreLookedUpTogetherInOneSqueue) {
  UseNamedLookup(dir_.path());
  options_.reserved_lookup_grace_ms = 60'000;
  SlurmExecutor executor(options_);
  const std::string a = executor.NewJobId(), b = executor.NewJobId();
  Recorder ra, rb;
  ASSERT_TRUE(executor.Reattach(a, SimpleSpec(dir_.path(), "a", "true"), ra.Callback()).ok());
  ASSERT_TRUE(executor.Reattach(b, SimpleSpec(dir_.path(), "b", "true"), rb.Callback()).ok());
  // Nothing found yet: the look-up repeats, from the second one at the latest with both names.
  const std::string both = "--name=a-" + a.substr(6) + ",b-" + b.substr(6) + " ";
  for (int i = 0; i < 3000 && ReadFile(dir_.path() + "/named_args").find(both) == std::string::npos;
       ++i)
    absl::SleepFor(absl::Milliseconds(10));
  EXPECT_THAT(ReadFile(dir_.path() + "/named_args"), HasSubstr(both));
  SetRow("91", "RUNNING", 0);  // the fake lists one row for any --jobs
  WriteFile(dir_.path() + "/named", "91|a-" + a.substr(6) + "|\n92|b-" + b.substr(6) + "|\n");
  ASSERT_TRUE(ra.WaitState(JobState::kRunning));
  EXPECT_EQ(ra.StatusIn(JobState::kRunning).job_id, "91");
}

// A job found by name whose abandoned marker exists (an earlier server gave it up, and its
// decision may not have been stored): followed to its end, which tells whether it ran. One
// the marker stopped is the restart's lost attempt, with no running state reported (a
// running report would make its end count against the step's retry budget); one that
// started before the marker ran its command and ends as it ended, not run a second time.
TEST_F(FakeSlurmTest, AJobFoundAfterItsMarkerIsFollowedToWhetherItRan) {
  UseNamedLookup(dir_.path());
  SlurmExecutor executor(options_);
  std::filesystem::create_directories(dir_.path() + "/logs");
  const std::string stopped_id = executor.NewJobId();
  JobSpec stopped = SimpleSpec(dir_.path(), "stopped", "true");
  WriteFile(AbandonedPath(stopped), "given up\n");
  WriteFile(dir_.path() + "/named", "95|stopped-" + stopped_id.substr(6) + "|\n");
  SetRow("95", "PENDING", 0, "");  // a late job waits for the scheduler
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach(stopped_id, stopped, recorder.Callback()).ok());
  ASSERT_TRUE(recorder.WaitState(JobState::kQueued));
  SetRow("95", "RUNNING", 0);               // its batch script's few milliseconds
  absl::SleepFor(absl::Milliseconds(100));  // several polls at 20 ms
  WriteFile(NotRunPath(stopped), "");  // what its batch script leaves
  SetRow("95", "FAILED", 1 << 8);      // on node vm
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kFailed);
  EXPECT_EQ(end.reason, FailureReason::kLostNode);
  EXPECT_EQ(end.job_id, "95");
  EXPECT_THAT(end.message, HasSubstr("did not run its command"));
  EXPECT_EQ(recorder.States(), (std::vector<JobState>{JobState::kQueued, JobState::kFailed}));

  const std::string ran_id = executor.NewJobId();
  JobSpec ran = SimpleSpec(dir_.path(), "ran", "true");
  WriteFile(AbandonedPath(ran), "given up\n");
  WriteFile(dir_.path() + "/named", "96|ran-" + ran_id.substr(6) + "|\n");
  SetRow("96", "COMPLETED", 0);
  Recorder ran_recorder;
  ASSERT_TRUE(executor.Reattach(ran_id, ran, ran_recorder.Callback()).ok());
  EXPECT_EQ(ran_recorder.WaitTerminal().state, JobState::kSucceeded);
  // Its running state, held back while it might have been stopped, comes with its end: a
  // job that ran is not taken for a restart's lost attempt if it ends lost.
  EXPECT_EQ(ran_recorder.States(),
            (std::vector<JobState>{JobState::kRunning, JobState::kSucceeded}));
}

// The same after a second restart: the job's Slurm id was stored once it was found, and a
// server re-attaching it by that id sees its marker too.
TEST_F(FakeSlurmTest, AJobReattachedByIdWithItsMarkerReportsNoRunningState) {
  SlurmExecutor executor(options_);
  std::filesystem::create_directories(dir_.path() + "/logs");
  JobSpec spec = SimpleSpec(dir_.path(), "again", "true");
  WriteFile(AbandonedPath(spec), "given up\n");
  SetRow("98", "RUNNING", 0);
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach("98", spec, recorder.Callback()).ok());
  absl::SleepFor(absl::Milliseconds(100));  // several polls at 20 ms
  WriteFile(NotRunPath(spec), "");
  SetRow("98", "FAILED", 1 << 8);
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.reason, FailureReason::kLostNode);
  EXPECT_EQ(recorder.States(), std::vector<JobState>{JobState::kFailed});
}

// A marker that cannot be written: the id is given up at once, saying so (it was retried
// forever before, with no end for the job).
TEST_F(FakeSlurmTest, AMarkerThatCannotBeWrittenGivesTheIdUpSayingSo) {
  UseNamedLookup(dir_.path());
  options_.reserved_lookup_grace_ms = 200;
  SlurmExecutor executor(options_);
  JobSpec spec = SimpleSpec(dir_.path(), "nowhere", "true");
  spec.log_path = dir_.path() + "/no-such-folder/nowhere.log";
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach(executor.NewJobId(), spec, recorder.Callback()).ok());
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.reason, FailureReason::kLostNode);
  EXPECT_THAT(end.message, HasSubstr("nowhere.log.slurm-abandoned failed"));
}

// The look-up that finds nothing past the grace period writes the marker; the one after it
// decides: a job that shows up now (it started before the marker, or the marker stops it)
// is followed, not given up.
TEST_F(FakeSlurmTest, AJobThatShowsUpRightAfterItsMarkerIsFollowed) {
  UseNamedLookup(dir_.path());
  options_.reserved_lookup_grace_ms = 200;
  options_.poll_interval_ms = 2000;  // time to answer between the marker and the next look-up
  SlurmExecutor executor(options_);
  std::filesystem::create_directories(dir_.path() + "/logs");
  const std::string reserved = executor.NewJobId();
  JobSpec spec = SimpleSpec(dir_.path(), "sbatch-late", "true");
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach(reserved, spec, recorder.Callback()).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline && !std::filesystem::exists(AbandonedPath(spec)))
    absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(std::filesystem::exists(AbandonedPath(spec)));
  WriteFile(dir_.path() + "/named", "97|sbatch-late-" + reserved.substr(6) + "|\n");
  SetRow("97", "COMPLETED", 0);
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kSucceeded);
  EXPECT_EQ(end.job_id, "97");
}

// sbatch can fail after the controller took the job (a reply lost to a timeout): with a
// reserved id the job is looked up by name instead of being launched a second time.
TEST_F(FakeSlurmTest, AnSbatchTimeoutWithAReservedIdIsResolvedByNameElseALaunchError) {
  UseNamedLookup(dir_.path());
  options_.reserved_lookup_grace_ms = 1500;
  WriteFile(dir_.path() + "/sbatch_error",
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv "
            "operation\n");
  SlurmExecutor executor(options_);
  JobSpec taken = SimpleSpec(dir_.path(), "taken", "true");
  taken.job_id = executor.NewJobId();
  WriteFile(dir_.path() + "/named", "93|taken-" + taken.job_id.substr(6) + "|\n");
  SetRow("93", "RUNNING", 0);
  Recorder found;
  auto submitted = executor.Submit(taken, found.Callback());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(*submitted, taken.job_id);  // Slurm's id is not known yet
  ASSERT_TRUE(found.WaitState(JobState::kRunning));
  EXPECT_EQ(found.StatusIn(JobState::kRunning).job_id, "93");

  WriteFile(dir_.path() + "/named", "");
  JobSpec lost = SimpleSpec(dir_.path(), "lost", "true");
  lost.job_id = executor.NewJobId();
  Recorder failed;
  ASSERT_TRUE(executor.Submit(lost, failed.Callback()).ok());
  JobStatus end = failed.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kFailed);
  EXPECT_EQ(end.reason, FailureReason::kLaunchError);
  EXPECT_THAT(end.message, HasSubstr("Socket timed out on send/recv operation"));
  EXPECT_THAT(end.message, HasSubstr("Slurm has no job named 'lost-" + lost.job_id.substr(6)));
  EXPECT_TRUE(std::filesystem::exists(AbandonedPath(lost)));

  // Without a reserved id nothing can be looked up: a launch error at once, as before.
  Recorder plain;
  auto refused = executor.Submit(SimpleSpec(dir_.path(), "plain", "true"), plain.Callback());
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(absl::StartsWith(*refused, "rejected-")) << *refused;
  EXPECT_EQ(plain.WaitTerminal().reason, FailureReason::kLaunchError);
}

TEST_F(FakeSlurmTest, AJobThatRanBetweenTwoPollsStillReportsRunning) {
  WriteFile(dir_.path() + "/next_id", "7\n");
  SetRow("7", "COMPLETED", 0);
  SlurmExecutor executor(options_);
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(SimpleSpec(dir_.path(), "quick", "true"), recorder.Callback()).ok());
  EXPECT_EQ(recorder.WaitTerminal().state, JobState::kSucceeded);
  EXPECT_EQ(recorder.States(),
            (std::vector<JobState>{JobState::kQueued, JobState::kRunning, JobState::kSucceeded}));
}

TEST_F(FakeSlurmTest, ACancelledPendingJobNeverRan) {
  WriteFile(dir_.path() + "/next_id", "8\n");
  SetRow("8", "PENDING", 0, "");
  SlurmExecutor executor(options_);
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(SimpleSpec(dir_.path(), "p", "true"), recorder.Callback()).ok());
  ASSERT_TRUE(recorder.WaitState(JobState::kQueued));
  ASSERT_TRUE(executor.Cancel("8").ok());
  EXPECT_EQ(ReadFile(dir_.path() + "/scancelled"), "8\n");
  SetRow("8", "CANCELLED", 0, "");
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kCancelled);
  EXPECT_EQ(status.message, "cancelled");
  EXPECT_EQ(recorder.States(), (std::vector<JobState>{JobState::kQueued, JobState::kCancelled}));
}

TEST_F(FakeSlurmTest, OurOwnTimeoutCancelsTheJobAndReportsTimeout) {
  WriteFile(dir_.path() + "/next_id", "9\n");
  SetRow("9", "RUNNING", 0);
  SlurmExecutor executor(options_);
  Recorder recorder;
  JobSpec spec = SimpleSpec(dir_.path(), "slow", "sleep 300");
  spec.resources.timeout_ms = 300;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  // The executor scancels it past its deadline; the fake then reports it cancelled.
  const absl::Time deadline = absl::Now() + kDeadline;
  while (ReadFile(dir_.path() + "/scancelled").empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(ReadFile(dir_.path() + "/scancelled"), "9\n");
  SetRow("9", "CANCELLED", 15);
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kTimeout);
  EXPECT_EQ(status.message, "exceeded its time limit of 300ms");
  // --time is in whole minutes (rounded up); the executor enforces the rest.
  EXPECT_THAT(ReadFile(dir_.path() + "/sbatch_args"), HasSubstr("--time=1 "));
}

TEST_F(FakeSlurmTest, ARefusedSubmissionEndsAsALaunchErrorWithSbatchsMessage) {
  WriteFile(dir_.path() + "/sbatch_error",
            "sbatch: error: Batch job submission failed: Invalid partition name specified\n");
  SlurmExecutor executor(options_);
  Recorder recorder;
  JobSpec spec = SimpleSpec(dir_.path(), "refused", "true");
  spec.partition = "nope";
  auto id = executor.Submit(spec, recorder.Callback());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "rejected-1");
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kLaunchError);
  EXPECT_EQ(status.message,
            "sbatch refused the job (partition 'nope'): sbatch: error: Batch job submission "
            "failed: Invalid partition name specified");
  EXPECT_EQ(recorder.States(), (std::vector<JobState>{JobState::kQueued, JobState::kFailed}));
  EXPECT_TRUE(executor.Cancel(*id).ok());  // ended: a no-op
}

TEST_F(FakeSlurmTest, MissingSlurmCommandsAreLaunchErrorsNamingTheCommand) {
  options_.sbatch = dir_.path() + "/no-such-sbatch";
  SlurmExecutor executor(options_);
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(SimpleSpec(dir_.path(), "x", "true"), recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.reason, FailureReason::kLaunchError);
  EXPECT_THAT(status.message, HasSubstr("no-such-sbatch"));
}

TEST_F(FakeSlurmTest, BadSpecsAreRefusedBySubmit) {
  SlurmExecutor executor(options_);
  JobSpec spec = SimpleSpec(dir_.path(), "bad", "true");
  spec.env = {{"1BAD", "x"}};
  auto id = executor.Submit(spec, nullptr);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("env: '1BAD'"));
  spec = SimpleSpec(dir_.path(), "bad", "true");
  spec.log_path = "relative.log";
  EXPECT_EQ(executor.Submit(spec, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  spec = SimpleSpec(dir_.path(), "bad", "true");
  spec.argv.clear();
  EXPECT_EQ(executor.Submit(spec, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FakeSlurmTest, SatisfiabilityAgainstTheLargestNodeOfThePartition) {
  SlurmExecutor executor(options_);
  Resources r;
  r.gpus = 4;
  absl::Status s = executor.CheckSatisfiable(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "asks for 4 GPUs; the largest node of Slurm partition 'gpu' has 2");
  r = Resources{};
  r.memory_bytes = int64_t{8} << 30;
  s = executor.CheckSatisfiable(r);
  EXPECT_EQ(s.message(),
            "asks for 8Gi of memory; the largest node of Slurm partition 'cpu' has 4Gi");
  r = Resources{};
  r.cpus = 2;
  r.gpus = 2;
  EXPECT_TRUE(executor.CheckSatisfiable(r).ok());
  // Without partitions, the whole cluster counts.
  options_.partitions.clear();
  SlurmExecutor plain(options_);
  r = Resources{};
  r.cpus = 3;
  EXPECT_EQ(plain.CheckSatisfiable(r).message(), "asks for 3 CPUs; the largest Slurm node has 2");
}

TEST_F(FakeSlurmTest, StatusSumsTheNodesAndListsThePartitions) {
  WriteFile(dir_.path() + "/nodes",
            "NodeName=vm CPUTot=2 CPUAlloc=1 RealMemory=4096 AllocMem=1024 Gres=gpu:2 "
            "GresUsed=gpu:1(IDX:0) State=MIXED Partitions=cpu,gpu\n");
  WriteFile(dir_.path() + "/squeue",
            "#!/bin/sh\necho '5|RUNNING|vm|2026-11-28T06:02:39|2026-11-28T06:02:40|'\n"
            "echo '6|PENDING||2026-11-28T06:02:41|N/A|'\n",
            true);
  SlurmExecutor executor(options_);
  ExecutorStatus status = executor.Status();
  EXPECT_EQ(status.name, "slurm");
  EXPECT_EQ(status.capacity.cpus, 2);
  EXPECT_EQ(status.capacity.memory_bytes, int64_t{4096} << 20);
  EXPECT_EQ(status.capacity.gpus, 2);
  EXPECT_EQ(status.in_use.cpus, 1);
  EXPECT_EQ(status.in_use.memory_bytes, int64_t{1024} << 20);
  EXPECT_EQ(status.in_use.gpus, 1);
  EXPECT_EQ(status.running, 1);
  EXPECT_EQ(status.queued, 1);
  ASSERT_EQ(status.jobs.size(), 2u);
  EXPECT_EQ(status.jobs[0].job_id, "5");
  EXPECT_EQ(status.jobs[0].host, "vm");
  EXPECT_EQ(status.detail,
            "partitions: cpu (default, up, CPU jobs: vm); gpu (up, GPU jobs: vm); nodes: vm "
            "(mixed, 2 CPUs, 4Gi, 2 GPUs)");
}

TEST_F(FakeSlurmTest, AnUnreachableClusterIsUnavailableNotUnsatisfiable) {
  WriteFile(dir_.path() + "/scontrol",
            "#!/bin/sh\necho 'slurm_load_node error: Unable to contact slurm controller' >&2\n"
            "exit 1\n",
            true);
  SlurmExecutor executor(options_);
  absl::Status s = executor.CheckSatisfiable(Resources{});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("Unable to contact slurm controller"));
  EXPECT_THAT(executor.Status().detail, HasSubstr("Unable to contact slurm controller"));
}

// ---------------------------------------------------------------------------------------
// A real cluster.

class RealSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* conf = getenv("SLURM_CONF");
    if (conf == nullptr || *conf == '\0') {
      GTEST_SKIP() << "SLURM_CONF is not set: start a cluster with `scripts/slurm_test_server "
                      "up` and export the SLURM_CONF it prints (scripts/run_tests does both)";
    }
    options_.partitions = {{"cpu", false}, {"gpu", true}};
    options_.poll_interval_ms = 200;
  }
  TempDir dir_;
  SlurmOptions options_;
};

TEST_F(RealSlurmTest, ResourcesReachSlurm) {
  SlurmExecutor executor(options_);
  JobSpec spec = SimpleSpec(dir_.path(), "resources",
                            "scontrol show job -o \"$SLURM_JOB_ID\"; sleep 1");  // seen running
  spec.resources.memory_bytes = int64_t{100} << 20;
  spec.resources.gpus = 1;
  spec.resources.timeout_ms = 61'000;
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kSucceeded) << status.message;
  const std::string log = ReadFile(spec.log_path);
  EXPECT_THAT(log, HasSubstr("Partition=gpu "));
  EXPECT_THAT(log, HasSubstr("MinMemoryNode=100M "));
  EXPECT_THAT(log, HasSubstr("TimeLimit=00:02:00 "));
  EXPECT_THAT(log, HasSubstr("TresPerNode=gres:gpu:1"));
  EXPECT_THAT(log, HasSubstr("JobName=resources "));
  EXPECT_EQ(status.gpus.size(), 1u);
}

TEST_F(RealSlurmTest, AJobWithAReservedIdIsFoundAgainByANewExecutor) {
  JobSpec spec = SimpleSpec(dir_.path(), "reserved job", "sleep 60");
  std::string reserved, slurm_id;
  {
    SlurmExecutor executor(options_);
    reserved = executor.NewJobId();
    spec.job_id = reserved;
    Recorder recorder;
    auto submitted = executor.Submit(spec, recorder.Callback());
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    slurm_id = *submitted;
    ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
  }  // the server stops before storing Slurm's id; the Slurm job keeps running
  SlurmExecutor restarted(options_);
  Recorder recorder;
  ASSERT_TRUE(restarted.Reattach(reserved, spec, recorder.Callback()).ok());
  ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
  EXPECT_EQ(recorder.StatusIn(JobState::kRunning).job_id, slurm_id);
  ASSERT_TRUE(restarted.Cancel(slurm_id).ok());
  JobStatus end = recorder.WaitTerminal();
  EXPECT_EQ(end.state, JobState::kCancelled);
  EXPECT_EQ(end.job_id, slurm_id);

  // The batch script records Slurm's id with the exit status.
  JobSpec quick = SimpleSpec(dir_.path(), "quick", "true");
  quick.job_id = restarted.NewJobId();
  Recorder done;
  auto quick_id = restarted.Submit(quick, done.Callback());
  ASSERT_TRUE(quick_id.ok()) << quick_id.status();
  EXPECT_EQ(done.WaitTerminal().state, JobState::kSucceeded);
  std::string recorded;
  EXPECT_EQ(ReadStatusFile(StatusPath(quick), &recorded), 0);
  EXPECT_EQ(recorded, *quick_id);

  // Given up as never submitted: a job submitted for it afterwards (an sbatch that was
  // still in flight) does not run its command.
  options_.reserved_lookup_grace_ms = 500;
  SlurmExecutor later(options_);
  Recorder never;
  JobSpec late = SimpleSpec(dir_.path(), "late", "echo ran > " + dir_.path() + "/late.ran");
  late.job_id = later.NewJobId();
  ASSERT_TRUE(later.Reattach(late.job_id, late, never.Callback()).ok());
  EXPECT_EQ(never.WaitTerminal().reason, FailureReason::kLostNode);
  SlurmExecutor in_flight(options_);  // the stopped server's sbatch, landing late
  Recorder straggler;
  ASSERT_TRUE(in_flight.Submit(late, straggler.Callback()).ok());
  JobStatus straggler_end = straggler.WaitTerminal();
  EXPECT_EQ(straggler_end.state, JobState::kFailed);
  EXPECT_EQ(straggler_end.exit_code, 1);
  EXPECT_TRUE(std::filesystem::exists(NotRunPath(late)));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/late.ran"));
  EXPECT_THAT(ReadFile(late.log_path), HasSubstr("cairn: not run: the server gave this job up"));
}

TEST_F(RealSlurmTest, StatusShowsTheClusterAndRefusesWhatCannotFit) {
  SlurmExecutor executor(options_);
  ExecutorStatus status = executor.Status();
  EXPECT_GE(status.capacity.cpus, 1);
  EXPECT_GE(status.capacity.gpus, 1);
  EXPECT_THAT(status.detail, HasSubstr("gpu (up, GPU jobs"));
  Resources r;
  r.gpus = status.capacity.gpus + 1;
  EXPECT_EQ(
      executor.CheckSatisfiable(r).message(),
      absl::StrCat("asks for ", r.gpus, " GPUs; the largest node of Slurm partition 'gpu' has ",
                   status.capacity.gpus));
}

TEST_F(RealSlurmTest, AnInvalidPartitionIsALaunchError) {
  SlurmExecutor executor(options_);
  JobSpec spec = SimpleSpec(dir_.path(), "nopart", "true");
  spec.partition = "no-such-partition";
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.reason, FailureReason::kLaunchError);
  EXPECT_THAT(status.message, HasSubstr("Invalid partition name"));
}

// Prints submit → running → done latencies of sequential no-op jobs (no assertion on time).
TEST_F(RealSlurmTest, LatencyOfSequentialNoOpJobs) {
  SlurmExecutor executor(options_);
  const int n = getenv("CAIRN_SLURM_LATENCY_JOBS") ? atoi(getenv("CAIRN_SLURM_LATENCY_JOBS")) : 3;
  std::vector<double> submit, to_running, to_done;
  for (int i = 0; i < n; ++i) {
    Recorder recorder;
    const absl::Time submitted = absl::Now();
    ASSERT_TRUE(
        executor
            .Submit(SimpleSpec(dir_.path(), absl::StrCat("noop", i), "true"), recorder.Callback())
            .ok());
    submit.push_back(absl::ToDoubleMilliseconds(absl::Now() - submitted));
    EXPECT_EQ(recorder.WaitTerminal().state, JobState::kSucceeded);
    to_running.push_back(
        absl::ToDoubleMilliseconds(recorder.TimeOf(JobState::kRunning) - submitted));
    to_done.push_back(
        absl::ToDoubleMilliseconds(recorder.TimeOf(JobState::kSucceeded) - submitted));
  }
  for (auto* v : {&submit, &to_running, &to_done}) std::sort(v->begin(), v->end());
  printf(
      "slurm no-op jobs: %d sequential, Submit() (sbatch) p50 %.0f ms, submit→running p50 "
      "%.0f ms (max %.0f), submit→done p50 %.0f ms (max %.0f)\n",
      n, submit[n / 2], to_running[n / 2], to_running.back(), to_done[n / 2], to_done.back());
}

}  // namespace
}  // namespace cairn::compute
