#include "compute/local_executor.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "compute/process_launch.h"
#include "compute/process_record.h"
#include "compute/process_table.h"

namespace cairn::compute {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr absl::Duration kDeadline = absl::Seconds(30);

// Collects the callbacks of one job.
class Recorder {
 public:
  JobCallback Callback() {
    return [this](const JobStatus& status) {
      absl::MutexLock lock(&mu_);
      seen_.push_back(status);
    };
  }
  // The terminal status; fails the test after kDeadline.
  JobStatus WaitTerminal() {
    absl::MutexLock lock(&mu_);
    auto terminal = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !seen_.empty() && IsTerminal(seen_.back().state);
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&terminal), kDeadline)) {
      ADD_FAILURE() << "job did not end within " << kDeadline;
      return JobStatus{};
    }
    return seen_.back();
  }
  bool WaitState(JobState state) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const JobStatus& status : seen_) {
        if (status.state == state) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kDeadline);
  }
  std::vector<JobState> States() {
    absl::MutexLock lock(&mu_);
    std::vector<JobState> states;
    for (const JobStatus& status : seen_) states.push_back(status.state);
    return states;
  }

 private:
  absl::Mutex mu_;
  std::vector<JobStatus> seen_ ABSL_GUARDED_BY(mu_);
};

// Polls `condition` until it holds or the deadline passes.
bool WaitFor(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ProcessGone(pid_t pid) {
  std::optional<ProcessInfo> info = ReadProcessInfo(pid);
  return !info.has_value() || info->state == 'Z' || info->state == 'X';
}

class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cairn-local-executor-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    executors_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  LocalExecutorOptions Options() {
    LocalExecutorOptions options;
    options.cpus = 4;
    options.memory_bytes = int64_t{8} << 30;
    options.gpus = std::vector<int>{};
    options.host = "test-host";
    options.kill_grace_ms = 300;
    options.memory_sample_interval_ms = 50;
    return options;
  }
  LocalExecutor& Make(LocalExecutorOptions options) {
    absl::StatusOr<std::unique_ptr<LocalExecutor>> executor =
        LocalExecutor::Create(std::move(options));
    CAIRN_CHECK(executor.ok());
    executors_.push_back(*std::move(executor));
    return *executors_.back();
  }
  LocalExecutor& Make() { return Make(Options()); }

  JobSpec Spec(const std::string& name, std::vector<std::string> argv) {
    JobSpec spec;
    spec.name = name;
    spec.argv = std::move(argv);
    spec.workdir = absl::StrCat(dir_, "/work/", name);
    spec.log_path = absl::StrCat(dir_, "/logs/", name, ".log");
    return spec;
  }
  JobSpec Shell(const std::string& name, const std::string& script) {
    return Spec(name, {"/bin/sh", "-c", script});
  }

  std::string dir_;
  std::vector<std::unique_ptr<LocalExecutor>> executors_;
};

TEST_F(LocalExecutorTest, RunsACommandInItsWorkdirAndAppendsOutputToTheLog) {
  LocalExecutor& executor = Make();
  JobSpec spec = Shell("hello", "echo out; echo err >&2; pwd");
  std::filesystem::create_directories(dir_ + "/logs");
  std::ofstream(spec.log_path) << "earlier\n";
  Recorder recorder;
  absl::StatusOr<std::string> id = executor.Submit(spec, recorder.Callback());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_THAT(*id, StartsWith("local:"));
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(recorder.States(),
            (std::vector<JobState>{JobState::kQueued, JobState::kRunning, JobState::kSucceeded}));
  EXPECT_EQ(status.job_id, *id);
  EXPECT_EQ(status.reason, FailureReason::kNone);
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_EQ(status.message, "exited with code 0");
  EXPECT_EQ(status.host, "test-host");
  EXPECT_GT(status.started_ms, 0);
  EXPECT_GE(status.ended_ms, status.started_ms);
  EXPECT_EQ(ReadFile(spec.log_path), absl::StrCat("earlier\nout\nerr\n", spec.workdir, "\n"));
  // The record next to the log holds the exit status for a restarted server.
  absl::StatusOr<JobRecord> record = ReadJobRecord(JobRecordPath(spec.log_path));
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->state, JobRecord::State::kExited);
  EXPECT_EQ(record->exit_code, 0);
  EXPECT_EQ(absl::StrCat("local:", record->token), *id);
}

TEST_F(LocalExecutorTest, ReportsExitCodes) {
  LocalExecutor& executor = Make();
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(Shell("three", "exit 3"), recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kExitCode);
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_FALSE(status.signal.has_value());
  EXPECT_EQ(status.message, "exited with code 3");
}

// A caller that stores a job's id before the job can start asks for it first (NewJobId).
TEST_F(LocalExecutorTest, AJobGetsTheIdReservedForItAndOnlyOnce) {
  LocalExecutor& executor = Make();
  std::string id = executor.NewJobId();
  ASSERT_TRUE(absl::StartsWith(id, "local:")) << id;
  EXPECT_NE(executor.NewJobId(), id);
  JobSpec spec = Shell("reserved", "exit 0");
  spec.job_id = id;
  Recorder recorder;
  absl::StatusOr<std::string> submitted = executor.Submit(spec, recorder.Callback());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(*submitted, id);
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kSucceeded);
  EXPECT_EQ(status.job_id, id);
  Recorder again;
  EXPECT_EQ(executor.Submit(spec, again.Callback()).status().code(),
            absl::StatusCode::kAlreadyExists);
  spec.job_id = "4711";
  absl::StatusOr<std::string> foreign = executor.Submit(spec, again.Callback());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(foreign.status().message().find("'4711'"), std::string_view::npos)
      << foreign.status();
}

