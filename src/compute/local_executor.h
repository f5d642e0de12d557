#pragma once
// The local executor (DESIGN.md §5 "compute"): runs jobs as child processes on this
// machine without ever oversubscribing its CPUs, memory or GPUs.
//
// Launch. Every job runs in its own session and process group, led by cairn-job-shim
// (process_shim.cc), which runs the command, waits for it and writes its exit status to
// the job record "<log_path>.status" (process_record.h). stdin is /dev/null; stdout and
// stderr are appended to spec.log_path (its folder and spec.workdir are created). The
// environment is the server's (as of Create) + spec.env + CAIRN_JOB_ID +
// CUDA_VISIBLE_DEVICES = the assigned GPU indices ("" for a job that asks for none, so it
// never grabs one). argv[0] is looked up in the job's PATH; relative paths are relative to
// the workdir. A command that cannot be found or run, a workdir or log that cannot be
// created end as kFailed / kLaunchError with the reason.
//
// Queueing policy. Jobs start in submission order as soon as their cpus, memory_bytes and
// gpus fit into what running jobs leave free (memory 0 counts as 0). When the oldest
// waiting job (the head) does not fit, later jobs that do fit may start in its place
// ("backfill") — but only until the head has waited max_backfill_wait_ms; from then on
// nothing starts before it, so running jobs drain and the head runs at the latest when they
// have ended. Jobs that can never fit are refused by Submit (CheckSatisfiable).
//
// Limits. resources.timeout_ms: the whole process group (and every process of the job's
// session) gets SIGTERM, then SIGKILL after kill_grace_ms; the job ends kFailed / kTimeout,
// "exceeded its time limit of 30s". resources.memory_bytes: the resident memory of all
// processes of the job's session is sampled every memory_sample_interval_ms; above the
// limit the job is killed the same way, kFailed / kOutOfMemory, "out of memory: used
// 612Mi, limit 512Mi". Cancel kills it the same way (kCancelled). Processes a job leaves
// behind in its process group are killed when it ends (not for re-attached jobs).
//
// Threads. Submit starts a job that fits, with nothing queued before it, right away on the
// caller's thread (posix_spawn, well under a millisecond); everything else happens on one
// monitor thread, which starts queued jobs, waits for all jobs at once (pidfds + poll, no
// per-job polling), fires timers, samples memory and makes the callbacks (in order, never
// under a lock). Submit, Reattach, Cancel and Status are thread-safe.
//
// Restarts. Shutdown stops following jobs and leaves them running. Job ids are
// "local:<token>" (NewJobId reserves one, which a caller stores before it submits the job
// with JobSpec::job_id); a new executor's Reattach(id, spec) reads the job record next to
// spec.log_path: a live process (same pid and start time) is followed to its end (its
// resources and GPUs count as in use, its timeout runs from its original start); one that
// ended meanwhile reports its recorded status; otherwise kFailed / kLostNode ("node lost:
// the process disappeared while the server was down"). When the executor starts killing a
// job it writes the reason to "<log_path>.kill" (process_record.h), so a kill the old server
// began (timeout, out of memory, cancel) is finished by the new one and reported with that
// reason, not as a bare signal. A job that was still queued when the server stopped never
// started: Reattach reports kLostNode for it too, so the caller may submit it again.
// Reattach never starts a command. It may block up to 2 s when the log exists without a
// record (a server that died within a millisecond of the spawn).

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "compute/executor.h"

namespace cairn::compute {

struct LocalExecutorOptions {
  std::string name = "local";
  // Capacity; unset: the machine's (hardware threads, MemTotal of /proc/meminfo, and
  // DetectGpus() — CUDA_VISIBLE_DEVICES or nvidia-smi -L).
  std::optional<double> cpus;
  std::optional<int64_t> memory_bytes;
  std::optional<std::vector<int>> gpus;
  // Host name reported in JobStatus.host; empty: gethostname().
  std::string host;
  // Epoch times in JobStatus and timeout deadlines; null: RealClock().
  Clock* clock = nullptr;
  // cairn-job-shim; empty: $CAIRN_JOB_SHIM, next to the running binary, the build tree,
  // then PATH.
  std::string shim_path;
  int64_t kill_grace_ms = 5000;
  int64_t memory_sample_interval_ms = 150;
  int64_t max_backfill_wait_ms = 60'000;
  // How many ended job ids Cancel still recognises (to answer OK rather than NotFound).
  size_t remembered_ended_jobs = 100'000;
};

class LocalExecutor final : public Executor {
 public:
  // FailedPrecondition when cairn-job-shim cannot be found; InvalidArgument for a negative
  // capacity. Starts the monitor thread.
  static absl::StatusOr<std::unique_ptr<LocalExecutor>> Create(LocalExecutorOptions options);
  // Shutdown(), then waits for the monitor thread. Destroying the executor from inside one
  // of its own callbacks is allowed: the thread then leaves at once when the callback
  // returns, touching nothing of the executor.
  ~LocalExecutor() override;

