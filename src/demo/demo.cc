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

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "demo/churn_data.h"
#include "demo/churn_definitions.h"
#include "demo/churn_events.h"
#include "demo/training_data.h"
#include "demo/xgb_trainer.h"
#include "features/definition_yaml.h"
#include "features/feature_plan.h"
#include "features/feature_store.h"
#include "features/view_rows.h"
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
  std::unique_ptr<features::FeatureStore> features;  // declared after db: closed before it
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
  CAIRN_ASSIGN_OR_RETURN(stores.features,
                         features::FeatureStore::Open(*stores.db, RealClock(),
                                                      {.data_dir = data_dir,
                                                       .online_url = "embedded"}));
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
                                       const tracking::DatasetInput& training_set,
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
                  {"cairn.demo", "true"},
                  {"cairn.training_set", training_set.dataset.source}};
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
    CAIRN_RETURN_IF_ERROR(stores.tracking->LogInputs(run.info.run_id, {training_set}));

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

// "1,234,567".
std::string Grouped(int64_t value) {
  std::string digits = absl::StrCat(value < 0 ? -value : value);
  std::string out;
  for (size_t idx = 0; idx < digits.size(); ++idx) {
    if (idx > 0 && (digits.size() - idx) % 3 == 0) out.push_back(',');
    out.push_back(digits[idx]);
  }
  return value < 0 ? absl::StrCat("-", out) : out;
}

// "340k rows/s".
std::string RowsPerSecond(int64_t rows, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(rows) / seconds : 0;
  if (rate >= 1e6) return absl::StrFormat("%.1fM rows/s", rate / 1e6);
  if (rate >= 1e3) return absl::StrFormat("%.0fk rows/s", rate / 1e3);
  return absl::StrFormat("%.0f rows/s", rate);
}

// A plan line: "+ FeatureView customer_spend (v1)", "~ … (v1 -> v2)", "= … (v1, unchanged)".
std::string PlanLine(const features::PlannedChange& change) {
  const std::string object = absl::StrFormat("%-14s %s", features::KindName(change.kind),
                                             change.name);
  switch (change.action) {
    case features::ChangeAction::kAdded:
      return absl::StrFormat("+ %s (v%d)", object, change.new_version);
    case features::ChangeAction::kChanged:
      return absl::StrFormat("~ %s (v%d -> v%d)", object, change.old_version, change.new_version);
    case features::ChangeAction::kUnchanged:
      return absl::StrFormat("= %s (v%d, unchanged)", object, change.new_version);
    case features::ChangeAction::kRemoved:
      return absl::StrFormat("- %s (v%d, removed)", object, change.old_version);
  }
  return object;
}

absl::StatusOr<features::DefinitionSet> LoadDefinitions(const DemoOptions& options,
                                                        std::string* shown_path) {
  std::vector<features::DefinitionFile> files;
  if (options.features_path.empty()) {
    files = ChurnDefinitionFiles();
    *shown_path = absl::StrCat(kChurnDefinitionsDir, " (built in)");
  } else {
    CAIRN_ASSIGN_OR_RETURN(files, features::ReadDefinitionFiles(options.features_path));
    *shown_path = options.features_path;
  }
  return features::ParseDefinitionFiles(files);
}

// Rows already in a source's offline table (0 before the first ingest).
int64_t StoredSourceRows(features::FeatureStore& store, std::string_view source) {
  const std::string prefix = absl::StrCat(features::SourceTableName(source), ".");
  int64_t rows = 0;
  for (const std::string& table : store.offline().ListTables()) {
    if (!absl::StartsWith(table, prefix)) continue;
    absl::StatusOr<features::OfflineStore::TableStats> stats = store.offline().Stats(table);
    if (stats.ok()) rows += stats->rows;
  }
  return rows;
}

struct RawFile {
  const char* source;
  const char* file;
  size_t rows;
};

std::vector<RawFile> RawFiles(const ChurnEvents& events) {
  return {{"customers", kCustomersCsv, events.customers.size()},
          {"transactions", kTransactionsCsv, events.transactions.size()},
          {"logins", kLoginsCsv, events.logins.size()},
          {"support_tickets", kTicketsCsv, events.tickets.size()}};
}

