#include "monitoring/monitors/monitor_service.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "storage/database.h"

namespace cairn::monitoring {

MonitorService::MonitorService(storage::Database& db, Clock& clock, EventBus* events, MonitorIo io,
                               MonitorServiceOptions options)
    : db_(db),
      clock_(clock),
      started_ms_(clock.NowMillis()),
      events_(events),
      io_(std::move(io)),
      options_(options) {}

MonitorService::~MonitorService() { Shutdown(); }

absl::StatusOr<std::unique_ptr<MonitorService>> MonitorService::Open(
    storage::Database& db, Clock& clock, EventBus* events, MonitorIo io,
    MonitorServiceOptions options) {
  CAIRN_ASSIGN_OR_RETURN(pipelines::ScheduleStateTable table,
                         pipelines::ScheduleStateTable::Open(db, "monitor_schedules", "monitor",
                                                             "schedule state per monitor"));
  std::unique_ptr<MonitorService> service(new MonitorService(db, clock, events, io, options));
  service->schedule_table_.emplace(std::move(table));
  CAIRN_ASSIGN_OR_RETURN(service->registry_, MonitorRegistry::Open(db, clock));
  CAIRN_ASSIGN_OR_RETURN(service->runner_, MonitorRunner::Open(db, clock, std::move(io)));
  if (events != nullptr) {
    MonitorService* self = service.get();
    service->subscription_ = events->Subscribe(kEventSourceIngested, [self](const Event& event) {
      auto it = event.attributes.find("source");
      if (it != event.attributes.end()) self->OnSourceIngested(it->second);
    });
  }
  return service;
}

absl::StatusOr<std::vector<MonitorChange>> MonitorService::Apply(
    const std::vector<MonitorSpec>& specs, bool dry_run, bool prune) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<MonitorChange> changes,
                         registry_->Apply(specs, dry_run, prune));
  if (!dry_run) Refresh();
  return changes;
}

absl::StatusOr<MonitorRun> MonitorService::RunNow(std::string_view name,
                                                  std::string_view trigger,
                                                  std::string_view detail) {
  CAIRN_ASSIGN_OR_RETURN(MonitorVersion monitor, registry_->Get(name));
  if (monitor.removed) {
    return absl::FailedPreconditionError(
        absl::StrCat("monitor '", ToAbsl(name),
                     "' was removed (apply --prune): apply its definition again to run it"));
  }
  return runner_->Run(monitor, trigger, detail);
}

void MonitorService::OnSourceIngested(const std::string& source) {
  absl::MutexLock lock(&mu_);
  if (std::find(ingested_.begin(), ingested_.end(), source) == ingested_.end()) {
    ingested_.push_back(source);
  }
  wake_ = true;
}

std::optional<MonitorScheduleState> MonitorService::ScheduleState(std::string_view monitor) {
  absl::MutexLock lock(&mu_);
  auto it = schedules_.find(std::string(monitor));
  if (it == schedules_.end()) return std::nullopt;
  return it->second.state;
}

absl::Status MonitorService::SaveState(const std::string& monitor,
                                       const MonitorScheduleState& state) {
  return schedule_table_->Save(monitor, state, clock_.NowMillis());
}