TEST_F(LocalExecutorTest, ReportsSignalsByName) {
  LocalExecutor& executor = Make();
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(Shell("killed", "kill -9 $$"), recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kSignal);
  EXPECT_EQ(status.signal, 9);
  EXPECT_FALSE(status.exit_code.has_value());
  EXPECT_EQ(status.message, "killed by signal 9 (SIGKILL)");
}

TEST_F(LocalExecutorTest, EnvironmentIsServerEnvPlusSpecEnvAndNoGpusByDefault) {
  setenv("CAIRN_LOCAL_TEST_INHERITED", "from-server", 1);
  setenv("CAIRN_LOCAL_TEST_OVERRIDDEN", "server", 1);
  LocalExecutor& executor = Make();
  JobSpec spec = Shell("env",
                       "echo \"$CAIRN_LOCAL_TEST_INHERITED $CAIRN_LOCAL_TEST_OVERRIDDEN "
                       "[${CUDA_VISIBLE_DEVICES-unset}] $CAIRN_JOB_ID\"");
  spec.env["CAIRN_LOCAL_TEST_OVERRIDDEN"] = "step";
  Recorder recorder;
  absl::StatusOr<std::string> id = executor.Submit(spec, recorder.Callback());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(recorder.WaitTerminal().state, JobState::kSucceeded);
  EXPECT_EQ(ReadFile(spec.log_path), absl::StrCat("from-server step [] ", *id, "\n"));
}

TEST_F(LocalExecutorTest, ACommandMissingFromPathIsFoundOnceInstalledAndFoldersAreMade) {
  // The command look-up keeps successes for a moment; a miss is looked up again.
  LocalExecutor& executor = Make();
  const std::string bin = dir_ + "/bin";
  auto run = [&](const std::string& name, JobSpec spec) {
    spec.env["PATH"] = bin;
    Recorder recorder;
    EXPECT_TRUE(executor.Submit(spec, recorder.Callback()).ok()) << name;
    return recorder.WaitTerminal();
  };
  JobStatus missing = run("before", Spec("before", {"cairn-test-tool"}));
  EXPECT_EQ(missing.reason, FailureReason::kLaunchError);
  EXPECT_THAT(missing.message, StartsWith("command 'cairn-test-tool' not found in PATH ("));
  std::filesystem::create_directories(bin);
  std::ofstream(bin + "/cairn-test-tool") << "#!/bin/sh\necho found \"$1\"\n";
  std::filesystem::permissions(bin + "/cairn-test-tool", std::filesystem::perms::owner_all);
  for (const std::string name : {"after", "again"}) {
    JobSpec spec = Spec(name, {"cairn-test-tool", name});
    EXPECT_EQ(run(name, spec).state, JobState::kSucceeded) << name;
    EXPECT_EQ(ReadFile(spec.log_path), absl::StrCat("found ", name, "\n"));
    EXPECT_TRUE(std::filesystem::is_directory(spec.workdir)) << spec.workdir;
  }
  // The log in its (missing) working directory, as the pipeline engine places it.
  JobSpec beside = Spec("beside", {"cairn-test-tool", "beside"});
  beside.log_path = beside.workdir + "/attempt-1.log";
  EXPECT_EQ(run("beside", beside).state, JobState::kSucceeded);
  EXPECT_EQ(ReadFile(beside.log_path), "found beside\n");
}

// The fallback where close_range is missing: every descriptor from 3 up is closed, 0-2
// stay (run in a forked child, as in the launch).
TEST(CloseDescriptorsTest, ClosesEveryDescriptorFromThreeUpAndKeepsTheStandardOnes) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const int high = fcntl(pipe_fds[0], F_DUPFD, 300);  // a gap below it
  ASSERT_GE(high, 300);
  bool standard_open[3];
  for (int fd = 0; fd < 3; ++fd) standard_open[fd] = fcntl(fd, F_GETFD) != -1;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    CloseDescriptorsFrom3();
    int bad = 0;
    for (int fd : {pipe_fds[0], pipe_fds[1], high}) bad += fcntl(fd, F_GETFD) != -1;
    for (int fd = 3; fd < 1024; ++fd) bad += fcntl(fd, F_GETFD) != -1;
    for (int fd = 0; fd < 3; ++fd) bad += (fcntl(fd, F_GETFD) != -1) != standard_open[fd];
    _exit(bad > 255 ? 255 : bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "descriptors left open (or a standard one closed)";
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  close(high);
}

