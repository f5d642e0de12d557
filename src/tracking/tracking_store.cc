#include "tracking/tracking_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/migrations.h"
#include "tracking/metric_blocks.h"
#include "tracking/run_ends.h"
#include "tracking/tracking_sql.h"
#include "tracking/tracking_validation.h"

namespace cairn::tracking {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

std::string JoinUri(std::string_view base, std::string_view child) {
  if (!base.empty() && base.back() == '/') return absl::StrCat(ToAbsl(base), ToAbsl(child));
  return absl::StrCat(ToAbsl(base), "/", ToAbsl(child));
}

std::string RandomRunName() {
  static constexpr const char* kPredicates[] = {
      "able",   "brave",  "bright", "calm",   "clever", "crisp",  "eager",  "fair",
      "gentle", "grand",  "honest", "jolly",  "keen",   "lively", "merry",  "nimble",
      "polite", "proud",  "quiet",  "rare",   "sharp",  "smooth", "swift",  "tidy",
      "vast",   "warm",   "wise",   "zesty",  "bold",   "amber",  "silent", "sunny"};
  static constexpr const char* kNouns[] = {
      "ant",  "bat",   "bear",  "cat",   "crow", "deer",  "doe",   "duck",
      "eel",  "finch", "fox",   "frog",  "goat", "hare",  "hawk",  "jay",
      "koi",  "lark",  "lynx",  "mole",  "moth", "newt",  "owl",   "pug",
      "ram",  "seal",  "slug",  "snail", "toad", "trout", "whale", "wolf"};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(kPredicates[rng() % std::size(kPredicates)], "-",
                      kNouns[rng() % std::size(kNouns)], "-", rng() % 1000);
}

// MLflow truncates over-long param and tag values to the limit (MLFLOW_TRUNCATE_LONG_VALUES,
// on by default) instead of rejecting them; keys are never truncated.
template <typename T>
std::vector<T> TruncatedValues(const std::vector<T>& entries, size_t limit) {
  std::vector<T> out = entries;
  for (T& entry : out)
    if (entry.value.size() > limit) entry.value.resize(limit);
  return out;
}

absl::Status RunNotActive(std::string_view run_id, std::string_view stage) {
  return absl::InvalidArgumentError(absl::StrCat("The run ", ToAbsl(run_id),
                                                 " must be in the 'active' state. Current state is ",
                                                 ToAbsl(stage), "."));
}

// Returns the run's key when it exists and is active.
absl::StatusOr<int64_t> CheckRunActive(SqlSession& session, std::string_view run_id) {
  CAIRN_ASSIGN_OR_RETURN(internal::RunKeys keys, internal::RunStage(session, run_id));
  if (keys.lifecycle_stage != kLifecycleActive) return RunNotActive(run_id, keys.lifecycle_stage);
  return keys.run_key;
}

absl::StatusOr<Experiment> LoadExperiment(SqlSession& session, std::string_view where,
                                          const SqlValue& key) {
  std::vector<Experiment> found;
  const SqlValue params[] = {key};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", internal::kExperimentColumns, " FROM experiments e WHERE ",
                   ToAbsl(where)),
      params, [&](const SqlRowView& row) {
        found.push_back(internal::ExperimentFromRow(row));
        return absl::OkStatus();
      }));
  if (found.empty()) return absl::NotFoundError("");
  CAIRN_RETURN_IF_ERROR(internal::LoadExperimentTags(session, found));
  return std::move(found.front());
}

absl::StatusOr<Experiment> LoadExperimentById(SqlSession& session, std::string_view id) {
  CAIRN_ASSIGN_OR_RETURN(int64_t parsed, ParseExperimentId(id));
  absl::StatusOr<Experiment> experiment =
      LoadExperiment(session, "e.experiment_id = $1", SqlValue(parsed));
  if (absl::IsNotFound(experiment.status()))
    return absl::NotFoundError(absl::StrCat("No Experiment with id=", parsed, " exists"));
  return experiment;
}

absl::StatusOr<Run> LoadRun(SqlSession& session, std::string_view run_id) {
  std::vector<Run> runs;
  const SqlValue params[] = {std::string(run_id)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", internal::kRunColumns, " FROM runs r WHERE r.run_uuid = $1"),
      params, [&](const SqlRowView& row) {
        runs.emplace_back().info = internal::RunInfoFromRow(row);
        return absl::OkStatus();
      }));
  if (runs.empty()) return internal::RunNotFound(run_id);
  CAIRN_RETURN_IF_ERROR(internal::LoadRunData(session, runs.front()));
  return std::move(runs.front());
}

