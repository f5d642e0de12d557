#include "compute/local_executor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "compute/gpu_detect.h"
#include "compute/process_launch.h"
#include "compute/process_record.h"
#include "compute/process_table.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char** environ;

namespace cairn::compute {

struct LocalExecutor::Job {
  std::string id;
  std::string token;
  JobSpec spec;
  std::shared_ptr<JobCallback> callback;
  JobStatus status;
  bool reattached = false;
  pid_t pid = 0;  // the shim: leader of the job's session and process group
  int pidfd = -1;
  bool holds = false;  // counts in in_use_
  Resources held;
  std::vector<size_t> gpu_slots;  // indices into gpus_
  int64_t deadline_ms = 0;        // timeout; 0: none
  int64_t kill_at_ms = 0;         // SIGKILL escalation; 0: none
  FailureReason kill_reason = FailureReason::kNone;
  std::string kill_message;
  bool cancel_requested = false;
};

namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
// Longest poll while timers or memory limits are pending, so a FakeClock that jumps is
// noticed.
constexpr int kMaxTimerWaitMs = 200;

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev == nullptr ? absl::StrCat("signal ", sig) : absl::StrCat("SIG", abbrev);
}

int64_t MemTotalBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return 0;
}

std::string FindShim() {
  if (const char* env = std::getenv("CAIRN_JOB_SHIM"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    std::string beside = (self.parent_path() / "cairn-job-shim").string();
    if (IsExecutableFile(beside)) return beside;
  }
#ifdef CAIRN_JOB_SHIM_BUILD_PATH
  if (IsExecutableFile(CAIRN_JOB_SHIM_BUILD_PATH)) return CAIRN_JOB_SHIM_BUILD_PATH;
#endif
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    for (absl::string_view dir : absl::StrSplit(path, ':')) {
      if (dir.empty()) continue;
      std::string candidate = absl::StrCat(dir, "/cairn-job-shim");
      if (IsExecutableFile(candidate)) return candidate;
    }
  }
  return "";
}

std::string ErrnoText(int error) { return std::strerror(error); }

JobStatus LostStatus(JobStatus status, std::string why, int64_t now_ms) {
  status.state = JobState::kFailed;
  status.reason = FailureReason::kLostNode;
  status.message = absl::StrCat("node lost: ", why);
  status.ended_ms = now_ms;
  return status;
}

// The terminal status a finished job record describes.
JobStatus StatusFromRecord(JobStatus status, const JobRecord& record, const JobSpec& spec) {
  status.ended_ms = record.end_ms;
  if (status.started_ms == 0) status.started_ms = record.start_ms;
  status.state = JobState::kFailed;
  switch (record.state) {
    case JobRecord::State::kExited:
      status.exit_code = record.exit_code;
      if (record.exit_code == 0) {
        status.state = JobState::kSucceeded;
        status.reason = FailureReason::kNone;
      } else {
        status.reason = FailureReason::kExitCode;
      }
      status.message = absl::StrCat("exited with code ", record.exit_code);
      break;
    case JobRecord::State::kSignaled:
      status.signal = record.signal;
      status.reason = FailureReason::kSignal;
      status.message =
          absl::StrCat("killed by signal ", record.signal, " (", SignalName(record.signal), ")");
      break;
    case JobRecord::State::kLaunchError:
      status.reason = FailureReason::kLaunchError;
      status.message = absl::StrCat("cannot run '", spec.argv.empty() ? "" : spec.argv[0],
                                    "': ", ErrnoText(record.error));
      break;
    case JobRecord::State::kRunning:
      break;
  }
  return status;
}

}  // namespace

std::string FormatMemoryUsed(int64_t bytes) {
  if (bytes < kMiB) return FormatMemory(bytes);
  return absl::StrCat((bytes + kMiB - 1) / kMiB, "Mi");
}

