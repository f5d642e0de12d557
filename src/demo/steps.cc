#include "demo/steps.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"
#include "demo/churn_events.h"
#include "demo/step_io.h"
#include "demo/training_data.h"
#include "demo/xgb_trainer.h"
#include "features/table_io.h"
#include "tracking/types.h"

namespace cairn::demo {
namespace {

constexpr double kValidationFraction = 0.2;
constexpr uint64_t kSplitSeed = 7;
// Metrics are flushed to the store every this many rounds, so a server watching the same
// database sees the curves grow while keeping the number of commits small.
constexpr int kFlushEveryRounds = 10;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string UserName() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? std::string(user) : std::string("cairn-demo");
}

// The MLmodel file of MLflow's xgboost flavor, so that `mlflow.pyfunc.load_model(
// "models:/churn@production")` can load the booster through Cairn's artifact proxy, with
// the model's signature: its input columns in the order the booster reads them (what a
// serving endpoint fetches online and what a gate checks against the feature service).
std::string MlmodelYaml(const std::string& run_id, int64_t created_ms,
                        const std::vector<std::string>& inputs) {
  Json columns = Json::array();
  for (const std::string& name : inputs) {
    columns.push_back(Json{{"name", name}, {"type", "double"}, {"required", true}});
  }
  // A YAML single-quoted scalar: quotes inside are doubled.
  const std::string signature = absl::StrReplaceAll(columns.dump(), {{"'", "''"}});
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
      run_id,
      "\n"
      "signature:\n"
      "  inputs: '",
      signature,
      "'\n"
      "  outputs: null\n"
      "  params: null\n"
      "utc_time_created_ms: ",
      created_ms, "\n");
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
  absl::StatusOr<std::string> created = store.CreateExperiment(
      kDemoExperiment, "",
      {{"mlflow.note.content",
        "Churn prediction: which subscribers leave in the next 30 days (cairn demo)."}});
  if (created.ok() || created.status().code() != absl::StatusCode::kAlreadyExists) {
    return created;
  }
  // Another step process created it meanwhile.
  CAIRN_ASSIGN_OR_RETURN(tracking::Experiment raced, store.GetExperimentByName(kDemoExperiment));
  return raced.experiment_id;
}

absl::Status EnsureRegisteredModel(tracking::ModelRegistry& registry) {
  absl::StatusOr<tracking::RegisteredModel> existing = registry.GetRegisteredModel(kDemoModel);
  if (existing.ok()) return absl::OkStatus();
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
  absl::Status created =
      registry
          .CreateRegisteredModel(kDemoModel,
                                 "XGBoost churn classifier trained by `cairn demo`; the "
                                 "`production` alias names the version to serve.")
          .status();
  return created.code() == absl::StatusCode::kAlreadyExists ? absl::OkStatus() : created;
}

Json DatasetInputToJson(const tracking::DatasetInput& input) {
  Json tags = Json::object();
  for (const tracking::InputTag& tag : input.tags) tags[tag.key] = tag.value;
  return {{"name", input.dataset.name},
          {"digest", input.dataset.digest},
          {"source_type", input.dataset.source_type},
          {"source", input.dataset.source},
          {"schema", input.dataset.schema},
          {"profile", input.dataset.profile},
          {"tags", tags}};
}

// Reads `key` of `json` as T; InvalidArgument naming the file and the key otherwise.
template <typename T>
absl::StatusOr<T> Field(const Json& json, const char* key, const std::string& file) {
  if (!json.is_object() || !json.contains(key)) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": missing field '", key, "'"));
  }
  try {
    return json.at(key).get<T>();
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": field '", key, "' has the wrong type: ", json.at(key).dump()));
  }
}

