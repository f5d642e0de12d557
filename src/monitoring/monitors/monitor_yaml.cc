#include "monitoring/monitors/monitor_yaml.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <span>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/duration.h"
#include "common/event_types.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "common/yaml_documents.h"
#include "common/yaml_reader.h"
#include "monitoring/stats/quality_metrics.h"
#include "monitoring/stats/stat_tests.h"
#include "pipelines/cron.h"
#include "yaml-cpp/yaml.h"

namespace cairn::monitoring {
namespace {

constexpr size_t kMaxNameLength = 128;

const std::vector<std::string_view> kMonitorFields = {
    "kind",     "name",        "description", "owner",       "tags",     "target",
    "reference", "columns",    "categorical", "tests",       "drift",    "drift_share",
    "constraints", "schedule", "trigger",     "severity",    "on_alert", "sinks",
    "quality"};
const std::vector<std::string_view> kTargetFields = {"feature_view", "path", "endpoint", "window",
                                                     "rows"};
const std::vector<std::string_view> kReferenceFields = {
    "path", "profile", "feature_view", "from", "to", "model", "alias", "version"};
const std::vector<std::string_view> kTestsFields = {"default", "threshold", "per_column"};
const std::vector<std::string_view> kColumnTestFields = {"test", "threshold"};
const std::vector<std::string_view> kScheduleFields = {"cron", "catchup"};
const std::vector<std::string_view> kTriggerFields = {"on"};
const std::vector<std::string_view> kOnAlertFields = {"pipeline", "params", "max_attempts",
                                                      "await_model", "await_alias"};
const std::vector<std::string_view> kSinkFields = {"webhook", "secret", "log"};
const std::vector<std::string_view> kQualityFields = {"min_labels", "threshold", "metrics",
                                                      "baseline"};
const std::vector<std::string_view> kQualityMetricFields = {"metric", "min", "max"};
const std::vector<std::string_view> kBaselineFields = {"metric", "value", "model_metric",
                                                       "max_drop"};
const std::vector<std::string_view> kTriggerEvents = {kEventSourceIngested};
const std::vector<std::string_view> kSeverities = {"info", "warning", "critical"};
const std::vector<std::string_view> kOtherKinds = {
    "Entity", "Source", "FeatureView", "FeatureService", "Pipeline", "Policy", "Endpoint"};

std::vector<std::string_view> QualityMetricNames() {
  std::span<const std::string_view> known = stats::KnownMetrics();
  return std::vector<std::string_view>(known.begin(), known.end());
}

std::vector<std::string_view> TestNames() {
  std::vector<std::string_view> names;
  for (const stats::StatTestInfo& info : stats::StatTests()) names.push_back(info.name);
  return names;
}

class DocumentParser : private YamlFieldReader {
 public:
  DocumentParser(std::string_view file, const YAML::Node& doc) : YamlFieldReader(file), doc_(doc) {}