absl::StatusOr<std::unique_ptr<LocalExecutor>> LocalExecutor::Create(LocalExecutorOptions options) {
  double cpus = options.cpus.value_or(std::max(1u, std::thread::hardware_concurrency()));
  int64_t memory = options.memory_bytes.has_value() ? *options.memory_bytes : MemTotalBytes();
  if (cpus < 0 || memory < 0) {
    return absl::InvalidArgumentError(absl::StrCat("local executor capacity: cpus (", cpus,
                                                   ") and memory (", memory,
                                                   ") must not be negative"));
  }
  std::vector<int> gpus;
  std::string gpu_source;
  if (options.gpus.has_value()) {
    gpus = *options.gpus;
    std::sort(gpus.begin(), gpus.end());
    gpus.erase(std::unique(gpus.begin(), gpus.end()), gpus.end());
    gpu_source = "configured";
  } else {
    GpuInventory inventory = DetectGpus();
    gpus = std::move(inventory.indices);
    gpu_source = std::move(inventory.source);
  }
  std::string shim = options.shim_path.empty() ? FindShim() : options.shim_path;
  if (shim.empty() || !IsExecutableFile(shim)) {
    return absl::FailedPreconditionError(
        absl::StrCat("local executor: cannot find the job launcher cairn-job-shim",
                     shim.empty() ? "" : absl::StrCat(" at ", shim),
                     "; install it next to the cairn binary (build target cairn-job-shim) or set "
                     "CAIRN_JOB_SHIM to its path"));
  }
  int self_pidfd = PidfdOpen(getpid());
  if (self_pidfd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("local executor: pidfd_open is not available (", ErrnoText(errno),
                     "); it needs Linux 5.3 or later"));
  }
  close(self_pidfd);
  Resources capacity;
  capacity.cpus = cpus;
  capacity.memory_bytes = memory;
  capacity.gpus = static_cast<int>(gpus.size());
  return std::unique_ptr<LocalExecutor>(new LocalExecutor(
      std::move(options), capacity, std::move(gpus), std::move(gpu_source), std::move(shim)));
}

namespace {

std::vector<std::string> SnapshotEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  return env;
}

std::string HostName(const std::string& configured) {
  if (!configured.empty()) return configured;
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "localhost";
  return buffer;
}

}  // namespace

LocalExecutor::LocalExecutor(LocalExecutorOptions options, Resources capacity,
                             std::vector<int> gpus, std::string gpu_source, std::string shim_path)
    : name_(options.name),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      capacity_(capacity),
      gpus_(std::move(gpus)),
      gpu_source_(std::move(gpu_source)),
      shim_path_(std::move(shim_path)),
      host_(HostName(options_.host)),
      base_env_(SnapshotEnvironment()) {
  in_use_.cpus = 0;
  gpu_busy_.assign(gpus_.size(), false);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  CAIRN_CHECK(wake_fd_ >= 0);
  thread_ = std::thread([this, abandoned = abandoned_] { Run(abandoned); });
}

