#include "demo/demo_monitoring.h"

#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "compute/local_executor.h"
#include "demo/churn_monitors.h"
#include "demo/demo_pipeline.h"
#include "demo/step_io.h"
#include "demo/traffic.h"
#include "monitoring/alerts/alert_service.h"
#include "monitoring/monitors/monitor_io.h"
#include "monitoring/monitors/monitor_service.h"
#include "monitoring/monitors/monitor_yaml.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_registry.h"
#include "pipelines/run_types.h"

namespace cairn::demo {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRetrainDeadlineMs = 10 * 60 * 1000;
constexpr int64_t kRetrainPollMs = 200;

// The reference the monitor reads, relative to the data directory (the monitor file says
// monitoring/churn-reference.csv; the demo applies it with absolute paths).
constexpr char kReferenceFile[] = "monitoring/churn-reference.csv";
constexpr char kTrafficDir[] = "traffic";

std::string Short(const std::string& id) { return id.substr(0, 8); }

// Up to three drifted columns of a drift result: "monthly_price (wasserstein 0.41)".
std::string DriftedColumns(const Json& result) {
  std::vector<std::string> parts;
  int more = 0;
  const Json drift = result.value("drift", Json());
  if (!drift.is_object()) return "";
  for (const Json& column : drift.value("columns", Json::array())) {
    if (!column.value("drifted", false)) continue;
    if (parts.size() == 3) {
      ++more;
      continue;
    }
    parts.push_back(absl::StrFormat("%s (%s %.3g)", column.value("column", "?"),
                                    column.value("test", "?"), column.value("statistic", 0.0)));
  }
  std::string text = absl::StrJoin(parts, ", ");
  if (more > 0) absl::StrAppend(&text, " and ", more, " more");
  return text;
}

// Copies `from` to `to` (creating its directory).
absl::Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot copy ", from, " to ", to, ": ", ec.message()));
  return absl::OkStatus();
}

std::string AbsoluteUnder(const std::string& root, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(root) / path).lexically_normal().string();
}

}  // namespace

