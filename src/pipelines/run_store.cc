#include "pipelines/run_store.h"

#include <array>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"
#include "storage/migrations.h"

namespace cairn::pipelines {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr storage::Migration kMigrations[] = {
    {1, "pipeline runs, steps and attempts", R"sql(
CREATE TABLE pipeline_runs (
  id TEXT PRIMARY KEY,
  pipeline TEXT NOT NULL,
  version BIGINT NOT NULL,
  params TEXT NOT NULL,
  run_trigger TEXT NOT NULL,
  trigger_detail TEXT NOT NULL,
  state TEXT NOT NULL,
  message TEXT NOT NULL,
  tracking_run_id TEXT NOT NULL,
  no_cache INTEGER NOT NULL,
  created_ms BIGINT NOT NULL,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT NOT NULL);
CREATE INDEX pipeline_runs_created_idx ON pipeline_runs (created_ms, id);
CREATE INDEX pipeline_runs_pipeline_idx ON pipeline_runs (pipeline, created_ms, id);
CREATE INDEX pipeline_runs_state_idx ON pipeline_runs (state, created_ms, id);
CREATE INDEX pipeline_runs_pipeline_state_idx ON pipeline_runs (pipeline, state, created_ms, id);
CREATE TABLE pipeline_steps (
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  cache_key TEXT NOT NULL,
  cached_from TEXT NOT NULL,
  tracking_run_id TEXT NOT NULL,
  outputs TEXT NOT NULL,
  input_hashes TEXT NOT NULL,
  message TEXT NOT NULL,
  log_tail TEXT NOT NULL,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT NOT NULL,
  PRIMARY KEY (run_id, position));
CREATE INDEX pipeline_steps_cache_idx ON pipeline_steps (cache_key, ended_ms);
CREATE TABLE pipeline_attempts (
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  exit_code INTEGER,
  signal INTEGER,
  message TEXT NOT NULL,
  executor TEXT NOT NULL,
  job_id TEXT NOT NULL,
  host TEXT NOT NULL,
  cpus DOUBLE PRECISION NOT NULL,
  memory_bytes BIGINT NOT NULL,
  gpus INTEGER NOT NULL,
  timeout_ms BIGINT NOT NULL,
  gpu_list TEXT NOT NULL,
  queued_ms BIGINT NOT NULL,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT NOT NULL,
  log_path TEXT NOT NULL,
  PRIMARY KEY (run_id, position, attempt));
)sql"},
};

// Stored names of the executor vocabulary (kept here so that the tables do not change
// with display names).
constexpr std::array<std::string_view, 5> kJobStates = {"queued", "running", "succeeded",
                                                        "failed", "cancelled"};
constexpr std::array<std::string_view, 8> kReasons = {
    "none", "exit_code", "signal", "timeout", "out_of_memory", "lost_node", "cancelled",
    "launch_error"};

template <typename E, size_t N>
E FromName(const std::array<std::string_view, N>& names, std::string_view text) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == text) return static_cast<E>(i);
  return static_cast<E>(0);
}

std::string MapToJson(const std::map<std::string, std::string>& map) {
  return DumpJson(Json(map));
}

std::map<std::string, std::string> MapFromJson(std::string_view text) {
  std::map<std::string, std::string> out;
  absl::StatusOr<Json> json = ParseJson(text);
  if (!json.ok() || !json->is_object()) return out;
  for (const auto& [key, value] : json->items())
    if (value.is_string()) out[key] = value.get<std::string>();
  return out;
}

std::string GpusToText(const std::vector<int>& gpus) {
  std::string out;
  for (int gpu : gpus) absl::StrAppend(&out, out.empty() ? "" : ",", gpu);
  return out;
}

std::vector<int> GpusFromText(std::string_view text) {
  std::vector<int> out;
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(ToAbsl(text), ',')) {
    int gpu = 0;
    if (absl::SimpleAtoi(part, &gpu)) out.push_back(gpu);
  }
  return out;
}

SqlValue OptionalInt(const std::optional<int>& value) {
  if (!value) return std::monostate{};
  return static_cast<int64_t>(*value);
}

constexpr char kRunColumns[] =
    "id, pipeline, version, params, run_trigger, trigger_detail, state, message, "
    "tracking_run_id, no_cache, created_ms, started_ms, ended_ms";