LocalExecutor::~LocalExecutor() {
  if (thread_.joinable() && thread_.get_id() == std::this_thread::get_id()) {
    // Destroyed from inside one of its callbacks: the thread cannot be joined from here.
    // It leaves as soon as the callback returns, without touching *this (Run), so what it
    // used can be released now.
    abandoned_->store(true);
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.detach();
    StopAndRelease();
  } else {
    Shutdown();
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status LocalExecutor::CheckSatisfiable(const Resources& resources) const {
  if (resources.cpus < 0 || resources.memory_bytes < 0 || resources.gpus < 0 ||
      resources.timeout_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources: must not be negative (", FormatResources(resources), ")"));
  }
  if (resources.cpus > capacity_.cpus + 1e-9) {
    return absl::InvalidArgumentError(absl::StrCat(
        "asks for ", resources.cpus, " CPUs; the ", name_, " executor has ", capacity_.cpus,
        " (start the server with --local-cpus N, or ask for fewer)"));
  }
  if (resources.memory_bytes > capacity_.memory_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("asks for ", FormatMemory(resources.memory_bytes), " of memory; the ", name_,
                     " executor has ", FormatMemory(capacity_.memory_bytes),
                     " (start the server with --local-memory SIZE, or ask for less)"));
  }
  if (resources.gpus > capacity_.gpus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "asks for ", resources.gpus, " GPU", resources.gpus == 1 ? "" : "s", "; the ", name_,
        " executor has ", capacity_.gpus, " (", gpu_source_,
        "; start the server with --local-gpus 0,1 or CUDA_VISIBLE_DEVICES, or run it on Slurm)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LocalExecutor::Submit(const JobSpec& spec, JobCallback callback) {
  CAIRN_RETURN_IF_ERROR(CheckSatisfiable(spec.resources));
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job '", spec.name, "': argv must name a command"));
  }
  if (spec.log_path.empty() || spec.log_path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("job '", spec.name, "': log_path '",
                                                   spec.log_path, "' must be an absolute path"));
  }
  if (!spec.workdir.empty() && spec.workdir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("job '", spec.name, "': workdir '", spec.workdir,
                                                   "' must be an absolute path"));
  }
  if (!spec.job_id.empty() &&
      (!absl::StartsWith(spec.job_id, "local:") || spec.job_id.size() <= 6)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job '", spec.name, "': job id '", spec.job_id,
        "' is not a local executor job id (local:<token>, from NewJobId)"));
  }
  auto job = std::make_unique<Job>();
  job->token = spec.job_id.empty() ? NewUuidHex().substr(0, 20) : spec.job_id.substr(6);
  job->id = absl::StrCat("local:", job->token);
  job->spec = spec;
  job->callback = std::make_shared<JobCallback>(std::move(callback));
  job->status.job_id = job->id;
  job->status.state = JobState::kQueued;
  job->status.host = host_;
  job->status.queued_ms = clock_.NowMillis();
  std::string id = job->id;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the ", name_, " executor is shut down; job '", spec.name, "' was not accepted"));
    }
    if (jobs_.count(id) > 0 || ended_.contains(id)) {
      return absl::AlreadyExistsError(absl::StrCat("job ", id, " was submitted already"));
    }
    Job* raw = job.get();
    jobs_.emplace(id, std::move(job));
    events_.push_back(Event{raw->callback, raw->status});
    // Start it from this thread when nothing waits before it: one thread hop less between
    // Submit and the process running.
    if (queue_.empty() && Fits(raw->spec.resources)) {
      Launch(*raw, events_);
    } else {
      const Resources& asks = raw->spec.resources;
      if (queue_.empty()) {
        queued_floor_ = asks;
      } else {
        queued_floor_.cpus = std::min(queued_floor_.cpus, asks.cpus);
        queued_floor_.memory_bytes = std::min(queued_floor_.memory_bytes, asks.memory_bytes);
        queued_floor_.gpus = std::min(queued_floor_.gpus, asks.gpus);
      }
      queue_.push_back(raw);
      dispatch_needed_ = true;
    }
  }
  Wake();
  return id;
}

std::string LocalExecutor::NewJobId() {
  return absl::StrCat("local:", NewUuidHex().substr(0, 20));
}

