#include "monitoring/monitors/monitor_registry.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/definition_json.h"
#include "pipelines/pipeline_diff.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::monitoring {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

// monitor_runs belongs to monitor_runner.cc but shares the component: one list of
// migrations per component (storage/migrations.h), kept here.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE monitors (
  name TEXT PRIMARY KEY,
  latest_version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  removed INTEGER NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE TABLE monitor_versions (
  name TEXT NOT NULL,
  version BIGINT NOT NULL,
  content_hash TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE monitor_runs (
  id TEXT PRIMARY KEY,
  monitor TEXT NOT NULL,
  monitor_version BIGINT NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_detail TEXT NOT NULL,
  state TEXT NOT NULL,
  message TEXT NOT NULL,
  drift_found INTEGER NOT NULL,
  constraints_violated INTEGER NOT NULL,
  window_from_ms BIGINT NOT NULL,
  window_to_ms BIGINT NOT NULL,
  target_rows BIGINT NOT NULL,
  reference_rows BIGINT NOT NULL,
  result TEXT NOT NULL,
  report TEXT,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT NOT NULL);
CREATE INDEX monitor_runs_by_monitor ON monitor_runs (monitor, started_ms)
)sql";

constexpr storage::Migration kMigrations[] = {
    {.version = 1, .name = "monitors: names, versions, runs", .sql = kSchemaV1},
};

constexpr char kVersionColumns[] =
    "v.name, v.version, v.content_hash, v.spec, v.created_ms, p.removed";

struct Head {
  int64_t latest_version = 0;
  std::string content_hash;
  bool removed = false;
};

constexpr int kApplyTries = 5;

Json OptionalNumber(const std::optional<double>& value) {
  return value.has_value() ? Json(*value) : Json(nullptr);
}

absl::StatusOr<MonitorVersion> ReadVersion(const SqlRowView& row) {
  MonitorVersion out;
  out.name = std::string(row.Text(0));
  out.version = row.Int(1);
  out.content_hash = std::string(row.Text(2));
  out.created_ms = row.Int(4);
  out.removed = row.Int(5) != 0;
  absl::StatusOr<Json> json = ParseJson(row.Text(3));
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("monitor ", out.name, " v", out.version,
                                            ": stored spec is not JSON: ",
                                            json.status().message()));
  }
  absl::StatusOr<MonitorSpec> spec = MonitorSpecFromJson(*json);
  if (!spec.ok()) {
    return absl::InternalError(absl::StrCat("monitor ", out.name, " v", out.version,
                                            ": stored spec: ", spec.status().message()));
  }
  out.spec = std::move(*spec);
  out.spec.file = absl::StrCat("registry (", out.name, " v", out.version, ")");
  return out;
}

}  // namespace

Json MonitorSpecToJson(const MonitorSpec& spec) {
  Json per_column = Json::object();
  for (const auto& [column, test] : spec.tests.per_column) {
    per_column[column] = {{"test", test.test}, {"threshold", OptionalNumber(test.threshold)}};
  }
  Json sinks = Json::array();
  for (const SinkSpec& sink : spec.sinks) {
    sinks.push_back({{"kind", sink.kind}, {"url", sink.url}, {"secret", sink.secret}});
  }
  Json on_alert = nullptr;
  if (spec.on_alert.has_value()) {
    on_alert = {{"pipeline", spec.on_alert->pipeline},
                {"params", spec.on_alert->params},
                {"max_attempts", spec.on_alert->max_attempts},
                {"await_model", spec.on_alert->await_model}};
  }
  Json out{
      {"name", spec.name},
      {"description", spec.description},
      {"owner", spec.owner},
      {"tags", spec.tags},
      {"target",
       {{"feature_view", spec.target.feature_view},
        {"path", spec.target.path},
        {"endpoint", spec.target.endpoint},
        {"window_ms", spec.target.window_ms},
        {"rows", spec.target.rows}}},
      {"reference",
       {{"path", spec.reference.path},
        {"profile", spec.reference.profile},
        {"feature_view", spec.reference.feature_view},
        {"from_ms", spec.reference.from_ms},
        {"to_ms", spec.reference.to_ms}}},
      {"columns", spec.columns},
      {"categorical", spec.categorical},
      {"tests",
       {{"default", spec.tests.default_test},
        {"threshold", OptionalNumber(spec.tests.threshold)},
        {"per_column", per_column}}},
      {"drift_share", spec.drift_share},
      {"drift", spec.drift},
      {"constraints", spec.constraints},
      {"schedule", {{"cron", spec.cron}}},
      {"trigger", {{"on", spec.trigger_on}}},
      {"severity", std::string(SeverityName(spec.severity))},
      {"on_alert", on_alert},
      {"sinks", sinks},
  };
  // Only when set, so the content hash of a monitor without `quality:` is what it was
  // before live quality existed (re-applying it creates no new version).
  if (spec.quality.has_value()) {
    Json metrics = Json::array();
    for (const QualityBound& bound : spec.quality->metrics) {
      metrics.push_back({{"metric", bound.metric},
                         {"min", OptionalNumber(bound.min)},
                         {"max", OptionalNumber(bound.max)}});
    }
    Json baselines = Json::array();
    for (const QualityBaseline& baseline : spec.quality->baselines) {
      baselines.push_back({{"metric", baseline.metric},
                           {"value", OptionalNumber(baseline.value)},
                           {"model_metric", baseline.model_metric},
                           {"max_drop", baseline.max_drop}});
    }
    out["quality"] = {{"min_labels", spec.quality->min_labels},
                      {"threshold", spec.quality->threshold},
                      {"metrics", metrics},
                      {"baselines", baselines}};
  }
  return out;
}

