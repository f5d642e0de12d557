#include "serving/endpoint_yaml.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/did_you_mean.h"
#include "common/duration.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/yaml_documents.h"
#include "common/yaml_reader.h"
#include "monitoring/stats/stat_tests.h"
#include "yaml-cpp/yaml.h"

namespace cairn::serving {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr int kMaxReplicas = 256;
constexpr int64_t kMaxQueue = 100'000;
constexpr int64_t kMaxTimeoutMs = 3'600'000;  // 1 h

const std::vector<std::string_view> kEndpointFields = {
    "kind",    "name",     "description", "owner",     "tags",          "model",
    "feature_service", "runtime", "replicas", "max_queue", "timeout", "inference_log",
    "rollout"};
const std::vector<std::string_view> kReplicasFields = {"min", "max"};
const std::vector<std::string_view> kLogFields = {"sample", "max_rows"};
const std::vector<std::string_view> kRolloutFields = {"mode",  "version", "alias",  "percent",
                                                      "guard", "on_pass", "on_fail"};
const std::vector<std::string_view> kGuardFields = {
    "window",          "min_requests",         "max_error_rate_increase",
    "max_p99_latency_ratio", "max_prediction_drift", "drift_test"};
const std::vector<std::string_view> kRuntimes = {"auto", "xgboost", "python"};
const std::vector<std::string_view> kModes = {"canary", "shadow"};
const std::vector<std::string_view> kOnPass = {"promote", "none"};
const std::vector<std::string_view> kOnFail = {"rollback", "none"};
const std::vector<std::string_view> kOtherKinds = {
    "Entity", "Source", "FeatureView", "FeatureService", "Pipeline", "Monitor", "Policy"};

bool OneOf(std::string_view value, const std::vector<std::string_view>& names) {
  return std::find(names.begin(), names.end(), value) != names.end();
}

std::string NotOneOf(std::string_view what, std::string_view value,
                     const std::vector<std::string_view>& names) {
  return absl::StrCat("is not ", ToAbsl(what), " (", JoinNames(names), ")",
                      DidYouMean(value, names));
}

// Reports a problem with a field: (path like "rollout.percent", what is wrong and what to
// do). The YAML parser points at the node's line; the in-code validators name the value.
using Report = std::function<absl::Status(std::string_view path, std::string_view what)>;

bool ValidAlias(std::string_view alias) {
  if (alias.empty() || alias.size() > kMaxNameLength) return false;
  for (char c : alias) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> StatTestNames() {
  std::vector<std::string_view> names;
  for (const monitoring::stats::StatTestInfo& info : monitoring::stats::StatTests()) {
    names.push_back(info.name);
  }
  return names;
}

// "" when `text` is NAME@ALIAS or NAME/VERSION (then *ref is set), else what is wrong and
// what to write.
std::string ModelRefProblem(std::string_view text, ModelRef* ref) {
  constexpr char kWrite[] =
      ": write NAME@ALIAS (e.g. churn@production) or NAME/VERSION (e.g. churn/3)";
  const size_t at = text.rfind('@');
  if (at != std::string_view::npos) {
    ref->model = std::string(text.substr(0, at));
    ref->alias = std::string(text.substr(at + 1));
    if (ref->model.empty()) return absl::StrCat("has no model name", kWrite);
    if (!ValidAlias(ref->alias)) {
      return absl::StrCat("has no valid alias after '@' (letters, digits, '_', '-', '.')",
                          kWrite);
    }
  } else {
    const size_t slash = text.rfind('/');
    if (slash == std::string_view::npos) return absl::StrCat("names no alias or version", kWrite);
    ref->model = std::string(text.substr(0, slash));
    if (ref->model.empty()) return absl::StrCat("has no model name", kWrite);
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 15 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos ||
        !absl::SimpleAtoi(ToAbsl(digits), &ref->version) || ref->version < 1) {
      return absl::StrCat("has no version number (1 or more) after '/'", kWrite);
    }
  }
  for (char c : ref->model) {
    if (static_cast<unsigned char>(c) < 0x20) return "has a control character in the name";
  }
  return "";
}

// The value checks of a rollout, shared by the YAML parser and ValidateRolloutSpec.
absl::Status CheckRollout(const RolloutSpec& r, bool require_target, const Report& report) {
  if (!OneOf(r.mode, kModes)) return report("mode", NotOneOf("a rollout mode", r.mode, kModes));
  if (require_target) {
    if (r.version != 0 && !r.alias.empty()) {
      return report("alias",
                    "conflicts with 'version': name the challenger by version (version: 4) or "
                    "by alias (alias: challenger), not both");
    }
    if (r.version == 0 && r.alias.empty()) {
      return report("version",
                    "is missing: name the challenger with version: N or alias: NAME");
    }
  } else if (r.version != 0 || !r.alias.empty()) {
    return report(r.version != 0 ? "version" : "alias",
                  "is not allowed here: the candidate version is the one being checked");
  }
  if (r.version < 0) return report("version", "must be a version number (1 or more)");
  if (!r.alias.empty() && !ValidAlias(r.alias)) {
    return report("alias", "is not a valid alias: use letters, digits, '_', '-' and '.'");
  }
  if (!(r.percent > 0 && r.percent <= 100)) {
    return report("percent",
                  absl::StrCat("must be in (0, 100]: the share of requests the challenger ",
                               r.mode == "shadow" ? "sees (mirrored)" : "answers"));
  }
  const GuardSpec& g = r.guard;
  if (g.window_ms <= 0) {
    return report("guard.window", "must be a positive duration, like 10m");
  }
  if (g.min_requests < 1) return report("guard.min_requests", "must be at least 1");
  if (!(g.max_error_rate_increase >= 0 && g.max_error_rate_increase <= 1)) {
    return report("guard.max_error_rate_increase",
                  "must be in [0, 1]: the challenger's error rate minus the champion's "
                  "(0.01 = one point)");
  }
  if (!(g.max_p99_latency_ratio > 0) || !std::isfinite(g.max_p99_latency_ratio)) {
    return report("guard.max_p99_latency_ratio",
                  "must be a positive number: the challenger's p99 over the champion's (1.5 = "
                  "50% slower at most)");
  }
  if (g.max_prediction_drift.has_value() &&
      (!(*g.max_prediction_drift >= 0) || !std::isfinite(*g.max_prediction_drift))) {
    return report("guard.max_prediction_drift", "must be a number, 0 or more");
  }
  if (monitoring::stats::FindStatTest(g.drift_test) == nullptr) {
    return report("guard.drift_test",
                  NotOneOf("a drift test", g.drift_test, StatTestNames()));
  }
  if (!OneOf(r.on_pass, kOnPass)) {
    return report("on_pass", NotOneOf("an action on pass", r.on_pass, kOnPass));
  }
  if (!OneOf(r.on_fail, kOnFail)) {
    return report("on_fail", NotOneOf("an action on failure", r.on_fail, kOnFail));
  }
  return absl::OkStatus();
}

// The value checks of an endpoint, shared by the YAML parser and ValidateEndpointSpec.
absl::Status CheckEndpoint(const EndpointSpec& spec, const Report& report) {
  if (!IsValidEndpointName(spec.name)) {
    return report("name",
                  "is not a valid endpoint name: use letters, digits, '_', '-' and '.' (at most "
                  "255 characters)");
  }
  if (spec.model.empty()) {
    return report("model",
                  "is missing: bind the endpoint to a registered model, like "
                  "model: churn@production (follows the alias) or model: churn/3 (pinned)");
  }
  if (spec.version != 0 && !spec.alias.empty()) {
    return report("model", "names both an alias and a version: keep one");
  }
  if (spec.version == 0 && spec.alias.empty()) {
    return report("model",
                  "names no alias or version: write NAME@ALIAS (churn@production) or "
                  "NAME/VERSION (churn/3)");
  }
  if (spec.version < 0) return report("model", "has a version below 1");
  if (!spec.alias.empty() && !ValidAlias(spec.alias)) {
    return report("model", "has an invalid alias: use letters, digits, '_', '-' and '.'");
  }
  if (!spec.feature_service.empty() && !features::IsValidObjectName(spec.feature_service)) {
    return report("feature_service",
                  "is not a valid feature service name: letters, digits, '_' and '-', starting "
                  "with a letter or '_'");
  }
  if (!OneOf(spec.runtime, kRuntimes)) {
    return report("runtime", NotOneOf("a runtime", spec.runtime, kRuntimes));
  }
  if (spec.max_replicas < 1 || spec.max_replicas > kMaxReplicas) {
    return report("replicas.max", absl::StrCat("must be in 1..", kMaxReplicas));
  }
  if (spec.min_replicas < 0 || spec.min_replicas > spec.max_replicas) {
    return report("replicas.min",
                  absl::StrCat("must be in 0..replicas.max (", spec.max_replicas,
                               "); 0 starts a worker on the first request"));
  }
  if (spec.runtime == "xgboost" && (spec.min_replicas != 1 || spec.max_replicas != 1)) {
    return report("replicas",
                  "applies to the python runtime's worker pool only; the xgboost runtime "
                  "predicts in the server's threads: remove it or set runtime: python");
  }
  if (spec.max_queue < 1 || spec.max_queue > kMaxQueue) {
    return report("max_queue", absl::StrCat("must be in 1..", kMaxQueue,
                                            ": the requests waiting per replica before 429"));
  }
  if (spec.timeout_ms < 1 || spec.timeout_ms > kMaxTimeoutMs) {
    return report("timeout",
                  "must be a duration from 1ms to 1h, like 30s: how long a request may wait "
                  "for a worker and predict before the endpoint answers 504");
  }
  if (spec.runtime == "xgboost" && spec.timeout_ms != kDefaultEndpointTimeoutMs) {
    return report("timeout",
                  "applies to the python runtime's worker pool only; the xgboost runtime "
                  "predicts in the server's threads: remove it or set runtime: python");
  }
  if (!(spec.log_sample >= 0 && spec.log_sample <= 1)) {
    return report("inference_log.sample",
                  "must be in [0, 1]: the share of predicted rows logged (0 logs none)");
  }
  if (spec.log_max_rows < 1) return report("inference_log.max_rows", "must be at least 1");
  if (spec.rollout.has_value()) {
    CAIRN_RETURN_IF_ERROR(CheckRollout(
        *spec.rollout, /*require_target=*/true,
        [&](std::string_view path, std::string_view what) {
          return report(absl::StrCat("rollout.", ToAbsl(path)), what);
        }));
    const RolloutSpec& r = *spec.rollout;
    if (spec.version != 0 && r.version == spec.version) {
      return report("rollout.version",
                    absl::StrCat("is the version the endpoint serves (model: ", spec.model, "/",
                                 spec.version, "): the challenger must be another version"));
    }
    if (!spec.alias.empty() && r.alias == spec.alias) {
      return report("rollout.alias",
                    absl::StrCat("is the alias the endpoint follows (", spec.alias,
                                 "): name the challenger by another alias or by version"));
    }
    if (spec.version != 0 && r.on_pass == "promote") {
      return report("rollout.on_pass",
                    absl::StrCat("promote moves the alias the endpoint follows, but the "
                                 "endpoint is pinned to ",
                                 spec.model, "/", spec.version,
                                 ": bind it to an alias (model: ", spec.model,
                                 "@production) or set on_pass: none"));
    }
  }
  return absl::OkStatus();
}

// One `kind: Endpoint` document: reads fields and types into an EndpointSpec, remembering
// each field's node so that the value checks point at its line.
class DocumentParser : private YamlFieldReader {
 public:
  DocumentParser(std::string_view file, const YAML::Node& doc) : YamlFieldReader(file), doc_(doc) {}