absl::StatusOr<RunInfo> LoadRunInfo(SqlSession& session, std::string_view run_id) {
  std::optional<RunInfo> info;
  const SqlValue params[] = {std::string(run_id)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      absl::StrCat("SELECT ", internal::kRunColumns, " FROM runs r WHERE r.run_uuid = $1"),
      params, [&](const SqlRowView& row) {
        info = internal::RunInfoFromRow(row);
        return absl::OkStatus();
      }));
  if (!info) return internal::RunNotFound(run_id);
  return *info;
}

absl::Status UpsertRunTag(SqlSession& session, std::string_view run_id, const RunTag& tag) {
  const SqlValue params[] = {std::string(run_id), tag.key, tag.value};
  CAIRN_RETURN_IF_ERROR(session
                            .Execute("INSERT INTO tags (run_uuid, key, value) VALUES ($1, $2, $3) "
                                     "ON CONFLICT (run_uuid, key) DO UPDATE SET value = "
                                     "excluded.value",
                                     params)
                            .status());
  if (tag.key == kRunNameTag) {
    const SqlValue rename[] = {tag.value, std::string(run_id)};
    CAIRN_RETURN_IF_ERROR(
        session.Execute("UPDATE runs SET name = $1 WHERE run_uuid = $2", rename).status());
  }
  return absl::OkStatus();
}

// MLflow's ordering for "latest": greatest (step, timestamp, value); NaN compares lowest.
bool LaterThan(const Metric& a, const Metric& b) {
  double va = std::isnan(a.value) ? -INFINITY : a.value;
  double vb = std::isnan(b.value) ? -INFINITY : b.value;
  return std::tie(a.step, a.timestamp, va) > std::tie(b.step, b.timestamp, vb);
}

absl::Status UpdateLatestMetrics(SqlSession& session, std::string_view run_id,
                                 const std::vector<Metric>& metrics) {
  // One row per key with the batch's latest point for it, the keys written together
  // (one multi-row upsert per chunk).
  std::map<std::string_view, const Metric*> latest;
  for (const Metric& metric : metrics) {
    auto [it, inserted] = latest.emplace(metric.key, &metric);
    if (!inserted && LaterThan(metric, *it->second)) it->second = &metric;
  }
  std::vector<const Metric*> rows;
  rows.reserve(latest.size());
  for (const auto& [key, metric] : latest) rows.push_back(metric);
  constexpr int kColumns = 5;  // after the shared run_uuid ($1)
  for (auto [begin, size] : internal::RowChunks(rows.size())) {
    std::string sql =
        "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES ";
    std::vector<SqlValue> params;
    params.reserve(1 + size * kColumns);
    params.emplace_back(std::string(run_id));
    for (size_t row = 0; row < size; ++row) {
      const Metric& metric = *rows[begin + row];
      absl::StrAppend(&sql, row > 0 ? ", ($1, " : "($1, ");
      internal::AppendPlaceholders(static_cast<int>(2 + row * kColumns), kColumns, &sql);
      sql += ")";
      bool is_nan = std::isnan(metric.value);
      params.emplace_back(metric.key);
      params.emplace_back(is_nan ? SqlValue() : SqlValue(metric.value));
      params.emplace_back(metric.timestamp);
      params.emplace_back(metric.step);
      params.emplace_back(int64_t{is_nan ? 1 : 0});
    }
    sql +=
        " ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, timestamp = "
        "excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan WHERE "
        "(excluded.step > latest_metrics.step) OR (excluded.step = latest_metrics.step AND "
        "excluded.timestamp > latest_metrics.timestamp) OR (excluded.step = "
        "latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp AND "
        "excluded.value > latest_metrics.value)";
    CAIRN_RETURN_IF_ERROR(session.Execute(sql, params).status());
  }
  return absl::OkStatus();
}

std::string PythonQuote(std::string_view s) { return absl::StrCat("'", ToAbsl(s), "'"); }

