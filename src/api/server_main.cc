#include "api/server_main.h"

#include <malloc.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "api/api_context.h"
#include "api/http_server.h"
#include "cicd/release_stack.h"
#include "cicd/webhooks.h"
#include "api/pipeline_handlers.h"
#include "api/routes.h"
#include "common/clock.h"
#include "common/event_bus.h"
#include "common/event_types.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/feature_registry.h"
#include "compute/executor.h"
#include "compute/gpu_detect.h"
#include "compute/local_executor.h"
#include "compute/resources.h"
#include "compute/slurm_executor.h"
#include "features/feature_store.h"
#include "monitoring/alerts/alert_service.h"
#include "monitoring/monitors/monitor_io.h"
#include "monitoring/monitors/monitor_service.h"
#include "monitoring/profile_store.h"
#include "pipelines/pipeline_engine.h"
#include "pipelines/pipeline_registry.h"
#include "pipelines/schedule_service.h"
#include "pipelines/trigger_service.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/logged_model_store.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::api {
namespace {

// Everything the server owns, in construction order (destroyed in reverse: the services
// that start runs go before the engine, the engine before the executors and the bus).
struct ServerState {
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<tracking::TrackingStore> tracking;
  std::unique_ptr<tracking::ModelRegistry> registry;
  std::unique_ptr<tracking::LoggedModelStore> logged_models;
  std::unique_ptr<storage::ArtifactStore> artifacts;
  std::unique_ptr<features::FeatureStore> feature_store;
  std::unique_ptr<EventBus> events;
  std::unique_ptr<compute::Executor> local_executor;
  std::unique_ptr<compute::Executor> slurm_executor;
  std::unique_ptr<pipelines::PipelineRegistry> pipeline_registry;
  std::unique_ptr<pipelines::PipelineEngine> engine;
  std::unique_ptr<pipelines::ScheduleService> schedules;
  std::unique_ptr<pipelines::TriggerService> triggers;
  std::unique_ptr<monitoring::ProfileStore> profiles;
  std::unique_ptr<monitoring::AlertService> alerts;
  std::unique_ptr<monitoring::MonitorService> monitors;
  std::unique_ptr<cicd::ReleaseStack> release;
  std::unique_ptr<cicd::Webhooks> webhooks;
  PipelineApi pipeline_api;
  ApiContext context;

  ~ServerState() {
    // Endpoints promote through the promotion service and log into the inference log:
    // they stop first; then the log writes what it holds.
    if (release != nullptr) release->Shutdown();
    // Monitors hand outcomes to alerts, alerts start runs on the engine: stop them first.
    if (monitors != nullptr) monitors->Shutdown();
    if (alerts != nullptr) alerts->Shutdown();
    triggers.reset();
    if (schedules != nullptr) schedules->Shutdown();
    if (engine != nullptr) engine->Shutdown();
    if (slurm_executor != nullptr) slurm_executor->Shutdown();
    if (local_executor != nullptr) local_executor->Shutdown();
    if (events != nullptr) events->Shutdown();
  }
};

// The executors of --local-* and --slurm*.
absl::Status OpenExecutors(const ServerConfig& config, ServerState& state) {
  compute::LocalExecutorOptions local;
  if (config.local_cpus > 0) local.cpus = config.local_cpus;
  if (!config.local_memory.empty()) {
    absl::StatusOr<int64_t> memory = compute::ParseMemory(config.local_memory);
    if (!memory.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--local-memory: ", memory.status().message()));
    }
    local.memory_bytes = *memory;
  }
  if (config.local_gpus == "none") {
    local.gpus = std::vector<int>{};
  } else if (!config.local_gpus.empty()) {
    absl::StatusOr<std::vector<int>> gpus = compute::ParseGpuList(config.local_gpus);
    if (!gpus.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--local-gpus: ", gpus.status().message()));
    }
    local.gpus = *gpus;
  }
  CAIRN_ASSIGN_OR_RETURN(state.local_executor, compute::LocalExecutor::Create(local));
  if (config.slurm) {
    compute::SlurmOptions slurm;
    if (!config.slurm_partition.empty()) {
      slurm.partitions.push_back({.name = config.slurm_partition, .gpus = false});
    }
    if (!config.slurm_gpu_partition.empty()) {
      slurm.partitions.push_back({.name = config.slurm_gpu_partition, .gpus = true});
    }
    state.slurm_executor = std::make_unique<compute::SlurmExecutor>(slurm, RealClock());
  }
  if (!config.gpu_executor.empty() && config.gpu_executor != "local" &&
      !(config.gpu_executor == "slurm" && config.slurm)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--gpu-executor: '", config.gpu_executor,
        "' is not a configured executor (local, or slurm with --slurm)"));
  }
  return absl::OkStatus();
}

