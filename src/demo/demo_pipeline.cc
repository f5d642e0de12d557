#include "demo/demo_pipeline.h"

#include <chrono>
#include <memory>
#include <ostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"
#include "compute/local_executor.h"
#include "demo/churn_pipeline.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_registry.h"
#include "pipelines/pipeline_validation.h"
#include "pipelines/pipeline_yaml.h"

namespace cairn::demo {
namespace {

// How long one wait for the run's end lasts before the steps that ended meanwhile are
// printed (the run's end itself returns at once).
constexpr int64_t kProgressEveryMs = 100;
// A run that takes longer than this is reported as stuck.
constexpr int64_t kRunDeadlineMs = 30 * 60 * 1000;

bool StepEnded(pipelines::StepState state) {
  return state != pipelines::StepState::kQueued && state != pipelines::StepState::kRunning;
}

PipelineStepOutcome Outcome(const pipelines::StepRecord& step) {
  PipelineStepOutcome outcome;
  outcome.name = step.name;
  outcome.state = std::string(pipelines::StepStateName(step.state));
  outcome.attempts = static_cast<int>(step.attempts.size());
  if (step.started_ms > 0 && step.ended_ms >= step.started_ms) {
    outcome.seconds = static_cast<double>(step.ended_ms - step.started_ms) / 1000.0;
  }
  outcome.cached_from = step.cached_from;
  outcome.outputs = step.outputs;
  return outcome;
}

std::string StepLine(const PipelineStepOutcome& step, const std::string& detail) {
  std::string how;
  if (step.state == "cached") {
    how = absl::StrCat("from run ", step.cached_from.substr(0, 8));
  } else if (step.attempts > 0) {
    how = absl::StrFormat("attempt %d, %.2fs", step.attempts, step.seconds);
  }
  return absl::StrFormat("      %-13s %-9s %-19s %s\n", step.name, step.state, how, detail);
}

}  // namespace

absl::StatusOr<pipelines::RunRecord> WaitForPipelineRun(
    pipelines::PipelineEngine& engine, const std::string& pipeline, const std::string& run_id,
    int64_t every_ms, int64_t deadline_ms,
    const std::function<void(const pipelines::RunRecord&)>& progress) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (true) {
    absl::StatusOr<pipelines::RunRecord> waited = engine.WaitForRun(run_id, every_ms);
    if (waited.ok()) return waited;
    if (waited.status().code() != absl::StatusCode::kDeadlineExceeded) return waited.status();
    if (progress) {
      CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord record, engine.GetRun(run_id));
      progress(record);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      engine.CancelRun(run_id).IgnoreError();
      return absl::DeadlineExceededError(
          absl::StrFormat("pipeline %s run %s did not finish within %d minutes; cancelled",
                          pipeline, run_id, deadline_ms / 60000));
    }
  }
}

const PipelineStepOutcome* TrainingPipelineRun::Step(const std::string& name) const {
  for (const PipelineStepOutcome& step : steps) {
    if (step.name == name) return &step;
  }
  return nullptr;
}