absl::Status InsertParams(SqlSession& session, std::string_view run_id,
                          const std::vector<Param>& params, bool single) {
  std::vector<std::string> conflicts;
  for (const Param& param : params) {
    const SqlValue insert[] = {std::string(run_id), param.key, param.value};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute("INSERT INTO params (run_uuid, key, value) VALUES ($1, $2, $3) "
                        "ON CONFLICT (run_uuid, key) DO NOTHING",
                        insert));
    if (changed > 0) continue;
    std::string old_value;
    const SqlValue lookup[] = {std::string(run_id), param.key};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT value FROM params WHERE run_uuid = $1 AND key = $2", lookup,
        [&](const SqlRowView& row) {
          old_value = std::string(row.Text(0));
          return absl::OkStatus();
        }));
    if (old_value == param.value) continue;
    if (single) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Changing param values is not allowed. Param with key='", param.key,
          "' was already logged with value='", old_value, "' for run ID='", ToAbsl(run_id),
          "'. Attempted logging new value '", param.value, "'."));
    }
    conflicts.push_back(absl::StrCat("{'key': ", PythonQuote(param.key),
                                     ", 'old_value': ", PythonQuote(old_value),
                                     ", 'new_value': ", PythonQuote(param.value), "}"));
  }
  if (!conflicts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Changing param values is not allowed. Params were already logged='[",
                     absl::StrJoin(conflicts, ", "), "]' for run ID='", ToAbsl(run_id), "'."));
  }
  return absl::OkStatus();
}

bool IsUniqueViolation(const absl::Status& status) {
  std::string_view message = ToStd(status.message());
  return message.find("UNIQUE") != std::string_view::npos ||
         message.find("unique") != std::string_view::npos ||
         message.find("duplicate key") != std::string_view::npos ||
         absl::IsAlreadyExists(status);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrackingStore>> TrackingStore::Open(
    storage::Database& db, Clock& clock, std::string default_artifact_root) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "tracking", internal::TrackingMigrations()));
  std::unique_ptr<TrackingStore> store(
      new TrackingStore(db, clock, std::move(default_artifact_root)));
  int64_t now = clock.NowMillis();
  std::string location = JoinUri(store->default_artifact_root_, "0");
  CAIRN_RETURN_IF_ERROR(db.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {location, now};
    return session
        .Execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES (0, 'Default', $1, 'active', $2, $2) "
            "ON CONFLICT DO NOTHING",
            params)
        .status();
  }));
  return store;
}

// ---- Experiments ----

absl::StatusOr<std::string> TrackingStore::CreateExperiment(
    std::string_view name, std::string_view artifact_location,
    const std::vector<std::pair<std::string, std::string>>& tags) {
  CAIRN_RETURN_IF_ERROR(ValidateExperimentName(name));
  for (const auto& [key, value] : tags) CAIRN_RETURN_IF_ERROR(ValidateExperimentTag(key, value));
  if (artifact_location.substr(0, 7) == "runs:/")
    return absl::InvalidArgumentError(absl::StrCat(
        "Artifact location cannot be a runs:/ URI. Given: '", ToAbsl(artifact_location), "'"));
  int64_t now = clock_.NowMillis();
  int64_t id = 0;
  absl::Status status = db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue name_param[] = {std::string(name)};
    bool exists = false;
    CAIRN_RETURN_IF_ERROR(session.QueryEach("SELECT 1 FROM experiments WHERE name = $1",
                                            name_param, [&](const SqlRowView&) {
                                              exists = true;
                                              return absl::OkStatus();
                                            }));
    if (exists)
      return absl::AlreadyExistsError(
          absl::StrCat("Experiment(name=", ToAbsl(name), ") already exists."));
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "UPDATE tracking_counters SET value = value + 1 WHERE name = 'experiment_id' "
        "RETURNING value",
        {}, [&](const SqlRowView& row) {
          id = row.Int(0);
          return absl::OkStatus();
        }));
    std::string location = artifact_location.empty()
                               ? JoinUri(default_artifact_root_, std::to_string(id))
                               : std::string(artifact_location);
    const SqlValue insert[] = {id, std::string(name), location, now};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("INSERT INTO experiments (experiment_id, name, artifact_location, "
                     "lifecycle_stage, creation_time, last_update_time) VALUES ($1, $2, $3, "
                     "'active', $4, $4)",
                     insert)
            .status());
    for (const auto& [key, value] : tags) {
      const SqlValue tag[] = {id, key, value};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, "
                       "$3) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                       tag)
              .status());
    }
    return absl::OkStatus();
  });
  if (!status.ok() && !absl::IsAlreadyExists(status) && IsUniqueViolation(status))
    return absl::AlreadyExistsError(
        absl::StrCat("Experiment(name=", ToAbsl(name), ") already exists."));
  CAIRN_RETURN_IF_ERROR(status);
  return std::to_string(id);
}