// Pipelines: registry, engine, schedules and event triggers on the event bus.
absl::Status OpenPipelines(const ServerConfig& config, ServerState& state) {
  std::map<std::string, compute::Executor*> executors;
  executors["local"] = state.local_executor.get();
  if (state.slurm_executor != nullptr) executors["slurm"] = state.slurm_executor.get();
  CAIRN_ASSIGN_OR_RETURN(state.pipeline_registry,
                         pipelines::PipelineRegistry::Open(*state.db, RealClock()));
  // Steps run in other working directories (and on Slurm nodes): every path they get is
  // absolute.
  std::error_code ec;
  const std::string data_dir = std::filesystem::absolute(config.data_dir, ec).lexically_normal().string();
  pipelines::EngineOptions engine_options{.data_dir = data_dir,
                                          .server_url = "",
                                          .artifacts = state.artifacts.get(),
                                          .gpu_executor = config.gpu_executor};
  CAIRN_ASSIGN_OR_RETURN(state.engine,
                         pipelines::PipelineEngine::Open(*state.db, RealClock(),
                                                         *state.pipeline_registry, executors,
                                                         state.tracking.get(), engine_options));
  EventBus* bus = state.events.get();
  state.engine->OnRunFinished([bus](const pipelines::RunRecord& run) {
    bus->Publish(Event{.type = kEventPipelineRunFinished,
                       .attributes = {{"pipeline", run.pipeline},
                                      {"run_id", run.id},
                                      {"state", std::string(pipelines::RunStateName(run.state))}}});
  });
  pipelines::PipelineRegistry* registry = state.pipeline_registry.get();
  pipelines::PipelineEngine* engine = state.engine.get();
  pipelines::ListPipelinesFn list = [registry]() -> absl::StatusOr<std::vector<pipelines::PipelineSpec>> {
    CAIRN_ASSIGN_OR_RETURN(std::vector<pipelines::PipelineVersion> versions, registry->List());
    std::vector<pipelines::PipelineSpec> specs;
    specs.reserve(versions.size());
    for (pipelines::PipelineVersion& v : versions) specs.push_back(std::move(v.spec));
    return specs;
  };
  pipelines::StartRunFn start =
      [engine](const pipelines::StartRunRequest& request) -> absl::StatusOr<std::string> {
    CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord run, engine->StartRun(request));
    return run.id;
  };
  CAIRN_ASSIGN_OR_RETURN(state.schedules,
                         pipelines::ScheduleService::Open(*state.db, RealClock(), list, start));
  state.triggers = std::make_unique<pipelines::TriggerService>(
      *bus, RealClock(), list, start,
      [engine](const std::string& run_id) -> absl::StatusOr<bool> {
        CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord run, engine->GetRun(run_id));
        return run.state == pipelines::RunState::kQueued ||
               run.state == pipelines::RunState::kRunning;
      });
  const std::string gpu_executor = config.gpu_executor;
  state.pipeline_api.registry = registry;
  for (const auto& [name, executor] : executors) state.pipeline_api.validation.executors.push_back(name);
  state.pipeline_api.engine = engine;
  state.pipeline_api.check_resources =
      [executors, gpu_executor](const pipelines::PipelineSpec& pipeline,
                                const pipelines::StepSpec& step) -> absl::Status {
    std::string name = step.executor;
    if (name.empty()) {
      name = step.resources.gpus > 0 && !gpu_executor.empty() ? gpu_executor : pipeline.executor;
    }
    if (name.empty()) name = "local";
    auto it = executors.find(name);
    if (it == executors.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "executor '", name, "' is not configured on this server",
          name == "slurm" ? " (start it with --slurm)" : ""));
    }
    return it->second->CheckSatisfiable(step.resources);
  };
  pipelines::ScheduleService* schedules = state.schedules.get();
  pipelines::TriggerService* triggers = state.triggers.get();
  state.pipeline_api.on_applied = [schedules, triggers] {
    schedules->Refresh();
    triggers->Refresh();
  };
  return absl::OkStatus();
}

