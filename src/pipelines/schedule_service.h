#pragma once
// Cron schedules of pipelines (`schedule: {cron: "0 3 * * *", catchup: latest}`, UTC):
// starts a run (trigger "schedule", trigger_detail = the scheduled time as ISO-8601 UTC,
// "2024-05-01T03:00:00.000Z") at each fire time, and after downtime applies the
// pipeline's catch-up policy to the fire times that passed while the server was down:
//   none    the missed ones are skipped; only a fire time at most `on_time_grace_ms` old
//           runs (a server that is up runs every fire time within milliseconds);
//   latest  one run, for the most recent missed fire time (the default);
//   all     one run per missed fire time, oldest first, at most `max_catchup_runs` (the
//           most recent ones; a warning names the skipped range).
//
// What was handled is kept per pipeline in table pipeline_schedules (migrations component
// "pipeline_schedules", SQLite or PostgreSQL), so a restart neither misses nor repeats a
// fire time. Each fire time is recorded right after its run was started: only a crash
// between those two steps can repeat one run. A pipeline seen with a schedule for the
// first time, or whose cron text changed, starts from "now" (nothing before is caught up).
// A pipeline whose schedule disappears (removed, or no longer scheduled) is forgotten.
//
// Driven by a Clock: Tick(now_ms) does one evaluation (tests call it with a FakeClock);
// Start() runs a thread that ticks, then sleeps until the next fire time, at most
// `max_sleep_ms`, or until Refresh() / Shutdown(). Thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "pipelines/cron.h"
#include "pipelines/pipeline_spec.h"
#include "pipelines/run_callbacks.h"
#include "pipelines/schedule_state_table.h"

namespace cairn::storage {
class Database;
}

namespace cairn::pipelines {

struct ScheduleOptions {
  int max_catchup_runs = 100;         // catchup all: at most this many runs per catch-up
  int64_t on_time_grace_ms = 60'000;  // catchup none: a fire time this late still runs
  int64_t max_sleep_ms = 60'000;      // the thread re-reads the pipelines at least this often
  int64_t retry_ms = 30'000;          // after Unavailable from the list or start callback
};

// What `describe` shows about a pipeline's schedule.
struct ScheduleState {
  std::string pipeline;
  std::string cron;
  int64_t handled_until_ms = 0;  // every fire time at or before this was handled
  int64_t last_fire_ms = 0;      // the last fire time a run was started for; 0: none yet
  std::string last_run_id;
  std::string last_error;        // why the last start failed; empty when it did not
  std::optional<int64_t> next_fire_ms;
};

// CatchupName (pipelines/catchup.h) names the policies: "none" | "latest" | "all"; PlanCatchup
// (the same file) applies them, for pipelines and monitors alike.

class ScheduleService {
 public:
  // Applies the migrations and loads the table. `db` and `clock` outlive the service.
  static absl::StatusOr<std::unique_ptr<ScheduleService>> Open(storage::Database& db,
                                                               Clock& clock,
                                                               ListPipelinesFn list,
                                                               StartRunFn start,
                                                               ScheduleOptions options = {});
  ~ScheduleService();  // Shutdown()

  // One evaluation at `now_ms`: lists the pipelines, starts the runs that are due, records
  // them. Returns the list callback's or the database's error (the run starts' errors are
  // logged and kept in ScheduleState::last_error). Serialized with itself.
  absl::Status Tick(int64_t now_ms);

  // Starts the background thread (once).
  void Start();
  // Pipelines changed (apply): the thread re-evaluates now instead of at the next fire time.
  void Refresh();
  // Stops the thread; Tick still works. Idempotent.
  void Shutdown();

  // The schedules as of the last Tick, by pipeline name.
  std::vector<ScheduleState> States();
  std::optional<ScheduleState> State(std::string_view pipeline);
  // When the thread wakes next: the earliest pending fire time (or retry) after the last
  // Tick; nullopt when no pipeline is scheduled.
  std::optional<int64_t> NextWakeMs();

 private:
  using Row = StoredScheduleState;  // a pipeline's row of pipeline_schedules
  ScheduleService(Clock& clock, ScheduleStateTable table, ListPipelinesFn list,
                  StartRunFn start, ScheduleOptions options);
  absl::Status Load();
  absl::Status Save(const std::string& pipeline, const Row& row);
  // Handles one pipeline's due fire times; returns Unavailable when a start must be retried.
  absl::Status Evaluate(const std::string& pipeline, const CronSchedule& cron, Catchup catchup,
                        int64_t now_ms, Row& row) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  absl::StatusOr<const CronSchedule*> Cron(const std::string& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  void Loop();

  Clock& clock_;
  const ScheduleStateTable table_;  // pipeline_schedules
  ListPipelinesFn list_;
  StartRunFn start_;
  const ScheduleOptions options_;

  absl::Mutex tick_mu_;  // taken before mu_, never after
  std::map<std::string, Row> rows_ ABSL_GUARDED_BY(tick_mu_);
  std::map<std::string, absl::StatusOr<CronSchedule>> crons_ ABSL_GUARDED_BY(tick_mu_);
  std::optional<int64_t> next_wake_ms_ ABSL_GUARDED_BY(tick_mu_);

  absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::pipelines