absl::StatusOr<Experiment> TrackingStore::GetExperiment(std::string_view experiment_id) {
  absl::StatusOr<Experiment> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out = LoadExperimentById(session, experiment_id);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Experiment> TrackingStore::GetExperimentByName(std::string_view name) {
  absl::StatusOr<Experiment> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out = LoadExperiment(session, "e.name = $1", SqlValue(std::string(name)));
    return absl::OkStatus();
  }));
  if (absl::IsNotFound(out.status()))
    return absl::NotFoundError(
        absl::StrCat("Could not find experiment with name '", ToAbsl(name), "'"));
  return out;
}

absl::Status TrackingStore::RenameExperiment(std::string_view experiment_id,
                                             std::string_view new_name) {
  CAIRN_RETURN_IF_ERROR(ValidateExperimentName(new_name));
  int64_t now = clock_.NowMillis();
  absl::Status status = db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(Experiment experiment, LoadExperimentById(session, experiment_id));
    if (experiment.lifecycle_stage != kLifecycleActive)
      return absl::FailedPreconditionError("Cannot rename a non-active experiment.");
    if (experiment.name == new_name) return absl::OkStatus();
    const SqlValue name_param[] = {std::string(new_name)};
    bool exists = false;
    CAIRN_RETURN_IF_ERROR(session.QueryEach("SELECT 1 FROM experiments WHERE name = $1",
                                            name_param, [&](const SqlRowView&) {
                                              exists = true;
                                              return absl::OkStatus();
                                            }));
    if (exists)
      return absl::AlreadyExistsError(
          absl::StrCat("Experiment(name=", ToAbsl(new_name), ") already exists."));
    const SqlValue params[] = {std::string(new_name), now,
                               SqlValue(*ParseExperimentId(experiment_id))};
    return session
        .Execute("UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
                 params)
        .status();
  });
  return status;
}

absl::Status TrackingStore::DeleteExperiment(std::string_view experiment_id) {
  int64_t now = clock_.NowMillis();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(Experiment experiment, LoadExperimentById(session, experiment_id));
    int64_t id = *ParseExperimentId(experiment.experiment_id);
    // As MLflow: only an active experiment can be deleted; otherwise it is "not found".
    if (experiment.lifecycle_stage != kLifecycleActive)
      return absl::NotFoundError(absl::StrCat("No Experiment with id=", id, " exists"));
    const SqlValue params[] = {now, id};
    CAIRN_RETURN_IF_ERROR(session
                              .Execute("UPDATE experiments SET lifecycle_stage = 'deleted', "
                                       "last_update_time = $1 WHERE experiment_id = $2",
                                       params)
                              .status());
    return session
        .Execute("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $1 WHERE "
                 "experiment_id = $2 AND lifecycle_stage = 'active'",
                 params)
        .status();
  });
}

absl::Status TrackingStore::RestoreExperiment(std::string_view experiment_id) {
  int64_t now = clock_.NowMillis();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(Experiment experiment, LoadExperimentById(session, experiment_id));
    // As MLflow: only a deleted experiment can be restored; otherwise it is "not found".
    if (experiment.lifecycle_stage != kLifecycleDeleted)
      return absl::NotFoundError(
          absl::StrCat("No Experiment with id=", experiment.experiment_id, " exists"));
    int64_t id = *ParseExperimentId(experiment.experiment_id);
    const SqlValue params[] = {now, id};
    CAIRN_RETURN_IF_ERROR(session
                              .Execute("UPDATE experiments SET lifecycle_stage = 'active', "
                                       "last_update_time = $1 WHERE experiment_id = $2",
                                       params)
                              .status());
    const SqlValue run_params[] = {id};
    return session
        .Execute("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE "
                 "experiment_id = $1 AND lifecycle_stage = 'deleted'",
                 run_params)
        .status();
  });
}

absl::Status TrackingStore::SetExperimentTag(std::string_view experiment_id,
                                             std::string_view key, std::string_view value) {
  CAIRN_RETURN_IF_ERROR(ValidateExperimentTag(key, value));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(Experiment experiment, LoadExperimentById(session, experiment_id));
    if (experiment.lifecycle_stage != kLifecycleActive)
      return absl::InvalidArgumentError(absl::StrCat(
          "The experiment ", experiment.experiment_id,
          " must be in the 'active' state. Current state is ", experiment.lifecycle_stage, "."));
    const SqlValue params[] = {*ParseExperimentId(experiment.experiment_id), std::string(key),
                               std::string(value)};
    return session
        .Execute("INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) "
                 "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                 params)
        .status();
  });
}

