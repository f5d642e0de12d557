#pragma once
// Test-only: an in-process executor for engine unit tests. It runs no processes: each
// submitted job is handed to a test-supplied handler on the executor's own thread, which
// says how the job ends (and may write files, e.g. the step's outputs, and log lines).
// Jobs whose handler asks to hang stay running until Cancel or Finish. Callbacks are
// delivered in order from the executor's thread, as the Executor contract requires.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "compute/executor.h"

namespace cairn::pipelines::testing {

struct FakeOutcome {
  int exit_code = 0;
  bool hang = false;  // stays running until Cancel / Finish
  compute::FailureReason reason = compute::FailureReason::kNone;  // kNone: from exit_code
  std::string log;    // appended to the job's log file
};

class FakeExecutor final : public compute::Executor {
 public:
  using Handler = std::function<FakeOutcome(const compute::JobSpec&)>;
  explicit FakeExecutor(Clock& clock, std::string name = "local");
  ~FakeExecutor() override;

  void set_handler(Handler handler);
  // Called inside Submit, on the submitting thread, before the job is accepted (tests check
  // what the engine stored before it submitted).
  void set_on_submit(std::function<void(const compute::JobSpec&)> on_submit);
  // As Slurm numbers jobs: Submit of a spec with a reserved id returns an id of its own
  // ("n:N", which the job's reports carry); Reattach by the reserved id finds that job when
  // the spec has the name it was submitted with (else: lost), and Cancel takes either id.
  void set_numbers_jobs(bool numbers_jobs);
  // Every job submitted so far, in order.
  std::vector<compute::JobSpec> submitted() const;
  int submit_count() const;
  int reattach_count() const;
  // Ends a hanging job with `exit_code`.
  void Finish(const std::string& job_id, int exit_code);
  // Forgets a job, as if its process vanished while the server was down.
  void Forget(const std::string& job_id);
  // Ids of jobs that are running (hanging) now.
  std::vector<std::string> running() const;

  std::string_view name() const override { return name_; }
  absl::Status CheckSatisfiable(const compute::Resources& resources) const override;
  absl::StatusOr<std::string> Submit(const compute::JobSpec& spec,
                                     compute::JobCallback callback) override;
  std::string NewJobId() override;  // "fake:N", as Submit picks without one
  absl::Status Reattach(const std::string& job_id, const compute::JobSpec& spec,
                        compute::JobCallback callback) override;
  absl::Status Cancel(const std::string& job_id) override;
  compute::ExecutorStatus Status() const override;
  void Shutdown() override;

 private:
  struct Job {
    compute::JobSpec spec;
    compute::JobCallback callback;
    compute::JobStatus status;
  };
  void Post(std::function<void()> task);
  void Loop();
  void End(const std::string& job_id, compute::JobState state, compute::FailureReason reason,
           int exit_code, const std::string& message);

  Clock& clock_;
  std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  Handler handler_;
  std::function<void(const compute::JobSpec&)> on_submit_;
  std::map<std::string, Job> jobs_;
  std::vector<compute::JobSpec> submitted_;
  int next_id_ = 1;
  bool numbers_jobs_ = false;
  int next_number_ = 1;
  int reattaches_ = 0;
  std::thread thread_;
};

}  // namespace cairn::pipelines::testing
