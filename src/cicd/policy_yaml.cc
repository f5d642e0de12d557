#include "cicd/policy_yaml.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>

#include "absl/strings/ascii.h"
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

namespace cairn::cicd {
namespace {

constexpr size_t kMaxNameLength = 255;

bool Contains(const std::vector<std::string_view>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const std::vector<std::string_view> kPolicyFields = {
    "kind",  "name",         "description", "owner",      "tags",
    "model", "target_alias", "mode",        "evaluation", "gates",
    "rollout"};
const std::vector<std::string_view> kEvaluationFields = {"data", "label", "slices", "threshold"};
const std::vector<std::string_view> kDataFields = {"path"};
const std::vector<std::string_view> kGateFields = {
    "metric",      "run_metric",          "check",
    "min",         "max",                 "min_absolute_change",
    "min_relative_change", "greater_is_better", "per_slice",
    "feature_service"};
const std::vector<std::string_view> kGateKinds = {"metric", "run_metric", "check"};
const std::vector<std::string_view> kRolloutFields = {"mode",    "percent", "guard",
                                                      "on_pass", "on_fail", "version",
                                                      "alias"};
const std::vector<std::string_view> kGuardFields = {
    "window", "min_requests", "max_error_rate_increase", "max_p99_latency_ratio",
    "max_prediction_drift", "drift_test"};
const std::vector<std::string_view> kModes = {"auto", "manual"};
const std::vector<std::string_view> kRolloutModes = {"canary", "shadow"};
const std::vector<std::string_view> kOnPass = {"promote", "none"};
const std::vector<std::string_view> kOnFail = {"rollback", "none"};
const std::vector<std::string_view> kOtherKinds = {
    "Entity", "Source", "FeatureView", "FeatureService", "Pipeline", "Monitor", "Endpoint"};

std::vector<std::string_view> TestNames() {
  std::vector<std::string_view> names;
  for (const monitoring::stats::StatTestInfo& info : monitoring::stats::StatTests()) {
    names.push_back(info.name);
  }
  return names;
}

bool IsAliasName(std::string_view alias) {
  if (alias.empty() || alias.size() > kMaxNameLength) return false;
  if (absl::AsciiStrToLower(ToAbsl(alias)) == "latest") return false;
  for (char c : alias) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

class DocumentParser : private YamlFieldReader {
 public:
  DocumentParser(std::string_view file, const YAML::Node& doc) : YamlFieldReader(file), doc_(doc) {}

  absl::Status Parse(PolicySpec* spec, bool* is_policy) {
    *is_policy = false;
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
                       ": missing field 'kind': add kind: Policy (or Entity, Source, FeatureView, "
                       "FeatureService, Pipeline, Monitor, Endpoint)"));
    }
    set_label("definition");
    if (!kind_node.IsScalar()) return FieldError(kind_node, "kind", "must be a string");
    const std::string kind = kind_node.Scalar();
    if (Contains(kOtherKinds, kind)) return absl::OkStatus();
    if (kind != "Policy") {
      std::vector<std::string_view> kinds = kOtherKinds;
      kinds.insert(kinds.begin(), "Policy");
      return FieldError(
          kind_node, "kind",
          absl::StrCat("is not a kind (", JoinNames(kinds), ")", DidYouMean(kind, kinds)));
    }
    *is_policy = true;
    set_label("policy");
    YAML::Node name_node = doc_["name"];
    if (YamlPresent(name_node) && name_node.IsScalar()) {
      set_label(absl::StrCat("policy ", name_node.Scalar()));
    }
    spec->file = std::string(file());
    spec->line = line;
    return ParsePolicy(spec);
  }

 private:
  // A string that must be one of `choices`.
  absl::StatusOr<std::string> Choice(const YAML::Node& map, std::string_view field,
                                     std::string_view path,
                                     const std::vector<std::string_view>& choices,
                                     std::string_view fallback) {
    CAIRN_ASSIGN_OR_RETURN(std::string value, String(map, field, path, false, fallback));
    if (Contains(choices, value)) return value;
    return FieldError(
        map[std::string(field)], path,
        absl::StrCat("is not one of ", JoinNames(choices), DidYouMean(value, choices)));
  }