// Monitoring: profiles, alerts (retraining through the engine) and monitors (their
// outcomes go to the alerts; relative CSV paths are read under the data directory).
// A live-quality baseline (monitor quality.baseline.model_metric): `metric` as logged on
// the training run of the model version `endpoint` serves now.
absl::StatusOr<monitoring::ModelMetricValue> ServedModelMetric(
    serving::EndpointService& endpoints, tracking::ModelRegistry& registry,
    tracking::TrackingStore& tracking, const std::string& endpoint, const std::string& metric) {
  for (const serving::DeploymentStatus& d : endpoints.List()) {
    if (d.endpoint != endpoint) continue;
    if (d.model_version == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("endpoint '", endpoint, "' serves no model version now"));
    }
    const std::string label = absl::StrCat("model ", d.model, " version ", d.model_version);
    CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersion version,
                           registry.GetModelVersion(d.model, d.model_version));
    if (!version.run_id.has_value() || version.run_id->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(label, " was not registered from a run, so it has no '", metric,
                       "' to compare with"));
    }
    CAIRN_ASSIGN_OR_RETURN(tracking::Run run, tracking.GetRun(*version.run_id));
    for (const tracking::Metric& m : run.metrics) {
      if (m.key == metric) {
        return monitoring::ModelMetricValue{m.value,
                                            absl::StrCat(label, ", run ", *version.run_id)};
      }
    }
    return absl::NotFoundError(absl::StrCat("the training run ", *version.run_id, " of ",
                                            label, " logged no metric '", metric, "'"));
  }
  return absl::NotFoundError(absl::StrCat("endpoint '", endpoint, "' is not deployed"));
}

absl::Status OpenMonitoring(const ServerConfig& config, ServerState& state) {
  // Profiles keep their reference rows (monitors' drift) under <data>/profiles.
  CAIRN_ASSIGN_OR_RETURN(
      state.profiles,
      monitoring::ProfileStore::Open(*state.db, RealClock(),
                                     (std::filesystem::path(config.data_dir) / "profiles")
                                         .string()));
  pipelines::PipelineEngine* engine = state.engine.get();
  monitoring::StartRetrainFn start_retrain =
      [engine](const std::string& pipeline, const std::map<std::string, std::string>& params,
               const std::string& trigger) -> absl::StatusOr<std::string> {
    pipelines::StartRunRequest request;
    request.pipeline = pipeline;
    request.params = params;
    request.trigger = trigger;
    request.trigger_detail = "monitoring alert";
    CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord run, engine->StartRun(request));
    return run.id;
  };
  CAIRN_ASSIGN_OR_RETURN(state.alerts, monitoring::AlertService::Open(*state.db, RealClock(),
                                                                      *state.events, start_retrain));
  monitoring::ProfileStore* profiles = state.profiles.get();
  monitoring::MonitorIo io = monitoring::StandardMonitorIo(
      {.feature_store = state.feature_store.get(),
       .profile_constraints = [profiles](const std::string& name) {
         return profiles->GetConstraints(name);
       },
       .profile_store = profiles,
       .model_registry = state.registry.get(),
       .tracking = state.tracking.get()});
  std::error_code ec;
  const std::string data_dir =
      std::filesystem::absolute(config.data_dir, ec).lexically_normal().string();
  io.read_csv = [read = std::move(io.read_csv), data_dir](
                    const std::string& path, const std::vector<std::string>& categorical) {
    const std::filesystem::path file(path);
    return read(file.is_absolute() ? path : (std::filesystem::path(data_dir) / file).string(),
                categorical);
  };
  if (serving::InferenceLog* log = state.release->inference_log.get()) {
    io.read_endpoint = [log](const monitoring::EndpointReadRequest& request) {
      return log->ReadFrame(request.endpoint, request.from_ms, request.to_ms,
                            {.last_rows = request.last_rows, .categorical = request.categorical});
    };
  }
  if (serving::EndpointService* endpoints = state.release->endpoints.get()) {
    io.model_metric = [endpoints, registry = state.registry.get(),
                       tracking = state.tracking.get()](const std::string& endpoint,
                                                        const std::string& metric) {
      return ServedModelMetric(*endpoints, *registry, *tracking, endpoint, metric);
    };
  }
  monitoring::AlertService* alerts = state.alerts.get();
  io.on_outcome = [alerts](const monitoring::MonitorOutcome& outcome) {
    absl::StatusOr<std::optional<monitoring::Alert>> alert = alerts->OnMonitorRun(outcome);
    if (!alert.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("monitoring: alert for monitor ", outcome.monitor,
                                           ": ", alert.status().message()));
    }
  };
  CAIRN_ASSIGN_OR_RETURN(state.monitors, monitoring::MonitorService::Open(
                                             *state.db, RealClock(), state.events.get(), io));
  return absl::OkStatus();
}