absl::StatusOr<TrainingPipelineRun> RunTrainingPipeline(DemoStores& stores,
                                                        const TrainingPipelineOptions& options,
                                                        const StepDetailFn& detail,
                                                        std::ostream& out) {
  const auto start = std::chrono::steady_clock::now();
  TrainingPipelineRun result;
  result.pipeline = kChurnPipelineName;

  compute::LocalExecutorOptions executor_options;
  executor_options.cpus = options.cpus;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<compute::LocalExecutor> executor,
                         compute::LocalExecutor::Create(executor_options));

  // The pipeline as `cairn apply` would register it: parsed, validated against this
  // executor, then applied (a new version only when its content changed).
  CAIRN_ASSIGN_OR_RETURN(std::vector<pipelines::PipelineSpec> specs,
                         pipelines::ParsePipelineFiles(ChurnPipelineFiles()));
  pipelines::ValidationOptions validation;
  validation.executors = {std::string(executor->name())};
  validation.check_resources = [&executor](const std::string& name,
                                           const compute::Resources& resources) {
    if (name != executor->name()) {
      return absl::NotFoundError(absl::StrCat("no executor '", name, "' in the demo (local only)"));
    }
    return executor->CheckSatisfiable(resources);
  };
  CAIRN_RETURN_IF_ERROR(pipelines::ValidatePipelines(specs, validation));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<pipelines::PipelineRegistry> registry,
                         pipelines::PipelineRegistry::Open(*stores.db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(std::vector<pipelines::PipelineChange> changes,
                         registry->Apply(specs, /*dry_run=*/false, /*prune=*/false));
  for (const pipelines::PipelineChange& change : changes) {
    if (change.name == result.pipeline) result.change = change.action;
  }
  CAIRN_ASSIGN_OR_RETURN(pipelines::PipelineVersion version, registry->Get(result.pipeline));
  result.version = version.version;
  out << absl::StrFormat("      %s Pipeline %s (v%d%s) in the pipeline registry\n",
                         result.change == "added"       ? "+"
                         : result.change == "unchanged" ? "="
                                                        : "~",
                         result.pipeline, result.version,
                         result.change == "unchanged" ? ", unchanged" : "");

  pipelines::EngineOptions engine_options;
  engine_options.data_dir = options.data_dir;
  engine_options.artifacts = stores.artifacts.get();
  CAIRN_ASSIGN_OR_RETURN(
      std::unique_ptr<pipelines::PipelineEngine> engine,
      pipelines::PipelineEngine::Open(*stores.db, RealClock(), *registry,
                                      {{std::string(executor->name()), executor.get()}},
                                      stores.tracking.get(), engine_options));
  pipelines::StartRunRequest request;
  request.pipeline = result.pipeline;
  request.params = options.params;
  request.trigger = "manual";
  request.trigger_detail = "cairn demo";
  request.no_cache = options.no_cache;
  CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord run, engine->StartRun(request));
  result.run_id = run.id;
  out << absl::StrFormat(
      "      run %s on the local executor (%g CPUs, one per step%s): training-set -> %d x "
      "train -> evaluate -> register\n",
      result.run_id, executor->capacity().cpus, options.no_cache ? ", --no-cache" : "",
      version.spec.steps.size() - 3);
  out << std::flush;

  // Print each step as it ends; the run's end returns from the wait at once.
  std::set<std::string> printed;
  auto print_ended = [&](const pipelines::RunRecord& record) {
    for (const pipelines::StepRecord& step : record.steps) {
      if (!StepEnded(step.state) || printed.contains(step.name)) continue;
      printed.insert(step.name);
      PipelineStepOutcome outcome = Outcome(step);
      if (step.state == pipelines::StepState::kCached) ++result.cached;
      out << StepLine(outcome, detail ? detail(outcome) : "") << std::flush;
      result.steps.push_back(std::move(outcome));
    }
  };
  CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord record,
                         WaitForPipelineRun(*engine, result.pipeline, run.id, kProgressEveryMs,
                                            kRunDeadlineMs, print_ended));
  print_ended(record);
  engine->Shutdown();
  executor->Shutdown();
  result.tracking_run_id = record.tracking_run_id;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (record.state != pipelines::RunState::kSucceeded) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pipeline ", result.pipeline, " run ", run.id, " ",
        ToAbsl(pipelines::RunStateName(record.state)), ": ", record.message,
        "\nstep logs: ", options.data_dir, "/pipelines/runs/", run.id, "/<step>/"));
  }
  const int total = static_cast<int>(record.steps.size());
  if (result.cached == total) {
    out << absl::StrFormat("      %d of %d steps cached: nothing re-ran (%.2fs)\n", result.cached,
                           total, result.seconds);
  } else {
    out << absl::StrFormat("      %d steps in %.2fs: %d ran, %d cached\n", total, result.seconds,
                           total - result.cached, result.cached);
  }
  return result;
}

}  // namespace cairn::demo