  absl::Status Parse(MonitorSpec* spec, bool* is_monitor) {
    *is_monitor = false;
    const int line = YamlLine(doc_);
    if (!doc_.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", line, ": a definition must be a map with 'kind' and 'name', got ",
          YamlShown(doc_)));
    }
    YAML::Node kind_node = doc_["kind"];
    if (!YamlPresent(kind_node)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file(), ":", line,
                       ": missing field 'kind': add kind: Monitor (or Entity, Source, FeatureView, "
                       "FeatureService, Pipeline, Policy, Endpoint)"));
    }
    set_label("definition");
    if (!kind_node.IsScalar()) return FieldError(kind_node, "kind", "must be a string");
    const std::string kind = kind_node.Scalar();
    if (std::find(kOtherKinds.begin(), kOtherKinds.end(), kind) != kOtherKinds.end()) {
      return absl::OkStatus();
    }
    if (kind != "Monitor") {
      std::vector<std::string_view> kinds = kOtherKinds;
      kinds.insert(kinds.begin(), "Monitor");
      return FieldError(
          kind_node, "kind",
          absl::StrCat("is not a kind (", JoinNames(kinds), ")", DidYouMean(kind, kinds)));
    }
    *is_monitor = true;
    set_label("monitor");
    YAML::Node name_node = doc_["name"];
    if (YamlPresent(name_node) && name_node.IsScalar()) {
      set_label(absl::StrCat("monitor ", name_node.Scalar()));
    }
    spec->file = std::string(file());
    spec->line = line;
    return ParseMonitor(spec);
  }

 private:
  absl::StatusOr<std::string> ObjectName(const YAML::Node& map, std::string_view field,
                                         std::string_view path, bool required) {
    CAIRN_ASSIGN_OR_RETURN(std::string name, String(map, field, path, required));
    if (!name.empty() && !IsValidMonitorName(name)) {
      return FieldError(map[std::string(field)], path,
                        "is not a valid name: use letters, digits, '_' and '-', starting with "
                        "a letter or '_' (at most 128 characters)");
    }
    return name;
  }

  // A whole number of at least `min`; `fallback` when absent.
  absl::StatusOr<int64_t> Integer(const YAML::Node& node, std::string_view path, int64_t fallback,
                                  int64_t min) {
    CAIRN_ASSIGN_OR_RETURN(int64_t value, YamlFieldReader::Integer(node, path, fallback));
    if (YamlPresent(node) && value < min) {
      return FieldError(node, path, absl::StrCat("must be at least ", min));
    }
    return value;
  }

  absl::StatusOr<std::optional<double>> Threshold(const YAML::Node& node, std::string_view path) {
    if (!YamlPresent(node)) return std::optional<double>();
    CAIRN_ASSIGN_OR_RETURN(double value, Number(node, path));
    if (value < 0) return FieldError(node, path, "must not be negative");
    return std::optional<double>(value);
  }

  absl::StatusOr<std::string> TestName(const YAML::Node& node, std::string_view path) {
    if (!node.IsScalar()) return FieldError(node, path, "must be a test name, like ks or psi");
    const std::string name = node.Scalar();
    if (stats::FindStatTest(name) == nullptr) {
      std::vector<std::string_view> names = TestNames();
      return FieldError(
          node, path,
          absl::StrCat("is not a drift test (", JoinNames(names), ")", DidYouMean(name, names)));
    }
    return name;
  }

  absl::StatusOr<int64_t> Time(const YAML::Node& node, std::string_view path) {
    if (!YamlPresent(node)) return int64_t{0};
    if (node.IsScalar()) {
      std::optional<int64_t> ms = ParseTimestamp(node.Scalar());
      if (ms.has_value()) return *ms;
    }
    return FieldError(node, path,
                      "is not a time: write an ISO-8601 date or time (2024-05-01, "
                      "2024-05-01T12:00:00Z) or epoch milliseconds");
  }

  absl::Status ParseMonitor(MonitorSpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(doc_, kMonitorFields, ""));
    CAIRN_ASSIGN_OR_RETURN(spec->name, ObjectName(doc_, "name", "name", /*required=*/true));
    CAIRN_ASSIGN_OR_RETURN(spec->description, String(doc_, "description", "description", false));
    CAIRN_ASSIGN_OR_RETURN(spec->owner, String(doc_, "owner", "owner", false));
    CAIRN_ASSIGN_OR_RETURN(spec->tags, StringMap(doc_["tags"], "tags", "{team: growth}"));
    CAIRN_RETURN_IF_ERROR(ParseTarget(spec));
    CAIRN_RETURN_IF_ERROR(ParseReference(spec));
    CAIRN_ASSIGN_OR_RETURN(spec->columns, StringList(doc_["columns"], "columns", "[amount, plan]",
                                                     ListItems::kDistinctNames));
    CAIRN_ASSIGN_OR_RETURN(spec->categorical,
                           StringList(doc_["categorical"], "categorical", "[plan, country]",
                                      ListItems::kDistinctNames));
    CAIRN_RETURN_IF_ERROR(ParseTests(spec));

    YAML::Node share = doc_["drift_share"];
    if (YamlPresent(share)) {
      CAIRN_ASSIGN_OR_RETURN(spec->drift_share, Number(share, "drift_share"));
      if (spec->drift_share <= 0 || spec->drift_share > 1) {
        return FieldError(share, "drift_share",
                          "must be in (0, 1]: the share of drifted columns at which the data "
                          "set counts as drifted (0.5 is Evidently's default)");
      }
    }
    CAIRN_RETURN_IF_ERROR(ParseQuality(spec));
    const bool profile_reference = !spec->reference.profile.empty();
    const bool has_reference = spec->reference != MonitorReference();
    // A quality monitor may leave out the reference: then it checks quality only. A
    // profile reference tests drift against the rows stored with the profile (a version
    // stored without rows: constraints only, said in the run's message).
    CAIRN_ASSIGN_OR_RETURN(spec->drift, Bool(doc_["drift"], "drift", has_reference));
    CAIRN_ASSIGN_OR_RETURN(spec->constraints,
                           Bool(doc_["constraints"], "constraints", profile_reference));
    if (spec->drift && !has_reference) {
      return FieldError(doc_["drift"], "drift",
                        "needs reference rows: add reference: {path: train.csv} (or "
                        "feature_view: VIEW), or set drift: false (quality only)");
    }
    if (spec->constraints && !has_reference) {
      return FieldError(doc_["constraints"], "constraints",
                        "needs a reference to infer them from: add reference: {profile: NAME} "
                        "(or path: train.csv), or set constraints: false");
    }
    if (!spec->drift && !spec->constraints && !spec->quality.has_value()) {
      return ObjectError(spec->line,
                         "checks nothing: drift and constraints are both false; set one of "
                         "them to true (or add quality: for an endpoint target)");
    }

    YAML::Node schedule = doc_["schedule"];
    if (YamlPresent(schedule)) {
      // Not `cron = schedule["cron"]`: yaml-cpp's Node assignment rewrites the node both
      // names share (the schedule map itself).
      if (!schedule.IsScalar()) {
        CAIRN_RETURN_IF_ERROR(RequireMap(schedule, "schedule", "{cron: \"0 * * * *\"}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(schedule, kScheduleFields, "schedule."));
        if (!YamlPresent(schedule["cron"])) {
          return ObjectError(YamlLine(schedule),
                             "missing field 'schedule.cron': write schedule: {cron: \"0 * * * "
                             "*\"} (5 fields, UTC)");
        }
      }
      YAML::Node cron = schedule.IsScalar() ? schedule : YAML::Node(schedule["cron"]);
      if (!cron.IsScalar()) return FieldError(cron, "schedule.cron", "must be a string");
      absl::StatusOr<pipelines::CronSchedule> parsed = pipelines::ParseCron(cron.Scalar());
      if (!parsed.ok()) {
        return FieldError(cron, "schedule.cron", absl::StrCat("is not valid: ", parsed.status().message()));
      }
      spec->cron = cron.Scalar();
      YAML::Node catchup = schedule.IsMap() ? schedule["catchup"] : YAML::Node();
      if (YamlPresent(catchup)) {
        absl::StatusOr<pipelines::Catchup> policy = pipelines::ParseCatchupField(
            catchup.IsScalar() ? std::optional<std::string_view>(catchup.Scalar()) : std::nullopt);
        if (!policy.ok()) {
          return FieldError(catchup, "schedule.catchup", ToStd(policy.status().message()));
        }
        spec->catchup = *policy;
      }
    }

    YAML::Node trigger = doc_["trigger"];
    if (YamlPresent(trigger)) {
      CAIRN_RETURN_IF_ERROR(RequireMap(trigger, "trigger", "{on: source_ingested}"));
      CAIRN_RETURN_IF_ERROR(CheckFields(trigger, kTriggerFields, "trigger."));
      CAIRN_ASSIGN_OR_RETURN(spec->trigger_on, String(trigger, "on", "trigger.on", true));
      if (std::find(kTriggerEvents.begin(), kTriggerEvents.end(), spec->trigger_on) ==
          kTriggerEvents.end()) {
        return FieldError(
            trigger["on"], "trigger.on",
            absl::StrCat("is not an event a monitor can follow (", JoinNames(kTriggerEvents), ")",
                         DidYouMean(spec->trigger_on, kTriggerEvents)));
      }
      if (spec->target.feature_view.empty()) {
        return FieldError(trigger["on"], "trigger.on",
                          "needs a feature_view target (new data of the view's source)");
      }
    }

    YAML::Node severity = doc_["severity"];
    if (YamlPresent(severity)) {
      std::optional<Severity> parsed;
      if (severity.IsScalar()) parsed = ParseSeverity(severity.Scalar());
      if (!parsed.has_value()) {
        return FieldError(severity, "severity",
                          absl::StrCat("is not a severity (info, warning, critical)",
                                       severity.IsScalar()
                                           ? DidYouMean(severity.Scalar(), kSeverities)
                                           : ""));
      }
      spec->severity = *parsed;
    }
    CAIRN_RETURN_IF_ERROR(ParseOnAlert(spec));
    return ParseSinks(spec);
  }

  absl::Status ParseTarget(MonitorSpec* spec) {
    YAML::Node target = doc_["target"];
    if (!YamlPresent(target)) {
      return ObjectError(spec->line,
                         "missing field 'target': add target: {feature_view: VIEW, window: 1d}");
    }
    CAIRN_RETURN_IF_ERROR(RequireMap(target, "target", "{feature_view: VIEW, window: 1d}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(target, kTargetFields, "target."));
    MonitorTarget& out = spec->target;
    CAIRN_ASSIGN_OR_RETURN(out.feature_view,
                           ObjectName(target, "feature_view", "target.feature_view", false));
    CAIRN_ASSIGN_OR_RETURN(out.endpoint, ObjectName(target, "endpoint", "target.endpoint", false));
    CAIRN_ASSIGN_OR_RETURN(out.path, String(target, "path", "target.path", false));
    const int kinds = !out.feature_view.empty() + !out.endpoint.empty() + !out.path.empty();
    if (kinds > 1) {
      const char* second = !out.endpoint.empty() ? "endpoint" : "path";
      return FieldError(target[second], absl::StrCat("target.", second),
                        absl::StrCat("conflicts with 'target.",
                                     !out.feature_view.empty() ? "feature_view" : "endpoint",
                                     "': a monitor watches one target"));
    }
    if (kinds == 0) {
      return ObjectError(YamlLine(target),
                         "field 'target' needs feature_view: VIEW (or path: FILE.csv, or "
                         "endpoint: NAME)");
    }
    if (!out.path.empty()) {
      for (const char* field : {"window", "rows"}) {
        if (YamlPresent(target[field])) {
          return FieldError(target[field], absl::StrCat("target.", field),
                            "applies to a feature_view target; a target.path file is read "
                            "whole at each run");
        }
      }
    }
    YAML::Node window = target["window"];
    if (YamlPresent(window)) {
      absl::StatusOr<int64_t> ms =
          window.IsScalar() ? ParseDuration(window.Scalar()) : absl::InvalidArgumentError("");
      if (!ms.ok() || *ms <= 0) {
        return FieldError(window, "target.window",
                          "is not a positive duration: write an integer and a unit (ms, s, m, "
                          "h, d), like 1h or 1d");
      }
      out.window_ms = *ms;
    }
    CAIRN_ASSIGN_OR_RETURN(out.rows, Integer(target["rows"], "target.rows", 0, 1));
    if (out.window_ms > 0 && out.rows > 0) {
      return FieldError(target["rows"], "target.rows",
                        "conflicts with 'target.window': give a time span (window: 1d) or a row "
                        "count (rows: 10000), not both");
    }
    return absl::OkStatus();
  }

  absl::Status ParseReference(MonitorSpec* spec) {
    YAML::Node ref = doc_["reference"];
    if (!YamlPresent(ref)) {
      if (YamlPresent(doc_["quality"])) return absl::OkStatus();  // quality needs no reference
      return ObjectError(spec->line,
                         "missing field 'reference': add reference: {path: train.csv} (or "
                         "profile: NAME, or feature_view: VIEW with from/to)");
    }
    CAIRN_RETURN_IF_ERROR(RequireMap(ref, "reference", "{path: train.csv}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(ref, kReferenceFields, "reference."));
    MonitorReference& out = spec->reference;
    CAIRN_ASSIGN_OR_RETURN(out.path, String(ref, "path", "reference.path", false));
    CAIRN_ASSIGN_OR_RETURN(out.profile, ObjectName(ref, "profile", "reference.profile", false));
    CAIRN_ASSIGN_OR_RETURN(out.feature_view,
                           ObjectName(ref, "feature_view", "reference.feature_view", false));
    CAIRN_ASSIGN_OR_RETURN(out.model, String(ref, "model", "reference.model", false));
    int kinds = !out.path.empty() + !out.profile.empty() + !out.feature_view.empty() +
                !out.model.empty();
    if (kinds == 0) {
      return ObjectError(YamlLine(ref),
                         "field 'reference' needs one of path: FILE.csv, profile: NAME, "
                         "feature_view: VIEW or model: NAME (with alias: production)");
    }
    if (kinds > 1) {
      return ObjectError(YamlLine(ref),
                         "field 'reference' names more than one of path, profile, "
                         "feature_view and model: keep one");
    }
    CAIRN_ASSIGN_OR_RETURN(out.model_alias, String(ref, "alias", "reference.alias", false));
    CAIRN_ASSIGN_OR_RETURN(out.model_version,
                           Integer(ref["version"], "reference.version", 0, 1));
    if (out.model.empty() && (YamlPresent(ref["alias"]) || YamlPresent(ref["version"]))) {
      YAML::Node at = YamlPresent(ref["alias"]) ? ref["alias"] : ref["version"];
      return FieldError(at, YamlPresent(ref["alias"]) ? "reference.alias" : "reference.version",
                        "applies to a model reference only (model: NAME)");
    }
    if (!out.model.empty() && out.model_alias.empty() == (out.model_version == 0)) {
      return FieldError(ref["model"], "reference.model",
                        out.model_version == 0
                            ? "needs alias: NAME (e.g. alias: production) or version: N"
                            : "takes alias or version, not both");
    }
    CAIRN_ASSIGN_OR_RETURN(out.from_ms, Time(ref["from"], "reference.from"));
    CAIRN_ASSIGN_OR_RETURN(out.to_ms, Time(ref["to"], "reference.to"));
    if ((YamlPresent(ref["from"]) || YamlPresent(ref["to"])) && out.feature_view.empty()) {
      YAML::Node at = YamlPresent(ref["from"]) ? ref["from"] : ref["to"];
      return FieldError(at, YamlPresent(ref["from"]) ? "reference.from" : "reference.to",
                        "applies to a feature_view reference only");
    }
    if (out.from_ms != 0 && out.to_ms != 0 && out.from_ms >= out.to_ms) {
      return FieldError(ref["to"], "reference.to",
                        absl::StrCat("must be after reference.from (",
                                     FormatTimestamp(out.from_ms), ")"));
    }
    return absl::OkStatus();
  }

  absl::Status ParseTests(MonitorSpec* spec) {
    YAML::Node tests = doc_["tests"];
    if (!YamlPresent(tests)) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(
        RequireMap(tests, "tests", "{default: ks, per_column: {plan: {test: psi}}}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(tests, kTestsFields, "tests."));
    if (YamlPresent(tests["default"])) {
      CAIRN_ASSIGN_OR_RETURN(spec->tests.default_test, TestName(tests["default"], "tests.default"));
    }
    CAIRN_ASSIGN_OR_RETURN(spec->tests.threshold, Threshold(tests["threshold"], "tests.threshold"));
    YAML::Node per_column = tests["per_column"];
    if (!YamlPresent(per_column)) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(RequireMap(per_column, "tests.per_column",
                                     "{plan: {test: psi, threshold: 0.2}}"));
    for (auto it = per_column.begin(); it != per_column.end(); ++it) {
      if (!it->first.IsScalar() || it->first.Scalar().empty()) {
        return FieldError(it->first, "tests.per_column", "has a key that is not a column name");
      }
      const std::string column = it->first.Scalar();
      const std::string path = absl::StrCat("tests.per_column.", column);
      const YAML::Node node = it->second;  // a copy: `*it` is a temporary
      ColumnTestSpec test;
      if (YamlPresent(node) && node.IsScalar()) {  // per_column: {plan: psi}
        CAIRN_ASSIGN_OR_RETURN(test.test, TestName(node, path));
      } else {
        CAIRN_RETURN_IF_ERROR(RequireMap(node, path, "{test: psi, threshold: 0.2}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(node, kColumnTestFields, path + "."));
        if (YamlPresent(node["test"])) {
          CAIRN_ASSIGN_OR_RETURN(test.test, TestName(node["test"], path + ".test"));
        }
        CAIRN_ASSIGN_OR_RETURN(test.threshold, Threshold(node["threshold"], path + ".threshold"));
        if (test.test.empty() && !test.threshold.has_value()) {
          return FieldError(node, path, "sets nothing: give test: NAME and/or threshold: X");
        }
      }
      spec->tests.per_column[column] = std::move(test);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> MetricName(const YAML::Node& node, std::string_view path) {
    if (!YamlPresent(node) || !node.IsScalar()) {
      return FieldError(node, path, "must be a metric name, like auc or logloss");
    }
    const std::string name = node.Scalar();
    if (!stats::IsKnownMetric(name)) {
      std::vector<std::string_view> names = QualityMetricNames();
      return FieldError(node, path,
                        absl::StrCat("is not a quality metric (", JoinNames(names), ")",
                                     DidYouMean(name, names)));
    }
    return name;
  }

  absl::Status ParseQuality(MonitorSpec* spec) {
    YAML::Node quality = doc_["quality"];
    if (!YamlPresent(quality)) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(
        RequireMap(quality, "quality", "{min_labels: 100, metrics: [{metric: auc, min: 0.7}]}"));
    if (spec->target.endpoint.empty()) {
      return FieldError(quality, "quality",
                        "needs an endpoint target (target: {endpoint: NAME, window: 1h}): live "
                        "quality is computed on an endpoint's logged predictions and the "
                        "labels posted for them");
    }
    CAIRN_RETURN_IF_ERROR(CheckFields(quality, kQualityFields, "quality."));
    MonitorQuality out;
    CAIRN_ASSIGN_OR_RETURN(out.min_labels,
                           Integer(quality["min_labels"], "quality.min_labels", 100, 1));
    if (YamlPresent(quality["threshold"])) {
      CAIRN_ASSIGN_OR_RETURN(out.threshold, Number(quality["threshold"], "quality.threshold"));
    }
    YAML::Node metrics = quality["metrics"];
    if (YamlPresent(metrics)) {
      if (!metrics.IsSequence()) {
        return FieldError(metrics, "quality.metrics",
                          "must be a list, like [{metric: auc, min: 0.7}, {metric: logloss, "
                          "max: 0.6}]");
      }
      for (size_t i = 0; i < metrics.size(); ++i) {
        const YAML::Node node = metrics[i];
        const std::string path = absl::StrCat("quality.metrics[", i, "]");
        CAIRN_RETURN_IF_ERROR(RequireMap(node, path, "{metric: auc, min: 0.7}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(node, kQualityMetricFields, path + "."));
        if (!YamlPresent(node["metric"])) {
          return ObjectError(YamlLine(node), absl::StrCat("missing field '", path,
                                                          ".metric': name a metric, like auc"));
        }
        QualityBound bound;
        CAIRN_ASSIGN_OR_RETURN(bound.metric, MetricName(node["metric"], path + ".metric"));
        for (const QualityBound& earlier : out.metrics) {
          if (earlier.metric == bound.metric) {
            return FieldError(node["metric"], path + ".metric",
                              "is listed twice: give one entry with min and/or max");
          }
        }
        if (YamlPresent(node["min"])) {
          CAIRN_ASSIGN_OR_RETURN(bound.min, Number(node["min"], path + ".min"));
        }
        if (YamlPresent(node["max"])) {
          CAIRN_ASSIGN_OR_RETURN(bound.max, Number(node["max"], path + ".max"));
        }
        if (!bound.min.has_value() && !bound.max.has_value()) {
          return FieldError(node, path,
                            absl::StrCat("sets no bound: give min: X and/or max: Y for ",
                                         bound.metric));
        }
        if (bound.min.has_value() && bound.max.has_value() && *bound.min > *bound.max) {
          return FieldError(node["max"], path + ".max",
                            absl::StrCat("must not be below min (", *bound.min, ")"));
        }
        out.metrics.push_back(std::move(bound));
      }
    }
    YAML::Node baseline = quality["baseline"];
    if (YamlPresent(baseline)) {
      std::vector<YAML::Node> entries;
      if (baseline.IsSequence()) {
        for (size_t i = 0; i < baseline.size(); ++i) entries.push_back(baseline[i]);
      } else {
        entries.push_back(baseline);
      }
      for (size_t i = 0; i < entries.size(); ++i) {
        const YAML::Node node = entries[i];
        const std::string path =
            baseline.IsSequence() ? absl::StrCat("quality.baseline[", i, "]") : "quality.baseline";
        CAIRN_RETURN_IF_ERROR(
            RequireMap(node, path, "{metric: auc, model_metric: val_auc, max_drop: 0.05}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(node, kBaselineFields, path + "."));
        QualityBaseline out_baseline;
        CAIRN_ASSIGN_OR_RETURN(out_baseline.model_metric,
                               String(node, "model_metric", path + ".model_metric", false));
        if (YamlPresent(node["metric"])) {
          CAIRN_ASSIGN_OR_RETURN(out_baseline.metric, MetricName(node["metric"], path + ".metric"));
        } else if (stats::IsKnownMetric(out_baseline.model_metric)) {
          out_baseline.metric = out_baseline.model_metric;  // {model_metric: auc}: auc vs auc
        } else {
          return ObjectError(
              YamlLine(node),
              absl::StrCat("missing field '", path, ".metric': name the live metric to compare (",
                           JoinNames(QualityMetricNames()), ")"));
        }
        if (YamlPresent(node["value"])) {
          CAIRN_ASSIGN_OR_RETURN(out_baseline.value, Number(node["value"], path + ".value"));
        }
        if (out_baseline.value.has_value() == !out_baseline.model_metric.empty()) {
          return ObjectError(
              YamlLine(node),
              absl::StrCat("field '", path,
                           "' needs exactly one of value: X (a fixed baseline) or "
                           "model_metric: NAME (the metric logged on the training run of the "
                           "model version the endpoint serves)"));
        }
        if (YamlPresent(node["max_drop"])) {
          CAIRN_ASSIGN_OR_RETURN(out_baseline.max_drop,
                                 Number(node["max_drop"], path + ".max_drop"));
          if (out_baseline.max_drop < 0) {
            return FieldError(node["max_drop"], path + ".max_drop",
                              "must not be negative: it is how much worse than the baseline "
                              "the live metric may be");
          }
        }
        out.baselines.push_back(std::move(out_baseline));
      }
    }
    if (out.metrics.empty() && out.baselines.empty()) {
      return FieldError(quality, "quality",
                        "checks nothing: add metrics: [{metric: auc, min: 0.7}] and/or "
                        "baseline: {metric: auc, value: 0.8, max_drop: 0.05}");
    }
    spec->quality = std::move(out);
    return absl::OkStatus();
  }

  absl::Status ParseOnAlert(MonitorSpec* spec) {
    YAML::Node on_alert = doc_["on_alert"];
    if (!YamlPresent(on_alert)) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(RequireMap(on_alert, "on_alert",
                                     "{pipeline: churn-train, params: {reason: drift}}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(on_alert, kOnAlertFields, "on_alert."));
    RetrainAction action;
    CAIRN_ASSIGN_OR_RETURN(action.pipeline,
                           ObjectName(on_alert, "pipeline", "on_alert.pipeline", true));
    CAIRN_ASSIGN_OR_RETURN(action.params,
                           StringMap(on_alert["params"], "on_alert.params", "{reason: drift}"));
    CAIRN_ASSIGN_OR_RETURN(int64_t attempts,
                           Integer(on_alert["max_attempts"], "on_alert.max_attempts", 2, 1));
    if (attempts > 100) {
      return FieldError(on_alert["max_attempts"], "on_alert.max_attempts", "must be at most 100");
    }
    action.max_attempts = static_cast<int>(attempts);
    CAIRN_ASSIGN_OR_RETURN(action.await_model,
                           String(on_alert, "await_model", "on_alert.await_model", false));
    CAIRN_ASSIGN_OR_RETURN(action.await_alias,
                           String(on_alert, "await_alias", "on_alert.await_alias", false));
    if (!action.await_alias.empty() && action.await_model.empty()) {
      return FieldError(on_alert["await_alias"], "on_alert.await_alias",
                        "needs on_alert.await_model: name the model whose alias to wait for, "
                        "like await_model: churn, await_alias: production");
    }
    spec->on_alert = std::move(action);
    return absl::OkStatus();
  }

  absl::Status ParseSinks(MonitorSpec* spec) {
    YAML::Node sinks = doc_["sinks"];
    if (!YamlPresent(sinks)) return absl::OkStatus();
    if (!sinks.IsSequence()) {
      return FieldError(sinks, "sinks",
                        "must be a list, like [{webhook: \"https://…\", secret: \"${SECRET}\"}, "
                        "{log: true}]");
    }
    for (size_t i = 0; i < sinks.size(); ++i) {
      const YAML::Node& node = sinks[i];
      const std::string path = absl::StrCat("sinks[", i, "]");
      CAIRN_RETURN_IF_ERROR(RequireMap(node, path, "{webhook: \"https://…\"} or {log: true}"));
      CAIRN_RETURN_IF_ERROR(CheckFields(node, kSinkFields, path + "."));
      SinkSpec sink;
      CAIRN_ASSIGN_OR_RETURN(sink.url, String(node, "webhook", path + ".webhook", false));
      CAIRN_ASSIGN_OR_RETURN(sink.secret, String(node, "secret", path + ".secret", false));
      CAIRN_ASSIGN_OR_RETURN(bool log, Bool(node["log"], path + ".log", false));
      if (!sink.url.empty() && YamlPresent(node["log"])) {
        return FieldError(node["log"], path + ".log",
                          "conflicts with 'webhook': write one sink per list entry");
      }
      if (!sink.url.empty()) {
        if (sink.url.rfind("http://", 0) != 0 && sink.url.rfind("https://", 0) != 0) {
          return FieldError(node["webhook"], path + ".webhook",
                            "is not an http:// or https:// URL");
        }
        sink.kind = "webhook";
      } else if (log) {
        if (!sink.secret.empty()) {
          return FieldError(node["secret"], path + ".secret", "applies to a webhook sink only");
        }
        sink.kind = "log";
      } else {
        return ObjectError(YamlLine(node),
                           absl::StrCat("field '", path,
                                        "' needs webhook: URL (with an optional secret) or log: "
                                        "true"));
      }
      spec->sinks.push_back(std::move(sink));
    }
    return absl::OkStatus();
  }

  const YAML::Node& doc_;
};

}  // namespace

bool IsValidMonitorName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '-') return false;
  }
  return true;
}

absl::StatusOr<std::vector<MonitorSpec>> ParseMonitorsYaml(std::string_view text,
                                                           std::string_view file) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadYamlDocuments(text, file));
  std::vector<MonitorSpec> out;
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    MonitorSpec spec;
    bool is_monitor = false;
    try {
      DocumentParser parser(file, doc);
      CAIRN_RETURN_IF_ERROR(parser.Parse(&spec, &is_monitor));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", e.mark.line + 1, ": invalid monitor: ", e.msg));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", YamlLine(doc), ": invalid monitor: ", e.what()));
    }
    if (is_monitor) out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<std::vector<MonitorSpec>> ParseMonitorFiles(
    const std::vector<features::DefinitionFile>& files) {
  std::vector<MonitorSpec> out;
  for (const features::DefinitionFile& file : files) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<MonitorSpec> specs, ParseMonitorsYaml(file.content, file.path));
    for (MonitorSpec& spec : specs) {
      for (const MonitorSpec& earlier : out) {
        if (earlier.name == spec.name) {
          return absl::InvalidArgumentError(absl::StrCat(
              spec.file, ":", spec.line, ": monitor ", spec.name, ": defined twice (also at ",
              earlier.file, ":", earlier.line, "): keep one"));
        }
      }
      out.push_back(std::move(spec));
    }
  }
  return out;
}

}  // namespace cairn::monitoring
