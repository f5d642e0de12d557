#include "demo/demo.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"
#include "demo/churn_data.h"
#include "demo/xgb_trainer.h"
#include "storage/artifact_store.h"
#include "storage/database.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"
#include "tracking/types.h"

namespace cairn::demo {
namespace {

constexpr double kValidationFraction = 0.2;
constexpr uint64_t kSplitSeed = 7;
// Metrics are flushed to the store every this many rounds, so a server watching the same
// database sees the curves grow while keeping the number of commits small.
constexpr int kFlushEveryRounds = 10;

// Models trained side by side: --threads, else one per core.
int WorkerCount(const DemoOptions& options) {
  if (options.threads > 0) return options.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string UserName() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? std::string(user) : std::string("cairn-demo");
}

std::string RunName(int max_depth, double eta) {
  return absl::StrFormat("xgb-depth%d-eta%g", max_depth, eta);
}

// The MLmodel file of MLflow's xgboost flavor, so that `mlflow.pyfunc.load_model(
// "models:/churn@production")` can load the booster through Cairn's artifact proxy.
std::string MlmodelYaml(const std::string& run_id, int64_t created_ms) {
  return absl::StrCat(
      "artifact_path: model\n"
      "flavors:\n"
      "  python_function:\n"
      "    data: model.json\n"
      "    loader_module: mlflow.xgboost\n"
      "  xgboost:\n"
      "    code: null\n"
      "    data: model.json\n"
      "    model_class: xgboost.core.Booster\n"
      "    model_format: json\n"
      "    xgb_version: 1.7.4\n"
      "run_id: ",
      run_id, "\nutc_time_created_ms: ", created_ms, "\n");
}

// The stores the demo writes to, opened like `cairn server --data DIR` opens them.
struct Stores {
  std::unique_ptr<storage::Database> db;
  std::unique_ptr<tracking::TrackingStore> tracking;
  std::unique_ptr<tracking::ModelRegistry> registry;
  std::unique_ptr<storage::ArtifactStore> artifacts;
};

absl::StatusOr<Stores> OpenStores(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data ", data_dir, ": cannot create directory: ", ec.message()));
  }
  Stores stores;
  const std::filesystem::path root(data_dir);
  CAIRN_ASSIGN_OR_RETURN(stores.db, storage::OpenDatabase((root / "cairn.db").string()));
  CAIRN_ASSIGN_OR_RETURN(stores.tracking,
                         tracking::TrackingStore::Open(*stores.db, RealClock()));
  CAIRN_ASSIGN_OR_RETURN(stores.registry, tracking::ModelRegistry::Open(*stores.db, RealClock()));
  stores.artifacts = std::make_unique<storage::ArtifactStore>((root / "artifacts").string());
  return stores;
}

absl::StatusOr<std::string> EnsureExperiment(tracking::TrackingStore& store) {
  absl::StatusOr<tracking::Experiment> existing = store.GetExperimentByName(kDemoExperiment);
  if (existing.ok()) {
    if (existing->lifecycle_stage == tracking::kLifecycleDeleted) {
      CAIRN_RETURN_IF_ERROR(store.RestoreExperiment(existing->experiment_id));
    }
    return existing->experiment_id;
  }
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  return store.CreateExperiment(
      kDemoExperiment, "",
      {{"mlflow.note.content",
        "Churn prediction: which subscribers leave in the next 30 days (cairn demo)."}});
}

absl::Status EnsureRegisteredModel(tracking::ModelRegistry& registry) {
  absl::StatusOr<tracking::RegisteredModel> existing = registry.GetRegisteredModel(kDemoModel);
  if (existing.ok()) return absl::OkStatus();
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  return registry
      .CreateRegisteredModel(kDemoModel,
                             "XGBoost churn classifier trained by `cairn demo`; the "
                             "`production` alias names the version to serve.")
      .status();
}

// Trains one grid point and logs it as a run; marks the run FAILED on error.
absl::StatusOr<DemoRun> TrainAndLogRun(Stores& stores, const std::string& experiment_id,
                                       const TrainValidationSplit& split,
                                       const DemoOptions& options, int max_depth, double eta) {
  const auto start = std::chrono::steady_clock::now();
  Clock& clock = RealClock();
  DemoRun demo_run;
  demo_run.run_name = RunName(max_depth, eta);
  demo_run.max_depth = max_depth;
  demo_run.eta = eta;
  demo_run.num_round = options.num_round;

  tracking::CreateRunRequest request;
  request.experiment_id = experiment_id;
  request.user_id = UserName();
  request.run_name = demo_run.run_name;
  request.tags = {{"mlflow.source.name", "cairn demo"},
                  {"mlflow.source.type", "LOCAL"},
                  {"model_type", "xgboost"},
                  {"cairn.demo", "true"}};
  CAIRN_ASSIGN_OR_RETURN(tracking::Run run, stores.tracking->CreateRun(request));
  demo_run.run_id = run.info.run_id;

  auto body = [&]() -> absl::Status {
    XgbParams params;
    params.max_depth = max_depth;
    params.eta = eta;
    params.num_round = options.num_round;
    params.threads = options.threads;
    std::vector<tracking::Param> run_params;
    for (const auto& [key, value] : params.AsParams()) run_params.push_back({key, value});
    run_params.push_back({"train_rows", absl::StrCat(split.train.rows())});
    run_params.push_back({"validation_rows", absl::StrCat(split.validation.rows())});
    run_params.push_back({"features", absl::StrCat(split.train.cols())});
    run_params.push_back({"data_seed", absl::StrCat(options.data_seed)});
    CAIRN_RETURN_IF_ERROR(stores.tracking->LogBatch(run.info.run_id, {}, run_params, {}));

    std::vector<tracking::Metric> pending;
    auto flush = [&]() -> absl::Status {
      if (pending.empty()) return absl::OkStatus();
      absl::Status logged = stores.tracking->LogBatch(run.info.run_id, pending, {}, {});
      pending.clear();
      return logged;
    };
    CAIRN_ASSIGN_OR_RETURN(
        TrainResult trained,
        TrainXgbClassifier(split.train, split.validation, params,
                           [&](const IterationMetrics& metrics) -> absl::Status {
                             const int64_t now = clock.NowMillis();
                             const int64_t step = metrics.iteration;
                             pending.push_back({"train_logloss", metrics.train_logloss, now, step});
                             pending.push_back({"val_logloss", metrics.val_logloss, now, step});
                             pending.push_back({"train_auc", metrics.train_auc, now, step});
                             pending.push_back({"val_auc", metrics.val_auc, now, step});
                             if ((metrics.iteration + 1) % kFlushEveryRounds == 0) return flush();
                             return absl::OkStatus();
                           }));
    CAIRN_RETURN_IF_ERROR(flush());

    const IterationMetrics& last = trained.final_metrics();
    const auto best = std::max_element(
        trained.history.begin(), trained.history.end(),
        [](const IterationMetrics& lhs, const IterationMetrics& rhs) {
          return lhs.val_auc < rhs.val_auc;
        });
    const int64_t now = clock.NowMillis();
    const int64_t final_step = last.iteration;
    CAIRN_RETURN_IF_ERROR(stores.tracking->LogBatch(
        run.info.run_id,
        {{"best_val_auc", best->val_auc, now, final_step},
         {"best_iteration", static_cast<double>(best->iteration), now, final_step},
         {"train_seconds", trained.train_seconds, now, final_step}},
        {}, {}));

    CAIRN_ASSIGN_OR_RETURN(std::string run_dir,
                           storage::ArtifactStore::RelativePathOfUri(run.info.artifact_uri));
    CAIRN_RETURN_IF_ERROR(
        stores.artifacts->PutBytes(absl::StrCat(run_dir, "/model/model.json"), trained.model_json));
    CAIRN_RETURN_IF_ERROR(stores.artifacts->PutBytes(absl::StrCat(run_dir, "/model/MLmodel"),
                                                     MlmodelYaml(run.info.run_id, now)));

    demo_run.val_auc = last.val_auc;
    demo_run.val_logloss = last.val_logloss;
    CAIRN_RETURN_IF_ERROR(stores.tracking
                              ->UpdateRun(run.info.run_id, std::string("FINISHED"),
                                          clock.NowMillis(), std::nullopt)
                              .status());
    return absl::OkStatus();
  };
  absl::Status status = body();
  if (!status.ok()) {
    // Best effort: the run's real error is what the caller needs to see.
    stores.tracking->UpdateRun(run.info.run_id, std::string("FAILED"), clock.NowMillis(),
                               std::nullopt)
        .status()
        .IgnoreError();
    return status;
  }
  demo_run.seconds = SecondsSince(start);
  return demo_run;
}

void PrintSummary(const DemoResult& result, std::ostream& out) {
  out << absl::StrFormat("  %-22s %-32s %9s %12s %9s  %s\n", "RUN", "PARAMS", "VAL AUC",
                         "VAL LOGLOSS", "DURATION", "RUN ID");
  for (size_t run_idx = 0; run_idx < result.runs.size(); ++run_idx) {
    const DemoRun& run = result.runs[run_idx];
    out << absl::StrFormat(
        "%s %-22s %-32s %9.4f %12.4f %8.1fs  %s\n", run_idx == result.best_run_index ? "*" : " ",
        run.run_name,
        absl::StrFormat("max_depth=%d eta=%g rounds=%d", run.max_depth, run.eta, run.num_round),
        run.val_auc, run.val_logloss, run.seconds, run.run_id);
  }
}

}  // namespace

