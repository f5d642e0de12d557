#pragma once
// The executor seam (DESIGN.md §5 "compute"): runs one command with an environment, a
// working directory and resources, reports its state transitions and exit status, writes
// its output to a log file, and can cancel it. The local executor (child processes on
// this machine) and the Slurm executor (sbatch/scontrol/scancel) implement it; one
// contract test suite runs against both. Which executor runs a step is configuration
// (per pipeline, per step, or by resources), never code.
//
// Lifecycle of a job: Submit → kQueued (waiting for capacity) → kRunning → exactly one
// terminal state (kSucceeded | kFailed | kCancelled). The callback given to Submit or
// Reattach is called once per transition, in order, from an executor-owned thread, and
// must not block (hand the work to another thread). After the terminal call it is never
// called again. Executors are thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compute/resources.h"

namespace cairn::compute {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
std::string_view JobStateName(JobState state);  // "queued", "running", …
std::optional<JobState> ParseJobState(std::string_view name);  // inverse of JobStateName
bool IsTerminal(JobState state);

// Why a job ended other than with exit code 0.
enum class FailureReason {
  kNone,          // succeeded
  kExitCode,      // exited with a non-zero code
  kSignal,        // killed by a signal it did not get from us
  kTimeout,       // exceeded resources.timeout_ms (we killed it)
  kOutOfMemory,   // exceeded resources.memory_bytes (we or the cluster killed it)
  kLostNode,      // the node / process disappeared; exit status unknown
  kCancelled,     // Cancel() was called
  kLaunchError,   // could not start (bad command, bad workdir, sbatch refused it)
};
std::string_view FailureReasonName(FailureReason reason);  // "exit_code", "signal", …
std::optional<FailureReason> ParseFailureReason(std::string_view name);  // inverse

struct JobSpec {
  std::string name;  // for people and for the cluster ("churn-train/42/train#1")
  // argv[0] is looked up in PATH; a script is {"/bin/sh", "-c", text}.
  std::vector<std::string> argv;
  // Added to (and overriding) the server's environment.
  std::map<std::string, std::string> env;
  std::string workdir;   // absolute; created if missing
  std::string log_path;  // absolute; stdout and stderr are appended to it
  Resources resources;
  std::string partition;  // Slurm: the partition (empty: chosen by resources); local: ignored
  // The id the job is to have, from NewJobId() of the same executor; empty: Submit picks one.
  std::string job_id;
};

// A snapshot of a job.
struct JobStatus {
  std::string job_id;  // executor-specific, stable across restarts ("local:9f2c…", "4711")
  JobState state = JobState::kQueued;
  FailureReason reason = FailureReason::kNone;
  std::optional<int> exit_code;
  std::optional<int> signal;
  // What happened, in words a person can act on: "exited with code 3", "killed by signal
  // 9 (SIGKILL)", "exceeded its time limit of 30s", "out of memory: used 612Mi, limit
  // 512Mi", "node lost: the process disappeared while the server was down".
  std::string message;
  std::string host;
  std::vector<int> gpus;  // GPU indices given to it (CUDA_VISIBLE_DEVICES)
  int64_t queued_ms = 0, started_ms = 0, ended_ms = 0;  // epoch ms, 0 = not yet
};

using JobCallback = std::function<void(const JobStatus&)>;

// Capacity, use and queue of one executor (`cairn compute status`).
struct ExecutorStatus {
  std::string name;  // "local", "slurm"
  Resources capacity;  // timeout_ms unused
  Resources in_use;
  int running = 0;
  int queued = 0;
  std::vector<JobStatus> jobs;  // running and queued jobs
  std::string detail;  // e.g. the Slurm partitions and their nodes
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string_view name() const = 0;

  // OK when a job with `resources` can ever run here; else InvalidArgument saying what
  // does not fit ("asks for 4 GPUs; the local executor has 2 (CUDA_VISIBLE_DEVICES / nvidia-smi)").
  virtual absl::Status CheckSatisfiable(const Resources& resources) const = 0;

  // Accepts the job and returns its id at once; the job queues until it fits. Launch
  // errors after acceptance arrive through the callback as kFailed / kLaunchError.
  // With spec.job_id set (from NewJobId) the job gets that id, or the executor's own id
  // when the backend numbers jobs as it accepts them (Slurm's job number): the returned id
  // (which the callbacks carry) is then to be stored in place of the reserved one.
  // AlreadyExists when a job with spec.job_id is followed already.
  virtual absl::StatusOr<std::string> Submit(const JobSpec& spec, JobCallback callback) = 0;

  // An id for a job not submitted yet, to pass as JobSpec::job_id: the caller can store it
  // durably before the job can start, so that a restart always finds a started job (Reattach
  // by that id, also where Submit returned another one that was not stored yet; one that
  // never started is reported kLostNode and may be submitted again). Empty when the
  // executor cannot reserve ids.
  virtual std::string NewJobId() { return ""; }

  // After a server restart: follows a job submitted earlier (by id) without starting it
  // again. When the job is still running the callback gets kRunning and later its end;
  // when it has ended meanwhile, its terminal state if the executor still knows it, else
  // kFailed / kLostNode. Never runs the command twice.
  virtual absl::Status Reattach(const std::string& job_id, const JobSpec& spec,
                                JobCallback callback) = 0;

  // Stops the job (the whole process group / scancel). The callback gets kCancelled.
  // NotFound for an unknown id; OK for a job that already ended (no-op).
  virtual absl::Status Cancel(const std::string& job_id) = 0;

  virtual ExecutorStatus Status() const = 0;

  // Stops following jobs (does not kill them: a restarted server re-attaches). Blocks
  // until executor threads have exited; no callback runs after it returns.
  virtual void Shutdown() = 0;
};

}  // namespace cairn::compute