  absl::StatusOr<std::optional<double>> OptionalNumber(const YAML::Node& map,
                                                       std::string_view field,
                                                       std::string_view path) {
    YAML::Node node = map[std::string(field)];
    if (!YamlPresent(node)) return std::optional<double>();
    CAIRN_ASSIGN_OR_RETURN(double value, Number(node, path));
    return std::optional<double>(value);
  }

  absl::Status ParsePolicy(PolicySpec* spec) {
    CAIRN_RETURN_IF_ERROR(CheckFields(doc_, kPolicyFields, ""));
    CAIRN_ASSIGN_OR_RETURN(spec->name, String(doc_, "name", "name", /*required=*/true));
    if (!IsValidPolicyName(spec->name)) {
      return FieldError(doc_["name"], "name",
                        "is not a valid name: use letters, digits, '_', '.' and '-' (at most "
                        "255 characters)");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->description, String(doc_, "description", "description", false));
    CAIRN_ASSIGN_OR_RETURN(spec->owner, String(doc_, "owner", "owner", false));
    CAIRN_ASSIGN_OR_RETURN(spec->tags, StringMap(doc_["tags"], "tags", "{team: growth}"));
    CAIRN_ASSIGN_OR_RETURN(spec->model, String(doc_, "model", "model", true));
    if (spec->model.empty() || spec->model.find_first_of("@/") != std::string::npos) {
      return FieldError(doc_["model"], "model",
                        "must be the name of a registered model, like churn (no @alias or "
                        "/version: a policy governs every version of the model)");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->target_alias,
                           String(doc_, "target_alias", "target_alias", false, "production"));
    if (!IsAliasName(spec->target_alias)) {
      return FieldError(doc_["target_alias"], "target_alias",
                        "is not an alias name: use letters, digits, '_' and '-' ('latest' is "
                        "reserved), like production or champion");
    }
    CAIRN_ASSIGN_OR_RETURN(spec->mode, Choice(doc_, "mode", "mode", kModes, "auto"));
    CAIRN_RETURN_IF_ERROR(ParseEvaluation(spec));
    CAIRN_RETURN_IF_ERROR(ParseGates(spec));
    return ParseRollout(spec);
  }

