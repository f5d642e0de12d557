#include "pipelines/schedule_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "storage/database.h"

namespace cairn::pipelines {
namespace {

std::string Msg(const absl::Status& status) { return std::string(status.message()); }

}  // namespace

ScheduleService::ScheduleService(Clock& clock, ScheduleStateTable table, ListPipelinesFn list,
                                 StartRunFn start, ScheduleOptions options)
    : clock_(clock),
      table_(std::move(table)),
      list_(std::move(list)),
      start_(std::move(start)),
      options_(options) {}

absl::StatusOr<std::unique_ptr<ScheduleService>> ScheduleService::Open(
    storage::Database& db, Clock& clock, ListPipelinesFn list, StartRunFn start,
    ScheduleOptions options) {
  CAIRN_ASSIGN_OR_RETURN(ScheduleStateTable table,
                         ScheduleStateTable::Open(db, "pipeline_schedules", "pipeline",
                                                  "schedule state per pipeline"));
  std::unique_ptr<ScheduleService> service(new ScheduleService(
      clock, std::move(table), std::move(list), std::move(start), options));
  CAIRN_RETURN_IF_ERROR(service->Load());
  return service;
}

ScheduleService::~ScheduleService() { Shutdown(); }

absl::Status ScheduleService::Load() {
  CAIRN_ASSIGN_OR_RETURN(auto rows, table_.Load());
  absl::MutexLock lock(&tick_mu_);
  rows_ = std::move(rows);
  return absl::OkStatus();
}

absl::Status ScheduleService::Save(const std::string& pipeline, const Row& row) {
  return table_.Save(pipeline, row, clock_.NowMillis());
}

absl::StatusOr<const CronSchedule*> ScheduleService::Cron(const std::string& text) {
  auto it = crons_.find(text);
  if (it == crons_.end()) it = crons_.emplace(text, ParseCron(text)).first;
  if (!it->second.ok()) return it->second.status();
  return &*it->second;
}

absl::Status ScheduleService::Tick(int64_t now_ms) {
  absl::MutexLock lock(&tick_mu_);
  next_wake_ms_.reset();
  auto specs = list_();
  if (!specs.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("schedules: cannot list pipelines: ", Msg(specs.status())));
    next_wake_ms_ = now_ms + options_.retry_ms;
    return specs.status();
  }
  absl::Status result;
  std::map<std::string, const PipelineSpec*> scheduled;
  for (const PipelineSpec& spec : *specs) {
    if (!spec.schedule.cron.empty()) scheduled[spec.name] = &spec;
  }
  for (const auto& [name, spec] : scheduled) {
    const bool seen = crons_.count(spec->schedule.cron) > 0;
    auto cron = Cron(spec->schedule.cron);
    if (!cron.ok()) {
      // Validation at apply rejects bad cron; one that slipped through is logged once.
      if (!seen) {
        Log(LogLevel::kError, absl::StrCat("schedules: pipeline '", name, "': ",
                                           Msg(cron.status()), "; not scheduled"));
      }
      continue;
    }
    auto it = rows_.find(name);
    if (it == rows_.end() || it->second.cron != spec->schedule.cron) {
      // New, or the cron changed: start from now; earlier fire times are not owed.
      Row row;
      if (it != rows_.end()) row = it->second;
      row.cron = spec->schedule.cron;
      row.handled_until_ms = now_ms;
      absl::Status saved = Save(name, row);
      if (!saved.ok()) {
        result.Update(saved);
        next_wake_ms_ = std::min(next_wake_ms_.value_or(INT64_MAX), now_ms + options_.retry_ms);
        continue;
      }
      rows_[name] = std::move(row);
      it = rows_.find(name);
    } else {
      absl::Status evaluated = Evaluate(name, **cron, spec->schedule.catchup, now_ms, it->second);
      if (!evaluated.ok()) {
        result.Update(evaluated);
        next_wake_ms_ = std::min(next_wake_ms_.value_or(INT64_MAX), now_ms + options_.retry_ms);
      }
    }
    if (auto next = (*cron)->NextFireTime(std::max(it->second.handled_until_ms, now_ms))) {
      next_wake_ms_ = std::min(next_wake_ms_.value_or(INT64_MAX), *next);
    }
  }
  for (auto it = rows_.begin(); it != rows_.end();) {
    if (scheduled.count(it->first)) {
      ++it;
      continue;
    }
    absl::Status forgotten = table_.Forget(it->first);
    if (!forgotten.ok()) {
      result.Update(forgotten);
      ++it;
      continue;
    }
    Log(LogLevel::kInfo, absl::StrCat("schedules: pipeline '", it->first,
                                      "' is no longer scheduled; its schedule state is dropped"));
    it = rows_.erase(it);
  }
  return result;
}