absl::Status LocalExecutor::Reattach(const std::string& job_id, const JobSpec& spec,
                                     JobCallback callback) {
  if (!absl::StartsWith(job_id, "local:") || job_id.size() <= 6) {
    return absl::InvalidArgumentError(
        absl::StrCat("job id '", job_id, "' is not a local executor job id (local:<token>)"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::FailedPreconditionError(absl::StrCat("the ", name_, " executor is shut down"));
    }
    if (jobs_.count(job_id) > 0) {
      return absl::AlreadyExistsError(absl::StrCat("job ", job_id, " is already followed"));
    }
  }
  auto job = std::make_unique<Job>();
  job->id = job_id;
  job->token = job_id.substr(6);
  job->spec = spec;
  job->callback = std::make_shared<JobCallback>(std::move(callback));
  job->reattached = true;
  job->status.job_id = job_id;
  job->status.host = host_;
  int64_t now = clock_.NowMillis();
  job->status.queued_ms = now;

  const std::string record_path = JobRecordPath(spec.log_path);
  absl::StatusOr<JobRecord> record = ReadJobRecord(record_path);
  // The shim writes its record about a millisecond after it was spawned; the server opens
  // the log just before spawning. A log without a record may be a job whose server died in
  // that millisecond: give its shim a moment rather than report it lost (and see it run
  // twice).
  if (!record.ok() && record.status().code() == absl::StatusCode::kNotFound &&
      access(spec.log_path.c_str(), F_OK) == 0) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!record.ok() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      record = ReadJobRecord(record_path);
    }
  }
  std::optional<JobStatus> pending_terminal;  // the job ended already
  // Why the previous server was killing it, if it was.
  std::optional<KillNote> kill_note = ReadKillNote(KillNotePath(spec.log_path), job->token);
  std::optional<FailureReason> kill_reason;
  if (kill_note.has_value()) kill_reason = ParseFailureReason(kill_note->reason);
  if (!record.ok() || record->token != job->token) {
    pending_terminal = LostStatus(
        job->status,
        !record.ok() && record.status().code() == absl::StatusCode::kNotFound
            ? absl::StrCat("the job had not started when the server stopped (no job record at ",
                           record_path, ")")
            : absl::StrCat("the job record at ", record_path,
                           record.ok()
                               ? " belongs to another job"
                               : absl::StrCat(" is unreadable: ", record.status().message())),
        now);
  } else if (record->state == JobRecord::State::kRunning) {
    // Shims record starttime=0 (no /proc read per job): the token in the shim's command line
    // names the process. Records of older shims carry its start time.
    auto alive = [&record] {
      return record->starttime != 0 ? ProcessAlive(record->pid, record->starttime)
                                    : JobShimAlive(record->pid, record->token);
    };
    int pidfd = -1;
    if (alive()) {
      pidfd = PidfdOpen(record->pid);
      // The pid may have been reused between the check and pidfd_open.
      if (pidfd >= 0 && !alive()) {
        close(pidfd);
        pidfd = -1;
      }
    }
    if (pidfd >= 0) {
      job->pid = record->pid;
      job->pidfd = pidfd;
      job->status.state = JobState::kRunning;
      job->status.queued_ms = record->start_ms;
      job->status.started_ms = record->start_ms;
      job->status.gpus = record->gpus;
      if (spec.resources.timeout_ms > 0) {
        job->deadline_ms = record->start_ms + spec.resources.timeout_ms;
      }
    } else {
      // Ended meanwhile. When it was our own child (an executor of this process was shut
      // down), reap it; its record may have been completed just now.
      int ignored;
      waitpid(record->pid, &ignored, WNOHANG);
      absl::StatusOr<JobRecord> again = ReadJobRecord(record_path);
      if (again.ok() && again->token == job->token && again->state != JobRecord::State::kRunning) {
        pending_terminal = StatusFromRecord(job->status, *again, spec);
      } else {
        job->status.started_ms = record->start_ms;
        pending_terminal =
            LostStatus(job->status, "the process disappeared while the server was down", now);
      }
    }
  } else {
    pending_terminal = StatusFromRecord(job->status, *record, spec);
  }

  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || jobs_.count(job_id) > 0) {
      if (job->pidfd >= 0) close(job->pidfd);
      return stopping_
                 ? absl::FailedPreconditionError(
                       absl::StrCat("the ", name_, " executor is shut down"))
                 : absl::AlreadyExistsError(absl::StrCat("job ", job_id, " is already followed"));
    }
    Job* raw = job.get();
    if (raw->pid > 0) {
      // A live job keeps what it had: its CPUs, memory and GPUs count as in use.
      raw->holds = true;
      raw->held = spec.resources;
      in_use_.cpus += raw->held.cpus;
      in_use_.memory_bytes += raw->held.memory_bytes;
      for (int gpu : raw->status.gpus) {
        auto it = std::find(gpus_.begin(), gpus_.end(), gpu);
        if (it == gpus_.end()) continue;
        size_t slot = static_cast<size_t>(it - gpus_.begin());
        if (!gpu_busy_[slot]) {
          gpu_busy_[slot] = true;
          raw->gpu_slots.push_back(slot);
          ++in_use_.gpus;
        }
      }
    }
    jobs_.emplace(job_id, std::move(job));
    if (raw->pid > 0) started_.insert(raw);
    if (pending_terminal.has_value()) {
      if (kill_reason.has_value()) {  // as when this executor kills: the reason stands
        pending_terminal->state =
            *kill_reason == FailureReason::kCancelled ? JobState::kCancelled : JobState::kFailed;
        pending_terminal->reason = *kill_reason;
        pending_terminal->message = kill_note->message;
      }
      Finish(*raw, *std::move(pending_terminal), events_);
    } else {
      events_.push_back(Event{raw->callback, raw->status});
      // The previous server had begun to kill it: finish the job (signal, grace, SIGKILL).
      if (kill_reason.has_value()) StartKill(*raw, *kill_reason, kill_note->message);
    }
  }
  Wake();
  return absl::OkStatus();
}