absl::Status MonitorService::Reload(int64_t now_ms) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<MonitorVersion> monitors, registry_->List());
  CAIRN_ASSIGN_OR_RETURN(auto stored, schedule_table_->Load());
  std::map<std::string, Schedule> old;
  {
    absl::MutexLock lock(&mu_);
    old = schedules_;
  }
  std::map<std::string, Schedule> fresh;
  for (const MonitorVersion& monitor : monitors) {
    if (monitor.spec.cron.empty()) continue;
    Schedule schedule;
    auto kept = old.find(monitor.name);
    auto saved = stored.find(monitor.name);
    if (kept != old.end() && kept->second.cron_text == monitor.spec.cron) {
      schedule = kept->second;
    } else {
      schedule.cron_text = monitor.spec.cron;
      absl::StatusOr<pipelines::CronSchedule> cron = pipelines::ParseCron(monitor.spec.cron);
      if (cron.ok()) {
        schedule.cron = std::make_shared<const pipelines::CronSchedule>(std::move(*cron));
      }
      if (saved != stored.end() && saved->second.cron == monitor.spec.cron) {
        // Continues where it was (catch-up at the next tick).
        static_cast<pipelines::StoredScheduleState&>(schedule.state) = saved->second;
      } else {
        // New, or the cron changed: start from now; earlier fire times are not owed.
        if (saved != stored.end()) {
          static_cast<pipelines::StoredScheduleState&>(schedule.state) = saved->second;
        }
        schedule.state.cron = monitor.spec.cron;
        schedule.state.handled_until_ms = now_ms;
        if (!cron.ok()) {  // validated at apply; only a newer server's syntax gets here
          schedule.state.last_error = std::string(cron.status().message());
        }
        absl::Status status = SaveState(monitor.name, schedule.state);
        if (!status.ok()) {
          Log(LogLevel::kError, absl::StrCat("monitor ", monitor.name,
                                             ": cannot store its schedule state: ",
                                             status.message()));
        }
      }
    }
    schedule.state.catchup = monitor.spec.catchup;
    schedule.state.next_fire_ms.reset();
    if (schedule.cron != nullptr) {
      schedule.state.next_fire_ms =
          schedule.cron->NextFireTime(std::max(schedule.state.handled_until_ms, now_ms));
      // Missed fire times (after downtime) are due at once.
      if (auto missed = schedule.cron->NextFireTime(schedule.state.handled_until_ms);
          missed && *missed <= now_ms) {
        schedule.state.next_fire_ms = *missed;
      }
    }
    fresh.emplace(monitor.name, std::move(schedule));
  }
  for (const auto& [name, state] : stored) {
    if (fresh.count(name)) continue;
    absl::Status status = schedule_table_->Forget(name);
    if (!status.ok()) {
      Log(LogLevel::kError, absl::StrCat("monitor ", name, ": cannot drop its schedule state: ",
                                         status.message()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    schedules_.swap(fresh);
  }
  monitors_ = std::move(monitors);
  return absl::OkStatus();
}

void MonitorService::RunScheduled(const MonitorVersion& monitor, int64_t fire_ms) {
  absl::StatusOr<MonitorRun> run =
      runner_->Run(monitor, "schedule", FormatTimestamp(fire_ms));
  MonitorScheduleState state;
  {
    absl::MutexLock lock(&mu_);
    auto it = schedules_.find(monitor.name);
    if (it == schedules_.end()) return;
    MonitorScheduleState& current = it->second.state;
    current.last_fire_ms = fire_ms;
    current.handled_until_ms = std::max(current.handled_until_ms, fire_ms);
    if (run.ok()) {
      current.last_run_id = run->id;
      current.last_error = run->state == "failed" ? run->message : "";
    } else {
      current.last_error = std::string(run.status().message());
      Log(LogLevel::kError, absl::StrCat("monitor ", monitor.name, ": scheduled run at ",
                                         FormatTimestamp(fire_ms),
                                         " could not be stored: ", run.status().message()));
    }
    state = current;
  }
  absl::Status saved = SaveState(monitor.name, state);
  if (!saved.ok()) {
    Log(LogLevel::kError, absl::StrCat("monitor ", monitor.name, ": the run for ",
                                       FormatTimestamp(fire_ms),
                                       " ran but could not be recorded (a restart may repeat "
                                       "it): ",
                                       saved.message()));
  }
}

absl::Status MonitorService::Tick(int64_t now_ms) {
  absl::MutexLock tick_lock(&tick_mu_);
  bool reload = false;
  std::deque<std::string> ingested;
  {
    absl::MutexLock lock(&mu_);
    reload = reload_;
    reload_ = false;
    ingested.swap(ingested_);
  }
  if (reload) {
    absl::Status status = Reload(now_ms);
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      reload_ = true;  // try again on the next tick
      for (std::string& source : ingested) ingested_.push_back(std::move(source));
      return status;
    }
  }

  // Due schedules: the fire times since what each schedule handled, thinned by its
  // catch-up policy (while the server is up that is the one that just passed).
  struct Due {
    const MonitorVersion* monitor;
    pipelines::CatchupPlan plan;
  };
  std::vector<Due> due;
  {
    absl::MutexLock lock(&mu_);
    for (const MonitorVersion& monitor : monitors_) {
      auto it = schedules_.find(monitor.name);
      if (it == schedules_.end() || it->second.cron == nullptr) continue;
      const MonitorScheduleState& state = it->second.state;
      // A fire time since this service started was not missed while down, only late
      // behind other monitors' runs on this thread: catchup none still runs it.
      pipelines::CatchupPlan plan = pipelines::PlanCatchup(
          *it->second.cron, state.catchup, state.handled_until_ms, now_ms,
          {.max_catchup_runs = options_.max_catchup_runs,
           .on_time_grace_ms = std::max(options_.on_time_grace_ms, now_ms - started_ms_)});
      if (!plan.latest) continue;
      if (!plan.skipped.empty()) {
        Log(state.catchup == pipelines::Catchup::kAll ? LogLevel::kWarning : LogLevel::kInfo,
            absl::StrCat("monitor ", monitor.name, " (cron '", state.cron, "', catchup ",
                         ToAbsl(pipelines::CatchupName(state.catchup)), "): ", plan.skipped));
      }
      due.push_back(Due{&monitor, std::move(plan)});
    }
  }
  for (const Due& item : due) {
    for (int64_t fire_ms : item.plan.due) RunScheduled(*item.monitor, fire_ms);
    MonitorScheduleState state;
    {
      absl::MutexLock lock(&mu_);
      auto it = schedules_.find(item.monitor->name);
      if (it == schedules_.end()) continue;
      it->second.state.handled_until_ms =
          std::max(it->second.state.handled_until_ms, *item.plan.latest);
      it->second.state.next_fire_ms =
          it->second.cron->NextFireTime(std::max(it->second.state.handled_until_ms, now_ms));
      state = it->second.state;
    }
    if (item.plan.due.empty() || item.plan.due.back() != *item.plan.latest) {
      absl::Status saved = SaveState(item.monitor->name, state);
      if (!saved.ok()) {
        Log(LogLevel::kError, absl::StrCat("monitor ", item.monitor->name,
                                           ": cannot store its schedule state: ",
                                           saved.message()));
      }
    }
  }

  // Monitors following the sources that received rows: each runs once per tick.
  if (!ingested.empty()) {
    std::set<std::string> sources(ingested.begin(), ingested.end());
    for (const MonitorVersion& monitor : monitors_) {
      if (monitor.spec.trigger_on != kEventSourceIngested) continue;
      if (!io_.source_of_view) continue;
      absl::StatusOr<std::string> source = io_.source_of_view(monitor.spec.target.feature_view);
      if (!source.ok()) {
        Log(LogLevel::kWarning, absl::StrCat("monitor ", monitor.name, ": target.feature_view '",
                                             monitor.spec.target.feature_view,
                                             "': ", source.status().message()));
        continue;
      }
      if (sources.count(*source) == 0) continue;
      absl::StatusOr<MonitorRun> run = runner_->Run(monitor, kEventSourceIngested, *source);
      if (!run.ok()) {
        Log(LogLevel::kError, absl::StrCat("monitor ", monitor.name,
                                           ": triggered run could not be stored: ",
                                           run.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

void MonitorService::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void MonitorService::Refresh() {
  absl::MutexLock lock(&mu_);
  reload_ = true;
  wake_ = true;
}

void MonitorService::Shutdown() {
  if (events_ != nullptr && subscription_ != 0) {
    events_->Unsubscribe(subscription_);
    subscription_ = 0;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void MonitorService::Loop() {
  int64_t last_reload_ms = 0;
  while (true) {
    const int64_t now = clock_.NowMillis();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      wake_ = false;
      // Monitors applied by another server (shared PostgreSQL) show up within max_sleep.
      if (now - last_reload_ms >= options_.max_sleep_ms) reload_ = true;
      if (reload_) last_reload_ms = now;
    }
    absl::Status status = Tick(now);
    if (!status.ok()) {
      Log(LogLevel::kError, absl::StrCat("monitors: ", status.message()));
    }
    absl::MutexLock lock(&mu_);
    int64_t wait_ms = options_.max_sleep_ms;
    for (const auto& [name, schedule] : schedules_) {
      if (schedule.state.next_fire_ms.has_value()) {
        wait_ms = std::min(wait_ms, std::max<int64_t>(*schedule.state.next_fire_ms - now, 0));
      }
    }
    if (!status.ok()) wait_ms = std::min<int64_t>(wait_ms, 5'000);
    mu_.AwaitWithTimeout(absl::Condition(this, &MonitorService::Woken),
                         absl::Milliseconds(wait_ms));
  }
}

}  // namespace cairn::monitoring