absl::StatusOr<MonitoringChapterResult> RunMonitoringChapter(DemoStores& stores,
                                                             const MonitoringChapterOptions& options,
                                                             std::ostream& out) {
  MonitoringChapterResult result;
  const fs::path root(options.data_dir);
  const std::string traffic_dir = (root / kTrafficDir).string();
  const std::string reference_path = (root / kReferenceFile).string();

  // The production model's training data becomes the monitor's reference, and the
  // simulation starts from day 1 (a rerun sees the same days, so retraining is cached).
  CAIRN_RETURN_IF_ERROR(CopyFile(options.train_path, reference_path));
  std::error_code removed;
  fs::remove_all(traffic_dir, removed);
  CAIRN_ASSIGN_OR_RETURN(Dataset customers, ReadDatasetCsv(options.validation_path));

  // The services a server runs: the event bus, a local executor, the pipeline engine, the
  // alert service and the monitor service (destroyed in the reverse order).
  EventBus bus;
  compute::LocalExecutorOptions executor_options;
  executor_options.cpus = options.cpus;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<compute::LocalExecutor> executor,
                         compute::LocalExecutor::Create(executor_options));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<pipelines::PipelineRegistry> pipeline_registry,
                         pipelines::PipelineRegistry::Open(*stores.db, RealClock()));
  pipelines::EngineOptions engine_options;
  engine_options.data_dir = options.data_dir;
  engine_options.artifacts = stores.artifacts.get();
  CAIRN_ASSIGN_OR_RETURN(
      std::unique_ptr<pipelines::PipelineEngine> engine,
      pipelines::PipelineEngine::Open(*stores.db, RealClock(), *pipeline_registry,
                                      {{std::string(executor->name()), executor.get()}},
                                      stores.tracking.get(), engine_options));
  engine->OnRunFinished([&bus](const pipelines::RunRecord& run) {
    bus.Publish(Event{.type = kEventPipelineRunFinished,
                      .attributes = {{"pipeline", run.pipeline},
                                     {"run_id", run.id},
                                     {"state", std::string(pipelines::RunStateName(run.state))}}});
  });
  // Retraining runs get the demo's paths on top of the monitor's on_alert.params.
  pipelines::PipelineEngine* engine_ptr = engine.get();
  const std::map<std::string, std::string> demo_params = {
      {"data", options.data_dir}, {"cairn", options.step_binary},
      {"traffic", traffic_dir}, {"reference", reference_path}};
  monitoring::StartRetrainFn start_retrain =
      [engine_ptr, demo_params](const std::string& pipeline,
                                const std::map<std::string, std::string>& params,
                                const std::string& trigger) -> absl::StatusOr<std::string> {
    pipelines::StartRunRequest request;
    request.pipeline = pipeline;
    request.params = demo_params;
    for (const auto& [key, value] : params) request.params[key] = value;
    request.trigger = trigger;
    request.trigger_detail = "cairn demo";
    CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord run, engine_ptr->StartRun(request));
    return run.id;
  };
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<monitoring::AlertService> alerts,
                         monitoring::AlertService::Open(*stores.db, RealClock(), bus, start_retrain));
  monitoring::MonitorIo io = monitoring::StandardMonitorIo({});
  monitoring::AlertService* alerts_ptr = alerts.get();
  io.on_outcome = [alerts_ptr](const monitoring::MonitorOutcome& outcome) {
    alerts_ptr->OnMonitorRun(outcome).IgnoreError();
  };
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<monitoring::MonitorService> monitors,
                         monitoring::MonitorService::Open(*stores.db, RealClock(), &bus, io));

  // The monitor as `cairn apply` would register it, its files under this data directory.
  CAIRN_ASSIGN_OR_RETURN(std::vector<monitoring::MonitorSpec> specs,
                         monitoring::ParseMonitorFiles(ChurnMonitorFiles()));
  for (monitoring::MonitorSpec& spec : specs) {
    spec.target.path = AbsoluteUnder(options.data_dir, spec.target.path);
    spec.reference.path = AbsoluteUnder(options.data_dir, spec.reference.path);
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<monitoring::MonitorChange> changes,
                         monitors->Apply(specs, /*dry_run=*/false, /*prune=*/false));
  for (const monitoring::MonitorChange& change : changes) {
    if (change.name != kChurnMonitorName) continue;
    out << absl::StrFormat(
        "      %s Monitor %s (v%d%s): %s/current.csv vs %s, Evidently's default tests, drift "
        "when a fifth of the columns drift; on alert: pipeline %s\n",
        change.action == "added" ? "+" : change.action == "unchanged" ? "=" : "~",
        change.name, change.new_version.value_or(change.old_version.value_or(0)),
        change.action == "unchanged" ? ", unchanged" : "", traffic_dir, reference_path,
        kChurnRetrainPipeline);
  }

  // The alert of this chapter: the newest one of the monitor that is not resolved, or
  // the one the chapter already follows.
  auto current_alert = [&]() -> absl::StatusOr<std::optional<monitoring::Alert>> {
    if (!result.alert_id.empty()) {
      CAIRN_ASSIGN_OR_RETURN(monitoring::Alert alert, alerts->Get(result.alert_id));
      return alert;
    }
    monitoring::AlertFilter filter;
    filter.monitor = kChurnMonitorName;
    filter.limit = 10;
    CAIRN_ASSIGN_OR_RETURN(std::vector<monitoring::Alert> listed, alerts->List(filter));
    for (const monitoring::Alert& alert : listed) {
      if (alert.state != monitoring::AlertState::kResolved) {
        CAIRN_ASSIGN_OR_RETURN(monitoring::Alert full, alerts->Get(alert.id));
        return full;
      }
    }
    return std::nullopt;
  };
  // Waits for a retraining run, then prints how each of its steps ended.
  auto follow_retraining = [&](const std::string& run_id) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord record,
                           WaitForPipelineRun(*engine, kChurnRetrainPipeline, run_id,
                                              kRetrainPollMs, kRetrainDeadlineMs, {}));
    std::vector<std::string> steps;
    for (const pipelines::StepRecord& step : record.steps) {
      steps.push_back(
          absl::StrCat(step.name, " ", std::string(pipelines::StepStateName(step.state))));
    }
    const double seconds =
        record.ended_ms > record.started_ms && record.started_ms > 0
            ? static_cast<double>(record.ended_ms - record.started_ms) / 1000.0
            : 0.0;
    out << absl::StrFormat("             %s run %s %s in %.1fs: %s\n", kChurnRetrainPipeline,
                           Short(run_id), pipelines::RunStateName(record.state), seconds,
                           absl::StrJoin(steps, ", "));
    if (record.state != pipelines::RunState::kSucceeded && !record.message.empty()) {
      out << "             " << record.message.substr(0, record.message.find('\n')) << "\n";
    }
    bus.Drain();  // the alert service has seen the run's end
    return absl::OkStatus();
  };

  for (int day = 1; day <= options.days; ++day) {
    const bool shifted = day >= 2;
    CAIRN_ASSIGN_OR_RETURN(TrafficDay traffic,
                           WriteTrafficDay(customers, day, shifted, options.requests_per_day,
                                           options.seed, traffic_dir));
    CAIRN_ASSIGN_OR_RETURN(monitoring::MonitorRun run,
                           monitors->RunNow(kChurnMonitorName, "manual", absl::StrCat("day ", day)));
    MonitoringDay outcome{.day = day, .shifted = shifted, .monitor_run = run.id,
                          .drift = run.drift_found, .summary = run.message,
                          .alert_state = "", .alert_severity = ""};
    if (run.state != "succeeded") {
      return absl::FailedPreconditionError(
          absl::StrCat("monitor ", kChurnMonitorName, " run ", run.id, " failed: ", run.message));
    }
    out << absl::StrFormat("      day %d  %d requests%s  monitor run %s: %s%s\n", day,
                           traffic.rows,
                           shifted ? " (shifted)" : "", Short(run.id),
                           run.drift_found ? "DRIFT, " : "no drift, ", run.message);
    if (run.drift_found) {
      const std::string columns = DriftedColumns(run.result);
      if (!columns.empty()) out << "             drifted: " << columns << "\n";
    }
    CAIRN_ASSIGN_OR_RETURN(std::optional<monitoring::Alert> alert, current_alert());
    if (alert.has_value()) {
      const bool new_alert = result.alert_id.empty();
      result.alert_id = alert->id;
      const size_t seen = result.retrain_runs.size();
      if (new_alert) {
        out << absl::StrFormat("             alert %s opened (%s)\n", Short(alert->id),
                               monitoring::SeverityName(alert->severity));
      }
      // Follow each retraining run this day started (one, or a retry after a failure).
      while (alert->retrain_runs.size() > result.retrain_runs.size()) {
        const std::string retrain_run = alert->retrain_runs[result.retrain_runs.size()];
        result.retrain_runs.push_back(retrain_run);
        out << absl::StrFormat("             retraining: %s run %s started (attempt %d of %d)\n",
                               kChurnRetrainPipeline, Short(retrain_run),
                               result.retrain_runs.size(),
                               alert->retrain.has_value() ? alert->retrain->max_attempts : 0);
        CAIRN_RETURN_IF_ERROR(follow_retraining(retrain_run));
        CAIRN_ASSIGN_OR_RETURN(alert, current_alert());
      }
      if (result.retrain_runs.size() == seen && !new_alert &&
          alert->state != monitoring::AlertState::kResolved) {
        out << absl::StrFormat("             alert %s: %s, %s (phase %s)\n", Short(alert->id),
                               monitoring::AlertStateName(alert->state),
                               monitoring::SeverityName(alert->severity),
                               monitoring::RetrainPhaseName(alert->phase));
      }
      outcome.alert_state = std::string(monitoring::AlertStateName(alert->state));
      outcome.alert_severity = std::string(monitoring::SeverityName(alert->severity));
      result.alert_state = outcome.alert_state;
      result.alert_severity = outcome.alert_severity;
      if (alert->state == monitoring::AlertState::kResolved) {
        out << absl::StrFormat("             alert %s resolved\n", Short(alert->id));
      }
    }
    result.days.push_back(std::move(outcome));
  }

  if (!result.alert_id.empty()) {
    CAIRN_ASSIGN_OR_RETURN(monitoring::Alert alert, alerts->Get(result.alert_id));
    out << absl::StrFormat("      Timeline of alert %s (%s, %s):\n", alert.id,
                           monitoring::AlertStateName(alert.state),
                           monitoring::SeverityName(alert.severity));
    for (const monitoring::AlertEvent& event : alert.timeline) {
      if (event.kind == "notified" || event.kind == "delivered") continue;
      out << absl::StrFormat("        %s  %-20s %s\n", FormatTimestamp(event.time_ms).substr(11, 8),
                             event.kind, event.message);
    }
  }
  monitors->Shutdown();
  alerts->Shutdown();
  engine->Shutdown();
  executor->Shutdown();
  bus.Shutdown();
  return result;
}

}  // namespace cairn::demo