absl::Status TrackingStore::DeleteExperimentTag(std::string_view experiment_id,
                                                std::string_view key) {
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(Experiment experiment, LoadExperimentById(session, experiment_id));
    if (experiment.lifecycle_stage != kLifecycleActive)
      return absl::InvalidArgumentError(absl::StrCat(
          "The experiment ", experiment.experiment_id,
          " must be in the 'active' state. Current state is ", experiment.lifecycle_stage, "."));
    const SqlValue params[] = {*ParseExperimentId(experiment.experiment_id), std::string(key)};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2",
                        params));
    if (changed == 0)
      return absl::NotFoundError(absl::StrCat("No tag with name: ", ToAbsl(key),
                                              " in experiment with id ",
                                              experiment.experiment_id));
    return absl::OkStatus();
  });
}

// ---- Runs ----

namespace {

// A CreateRun request validated and completed (mlflow.runName and mlflow.user tags, a new
// run id, the start time), ready to insert.
struct NewRun {
  std::string run_id;
  std::string run_name;
  std::string experiment_id;
  std::string user_id;
  int64_t start_time = 0;
  std::vector<RunTag> tags;
};

absl::StatusOr<NewRun> PrepareNewRun(const CreateRunRequest& request, int64_t now_ms) {
  std::vector<RunTag> tags = TruncatedValues(request.tags, kMaxTagValueLength);
  for (const RunTag& tag : tags) CAIRN_RETURN_IF_ERROR(ValidateRunTag(tag, ""));
  std::string tag_name;
  for (const RunTag& tag : tags)
    if (tag.key == kRunNameTag) tag_name = tag.value;
  if (!request.run_name.empty() && !tag_name.empty() && request.run_name != tag_name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
        "values (run_name='",
        request.run_name, "', mlflow.runName='", tag_name, "')."));
  }
  NewRun run;
  run.run_name = !request.run_name.empty() ? request.run_name
                 : !tag_name.empty()       ? tag_name
                                           : RandomRunName();
  if (tag_name.empty()) tags.push_back(RunTag{kRunNameTag, run.run_name});
  bool has_user_tag = std::any_of(tags.begin(), tags.end(),
                                  [](const RunTag& tag) { return tag.key == kUserTag; });
  if (!has_user_tag && !request.user_id.empty()) tags.push_back(RunTag{kUserTag, request.user_id});
  run.run_id = NewUuidHex();
  run.start_time = request.start_time != 0 ? request.start_time : now_ms;
  run.experiment_id = request.experiment_id.empty() ? "0" : request.experiment_id;
  run.user_id = request.user_id;
  run.tags = std::move(tags);
  return run;
}

absl::Status CheckExperimentActive(const Experiment& experiment) {
  if (experiment.lifecycle_stage == kLifecycleActive) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "The experiment ", experiment.experiment_id,
      " must be in the 'active' state. Current state is ", experiment.lifecycle_stage, "."));
}

// Reserves `count` run keys; returns the first.
absl::StatusOr<int64_t> ReserveRunKeys(SqlSession& session, int64_t count) {
  int64_t last = 0;
  const SqlValue params[] = {count};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "UPDATE tracking_counters SET value = value + $1 WHERE name = 'run_key' RETURNING value",
      params, [&](const SqlRowView& row) {
        last = row.Int(0);
        return absl::OkStatus();
      }));
  return last - count + 1;
}