absl::Status LocalExecutor::Cancel(const std::string& job_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      if (ended_.contains(job_id)) return absl::OkStatus();
      return absl::NotFoundError(absl::StrCat("no job ", job_id, " on the ", name_,
                                              " executor (Reattach it after a restart)"));
    }
    if (it->second->cancel_requested) return absl::OkStatus();
    it->second->cancel_requested = true;
    cancels_.push_back(job_id);
  }
  Wake();
  return absl::OkStatus();
}

ExecutorStatus LocalExecutor::Status() const {
  ExecutorStatus status;
  status.name = name_;
  status.capacity = capacity_;
  status.capacity.timeout_ms = 0;
  status.detail =
      absl::StrCat("host ", host_, "; GPUs ", gpus_.empty() ? "none" : FormatGpuList(gpus_), " (",
                   gpu_source_, ")");
  absl::MutexLock lock(&mu_);
  status.in_use = in_use_;
  status.in_use.timeout_ms = 0;
  if (status.in_use.cpus < 1e-9) status.in_use.cpus = 0;
  for (const auto& [id, job] : jobs_) {
    if (job->status.state == JobState::kRunning) {
      ++status.running;
      status.jobs.push_back(job->status);
    }
  }
  for (const Job* job : queue_) status.jobs.push_back(job->status);
  status.queued = static_cast<int>(queue_.size());
  return status;
}

void LocalExecutor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopping_ = true;
  }
  Wake();
  // Called from a callback: the thread ends after the callback returns (Run checks
  // stopping_ first thing); the destructor or a later Shutdown joins it and releases.
  if (thread_.get_id() == std::this_thread::get_id()) return;
  absl::MutexLock join_lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
  StopAndRelease();
}

void LocalExecutor::StopAndRelease() {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  for (auto& [id, job] : jobs_) {
    if (job->pidfd >= 0) close(job->pidfd);
  }
  started_.clear();
  jobs_.clear();
  queue_.clear();
  cancels_.clear();
  events_.clear();
  stopped_ = true;
}

void LocalExecutor::Wake() {
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void LocalExecutor::Run(std::shared_ptr<std::atomic<bool>> abandoned) {
  std::vector<pollfd> fds;
  std::vector<Job*> polled;  // parallel to fds[1..]
  std::vector<Event> events;
  while (true) {
    bool sample = false;
    int timeout_ms = -1;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      // Exits seen by the last poll. Only this thread erases jobs, so `polled` is valid.
      for (size_t i = 0; i < polled.size(); ++i) {
        if (fds[i + 1].revents != 0) ReapOne(*polled[i], events_);
      }
      HandleCancels(events_);
      int64_t now = clock_.NowMillis();
      FireTimers(now);
      Dispatch(events_);
      bool memory_limits = false;
      for (const Job* job : started_) {
        if (job->spec.resources.memory_bytes > 0) memory_limits = true;
      }
      if (memory_limits && now >= next_sample_ms_) {
        sample = true;
        next_sample_ms_ = now + options_.memory_sample_interval_ms;
      }
      if (!memory_limits) next_sample_ms_ = 0;
      timeout_ms = PollTimeoutMs(now);
      fds.clear();
      polled.clear();
      fds.push_back(pollfd{wake_fd_, POLLIN, 0});
      for (Job* job : started_) {
        if (job->pidfd < 0) continue;
        fds.push_back(pollfd{job->pidfd, POLLIN, 0});
        polled.push_back(job);
      }
      events.swap(events_);
    }
    for (Event& event : events) {
      (*event.callback)(event.status);
      if (abandoned->load()) return;  // the callback destroyed the executor
    }
    events.clear();
    if (sample) {
      SampleMemory();
      continue;  // act on the sample at once
    }
    int ready = poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      for (pollfd& fd : fds) fd.revents = 0;
      continue;
    }
    if (fds[0].revents != 0) {
      uint64_t count;
      ssize_t ignored = read(wake_fd_, &count, sizeof(count));
      (void)ignored;
    }
  }
}