// Ingests the four CSV files, or, when a previous run on this directory ingested exactly
// these events, reuses them (ingesting again would count every event twice).
absl::Status IngestRawEvents(features::FeatureStore& store, const ChurnEvents& events,
                             const DemoOptions& options, const std::string& raw_dir,
                             DemoResult& result, std::ostream& out) {
  const std::vector<RawFile> files = RawFiles(events);
  bool all_stored = true, none_stored = true;
  for (const RawFile& file : files) {
    const int64_t stored = StoredSourceRows(store, file.source);
    all_stored &= stored == static_cast<int64_t>(file.rows);
    none_stored &= stored == 0;
  }
  if (all_stored) {
    out << absl::StrFormat(
        "[3/8] Ingest: %s already holds these %s events (same %s customers, seed %d); "
        "reusing them\n",
        options.data_dir, Grouped(static_cast<int64_t>(events.event_count())),
        Grouped(options.rows),
        options.data_seed);
    for (const RawFile& file : files) result.ingested_rows[file.source] = file.rows;
    result.reused_ingested_events = true;
    return absl::OkStatus();
  }
  if (!none_stored) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "--data %s: its feature store already holds the raw events of another demo run "
        "(other --rows or seed); rerun with the same --rows, or use a fresh --data directory",
        options.data_dir));
  }
  out << "[3/8] Ingesting the raw files (typed by each source's schema, then derived into "
         "the source's feature views):\n";
  for (const RawFile& file : files) {
    const auto start = std::chrono::steady_clock::now();
    features::IngestRequest request;
    request.source = file.source;
    request.path = (std::filesystem::path(raw_dir) / file.file).string();
    request.file_label = absl::StrCat("raw/", file.file);
    CAIRN_ASSIGN_OR_RETURN(features::IngestResult ingested, store.Ingest(request));
    const double seconds = SecondsSince(start);
    std::vector<std::string> views;
    for (const auto& [view, rows] : ingested.view_rows) views.push_back(view);
    out << absl::StrFormat("      %-16s %9s rows in %5.2fs (%s) -> %s\n", file.source,
                           Grouped(ingested.rows), seconds,
                           RowsPerSecond(ingested.rows, seconds), absl::StrJoin(views, ", "));
    result.ingested_rows[file.source] = ingested.rows;
  }
  return absl::OkStatus();
}

