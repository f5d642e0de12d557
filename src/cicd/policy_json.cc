#include "cicd/policy_json.h"

#include <exception>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace cairn::cicd {
namespace {

Json Optional(const std::optional<double>& value) {
  return value.has_value() ? Json(*value) : Json(nullptr);
}

std::optional<double> ReadOptional(const Json& json, const char* field) {
  if (!json.contains(field) || json.at(field).is_null()) return std::nullopt;
  return json.at(field).get<double>();
}

Json RolloutToJson(const serving::RolloutSpec& rollout) {
  const serving::GuardSpec& g = rollout.guard;
  return Json{{"mode", rollout.mode},
              {"percent", rollout.percent},
              {"on_pass", rollout.on_pass},
              {"on_fail", rollout.on_fail},
              {"guard",
               {{"window_ms", g.window_ms},
                {"min_requests", g.min_requests},
                {"max_error_rate_increase", g.max_error_rate_increase},
                {"max_p99_latency_ratio", g.max_p99_latency_ratio},
                {"max_prediction_drift", Optional(g.max_prediction_drift)},
                {"drift_test", g.drift_test}}}};
}

serving::RolloutSpec RolloutFromJson(const Json& json) {
  serving::RolloutSpec out;
  out.mode = json.value("mode", out.mode);
  out.percent = json.value("percent", out.percent);
  out.on_pass = json.value("on_pass", out.on_pass);
  out.on_fail = json.value("on_fail", out.on_fail);
  if (json.contains("guard") && !json.at("guard").is_null()) {
    const Json& g = json.at("guard");
    serving::GuardSpec& guard = out.guard;
    guard.window_ms = g.value("window_ms", guard.window_ms);
    guard.min_requests = g.value("min_requests", guard.min_requests);
    guard.max_error_rate_increase = g.value("max_error_rate_increase",
                                            guard.max_error_rate_increase);
    guard.max_p99_latency_ratio = g.value("max_p99_latency_ratio", guard.max_p99_latency_ratio);
    guard.max_prediction_drift = ReadOptional(g, "max_prediction_drift");
    guard.drift_test = g.value("drift_test", guard.drift_test);
  }
  return out;
}

GateSpec GateFromJsonOrThrow(const Json& json) {
  GateSpec gate;
  gate.kind = json.at("kind").get<std::string>();
  gate.name = json.at("name").get<std::string>();
  gate.min = ReadOptional(json, "min");
  gate.max = ReadOptional(json, "max");
  gate.min_absolute_change = ReadOptional(json, "min_absolute_change");
  gate.min_relative_change = ReadOptional(json, "min_relative_change");
  if (json.contains("greater_is_better") && !json.at("greater_is_better").is_null()) {
    gate.greater_is_better = json.at("greater_is_better").get<bool>();
  }
  gate.per_slice = json.value("per_slice", false);
  gate.feature_service = json.value("feature_service", "");
  return gate;
}

}  // namespace

Json GateSpecToJson(const GateSpec& gate) {
  return Json{{"kind", gate.kind},
              {"name", gate.name},
              {"min", Optional(gate.min)},
              {"max", Optional(gate.max)},
              {"min_absolute_change", Optional(gate.min_absolute_change)},
              {"min_relative_change", Optional(gate.min_relative_change)},
              {"greater_is_better",
               gate.greater_is_better.has_value() ? Json(*gate.greater_is_better) : Json(nullptr)},
              {"per_slice", gate.per_slice},
              {"feature_service", gate.feature_service}};
}

absl::StatusOr<GateSpec> GateSpecFromJson(const Json& json) {
  try {
    return GateFromJsonOrThrow(json);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("gate JSON: ", e.what()));
  }
}

Json PolicySpecToJson(const PolicySpec& spec) {
  Json gates = Json::array();
  for (const GateSpec& gate : spec.gates) gates.push_back(GateSpecToJson(gate));
  return Json{
      {"name", spec.name},
      {"description", spec.description},
      {"owner", spec.owner},
      {"tags", spec.tags},
      {"model", spec.model},
      {"target_alias", spec.target_alias},
      {"mode", spec.mode},
      {"evaluation",
       {{"data", {{"path", spec.evaluation.path}}},
        {"label", spec.evaluation.label},
        {"slices", spec.evaluation.slices},
        {"threshold", spec.evaluation.threshold}}},
      {"gates", gates},
      {"rollout", spec.rollout.has_value() ? RolloutToJson(*spec.rollout) : Json(nullptr)},
  };
}

absl::StatusOr<PolicySpec> PolicySpecFromJson(const Json& json) {
  try {
    PolicySpec spec;
    spec.name = json.at("name").get<std::string>();
    spec.description = json.value("description", "");
    spec.owner = json.value("owner", "");
    if (json.contains("tags")) {
      spec.tags = json.at("tags").get<std::map<std::string, std::string>>();
    }
    spec.model = json.at("model").get<std::string>();
    spec.target_alias = json.value("target_alias", spec.target_alias);
    spec.mode = json.value("mode", spec.mode);
    if (json.contains("evaluation") && !json.at("evaluation").is_null()) {
      const Json& e = json.at("evaluation");
      if (e.contains("data") && !e.at("data").is_null()) {
        spec.evaluation.path = e.at("data").value("path", "");
      }
      spec.evaluation.label = e.value("label", "");
      if (e.contains("slices")) {
        spec.evaluation.slices = e.at("slices").get<std::vector<std::string>>();
      }
      spec.evaluation.threshold = e.value("threshold", spec.evaluation.threshold);
    }
    if (json.contains("gates")) {
      size_t index = 0;
      for (const Json& gate : json.at("gates")) {
        absl::StatusOr<GateSpec> parsed = GateSpecFromJson(gate);
        if (!parsed.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("policy JSON: gates[", index, "]: ", parsed.status().message()));
        }
        spec.gates.push_back(std::move(*parsed));
        ++index;
      }
    }
    if (json.contains("rollout") && !json.at("rollout").is_null()) {
      spec.rollout = RolloutFromJson(json.at("rollout"));
    }
    return spec;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("policy JSON: ", e.what()));
  }
}

}  // namespace cairn::cicd