void LocalExecutor::HandleCancels(std::vector<Event>& events) {
  for (const std::string& id : cancels_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    Job& job = *it->second;
    if (job.pid > 0) {
      StartKill(job, FailureReason::kCancelled, "cancelled");
      continue;
    }
    JobStatus status = job.status;
    status.state = JobState::kCancelled;
    status.reason = FailureReason::kCancelled;
    status.message = "cancelled before it started";
    status.ended_ms = clock_.NowMillis();
    Finish(job, std::move(status), events);
  }
  cancels_.clear();
}

void LocalExecutor::ReapOne(Job& job, std::vector<Event>& events) {
  // The pidfd is readable: the shim has exited. While it is our unreaped child (a zombie)
  // its pid cannot be reused, so whatever the job left in its process group can be killed
  // safely now, before the reap. (A re-attached job's shim is reaped by init at any moment:
  // its leftovers are not touched, rather than risk signalling a reused pid.)
  siginfo_t info{};
  bool own_child =
      waitid(P_PID, static_cast<id_t>(job.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
      info.si_pid == job.pid;
  if (own_child) kill(-job.pid, SIGKILL);
  int wait_status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(job.pid, &wait_status, WNOHANG);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == 0) return;  // not ended yet
  bool have_status = reaped == job.pid;

  JobStatus status = job.status;
  status.ended_ms = clock_.NowMillis();
  std::optional<JobRecord> record;
  if (!have_status || (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 127)) {
    absl::StatusOr<JobRecord> read = ReadJobRecord(JobRecordPath(job.spec.log_path));
    if (read.ok() && read->token == job.token && read->state != JobRecord::State::kRunning) {
      record = *std::move(read);
    }
  }
  if (have_status) {
    if (WIFEXITED(wait_status)) status.exit_code = WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) status.signal = WTERMSIG(wait_status);
  } else if (record.has_value()) {
    if (record->state == JobRecord::State::kExited) status.exit_code = record->exit_code;
    if (record->state == JobRecord::State::kSignaled) status.signal = record->signal;
  }

  if (job.kill_reason != FailureReason::kNone) {
    status.state =
        job.kill_reason == FailureReason::kCancelled ? JobState::kCancelled : JobState::kFailed;
    status.reason = job.kill_reason;
    status.message = job.kill_message;
  } else if (record.has_value() && record->state == JobRecord::State::kLaunchError) {
    status = StatusFromRecord(std::move(status), *record, job.spec);
    status.ended_ms = clock_.NowMillis();
  } else if (status.exit_code.has_value()) {
    status.state = *status.exit_code == 0 ? JobState::kSucceeded : JobState::kFailed;
    status.reason = *status.exit_code == 0 ? FailureReason::kNone : FailureReason::kExitCode;
    status.message = absl::StrCat("exited with code ", *status.exit_code);
  } else if (status.signal.has_value()) {
    status.state = JobState::kFailed;
    status.reason = FailureReason::kSignal;
    status.message =
        absl::StrCat("killed by signal ", *status.signal, " (", SignalName(*status.signal), ")");
  } else {
    status =
        LostStatus(std::move(status), "the process disappeared without recording its exit status",
                   clock_.NowMillis());
  }
  Finish(job, std::move(status), events);
}

void LocalExecutor::FireTimers(int64_t now_ms) {
  for (Job* job : started_) {
    if (job->deadline_ms > 0 && now_ms >= job->deadline_ms &&
        job->kill_reason == FailureReason::kNone) {
      StartKill(*job, FailureReason::kTimeout,
                absl::StrCat("exceeded its time limit of ",
                             FormatDuration(job->spec.resources.timeout_ms)));
    }
    if (job->kill_at_ms > 0 && now_ms >= job->kill_at_ms) {
      SignalJob(*job, SIGKILL);
      job->kill_at_ms = 0;
    }
  }
}