absl::StatusOr<tracking::DatasetInput> DatasetInputFromJson(const Json& json,
                                                            const std::string& file) {
  tracking::DatasetInput input;
  CAIRN_ASSIGN_OR_RETURN(input.dataset.name, Field<std::string>(json, "name", file));
  CAIRN_ASSIGN_OR_RETURN(input.dataset.digest, Field<std::string>(json, "digest", file));
  CAIRN_ASSIGN_OR_RETURN(input.dataset.source_type,
                         Field<std::string>(json, "source_type", file));
  CAIRN_ASSIGN_OR_RETURN(input.dataset.source, Field<std::string>(json, "source", file));
  CAIRN_ASSIGN_OR_RETURN(input.dataset.schema, Field<std::string>(json, "schema", file));
  CAIRN_ASSIGN_OR_RETURN(input.dataset.profile, Field<std::string>(json, "profile", file));
  if (json.contains("tags") && json["tags"].is_object()) {
    for (const auto& [key, value] : json["tags"].items()) {
      if (value.is_string()) input.tags.push_back({key, value.get<std::string>()});
    }
  }
  return input;
}

}  // namespace

// ---- training-set ----

Json TrainingSetStepResultToJson(const TrainingSetStepResult& result) {
  return {{"id", result.id},
          {"uri", result.uri},
          {"content_hash", result.content_hash},
          {"rows", result.rows},
          {"train_rows", result.train_rows},
          {"validation_rows", result.validation_rows},
          {"feature_names", result.feature_names},
          {"positive_rate", result.positive_rate},
          {"join_ms", result.join_ms},
          {"data_version", result.data_version}};
}

absl::StatusOr<TrainingSetStepResult> TrainingSetStepResultFromJson(const Json& json) {
  const std::string file = "snapshot.json";
  TrainingSetStepResult result;
  CAIRN_ASSIGN_OR_RETURN(result.id, Field<std::string>(json, "id", file));
  CAIRN_ASSIGN_OR_RETURN(result.uri, Field<std::string>(json, "uri", file));
  CAIRN_ASSIGN_OR_RETURN(result.content_hash, Field<std::string>(json, "content_hash", file));
  CAIRN_ASSIGN_OR_RETURN(result.rows, Field<int64_t>(json, "rows", file));
  CAIRN_ASSIGN_OR_RETURN(result.train_rows, Field<int64_t>(json, "train_rows", file));
  CAIRN_ASSIGN_OR_RETURN(result.validation_rows, Field<int64_t>(json, "validation_rows", file));
  CAIRN_ASSIGN_OR_RETURN(result.feature_names,
                         Field<std::vector<std::string>>(json, "feature_names", file));
  CAIRN_ASSIGN_OR_RETURN(result.positive_rate, Field<double>(json, "positive_rate", file));
  CAIRN_ASSIGN_OR_RETURN(result.join_ms, Field<int64_t>(json, "join_ms", file));
  if (json.contains("data_version") && json["data_version"].is_string()) {
    result.data_version = json["data_version"].get<std::string>();
  }
  return result;
}