absl::StatusOr<DemoResult> RunDemoSteps(const DemoOptions& options, std::ostream& out) {
  if (options.rows < 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rows: must be at least 100, got ", options.rows));
  }
  if (options.max_depths.empty() || options.etas.empty()) {
    return absl::InvalidArgumentError("grid: needs at least one max_depth and one eta");
  }
  if (options.num_round < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_round: must be at least 1, got ", options.num_round));
  }

  out << "Cairn demo: predicting which subscribers churn in the next 30 days\n\n";
  out << absl::StrFormat("[1/4] Generating %d customers (seed %d) ...", options.rows,
                         options.data_seed)
      << std::flush;
  auto step_start = std::chrono::steady_clock::now();
  const Dataset data = GenerateChurnData(options.rows, options.data_seed);
  const TrainValidationSplit split = SplitTrainValidation(data, kValidationFraction, kSplitSeed);
  out << absl::StrFormat(
      " done in %.2fs: %d features, churn rate %.1f%%, %d train / %d validation rows\n",
      SecondsSince(step_start), data.cols(), 100.0 * data.PositiveRate(), split.train.rows(),
      split.validation.rows());

  CAIRN_ASSIGN_OR_RETURN(Stores stores, OpenStores(options.data_dir));
  DemoResult result;
  CAIRN_ASSIGN_OR_RETURN(result.experiment_id, EnsureExperiment(*stores.tracking));
  const size_t grid_size = options.max_depths.size() * options.etas.size();
  out << absl::StrFormat(
      "[2/4] Training %d XGBoost models (max_depth × eta, %d rounds each, %d at a time), "
      "logging to experiment '%s' (id %s) in %s\n",
      grid_size, options.num_round, std::min<size_t>(grid_size, WorkerCount(options)),
      kDemoExperiment, result.experiment_id,
      (std::filesystem::path(options.data_dir) / "cairn.db").string());
  struct GridPoint {
    int max_depth;
    double eta;
  };
  std::vector<GridPoint> grid;
  for (int max_depth : options.max_depths) {
    for (double eta : options.etas) grid.push_back({max_depth, eta});
  }
  // One single-threaded booster per worker: on a small, busy machine several models
  // side by side keep the cores busy, where one multi-threaded booster loses most of its
  // time in OpenMP barriers whenever another process takes a core.
  const size_t workers = std::min(grid.size(), static_cast<size_t>(WorkerCount(options)));
  std::vector<std::optional<absl::StatusOr<DemoRun>>> outcomes(grid.size());
  std::atomic<size_t> next_point{0};
  std::atomic<bool> failed{false};
  std::mutex out_mu;
  auto worker = [&] {
    for (size_t point_idx = next_point++; point_idx < grid.size() && !failed;
         point_idx = next_point++) {
      DemoOptions single_threaded = options;
      single_threaded.threads = 1;
      absl::StatusOr<DemoRun> run =
          TrainAndLogRun(stores, result.experiment_id, split, single_threaded,
                         grid[point_idx].max_depth, grid[point_idx].eta);
      {
        std::lock_guard<std::mutex> lock(out_mu);
        if (run.ok()) {
          out << absl::StrFormat("      %-22s val AUC %.4f, val logloss %.4f (%.1fs)\n",
                                 run->run_name, run->val_auc, run->val_logloss, run->seconds)
              << std::flush;
        } else {
          failed = true;
        }
      }
      outcomes[point_idx] = std::move(run);
    }
  };
  std::vector<std::thread> threads;
  for (size_t worker_idx = 1; worker_idx < workers; ++worker_idx) threads.emplace_back(worker);
  worker();
  for (std::thread& thread : threads) thread.join();
  for (auto& outcome : outcomes) {
    if (!outcome.has_value()) continue;  // not started after another run failed
    if (!outcome->ok()) return outcome->status();
    result.runs.push_back(std::move(**outcome));
  }
  result.best_run_index = static_cast<size_t>(
      std::max_element(result.runs.begin(), result.runs.end(),
                       [](const DemoRun& lhs, const DemoRun& rhs) {
                         return lhs.val_auc < rhs.val_auc;
                       }) -
      result.runs.begin());
  const DemoRun& best = result.runs[result.best_run_index];

  CAIRN_RETURN_IF_ERROR(EnsureRegisteredModel(*stores.registry));
  CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo best_info,
                         stores.tracking->GetRunInfo(best.run_id));
  CAIRN_ASSIGN_OR_RETURN(
      tracking::ModelVersion version,
      stores.registry->CreateModelVersion(
          kDemoModel, absl::StrCat(best_info.artifact_uri, "/model"), best.run_id,
          {{"val_auc", absl::StrFormat("%.4f", best.val_auc)}, {"run_name", best.run_name}}));
  result.model_version = version.version;
  out << absl::StrFormat("[3/4] Registered the best run (%s, val AUC %.4f) as model '%s' "
                         "version %d\n",
                         best.run_name, best.val_auc, kDemoModel, version.version);

  absl::StatusOr<tracking::ModelVersion> previous =
      stores.registry->GetModelVersionByAlias(kDemoModel, kDemoAlias);
  const std::string reason =
      absl::StrFormat("best val_auc %.4f of %d runs in grid (run %s)", best.val_auc,
                      result.runs.size(), best.run_name);
  CAIRN_RETURN_IF_ERROR(stores.registry->SetAlias(kDemoModel, kDemoAlias, version.version,
                                                  "cairn demo", reason));
  if (previous.ok()) {
    out << absl::StrFormat("[4/4] Moved alias '%s' from version %d to version %d\n",
                           kDemoAlias, previous->version, version.version);
  } else {
    out << absl::StrFormat("[4/4] Pointed alias '%s' at version %d\n", kDemoAlias,
                           version.version);
  }

  out << "\nSummary (* = registered, now " << kDemoModel << "@" << kDemoAlias << "):\n";
  PrintSummary(result, out);
  out << absl::StrFormat(
      "\nBrowse the results:\n"
      "  cairn server --data %s\n"
      "  cairn runs list --experiment %s\n"
      "  cairn runs search --experiment %s --order-by \"metrics.val_auc DESC\" --max 3\n"
      "  cairn models alias get %s %s\n"
      "  cairn models alias history %s\n"
      "MLflow's client and UI work against the same server:\n"
      "  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python -c \"import mlflow; "
      "print(mlflow.search_runs(experiment_names=['%s']))\"\n",
      options.data_dir, kDemoExperiment, kDemoExperiment, kDemoModel, kDemoAlias, kDemoModel,
      kDemoExperiment);
  return result;
}

int RunDemo(const DemoOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<DemoResult> result = RunDemoSteps(options, std::cout);
  if (!result.ok()) {
    std::cout << std::flush;
    std::cerr << "\ncairn demo: " << result.status().ToString() << "\n";
    return 1;
  }
  std::cout << absl::StrFormat("\nDemo finished in %.1fs.\n", SecondsSince(start));
  return 0;
}

}  // namespace cairn::demo