void LocalExecutor::SampleMemory() {
  std::vector<std::pair<pid_t, std::string>> watched;  // session, job id
  {
    absl::MutexLock lock(&mu_);
    for (const Job* job : started_) {
      if (job->spec.resources.memory_bytes > 0 && job->kill_reason == FailureReason::kNone) {
        watched.emplace_back(job->pid, job->id);
      }
    }
  }
  if (watched.empty()) return;
  std::vector<pid_t> sessions;
  for (const auto& [session, id] : watched) sessions.push_back(session);
  std::sort(sessions.begin(), sessions.end());
  std::map<pid_t, int64_t> rss;
  for (const ProcessInfo& process : ProcessesInSessions(sessions)) {
    rss[process.session] += process.rss_bytes;
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [session, id] : watched) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second->pid != session) continue;
    Job& job = *it->second;
    int64_t used = rss[session];
    int64_t limit = job.spec.resources.memory_bytes;
    if (used > limit && job.kill_reason == FailureReason::kNone) {
      StartKill(job, FailureReason::kOutOfMemory,
                absl::StrCat("out of memory: used ", FormatMemoryUsed(used), ", limit ",
                             FormatMemoryUsed(limit)));
    }
  }
}

void LocalExecutor::SignalJob(const Job& job, int sig) {
  kill(-job.pid, sig);
  // Processes of the job that moved to a process group of their own are still in its session.
  for (const ProcessInfo& process : ProcessesInSessions({job.pid})) {
    if (process.pgrp != job.pid) kill(process.pid, sig);
  }
}

void LocalExecutor::StartKill(Job& job, FailureReason reason, std::string message) {
  if (job.kill_reason != FailureReason::kNone) return;  // the first reason stands
  job.kill_reason = reason;
  job.kill_message = std::move(message);
  WriteKillNote(KillNotePath(job.spec.log_path), job.token,
                KillNote{std::string(FailureReasonName(reason)), job.kill_message});
  SignalJob(job, SIGTERM);
  job.kill_at_ms = clock_.NowMillis() + std::max<int64_t>(options_.kill_grace_ms, 1);
}

bool LocalExecutor::Fits(const Resources& resources) const {
  if (in_use_.cpus + resources.cpus > capacity_.cpus + 1e-9) return false;
  if (in_use_.memory_bytes + resources.memory_bytes > capacity_.memory_bytes) return false;
  return in_use_.gpus + resources.gpus <= capacity_.gpus;
}

void LocalExecutor::Dispatch(std::vector<Event>& events) {
  if (!dispatch_needed_) return;
  dispatch_needed_ = false;
  int64_t now = clock_.NowMillis();
  bool head_seen = false;
  // The smallest request of the jobs left queued, when the walk sees them all. Until then
  // queued_floor_ stays a lower bound, and once it no longer fits (the freed CPUs are taken
  // again), the walk ends: a fan-out of a thousand 1-CPU steps starts one job per ended job
  // instead of walking the whole queue each time.
  Resources floor{.cpus = std::numeric_limits<double>::infinity(),
                  .memory_bytes = std::numeric_limits<int64_t>::max(),
                  .gpus = std::numeric_limits<int>::max()};
  bool walked_all = true;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!Fits(queued_floor_)) {
      walked_all = false;
      break;
    }
    Job* job = *it;
    const Resources& asks = job->spec.resources;
    if (Fits(asks)) {
      it = queue_.erase(it);
      Launch(*job, events);
      continue;
    }
    floor.cpus = std::min(floor.cpus, asks.cpus);
    floor.memory_bytes = std::min(floor.memory_bytes, asks.memory_bytes);
    floor.gpus = std::min(floor.gpus, asks.gpus);
    if (!head_seen) {
      head_seen = true;
      // The oldest job that does not fit: others may pass it only for so long.
      if (now - job->status.queued_ms >= options_.max_backfill_wait_ms) {
        walked_all = false;
        break;
      }
    }
    ++it;
  }
  if (walked_all) queued_floor_ = floor;
}