absl::StatusOr<TrainingSetStepResult> RunTrainingSetStep(DemoStores& stores,
                                                         const TrainingSetStepRequest& request) {
  if (stores.features == nullptr) {
    return absl::FailedPreconditionError("training-set: the feature store is not open");
  }
  const std::string labels_path =
      (std::filesystem::path(request.data_dir) / "raw" / kLabelsCsv).string();
  std::string labels_csv;
  {
    std::ifstream in(labels_path, std::ios::binary);
    if (!in) {
      return absl::FailedPreconditionError(absl::StrCat(
          "training-set: ", labels_path,
          " does not exist: run `cairn demo --data ", request.data_dir,
          "` first (it generates and ingests the events this step reads)"));
    }
    std::ostringstream text;
    text << in.rdbuf();
    labels_csv = text.str();
  }
  CAIRN_ASSIGN_OR_RETURN(
      features::Table entities,
      features::TableFromCsv(labels_csv, labels_path,
                             {{"customer_id", features::FeatureType::kInt64},
                              {"event_timestamp", features::FeatureType::kTimestamp},
                              {"label", features::FeatureType::kInt64}}));
  if (request.expected_rows > 0 &&
      static_cast<int64_t>(entities.num_rows()) != request.expected_rows) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "training-set: %s holds %d customers, the pipeline's parameter rows is %d: run "
        "`cairn demo --rows %d` on a fresh --data directory",
        labels_path, entities.num_rows(), request.expected_rows, request.expected_rows));
  }

  features::HistoricalRequest historical;
  historical.entities = std::move(entities);
  historical.feature_service = "churn";
  CAIRN_ASSIGN_OR_RETURN(features::HistoricalResult training_set,
                         stores.features->GetHistoricalFeatures(historical));
  CAIRN_ASSIGN_OR_RETURN(Dataset data, TrainingSetToDataset(training_set.table));
  const TrainValidationSplit split = SplitTrainValidation(data, kValidationFraction, kSplitSeed);
  CAIRN_RETURN_IF_ERROR(WriteDatasetCsv(split.train, request.train_path));
  CAIRN_RETURN_IF_ERROR(WriteDatasetCsv(split.validation, request.validation_path));

  const tracking::DatasetInput input = TrainingSetInput(training_set.snapshot, training_set.table);
  TrainingSetStepResult result;
  result.id = training_set.snapshot.id;
  result.uri = input.dataset.source;
  result.content_hash = training_set.snapshot.content_hash;
  result.rows = training_set.snapshot.rows;
  result.train_rows = static_cast<int64_t>(split.train.rows());
  result.validation_rows = static_cast<int64_t>(split.validation.rows());
  result.feature_names = data.feature_names;
  result.positive_rate = data.PositiveRate();
  result.join_ms = training_set.join_ms;
  result.data_version = request.data_version;
  Json snapshot = TrainingSetStepResultToJson(result);
  snapshot["dataset"] = DatasetInputToJson(input);
  CAIRN_RETURN_IF_ERROR(WriteJsonFile(snapshot, request.snapshot_path));
  return result;
}

// ---- train ----

std::string TrainRunName(int max_depth, double eta) {
  return absl::StrFormat("xgb-depth%d-eta%g", max_depth, eta);
}

Json DemoRunToJson(const DemoRun& run) {
  return {{"run_id", run.run_id},
          {"run_name", run.run_name},
          {"max_depth", run.max_depth},
          {"eta", run.eta},
          {"num_round", run.num_round},
          {"val_auc", run.val_auc},
          {"val_logloss", run.val_logloss},
          {"best_val_auc", run.best_val_auc},
          {"best_iteration", run.best_iteration},
          {"seconds", run.seconds}};
}

absl::StatusOr<DemoRun> DemoRunFromJson(const Json& json, const std::string& file) {
  DemoRun run;
  CAIRN_ASSIGN_OR_RETURN(run.run_id, Field<std::string>(json, "run_id", file));
  CAIRN_ASSIGN_OR_RETURN(run.run_name, Field<std::string>(json, "run_name", file));
  CAIRN_ASSIGN_OR_RETURN(run.max_depth, Field<int>(json, "max_depth", file));
  CAIRN_ASSIGN_OR_RETURN(run.eta, Field<double>(json, "eta", file));
  CAIRN_ASSIGN_OR_RETURN(run.num_round, Field<int>(json, "num_round", file));
  CAIRN_ASSIGN_OR_RETURN(run.val_auc, Field<double>(json, "val_auc", file));
  CAIRN_ASSIGN_OR_RETURN(run.val_logloss, Field<double>(json, "val_logloss", file));
  CAIRN_ASSIGN_OR_RETURN(run.best_val_auc, Field<double>(json, "best_val_auc", file));
  CAIRN_ASSIGN_OR_RETURN(run.best_iteration, Field<int>(json, "best_iteration", file));
  CAIRN_ASSIGN_OR_RETURN(run.seconds, Field<double>(json, "seconds", file));
  return run;
}

