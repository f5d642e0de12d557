#include "monitoring/monitors/monitor_registry.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "pipelines/pipeline_diff.h"
#include "storage/database.h"
#include "storage/migrations.h"

namespace cairn::monitoring {
namespace {

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

Json OptionalNumber(const std::optional<double>& value) {
  return value.has_value() ? Json(*value) : Json(nullptr);
}

// The catch-up policy only when it is not the default (latest), so the content hash of a
// monitor written before monitors had catch-up is what it was (re-applying it creates no
// new version).
Json MonitorScheduleJson(const MonitorSpec& spec) {
  Json schedule = {{"cron", spec.cron}};
  if (spec.catchup != pipelines::Catchup::kLatest) {
    schedule["catchup"] = std::string(pipelines::CatchupName(spec.catchup));
  }
  return schedule;
}

// The reference's fields; a model reference's only when set, so monitors written before
// it keep their content hash.
Json ReferenceToJson(const MonitorReference& ref) {
  Json out = {{"path", ref.path},
              {"profile", ref.profile},
              {"feature_view", ref.feature_view},
              {"from_ms", ref.from_ms},
              {"to_ms", ref.to_ms}};
  if (!ref.model.empty()) {
    out["model"] = ref.model;
    out["model_alias"] = ref.model_alias;
    out["model_version"] = ref.model_version;
  }
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
    // Only when set, so that monitors stored before it keep their content hash.
    if (!spec.on_alert->await_alias.empty()) on_alert["await_alias"] = spec.on_alert->await_alias;
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
      {"reference", ReferenceToJson(spec.reference)},
      {"columns", spec.columns},
      {"categorical", spec.categorical},
      {"tests",
       {{"default", spec.tests.default_test},
        {"threshold", OptionalNumber(spec.tests.threshold)},
        {"per_column", per_column}}},
      {"drift_share", spec.drift_share},
      {"drift", spec.drift},
      {"constraints", spec.constraints},
      {"schedule", MonitorScheduleJson(spec)},
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
    spec.reference.model = ref.value("model", "");
    spec.reference.model_alias = ref.value("model_alias", "");
    spec.reference.model_version = ref.value("model_version", int64_t{0});
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
    if (json.contains("schedule")) {
      const Json& schedule = json.at("schedule");
      spec.cron = schedule.value("cron", "");
      absl::StatusOr<pipelines::Catchup> catchup =
          pipelines::ParseCatchup(schedule.value("catchup", "latest"));
      if (!catchup.ok()) return catchup.status();
      spec.catchup = *catchup;
    }
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
      action.await_alias = a.value("await_alias", "");
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

MonitorRegistry::MonitorRegistry(storage::Database& db, Clock& clock)
    : store_(db, clock,
             {.kind = "monitor",
              .table = "monitors",
              .versions_table = "monitor_versions",
              .diff = pipelines::DiffPipelineJson,
              .list_hint = "list monitors with cairn monitors list"},
             {.to_json = MonitorSpecToJson, .from_json = MonitorSpecFromJson}) {}
MonitorRegistry::~MonitorRegistry() = default;

absl::StatusOr<std::unique_ptr<MonitorRegistry>> MonitorRegistry::Open(storage::Database& db,
                                                                       Clock& clock) {
  CAIRN_RETURN_IF_ERROR(ApplyMonitorMigrations(db));
  return std::unique_ptr<MonitorRegistry>(new MonitorRegistry(db, clock));
}

absl::StatusOr<std::vector<MonitorChange>> MonitorRegistry::Apply(
    const std::vector<MonitorSpec>& specs, bool dry_run, bool prune) {
  return store_.Apply(specs, dry_run, prune);
}

absl::StatusOr<MonitorVersion> MonitorRegistry::Get(std::string_view name,
                                                    std::optional<int64_t> version) {
  return store_.Get(name, version);
}

absl::StatusOr<std::vector<MonitorVersion>> MonitorRegistry::List() { return store_.List(); }

}  // namespace cairn::monitoring
