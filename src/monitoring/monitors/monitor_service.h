#pragma once
// The server's monitors: the registry (apply, list), the runner (runs, reports) and when
// monitors run — on their cron schedule (pipelines/cron.h, UTC, on a Clock) and after new
// data of their target view's source (`trigger: {on: source_ingested}`, kEventSourceIngested
// on the EventBus) — plus RunNow for the API and the CLI.
//
// Scheduled and triggered runs happen on the service's own thread (the bus handler only
// queues them), one at a time. Fire times are kept in memory: after a restart a schedule
// continues from the next fire time (missed ones are not caught up). Tick(now_ms) does one
// evaluation (tests drive it with a FakeClock); Start() runs the thread. Thread-safe.

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
#include "pipelines/cron.h"

namespace cairn {
class EventBus;
}  // namespace cairn
namespace cairn::storage {
class Database;
}  // namespace cairn::storage

namespace cairn::monitoring {

struct MonitorServiceOptions {
  int64_t max_sleep_ms = 60'000;  // the thread re-reads the monitors at least this often
};

// What `describe` shows about a monitor's schedule.
struct MonitorScheduleState {
  std::string cron;
  std::optional<int64_t> next_fire_ms;
  int64_t last_fire_ms = 0;
  std::string last_run_id;
  std::string last_error;
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
  // Re-reads the monitors: schedules kept when their cron text is unchanged.
  absl::Status Reload(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(tick_mu_);
  void RunScheduled(const MonitorVersion& monitor, int64_t fire_ms, int64_t now_ms);
  void Loop();
  bool Woken() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; }

  Clock& clock_;
  EventBus* events_;
  MonitorIo io_;
  const MonitorServiceOptions options_;
  std::unique_ptr<MonitorRegistry> registry_;
  std::unique_ptr<MonitorRunner> runner_;
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
