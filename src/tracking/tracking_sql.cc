#include "tracking/tracking_sql.h"

#include <cmath>
#include <unordered_map>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status.h"
#include "common/strings.h"

namespace cairn::tracking::internal {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// Runs are loaded in chunks of this many ids; a short chunk is padded with "" (no run has
// that id) so that one prepared statement serves every chunk.
constexpr int kIdChunk = 64;

std::string InList(int first_placeholder) {
  std::string list = "(";
  for (int idx = 0; idx < kIdChunk; ++idx) {
    if (idx > 0) list += ", ";
    absl::StrAppend(&list, "$", first_placeholder + idx);
  }
  list += ")";
  return list;
}

// Calls `fn(params)` for each chunk of `ids`.
template <typename Fn>
absl::Status ForEachIdChunk(const std::vector<std::string>& ids, Fn fn) {
  for (size_t begin = 0; begin < ids.size(); begin += kIdChunk) {
    std::vector<SqlValue> params;
    params.reserve(kIdChunk);
    for (size_t idx = begin; idx < begin + kIdChunk; ++idx)
      params.emplace_back(idx < ids.size() ? ids[idx] : std::string());
    CAIRN_RETURN_IF_ERROR(fn(params));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> RowChunks(size_t rows) {
  std::vector<std::pair<size_t, size_t>> chunks;
  size_t begin = 0;
  while (begin < rows) {
    size_t size = kMaxRowsPerStatement;
    while (size > rows - begin) size /= 2;
    chunks.emplace_back(begin, size);
    begin += size;
  }
  return chunks;
}

void AppendPlaceholders(int first, int count, std::string* out) {
  for (int idx = 0; idx < count; ++idx)
    absl::StrAppend(out, idx > 0 ? ", $" : "$", first + idx);
}

double MetricValue(double stored, bool is_nan) { return is_nan ? std::nan("") : stored; }

absl::Status RunNotFound(std::string_view run_id) {
  return absl::NotFoundError(absl::StrCat("Run with id=", ToAbsl(run_id), " not found"));
}

absl::StatusOr<RunKeys> RunStage(SqlSession& session, std::string_view run_id) {
  RunKeys out;
  bool found = false;
  const SqlValue params[] = {std::string(run_id)};
  CAIRN_RETURN_IF_ERROR(session.QueryEach(
      "SELECT lifecycle_stage, experiment_id, run_key FROM runs WHERE run_uuid = $1", params,
      [&](const SqlRowView& row) {
        found = true;
        out = {std::string(row.Text(0)), row.Int(1), row.Int(2)};
        return absl::OkStatus();
      }));
  if (!found) return RunNotFound(run_id);
  return out;
}

RunInfo RunInfoFromRow(const SqlRowView& row) {
  RunInfo info;
  info.run_id = std::string(row.Text(0));
  info.run_name = std::string(row.Text(1));
  info.experiment_id = std::to_string(row.Int(2));
  info.user_id = std::string(row.Text(3));
  info.status = std::string(row.Text(4));
  info.start_time = row.Int(5);
  if (!row.IsNull(6)) info.end_time = row.Int(6);
  info.artifact_uri = std::string(row.Text(7));
  info.lifecycle_stage = std::string(row.Text(8));
  return info;
}

Experiment ExperimentFromRow(const SqlRowView& row) {
  Experiment experiment;
  experiment.experiment_id = std::to_string(row.Int(0));
  experiment.name = std::string(row.Text(1));
  experiment.artifact_location = std::string(row.Text(2));
  experiment.lifecycle_stage = std::string(row.Text(3));
  experiment.creation_time = row.Int(4);
  experiment.last_update_time = row.Int(5);
  return experiment;
}

namespace {

// Inputs of `runs` (rare: most runs have none), in chunks of kIdChunk runs.
absl::Status LoadRunInputs(SqlSession& session, const std::vector<std::string>& ids,
                           const std::unordered_map<std::string, Run*>& by_id) {
  static const std::string* const kInputsSql = new std::string(absl::StrCat(
      "SELECT i.run_uuid, i.tags_json, d.name, d.digest, d.source_type, d.source, d.schema, "
      "d.profile FROM run_inputs i JOIN datasets d ON d.experiment_id = i.experiment_id AND "
      "d.name = i.dataset_name AND d.digest = i.dataset_digest WHERE i.run_uuid IN ",
      InList(1), " ORDER BY i.run_uuid, d.name, d.digest"));
  return ForEachIdChunk(ids, [&](const std::vector<SqlValue>& params) -> absl::Status {
    return session.QueryEach(*kInputsSql, params, [&](const SqlRowView& row) {
      auto it = by_id.find(std::string(row.Text(0)));
      if (it == by_id.end()) return absl::OkStatus();
      DatasetInput input;
      absl::StatusOr<Json> tags = ParseJson(row.Text(1));
      if (tags.ok() && tags->is_object()) {
        for (const auto& [key, value] : tags->items())
          if (value.is_string()) input.tags.push_back(InputTag{key, value.get<std::string>()});
      }
      input.dataset.name = std::string(row.Text(2));
      input.dataset.digest = std::string(row.Text(3));
      input.dataset.source_type = std::string(row.Text(4));
      input.dataset.source = std::string(row.Text(5));
      if (!row.IsNull(6)) input.dataset.schema = std::string(row.Text(6));
      if (!row.IsNull(7)) input.dataset.profile = std::string(row.Text(7));
      it->second->inputs.push_back(std::move(input));
      return absl::OkStatus();
    });
  });
}

// Metrics, params and tags of one run: three primary-key ranges (run_uuid, key).
absl::Status LoadMetricsParamsTags(SqlSession& session, Run& run, const Run& hint,
                                   std::vector<SqlValue>& id) {
  static const std::string* const kMetricsSql = new std::string(
      "SELECT key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = $1 "
      "ORDER BY key");
  static const std::string* const kParamsSql =
      new std::string("SELECT key, value FROM params WHERE run_uuid = $1 ORDER BY key");
  static const std::string* const kTagsSql =
      new std::string("SELECT key, value FROM tags WHERE run_uuid = $1 ORDER BY key");
  id.resize(1);
  id[0] = run.info.run_id;
  // Runs of a page mostly have the same keys: room for as many as the previous run had
  // (`hint`) saves the vectors' regrowth (five reallocations per list of 20).
  run.metrics.reserve(hint.metrics.size());
  run.params.reserve(hint.params.size());
  run.tags.reserve(hint.tags.size());
  CAIRN_RETURN_IF_ERROR(session.QueryEach(*kMetricsSql, id, [&](const SqlRowView& row) {
    run.metrics.push_back(Metric{std::string(row.Text(0)),
                                 MetricValue(row.Double(1), row.Int(4) != 0), row.Int(2),
                                 row.Int(3)});
    return absl::OkStatus();
  }));
  CAIRN_RETURN_IF_ERROR(session.QueryEach(*kParamsSql, id, [&](const SqlRowView& row) {
    run.params.push_back(Param{std::string(row.Text(0)), std::string(row.Text(1))});
    return absl::OkStatus();
  }));
  return session.QueryEach(*kTagsSql, id, [&](const SqlRowView& row) {
    run.tags.push_back(RunTag{std::string(row.Text(0)), std::string(row.Text(1))});
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status LoadRunData(SqlSession& session, Run& run) {
  std::vector<SqlValue> id;
  CAIRN_RETURN_IF_ERROR(LoadMetricsParamsTags(session, run, Run(), id));
  return LoadRunInputs(session, {run.info.run_id}, {{run.info.run_id, &run}});
}

absl::Status LoadRunData(SqlSession& session, storage::Dialect dialect, std::vector<Run>& runs) {
  if (runs.empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  ids.reserve(runs.size());
  std::unordered_map<std::string, Run*> by_id;
  for (Run& run : runs) {
    ids.push_back(run.info.run_id);
    by_id[run.info.run_id] = &run;
  }
  if (dialect == storage::Dialect::kSqlite) {
    // One statement per run and table: SQLite runs in this process, so a statement costs
    // no round trip, and a primary-key range (run_uuid, key) needs neither the run id in
    // every row nor a temporary b-tree of the IN list.
    std::vector<SqlValue> id;
    for (size_t idx = 0; idx < runs.size(); ++idx)
      CAIRN_RETURN_IF_ERROR(
          LoadMetricsParamsTags(session, runs[idx], runs[idx > 0 ? idx - 1 : 0], id));
    return LoadRunInputs(session, ids, by_id);
  }

  static const std::string* const kMetricsSql = new std::string(absl::StrCat(
      "SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid "
      "IN ",
      InList(1), " ORDER BY run_uuid, key"));
  static const std::string* const kParamsSql = new std::string(
      absl::StrCat("SELECT run_uuid, key, value FROM params WHERE run_uuid IN ", InList(1),
                   " ORDER BY run_uuid, key"));
  static const std::string* const kTagsSql = new std::string(
      absl::StrCat("SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ", InList(1),
                   " ORDER BY run_uuid, key"));

  // Rows arrive grouped by run; remember the last run to skip most hash lookups.
  auto find = [&](std::string_view id, Run*& cached) -> Run* {
    if (cached != nullptr && cached->info.run_id == id) return cached;
    auto it = by_id.find(std::string(id));
    cached = it == by_id.end() ? nullptr : it->second;
    return cached;
  };
  CAIRN_RETURN_IF_ERROR(
      ForEachIdChunk(ids, [&](const std::vector<SqlValue>& params) -> absl::Status {
        Run* cached = nullptr;
        CAIRN_RETURN_IF_ERROR(
            session.QueryEach(*kMetricsSql, params, [&](const SqlRowView& row) {
              if (Run* run = find(row.Text(0), cached)) {
                run->metrics.push_back(Metric{std::string(row.Text(1)),
                                              MetricValue(row.Double(2), row.Int(5) != 0),
                                              row.Int(3), row.Int(4)});
              }
              return absl::OkStatus();
            }));
        cached = nullptr;
        CAIRN_RETURN_IF_ERROR(session.QueryEach(*kParamsSql, params, [&](const SqlRowView& row) {
          if (Run* run = find(row.Text(0), cached))
            run->params.push_back(Param{std::string(row.Text(1)), std::string(row.Text(2))});
          return absl::OkStatus();
        }));
        cached = nullptr;
        return session.QueryEach(*kTagsSql, params, [&](const SqlRowView& row) {
          if (Run* run = find(row.Text(0), cached))
            run->tags.push_back(RunTag{std::string(row.Text(1)), std::string(row.Text(2))});
          return absl::OkStatus();
        });
      }));
  return LoadRunInputs(session, ids, by_id);
}

absl::Status LoadExperimentTags(SqlSession& session, std::vector<Experiment>& experiments) {
  if (experiments.empty()) return absl::OkStatus();
  std::unordered_map<int64_t, Experiment*> by_id;
  std::vector<std::string> ids;
  for (Experiment& experiment : experiments) {
    int64_t id = 0;
    (void)absl::SimpleAtoi(experiment.experiment_id, &id);
    by_id[id] = &experiment;
    ids.push_back(experiment.experiment_id);
  }
  // Experiment ids are integers; compare as text-free integers by binding them as such.
  static const std::string* const kSql = new std::string(
      absl::StrCat("SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ",
                   InList(1), " ORDER BY experiment_id, key"));
  for (size_t begin = 0; begin < ids.size(); begin += kIdChunk) {
    std::vector<SqlValue> params;
    for (size_t idx = begin; idx < begin + kIdChunk; ++idx) {
      int64_t id = -1;
      if (idx < ids.size()) (void)absl::SimpleAtoi(ids[idx], &id);
      params.emplace_back(id);
    }
    CAIRN_RETURN_IF_ERROR(session.QueryEach(*kSql, params, [&](const SqlRowView& row) {
      auto it = by_id.find(row.Int(0));
      if (it != by_id.end())
        it->second->tags.emplace_back(std::string(row.Text(1)), std::string(row.Text(2)));
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

std::string EncodeOffsetToken(int64_t offset) {
  return absl::Base64Escape(absl::StrCat("{\"offset\": ", offset, "}"));
}

absl::StatusOr<int64_t> DecodeOffsetToken(std::string_view token) {
  if (token.empty()) return 0;
  std::string decoded;
  if (!absl::Base64Unescape(ToAbsl(token), &decoded))
    return absl::InvalidArgumentError("Invalid page token, could not base64-decode");
  absl::StatusOr<Json> parsed = ParseJson(decoded);
  if (!parsed.ok() || !parsed->is_object())
    return absl::InvalidArgumentError("Invalid page token, decoded value=" + decoded);
  auto it = parsed->find("offset");
  if (it == parsed->end() || !it->is_number_integer() || it->get<int64_t>() < 0)
    return absl::InvalidArgumentError("Invalid page token, parsed value=" + decoded);
  return it->get<int64_t>();
}

}  // namespace cairn::tracking::internal