absl::StatusOr<MonitorSpec> MonitorSpecFromJson(const Json& json) {
  try {
    MonitorSpec spec;
    spec.name = json.at("name").get<std::string>();
    spec.description = json.value("description", "");
    spec.owner = json.value("owner", "");
    if (json.contains("tags")) spec.tags = json.at("tags").get<std::map<std::string, std::string>>();
    const Json& target = json.at("target");
    spec.target.feature_view = target.value("feature_view", "");
    spec.target.endpoint = target.value("endpoint", "");
    spec.target.path = target.value("path", "");
    spec.target.window_ms = target.value("window_ms", int64_t{0});
    spec.target.rows = target.value("rows", int64_t{0});
    const Json& ref = json.at("reference");
    spec.reference.path = ref.value("path", "");
    spec.reference.profile = ref.value("profile", "");
    spec.reference.feature_view = ref.value("feature_view", "");
    spec.reference.from_ms = ref.value("from_ms", int64_t{0});
    spec.reference.to_ms = ref.value("to_ms", int64_t{0});
    if (json.contains("columns")) spec.columns = json.at("columns").get<std::vector<std::string>>();
    if (json.contains("categorical")) {
      spec.categorical = json.at("categorical").get<std::vector<std::string>>();
    }
    if (json.contains("tests")) {
      const Json& tests = json.at("tests");
      spec.tests.default_test = tests.value("default", "");
      if (tests.contains("threshold") && !tests.at("threshold").is_null()) {
        spec.tests.threshold = tests.at("threshold").get<double>();
      }
      if (tests.contains("per_column")) {
        for (const auto& [column, value] : tests.at("per_column").items()) {
          ColumnTestSpec test;
          test.test = value.value("test", "");
          if (value.contains("threshold") && !value.at("threshold").is_null()) {
            test.threshold = value.at("threshold").get<double>();
          }
          spec.tests.per_column[column] = std::move(test);
        }
      }
    }
    spec.drift_share = json.value("drift_share", 0.5);
    spec.drift = json.value("drift", true);
    spec.constraints = json.value("constraints", false);
    if (json.contains("schedule")) spec.cron = json.at("schedule").value("cron", "");
    if (json.contains("trigger")) spec.trigger_on = json.at("trigger").value("on", "");
    std::optional<Severity> severity = ParseSeverity(json.value("severity", "warning"));
    if (!severity.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("severity ", json.value("severity", ""), " is not info|warning|critical"));
    }
    spec.severity = *severity;
    if (json.contains("on_alert") && !json.at("on_alert").is_null()) {
      const Json& a = json.at("on_alert");
      RetrainAction action;
      action.pipeline = a.at("pipeline").get<std::string>();
      if (a.contains("params")) {
        action.params = a.at("params").get<std::map<std::string, std::string>>();
      }
      action.max_attempts = a.value("max_attempts", 2);
      action.await_model = a.value("await_model", "");
      spec.on_alert = std::move(action);
    }
    if (json.contains("sinks")) {
      for (const Json& s : json.at("sinks")) {
        spec.sinks.push_back(SinkSpec{.kind = s.value("kind", ""),
                                      .url = s.value("url", ""),
                                      .secret = s.value("secret", "")});
      }
    }
    if (json.contains("quality") && !json.at("quality").is_null()) {
      const Json& q = json.at("quality");
      MonitorQuality quality;
      quality.min_labels = q.value("min_labels", int64_t{100});
      quality.threshold = q.value("threshold", 0.5);
      auto optional_number = [](const Json& object, const char* key) {
        return object.contains(key) && !object.at(key).is_null()
                   ? std::optional<double>(object.at(key).get<double>())
                   : std::optional<double>();
      };
      for (const Json& m : q.value("metrics", Json::array())) {
        quality.metrics.push_back(QualityBound{.metric = m.at("metric").get<std::string>(),
                                               .min = optional_number(m, "min"),
                                               .max = optional_number(m, "max")});
      }
      for (const Json& b : q.value("baselines", Json::array())) {
        quality.baselines.push_back(
            QualityBaseline{.metric = b.at("metric").get<std::string>(),
                            .value = optional_number(b, "value"),
                            .model_metric = b.value("model_metric", ""),
                            .max_drop = b.value("max_drop", 0.0)});
      }
      spec.quality = std::move(quality);
    }
    return spec;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("monitor JSON: ", e.what()));
  }
}

