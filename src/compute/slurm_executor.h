#pragma once
// The Slurm executor (DESIGN.md §5 "compute"): runs each job as one Slurm batch job.
//
// Submit writes a batch script next to the job's log (`<log_path>.sbatch`: exports the
// job's env, cds to its workdir, execs its argv) and calls
//   sbatch --parsable --job-name --chdir --output/--error=<log_path> --open-mode=append
//          --cpus-per-task=ceil(cpus) [--mem=<MiB>] [--gres=gpu:N] [--time=ceil(minutes)]
//          [--partition=P] --export=ALL <script>
// The partition is the spec's, else the first configured partition that fits the job's
// resources (GPU jobs → a partition with `gpus: true`, others → one without), else the
// cluster's default. One thread follows every job with ONE `squeue --states=all -j <ids>`
// per poll period, and maps Slurm's states: PENDING → kQueued; RUNNING (and COMPLETING,
// SUSPENDED, …) → kRunning; COMPLETED → kSucceeded; FAILED → kFailed (exit code or
// signal); TIMEOUT/DEADLINE → kFailed/kTimeout; OUT_OF_MEMORY → kFailed/kOutOfMemory;
// NODE_FAIL/BOOT_FAIL/PREEMPTED → kFailed/kLostNode; CANCELLED → kCancelled (or
// kFailed/kTimeout when we cancelled it for its time limit). Because --time has minute
// granularity, the executor also enforces timeout_ms itself: past the deadline (counted
// from the job's start) it scancels the job and reports kFailed/kTimeout "exceeded its time
// limit of 5s". A job Slurm no longer knows (controller state lost, or ended more than
// MinJobAge ago; there is no accounting database) ends kFailed/kLostNode.
//
// A job submitted with a reserved id (NewJobId, which the caller stores before sbatch runs)
// is named "<name>-<token>" in Slurm, so that a restarted server that has only the reserved
// id finds the job by name and re-attaches it instead of submitting it again.
//
// The Slurm commands run with posix_spawn (no shell); their paths and SLURM_CONF are
// configurable. Thread-safe; callbacks run on the executor's one polling thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "compute/executor.h"

namespace cairn::compute {

struct SlurmPartition {
  std::string name;
  bool gpus = false;  // GPU jobs go here; jobs without GPUs go to partitions without it
};

struct SlurmOptions {
  std::string name = "slurm";  // the executor's name in status and configuration
  // Partitions to choose from by resources, in order of preference. Empty: GPU and CPU
  // jobs alike go to the cluster's default partition unless the spec names one.
  std::vector<SlurmPartition> partitions;
  // The commands (looked up in PATH when not absolute).
  std::string sbatch = "sbatch";
  std::string squeue = "squeue";
  std::string scontrol = "scontrol";
  std::string scancel = "scancel";
  std::string sinfo = "sinfo";
  // SLURM_CONF given to the commands; empty: the server's environment decides.
  std::string slurm_conf;
  // How often the job states are polled (one squeue call for all jobs).
  int64_t poll_interval_ms = 250;
  // How long CheckSatisfiable reuses the cluster's node list.
  int64_t node_cache_ms = 10'000;
  // An unresolved reserved id (re-attached, or its sbatch timed out) whose job squeue does
  // not list is given up only after this long (an sbatch may still be submitting it).
  int64_t reserved_lookup_grace_ms = 3'000;
};

class SlurmExecutor final : public Executor {
 public:
  // Starts the polling thread; contacts the cluster only when jobs are submitted or the
  // status/satisfiability is asked. `clock` must outlive the executor.
  explicit SlurmExecutor(SlurmOptions options, Clock& clock = RealClock());
  ~SlurmExecutor() override;  // Shutdown()

  SlurmExecutor(const SlurmExecutor&) = delete;
  SlurmExecutor& operator=(const SlurmExecutor&) = delete;

  std::string_view name() const override;

  // InvalidArgument when no node (of the partition the job would go to) has enough CPUs,
  // memory or GPUs: "asks for 4 GPUs; the largest Slurm node has 2". Unavailable when the
  // cluster cannot be asked (scontrol fails).
  absl::Status CheckSatisfiable(const Resources& resources) const override;

  // Runs sbatch now and returns Slurm's job id ("4711"), which the callbacks carry too.
  // With spec.job_id (from NewJobId; InvalidArgument for another id, AlreadyExists for one
  // submitted already) the Slurm job's name ends in "-<token>", so that Reattach by the
  // reserved id finds it; and an sbatch that fails without saying whether Slurm took the
  // job (timed out) returns the reserved id: the job is looked up by name as Reattach does,
  // and reported kFailed/kLaunchError with sbatch's message if Slurm has none. InvalidArgument for
  // a spec that cannot be a job (empty argv, relative workdir/log_path, a bad env name). When
  // sbatch refuses the job (or cannot run), returns an id "rejected-N" whose callback gets kQueued
  // then kFailed/kLaunchError with sbatch's message.
  absl::StatusOr<std::string> Submit(const JobSpec& spec, JobCallback callback) override;

  // "slurm:<20 hex digits>", for JobSpec::job_id: the caller stores it before sbatch runs,
  // then replaces it with the Slurm id Submit returns. A server that stopped in between has
  // only the reserved id; Reattach finds the Slurm job by its name.
  std::string NewJobId() override;

  // Follows an earlier job by its Slurm id, or by its reserved id: then its Slurm id is
  // looked up by job name (squeue --all --states=all --name, one call for up to 100 such ids;
  // `spec.name` must be the name it was submitted with) and every report after that carries
  // the Slurm id. No such job within reserved_lookup_grace_ms: the job's status file gives
  // its end (it ended more than MinJobAge ago); else its abandoned marker (slurm_text.h
  // AbandonedPath) is written and the next look-up decides — a job found then is followed
  // (one the marker stopped ends kFailed/kLostNode "did not run its command", with no
  // running state reported; so does a job re-attached by Slurm id whose marker exists),
  // none ends kFailed/kLostNode, and a job submitted for it later does not run its command.
  // A marker that cannot be written: kFailed/kLostNode at once, saying so. The first callback is
  // its current state (kQueued, kRunning or terminal). AlreadyExists when the id is already
  // followed.
  absl::Status Reattach(const std::string& job_id, const JobSpec& spec,
                        JobCallback callback) override;

  // scancel; the callback gets kCancelled once Slurm reports the job ended. `job_id` may be
  // the Slurm id or the reserved id it was submitted or re-attached with. NotFound for an id
  // this executor does not follow (and has not followed recently).
  absl::Status Cancel(const std::string& job_id) override;

  // Capacity and use summed over the cluster's nodes (scontrol show node), the cluster's
  // pending and running jobs (squeue), partitions and nodes in `detail`. On a cluster
  // that cannot be asked, the error is in `detail` and the numbers are 0.
  ExecutorStatus Status() const override;

  void Shutdown() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
}  // namespace cairn::compute