// The response as Feast's server writes it, trimmed to the entity column and one or two
// features of each view (the rest are counted by status).
void PrintOnlineResponse(std::string_view response_json, std::ostream& out) {
  // ordered_json keeps Feast's key order (values, statuses, event_timestamps).
  const nlohmann::ordered_json response =
      nlohmann::ordered_json::parse(response_json, nullptr, /*allow_exceptions=*/false);
  if (response.is_discarded() || !response.contains("results")) {
    out << "      " << response_json << "\n";
    return;
  }
  static constexpr std::string_view kShown[] = {"customer_id",  "plan_tier",
                                                "spend_30d",    "failed_payments_30d",
                                                "logins_7d",    "session_minutes_30d",
                                                "tickets_30d"};
  const auto& names = response["metadata"]["feature_names"];
  const auto& results = response["results"];
  std::vector<std::string> shown_names;
  std::vector<std::string> shown_results;
  std::map<std::string, int> statuses;
  for (size_t idx = 0; idx < names.size() && idx < results.size(); ++idx) {
    if (idx > 0) {
      for (const auto& status : results[idx]["statuses"]) ++statuses[status.get<std::string>()];
    }
    const std::string name = names[idx].is_string() ? names[idx].get<std::string>() : "";
    if (std::find(std::begin(kShown), std::end(kShown), name) == std::end(kShown)) continue;
    shown_names.push_back(names[idx].dump());
    shown_results.push_back(results[idx].dump());
  }
  std::vector<std::string> counts;
  for (const auto& [status, count] : statuses) counts.push_back(absl::StrCat(count, " ", status));
  const size_t hidden = names.size() - shown_names.size();
  out << absl::StrFormat("      {\"metadata\": {\"feature_names\": [%s, … %d more]},\n",
                         absl::StrJoin(shown_names, ", "), hidden);
  out << "       \"results\": [\n";
  for (const std::string& result : shown_results) out << "         " << result << ",\n";
  out << absl::StrFormat("         … %d more]}\n", hidden);
  out << absl::StrFormat("      features: %s\n", absl::StrJoin(counts, ", "));
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
  const std::filesystem::path root(options.data_dir);
  DemoResult result;

  out << "Cairn demo: predicting which subscribers churn in the next 30 days\n\n";
  // Chapter 1: raw events, as a product's event logs would export them.
  out << absl::StrFormat("[1/8] Generating raw events for %s customers (seed %d) ...",
                         Grouped(options.rows), options.data_seed)
      << std::flush;
  auto step_start = std::chrono::steady_clock::now();
  const ChurnEvents events = GenerateChurnEvents(options.rows, options.data_seed);
  const std::string raw_dir = (root / "raw").string();
  CAIRN_RETURN_IF_ERROR(WriteChurnCsvFiles(events, raw_dir));
  result.raw_events = static_cast<int64_t>(events.event_count());
  out << absl::StrFormat(
      " done in %.2fs\n"
      "      %s events, %s to %s: %s transactions, %s logins, %s support tickets, %s "
      "customers\n"
      "      -> %s/*.csv; labels: churned within 30 days after a prediction time in Apr-May "
      "(%.1f%%), in raw/%s\n",
      SecondsSince(step_start), Grouped(result.raw_events),
      FormatTimestamp(std::max(events.first_event_ts, *ParseTimestamp("2024-01-01"))).substr(0, 10),
      FormatTimestamp(events.last_event_ts).substr(0, 10),
      Grouped(static_cast<int64_t>(events.transactions.size())),
      Grouped(static_cast<int64_t>(events.logins.size())),
      Grouped(static_cast<int64_t>(events.tickets.size())),
      Grouped(static_cast<int64_t>(events.customers.size())), raw_dir, 100.0 * events.ChurnRate(),
      kLabelsCsv);

  // Chapter 2: the feature definitions.
  step_start = std::chrono::steady_clock::now();
  CAIRN_ASSIGN_OR_RETURN(Stores stores, OpenStores(options.data_dir));
  features::FeatureStore& feature_store = *stores.features;
  std::string definitions_path;
  CAIRN_ASSIGN_OR_RETURN(features::DefinitionSet definitions,
                         LoadDefinitions(options, &definitions_path));
  CAIRN_ASSIGN_OR_RETURN(std::vector<features::PlannedChange> plan,
                         feature_store.Apply(definitions, /*dry_run=*/false, /*prune=*/false));
  out << absl::StrFormat("[2/8] Applied %s to the feature registry in %s (%.2fs):\n",
                         definitions_path, (root / "cairn.db").string(), SecondsSince(step_start));
  for (const features::PlannedChange& change : plan) out << "      " << PlanLine(change) << "\n";

  // Chapter 3: ingestion.
  step_start = std::chrono::steady_clock::now();
  CAIRN_RETURN_IF_ERROR(IngestRawEvents(feature_store, events, options, raw_dir, result, out));
  if (!result.reused_ingested_events) {
    out << absl::StrFormat("      %s rows in %.2fs into %s\n", Grouped(result.raw_events),
                           SecondsSince(step_start), (root / "offline").string());
  }

  // Chapter 4: the point-in-time training set.
  step_start = std::chrono::steady_clock::now();
  features::HistoricalRequest historical;
  historical.entities = EntityRows(events.labels);
  historical.feature_service = "churn";
  CAIRN_ASSIGN_OR_RETURN(features::HistoricalResult training_set,
                         feature_store.GetHistoricalFeatures(historical));
  CAIRN_ASSIGN_OR_RETURN(Dataset data, TrainingSetToDataset(training_set.table));
  const TrainValidationSplit split = SplitTrainValidation(data, kValidationFraction, kSplitSeed);
  const tracking::DatasetInput training_input =
      TrainingSetInput(training_set.snapshot, training_set.table);
  result.training_set_id = training_set.snapshot.id;
  result.training_set_hash = training_set.snapshot.content_hash;
  result.training_rows = training_set.snapshot.rows;
  result.feature_names = data.feature_names;
  out << absl::StrFormat(
      "[4/8] Point-in-time training set, feature service 'churn': %s entity rows (customer_id, "
      "event_timestamp = prediction time, label) x %d features in %.2fs (join %d ms)\n"
      "      each value as of its row's prediction time (windows: the trailing 1/7/30/90 days); "
      "timestamps as days_since_*\n"
      "      snapshot %s, content hash %s…; %d train / %d validation rows, %.1f%% churn\n",
      Grouped(result.training_rows), data.cols(), SecondsSince(step_start), training_set.join_ms,
      training_input.dataset.source, result.training_set_hash.substr(0, 16), split.train.rows(),
      split.validation.rows(), 100.0 * data.PositiveRate());

  // Chapter 5: the XGBoost grid, tracked.
  CAIRN_ASSIGN_OR_RETURN(result.experiment_id, EnsureExperiment(*stores.tracking));
  const size_t grid_size = options.max_depths.size() * options.etas.size();
  out << absl::StrFormat(
      "[5/8] Training %d XGBoost models on it (max_depth × eta, %d rounds each, %d at a "
      "time), logging to experiment '%s' (id %s) in %s;\n"
      "      each run's input dataset: '%s' (the snapshot)\n",
      grid_size, options.num_round, std::min<size_t>(grid_size, WorkerCount(options)),
      kDemoExperiment, result.experiment_id,
      (std::filesystem::path(options.data_dir) / "cairn.db").string(), kTrainingDatasetName);
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
          TrainAndLogRun(stores, result.experiment_id, split, training_input, single_threaded,
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
  out << absl::StrFormat("[6/8] Registered the best run (%s, val AUC %.4f) as model '%s' "
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
    out << absl::StrFormat("[7/8] Moved alias '%s' from version %d to version %d\n",
                           kDemoAlias, previous->version, version.version);
  } else {
    out << absl::StrFormat("[7/8] Pointed alias '%s' at version %d\n", kDemoAlias,
                           version.version);
  }

  // Chapter 8: online features for serving.
  step_start = std::chrono::steady_clock::now();
  features::MaterializeRequest materialize;
  materialize.start = events.first_event_ts;
  materialize.end = events.last_event_ts + 1;  // the end is exclusive
  CAIRN_ASSIGN_OR_RETURN(auto materialized, feature_store.Materialize(materialize));
  int64_t keys_written = 0;
  for (const auto& [view, run] : materialized) {
    result.materialized_keys[view] = run.keys_written;
    keys_written += run.keys_written;
  }
  const double materialize_seconds = SecondsSince(step_start);
  step_start = std::chrono::steady_clock::now();
  result.online_customer_id = events.showcase_customer_id;
  const std::string request = absl::StrFormat(
      R"({"feature_service": "churn", "entities": {"customer_id": [%d]}})",
      result.online_customer_id);
  CAIRN_ASSIGN_OR_RETURN(result.online_response,
                         feature_store.online_service().GetOnlineFeatures(request));
  const double lookup_ms = 1000.0 * SecondsSince(step_start);
  out << absl::StrFormat(
      "[8/8] Materialized %d feature views into the online store (%s) up to the last event "
      "(%s): %s keys in %.2fs\n"
      "      POST /get-online-features %s  (%.1f ms in process)\n",
      materialized.size(), (root / "online").string(), FormatTimestamp(events.last_event_ts),
      Grouped(keys_written), materialize_seconds, request, lookup_ms);
  PrintOnlineResponse(result.online_response, out);

  out << "\nSummary (* = registered, now " << kDemoModel << "@" << kDemoAlias << "):\n";
  PrintSummary(result, out);
  out << absl::StrFormat(
      "\nBrowse the results:\n"
      "  cairn server --data %s\n"
      "  cairn runs list --experiment %s\n"
      "  cairn runs search --experiment %s --order-by \"metrics.val_auc DESC\" --max 3\n"
      "  cairn models alias get %s %s\n"
      "  cairn models alias history %s\n"
      "  cairn features list\n"
      "  cairn features describe customer_activity\n"
      "  cairn features historical --service churn --entities %s -o training.csv\n"
      "  curl -s http://127.0.0.1:5000/get-online-features -d '%s'\n"
      "MLflow's client and UI work against the same server:\n"
      "  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python -c \"import mlflow; "
      "print(mlflow.search_runs(experiment_names=['%s']))\"\n",
      options.data_dir, kDemoExperiment, kDemoExperiment, kDemoModel, kDemoAlias, kDemoModel,
      (root / "raw" / kLabelsCsv).string(), request, kDemoExperiment);
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