RunRecord RunFromRow(const SqlRowView& row) {
  RunRecord run;
  run.id = std::string(row.Text(0));
  run.pipeline = std::string(row.Text(1));
  run.version = row.Int(2);
  run.params = MapFromJson(row.Text(3));
  run.trigger = std::string(row.Text(4));
  run.trigger_detail = std::string(row.Text(5));
  ParseRunState(row.Text(6), &run.state);
  run.message = std::string(row.Text(7));
  run.tracking_run_id = std::string(row.Text(8));
  run.no_cache = row.Int(9) != 0;
  run.created_ms = row.Int(10);
  run.started_ms = row.Int(11);
  run.ended_ms = row.Int(12);
  return run;
}

absl::Status SaveRun(SqlSession& session, const RunRecord& run) {
  const SqlValue params[] = {run.id,
                             run.pipeline,
                             run.version,
                             MapToJson(run.params),
                             run.trigger,
                             run.trigger_detail,
                             std::string(RunStateName(run.state)),
                             run.message,
                             run.tracking_run_id,
                             int64_t{run.no_cache ? 1 : 0},
                             run.created_ms,
                             run.started_ms,
                             run.ended_ms};
  return session
      .Execute(
          "INSERT INTO pipeline_runs (id, pipeline, version, params, run_trigger, "
          "trigger_detail, state, message, tracking_run_id, no_cache, created_ms, started_ms, "
          "ended_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
          "ON CONFLICT (id) DO UPDATE SET state = excluded.state, message = excluded.message, "
          "tracking_run_id = excluded.tracking_run_id, started_ms = excluded.started_ms, "
          "ended_ms = excluded.ended_ms",
          params)
      .status();
}