  absl::Status Parse(EndpointSpec* spec, bool* is_endpoint) {
    *is_endpoint = false;
    const int line = YamlLine(doc_);
    if (!doc_.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", line, ": a definition must be a map with 'kind' and 'name', got ",
          YamlShown(doc_)));
    }
    YAML::Node kind_node = doc_["kind"];
    if (!YamlPresent(kind_node)) {
      return absl::InvalidArgumentError(absl::StrCat(
          file(), ":", line,
          ": missing field 'kind': add kind: Endpoint (or Entity, Source, FeatureView, "
          "FeatureService, Pipeline, Monitor, Policy)"));
    }
    set_label("definition");
    if (!kind_node.IsScalar()) return FieldError(kind_node, "kind", "must be a string");
    const std::string kind = kind_node.Scalar();
    if (OneOf(kind, kOtherKinds)) return absl::OkStatus();
    if (kind != "Endpoint") {
      std::vector<std::string_view> kinds = kOtherKinds;
      kinds.insert(kinds.begin(), "Endpoint");
      return FieldError(kind_node, "kind", NotOneOf("a kind", kind, kinds));
    }
    *is_endpoint = true;
    set_label("endpoint");
    YAML::Node name_node = doc_["name"];
    if (YamlPresent(name_node) && name_node.IsScalar()) {
      set_label(absl::StrCat("endpoint ", name_node.Scalar()));
    }
    spec->file = std::string(file());
    spec->line = line;
    CAIRN_RETURN_IF_ERROR(ParseFields(spec));
    return CheckEndpoint(*spec, [&](std::string_view path, std::string_view what) {
      return PathError(path, what);
    });
  }

 private:
  // A value check on `path`: at its node when the document has it, else at the nearest
  // enclosing node that it has (a default that conflicts with another field).
  absl::Status PathError(std::string_view path, std::string_view what) {
    std::string at(path);
    while (true) {
      auto it = nodes_.find(at);
      if (it != nodes_.end()) {
        if (at == path) return FieldError(it->second, path, what);
        return ObjectError(YamlLine(it->second),
                           absl::StrCat("field '", ToAbsl(path), "' ", ToAbsl(what)));
      }
      size_t dot = at.rfind('.');
      if (dot == std::string::npos) break;
      at.resize(dot);
    }
    return ObjectError(YamlLine(doc_), absl::StrCat("field '", ToAbsl(path), "' ", ToAbsl(what)));
  }

  void Remember(std::string_view path, const YAML::Node& node) {
    if (YamlPresent(node)) nodes_[std::string(path)] = node;
  }

  // The base readers, remembering the node of `path` first.
  absl::StatusOr<std::string> String(const YAML::Node& map, std::string_view field,
                                     std::string_view path) {
    Remember(path, map[std::string(field)]);
    return YamlFieldReader::String(map, field, path, /*required=*/false);
  }

  absl::StatusOr<int64_t> Integer(const YAML::Node& node, std::string_view path,
                                  int64_t fallback) {
    Remember(path, node);
    return YamlFieldReader::Integer(node, path, fallback);
  }

  absl::StatusOr<double> Number(const YAML::Node& node, std::string_view path, double fallback) {
    Remember(path, node);
    return YamlFieldReader::Number(node, path, fallback);
  }

  absl::Status ParseFields(EndpointSpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(doc_, kEndpointFields, ""));
    YAML::Node name = doc_["name"];
    if (!YamlPresent(name)) {
      return ObjectError(spec->line, "missing field 'name': give the endpoint a name (it is "
                                     "the NAME of /api/v1/endpoints/NAME/predict)");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->name, String(doc_, "name", "name"));
    CAIRN_ASSIGN_OR_RETURN(spec->description, String(doc_, "description", "description"));
    CAIRN_ASSIGN_OR_RETURN(spec->owner, String(doc_, "owner", "owner"));
    CAIRN_ASSIGN_OR_RETURN(spec->tags, StringMap(doc_["tags"], "tags", "{team: growth}"));

    YAML::Node model = doc_["model"];
    if (!YamlPresent(model)) {
      return ObjectError(spec->line,
                         "missing field 'model': bind the endpoint to a registered model, like "
                         "model: churn@production (follows the alias) or model: churn/3 "
                         "(pinned)");
    }
    CAIRN_ASSIGN_OR_RETURN(std::string text, String(doc_, "model", "model"));
    ModelRef ref;
    std::string problem = ModelRefProblem(text, &ref);
    if (!problem.empty()) return FieldError(model, "model", problem);
    spec->model = std::move(ref.model);
    spec->alias = std::move(ref.alias);
    spec->version = ref.version;

    CAIRN_ASSIGN_OR_RETURN(spec->feature_service,
                           String(doc_, "feature_service", "feature_service"));
    if (YamlPresent(doc_["runtime"])) {
      CAIRN_ASSIGN_OR_RETURN(spec->runtime, String(doc_, "runtime", "runtime"));
    }
    YAML::Node replicas = doc_["replicas"];
    Remember("replicas", replicas);
    if (YamlPresent(replicas)) {
      if (replicas.IsScalar()) {  // replicas: 2 → min = max = 2
        CAIRN_ASSIGN_OR_RETURN(int64_t n, Integer(replicas, "replicas", 1));
        if (n < 1 || n > kMaxReplicas) {
          return FieldError(replicas, "replicas",
                            absl::StrCat("must be in 1..", kMaxReplicas,
                                         " (or a map like {min: 1, max: 4})"));
        }
        spec->min_replicas = spec->max_replicas = static_cast<int>(n);
      } else {
        CAIRN_RETURN_IF_ERROR(RequireMap(replicas, "replicas", "{min: 1, max: 4}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(replicas, kReplicasFields, "replicas."));
        CAIRN_ASSIGN_OR_RETURN(int64_t max, Integer(replicas["max"], "replicas.max", -1));
        CAIRN_ASSIGN_OR_RETURN(int64_t min, Integer(replicas["min"], "replicas.min", 1));
        if (max == -1) max = std::max<int64_t>(min, 1);
        if (max < 0 || max > kMaxReplicas) {
          return FieldError(replicas["max"], "replicas.max",
                            absl::StrCat("must be in 1..", kMaxReplicas));
        }
        if (min < 0 || min > kMaxReplicas) {
          return FieldError(replicas["min"], "replicas.min",
                            absl::StrCat("must be in 0..", kMaxReplicas));
        }
        spec->min_replicas = static_cast<int>(min);
        spec->max_replicas = static_cast<int>(max);
      }
    }
    CAIRN_ASSIGN_OR_RETURN(int64_t queue, Integer(doc_["max_queue"], "max_queue", 32));
    if (queue < 1 || queue > kMaxQueue) {
      return FieldError(doc_["max_queue"], "max_queue",
                        absl::StrCat("must be in 1..", kMaxQueue,
                                     ": the requests waiting per replica before 429"));
    }
    spec->max_queue = static_cast<int>(queue);

    YAML::Node timeout = doc_["timeout"];
    Remember("timeout", timeout);
    if (YamlPresent(timeout)) {
      absl::StatusOr<int64_t> ms =
          timeout.IsScalar() ? ParseDuration(timeout.Scalar()) : absl::InvalidArgumentError("");
      if (!ms.ok() || *ms < 1 || *ms > kMaxTimeoutMs) {
        return FieldError(timeout, "timeout",
                          "is not a duration from 1ms to 1h: write an integer and a unit (ms, "
                          "s, m, h), like 30s");
      }
      spec->timeout_ms = *ms;
    }

    YAML::Node log = doc_["inference_log"];
    Remember("inference_log", log);
    if (YamlPresent(log)) {
      if (log.IsScalar() && (log.Scalar() == "false" || log.Scalar() == "off")) {
        spec->log_sample = 0;  // inference_log: false
      } else {
        CAIRN_RETURN_IF_ERROR(
            RequireMap(log, "inference_log", "{sample: 0.1, max_rows: 1000000} (or false)"));
        CAIRN_RETURN_IF_ERROR(CheckFields(log, kLogFields, "inference_log."));
        CAIRN_ASSIGN_OR_RETURN(spec->log_sample,
                               Number(log["sample"], "inference_log.sample", 1.0));
        CAIRN_ASSIGN_OR_RETURN(spec->log_max_rows,
                               Integer(log["max_rows"], "inference_log.max_rows", 1'000'000));
      }
    }
    return ParseRollout(spec);
  }

  absl::Status ParseRollout(EndpointSpec* spec) {
    YAML::Node node = doc_["rollout"];
    Remember("rollout", node);
    if (!YamlPresent(node)) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(
        RequireMap(node, "rollout", "{mode: canary, version: 4, percent: 10}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(node, kRolloutFields, "rollout."));
    RolloutSpec r;
    if (YamlPresent(node["mode"])) {
      CAIRN_ASSIGN_OR_RETURN(r.mode, String(node, "mode", "rollout.mode"));
    }
    CAIRN_ASSIGN_OR_RETURN(r.version, Integer(node["version"], "rollout.version", 0));
    if (YamlPresent(node["version"]) && r.version < 1) {
      return FieldError(node["version"], "rollout.version", "must be a version number (1 or more)");
    }
    CAIRN_ASSIGN_OR_RETURN(r.alias, String(node, "alias", "rollout.alias"));
    YAML::Node percent = node["percent"];
    if (YamlPresent(percent) && percent.IsScalar() && !percent.Scalar().empty() &&
        percent.Scalar().back() == '%') {  // percent: 10%
      Remember("rollout.percent", percent);
      std::string text = percent.Scalar();
      text.pop_back();
      if (!absl::SimpleAtod(text, &r.percent) || !std::isfinite(r.percent)) {
        return FieldError(percent, "rollout.percent", "must be a number, like 10");
      }
    } else {
      CAIRN_ASSIGN_OR_RETURN(r.percent, Number(percent, "rollout.percent", 10));
    }
    YAML::Node guard = node["guard"];
    Remember("rollout.guard", guard);
    if (YamlPresent(guard)) {
      CAIRN_RETURN_IF_ERROR(RequireMap(guard, "rollout.guard",
                                       "{window: 10m, min_requests: 200, "
                                       "max_p99_latency_ratio: 1.5}"));
      CAIRN_RETURN_IF_ERROR(CheckFields(guard, kGuardFields, "rollout.guard."));
      GuardSpec& g = r.guard;
      YAML::Node window = guard["window"];
      Remember("rollout.guard.window", window);
      if (YamlPresent(window)) {
        absl::StatusOr<int64_t> ms =
            window.IsScalar() ? ParseDuration(window.Scalar()) : absl::InvalidArgumentError("");
        if (!ms.ok() || *ms <= 0) {
          return FieldError(window, "rollout.guard.window",
                            "is not a positive duration: write an integer and a unit (ms, s, "
                            "m, h, d), like 10m");
        }
        g.window_ms = *ms;
      }
      CAIRN_ASSIGN_OR_RETURN(g.min_requests, Integer(guard["min_requests"],
                                                     "rollout.guard.min_requests", 100));
      CAIRN_ASSIGN_OR_RETURN(g.max_error_rate_increase,
                             Number(guard["max_error_rate_increase"],
                                    "rollout.guard.max_error_rate_increase", 0.01));
      CAIRN_ASSIGN_OR_RETURN(g.max_p99_latency_ratio,
                             Number(guard["max_p99_latency_ratio"],
                                    "rollout.guard.max_p99_latency_ratio", 2.0));
      if (YamlPresent(guard["max_prediction_drift"])) {
        CAIRN_ASSIGN_OR_RETURN(double drift, Number(guard["max_prediction_drift"],
                                                    "rollout.guard.max_prediction_drift", 0));
        g.max_prediction_drift = drift;
      }
      if (YamlPresent(guard["drift_test"])) {
        CAIRN_ASSIGN_OR_RETURN(g.drift_test,
                               String(guard, "drift_test", "rollout.guard.drift_test"));
      }
    }
    if (YamlPresent(node["on_pass"])) {
      CAIRN_ASSIGN_OR_RETURN(r.on_pass, String(node, "on_pass", "rollout.on_pass"));
    }
    if (YamlPresent(node["on_fail"])) {
      CAIRN_ASSIGN_OR_RETURN(r.on_fail, String(node, "on_fail", "rollout.on_fail"));
    }
    spec->rollout = std::move(r);
    return absl::OkStatus();
  }

  const YAML::Node& doc_;
  std::map<std::string, YAML::Node> nodes_;  // field path → its node (for line numbers)
};

}  // namespace

bool IsValidEndpointName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<ModelRef> ParseModelRef(std::string_view text) {
  ModelRef ref;
  std::string problem = ModelRefProblem(text, &ref);
  if (problem.empty()) return ref;
  return absl::InvalidArgumentError(absl::StrCat("model reference '", ToAbsl(text).substr(0, 200),
                                                 "' ", problem));
}

std::string FormatModelRef(std::string_view model, std::string_view alias, int64_t version) {
  if (!alias.empty()) return absl::StrCat(ToAbsl(model), "@", ToAbsl(alias));
  return absl::StrCat(ToAbsl(model), "/", version);
}

absl::Status ValidateRolloutSpec(const RolloutSpec& rollout, bool require_target,
                                 std::string_view field_prefix) {
  return CheckRollout(rollout, require_target,
                      [&](std::string_view path, std::string_view what) {
                        return absl::InvalidArgumentError(absl::StrCat(
                            "field '", ToAbsl(field_prefix), field_prefix.empty() ? "" : ".",
                            ToAbsl(path), "' ", ToAbsl(what)));
                      });
}

absl::Status ValidateEndpointSpec(const EndpointSpec& spec) {
  const std::string label =
      spec.name.empty() ? std::string("endpoint") : absl::StrCat("endpoint ", spec.name);
  return CheckEndpoint(spec, [&](std::string_view path, std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": field '", ToAbsl(path), "' ", ToAbsl(what)));
  });
}