absl::StatusOr<DemoRun> RunTrainStep(DemoStores& stores, const TrainStepRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  if (request.num_round < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--num-round: must be at least 1, got ", request.num_round));
  }
  if (request.max_depth < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-depth: must be at least 1, got ", request.max_depth));
  }
  if (!(request.eta > 0 && request.eta <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--eta: must be in (0, 1], got ", request.eta));
  }
  CAIRN_ASSIGN_OR_RETURN(Dataset train, ReadDatasetCsv(request.train_path));
  CAIRN_ASSIGN_OR_RETURN(Dataset validation, ReadDatasetCsv(request.validation_path));
  CAIRN_ASSIGN_OR_RETURN(Json snapshot, ReadJsonFile(request.snapshot_path));
  CAIRN_ASSIGN_OR_RETURN(TrainingSetStepResult training_set,
                         TrainingSetStepResultFromJson(snapshot));
  if (!snapshot.contains("dataset")) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.snapshot_path, ": missing field 'dataset'"));
  }
  CAIRN_ASSIGN_OR_RETURN(tracking::DatasetInput dataset,
                         DatasetInputFromJson(snapshot["dataset"], request.snapshot_path));

  Clock& clock = RealClock();
  DemoRun demo_run;
  demo_run.run_name = TrainRunName(request.max_depth, request.eta);
  demo_run.max_depth = request.max_depth;
  demo_run.eta = request.eta;
  demo_run.num_round = request.num_round;

  const bool own_run = request.run_id.empty();
  std::vector<tracking::RunTag> tags = {{"model_type", "xgboost"},
                                        {"cairn.demo", "true"},
                                        {"cairn.training_set", training_set.uri}};
  if (own_run) {
    CAIRN_ASSIGN_OR_RETURN(std::string experiment_id, EnsureExperiment(*stores.tracking));
    tracking::CreateRunRequest create;
    create.experiment_id = experiment_id;
    create.user_id = UserName();
    create.run_name = demo_run.run_name;
    create.tags = {{"mlflow.source.name", "cairn demo step train"},
                   {"mlflow.source.type", "LOCAL"}};
    CAIRN_ASSIGN_OR_RETURN(tracking::Run run, stores.tracking->CreateRun(create));
    demo_run.run_id = run.info.run_id;
  } else {
    demo_run.run_id = request.run_id;
    // The engine named the child run after the step; the run's name says what it trained.
    CAIRN_RETURN_IF_ERROR(stores.tracking
                              ->UpdateRun(demo_run.run_id, std::nullopt, std::nullopt,
                                          demo_run.run_name)
                              .status());
  }
  const std::string& run_id = demo_run.run_id;

  auto body = [&]() -> absl::Status {
    XgbParams params;
    params.max_depth = request.max_depth;
    params.eta = request.eta;
    params.num_round = request.num_round;
    params.threads = request.threads;
    std::vector<tracking::Param> run_params;
    for (const auto& [key, value] : params.AsParams()) run_params.push_back({key, value});
    run_params.push_back({"train_rows", absl::StrCat(train.rows())});
    run_params.push_back({"validation_rows", absl::StrCat(validation.rows())});
    run_params.push_back({"features", absl::StrCat(train.cols())});
    CAIRN_RETURN_IF_ERROR(stores.tracking->LogBatch(run_id, {}, run_params, tags));
    CAIRN_RETURN_IF_ERROR(stores.tracking->LogInputs(run_id, {dataset}));

    std::vector<tracking::Metric> pending;
    auto flush = [&]() -> absl::Status {
      if (pending.empty()) return absl::OkStatus();
      absl::Status logged = stores.tracking->LogBatch(run_id, pending, {}, {});
      pending.clear();
      return logged;
    };
    CAIRN_ASSIGN_OR_RETURN(
        TrainResult trained,
        TrainXgbClassifier(train, validation, params,
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
        run_id,
        {{"best_val_auc", best->val_auc, now, final_step},
         {"best_iteration", static_cast<double>(best->iteration), now, final_step},
         {"train_seconds", trained.train_seconds, now, final_step}},
        {}, {}));

    CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo info, stores.tracking->GetRunInfo(run_id));
    CAIRN_ASSIGN_OR_RETURN(std::string run_dir,
                           storage::ArtifactStore::RelativePathOfUri(info.artifact_uri));
    CAIRN_RETURN_IF_ERROR(
        stores.artifacts->PutBytes(absl::StrCat(run_dir, "/model/model.json"), trained.model_json));
    CAIRN_RETURN_IF_ERROR(
        stores.artifacts->PutBytes(absl::StrCat(run_dir, "/model/MLmodel"),
                                   MlmodelYaml(run_id, now, train.feature_names)));
    {
      std::error_code ec;
      const std::filesystem::path model_path(request.model_path);
      if (model_path.has_parent_path()) {
        std::filesystem::create_directories(model_path.parent_path(), ec);
      }
      std::ofstream out(model_path, std::ios::binary | std::ios::trunc);
      out << trained.model_json;
      out.close();
      if (!out) {
        return absl::InvalidArgumentError(
            absl::StrCat("--model ", request.model_path, ": cannot write the file"));
      }
    }

    demo_run.val_auc = last.val_auc;
    demo_run.val_logloss = last.val_logloss;
    demo_run.best_val_auc = best->val_auc;
    demo_run.best_iteration = best->iteration;
    demo_run.seconds = SecondsSince(start);
    CAIRN_RETURN_IF_ERROR(WriteJsonFile(DemoRunToJson(demo_run), request.metrics_path));
    if (own_run) {
      CAIRN_RETURN_IF_ERROR(
          stores.tracking
              ->UpdateRun(run_id, std::string("FINISHED"), clock.NowMillis(), std::nullopt)
              .status());
    }
    return absl::OkStatus();
  };
  absl::Status status = body();
  if (!status.ok() && own_run) {
    // Best effort: the run's real error is what the caller needs to see.
    stores.tracking->UpdateRun(run_id, std::string("FAILED"), clock.NowMillis(), std::nullopt)
        .status()
        .IgnoreError();
  }
  if (!status.ok()) return status;
  return demo_run;
}