// Serving and CI/CD (cicd/release_stack.h) and the registry's webhooks. Opened before
// monitoring: monitors read the endpoints' inference logs.
absl::Status OpenServing(const ServerConfig& config, ServerState& state) {
  std::error_code ec;
  cicd::ReleaseStackOptions options;
  options.db = state.db.get();
  options.registry = state.registry.get();
  options.tracking = state.tracking.get();
  options.artifacts = state.artifacts.get();
  options.online = &state.feature_store->online_service();
  options.training_sets = &state.feature_store->training_sets();  // batch prediction
  options.events = state.events.get();
  options.data_dir = std::filesystem::absolute(config.data_dir, ec).lexically_normal().string();
  // The server's own files under --data (OpenState and the stores it opens).
  options.protected_paths = {"cairn.db",  "cairn.db-wal", "cairn.db-shm", "artifacts",
                             "offline",   "online",       "pipelines",    "quarantine"};
  CAIRN_ASSIGN_OR_RETURN(state.release, cicd::OpenReleaseStack(options));
  CAIRN_ASSIGN_OR_RETURN(state.webhooks, cicd::Webhooks::Open(*state.db, state.registry.get(),
                                                               state.events.get(), RealClock()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServerState>> OpenState(const ServerConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("--data ", config.data_dir,
                                                   ": cannot create directory: ", ec.message()));
  auto state = std::make_unique<ServerState>();
  std::string url = config.metadata_url.empty()
                        ? (std::filesystem::path(config.data_dir) / "cairn.db").string()
                        : config.metadata_url;
  CAIRN_ASSIGN_OR_RETURN(state->db, storage::OpenDatabase(url));
  CAIRN_ASSIGN_OR_RETURN(state->tracking, tracking::TrackingStore::Open(*state->db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(state->registry, tracking::ModelRegistry::Open(*state->db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(state->logged_models, tracking::LoggedModelStore::Open(
                                                   *state->db, RealClock(), *state->tracking));
  CAIRN_ASSIGN_OR_RETURN(
      state->feature_store,
      features::FeatureStore::Open(*state->db, RealClock(),
                                   {.data_dir = config.data_dir, .online_url = config.online_url}));
  state->artifacts = std::make_unique<storage::ArtifactStore>(
      (std::filesystem::path(config.data_dir) / "artifacts").string());
  state->events = std::make_unique<EventBus>();
  CAIRN_RETURN_IF_ERROR(OpenExecutors(config, *state));
  CAIRN_RETURN_IF_ERROR(OpenPipelines(config, *state));
  CAIRN_RETURN_IF_ERROR(OpenServing(config, *state));
  CAIRN_RETURN_IF_ERROR(OpenMonitoring(config, *state));
  state->context = ApiContext{.tracking = state->tracking.get(),
                              .registry = state->registry.get(),
                              .logged_models = state->logged_models.get(),
                              .artifacts = state->artifacts.get(),
                              .feature_registry = &state->feature_store->registry(),
                              .feature_store = state->feature_store.get(),
                              .apply_features = {},
                              .events = state->events.get(),
                              .pipelines = &state->pipeline_api,
                              .executors = {}};
  state->context.profiles = state->profiles.get();
  state->context.alerts = state->alerts.get();
  state->context.monitors = state->monitors.get();
  cicd::ReleaseStack& release = *state->release;
  state->context.endpoint_registry = release.endpoint_registry.get();
  state->context.endpoints = release.endpoints.get();
  state->context.endpoint_store = release.endpoint_store.get();
  state->context.inference_log = release.inference_log.get();
  state->context.policies = release.policies.get();
  state->context.evaluations = release.evaluations.get();
  state->context.promotion = release.promotion.get();
  state->context.webhooks = state->webhooks.get();
  state->context.executors.push_back(state->local_executor.get());
  if (state->slurm_executor != nullptr) {
    state->context.executors.push_back(state->slurm_executor.get());
  }
  features::FeatureStore* store = state->feature_store.get();
  store->StartBackground(/*compact_every_ms=*/60'000, config.materialize_every_ms);
  state->context.apply_features = [store](const features::DefinitionSet& defs, bool dry_run,
                                          bool prune) { return store->Apply(defs, dry_run, prune); };
  return state;
}

}  // namespace

int RunServer(const ServerConfig& config) {
  // Large response buffers (a million-point metric history is ~75 MB) are mapped and
  // unmapped on their own instead of staying in the heap after they are freed: glibc's
  // adaptive threshold would otherwise keep the biggest buffer ever used resident.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  auto state = OpenState(config);
  if (!state.ok()) {
    std::fprintf(stderr, "cairn server: %s\n", std::string(state.status().message()).c_str());
    return 1;
  }
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  ServerOptions options;
  options.host = config.host;
  options.port = config.port;
  options.io_threads = config.io_threads > 0 ? config.io_threads : static_cast<int>(cores);
  options.predict_threads = config.predict_threads;
  options.worker_threads = config.worker_threads > 0
                               ? config.worker_threads
                               : static_cast<int>(std::max(4u, 2 * cores));
  options.tmp_dir = (*state)->artifacts->TempDir();
  options.access_log = config.access_log;
  HttpServer server(options, BuildRouter((*state)->context));
  absl::Status started = server.Start();
  if (!started.ok()) {
    std::fprintf(stderr, "cairn server: %s\n", std::string(started.message()).c_str());
    return 1;
  }
  server.StopOnSignals();
  // Steps reach the server at its real address (port 0 picks one at Start), so runs left
  // unfinished by a previous server resume only now, and schedules start firing.
  const std::string url = absl::StrCat(
      "http://", config.host == "0.0.0.0" ? "127.0.0.1" : config.host, ":", server.port());
  (*state)->engine->SetServerUrl(url);
  if (absl::Status recovered = (*state)->engine->Recover(); !recovered.ok()) {
    Log(LogLevel::kError, absl::StrCat("pipelines: resuming unfinished runs failed: ",
                                       recovered.message()));
  }
  // Alerts whose retraining run ended while no server listened move on now.
  pipelines::PipelineEngine* engine = (*state)->engine.get();
  if (absl::Status reconciled = (*state)->alerts->Reconcile(
          [engine](const std::string& run_id) -> absl::StatusOr<std::string> {
            CAIRN_ASSIGN_OR_RETURN(pipelines::RunRecord run, engine->GetRun(run_id));
            return std::string(pipelines::RunStateName(run.state));
          });
      !reconciled.ok()) {
    Log(LogLevel::kError, absl::StrCat("alerts: reconciling retraining runs failed: ",
                                       reconciled.message()));
  }
  (*state)->schedules->Start();
  (*state)->monitors->Start();  // after Recover: retraining runs get the server's URL
  std::printf("cairn server listening on http://%s:%d\n", config.host.c_str(), server.port());
  std::fflush(stdout);
  Log(LogLevel::kInfo, absl::StrCat("data directory ", config.data_dir));
  server.Wait();
  // Endpoints stop taking predictions and promoting; the inference log writes what it
  // holds.
  (*state)->release->Shutdown();
  // Monitors hand outcomes to alerts and alerts start runs: both stop before the engine,
  // so a run in flight at SIGTERM never meets a stopped engine (which would count as a
  // failed retraining attempt).
  (*state)->monitors->Shutdown();
  (*state)->alerts->Shutdown();
  (*state)->schedules->Shutdown();
  (*state)->engine->Shutdown();
  Log(LogLevel::kInfo, "server stopped");
  return 0;
}

}  // namespace cairn::api