// Inserts `run` into `experiment` (loaded in `session` and active) with `run_key`.
absl::StatusOr<Run> InsertNewRun(SqlSession& session, const NewRun& run,
                                 const Experiment& experiment, int64_t run_key) {
  std::string artifact_uri = JoinUri(JoinUri(experiment.artifact_location, run.run_id), "artifacts");
  const SqlValue params[] = {run.run_id,   run.run_name,  *ParseExperimentId(experiment.experiment_id),
                             run.user_id,  run.start_time, artifact_uri,
                             run_key};
  CAIRN_RETURN_IF_ERROR(
      session
          .Execute("INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, "
                   "start_time, end_time, artifact_uri, lifecycle_stage, deleted_time, "
                   "run_key) VALUES ($1, $2, $3, $4, 'RUNNING', $5, NULL, $6, 'active', NULL, "
                   "$7)",
                   params)
          .status());
  // The tags, the last value of a repeated key winning (as one insert per tag did), in
  // multi-row inserts (RowChunks: a handful of statement texts serve every count).
  std::map<std::string, std::string> sorted;
  for (const RunTag& tag : run.tags) sorted[tag.key] = tag.value;
  std::vector<SqlValue> tag_params;
  std::string sql;
  auto next = sorted.begin();
  for (const auto& chunk : internal::RowChunks(sorted.size())) {
    tag_params.assign({run.run_id});
    sql = "INSERT INTO tags (run_uuid, key, value) VALUES ";
    for (size_t n = 0; n < chunk.second; ++n, ++next) {
      absl::StrAppend(&sql, n == 0 ? "" : ", ", "($1, $", tag_params.size() + 1, ", $",
                      tag_params.size() + 2, ")");
      tag_params.push_back(next->first);
      tag_params.push_back(next->second);
    }
    CAIRN_RETURN_IF_ERROR(session.Execute(sql, tag_params).status());
  }
  Run out;
  out.info.run_id = run.run_id;
  out.info.run_name = run.run_name;
  out.info.experiment_id = experiment.experiment_id;
  out.info.user_id = run.user_id;
  out.info.status = "RUNNING";
  out.info.start_time = run.start_time;
  out.info.artifact_uri = artifact_uri;
  out.info.lifecycle_stage = kLifecycleActive;
  for (auto& [key, value] : sorted) out.tags.push_back(RunTag{key, value});
  return out;
}

}  // namespace

absl::StatusOr<Run> TrackingStore::CreateRun(const CreateRunRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(NewRun run, PrepareNewRun(request, clock_.NowMillis()));
  absl::StatusOr<Run> out;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(Experiment experiment, LoadExperimentById(session, run.experiment_id));
    CAIRN_RETURN_IF_ERROR(CheckExperimentActive(experiment));
    CAIRN_ASSIGN_OR_RETURN(int64_t run_key, ReserveRunKeys(session, 1));
    out = InsertNewRun(session, run, experiment, run_key);
    return out.status();
  }));
  return out;
}

absl::StatusOr<std::vector<absl::StatusOr<Run>>> TrackingStore::CreateRuns(
    const std::vector<CreateRunRequest>& requests) {
  const int64_t now = clock_.NowMillis();
  std::vector<absl::StatusOr<NewRun>> prepared;
  prepared.reserve(requests.size());
  for (const CreateRunRequest& request : requests) prepared.push_back(PrepareNewRun(request, now));
  std::vector<absl::StatusOr<Run>> results;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    results.assign(prepared.size(), absl::UnknownError("not created"));
    std::map<std::string, absl::StatusOr<Experiment>> experiments;
    std::vector<size_t> inserted;
    for (size_t i = 0; i < prepared.size(); ++i) {
      if (!prepared[i].ok()) {
        results[i] = prepared[i].status();
        continue;
      }
      auto [it, added] = experiments.try_emplace(prepared[i]->experiment_id,
                                                 absl::UnknownError(""));
      if (added) {
        it->second = LoadExperimentById(session, prepared[i]->experiment_id);
        if (it->second.ok()) {
          if (absl::Status active = CheckExperimentActive(*it->second); !active.ok())
            it->second = active;
        }
      }
      if (!it->second.ok()) {
        results[i] = it->second.status();
        continue;
      }
      inserted.push_back(i);
    }
    if (inserted.empty()) return absl::OkStatus();
    CAIRN_ASSIGN_OR_RETURN(int64_t run_key,
                           ReserveRunKeys(session, static_cast<int64_t>(inserted.size())));
    for (size_t i : inserted) {
      results[i] = InsertNewRun(session, *prepared[i], *experiments[prepared[i]->experiment_id],
                                run_key++);
      if (!results[i].ok()) return results[i].status();
    }
    return absl::OkStatus();
  }));
  return results;
}

absl::StatusOr<std::vector<absl::Status>> TrackingStore::EndRuns(const std::vector<RunEnd>& ends) {
  absl::StatusOr<std::vector<absl::Status>> results;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    results = EndRunsIn(session, ends);
    return results.status();
  }));
  return results;
}