  absl::Status ParseEvaluation(PolicySpec* spec) {
    // Kept as a line, not a node: assigning a missing node to a YAML::Node throws.
    const YAML::Node evaluation = doc_["evaluation"];
    if (!YamlPresent(evaluation)) return absl::OkStatus();
    evaluation_line_ = YamlLine(evaluation);
    CAIRN_RETURN_IF_ERROR(RequireMap(evaluation, "evaluation",
                                     "{data: {path: eval/churn.csv}, label: churned}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(evaluation, kEvaluationFields, "evaluation."));
    EvaluationDataSpec& out = spec->evaluation;
    YAML::Node data = evaluation["data"];
    if (YamlPresent(data)) {
      if (data.IsScalar()) {  // data: eval/churn.csv
        out.path = data.Scalar();
      } else {
        CAIRN_RETURN_IF_ERROR(RequireMap(data, "evaluation.data", "{path: eval/churn.csv}"));
        CAIRN_RETURN_IF_ERROR(CheckFields(data, kDataFields, "evaluation.data."));
        CAIRN_ASSIGN_OR_RETURN(out.path, String(data, "path", "evaluation.data.path", true));
      }
      if (out.path.empty()) {
        return FieldError(data, "evaluation.data.path",
                          "must name a CSV file on the server, like eval/churn.csv");
      }
    }
    CAIRN_ASSIGN_OR_RETURN(out.label, String(evaluation, "label", "evaluation.label", false));
    CAIRN_ASSIGN_OR_RETURN(out.slices, StringList(evaluation["slices"], "evaluation.slices",
                                                  "[plan]", ListItems::kDistinctNames));
    if (!out.label.empty() &&
        std::find(out.slices.begin(), out.slices.end(), out.label) != out.slices.end()) {
      return FieldError(evaluation["slices"], "evaluation.slices",
                        absl::StrCat("lists the label column '", out.label,
                                     "': slice by input columns only"));
    }
    YAML::Node threshold = evaluation["threshold"];
    if (YamlPresent(threshold)) {
      CAIRN_ASSIGN_OR_RETURN(out.threshold, Number(threshold, "evaluation.threshold"));
      if (out.threshold <= 0 || out.threshold >= 1) {
        return FieldError(threshold, "evaluation.threshold",
                          "must be between 0 and 1 (exclusive): the predicted probability at "
                          "or above which a row counts as positive, like 0.5");
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseGates(PolicySpec* spec) {
    YAML::Node gates = doc_["gates"];
    if (!YamlPresent(gates)) {
      return ObjectError(spec->line,
                         "missing field 'gates': add at least one gate, like gates: [{metric: "
                         "auc, min: 0.7}]");
    }
    if (!gates.IsSequence() || gates.size() == 0) {
      return FieldError(gates, "gates",
                        "must be a non-empty list, like [{metric: auc, min: 0.7}, {check: "
                        "loads}]");
    }
    bool needs_label = false, needs_data = false;
    size_t data_gate = 0;
    int label_gate_line = 0, data_gate_line = 0;
    for (size_t i = 0; i < gates.size(); ++i) {
      const YAML::Node node = gates[i];
      const std::string path = absl::StrCat("gates[", i, "]");
      CAIRN_ASSIGN_OR_RETURN(GateSpec gate, ParseGate(node, path, *spec));
      for (size_t j = 0; j < spec->gates.size(); ++j) {
        if (spec->gates[j] == gate) {
          return FieldError(node, path,
                            absl::StrCat("is the same gate as gates[", j, "]: keep one"));
        }
      }
      if (gate.kind == "metric" && !needs_label) {
        needs_label = true;
        label_gate_line = YamlLine(node);
      }
      if ((gate.kind == "metric" || gate.name == "latency_p99_ms") && !needs_data) {
        needs_data = true;
        data_gate = spec->gates.size();
        data_gate_line = YamlLine(node);
      }
      spec->gates.push_back(std::move(gate));
    }
    if (needs_data && spec->evaluation.path.empty()) {
      return ObjectError(
          data_gate_line,
          absl::StrCat("gate '", GateText(spec->gates[data_gate], spec->target_alias),
                       "' (gates[", data_gate,
                       "]) needs evaluation data: add evaluation: {data: {path: FILE.csv}, "
                       "label: COLUMN}"));
    }
    if (needs_label && spec->evaluation.label.empty()) {
      return ObjectError(evaluation_line_ > 0 ? evaluation_line_ : label_gate_line,
                         "missing field 'evaluation.label': metric gates compare predictions "
                         "with the ground-truth column; add label: COLUMN");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<GateSpec> ParseGate(const YAML::Node& node, const std::string& path,
                                     const PolicySpec& spec) {
    CAIRN_RETURN_IF_ERROR(
        RequireMap(node, path, "{metric: auc, min: 0.7} or {check: latency_p99_ms, max: 5}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(node, kGateFields, path + "."));
    GateSpec gate;
    int kinds = 0;
    for (std::string_view kind : kGateKinds) {
      if (!YamlPresent(node[std::string(kind)])) continue;
      ++kinds;
      if (kinds > 1) {
        return FieldError(node[std::string(kind)], absl::StrCat(path, ".", ToAbsl(kind)),
                          absl::StrCat("conflicts with '", path, ".", gate.kind,
                                       "': a gate tests one metric or check; write two gates"));
      }
      gate.kind = std::string(kind);
    }
    if (kinds == 0) {
      return ObjectError(YamlLine(node),
                         absl::StrCat("field '", path,
                                      "' needs metric: NAME, run_metric: NAME or check: NAME"));
    }
    const std::string kind_path = absl::StrCat(path, ".", gate.kind);
    const YAML::Node name_node = node[gate.kind];
    CAIRN_ASSIGN_OR_RETURN(gate.name, String(node, gate.kind, kind_path, true));
    if (gate.kind == "metric" && !Contains(PolicyMetricNames(), gate.name)) {
      return FieldError(name_node, kind_path,
                        absl::StrCat("is not a metric (", JoinNames(PolicyMetricNames()),
                                     "); for a metric logged on the training run write "
                                     "run_metric: NAME",
                                     DidYouMean(gate.name, PolicyMetricNames())));
    }
    if (gate.kind == "check" && !Contains(PolicyCheckNames(), gate.name)) {
      return FieldError(name_node, kind_path,
                        absl::StrCat("is not a check (", JoinNames(PolicyCheckNames()), ")",
                                     DidYouMean(gate.name, PolicyCheckNames())));
    }
    if (gate.name.empty()) return FieldError(name_node, kind_path, "must not be empty");

    CAIRN_ASSIGN_OR_RETURN(gate.min, OptionalNumber(node, "min", path + ".min"));
    CAIRN_ASSIGN_OR_RETURN(gate.max, OptionalNumber(node, "max", path + ".max"));
    CAIRN_ASSIGN_OR_RETURN(gate.min_absolute_change, OptionalNumber(node, "min_absolute_change",
                                                                    path + ".min_absolute_change"));
    CAIRN_ASSIGN_OR_RETURN(gate.min_relative_change, OptionalNumber(node, "min_relative_change",
                                                                    path + ".min_relative_change"));
    if (YamlPresent(node["greater_is_better"])) {
      CAIRN_ASSIGN_OR_RETURN(bool value,
                             Bool(node["greater_is_better"], path + ".greater_is_better", false));
      gate.greater_is_better = value;
    }
    if (YamlPresent(node["per_slice"])) {
      CAIRN_ASSIGN_OR_RETURN(gate.per_slice, Bool(node["per_slice"], path + ".per_slice", false));
    }
    if (YamlPresent(node["feature_service"])) {
      CAIRN_ASSIGN_OR_RETURN(gate.feature_service,
                             String(node, "feature_service", path + ".feature_service", false));
    }
    if (gate.min.has_value() && gate.max.has_value() && *gate.min > *gate.max) {
      return FieldError(node["max"], path + ".max",
                        absl::StrCat("is below min (", *gate.min, "): no value could pass"));
    }
    const bool bounds = gate.min.has_value() || gate.max.has_value();
    const bool changes =
        gate.min_absolute_change.has_value() || gate.min_relative_change.has_value();

    if (gate.kind == "check") {
      for (const char* field : {"min_absolute_change", "min_relative_change",
                                "greater_is_better", "per_slice"}) {
        if (YamlPresent(node[field])) {
          return FieldError(node[field], absl::StrCat(path, ".", field),
                            absl::StrCat("applies to metric gates, not to check ", gate.name));
        }
      }
      if (gate.name != "features_online" && YamlPresent(node["feature_service"])) {
        return FieldError(node["feature_service"], path + ".feature_service",
                          "applies to check features_online only");
      }
      if (gate.name == "loads" || gate.name == "features_online") {
        for (const char* field : {"min", "max"}) {
          if (YamlPresent(node[field])) {
            return FieldError(node[field], absl::StrCat(path, ".", field),
                              absl::StrCat("does not apply: check ", gate.name,
                                           " passes or fails, it has no value to bound"));
          }
        }
      } else {  // latency_p99_ms, size_mb
        if (YamlPresent(node["min"])) {
          return FieldError(node["min"], path + ".min",
                            absl::StrCat("does not apply to check ", gate.name,
                                         ": give its upper bound as max"));
        }
        if (!gate.max.has_value()) {
          return ObjectError(YamlLine(node),
                             absl::StrCat("field '", path, "' (check ", gate.name,
                                          ") needs max: the upper bound, like max: ",
                                          gate.name == "size_mb" ? "100" : "5"));
        }
        if (*gate.max <= 0) {
          return FieldError(node["max"], path + ".max", "must be greater than 0");
        }
      }
      if (gate.name == "features_online") {
        if (gate.feature_service.empty()) {
          return ObjectError(YamlLine(node),
                             absl::StrCat("field '", path,
                                          "' (check features_online) needs feature_service: "
                                          "NAME, the feature service that must serve the "
                                          "model's inputs online"));
        }
      }
      return gate;
    }

    if (YamlPresent(node["feature_service"])) {
      return FieldError(node["feature_service"], path + ".feature_service",
                        "applies to check features_online only");
    }
    if (!bounds && !changes) {
      return ObjectError(
          YamlLine(node),
          absl::StrCat("field '", path, "' (", gate.kind, " ", gate.name,
                       ") tests nothing: give min and/or max (absolute bounds), or "
                       "min_absolute_change / min_relative_change (against ",
                       spec.target_alias, ")"));
    }
    if (gate.per_slice) {
      if (gate.kind != "metric") {
        return FieldError(node["per_slice"], path + ".per_slice",
                          "applies to metric gates only (run metrics have no slices)");
      }
      if (spec.evaluation.slices.empty()) {
        return FieldError(node["per_slice"], path + ".per_slice",
                          "needs slices: add evaluation.slices: [COLUMN, …]");
      }
    }
    return gate;
  }

  absl::Status ParseRollout(PolicySpec* spec) {
    YAML::Node rollout = doc_["rollout"];
    if (!YamlPresent(rollout)) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(RequireMap(
        rollout, "rollout", "{mode: canary, percent: 20, guard: {window: 10m, min_requests: 200}}"));
    CAIRN_RETURN_IF_ERROR(CheckFields(rollout, kRolloutFields, "rollout."));
    for (const char* field : {"version", "alias"}) {
      if (YamlPresent(rollout[field])) {
        return FieldError(rollout[field], absl::StrCat("rollout.", field),
                          "does not apply: the challenger of a policy's rollout is the "
                          "candidate version being promoted; remove it");
      }
    }
    serving::RolloutSpec out;
    CAIRN_ASSIGN_OR_RETURN(out.mode, Choice(rollout, "mode", "rollout.mode", kRolloutModes,
                                            "canary"));
    YAML::Node percent = rollout["percent"];
    if (YamlPresent(percent)) {
      CAIRN_ASSIGN_OR_RETURN(out.percent, Number(percent, "rollout.percent"));
      if (out.percent <= 0 || out.percent > 100) {
        return FieldError(percent, "rollout.percent",
                          "must be in (0, 100]: the share of requests the candidate answers "
                          "(canary) or sees (shadow)");
      }
    }
    CAIRN_ASSIGN_OR_RETURN(out.on_pass,
                           Choice(rollout, "on_pass", "rollout.on_pass", kOnPass, "promote"));
    CAIRN_ASSIGN_OR_RETURN(out.on_fail,
                           Choice(rollout, "on_fail", "rollout.on_fail", kOnFail, "rollback"));
    YAML::Node guard = rollout["guard"];
    if (YamlPresent(guard)) {
      CAIRN_RETURN_IF_ERROR(
          RequireMap(guard, "rollout.guard", "{window: 10m, min_requests: 200}"));
      CAIRN_RETURN_IF_ERROR(CheckFields(guard, kGuardFields, "rollout.guard."));
      serving::GuardSpec& g = out.guard;
      YAML::Node window = guard["window"];
      if (YamlPresent(window)) {
        absl::StatusOr<int64_t> ms = window.IsScalar() ? ParseDuration(window.Scalar())
                                                       : absl::InvalidArgumentError("");
        if (!ms.ok() || *ms <= 0) {
          return FieldError(window, "rollout.guard.window",
                            "is not a positive duration: write an integer and a unit (ms, s, "
                            "m, h, d), like 10m");
        }
        g.window_ms = *ms;
      }
      YAML::Node min_requests = guard["min_requests"];
      if (YamlPresent(min_requests)) {
        int64_t value = 0;
        if (!min_requests.IsScalar() || !absl::SimpleAtoi(min_requests.Scalar(), &value) ||
            value < 1) {
          return FieldError(min_requests, "rollout.guard.min_requests",
                            "must be a whole number of at least 1");
        }
        g.min_requests = value;
      }
      CAIRN_ASSIGN_OR_RETURN(std::optional<double> error_rate,
                             OptionalNumber(guard, "max_error_rate_increase",
                                            "rollout.guard.max_error_rate_increase"));
      if (error_rate.has_value()) {
        if (*error_rate < 0 || *error_rate > 1) {
          return FieldError(guard["max_error_rate_increase"],
                            "rollout.guard.max_error_rate_increase",
                            "must be between 0 and 1 (a difference of error rates, like 0.01)");
        }
        g.max_error_rate_increase = *error_rate;
      }
      CAIRN_ASSIGN_OR_RETURN(std::optional<double> ratio,
                             OptionalNumber(guard, "max_p99_latency_ratio",
                                            "rollout.guard.max_p99_latency_ratio"));
      if (ratio.has_value()) {
        if (*ratio <= 0) {
          return FieldError(guard["max_p99_latency_ratio"], "rollout.guard.max_p99_latency_ratio",
                            "must be greater than 0 (challenger p99 / champion p99, like 1.5)");
        }
        g.max_p99_latency_ratio = *ratio;
      }
      CAIRN_ASSIGN_OR_RETURN(g.max_prediction_drift,
                             OptionalNumber(guard, "max_prediction_drift",
                                            "rollout.guard.max_prediction_drift"));
      if (g.max_prediction_drift.has_value() && *g.max_prediction_drift < 0) {
        return FieldError(guard["max_prediction_drift"], "rollout.guard.max_prediction_drift",
                          "must not be negative");
      }
      YAML::Node drift_test = guard["drift_test"];
      if (YamlPresent(drift_test)) {
        const std::vector<std::string_view> names = TestNames();
        if (!drift_test.IsScalar() ||
            monitoring::stats::FindStatTest(drift_test.Scalar()) == nullptr) {
          return FieldError(
              drift_test, "rollout.guard.drift_test",
              absl::StrCat("is not a drift test (", JoinNames(names), ")",
                           drift_test.IsScalar() ? DidYouMean(drift_test.Scalar(), names) : ""));
        }
        g.drift_test = drift_test.Scalar();
      }
    }
    spec->rollout = std::move(out);
    return absl::OkStatus();
  }

  const YAML::Node& doc_;
  int evaluation_line_ = 0;
};

// "0.7", "-0.005", "1e-06" — shortest text that reads back the same.
std::string Num(double value) {
  std::string text = absl::StrCat(value);
  return text;
}

// Which known metric a run metric's name is about: "val_auc" → auc, "train-logloss" →
// logloss; "" when none.
std::string_view KnownMetricSuffix(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(ToAbsl(name));
  std::string_view best;
  for (std::string_view metric : PolicyMetricNames()) {
    if (lower.size() < metric.size()) continue;
    if (std::string_view(lower).substr(lower.size() - metric.size()) != metric) continue;
    const size_t at = lower.size() - metric.size();
    if (at > 0 && std::isalnum(static_cast<unsigned char>(lower[at - 1]))) continue;
    if (metric.size() > best.size()) best = metric;
  }
  return best;
}

}  // namespace

bool IsValidPolicyName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

const std::vector<std::string_view>& PolicyMetricNames() {
  static const auto* names = new std::vector<std::string_view>{
      "auc", "logloss", "accuracy", "precision", "recall", "f1", "brier", "rmse", "mae", "r2"};
  return *names;
}

const std::vector<std::string_view>& PolicyCheckNames() {
  static const auto* names = new std::vector<std::string_view>{
      "loads", "latency_p99_ms", "size_mb", "features_online"};
  return *names;
}

bool GreaterIsBetter(const GateSpec& gate) {
  if (gate.greater_is_better.has_value()) return *gate.greater_is_better;
  if (gate.kind == "check") return false;
  auto by_metric = [](std::string_view metric) {
    return !(metric == "logloss" || metric == "brier" || metric == "rmse" || metric == "mae");
  };
  if (gate.kind == "metric") return by_metric(gate.name);
  std::string_view known = KnownMetricSuffix(gate.name);
  if (!known.empty()) return by_metric(known);
  const std::string lower = absl::AsciiStrToLower(ToAbsl(gate.name));
  for (std::string_view worse : {"loss", "error", "mse", "mape"}) {
    if (lower.find(worse) != std::string::npos) return false;
  }
  return true;
}

std::string GateText(const GateSpec& gate, std::string_view target_alias) {
  if (gate.kind == "check") {
    if (gate.name == "features_online") {
      return absl::StrCat("features_online (", gate.feature_service, ")");
    }
    if (gate.max.has_value()) return absl::StrCat(gate.name, " <= ", Num(*gate.max));
    return gate.name;
  }
  const std::string subject =
      gate.kind == "run_metric" ? absl::StrCat("run ", gate.name) : gate.name;
  std::string bounds;
  if (gate.min.has_value() && gate.max.has_value()) {
    bounds = absl::StrCat(Num(*gate.min), " <= ", subject, " <= ", Num(*gate.max));
  } else if (gate.min.has_value()) {
    bounds = absl::StrCat(subject, " >= ", Num(*gate.min));
  } else if (gate.max.has_value()) {
    bounds = absl::StrCat(subject, " <= ", Num(*gate.max));
  }
  std::string changes;
  if (gate.min_absolute_change.has_value()) {
    changes = absl::StrCat("change >= ", Num(*gate.min_absolute_change));
  }
  if (gate.min_relative_change.has_value()) {
    if (!changes.empty()) changes += ", ";
    absl::StrAppend(&changes, "relative change >= ", Num(*gate.min_relative_change * 100), "%");
  }
  if (changes.empty()) return bounds;
  if (bounds.empty()) {
    return absl::StrCat(subject, " vs ", ToAbsl(target_alias), ": ", changes);
  }
  return absl::StrCat(bounds, "; vs ", ToAbsl(target_alias), ": ", changes);
}

absl::StatusOr<std::vector<PolicySpec>> ParsePoliciesYaml(std::string_view text,
                                                          std::string_view file) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<YAML::Node> docs, LoadYamlDocuments(text, file));
  std::vector<PolicySpec> out;
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    PolicySpec spec;
    bool is_policy = false;
    try {
      DocumentParser parser(file, doc);
      CAIRN_RETURN_IF_ERROR(parser.Parse(&spec, &is_policy));
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", e.mark.line + 1, ": invalid policy: ", e.msg));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file), ":", YamlLine(doc), ": invalid policy: ", e.what()));
    }
    if (is_policy) out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<std::vector<PolicySpec>> ParsePolicyFiles(
    const std::vector<features::DefinitionFile>& files) {
  std::vector<PolicySpec> out;
  for (const features::DefinitionFile& file : files) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<PolicySpec> specs,
                           ParsePoliciesYaml(file.content, file.path));
    for (PolicySpec& spec : specs) {
      for (const PolicySpec& earlier : out) {
        if (earlier.name == spec.name) {
          return absl::InvalidArgumentError(absl::StrCat(
              spec.file, ":", spec.line, ": policy ", spec.name, ": defined twice (also at ",
              earlier.file, ":", earlier.line, "): keep one"));
        }
        if (earlier.model == spec.model) {
          return absl::InvalidArgumentError(absl::StrCat(
              spec.file, ":", spec.line, ": policy ", spec.name, ": model '", spec.model,
              "' is already governed by policy ", earlier.name, " (", earlier.file, ":",
              earlier.line, "): one policy per model; merge their gates into one"));
        }
      }
      out.push_back(std::move(spec));
    }
  }
  return out;
}

}  // namespace cairn::cicd
