#include "demo/demo.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "demo/churn_definitions.h"
#include "demo/churn_events.h"
#include "demo/churn_pipeline.h"
#include "demo/demo_monitoring.h"
#include "demo/demo_pipeline.h"
#include "demo/demo_stores.h"
#include "demo/step_io.h"
#include "demo/steps.h"
#include "features/definition_yaml.h"
#include "features/feature_plan.h"
#include "features/feature_store.h"
#include "features/view_rows.h"
#include "pipelines/step_cache.h"
#include "tracking/tracking_store.h"

namespace cairn::demo {
namespace {

// The shape of the churn-train pipeline's grid: steps train-1-1 … train-3-2.
constexpr size_t kGridDepths = 3;
constexpr size_t kGridEtas = 2;

// What the pipeline's steps run: --step-binary, else this executable (`cairn`).
absl::StatusOr<std::string> StepBinary(const DemoOptions& options) {
  if (!options.step_binary.empty()) return options.step_binary;
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot find this executable (/proc/self/exe: ", ec.message(),
        "); the pipeline's steps run it as `cairn demo step …`"));
  }
  return self.string();
}

// CPUs the pipeline's local executor may use: --threads, else the machine's.
std::optional<double> ExecutorCpus(const DemoOptions& options) {
  if (options.threads > 0) return options.threads;
  return std::nullopt;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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

// The definition files to apply: --features, else the copy compiled in.
absl::StatusOr<std::vector<features::DefinitionFile>> DefinitionFiles(
    const DemoOptions& options, std::string* shown_path) {
  if (options.features_path.empty()) {
    *shown_path = absl::StrCat(kChurnDefinitionsDir, " (built in)");
    return ChurnDefinitionFiles();
  }
  *shown_path = options.features_path;
  return features::ReadDefinitionFiles(options.features_path);
}

// What the training set depends on besides the pipeline's own definition: the generated
// events (their size and seed) and the feature definitions. The pipeline's training-set
// step reads the stores, not files, so this parameter carries them into its cache key.
std::string DataVersion(const DemoOptions& options,
                        const std::vector<features::DefinitionFile>& definitions) {
  std::string fingerprint = absl::StrCat("rows=", options.rows, "\nseed=", options.data_seed, "\n");
  for (const features::DefinitionFile& file : definitions) {
    absl::StrAppend(&fingerprint, file.path, "\n", file.content.size(), "\n", file.content);
  }
  return pipelines::Sha256Hex(fingerprint).substr(0, 16);
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
        "[3/10] Ingest: %s already holds these %s events (same %s customers, seed %d); "
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
  out << "[3/10] Ingesting the raw files (typed by each source's schema, then derived into "
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
  if (options.max_depths.size() != kGridDepths || options.etas.size() != kGridEtas) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "grid: the churn-train pipeline trains %d max_depth x %d eta values (steps "
        "train-1-1 … train-%d-%d); got %d x %d",
        kGridDepths, kGridEtas, kGridDepths, kGridEtas, options.max_depths.size(),
        options.etas.size()));
  }
  if (options.num_round < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_round: must be at least 1, got ", options.num_round));
  }
  const std::filesystem::path root(options.data_dir);
  DemoResult result;

  out << "Cairn demo: predicting which subscribers churn in the next 30 days\n\n";
  // Chapter 1: raw events, as a product's event logs would export them.
  out << absl::StrFormat("[1/10] Generating raw events for %s customers (seed %d) ...",
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
  // The online store answers as of the last generated event (the demo's "now"): request-time
  // features such as days_since_last_login_at then mean what they meant in training.
  // Declared before the stores, which borrow it.
  FakeClock as_of_clock(events.last_event_ts);
  CAIRN_ASSIGN_OR_RETURN(DemoStores stores, OpenDemoStores(options.data_dir, /*with_features=*/true));
  std::string definitions_path;
  CAIRN_ASSIGN_OR_RETURN(std::vector<features::DefinitionFile> definition_files,
                         DefinitionFiles(options, &definitions_path));
  CAIRN_ASSIGN_OR_RETURN(features::DefinitionSet definitions,
                         features::ParseDefinitionFiles(definition_files));
  CAIRN_ASSIGN_OR_RETURN(std::vector<features::PlannedChange> plan,
                         stores.features->Apply(definitions, /*dry_run=*/false, /*prune=*/false));
  out << absl::StrFormat("[2/10] Applied %s to the feature registry in %s (%.2fs):\n",
                         definitions_path, (root / "cairn.db").string(), SecondsSince(step_start));
  for (const features::PlannedChange& change : plan) out << "      " << PlanLine(change) << "\n";

  // Chapter 3: ingestion.
  step_start = std::chrono::steady_clock::now();
  CAIRN_RETURN_IF_ERROR(IngestRawEvents(*stores.features, events, options, raw_dir, result, out));
  if (!result.reused_ingested_events) {
    out << absl::StrFormat("      %s rows in %.2fs into %s\n", Grouped(result.raw_events),
                           SecondsSince(step_start), (root / "offline").string());
  }

  // Chapter 4: the training pipeline. Its training-set step opens the feature store in
  // its own process: this one closes it (the embedded online store lives in the memory of
  // the process that opened it) and opens it again for chapter 8.
  stores.features.reset();
  std::error_code ec;
  const std::filesystem::path absolute_root = std::filesystem::absolute(root, ec);
  TrainingPipelineOptions pipeline_options;
  pipeline_options.data_dir = absolute_root.lexically_normal().string();
  pipeline_options.cpus = ExecutorCpus(options);
  pipeline_options.no_cache = options.no_cache;
  CAIRN_ASSIGN_OR_RETURN(pipeline_options.params["cairn"], StepBinary(options));
  pipeline_options.params["data"] = pipeline_options.data_dir;
  pipeline_options.params["rows"] = absl::StrCat(options.rows);
  pipeline_options.params["data_version"] = DataVersion(options, definition_files);
  pipeline_options.params["num_round"] = absl::StrCat(options.num_round);
  for (size_t idx = 0; idx < options.max_depths.size(); ++idx) {
    pipeline_options.params[absl::StrCat("max_depth_", idx + 1)] =
        absl::StrCat(options.max_depths[idx]);
  }
  for (size_t idx = 0; idx < options.etas.size(); ++idx) {
    pipeline_options.params[absl::StrCat("eta_", idx + 1)] = absl::StrCat(options.etas[idx]);
  }
  out << absl::StrFormat(
      "[4/10] Training as a pipeline: %s (compiled in), %d XGBoost models (max_depth x eta, "
      "%d rounds each), each step `cairn demo step …` in its own process:\n",
      kChurnPipelinesDir, options.max_depths.size() * options.etas.size(), options.num_round);
  // What each step produced, read from its outputs as it ends.
  auto detail = [](const PipelineStepOutcome& step) -> std::string {
    auto output = [&](const char* name) -> absl::StatusOr<Json> {
      auto it = step.outputs.find(name);
      if (it == step.outputs.end()) return absl::NotFoundError(name);
      return ReadJsonFile(it->second);
    };
    if (step.name == "training-set") {
      absl::StatusOr<Json> snapshot = output("snapshot");
      if (!snapshot.ok()) return "";
      absl::StatusOr<TrainingSetStepResult> set = TrainingSetStepResultFromJson(*snapshot);
      if (!set.ok()) return "";
      return absl::StrFormat("%s rows x %d features", Grouped(set->rows),
                             set->feature_names.size());
    }
    if (absl::StartsWith(step.name, "train-")) {
      absl::StatusOr<Json> metrics = output("metrics");
      if (!metrics.ok()) return "";
      absl::StatusOr<DemoRun> run = DemoRunFromJson(*metrics, "metrics.json");
      if (!run.ok()) return "";
      return absl::StrFormat("%-18s val AUC %.4f", run->run_name, run->val_auc);
    }
    if (step.name == "evaluate") {
      absl::StatusOr<Json> best = output("best");
      if (!best.ok() || !best->contains("best")) return "";
      absl::StatusOr<DemoRun> run = DemoRunFromJson((*best)["best"], "best.json");
      if (!run.ok()) return "";
      return absl::StrFormat("best: %s (val AUC %.4f)", run->run_name, run->val_auc);
    }
    if (step.name == "register") {
      absl::StatusOr<Json> registered = output("registered");
      if (!registered.ok()) return "";
      absl::StatusOr<RegisterStepResult> version =
          RegisterStepResultFromJson(*registered, "registered.json");
      if (!version.ok()) return "";
      return absl::StrFormat("%s v%d%s", kDemoModel, version->version,
                             version->created ? "" : " (already registered)");
    }
    return "";
  };
  CAIRN_ASSIGN_OR_RETURN(TrainingPipelineRun pipeline,
                         RunTrainingPipeline(stores, pipeline_options, detail, out));
  result.pipeline_run_id = pipeline.run_id;
  result.pipeline_version = pipeline.version;
  result.pipeline_steps = pipeline.steps;
  result.steps_cached = pipeline.cached;
  auto output_of = [&](const std::string& step,
                       const std::string& name) -> absl::StatusOr<std::string> {
    const PipelineStepOutcome* outcome = pipeline.Step(step);
    if (outcome == nullptr || !outcome->outputs.contains(name)) {
      return absl::InternalError(absl::StrCat("pipeline run ", pipeline.run_id, ": step '", step,
                                              "' has no output '", name, "'"));
    }
    return outcome->outputs.at(name);
  };

  // Chapter 5: the point-in-time training set the models trained on.
  CAIRN_ASSIGN_OR_RETURN(std::string snapshot_path, output_of("training-set", "snapshot"));
  CAIRN_ASSIGN_OR_RETURN(Json snapshot, ReadJsonFile(snapshot_path));
  CAIRN_ASSIGN_OR_RETURN(TrainingSetStepResult training_set,
                         TrainingSetStepResultFromJson(snapshot));
  result.training_set_id = training_set.id;
  result.training_set_hash = training_set.content_hash;
  result.training_rows = training_set.rows;
  result.feature_names = training_set.feature_names;
  out << absl::StrFormat(
      "[5/10] Point-in-time training set (step training-set%s), feature service 'churn': %s "
      "entity rows (customer_id, event_timestamp = prediction time, label) x %d features "
      "(join %d ms)\n"
      "      each value as of its row's prediction time (windows: the trailing 1/7/30/90 days); "
      "timestamps as days_since_*\n"
      "      snapshot %s, content hash %s…; %d train / %d validation rows, %.1f%% churn\n",
      pipeline.Step("training-set")->state == "cached" ? ", cached" : "",
      Grouped(result.training_rows), result.feature_names.size(), training_set.join_ms,
      training_set.uri, result.training_set_hash.substr(0, 16), training_set.train_rows,
      training_set.validation_rows, 100.0 * training_set.positive_rate);

  // The grid, in grid order, from each train step's metrics.
  for (size_t depth_idx = 0; depth_idx < options.max_depths.size(); ++depth_idx) {
    for (size_t eta_idx = 0; eta_idx < options.etas.size(); ++eta_idx) {
      CAIRN_ASSIGN_OR_RETURN(
          std::string metrics_path,
          output_of(absl::StrCat("train-", depth_idx + 1, "-", eta_idx + 1), "metrics"));
      CAIRN_ASSIGN_OR_RETURN(Json metrics, ReadJsonFile(metrics_path));
      CAIRN_ASSIGN_OR_RETURN(DemoRun run, DemoRunFromJson(metrics, metrics_path));
      result.runs.push_back(std::move(run));
    }
  }
  result.best_run_index = static_cast<size_t>(
      std::max_element(result.runs.begin(), result.runs.end(),
                       [](const DemoRun& lhs, const DemoRun& rhs) {
                         return lhs.val_auc < rhs.val_auc;
                       }) -
      result.runs.begin());
  absl::StatusOr<tracking::Experiment> experiment =
      stores.tracking->GetExperimentByName(absl::StrCat("pipelines/", kChurnPipelineName));
  if (experiment.ok()) result.experiment_id = experiment->experiment_id;

  // Chapters 6 and 7: the registry, as the register step left it.
  CAIRN_ASSIGN_OR_RETURN(std::string registered_path, output_of("register", "registered"));
  CAIRN_ASSIGN_OR_RETURN(Json registered_json, ReadJsonFile(registered_path));
  CAIRN_ASSIGN_OR_RETURN(RegisterStepResult registered,
                         RegisterStepResultFromJson(registered_json, registered_path));
  // A cached register step registered nothing this time: its output is the earlier run's.
  const bool register_cached = pipeline.Step("register")->state == "cached";
  result.model_version = registered.version;
  result.model_version_created = registered.created && !register_cached;
  if (result.model_version_created) {
    out << absl::StrFormat(
        "[6/10] Registered the best run (%s, val AUC %.4f) as model '%s' version %d (step "
        "register)\n",
        registered.run_name, registered.val_auc, kDemoModel, registered.version);
  } else {
    out << absl::StrFormat(
        "[6/10] The best run (%s, val AUC %.4f) is model '%s' version %d already: no new "
        "version\n",
        registered.run_name, registered.val_auc, kDemoModel, registered.version);
  }
  absl::StatusOr<tracking::ModelVersion> production =
      stores.registry->GetModelVersionByAlias(kDemoModel, kDemoAlias);
  if (register_cached) {
    if (production.ok() && production->version == registered.version) {
      out << absl::StrFormat("[7/10] Alias '%s' stays on version %d\n", kDemoAlias,
                             registered.version);
    } else {
      out << absl::StrFormat(
          "[7/10] Alias '%s' was moved since (now %s); the cached register step leaves it "
          "(`cairn demo --no-cache` registers again)\n",
          kDemoAlias, production.ok() ? absl::StrCat("version ", production->version) : "unset");
    }
  } else if (!registered.previous_version.has_value()) {
    out << absl::StrFormat("[7/10] Pointed alias '%s' at version %d\n", kDemoAlias,
                           registered.version);
  } else if (*registered.previous_version != registered.version) {
    out << absl::StrFormat("[7/10] Moved alias '%s' from version %d to version %d\n", kDemoAlias,
                           *registered.previous_version, registered.version);
  } else {
    out << absl::StrFormat("[7/10] Alias '%s' stays on version %d\n", kDemoAlias,
                           registered.version);
  }

  // Chapter 8: online features for serving.
  step_start = std::chrono::steady_clock::now();
  CAIRN_RETURN_IF_ERROR(OpenFeatureStore(options.data_dir, stores, &as_of_clock));
  features::MaterializeRequest materialize;
  materialize.start = events.first_event_ts;
  materialize.end = events.last_event_ts + 1;  // the end is exclusive
  CAIRN_ASSIGN_OR_RETURN(auto materialized, stores.features->Materialize(materialize));
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
                         stores.features->online_service().GetOnlineFeatures(request));
  const double lookup_ms = 1000.0 * SecondsSince(step_start);
  out << absl::StrFormat(
      "[8/10] Materialized %d feature views into the online store (%s) up to the last event "
      "(%s): %s keys in %.2fs\n"
      "      POST /get-online-features %s  (%.1f ms in process)\n",
      materialized.size(), (root / "online").string(), FormatTimestamp(events.last_event_ts),
      Grouped(keys_written), materialize_seconds, request, lookup_ms);
  PrintOnlineResponse(result.online_response, out);

  // Chapter 9: production traffic drifts; the monitor, the alert and retraining.
  step_start = std::chrono::steady_clock::now();
  out << "[9/10] Monitoring production: simulated prediction requests, the same customers as "
         "the validation set on day 1, shifted from day 2 (prices up, logins down, more "
         "tickets):\n";
  MonitoringChapterOptions monitoring_options;
  monitoring_options.data_dir = pipeline_options.data_dir;
  monitoring_options.step_binary = pipeline_options.params["cairn"];
  CAIRN_ASSIGN_OR_RETURN(monitoring_options.train_path, output_of("training-set", "train"));
  CAIRN_ASSIGN_OR_RETURN(monitoring_options.validation_path,
                         output_of("training-set", "validation"));
  monitoring_options.seed = options.data_seed;
  monitoring_options.cpus = pipeline_options.cpus;
  CAIRN_ASSIGN_OR_RETURN(result.monitoring,
                         RunMonitoringChapter(stores, monitoring_options, out));
  out << absl::StrFormat("      monitoring chapter in %.2fs\n", SecondsSince(step_start));

  // Chapter 10: the retrained model through the release gate, a canary, serving.
  step_start = std::chrono::steady_clock::now();
  out << "[10/10] Releasing: the retrained model through the gate against production, a "
         "canary on the churn endpoint, then predictions with online features:\n";
  ReleaseChapterOptions release_options;
  release_options.data_dir = pipeline_options.data_dir;
  release_options.seed = options.data_seed;
  for (const CustomerRecord& customer : events.customers) {
    release_options.customer_ids.push_back(customer.customer_id);
  }
  std::rotate(release_options.customer_ids.begin(),
              std::find(release_options.customer_ids.begin(), release_options.customer_ids.end(),
                        events.showcase_customer_id),
              release_options.customer_ids.end());
  CAIRN_ASSIGN_OR_RETURN(result.release, RunReleaseChapter(stores, release_options, out));
  out << absl::StrFormat("      release chapter in %.2fs\n", SecondsSince(step_start));

  out << "\nSummary (* = registered, now " << kDemoModel << "@" << kDemoAlias << "):\n";
  PrintSummary(result, out);
  const std::string experiment_name = absl::StrCat("pipelines/", kChurnPipelineName);
  out << absl::StrFormat(
      "\nBrowse the results:\n"
      "  cairn server --data %s\n"
      "  cairn pipelines runs --pipeline %s\n"
      "  cairn pipelines get %s\n"
      "  cairn pipelines logs %s train-1-1\n"
      "  cairn runs search --experiment %s --order-by \"metrics.val_auc DESC\" --max 3\n"
      "  cairn models alias get %s %s\n"
      "  cairn models alias history %s\n"
      "  cairn features list\n"
      "  cairn features describe customer_activity\n"
      "  cairn features historical --service churn --entities %s -o training.csv\n"
      "  cairn monitors runs churn-inputs\n"
      "  cairn alerts list\n"
      "  cairn ci check %s %d\n"
      "  cairn endpoints describe churn\n"
      "  cairn endpoints predict churn --entity customer_id=%d\n"
      "  curl -s http://127.0.0.1:5000/get-online-features -d '%s'\n"
      "MLflow's client and UI work against the same server:\n"
      "  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python -c \"import mlflow; "
      "print(mlflow.search_runs(experiment_names=['%s']))\"\n",
      options.data_dir, kChurnPipelineName, pipeline.run_id, pipeline.run_id, experiment_name,
      kDemoModel, kDemoAlias, kDemoModel, (root / "raw" / kLabelsCsv).string(), kDemoModel,
      result.release.candidate_version, events.showcase_customer_id, request, experiment_name);
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