  std::string_view name() const override { return name_; }
  absl::Status CheckSatisfiable(const Resources& resources) const override;
  absl::StatusOr<std::string> Submit(const JobSpec& spec, JobCallback callback) override;
  std::string NewJobId() override;
  absl::Status Reattach(const std::string& job_id, const JobSpec& spec,
                        JobCallback callback) override;
  absl::Status Cancel(const std::string& job_id) override;
  ExecutorStatus Status() const override;
  // Stops following jobs (they keep running). From another thread: returns once the
  // monitor thread has stopped. From inside a callback (the monitor thread): marks the
  // executor stopping and returns; the thread stops when the callback returns, and the
  // destructor (or a later Shutdown from another thread) waits for it.
  void Shutdown() override;

  const Resources& capacity() const { return capacity_; }
  const std::vector<int>& gpus() const { return gpus_; }

  struct Job;  // private to the .cc

 private:
  LocalExecutor(LocalExecutorOptions options, Resources capacity, std::vector<int> gpus,
                std::string gpu_source, std::string shim_path);

  struct Event {
    std::shared_ptr<JobCallback> callback;
    JobStatus status;
  };

  // The monitor thread. `abandoned`: set by a destructor running on this thread (from a
  // callback); the thread then returns without touching *this.
  void Run(std::shared_ptr<std::atomic<bool>> abandoned);
  void StopAndRelease();  // after the monitor thread ended
  void Wake();
  void HandleCancels(std::vector<Event>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FireTimers(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SampleMemory();
  void SignalJob(const Job& job, int sig);
  void ReapOne(Job& job, std::vector<Event>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(std::vector<Event>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Fits(const Resources& resources) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(Job& job, std::vector<Event>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartKill(Job& job, FailureReason reason, std::string message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(Job& job, JobStatus status, std::vector<Event>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Release(Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberEnded(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int PollTimeoutMs(int64_t now_ms) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const LocalExecutorOptions options_;
  Clock& clock_;
  const Resources capacity_;
  const std::vector<int> gpus_;
  const std::string gpu_source_;
  const std::string shim_path_;
  const std::string host_;
  const std::vector<std::string> base_env_;  // "K=V" of the server at Create
  int wake_fd_ = -1;                         // eventfd
  std::thread thread_;
  std::shared_ptr<std::atomic<bool>> abandoned_ = std::make_shared<std::atomic<bool>>(false);
  absl::Mutex join_mu_;  // one joiner at a time; before mu_

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);  // not ended
  std::deque<Job*> queue_ ABSL_GUARDED_BY(mu_);  // waiting for capacity, FIFO
  // No job of queue_ asks for less than this in any dimension (a lower bound: exact after a
  // Dispatch that walked the whole queue, lowered by each job queued since). When even this
  // does not fit, no queued job does, and Dispatch stops walking.
  Resources queued_floor_ ABSL_GUARDED_BY(mu_);
  // A job was queued or capacity was released since the last Dispatch: otherwise nothing in
  // the queue can fit now that did not then, and Dispatch skips the walk over it.
  bool dispatch_needed_ ABSL_GUARDED_BY(mu_) = false;
  // The jobs of jobs_ whose process was started (pid > 0): what the monitor loop polls,
  // times and samples each turn, without walking the (possibly long) queue in jobs_.
  absl::flat_hash_set<Job*> started_ ABSL_GUARDED_BY(mu_);
  // Callbacks to make, in order; the monitor thread makes them outside the lock.
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mu_);  // ids Cancel() was called for
  Resources in_use_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> gpu_busy_ ABSL_GUARDED_BY(mu_);  // parallel to gpus_
  absl::flat_hash_set<std::string> ended_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> ended_order_ ABSL_GUARDED_BY(mu_);
  int64_t next_sample_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

// The resident memory in whole MiB, rounded up ("613Mi"), or in bytes below 1 MiB: how
// out-of-memory messages state what a job used.
std::string FormatMemoryUsed(int64_t bytes);

}  // namespace cairn::compute