absl::Status ApplyMonitorMigrations(storage::Database& db) {
  return storage::ApplyMigrations(db, "monitoring_monitors", kMigrations);
}

MonitorRegistry::MonitorRegistry(storage::Database& db, Clock& clock) : db_(db), clock_(clock) {}
MonitorRegistry::~MonitorRegistry() = default;

absl::StatusOr<std::unique_ptr<MonitorRegistry>> MonitorRegistry::Open(storage::Database& db,
                                                                       Clock& clock) {
  CAIRN_RETURN_IF_ERROR(ApplyMonitorMigrations(db));
  return std::unique_ptr<MonitorRegistry>(new MonitorRegistry(db, clock));
}

absl::StatusOr<std::vector<MonitorChange>> MonitorRegistry::Apply(
    const std::vector<MonitorSpec>& specs, bool dry_run, bool prune) {
  std::set<std::string> names;
  for (const MonitorSpec& spec : specs) {
    if (!names.insert(spec.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.file, ":", spec.line, ": monitor ", spec.name,
          ": is defined twice in this apply: give each monitor its own name"));
    }
  }
  std::vector<std::string> texts, hashes;
  std::vector<Json> jsons;
  for (const MonitorSpec& spec : specs) {
    jsons.push_back(MonitorSpecToJson(spec));
    texts.push_back(DumpJson(jsons.back()));
    hashes.push_back(features::Sha256Hex(texts.back()));
  }
  std::vector<MonitorChange> changes;
  auto plan = [&](SqlSession& session, bool write) -> absl::Status {
    changes.clear();
    const int64_t now = clock_.NowMillis();
    std::map<std::string, Head> heads;
    CAIRN_RETURN_IF_ERROR(session.QueryEach(
        "SELECT name, latest_version, content_hash, removed FROM monitors", {},
        [&](const SqlRowView& row) {
          heads[std::string(row.Text(0))] =
              Head{row.Int(1), std::string(row.Text(2)), row.Int(3) != 0};
          return absl::OkStatus();
        }));
    for (size_t i = 0; i < specs.size(); ++i) {
      const MonitorSpec& spec = specs[i];
      MonitorChange change;
      change.name = spec.name;
      auto it = heads.find(spec.name);
      bool new_version = true;
      if (it == heads.end()) {
        change.action = "added";
        change.new_version = 1;
      } else {
        const Head& head = it->second;
        change.old_version = head.latest_version;
        new_version = head.content_hash != hashes[i];
        change.new_version = head.latest_version + (new_version ? 1 : 0);
        change.action = head.removed ? "added" : new_version ? "changed" : "unchanged";
        if (new_version) {
          std::string old_text;
          std::vector<SqlValue> params = {spec.name, head.latest_version};
          CAIRN_RETURN_IF_ERROR(session.QueryEach(
              "SELECT spec FROM monitor_versions WHERE name = $1 AND version = $2", params,
              [&](const SqlRowView& row) {
                old_text = std::string(row.Text(0));
                return absl::OkStatus();
              }));
          absl::StatusOr<Json> old_json = ParseJson(old_text);
          if (old_json.ok()) change.diffs = pipelines::DiffPipelineJson(*old_json, jsons[i]);
        }
      }
      if (write && change.action != "unchanged") {
        if (new_version) {
          std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], texts[i],
                                          now};
          CAIRN_RETURN_IF_ERROR(session
                                    .Execute(
                                        "INSERT INTO monitor_versions (name, version, "
                                        "content_hash, spec, created_ms) VALUES ($1, $2, $3, $4, "
                                        "$5)",
                                        params)
                                    .status());
        }
        std::vector<SqlValue> params = {spec.name, *change.new_version, hashes[i], now};
        CAIRN_RETURN_IF_ERROR(session
                                  .Execute(
                                      "INSERT INTO monitors (name, latest_version, content_hash, "
                                      "removed, updated_ms) VALUES ($1, $2, $3, 0, $4) ON "
                                      "CONFLICT (name) DO UPDATE SET latest_version = $2, "
                                      "content_hash = $3, removed = 0, updated_ms = $4",
                                      params)
                                  .status());
      }
      changes.push_back(std::move(change));
    }
    if (prune) {
      for (const auto& [name, head] : heads) {
        if (head.removed || names.count(name)) continue;
        MonitorChange change;
        change.action = "removed";
        change.name = name;
        change.old_version = head.latest_version;
        if (write) {
          std::vector<SqlValue> params = {name, now};
          CAIRN_RETURN_IF_ERROR(
              session.Execute("UPDATE monitors SET removed = 1, updated_ms = $2 WHERE name = $1",
                              params)
                  .status());
        }
        changes.push_back(std::move(change));
      }
    }
    return absl::OkStatus();
  };
  if (dry_run) {
    CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) { return plan(session, false); }));
    return changes;
  }
  absl::Status status;
  for (int attempt = 0; attempt < kApplyTries; ++attempt) {
    status = db_.Write([&](SqlSession& session) { return plan(session, true); });
    if (!absl::IsAlreadyExists(status) && !absl::IsAborted(status)) break;
  }
  CAIRN_RETURN_IF_ERROR(status);
  return changes;
}