absl::StatusOr<std::vector<EndpointSpec>> ParseEndpointsYaml(std::string_view text,
                                                             std::string_view file) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadYamlDocuments(text, file));
  std::vector<EndpointSpec> out;
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    EndpointSpec spec;
    bool is_endpoint = false;
    try {
      DocumentParser parser(file, doc);
      CAIRN_RETURN_IF_ERROR(parser.Parse(&spec, &is_endpoint));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", e.mark.line + 1, ": invalid endpoint: ", e.msg));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", YamlLine(doc), ": invalid endpoint: ", e.what()));
    }
    if (!is_endpoint) continue;
    for (const EndpointSpec& earlier : out) {
      if (earlier.name == spec.name) {
        return absl::InvalidArgumentError(absl::StrCat(
            spec.file, ":", spec.line, ": endpoint ", spec.name, ": defined twice (also at ",
            earlier.file, ":", earlier.line, "): keep one"));
      }
    }
    out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<std::vector<EndpointSpec>> ParseEndpointFiles(
    const std::vector<features::DefinitionFile>& files) {
  std::vector<EndpointSpec> out;
  for (const features::DefinitionFile& file : files) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<EndpointSpec> specs,
                           ParseEndpointsYaml(file.content, file.path));
    for (EndpointSpec& spec : specs) {
      for (const EndpointSpec& earlier : out) {
        if (earlier.name == spec.name) {
          return absl::InvalidArgumentError(absl::StrCat(
              spec.file, ":", spec.line, ": endpoint ", spec.name, ": defined twice (also at ",
              earlier.file, ":", earlier.line, "): keep one"));
        }
      }
      out.push_back(std::move(spec));
    }
  }
  return out;
}

}  // namespace cairn::serving