// What the job's process starts with does not depend on the server's signal state or its
// descriptors: the shim is spawned vfork-style with every signal blocked and resets them.
TEST_F(LocalExecutorTest, AJobStartsWithDefaultSignalsNoneBlockedAndOnlyItsOwnDescriptors) {
  LocalExecutor& executor = Make();
  // The submitting thread launches the job (nothing is queued): its mask is the one inherited.
  struct sigaction ignore {}, old_pipe {}, old_hup {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old_pipe);
  sigaction(SIGHUP, &ignore, &old_hup);
  // A real-time signal, and glibc's reserved 32, which glibc's posix_spawn leaves ignored in
  // the programs it starts (make does, so a server under make inherits it); libc's
  // sigaction refuses 32, hence the system call (kernel struct: handler, flags, restorer,
  // mask).
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
  } kernel_ignore{SIG_IGN, 0, nullptr, 0}, kernel_default{SIG_DFL, 0, nullptr, 0};
  sigaction(SIGRTMIN + 1, &ignore, nullptr);
  syscall(SYS_rt_sigaction, 32, &kernel_ignore, nullptr, sizeof(uint64_t));
  sigset_t usr1, old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
  int leaked = open("/dev/null", O_RDONLY);  // not close-on-exec
  auto run = [&](const std::string& name, std::vector<std::string> argv) {
    Recorder recorder;
    JobSpec spec = Spec(name, std::move(argv));
    EXPECT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
    JobStatus status = recorder.WaitTerminal();
    EXPECT_EQ(status.state, JobState::kSucceeded) << status.message;
    return ReadFile(spec.log_path);
  };
  std::string signals = run("signals", {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"});
  std::string fds = run("fds", {"ls", "/proc/self/fd"});
  std::string in = run("stdin", {"readlink", "/proc/self/fd/0"});
  close(leaked);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  struct sigaction restore {};
  restore.sa_handler = SIG_DFL;
  sigaction(SIGRTMIN + 1, &restore, nullptr);
  syscall(SYS_rt_sigaction, 32, &kernel_default, nullptr, sizeof(uint64_t));
  EXPECT_EQ(signals, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  EXPECT_EQ(fds, "0\n1\n2\n3\n");  // 3: ls's own listing of the folder
  EXPECT_EQ(in, "/dev/null\n");
}

// A server started without stdin opens the job's log as descriptor 0: the job still gets
// the log as stdout and stderr and /dev/null as stdin.
TEST_F(LocalExecutorTest, ALogOpenedAsDescriptorZeroStillBecomesStdoutAndStderr) {
  LocalExecutor& executor = Make();
  int saved_stdin = dup(0);
  ASSERT_GE(saved_stdin, 0);
  close(0);
  Recorder recorder;
  JobSpec spec = Shell("nostdin", "echo out; echo err >&2; readlink /proc/self/fd/0");
  absl::StatusOr<std::string> id = executor.Submit(spec, recorder.Callback());
  JobStatus status = recorder.WaitTerminal();
  dup2(saved_stdin, 0);
  close(saved_stdin);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(status.state, JobState::kSucceeded) << status.message;
  EXPECT_EQ(ReadFile(spec.log_path), "out\nerr\n/dev/null\n");
}

TEST_F(LocalExecutorTest, ARelativeCommandIsLookedUpInEachJobsOwnWorkdir) {
  // The look-up is shared between jobs (one per step folder) only where the folder does not
  // matter: './tool' is each job's own; a missing one is not found through another's.
  LocalExecutor& executor = Make();
  auto run = [&](const std::string& name, bool install) {
    JobSpec spec = Spec(name, {"./tool"});
    std::filesystem::create_directories(spec.workdir);
    if (install) {
      std::ofstream(spec.workdir + "/tool") << "#!/bin/sh\necho " << name << "\n";
      std::filesystem::permissions(spec.workdir + "/tool", std::filesystem::perms::owner_all);
    }
    Recorder recorder;
    EXPECT_TRUE(executor.Submit(spec, recorder.Callback()).ok()) << name;
    JobStatus status = recorder.WaitTerminal();
    return std::make_pair(status, install ? ReadFile(spec.log_path) : "");
  };
  EXPECT_EQ(run("first", true).second, "first\n");
  EXPECT_EQ(run("second", true).second, "second\n");
  JobStatus none = run("none", false).first;
  EXPECT_EQ(none.reason, FailureReason::kLaunchError);
  EXPECT_EQ(none.message, "command './tool' does not exist");
}

TEST_F(LocalExecutorTest, LaunchErrorsNameTheProblem) {
  LocalExecutor& executor = Make();
  {
    Recorder recorder;
    ASSERT_TRUE(
        executor.Submit(Spec("missing", {"no-such-command-xyz", "a"}), recorder.Callback()).ok());
    JobStatus status = recorder.WaitTerminal();
    EXPECT_EQ(recorder.States(), (std::vector<JobState>{JobState::kQueued, JobState::kFailed}));
    EXPECT_EQ(status.reason, FailureReason::kLaunchError);
    EXPECT_THAT(status.message, StartsWith("command 'no-such-command-xyz' not found in PATH ("));
  }
  {
    std::string script = dir_ + "/not-executable.sh";
    std::ofstream(script) << "echo hi\n";
    Recorder recorder;
    ASSERT_TRUE(executor.Submit(Spec("noexec", {script}), recorder.Callback()).ok());
    JobStatus status = recorder.WaitTerminal();
    EXPECT_EQ(status.reason, FailureReason::kLaunchError);
    EXPECT_EQ(status.message, absl::StrCat("command '", script, "' is not an executable file"));
  }
  {
    std::ofstream(dir_ + "/a-file") << "x";
    JobSpec spec = Spec("badworkdir", {"/bin/true"});
    spec.workdir = dir_ + "/a-file/sub";
    Recorder recorder;
    ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
    JobStatus status = recorder.WaitTerminal();
    EXPECT_EQ(status.reason, FailureReason::kLaunchError);
    EXPECT_THAT(status.message,
                StartsWith(absl::StrCat("cannot create working directory '", spec.workdir, "': ")));
  }
  // What Submit refuses outright.
  Recorder unused;
  EXPECT_EQ(executor.Submit(Spec("empty", {}), unused.Callback()).status().code(),
            absl::StatusCode::kInvalidArgument);
  JobSpec relative = Spec("relative", {"/bin/true"});
  relative.log_path = "logs/x.log";
  EXPECT_EQ(std::string(executor.Submit(relative, unused.Callback()).status().message()),
            "job 'relative': log_path 'logs/x.log' must be an absolute path");
}

TEST_F(LocalExecutorTest, TimeoutKillsTheWholeProcessGroup) {
  LocalExecutor& executor = Make();
  JobSpec spec = Shell("slow", "sleep 300 & echo $! > child.pid; wait");
  spec.resources.timeout_ms = 1000;
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kTimeout);
  EXPECT_EQ(status.message, "exceeded its time limit of 1s");
  EXPECT_EQ(status.signal, SIGTERM);
  pid_t child = std::atoi(ReadFile(spec.workdir + "/child.pid").c_str());
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); })) << "the job's child " << child;
}