absl::Status SaveStep(SqlSession& session, const std::string& run_id, int position,
                      const StepRecord& step) {
  const SqlValue params[] = {run_id,
                             int64_t{position},
                             step.name,
                             std::string(StepStateName(step.state)),
                             step.cache_key,
                             step.cached_from,
                             step.tracking_run_id,
                             MapToJson(step.outputs),
                             MapToJson(step.input_hashes),
                             step.message,
                             step.log_tail,
                             step.started_ms,
                             step.ended_ms};
  CAIRN_RETURN_IF_ERROR(
      session
          .Execute(
              "INSERT INTO pipeline_steps (run_id, position, name, state, cache_key, "
              "cached_from, tracking_run_id, outputs, input_hashes, message, log_tail, "
              "started_ms, ended_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
              "$12, $13) ON CONFLICT (run_id, position) DO UPDATE SET state = excluded.state, "
              "cache_key = excluded.cache_key, cached_from = excluded.cached_from, "
              "tracking_run_id = excluded.tracking_run_id, outputs = excluded.outputs, "
              "input_hashes = excluded.input_hashes, message = excluded.message, "
              "log_tail = excluded.log_tail, started_ms = excluded.started_ms, "
              "ended_ms = excluded.ended_ms",
              params)
          .status());
  for (const AttemptRecord& attempt : step.attempts) {
    const SqlValue attempt_params[] = {
        run_id,
        int64_t{position},
        int64_t{attempt.attempt},
        std::string(kJobStates[static_cast<size_t>(attempt.state)]),
        std::string(kReasons[static_cast<size_t>(attempt.reason)]),
        OptionalInt(attempt.exit_code),
        OptionalInt(attempt.signal),
        attempt.message,
        attempt.executor,
        attempt.job_id,
        attempt.host,
        attempt.resources.cpus,
        attempt.resources.memory_bytes,
        int64_t{attempt.resources.gpus},
        attempt.resources.timeout_ms,
        GpusToText(attempt.gpus),
        attempt.queued_ms,
        attempt.started_ms,
        attempt.ended_ms,
        attempt.log_path};
    CAIRN_RETURN_IF_ERROR(
        session
            .Execute(
                "INSERT INTO pipeline_attempts (run_id, position, attempt, state, reason, "
                "exit_code, signal, message, executor, job_id, host, cpus, memory_bytes, gpus, "
                "timeout_ms, gpu_list, queued_ms, started_ms, ended_ms, log_path) VALUES ($1, "
                "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
                "$19, $20) ON CONFLICT (run_id, position, attempt) DO UPDATE SET "
                "state = excluded.state, reason = excluded.reason, exit_code = "
                "excluded.exit_code, signal = excluded.signal, message = excluded.message, "
                "executor = excluded.executor, job_id = excluded.job_id, host = excluded.host, "
                "gpu_list = excluded.gpu_list, queued_ms = excluded.queued_ms, started_ms = "
                "excluded.started_ms, ended_ms = excluded.ended_ms, log_path = "
                "excluded.log_path",
                attempt_params)
            .status());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunStore>> RunStore::Open(storage::Database& db) {
  CAIRN_RETURN_IF_ERROR(storage::ApplyMigrations(db, "pipeline_runs", kMigrations));
  return std::unique_ptr<RunStore>(new RunStore(db));
}

absl::Status RunStore::Save(std::span<const RunChange> changes,
                           const std::function<absl::Status(storage::SqlSession&)>& also) {
  if (changes.empty() && !also) return absl::OkStatus();
  return db_.Write([&](SqlSession& session) -> absl::Status {
    for (const RunChange& change : changes) {
      if (change.header) CAIRN_RETURN_IF_ERROR(SaveRun(session, *change.run));
      for (int position : change.steps) {
        CAIRN_RETURN_IF_ERROR(
            SaveStep(session, change.run->id, position, change.run->steps[position]));
      }
    }
    if (also) CAIRN_RETURN_IF_ERROR(also(session));
    return absl::OkStatus();
  });
}

absl::StatusOr<RunRecord> RunStore::GetRun(std::string_view run_id) {
  RunRecord run;
  bool found = false;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    const SqlValue id[] = {std::string(run_id)};
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        absl::StrCat("SELECT ", kRunColumns, " FROM pipeline_runs WHERE id = $1"), id,
        [&](const SqlRowView& row) {
          run = RunFromRow(row);
          found = true;
          return absl::OkStatus();
        }));
    if (!found) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT position, name, state, cache_key, cached_from, tracking_run_id, outputs, "
        "input_hashes, message, log_tail, started_ms, ended_ms FROM pipeline_steps WHERE "
        "run_id = $1 ORDER BY position",
        id, [&](const SqlRowView& row) {
          StepRecord step;
          step.name = std::string(row.Text(1));
          ParseStepState(row.Text(2), &step.state);
          step.cache_key = std::string(row.Text(3));
          step.cached_from = std::string(row.Text(4));
          step.tracking_run_id = std::string(row.Text(5));
          step.outputs = MapFromJson(row.Text(6));
          step.input_hashes = MapFromJson(row.Text(7));
          step.message = std::string(row.Text(8));
          step.log_tail = std::string(row.Text(9));
          step.started_ms = row.Int(10);
          step.ended_ms = row.Int(11);
          size_t position = static_cast<size_t>(row.Int(0));
          if (run.steps.size() <= position) run.steps.resize(position + 1);
          run.steps[position] = std::move(step);
          return absl::OkStatus();
        }));
    return session.QueryEach(
        "SELECT position, attempt, state, reason, exit_code, signal, message, executor, "
        "job_id, host, cpus, memory_bytes, gpus, timeout_ms, gpu_list, queued_ms, started_ms, "
        "ended_ms, log_path FROM pipeline_attempts WHERE run_id = $1 ORDER BY position, attempt",
        id, [&](const SqlRowView& row) {
          size_t position = static_cast<size_t>(row.Int(0));
          if (position >= run.steps.size()) return absl::OkStatus();
          AttemptRecord attempt;
          attempt.attempt = static_cast<int>(row.Int(1));
          attempt.state = FromName<compute::JobState>(kJobStates, row.Text(2));
          attempt.reason = FromName<compute::FailureReason>(kReasons, row.Text(3));
          if (!row.IsNull(4)) attempt.exit_code = static_cast<int>(row.Int(4));
          if (!row.IsNull(5)) attempt.signal = static_cast<int>(row.Int(5));
          attempt.message = std::string(row.Text(6));
          attempt.executor = std::string(row.Text(7));
          attempt.job_id = std::string(row.Text(8));
          attempt.host = std::string(row.Text(9));
          attempt.resources.cpus = row.Double(10);
          attempt.resources.memory_bytes = row.Int(11);
          attempt.resources.gpus = static_cast<int>(row.Int(12));
          attempt.resources.timeout_ms = row.Int(13);
          attempt.gpus = GpusFromText(row.Text(14));
          attempt.queued_ms = row.Int(15);
          attempt.started_ms = row.Int(16);
          attempt.ended_ms = row.Int(17);
          attempt.log_path = std::string(row.Text(18));
          run.steps[position].attempts.push_back(std::move(attempt));
          return absl::OkStatus();
        });
  }));
  if (!found) {
    return absl::NotFoundError(absl::StrCat("pipeline run '", ToAbsl(run_id),
                                            "' does not exist; `cairn pipelines runs` lists runs"));
  }
  return run;
}