void LocalExecutor::Launch(Job& job, std::vector<Event>& events) {
  const JobSpec& spec = job.spec;
  std::vector<int> gpus;
  std::vector<size_t> slots;
  for (size_t slot = 0; slot < gpus_.size() && static_cast<int>(slots.size()) < spec.resources.gpus;
       ++slot) {
    if (!gpu_busy_[slot]) {
      slots.push_back(slot);
      gpus.push_back(gpus_[slot]);
    }
  }
  // The server's environment, then spec.env, then what the executor decides.
  std::map<std::string, std::string> overrides = spec.env;
  overrides["CUDA_VISIBLE_DEVICES"] = FormatGpuList(gpus);
  overrides["CAIRN_JOB_ID"] = job.id;
  // A record left by an earlier job with the same log is truncated by the shim's first write
  // and, until then, told apart by its token; no unlink in the hot path.
  absl::StatusOr<pid_t> launched =
      LaunchProcess(shim_path_, JobRecordPath(spec.log_path), job.token, spec,
                    MergeEnvironment(base_env_, overrides));
  if (!launched.ok()) {
    JobStatus status = job.status;
    status.state = JobState::kFailed;
    status.reason = FailureReason::kLaunchError;
    status.message = std::string(launched.status().message());
    status.ended_ms = clock_.NowMillis();
    return Finish(job, std::move(status), events);
  }
  pid_t pid = *launched;
  job.pid = pid;
  job.pidfd = PidfdOpen(pid);
  if (job.pidfd < 0) {
    // Cannot happen for a child we have not reaped; if it does, do not lose the job.
    Log(LogLevel::kError, absl::StrCat("pidfd_open(", pid, ") failed: ", ErrnoText(errno)));
  }
  started_.insert(&job);
  job.holds = true;
  job.held = spec.resources;
  job.gpu_slots = slots;
  in_use_.cpus += job.held.cpus;
  in_use_.memory_bytes += job.held.memory_bytes;
  in_use_.gpus += static_cast<int>(slots.size());
  for (size_t slot : slots) gpu_busy_[slot] = true;
  job.status.state = JobState::kRunning;
  job.status.started_ms = clock_.NowMillis();
  job.status.gpus = gpus;
  if (spec.resources.timeout_ms > 0) {
    job.deadline_ms = job.status.started_ms + spec.resources.timeout_ms;
  }
  events.push_back(Event{job.callback, job.status});
}

void LocalExecutor::Release(Job& job) {
  if (!job.holds) return;
  job.holds = false;
  dispatch_needed_ = true;
  in_use_.cpus -= job.held.cpus;
  in_use_.memory_bytes -= job.held.memory_bytes;
  for (size_t slot : job.gpu_slots) {
    gpu_busy_[slot] = false;
    --in_use_.gpus;
  }
  job.gpu_slots.clear();
  bool any_running = false;
  for (const Job* other : started_) any_running |= other->holds;
  if (!any_running) in_use_ = Resources{.cpus = 0};
}

void LocalExecutor::Finish(Job& job, JobStatus status, std::vector<Event>& events) {
  Release(job);
  if (job.pidfd >= 0) close(job.pidfd);
  job.pidfd = -1;
  auto queued = std::find(queue_.begin(), queue_.end(), &job);
  if (queued != queue_.end()) {
    // A job that never started held nothing to release, but it may have blocked the queue.
    queue_.erase(queued);
    dispatch_needed_ = true;
  }
  events.push_back(Event{job.callback, std::move(status)});
  std::string id = job.id;
  RememberEnded(id);
  started_.erase(&job);
  jobs_.erase(id);  // destroys `job`
}

void LocalExecutor::RememberEnded(const std::string& id) {
  if (options_.remembered_ended_jobs == 0) return;
  if (!ended_.insert(id).second) return;
  ended_order_.push_back(id);
  while (ended_order_.size() > options_.remembered_ended_jobs) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
}

int LocalExecutor::PollTimeoutMs(int64_t now_ms) const {
  int64_t wait = -1;
  auto consider = [&](int64_t at) {
    int64_t delta = std::max<int64_t>(0, at - now_ms);
    wait = wait < 0 ? delta : std::min(wait, delta);
  };
  for (const Job* job : started_) {
    if (job->deadline_ms > 0 && job->kill_reason == FailureReason::kNone) {
      consider(job->deadline_ms);
    }
    if (job->kill_at_ms > 0) consider(job->kill_at_ms);
    if (job->spec.resources.memory_bytes > 0 && job->kill_reason == FailureReason::kNone) {
      consider(next_sample_ms_);
    }
  }
  if (wait < 0) return -1;
  return static_cast<int>(std::min<int64_t>(wait, kMaxTimerWaitMs));
}

}  // namespace cairn::compute