absl::StatusOr<std::vector<absl::Status>> EndRunsIn(
    SqlSession& session, const std::vector<RunEnd>& ends) {
  std::vector<absl::Status> results(ends.size());
  for (size_t i = 0; i < ends.size(); ++i) {
    results[i] = ValidateRunStatus(ends[i].status);
    if (!results[i].ok()) continue;
    const SqlValue params[] = {ends[i].status, ends[i].end_time, ends[i].run_id};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute("UPDATE runs SET status = $1, end_time = $2 WHERE run_uuid = $3 AND "
                        "lifecycle_stage = 'active'",
                        params));
    if (changed > 0) continue;
    // Not changed: say why as UpdateRun would (not found, or deleted).
    absl::StatusOr<RunInfo> info = LoadRunInfo(session, ends[i].run_id);
    results[i] = !info.ok() ? info.status() : RunNotActive(ends[i].run_id, info->lifecycle_stage);
  }
  return results;
}

absl::StatusOr<Run> TrackingStore::GetRun(std::string_view run_id) {
  absl::StatusOr<Run> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out = LoadRun(session, run_id);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RunInfo> TrackingStore::GetRunInfo(std::string_view run_id) {
  absl::StatusOr<RunInfo> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out = LoadRunInfo(session, run_id);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RunInfo> TrackingStore::UpdateRun(std::string_view run_id,
                                                 std::optional<std::string> status,
                                                 std::optional<int64_t> end_time,
                                                 std::optional<std::string> run_name) {
  if (status) CAIRN_RETURN_IF_ERROR(ValidateRunStatus(*status));
  absl::StatusOr<RunInfo> out;
  CAIRN_RETURN_IF_ERROR(db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(RunInfo info, LoadRunInfo(session, run_id));
    if (info.lifecycle_stage != kLifecycleActive)
      return RunNotActive(run_id, info.lifecycle_stage);
    if (status) info.status = *status;
    if (end_time) info.end_time = *end_time;
    if (run_name && !run_name->empty()) info.run_name = *run_name;
    const SqlValue params[] = {
        info.status, info.end_time ? SqlValue(*info.end_time) : SqlValue(std::monostate{}),
        info.run_name, std::string(run_id)};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute("UPDATE runs SET status = $1, end_time = $2, name = $3 WHERE run_uuid = $4",
                     params)
            .status());
    if (run_name && !run_name->empty())
      CAIRN_RETURN_IF_ERROR(UpsertRunTag(session, run_id, RunTag{kRunNameTag, *run_name}));
    out = std::move(info);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status TrackingStore::DeleteRun(std::string_view run_id) {
  int64_t now = clock_.NowMillis();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {now, std::string(run_id)};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute(
            "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $1 WHERE run_uuid = $2",
            params));
    if (changed == 0) return internal::RunNotFound(run_id);
    return absl::OkStatus();
  });
}

absl::Status TrackingStore::RestoreRun(std::string_view run_id) {
  return db_.Write([&](SqlSession& session) -> absl::Status {
    const SqlValue params[] = {std::string(run_id)};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute("UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE "
                        "run_uuid = $1",
                        params));
    if (changed == 0) return internal::RunNotFound(run_id);
    return absl::OkStatus();
  });
}

// ---- Run data ----

absl::Status TrackingStore::LogBatch(std::string_view run_id, const std::vector<Metric>& metrics,
                                     const std::vector<Param>& given_params,
                                     const std::vector<RunTag>& given_tags) {
  const std::vector<Param> params = TruncatedValues(given_params, kMaxParamValueLength);
  const std::vector<RunTag> tags = TruncatedValues(given_tags, kMaxTagValueLength);
  CAIRN_RETURN_IF_ERROR(ValidateBatchLimits(metrics.size(), params.size(), tags.size()));
  for (size_t idx = 0; idx < metrics.size(); ++idx)
    CAIRN_RETURN_IF_ERROR(ValidateMetric(metrics[idx], absl::StrCat("metrics[", idx, "]")));
  for (size_t idx = 0; idx < params.size(); ++idx)
    CAIRN_RETURN_IF_ERROR(ValidateParam(params[idx], absl::StrCat("params[", idx, "]")));
  for (size_t idx = 0; idx < tags.size(); ++idx)
    CAIRN_RETURN_IF_ERROR(ValidateRunTag(tags[idx], absl::StrCat("tags[", idx, "]")));
  CAIRN_RETURN_IF_ERROR(ValidateParamKeysUnique(params));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(int64_t run_key, CheckRunActive(session, run_id));
    CAIRN_RETURN_IF_ERROR(InsertParams(session, run_id, params, /*single=*/false));
    CAIRN_RETURN_IF_ERROR(internal::AppendMetricPoints(session, run_key, metrics));
    CAIRN_RETURN_IF_ERROR(UpdateLatestMetrics(session, run_id, metrics));
    for (const RunTag& tag : tags) CAIRN_RETURN_IF_ERROR(UpsertRunTag(session, run_id, tag));
    return absl::OkStatus();
  });
}