absl::StatusOr<ListRunsResult> RunStore::ListRuns(const ListRunsRequest& request) {
  if (request.limit < 1 || request.limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: ", request.limit, " is out of range; give 1 to 1000"));
  }
  std::string where;
  std::vector<SqlValue> params;
  auto add = [&](std::string condition, SqlValue value) {
    params.push_back(std::move(value));
    absl::StrAppend(&where, where.empty() ? " WHERE " : " AND ",
                    absl::StrReplaceAll(condition, {{"$N", absl::StrCat("$", params.size())}}));
  };
  if (!request.pipeline.empty()) add("pipeline = $N", request.pipeline);
  if (request.state) add("state = $N", std::string(RunStateName(*request.state)));
  if (!request.page_token.empty()) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(ToAbsl(request.page_token), absl::MaxSplits(':', 1));
    int64_t created_ms = 0;
    if (!absl::SimpleAtoi(parts.first, &created_ms) || parts.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: '", request.page_token,
                       "' is not a token this server returned; start from the first page"));
    }
    params.push_back(created_ms);
    params.push_back(parts.second);
    absl::StrAppend(&where, where.empty() ? " WHERE " : " AND ", "(created_ms < $",
                    params.size() - 1, " OR (created_ms = $", params.size() - 1, " AND id < $",
                    params.size(), "))");
  }
  std::string sql =
      absl::StrCat("SELECT ", kRunColumns, " FROM pipeline_runs", where,
                   " ORDER BY created_ms DESC, id DESC LIMIT ", request.limit + 1);
  ListRunsResult result;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    return session.QueryEach(sql, params, [&](const SqlRowView& row) {
      result.runs.push_back(RunFromRow(row));
      return absl::OkStatus();
    });
  }));
  if (static_cast<int>(result.runs.size()) > request.limit) {
    result.runs.pop_back();
    const RunRecord& last = result.runs.back();
    result.next_page_token = absl::StrCat(last.created_ms, ":", last.id);
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> RunStore::UnfinishedRuns() {
  std::vector<std::string> ids;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    return session.QueryEach(
        "SELECT id FROM pipeline_runs WHERE state IN ('queued', 'running') ORDER BY "
        "created_ms, id",
        {}, [&](const SqlRowView& row) {
          ids.emplace_back(row.Text(0));
          return absl::OkStatus();
        });
  }));
  return ids;
}

absl::StatusOr<std::vector<CachedStep>> RunStore::FindCached(std::string_view cache_key,
                                                            std::string_view exclude_run_id,
                                                            int limit) {
  std::vector<CachedStep> out;
  if (cache_key.empty()) return out;
  const SqlValue params[] = {std::string(cache_key), std::string(exclude_run_id),
                             int64_t{limit}};
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) {
    return session.QueryEach(
        "SELECT run_id, cached_from, outputs FROM pipeline_steps WHERE cache_key = $1 AND "
        "state IN ('succeeded', 'cached') AND run_id <> $2 ORDER BY ended_ms DESC LIMIT $3",
        params, [&](const SqlRowView& row) {
          CachedStep step;
          step.run_id = std::string(row.IsNull(1) || row.Text(1).empty() ? row.Text(0)
                                                                          : row.Text(1));
          step.outputs = MapFromJson(row.Text(2));
          out.push_back(std::move(step));
          return absl::OkStatus();
        });
  }));
  return out;
}

}  // namespace cairn::pipelines