absl::Status ScheduleService::Evaluate(const std::string& pipeline, const CronSchedule& cron,
                                       Catchup catchup, int64_t now_ms, Row& row) {
  CatchupPlan plan = PlanCatchup(
      cron, catchup, row.handled_until_ms, now_ms,
      {.max_catchup_runs = options_.max_catchup_runs,
       .on_time_grace_ms = options_.on_time_grace_ms});
  if (!plan.latest) return absl::OkStatus();
  const std::string where = absl::StrCat("schedules: pipeline '", pipeline, "' (cron '",
                                         cron.text(), "', catchup ",
                                         ToAbsl(CatchupName(catchup)), ")");
  if (!plan.skipped.empty()) {
    Log(catchup == Catchup::kAll ? LogLevel::kWarning : LogLevel::kInfo,
        absl::StrCat(where, ": ", plan.skipped));
  }

  for (int64_t fire : plan.due) {
    StartRunRequest request;
    request.pipeline = pipeline;
    request.trigger = "schedule";
    request.trigger_detail = FormatTimestamp(fire);
    auto run = start_(request);
    if (!run.ok() && run.status().code() == absl::StatusCode::kUnavailable) {
      // Not handled: the next tick (after retry_ms) tries this fire time again.
      row.last_error = Msg(run.status());
      Log(LogLevel::kWarning, absl::StrCat(where, ": cannot start the run for ",
                                           request.trigger_detail, " now: ", row.last_error,
                                           "; retrying"));
      CAIRN_RETURN_IF_ERROR(Save(pipeline, row));
      return run.status();
    }
    if (run.ok()) {
      row.last_fire_ms = fire;
      row.last_run_id = *run;
      row.last_error.clear();
      Log(LogLevel::kInfo, absl::StrCat(where, ": started run ", *run, " for ",
                                        request.trigger_detail));
    } else {
      row.last_error = absl::StrCat("the run for ", request.trigger_detail,
                                    " could not start: ", Msg(run.status()));
      Log(LogLevel::kError, absl::StrCat(where, ": ", row.last_error));
    }
    row.handled_until_ms = fire;
    CAIRN_RETURN_IF_ERROR(Save(pipeline, row));
  }
  row.handled_until_ms = std::max(row.handled_until_ms, *plan.latest);
  return Save(pipeline, row);
}

void ScheduleService::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void ScheduleService::Refresh() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void ScheduleService::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ScheduleService::Loop() {
  for (;;) {
    Tick(clock_.NowMillis()).IgnoreError();  // logged inside; retried after retry_ms
    const int64_t now = clock_.NowMillis();
    int64_t wake_at = now + options_.max_sleep_ms;
    if (std::optional<int64_t> next = NextWakeMs()) wake_at = std::min(wake_at, *next);
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken),
                         absl::Milliseconds(std::max<int64_t>(0, wake_at - now)));
    if (stopping_) return;
    wake_ = false;
  }
}

std::optional<int64_t> ScheduleService::NextWakeMs() {
  absl::MutexLock lock(&tick_mu_);
  return next_wake_ms_;
}

std::vector<ScheduleState> ScheduleService::States() {
  absl::MutexLock lock(&tick_mu_);
  std::vector<ScheduleState> states;
  for (const auto& [name, row] : rows_) {
    ScheduleState state;
    state.pipeline = name;
    state.cron = row.cron;
    state.handled_until_ms = row.handled_until_ms;
    state.last_fire_ms = row.last_fire_ms;
    state.last_run_id = row.last_run_id;
    state.last_error = row.last_error;
    if (auto cron = Cron(row.cron); cron.ok()) {
      state.next_fire_ms = (*cron)->NextFireTime(row.handled_until_ms);
    }
    states.push_back(std::move(state));
  }
  return states;
}

std::optional<ScheduleState> ScheduleService::State(std::string_view pipeline) {
  for (ScheduleState& state : States()) {
    if (state.pipeline == pipeline) return std::move(state);
  }
  return std::nullopt;
}

}  // namespace cairn::pipelines