TEST_F(LocalExecutorTest, TimeoutEscalatesToSigkillWhenTermIsIgnored) {
  LocalExecutor& executor = Make();
  JobSpec spec = Shell("stubborn",
                       "trap '' TERM; echo $$ > shell.pid; "
                       "while :; do sleep 0.05; done");
  spec.resources.timeout_ms = 500;
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.reason, FailureReason::kTimeout);
  EXPECT_EQ(status.message, "exceeded its time limit of 500ms");
  EXPECT_EQ(status.signal, SIGKILL);
  pid_t shell = std::atoi(ReadFile(spec.workdir + "/shell.pid").c_str());
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(shell); }));
}

TEST_F(LocalExecutorTest, ProcessesLeftBehindInTheGroupAreKilledWhenTheJobEnds) {
  LocalExecutor& executor = Make();
  JobSpec spec = Shell("daemon", "sleep 300 & echo $! > child.pid; exit 0");
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  EXPECT_EQ(recorder.WaitTerminal().state, JobState::kSucceeded);
  pid_t child = std::atoi(ReadFile(spec.workdir + "/child.pid").c_str());
  ASSERT_GT(child, 0);
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); }));
}

TEST_F(LocalExecutorTest, MemoryOfTheWholeGroupOverTheLimitIsKilledAsOutOfMemory) {
  LocalExecutor& executor = Make();
  // Two processes of ~70Mi each: neither alone exceeds 100Mi, together they do.
  std::string hold = "/usr/bin/python3 -c 'b = bytearray(60 << 20); import time; time.sleep(300)'";
  JobSpec spec = Shell("hungry", absl::StrCat(hold, " & ", hold, " & wait"));
  spec.resources.memory_bytes = 100 << 20;
  Recorder recorder;
  ASSERT_TRUE(executor.Submit(spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kOutOfMemory);
  EXPECT_THAT(status.message, MatchesRegex("out of memory: used [0-9]+Mi, limit 100Mi"));
  int used = std::atoi(status.message.substr(std::string("out of memory: used ").size()).c_str());
  EXPECT_GT(used, 100);
}

TEST_F(LocalExecutorTest, CancelStopsRunningAndQueuedJobs) {
  LocalExecutorOptions options = Options();
  options.cpus = 1;
  LocalExecutor& executor = Make(options);
  JobSpec running_spec = Shell("running", "sleep 300 & echo $! > child.pid; wait");
  Recorder running, queued;
  absl::StatusOr<std::string> running_id = executor.Submit(running_spec, running.Callback());
  absl::StatusOr<std::string> queued_id =
      executor.Submit(Shell("queued", "echo should-not-run"), queued.Callback());
  ASSERT_TRUE(running_id.ok() && queued_id.ok());
  ASSERT_TRUE(running.WaitState(JobState::kRunning));
  ASSERT_TRUE(queued.WaitState(JobState::kQueued));
  EXPECT_EQ(executor.Status().queued, 1);

  ASSERT_TRUE(executor.Cancel(*queued_id).ok());
  JobStatus cancelled_queued = queued.WaitTerminal();
  EXPECT_EQ(cancelled_queued.state, JobState::kCancelled);
  EXPECT_EQ(cancelled_queued.reason, FailureReason::kCancelled);
  EXPECT_EQ(cancelled_queued.message, "cancelled before it started");
  EXPECT_EQ(queued.States(), (std::vector<JobState>{JobState::kQueued, JobState::kCancelled}));

  ASSERT_TRUE(WaitFor([&] { return !ReadFile(running_spec.workdir + "/child.pid").empty(); }));
  ASSERT_TRUE(executor.Cancel(*running_id).ok());
  JobStatus cancelled = running.WaitTerminal();
  EXPECT_EQ(cancelled.state, JobState::kCancelled);
  EXPECT_EQ(cancelled.reason, FailureReason::kCancelled);
  EXPECT_EQ(cancelled.message, "cancelled");
  pid_t child = std::atoi(ReadFile(running_spec.workdir + "/child.pid").c_str());
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(child); }));

  EXPECT_TRUE(executor.Cancel(*running_id).ok());  // already ended: no-op
  absl::Status unknown = executor.Cancel("local:nosuchjob");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("local:nosuchjob"));
}

// Each job counts itself in and out of a shared counter under flock and waits for a
// release file; the highest count seen is the true concurrency.
std::string CountingScript(const std::string& dir) {
  return absl::StrCat("cd ", dir, " && ",
                      "flock lock sh -c 'n=$(($(cat count) + 1)); echo $n > count; "
                      "[ $n -gt $(cat max) ] && echo $n > max; true' && ",
                      "while [ ! -e release ]; do sleep 0.01; done && ",
                      "flock lock sh -c 'echo $(($(cat count) - 1)) > count'");
}

TEST_F(LocalExecutorTest, NeverRunsMoreThanTheCpusAllow) {
  LocalExecutorOptions options = Options();
  options.cpus = 2;
  LocalExecutor& executor = Make(options);
  std::string counter = dir_ + "/counter";
  std::filesystem::create_directories(counter);
  std::ofstream(counter + "/count") << "0\n";
  std::ofstream(counter + "/max") << "0\n";
  std::vector<std::unique_ptr<Recorder>> recorders;
  for (int i = 0; i < 6; ++i) {
    recorders.push_back(std::make_unique<Recorder>());
    ASSERT_TRUE(executor
                    .Submit(Shell(absl::StrCat("job", i), CountingScript(counter)),
                            recorders.back()->Callback())
                    .ok());
  }
  ASSERT_TRUE(recorders[0]->WaitState(JobState::kRunning));
  ASSERT_TRUE(recorders[1]->WaitState(JobState::kRunning));
  ExecutorStatus status = executor.Status();
  EXPECT_EQ(status.running, 2);
  EXPECT_EQ(status.queued, 4);
  EXPECT_EQ(status.in_use.cpus, 2);
  EXPECT_EQ(status.jobs.size(), 6u);
  for (int i = 2; i < 6; ++i) {
    ASSERT_TRUE(recorders[i]->WaitState(JobState::kQueued));
    EXPECT_EQ(recorders[i]->States(), std::vector<JobState>{JobState::kQueued}) << i;
  }
  ASSERT_TRUE(WaitFor([&] { return ReadFile(counter + "/max") == "2\n"; }));
  std::ofstream(counter + "/release") << "";
  for (auto& recorder : recorders) EXPECT_EQ(recorder->WaitTerminal().state, JobState::kSucceeded);
  EXPECT_EQ(ReadFile(counter + "/max"), "2\n");
  EXPECT_EQ(ReadFile(counter + "/count"), "0\n");
  EXPECT_EQ(executor.Status().in_use.cpus, 0);
}

