#include "pipelines/testing/fake_executor.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace cairn::pipelines::testing {
namespace {
bool Ended(compute::JobState state) {
  return state != compute::JobState::kQueued && state != compute::JobState::kRunning;
}
}  // namespace

FakeExecutor::FakeExecutor(Clock& clock, std::string name)
    : clock_(clock), name_(std::move(name)), thread_([this] { Loop(); }) {}

FakeExecutor::~FakeExecutor() { Shutdown(); }

void FakeExecutor::set_handler(Handler handler) {
  std::lock_guard lock(mu_);
  handler_ = std::move(handler);
}

void FakeExecutor::set_on_submit(std::function<void(const compute::JobSpec&)> on_submit) {
  std::lock_guard lock(mu_);
  on_submit_ = std::move(on_submit);
}

void FakeExecutor::set_numbers_jobs(bool numbers_jobs) {
  std::lock_guard lock(mu_);
  numbers_jobs_ = numbers_jobs;
}

std::string FakeExecutor::NewJobId() {
  std::lock_guard lock(mu_);
  return absl::StrCat("fake:", next_id_++);
}

std::vector<compute::JobSpec> FakeExecutor::submitted() const {
  std::lock_guard lock(mu_);
  return submitted_;
}

int FakeExecutor::submit_count() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(submitted_.size());
}

int FakeExecutor::reattach_count() const {
  std::lock_guard lock(mu_);
  return reattaches_;
}

std::vector<std::string> FakeExecutor::running() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [id, job] : jobs_)
    if (job.status.state == compute::JobState::kRunning) out.push_back(id);
  return out;
}

absl::Status FakeExecutor::CheckSatisfiable(const compute::Resources& resources) const {
  return absl::OkStatus();
}

void FakeExecutor::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void FakeExecutor::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (stop_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void FakeExecutor::End(const std::string& job_id, compute::JobState state,
                       compute::FailureReason reason, int exit_code, const std::string& message) {
  compute::JobCallback callback;
  compute::JobStatus status;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || Ended(it->second.status.state)) return;
    Job& job = it->second;
    job.status.state = state;
    job.status.reason = reason;
    if (reason == compute::FailureReason::kExitCode || state == compute::JobState::kSucceeded)
      job.status.exit_code = exit_code;
    job.status.message = message;
    job.status.ended_ms = clock_.NowMillis();
    callback = job.callback;
    status = job.status;
  }
  if (callback) callback(status);
}

absl::StatusOr<std::string> FakeExecutor::Submit(const compute::JobSpec& spec,
                                                 compute::JobCallback callback) {
  std::function<void(const compute::JobSpec&)> on_submit;
  {
    std::lock_guard lock(mu_);
    on_submit = on_submit_;
  }
  if (on_submit) on_submit(spec);
  std::string id;
  {
    std::lock_guard lock(mu_);
    for (const auto& [other_id, other] : jobs_) {
      if (!spec.job_id.empty() && (other_id == spec.job_id || other.spec.job_id == spec.job_id))
        return absl::AlreadyExistsError(
            absl::StrCat("job ", spec.job_id, " was submitted already"));
    }
    id = spec.job_id.empty() ? absl::StrCat("fake:", next_id_++)
         : numbers_jobs_     ? absl::StrCat("n:", next_number_++)
                             : spec.job_id;
    Job job;
    job.spec = spec;
    job.callback = std::move(callback);
    job.status.job_id = id;
    job.status.host = "fakehost";
    job.status.queued_ms = clock_.NowMillis();
    jobs_[id] = std::move(job);
    submitted_.push_back(spec);
  }
  Post([this, id] {
    compute::JobCallback callback;
    compute::JobStatus status;
    compute::JobSpec spec;
    Handler handler;
    {
      std::lock_guard lock(mu_);
      Job& job = jobs_[id];
      callback = job.callback;
      status = job.status;
      spec = job.spec;
      handler = handler_;
    }
    callback(status);  // queued
    {
      std::lock_guard lock(mu_);
      Job& job = jobs_[id];
      if (Ended(job.status.state)) return;  // cancelled while queued
      job.status.state = compute::JobState::kRunning;
      job.status.started_ms = clock_.NowMillis();
      status = job.status;
    }
    callback(status);
    FakeOutcome outcome = handler ? handler(spec) : FakeOutcome{};
    if (!outcome.log.empty() && !spec.log_path.empty()) {
      std::ofstream(spec.log_path, std::ios::app) << outcome.log;
    }
    if (outcome.hang) return;
    if (outcome.reason != compute::FailureReason::kNone) {
      End(id, compute::JobState::kFailed, outcome.reason, outcome.exit_code,
          absl::StrCat("failed: ", static_cast<int>(outcome.reason)));
    } else if (outcome.exit_code == 0) {
      End(id, compute::JobState::kSucceeded, compute::FailureReason::kNone, 0, "");
    } else {
      End(id, compute::JobState::kFailed, compute::FailureReason::kExitCode, outcome.exit_code,
          absl::StrCat("exited with code ", outcome.exit_code));
    }
  });
  return id;
}