// ---- evaluate ----

absl::StatusOr<EvaluateStepResult> RunEvaluateStep(const std::vector<std::string>& metrics_paths,
                                                   const std::string& out_path) {
  if (metrics_paths.empty()) {
    return absl::InvalidArgumentError(
        "evaluate: no metrics files given (one metrics.json per train step)");
  }
  EvaluateStepResult result;
  for (const std::string& path : metrics_paths) {
    CAIRN_ASSIGN_OR_RETURN(Json json, ReadJsonFile(path));
    CAIRN_ASSIGN_OR_RETURN(DemoRun run, DemoRunFromJson(json, path));
    result.candidates.push_back(std::move(run));
  }
  for (size_t idx = 1; idx < result.candidates.size(); ++idx) {
    if (result.candidates[idx].val_auc > result.candidates[result.best].val_auc) result.best = idx;
  }
  std::vector<size_t> order(result.candidates.size());
  for (size_t idx = 0; idx < order.size(); ++idx) order[idx] = idx;
  std::stable_sort(order.begin(), order.end(), [&](size_t lhs, size_t rhs) {
    return result.candidates[lhs].val_auc > result.candidates[rhs].val_auc;
  });
  Json candidates = Json::array();
  for (size_t idx : order) candidates.push_back(DemoRunToJson(result.candidates[idx]));
  CAIRN_RETURN_IF_ERROR(WriteJsonFile({{"metric", "val_auc"},
                                       {"best", DemoRunToJson(result.candidates[result.best])},
                                       {"candidates", candidates}},
                                      out_path));
  return result;
}

// ---- register ----

Json RegisterStepResultToJson(const RegisterStepResult& result) {
  Json json = {{"model", kDemoModel},
               {"alias", kDemoAlias},
               {"run_id", result.run_id},
               {"run_name", result.run_name},
               {"val_auc", result.val_auc},
               {"version", result.version},
               {"created", result.created},
               {"previous_version", nullptr}};
  if (result.previous_version.has_value()) json["previous_version"] = *result.previous_version;
  return json;
}