absl::Status TrackingStore::LogMetric(std::string_view run_id, const Metric& metric) {
  CAIRN_RETURN_IF_ERROR(ValidateMetric(metric, ""));
  std::vector<Metric> metrics = {metric};
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(int64_t run_key, CheckRunActive(session, run_id));
    CAIRN_RETURN_IF_ERROR(internal::AppendMetricPoints(session, run_key, metrics));
    return UpdateLatestMetrics(session, run_id, metrics);
  });
}

absl::Status TrackingStore::LogParam(std::string_view run_id, const Param& given_param) {
  std::vector<Param> params = TruncatedValues(std::vector<Param>{given_param}, kMaxParamValueLength);
  const Param& param = params.front();
  CAIRN_RETURN_IF_ERROR(ValidateParam(param, ""));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_RETURN_IF_ERROR(CheckRunActive(session, run_id).status());
    return InsertParams(session, run_id, params, /*single=*/true);
  });
}

absl::Status TrackingStore::SetTag(std::string_view run_id, const RunTag& given_tag) {
  RunTag tag = given_tag;
  if (tag.value.size() > kMaxTagValueLength) tag.value.resize(kMaxTagValueLength);
  CAIRN_RETURN_IF_ERROR(ValidateRunTag(tag, ""));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_RETURN_IF_ERROR(CheckRunActive(session, run_id).status());
    return UpsertRunTag(session, run_id, tag);
  });
}

absl::Status TrackingStore::DeleteTag(std::string_view run_id, std::string_view key) {
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_RETURN_IF_ERROR(CheckRunActive(session, run_id).status());
    const SqlValue params[] = {std::string(run_id), std::string(key)};
    CAIRN_ASSIGN_OR_RETURN(
        int64_t changed,
        session.Execute("DELETE FROM tags WHERE run_uuid = $1 AND key = $2", params));
    if (changed == 0)
      return absl::NotFoundError(absl::StrCat("No tag with name: ", ToAbsl(key),
                                              " in run with id ", ToAbsl(run_id)));
    return absl::OkStatus();
  });
}

absl::Status TrackingStore::LogInputs(std::string_view run_id,
                                      const std::vector<DatasetInput>& inputs) {
  for (const DatasetInput& input : inputs) CAIRN_RETURN_IF_ERROR(ValidateDatasetInput(input));
  return db_.Write([&](SqlSession& session) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(internal::RunKeys keys, internal::RunStage(session, run_id));
    if (keys.lifecycle_stage != kLifecycleActive)
      return RunNotActive(run_id, keys.lifecycle_stage);
    int64_t experiment_id = keys.experiment_id;
    for (const DatasetInput& input : inputs) {
      const Dataset& dataset = input.dataset;
      const SqlValue dataset_params[] = {
          experiment_id,
          dataset.name,
          dataset.digest,
          dataset.source_type,
          dataset.source,
          dataset.schema.empty() ? SqlValue() : SqlValue(dataset.schema),
          dataset.profile.empty() ? SqlValue() : SqlValue(dataset.profile)};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO datasets (experiment_id, name, digest, source_type, source, "
                       "schema, profile) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO "
                       "NOTHING",
                       dataset_params)
              .status());
      Json tags = Json::object();
      for (const InputTag& tag : input.tags) tags[tag.key] = tag.value;
      const SqlValue input_params[] = {std::string(run_id), experiment_id, dataset.name,
                                       dataset.digest, DumpJson(tags)};
      CAIRN_RETURN_IF_ERROR(
          session
              .Execute("INSERT INTO run_inputs (run_uuid, experiment_id, dataset_name, "
                       "dataset_digest, tags_json) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO "
                       "NOTHING",
                       input_params)
              .status());
    }
    return absl::OkStatus();
  });
}

}  // namespace cairn::tracking