absl::StatusOr<MonitorVersion> MonitorRegistry::Get(std::string_view name,
                                                    std::optional<int64_t> version) {
  std::optional<MonitorVersion> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(name)};
    std::string sql = absl::StrCat(
        "SELECT ", kVersionColumns,
        " FROM monitors p JOIN monitor_versions v ON v.name = p.name AND v.version = ");
    if (version) {
      absl::StrAppend(&sql, "$2 WHERE p.name = $1");
      params.push_back(*version);
    } else {
      absl::StrAppend(&sql, "p.latest_version WHERE p.name = $1");
    }
    return session.QueryEach(sql, params, [&](const SqlRowView& row) -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(MonitorVersion v, ReadVersion(row));
      found = std::move(v);
      return absl::OkStatus();
    });
  }));
  if (!found) {
    if (!version) {
      return absl::NotFoundError(absl::StrCat(
          "monitor '", ToAbsl(name),
          "' is not registered: apply its definition first (cairn apply FILE); list monitors "
          "with cairn monitors list"));
    }
    absl::StatusOr<MonitorVersion> latest = Get(name);
    if (!latest.ok()) return latest.status();
    return absl::NotFoundError(absl::StrCat("monitor '", ToAbsl(name), "' has no version ",
                                            *version, ": its versions are 1 to ",
                                            latest->version));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<MonitorVersion>> MonitorRegistry::List() {
  std::vector<MonitorVersion> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    return session.QueryEach(
        absl::StrCat("SELECT ", kVersionColumns,
                     " FROM monitors p JOIN monitor_versions v ON v.name = p.name AND "
                     "v.version = p.latest_version WHERE p.removed = 0 ORDER BY p.name"),
        {}, [&](const SqlRowView& row) -> absl::Status {
          CAIRN_ASSIGN_OR_RETURN(MonitorVersion v, ReadVersion(row));
          out.push_back(std::move(v));
          return absl::OkStatus();
        });
  }));
  return out;
}

}  // namespace cairn::monitoring