TEST_F(LocalExecutorTest, NeverRunsMoreThanTheMemoryAllows) {
  LocalExecutorOptions options = Options();
  options.memory_bytes = int64_t{1} << 30;
  LocalExecutor& executor = Make(options);
  std::string counter = dir_ + "/counter";
  std::filesystem::create_directories(counter);
  std::ofstream(counter + "/count") << "0\n";
  std::ofstream(counter + "/max") << "0\n";
  std::vector<std::unique_ptr<Recorder>> recorders;
  for (int i = 0; i < 3; ++i) {
    JobSpec spec = Shell(absl::StrCat("job", i), CountingScript(counter));
    spec.resources.memory_bytes = 600 << 20;
    recorders.push_back(std::make_unique<Recorder>());
    ASSERT_TRUE(executor.Submit(spec, recorders.back()->Callback()).ok());
  }
  ASSERT_TRUE(recorders[0]->WaitState(JobState::kRunning));
  ExecutorStatus status = executor.Status();
  EXPECT_EQ(status.running, 1);
  EXPECT_EQ(status.queued, 2);
  EXPECT_EQ(status.in_use.memory_bytes, 600 << 20);
  std::ofstream(counter + "/release") << "";
  for (auto& recorder : recorders) EXPECT_EQ(recorder->WaitTerminal().state, JobState::kSucceeded);
  EXPECT_EQ(ReadFile(counter + "/max"), "1\n");
}

