#pragma once
// The server's monitors: the registry (apply, list), the runner (runs, reports) and when
// monitors run — on their cron schedule (pipelines/cron.h, UTC, on a Clock) and after new
// data of their target view's source (`trigger: {on: source_ingested}`, kEventSourceIngested
// on the EventBus) — plus RunNow for the API and the CLI.
//
// Scheduled and triggered runs happen on the service's own thread (the bus handler only
// queues them), one at a time. What each schedule has handled is kept per monitor in table
// monitor_schedules (migrations component "monitor_schedules", SQLite or PostgreSQL), so
// after downtime the monitor's catch-up policy (`schedule: {cron, catchup}`, the same
// none | latest | all as pipelines', pipelines/catchup.h) decides which missed fire times
// run: latest (the default) one run for the most recent, all one per missed fire time
// (oldest first, at most max_catchup_runs), none only the latest fire time, when it is at
// most on_time_grace_ms old or came after the service started (late behind other
// monitors' runs, not missed). Each fire time is recorded right after its run; a monitor seen
// with a schedule for the first time, or whose cron text changed, starts from "now"; a
// monitor no longer scheduled is forgotten. Tick(now_ms) does one evaluation (tests drive
// it with a FakeClock); Start() runs the thread. Thread-safe.

#include <cstdint>
#include <deque>
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
#include "monitoring/monitors/monitor_registry.h"
#include "monitoring/monitors/monitor_runner.h"
#include "pipelines/catchup.h"
#include "pipelines/cron.h"
#include "pipelines/schedule_state_table.h"

namespace cairn {
class EventBus;
}  // namespace cairn
namespace cairn::storage {
class Database;
}  // namespace cairn::storage

namespace cairn::monitoring {

struct MonitorServiceOptions {
  int64_t max_sleep_ms = 60'000;      // the thread re-reads the monitors at least this often
  int max_catchup_runs = 100;         // catchup all: at most this many runs per catch-up
  int64_t on_time_grace_ms = 60'000;  // catchup none: a fire time this late still runs
};

// What `describe` shows about a monitor's schedule.
// The stored part (cron, handled_until_ms, last_fire_ms, last_run_id, last_error) is what
// table monitor_schedules keeps (pipelines/schedule_state_table.h).
struct MonitorScheduleState : pipelines::StoredScheduleState {
  pipelines::Catchup catchup = pipelines::Catchup::kLatest;
  std::optional<int64_t> next_fire_ms;
};

class MonitorService {
 public:
  // Opens the registry and the runner on `db` (migrations applied) and subscribes to
  // source_ingested on `events` (may be null: no triggers). Everything outlives the service.
  static absl::StatusOr<std::unique_ptr<MonitorService>> Open(
      storage::Database& db, Clock& clock, EventBus* events, MonitorIo io,
      MonitorServiceOptions options = {});
  ~MonitorService();  // Shutdown()

  MonitorRegistry& registry() { return *registry_; }
  MonitorRunner& runner() { return *runner_; }

  // Applies through the registry, then re-reads the schedules and triggers.
  absl::StatusOr<std::vector<MonitorChange>> Apply(const std::vector<MonitorSpec>& specs,
                                                   bool dry_run, bool prune);
  // Runs the latest version of `name` now, on the caller's thread. NotFound names the
  // monitor; FailedPrecondition when it was removed.
  absl::StatusOr<MonitorRun> RunNow(std::string_view name, std::string_view trigger = "manual",
                                    std::string_view detail = "");

  // One evaluation at `now_ms`: re-reads the monitors when they changed, runs the monitors
  // whose fire time has come and those queued by source_ingested events. Serialized with
  // itself.
  absl::Status Tick(int64_t now_ms);
  // Queues the monitors triggered by new rows of `source` (what the bus handler calls).
  void OnSourceIngested(const std::string& source);
  std::optional<MonitorScheduleState> ScheduleState(std::string_view monitor);

  void Start();     // the background thread (once)
  void Refresh();   // monitors changed: re-read them now
  void Shutdown();  // unsubscribes and stops the thread; idempotent

 private:
  struct Schedule {
    std::string cron_text;
    std::shared_ptr<const pipelines::CronSchedule> cron;
    MonitorScheduleState state;
  };
  MonitorService(storage::Database& db, Clock& clock, EventBus* events, MonitorIo io,
                 MonitorServiceOptions options);
  // Re-reads the monitors and the stored schedule states: a schedule whose cron text is
  // unchanged continues from what it handled (in memory, else stored); a new or changed one
  // starts from now_ms; stored states of monitors no longer scheduled are deleted.
  absl::Status Reload(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  // Runs `monitor` for `fire_ms` and records it (memory and table).
  void RunScheduled(const MonitorVersion& monitor, int64_t fire_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  // Stores `state`'s stored part in monitor_schedules.
  absl::Status SaveState(const std::string& monitor, const MonitorScheduleState& state);
  void Loop();
  bool Woken() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; }

  storage::Database& db_;
  Clock& clock_;
  const int64_t started_ms_;  // fire times after this were not missed while down
  EventBus* events_;
  MonitorIo io_;
  const MonitorServiceOptions options_;
  std::unique_ptr<MonitorRegistry> registry_;
  std::unique_ptr<MonitorRunner> runner_;
  std::optional<pipelines::ScheduleStateTable> schedule_table_;  // monitor_schedules
  int subscription_ = 0;

  absl::Mutex tick_mu_;  // serializes Tick; taken before mu_, never after
  std::vector<MonitorVersion> monitors_ ABSL_GUARDED_BY(tick_mu_);  // as of the last reload

  absl::Mutex mu_;  // short sections only: never held while a monitor runs
  std::map<std::string, Schedule> schedules_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> ingested_ ABSL_GUARDED_BY(mu_);  // sources with new rows
  bool reload_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::monitoring