absl::StatusOr<RegisterStepResult> RegisterStepResultFromJson(const Json& json,
                                                              const std::string& file) {
  RegisterStepResult result;
  CAIRN_ASSIGN_OR_RETURN(result.run_id, Field<std::string>(json, "run_id", file));
  CAIRN_ASSIGN_OR_RETURN(result.run_name, Field<std::string>(json, "run_name", file));
  CAIRN_ASSIGN_OR_RETURN(result.val_auc, Field<double>(json, "val_auc", file));
  CAIRN_ASSIGN_OR_RETURN(result.version, Field<int64_t>(json, "version", file));
  CAIRN_ASSIGN_OR_RETURN(result.created, Field<bool>(json, "created", file));
  if (json.contains("previous_version") && json["previous_version"].is_number_integer()) {
    result.previous_version = json["previous_version"].get<int64_t>();
  }
  return result;
}

absl::StatusOr<RegisterStepResult> RunRegisterStep(DemoStores& stores,
                                                   const std::string& best_path,
                                                   const std::string& out_path, bool promote) {
  CAIRN_ASSIGN_OR_RETURN(Json evaluation, ReadJsonFile(best_path));
  if (!evaluation.contains("best")) {
    return absl::InvalidArgumentError(absl::StrCat(
        best_path, ": missing field 'best' (the output of `cairn demo step evaluate`)"));
  }
  CAIRN_ASSIGN_OR_RETURN(DemoRun best, DemoRunFromJson(evaluation["best"], best_path));
  RegisterStepResult result;
  result.run_id = best.run_id;
  result.run_name = best.run_name;
  result.val_auc = best.val_auc;

  CAIRN_RETURN_IF_ERROR(EnsureRegisteredModel(*stores.registry));
  tracking::SearchRegistryRequest search;
  search.filter = absl::StrCat("name = '", kDemoModel, "' and run_id = '", best.run_id, "'");
  CAIRN_ASSIGN_OR_RETURN(tracking::ModelVersionPage existing,
                         stores.registry->SearchModelVersions(search));
  if (!existing.versions.empty()) {
    // Already registered (a rerun, or the pipeline ran with caching off): no duplicate.
    result.version = existing.versions.front().version;
    for (const tracking::ModelVersion& version : existing.versions) {
      result.version = std::min(result.version, version.version);
    }
  } else {
    CAIRN_ASSIGN_OR_RETURN(tracking::RunInfo info, stores.tracking->GetRunInfo(best.run_id));
    CAIRN_ASSIGN_OR_RETURN(
        tracking::ModelVersion version,
        stores.registry->CreateModelVersion(
            kDemoModel, absl::StrCat(info.artifact_uri, "/model"), best.run_id,
            {{"val_auc", absl::StrFormat("%.4f", best.val_auc)}, {"run_name", best.run_name}}));
    result.version = version.version;
    result.created = true;
  }

  absl::StatusOr<tracking::ModelVersion> previous =
      stores.registry->GetModelVersionByAlias(kDemoModel, kDemoAlias);
  if (previous.ok()) result.previous_version = previous->version;
  if (promote && (!previous.ok() || previous->version != result.version)) {
    const std::string reason = absl::StrFormat(
        "best val_auc %.4f of %d runs in grid (run %s)", best.val_auc,
        evaluation.contains("candidates") ? evaluation["candidates"].size() : size_t{1},
        best.run_name);
    CAIRN_RETURN_IF_ERROR(stores.registry->SetAlias(kDemoModel, kDemoAlias, result.version,
                                                    "cairn demo", reason));
  }
  CAIRN_RETURN_IF_ERROR(WriteJsonFile(RegisterStepResultToJson(result), out_path));
  return result;
}

}  // namespace cairn::demo