TEST_F(LocalExecutorTest, SmallJobsBackfillPastABlockedHeadOnlyWithinTheWindow) {
  for (int64_t window : {int64_t{60'000}, int64_t{0}}) {
    LocalExecutorOptions options = Options();
    options.cpus = 2;
    options.max_backfill_wait_ms = window;
    LocalExecutor& executor = Make(options);
    std::string release = absl::StrCat(dir_, "/release", window);
    std::string wait = absl::StrCat("while [ ! -e ", release, " ]; do sleep 0.01; done");
    Recorder first, big, small;
    ASSERT_TRUE(executor.Submit(Shell(absl::StrCat("first", window), wait), first.Callback()).ok());
    ASSERT_TRUE(first.WaitState(JobState::kRunning));
    JobSpec big_spec = Shell(absl::StrCat("big", window), "true");
    big_spec.resources.cpus = 2;
    ASSERT_TRUE(executor.Submit(big_spec, big.Callback()).ok());
    ASSERT_TRUE(
        executor.Submit(Shell(absl::StrCat("small", window), "true"), small.Callback()).ok());
    if (window > 0) {
      // The head (2 CPUs) cannot start while `first` holds one; the 1-CPU job may pass it.
      EXPECT_EQ(small.WaitTerminal().state, JobState::kSucceeded);
      EXPECT_EQ(big.States(), std::vector<JobState>{JobState::kQueued});
    } else {
      ASSERT_TRUE(small.WaitState(JobState::kQueued));
      ExecutorStatus status = executor.Status();
      EXPECT_EQ(status.queued, 2);
      EXPECT_EQ(small.States(), std::vector<JobState>{JobState::kQueued});
    }
    std::ofstream(release) << "";
    EXPECT_EQ(big.WaitTerminal().state, JobState::kSucceeded);
    EXPECT_EQ(small.WaitTerminal().state, JobState::kSucceeded);
  }
}

// Cancelling a queued head that blocks the queue lets the job behind it start at once, not
// only when some other job ends.
TEST_F(LocalExecutorTest, CancellingABlockedHeadLetsTheNextJobStart) {
  LocalExecutorOptions options = Options();
  options.cpus = 2;
  options.max_backfill_wait_ms = 0;
  LocalExecutor& executor = Make(options);
  std::string release = absl::StrCat(dir_, "/release");
  std::string wait = absl::StrCat("while [ ! -e ", release, " ]; do sleep 0.01; done");
  Recorder first, big, small;
  ASSERT_TRUE(executor.Submit(Shell("first", wait), first.Callback()).ok());
  ASSERT_TRUE(first.WaitState(JobState::kRunning));
  JobSpec big_spec = Shell("big", "true");
  big_spec.resources.cpus = 2;
  absl::StatusOr<std::string> big_id = executor.Submit(big_spec, big.Callback());
  ASSERT_TRUE(big_id.ok());
  ASSERT_TRUE(executor.Submit(Shell("small", "true"), small.Callback()).ok());
  ASSERT_TRUE(small.WaitState(JobState::kQueued));
  ASSERT_TRUE(executor.Cancel(*big_id).ok());
  EXPECT_EQ(big.WaitTerminal().state, JobState::kCancelled);
  // One CPU is free and nothing is ahead of `small`: it runs while `first` still waits.
  EXPECT_EQ(small.WaitTerminal().state, JobState::kSucceeded);
  EXPECT_EQ(first.States().back(), JobState::kRunning);
  std::ofstream(release) << "";
  EXPECT_EQ(first.WaitTerminal().state, JobState::kSucceeded);
}

TEST_F(LocalExecutorTest, AssignsDistinctGpusThroughCudaVisibleDevices) {
  LocalExecutorOptions options = Options();
  options.gpus = std::vector<int>{0, 1, 3};
  options.cpus = 8;
  LocalExecutor& executor = Make(options);
  EXPECT_EQ(executor.capacity().gpus, 3);
  std::string release = dir_ + "/release";
  std::string script = absl::StrCat("echo \"[$CUDA_VISIBLE_DEVICES]\"; while [ ! -e ", release,
                                    " ]; do sleep 0.01; done");
  JobSpec two = Shell("two", script);
  two.resources.gpus = 2;
  JobSpec one = Shell("one", script);
  one.resources.gpus = 1;
  JobSpec another = Shell("another", script);
  another.resources.gpus = 1;
  JobSpec none = Shell("none", "echo \"[${CUDA_VISIBLE_DEVICES-unset}]\"");
  Recorder r_two, r_one, r_another, r_none;
  ASSERT_TRUE(executor.Submit(two, r_two.Callback()).ok());
  ASSERT_TRUE(executor.Submit(one, r_one.Callback()).ok());
  ASSERT_TRUE(executor.Submit(another, r_another.Callback()).ok());
  ASSERT_TRUE(executor.Submit(none, r_none.Callback()).ok());
  ASSERT_TRUE(r_two.WaitState(JobState::kRunning));
  ASSERT_TRUE(r_one.WaitState(JobState::kRunning));
  EXPECT_EQ(r_none.WaitTerminal().state, JobState::kSucceeded);  // GPUs do not hold it up
  EXPECT_EQ(ReadFile(none.log_path), "[]\n");
  ExecutorStatus status = executor.Status();
  EXPECT_EQ(status.in_use.gpus, 3);
  EXPECT_EQ(status.queued, 1);
  EXPECT_EQ(r_another.States(), std::vector<JobState>{JobState::kQueued});
  std::ofstream(release) << "";
  JobStatus two_done = r_two.WaitTerminal();
  JobStatus one_done = r_one.WaitTerminal();
  JobStatus another_done = r_another.WaitTerminal();
  EXPECT_EQ(two_done.gpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(ReadFile(two.log_path), "[0,1]\n");
  EXPECT_EQ(one_done.gpus, std::vector<int>{3});
  EXPECT_EQ(ReadFile(one.log_path), "[3]\n");
  ASSERT_EQ(another_done.gpus.size(), 1u);
  EXPECT_EQ(ReadFile(another.log_path), absl::StrCat("[", another_done.gpus[0], "]\n"));

  absl::Status too_many = executor.CheckSatisfiable(Resources{.gpus = 4});
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_many.message()),
              StartsWith("asks for 4 GPUs; the local executor has 3 (configured;"));
  Recorder unused;
  JobSpec greedy = Shell("greedy", "true");
  greedy.resources.gpus = 4;
  EXPECT_EQ(executor.Submit(greedy, unused.Callback()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LocalExecutorTest, CheckSatisfiableNamesWhatDoesNotFit) {
  LocalExecutor& executor = Make();
  EXPECT_TRUE(executor.CheckSatisfiable(Resources{.cpus = 4, .memory_bytes = 1 << 30}).ok());
  EXPECT_EQ(std::string(executor.CheckSatisfiable(Resources{.cpus = 5}).message()),
            "asks for 5 CPUs; the local executor has 4 (start the server with --local-cpus N, or "
            "ask for fewer)");
  EXPECT_EQ(
      std::string(executor.CheckSatisfiable(Resources{.memory_bytes = int64_t{9} << 30}).message()),
      "asks for 9Gi of memory; the local executor has 8Gi (start the server with "
      "--local-memory SIZE, or ask for less)");
  ExecutorStatus status = executor.Status();
  EXPECT_EQ(status.name, "local");
  EXPECT_EQ(status.capacity.cpus, 4);
  EXPECT_EQ(status.capacity.memory_bytes, int64_t{8} << 30);
  EXPECT_EQ(status.capacity.gpus, 0);
  EXPECT_EQ(status.detail, "host test-host; GPUs none (configured)");
}

TEST_F(LocalExecutorTest, DefaultsToTheMachinesCapacity) {
  LocalExecutorOptions options;
  options.gpus = std::vector<int>{};
  LocalExecutor& executor = Make(options);
  EXPECT_EQ(executor.capacity().cpus, std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_GT(executor.capacity().memory_bytes, int64_t{100} << 20);
}

TEST_F(LocalExecutorTest, NoSubmitAfterShutdown) {
  LocalExecutor& executor = Make();
  executor.Shutdown();
  Recorder unused;
  EXPECT_EQ(executor.Submit(Shell("late", "true"), unused.Callback()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Shutdown from inside a callback (on the executor's own thread) stops the executor; the
// destructor, on another thread, then waits until that callback has returned.
TEST_F(LocalExecutorTest, ShutdownFromACallbackThenDestroyWaitsForTheThread) {
  auto executor = LocalExecutor::Create(Options());
  ASSERT_TRUE(executor.ok()) << executor.status();
  std::atomic<bool> in_callback{false};
  std::atomic<bool> shut_down{false};
  LocalExecutor* raw = executor->get();
  auto callback = [&](const JobStatus& status) {
    if (!IsTerminal(status.state) || shut_down.exchange(true)) return;
    in_callback = true;
    raw->Shutdown();
    // Widens the window in which a destructor that does not wait would return.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    in_callback = false;
  };
  ASSERT_TRUE((*executor)->Submit(Shell("ends", "true"), callback).ok());
  ASSERT_TRUE(WaitFor([&] { return in_callback.load(); }));
  Recorder unused;
  EXPECT_EQ((*executor)->Submit(Shell("late", "true"), unused.Callback()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  executor->reset();
  EXPECT_FALSE(in_callback.load()) << "the executor was destroyed while its thread ran";
}

// The executor may be destroyed from inside its own callback; its thread then leaves
// without touching it (run under the asan preset to see a use after free otherwise).
TEST_F(LocalExecutorTest, DestroyedFromItsOwnCallback) {
  auto created = LocalExecutor::Create(Options());
  ASSERT_TRUE(created.ok()) << created.status();
  std::shared_ptr<LocalExecutor> executor = *std::move(created);
  absl::Mutex mu;
  bool destroyed = false;
  std::shared_ptr<LocalExecutor> owner = executor;  // released from the callback
  auto callback = [&](const JobStatus& status) {
    if (!IsTerminal(status.state)) return;
    owner.reset();  // the last reference: ~LocalExecutor on the executor's thread
    absl::MutexLock lock(&mu);
    destroyed = true;
  };
  ASSERT_TRUE(executor->Submit(Shell("ends", "sleep 0.05"), callback).ok());
  executor.reset();  // only the callback's owner is left
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&destroyed), kDeadline));
}

// --- restarts -------------------------------------------------------------------------

class ReattachTest : public LocalExecutorTest {
 protected:
  // A job that notes each start in `starts` and exits 7 once `go` exists.
  JobSpec WaitingJob(const std::string& name) {
    return Shell(name, "echo started >> starts; while [ ! -e go ]; do sleep 0.01; done; exit 7");
  }
  // Starts it on a first executor and shuts that executor down with the job running.
  std::string StartAndShutDown(const JobSpec& spec) {
    LocalExecutor& first = Make();
    Recorder recorder;
    absl::StatusOr<std::string> id = first.Submit(spec, recorder.Callback());
    CAIRN_CHECK(id.ok());
    EXPECT_TRUE(recorder.WaitState(JobState::kRunning));
    first.Shutdown();
    return *id;
  }
};

TEST_F(ReattachTest, FollowsARunningJobToItsEnd) {
  JobSpec spec = WaitingJob("alive");
  std::string id = StartAndShutDown(spec);
  LocalExecutor& second = Make();
  Recorder recorder;
  ASSERT_TRUE(second.Reattach(id, spec, recorder.Callback()).ok());
  ASSERT_TRUE(recorder.WaitState(JobState::kRunning));
  EXPECT_EQ(second.Status().running, 1);
  EXPECT_EQ(second.Status().in_use.cpus, 1);
  EXPECT_EQ(second.Reattach(id, spec, recorder.Callback()).code(),
            absl::StatusCode::kAlreadyExists);
  std::ofstream(spec.workdir + "/go") << "";
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(recorder.States(), (std::vector<JobState>{JobState::kRunning, JobState::kFailed}));
  EXPECT_EQ(status.job_id, id);
  EXPECT_EQ(status.reason, FailureReason::kExitCode);
  EXPECT_EQ(status.exit_code, 7);
  EXPECT_EQ(status.message, "exited with code 7");
  EXPECT_EQ(ReadFile(spec.workdir + "/starts"), "started\n");  // never ran twice
  EXPECT_EQ(second.Status().in_use.cpus, 0);
}

TEST_F(ReattachTest, ReportsTheRecordedEndOfAJobThatEndedWhileDown) {
  JobSpec spec = WaitingJob("ended");
  std::string id = StartAndShutDown(spec);
  std::ofstream(spec.workdir + "/go") << "";
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<JobRecord> record = ReadJobRecord(JobRecordPath(spec.log_path));
    return record.ok() && record->state == JobRecord::State::kExited;
  }));
  LocalExecutor& second = Make();
  Recorder recorder;
  ASSERT_TRUE(second.Reattach(id, spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(recorder.States(), std::vector<JobState>{JobState::kFailed});
  EXPECT_EQ(status.exit_code, 7);
  EXPECT_EQ(status.message, "exited with code 7");
  EXPECT_EQ(ReadFile(spec.workdir + "/starts"), "started\n");
}

TEST_F(ReattachTest, AProcessThatVanishedWithoutARecordIsALostNode) {
  JobSpec spec = WaitingJob("vanished");
  std::string id = StartAndShutDown(spec);
  absl::StatusOr<JobRecord> record;
  ASSERT_TRUE(WaitFor([&] {  // the shim writes it just after it started
    record = ReadJobRecord(JobRecordPath(spec.log_path));
    return record.ok();
  }));
  ASSERT_EQ(kill(-record->pid, SIGKILL), 0);  // the shim dies too: nothing is recorded
  ASSERT_TRUE(WaitFor([&] { return ProcessGone(record->pid); }));
  LocalExecutor& second = Make();
  Recorder recorder;
  ASSERT_TRUE(second.Reattach(id, spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.reason, FailureReason::kLostNode);
  EXPECT_EQ(status.message, "node lost: the process disappeared while the server was down");
}

TEST_F(ReattachTest, ALiveProcessThatIsNotTheJobsShimIsNotTakenForIt) {
  // The record's pid now belongs to another process (this test), as after a pid reuse: the
  // shim is recognised by the token in its command line, so the job is lost, not followed.
  JobSpec spec = WaitingJob("reused");
  std::filesystem::create_directories(dir_ + "/logs");
  std::ofstream(spec.log_path) << "";
  std::ofstream(JobRecordPath(spec.log_path))
      << "cairn-job 1 token=0123456789abcdef0123 pid=" << getpid()
      << " starttime=0 start_ms=1 state=running gpus=\n";
  EXPECT_FALSE(JobShimAlive(getpid(), "0123456789abcdef0123"));
  LocalExecutor& executor = Make();
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach("local:0123456789abcdef0123", spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.reason, FailureReason::kLostNode);
  EXPECT_EQ(status.message, "node lost: the process disappeared while the server was down");
}

TEST_F(ReattachTest, AJobsShimIsRecognisedByItsToken) {
  JobSpec spec = WaitingJob("token");
  std::string id = StartAndShutDown(spec);
  absl::StatusOr<JobRecord> record;
  ASSERT_TRUE(WaitFor([&] {
    record = ReadJobRecord(JobRecordPath(spec.log_path));
    return record.ok();
  }));
  EXPECT_EQ(record->starttime, 0u);
  EXPECT_TRUE(JobShimAlive(record->pid, record->token));
  EXPECT_FALSE(JobShimAlive(record->pid, "another-token"));
  std::ofstream(spec.workdir + "/go") << "";
  ASSERT_TRUE(WaitFor([&] { return !JobShimAlive(record->pid, record->token); }));
}

TEST_F(ReattachTest, AJobThatNeverStartedIsALostNodeAndBadIdsAreRefused) {
  LocalExecutor& executor = Make();
  JobSpec spec = WaitingJob("never");
  Recorder recorder;
  ASSERT_TRUE(executor.Reattach("local:0123456789abcdef0123", spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.reason, FailureReason::kLostNode);
  EXPECT_THAT(status.message, StartsWith("node lost: the job had not started when the server "
                                         "stopped (no job record at "));
  EXPECT_FALSE(std::filesystem::exists(spec.workdir + "/starts"));
  EXPECT_EQ(executor.Reattach("4711", spec, recorder.Callback()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ReattachTest, ATimeoutStillAppliesAfterReattach) {
  JobSpec spec = WaitingJob("late");
  spec.resources.timeout_ms = 1000;
  std::string id = StartAndShutDown(spec);
  LocalExecutor& second = Make();
  Recorder recorder;
  ASSERT_TRUE(second.Reattach(id, spec, recorder.Callback()).ok());
  JobStatus status = recorder.WaitTerminal();
  EXPECT_EQ(status.reason, FailureReason::kTimeout);
  EXPECT_EQ(status.message, "exceeded its time limit of 1s");
}

TEST_F(ReattachTest, AKillTheOldServerBeganIsFinishedWithItsReason) {
  JobSpec spec = Shell("doomed", "trap '' TERM; while :; do sleep 0.01; done");
  spec.resources.timeout_ms = 200;
  LocalExecutorOptions patient = Options();
  patient.kill_grace_ms = 600'000;  // the first server dies long before it would SIGKILL
  LocalExecutor& first = Make(patient);
  Recorder before;
  absl::StatusOr<std::string> id = first.Submit(spec, before.Callback());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(KillNotePath(spec.log_path)); }));
  first.Shutdown();
  EXPECT_EQ(before.States(), (std::vector<JobState>{JobState::kQueued, JobState::kRunning}));

  LocalExecutor& second = Make();  // grace 300 ms
  Recorder after;
  ASSERT_TRUE(second.Reattach(*id, spec, after.Callback()).ok());
  JobStatus status = after.WaitTerminal();
  EXPECT_EQ(after.States(), (std::vector<JobState>{JobState::kRunning, JobState::kFailed}));
  EXPECT_EQ(status.reason, FailureReason::kTimeout);
  EXPECT_EQ(status.message, "exceeded its time limit of 200ms");
  EXPECT_EQ(status.signal, SIGKILL);
}

// --- overhead ---------------------------------------------------------------------------

// Submit → running (the job's process exists) and Submit → ended for no-op jobs, one at a
// time. Prints the figures; asserts only that every job succeeded.
TEST_F(LocalExecutorTest, SubmitToRunningLatency) {
  int jobs = 500;
  if (const char* env = std::getenv("CAIRN_LOCAL_BENCH_JOBS")) jobs = std::atoi(env);
  LocalExecutor& executor = Make();
  std::vector<double> submit_call, to_running, to_end;
  for (int i = 0; i < jobs; ++i) {
    absl::Mutex mu;
    std::optional<std::chrono::steady_clock::time_point> running, ended;
    JobState final_state = JobState::kQueued;
    auto start = std::chrono::steady_clock::now();
    JobSpec spec = Spec("noop", {"/bin/true"});
    spec.log_path = absl::StrCat(dir_, "/logs/noop", i, ".log");  // one per attempt, as steps
    absl::StatusOr<std::string> id = executor.Submit(spec, [&](const JobStatus& status) {
      absl::MutexLock lock(&mu);
      if (status.state == JobState::kRunning) running = std::chrono::steady_clock::now();
      if (IsTerminal(status.state)) {
        ended = std::chrono::steady_clock::now();
        final_state = status.state;
      }
    });
    ASSERT_TRUE(id.ok());
    auto returned = std::chrono::steady_clock::now();
    absl::MutexLock lock(&mu);
    auto done = [&] { return ended.has_value(); };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), kDeadline));
    ASSERT_EQ(final_state, JobState::kSucceeded);
    submit_call.push_back(std::chrono::duration<double, std::milli>(returned - start).count());
    to_running.push_back(std::chrono::duration<double, std::milli>(*running - start).count());
    to_end.push_back(std::chrono::duration<double, std::milli>(*ended - start).count());
  }
  auto percentile = [](std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
  };
  std::printf(
      "local executor, %d no-op jobs (/bin/true): Submit call (spawned) p50 %.3f ms "
      "p99 %.3f ms; submit->running callback p50 %.3f ms p99 %.3f ms; submit->ended "
      "callback p50 %.3f ms p99 %.3f ms\n",
      jobs, percentile(submit_call, 0.5), percentile(submit_call, 0.99),
      percentile(to_running, 0.5), percentile(to_running, 0.99), percentile(to_end, 0.5),
      percentile(to_end, 0.99));
}

}  // namespace
}  // namespace cairn::compute
