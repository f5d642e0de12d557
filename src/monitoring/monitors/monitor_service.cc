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

namespace cairn::monitoring {

MonitorService::MonitorService(storage::Database& db, Clock& clock, EventBus* events,
                               MonitorIo io, MonitorServiceOptions options)
    : clock_(clock), events_(events), io_(std::move(io)), options_(options) {}

MonitorService::~MonitorService() { Shutdown(); }

absl::StatusOr<std::unique_ptr<MonitorService>> MonitorService::Open(
    storage::Database& db, Clock& clock, EventBus* events, MonitorIo io,
    MonitorServiceOptions options) {
  std::unique_ptr<MonitorService> service(new MonitorService(db, clock, events, io, options));
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

absl::Status MonitorService::Reload(int64_t now_ms) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<MonitorVersion> monitors, registry_->List());
  std::map<std::string, Schedule> old;
  {
    absl::MutexLock lock(&mu_);
    old.swap(schedules_);
  }
  std::map<std::string, Schedule> fresh;
  for (const MonitorVersion& monitor : monitors) {
    if (monitor.spec.cron.empty()) continue;
    auto it = old.find(monitor.name);
    if (it != old.end() && it->second.cron_text == monitor.spec.cron) {
      fresh.emplace(monitor.name, std::move(it->second));
      continue;
    }
    absl::StatusOr<pipelines::CronSchedule> cron = pipelines::ParseCron(monitor.spec.cron);
    Schedule schedule;
    schedule.cron_text = monitor.spec.cron;
    schedule.state.cron = monitor.spec.cron;
    if (!cron.ok()) {  // validated at apply; only a newer server's syntax gets here
      schedule.state.last_error = std::string(cron.status().message());
    } else {
      schedule.cron = std::make_shared<const pipelines::CronSchedule>(std::move(*cron));
      schedule.state.next_fire_ms = schedule.cron->NextFireTime(now_ms);
    }
    fresh.emplace(monitor.name, std::move(schedule));
  }
  {
    absl::MutexLock lock(&mu_);
    schedules_.swap(fresh);
  }
  monitors_ = std::move(monitors);
  return absl::OkStatus();
}

void MonitorService::RunScheduled(const MonitorVersion& monitor, int64_t fire_ms,
                                  int64_t now_ms) {
  absl::StatusOr<MonitorRun> run =
      runner_->Run(monitor, "schedule", FormatTimestamp(fire_ms));
  absl::MutexLock lock(&mu_);
  auto it = schedules_.find(monitor.name);
  if (it == schedules_.end()) return;
  MonitorScheduleState& state = it->second.state;
  state.last_fire_ms = fire_ms;
  if (run.ok()) {
    state.last_run_id = run->id;
    state.last_error = run->state == "failed" ? run->message : "";
  } else {
    state.last_error = std::string(run.status().message());
    Log(LogLevel::kError, absl::StrCat("monitor ", monitor.name, ": scheduled run at ",
                                       FormatTimestamp(fire_ms),
                                       " could not be stored: ", run.status().message()));
  }
  if (it->second.cron != nullptr) state.next_fire_ms = it->second.cron->NextFireTime(now_ms);
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

  // Due schedules: one run per monitor per tick, for the latest fire time that passed
  // (missed ones are not caught up).
  std::vector<std::pair<const MonitorVersion*, int64_t>> due;
  {
    absl::MutexLock lock(&mu_);
    for (const MonitorVersion& monitor : monitors_) {
      auto it = schedules_.find(monitor.name);
      if (it == schedules_.end() || it->second.cron == nullptr) continue;
      const std::optional<int64_t>& next = it->second.state.next_fire_ms;
      if (!next.has_value() || *next > now_ms) continue;
      std::optional<int64_t> fire = it->second.cron->LastFireTimeAtOrBefore(now_ms);
      due.emplace_back(&monitor, fire.value_or(*next));
    }
  }
  for (const auto& [monitor, fire_ms] : due) RunScheduled(*monitor, fire_ms, now_ms);

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