absl::Status FakeExecutor::Reattach(const std::string& job_id, const compute::JobSpec& spec,
                                    compute::JobCallback callback) {
  std::lock_guard lock(mu_);
  ++reattaches_;
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {  // a reserved id whose job has a number of its own: found by
    // the reserved id and the name it was submitted with, as the Slurm executor finds it
    it = std::find_if(jobs_.begin(), jobs_.end(), [&](const auto& entry) {
      return entry.second.spec.job_id == job_id && entry.second.spec.name == spec.name;
    });
  }
  if (it == jobs_.end()) {
    compute::JobStatus lost;
    lost.job_id = job_id;
    lost.state = compute::JobState::kFailed;
    lost.reason = compute::FailureReason::kLostNode;
    lost.message = "node lost: the process disappeared while the server was down";
    lost.ended_ms = clock_.NowMillis();
    tasks_.push_back([callback, lost] { callback(lost); });
    cv_.notify_one();
    return absl::OkStatus();
  }
  it->second.callback = callback;
  compute::JobStatus status = it->second.status;
  tasks_.push_back([callback, status] { callback(status); });
  cv_.notify_one();
  return absl::OkStatus();
}

absl::Status FakeExecutor::Cancel(const std::string& requested_id) {
  std::string job_id = requested_id;
  {
    std::lock_guard lock(mu_);
    if (!jobs_.count(job_id)) {  // the reserved id of a numbered job cancels it too
      auto it = std::find_if(jobs_.begin(), jobs_.end(), [&](const auto& entry) {
        return !requested_id.empty() && entry.second.spec.job_id == requested_id;
      });
      if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", requested_id));
      job_id = it->first;
    }
  }
  Post([this, job_id] {
    End(job_id, compute::JobState::kCancelled, compute::FailureReason::kCancelled, 0,
        "cancelled");
  });
  return absl::OkStatus();
}

void FakeExecutor::Finish(const std::string& job_id, int exit_code) {
  Post([this, job_id, exit_code] {
    if (exit_code == 0) {
      End(job_id, compute::JobState::kSucceeded, compute::FailureReason::kNone, 0, "");
    } else {
      End(job_id, compute::JobState::kFailed, compute::FailureReason::kExitCode, exit_code,
          absl::StrCat("exited with code ", exit_code));
    }
  });
}

void FakeExecutor::Forget(const std::string& job_id) {
  std::lock_guard lock(mu_);
  jobs_.erase(job_id);
}

compute::ExecutorStatus FakeExecutor::Status() const {
  compute::ExecutorStatus status;
  status.name = name_;
  std::lock_guard lock(mu_);
  for (const auto& [id, job] : jobs_) {
    if (job.status.state == compute::JobState::kRunning) ++status.running;
  }
  return status;
}

void FakeExecutor::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cairn::pipelines::testing
