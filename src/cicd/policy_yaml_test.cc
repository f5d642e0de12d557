#include "cicd/policy_yaml.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "cicd/policy_json.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::cicd {
namespace {

using ::testing::HasSubstr;

constexpr char kFull[] = R"yaml(kind: Policy
name: churn-gate
description: the churn model's gate
owner: growth
tags: {team: growth}
model: churn
target_alias: champion
mode: manual
evaluation:
  data: {path: eval/churn.csv}
  label: churned
  slices: [plan]
  threshold: 0.4
gates:
  - {metric: auc, min: 0.70}
  - {metric: logloss, max: 0.60}
  - {metric: auc, min_absolute_change: -0.005, per_slice: true}
  - {metric: logloss, min_relative_change: -0.05}
  - {run_metric: val_auc, min: 0.7}
  - {check: loads}
  - {check: latency_p99_ms, max: 5}
  - {check: size_mb, max: 100}
  - {check: features_online, feature_service: churn}
rollout: {mode: canary, percent: 20, guard: {window: 10m, min_requests: 200, max_prediction_drift: 0.2, drift_test: wasserstein}, on_fail: none}
)yaml";

// The error of parsing `text`, which must fail with InvalidArgument.
std::string Error(const std::string& text) {
  auto parsed = ParsePoliciesYaml(text, "p.yaml");
  EXPECT_FALSE(parsed.ok()) << "parsed: " << text;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

// A minimal valid policy with `gates` (YAML flow list) and extra top-level lines.
std::string Policy(const std::string& gates, const std::string& extra = "") {
  return absl::StrCat("kind: Policy\nname: g\nmodel: churn\n",
                      "evaluation: {data: {path: e.csv}, label: y, slices: [plan]}\n",
                      "gates: ", gates, "\n", extra);
}

TEST(PolicyYamlTest, ParsesEveryField) {
  auto parsed = ParsePoliciesYaml(kFull, "policies.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  const PolicySpec& spec = (*parsed)[0];
  EXPECT_EQ(spec.name, "churn-gate");
  EXPECT_EQ(spec.description, "the churn model's gate");
  EXPECT_EQ(spec.owner, "growth");
  EXPECT_EQ(spec.tags.at("team"), "growth");
  EXPECT_EQ(spec.model, "churn");
  EXPECT_EQ(spec.target_alias, "champion");
  EXPECT_EQ(spec.mode, "manual");
  EXPECT_EQ(spec.evaluation.path, "eval/churn.csv");
  EXPECT_EQ(spec.evaluation.label, "churned");
  EXPECT_EQ(spec.evaluation.slices, std::vector<std::string>{"plan"});
  EXPECT_DOUBLE_EQ(spec.evaluation.threshold, 0.4);
  EXPECT_EQ(spec.file, "policies.yaml");
  EXPECT_EQ(spec.line, 1);
  ASSERT_EQ(spec.gates.size(), 9u);
  EXPECT_EQ(spec.gates[0].kind, "metric");
  EXPECT_EQ(spec.gates[0].name, "auc");
  EXPECT_EQ(spec.gates[0].min, 0.7);
  EXPECT_FALSE(spec.gates[0].max.has_value());
  EXPECT_EQ(spec.gates[2].min_absolute_change, -0.005);
  EXPECT_TRUE(spec.gates[2].per_slice);
  EXPECT_EQ(spec.gates[3].min_relative_change, -0.05);
  EXPECT_EQ(spec.gates[4].kind, "run_metric");
  EXPECT_EQ(spec.gates[4].name, "val_auc");
  EXPECT_EQ(spec.gates[5].kind, "check");
  EXPECT_EQ(spec.gates[5].name, "loads");
  EXPECT_EQ(spec.gates[6].max, 5);
  EXPECT_EQ(spec.gates[8].feature_service, "churn");
  ASSERT_TRUE(spec.rollout.has_value());
  EXPECT_EQ(spec.rollout->mode, "canary");
  EXPECT_EQ(spec.rollout->percent, 20);
  EXPECT_EQ(spec.rollout->version, 0);
  EXPECT_EQ(spec.rollout->alias, "");
  EXPECT_EQ(spec.rollout->guard.window_ms, 600'000);
  EXPECT_EQ(spec.rollout->guard.min_requests, 200);
  EXPECT_EQ(spec.rollout->guard.max_prediction_drift, 0.2);
  EXPECT_EQ(spec.rollout->guard.drift_test, "wasserstein");
  EXPECT_EQ(spec.rollout->on_pass, "promote");
  EXPECT_EQ(spec.rollout->on_fail, "none");
}

TEST(PolicyYamlTest, DefaultsAndOtherKindsSkipped) {
  auto parsed = ParsePoliciesYaml(
      "kind: Monitor\nname: m\n---\nkind: Endpoint\nname: e\n---\n"
      "kind: Policy\nname: p.1\nmodel: churn\ngates: [{check: loads}]\n",
      "all.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  const PolicySpec& spec = (*parsed)[0];
  EXPECT_EQ(spec.name, "p.1");
  EXPECT_EQ(spec.line, 7);
  EXPECT_EQ(spec.target_alias, "production");
  EXPECT_EQ(spec.mode, "auto");
  EXPECT_EQ(spec.evaluation.threshold, 0.5);
  EXPECT_FALSE(spec.rollout.has_value());
}

TEST(PolicyYamlTest, DataMayBeAPlainPath) {
  auto parsed = ParsePoliciesYaml(
      "kind: Policy\nname: g\nmodel: m\nevaluation: {data: e.csv, label: y}\n"
      "gates: [{metric: rmse, max: 3}]\n",
      "p.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].evaluation.path, "e.csv");
}

TEST(PolicyYamlTest, UnknownFieldsSuggestTheNearest) {
  EXPECT_EQ(Error(Policy("[{metric: auc, min: 0.7}]", "targte_alias: production\n")),
            "p.yaml:6: policy g: unknown field 'targte_alias' (value 'production'); did you "
            "mean 'target_alias'?");
  EXPECT_EQ(Error(Policy("[{metric: auc, mni: 0.7}]")),
            "p.yaml:5: policy g: unknown field 'gates[0].mni' (value '0.7'); did you mean "
            "'min'?");
  EXPECT_THAT(Error(Policy("[{check: loads}]", "rollout: {guard: {windwo: 1h}}\n")),
              HasSubstr("unknown field 'rollout.guard.windwo' (value '1h'); did you mean "
                        "'window'?"));
}

TEST(PolicyYamlTest, UnknownMetricAndCheckSuggestTheNearest) {
  EXPECT_EQ(Error(Policy("[{metric: acu, min: 0.7}]")),
            "p.yaml:5: policy g: field 'gates[0].metric': value 'acu' is not a metric (auc, "
            "logloss, accuracy, precision, recall, f1, brier, rmse, mae, r2); for a metric "
            "logged on the training run write run_metric: NAME; did you mean 'auc'?");
  EXPECT_THAT(Error(Policy("[{check: latency_p99, max: 5}]")),
              HasSubstr("field 'gates[0].check': value 'latency_p99' is not a check (loads, "
                        "latency_p99_ms, size_mb, features_online); did you mean "
                        "'latency_p99_ms'?"));
  EXPECT_THAT(Error("kind: Polcy\nname: g\n"),
              HasSubstr("p.yaml:1: definition: field 'kind': value 'Polcy' is not a kind"));
  EXPECT_THAT(Error("kind: Polcy\nname: g\n"), HasSubstr("did you mean 'Policy'?"));
}

TEST(PolicyYamlTest, GateShapes) {
  EXPECT_EQ(Error(Policy("[{metric: auc, check: loads}]")),
            "p.yaml:5: policy g: field 'gates[0].check': value 'loads' conflicts with "
            "'gates[0].metric': a gate tests one metric or check; write two gates");
  EXPECT_THAT(Error(Policy("[{min: 0.7}]")),
              HasSubstr("field 'gates[0]' needs metric: NAME, run_metric: NAME or check: NAME"));
  EXPECT_THAT(Error(Policy("[{metric: auc}]")),
              HasSubstr("field 'gates[0]' (metric auc) tests nothing: give min and/or max"));
  EXPECT_THAT(Error(Policy("[{metric: auc, min: 0.9, max: 0.8}]")),
              HasSubstr("field 'gates[0].max': value '0.8' is below min (0.9): no value "
                        "could pass"));
  EXPECT_THAT(Error(Policy("[{metric: auc, min: high}]")),
              HasSubstr("field 'gates[0].min': value 'high' must be a number"));
  EXPECT_THAT(Error(Policy("[{check: latency_p99_ms}]")),
              HasSubstr("field 'gates[0]' (check latency_p99_ms) needs max: the upper bound, "
                        "like max: 5"));
  EXPECT_THAT(Error(Policy("[{check: size_mb, max: 0}]")),
              HasSubstr("field 'gates[0].max': value '0' must be greater than 0"));
  EXPECT_THAT(Error(Policy("[{check: size_mb, min: 1, max: 10}]")),
              HasSubstr("field 'gates[0].min': value '1' does not apply to check size_mb"));
  EXPECT_THAT(Error(Policy("[{check: loads, max: 1}]")),
              HasSubstr("field 'gates[0].max': value '1' does not apply: check loads passes "
                        "or fails"));
  EXPECT_THAT(Error(Policy("[{check: loads, min_absolute_change: 0}]")),
              HasSubstr("field 'gates[0].min_absolute_change': value '0' applies to metric "
                        "gates, not to check loads"));
  EXPECT_THAT(Error(Policy("[{check: features_online}]")),
              HasSubstr("(check features_online) needs feature_service: NAME"));
  EXPECT_THAT(Error(Policy("[{metric: auc, min: 0.5, feature_service: s}]")),
              HasSubstr("field 'gates[0].feature_service': value 's' applies to check "
                        "features_online only"));
  EXPECT_THAT(Error(Policy("[{run_metric: val_auc, min: 0.5, per_slice: true}]")),
              HasSubstr("applies to metric gates only (run metrics have no slices)"));
  EXPECT_THAT(Error(Policy("[{metric: auc, min: 0.5, per_slice: maybe}]")),
              HasSubstr("field 'gates[0].per_slice': value 'maybe' must be true or false"));
  EXPECT_THAT(Error(Policy("[{metric: auc, min: 0.5}, {metric: auc, min: 0.5}]")),
              HasSubstr("field 'gates[1]': value a map of 2 keys is the same gate as gates[0]: "
                        "keep one"));
  EXPECT_THAT(Error(Policy("[]")), HasSubstr("field 'gates': value a list of 0 must be a "
                                             "non-empty list"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\n"),
              HasSubstr("p.yaml:1: policy g: missing field 'gates'"));
}

TEST(PolicyYamlTest, EvaluationRules) {
  EXPECT_EQ(Error("kind: Policy\nname: g\nmodel: m\ngates: [{check: loads}, {metric: auc, "
                  "min: 0.7}]\n"),
            "p.yaml:4: policy g: gate 'auc >= 0.7' (gates[1]) needs evaluation data: add "
            "evaluation: {data: {path: FILE.csv}, label: COLUMN}");
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\ngates: [{check: latency_p99_ms, max: "
                    "5}]\n"),
              HasSubstr("gate 'latency_p99_ms <= 5' (gates[0]) needs evaluation data"));
  EXPECT_EQ(Error("kind: Policy\nname: g\nmodel: m\nevaluation: {data: e.csv}\ngates: "
                  "[{metric: auc, min: 0.7}]\n"),
            "p.yaml:4: policy g: missing field 'evaluation.label': metric gates compare "
            "predictions with the ground-truth column; add label: COLUMN");
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\nevaluation: {data: e.csv, label: y, "
                    "threshold: 1.5}\ngates: [{check: loads}]\n"),
              HasSubstr("field 'evaluation.threshold': value '1.5' must be between 0 and 1"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\nevaluation: {data: e.csv, label: y}\n"
                    "gates: [{metric: auc, min: 0.5, per_slice: true}]\n"),
              HasSubstr("field 'gates[0].per_slice': value 'true' needs slices: add "
                        "evaluation.slices"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\nevaluation: {data: e.csv, label: y, "
                    "slices: [y]}\ngates: [{check: loads}]\n"),
              HasSubstr("lists the label column 'y': slice by input columns only"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\nevaluation: {data: {file: e.csv}}\n"
                    "gates: [{check: loads}]\n"),
              HasSubstr("unknown field 'evaluation.data.file'"));
}

TEST(PolicyYamlTest, TopLevelFields) {
  EXPECT_THAT(Error("kind: Policy\nname: bad name\nmodel: m\ngates: [{check: loads}]\n"),
              HasSubstr("p.yaml:2: policy bad name: field 'name': value 'bad name' is not a "
                        "valid name"));
  EXPECT_THAT(Error("kind: Policy\nname: g\ngates: [{check: loads}]\n"),
              HasSubstr("p.yaml:1: policy g: missing field 'model': it is required"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: churn@production\ngates: [{check: loads}]\n"),
              HasSubstr("field 'model': value 'churn@production' must be the name of a "
                        "registered model"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\nmode: manaul\ngates: [{check: "
                    "loads}]\n"),
              HasSubstr("field 'mode': value 'manaul' is not one of auto, manual; did "
                        "you mean 'manual'?"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\ntarget_alias: Latest\ngates: [{check: "
                    "loads}]\n"),
              HasSubstr("field 'target_alias': value 'Latest' is not an alias name"));
  EXPECT_THAT(Error("kind: Policy\nname: g\nmodel: m\ntags: [a]\ngates: [{check: loads}]\n"),
              HasSubstr("field 'tags': value a list of 1 must be a map"));
}

TEST(PolicyYamlTest, RolloutRules) {
  const std::string base = "kind: Policy\nname: g\nmodel: m\ngates: [{check: loads}]\n";
  EXPECT_EQ(Error(base + "rollout: {version: 3}\n"),
            "p.yaml:5: policy g: field 'rollout.version': value '3' does not apply: the "
            "challenger of a policy's rollout is the candidate version being promoted; remove "
            "it");
  EXPECT_THAT(Error(base + "rollout: {alias: challenger}\n"),
              HasSubstr("field 'rollout.alias'"));
  EXPECT_THAT(Error(base + "rollout: {mode: canery}\n"),
              HasSubstr("field 'rollout.mode': value 'canery' is not one of canary, shadow; "
                        "did you mean 'canary'?"));
  EXPECT_THAT(Error(base + "rollout: {percent: 0}\n"),
              HasSubstr("field 'rollout.percent': value '0' must be in (0, 100]"));
  EXPECT_THAT(Error(base + "rollout: {percent: 101}\n"), HasSubstr("must be in (0, 100]"));
  EXPECT_THAT(Error(base + "rollout: {guard: {window: soon}}\n"),
              HasSubstr("field 'rollout.guard.window': value 'soon' is not a positive "
                        "duration"));
  EXPECT_THAT(Error(base + "rollout: {guard: {min_requests: 0}}\n"),
              HasSubstr("field 'rollout.guard.min_requests': value '0' must be a whole number "
                        "of at least 1"));
  EXPECT_THAT(Error(base + "rollout: {guard: {drift_test: pssi}}\n"),
              HasSubstr("field 'rollout.guard.drift_test': value 'pssi' is not a drift test"));
  EXPECT_THAT(Error(base + "rollout: {guard: {drift_test: pssi}}\n"),
              HasSubstr("did you mean 'psi'?"));
  EXPECT_THAT(Error(base + "rollout: {on_pass: rollback}\n"),
              HasSubstr("field 'rollout.on_pass': value 'rollback' is not one of promote, "
                        "none"));
  EXPECT_THAT(Error(base + "rollout: {guard: {max_p99_latency_ratio: 0}}\n"),
              HasSubstr("must be greater than 0"));
  auto shadow = ParsePoliciesYaml(base + "rollout: {mode: shadow, percent: 100}\n", "p.yaml");
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  EXPECT_EQ((*shadow)[0].rollout->mode, "shadow");
  EXPECT_EQ((*shadow)[0].rollout->guard, serving::GuardSpec());
}

TEST(PolicyYamlTest, FilesRefuseDuplicateNamesAndTwoPoliciesForOneModel) {
  const std::string a = "kind: Policy\nname: a\nmodel: churn\ngates: [{check: loads}]\n";
  const std::string b = "kind: Policy\nname: b\nmodel: churn\ngates: [{check: loads}]\n";
  const std::string c = "kind: Policy\nname: a\nmodel: other\ngates: [{check: loads}]\n";
  auto twice = ParsePolicyFiles({{"one.yaml", a}, {"two.yaml", "\n" + c}});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(),
            "two.yaml:2: policy a: defined twice (also at one.yaml:1): keep one");
  auto model = ParsePolicyFiles({{"one.yaml", a}, {"two.yaml", b}});
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            "two.yaml:1: policy b: model 'churn' is already governed by policy a (one.yaml:1): "
            "one policy per model; merge their gates into one");
  auto fine = ParsePolicyFiles({{"one.yaml", a}});
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->size(), 1u);
}

TEST(PolicyYamlTest, InvalidYamlNamesTheFile) {
  EXPECT_THAT(Error("kind: Policy\nname: [unclosed\n"), HasSubstr("p.yaml:"));
  EXPECT_THAT(Error("- just\n- a list\n"),
              HasSubstr("p.yaml:1: a definition must be a map with 'kind' and 'name'"));
}

TEST(PolicyYamlTest, GreaterIsBetterByName) {
  auto gate = [](const std::string& kind, const std::string& name) {
    GateSpec g;
    g.kind = kind;
    g.name = name;
    return GreaterIsBetter(g);
  };
  EXPECT_TRUE(gate("metric", "auc"));
  EXPECT_TRUE(gate("metric", "r2"));
  EXPECT_TRUE(gate("metric", "f1"));
  EXPECT_FALSE(gate("metric", "logloss"));
  EXPECT_FALSE(gate("metric", "brier"));
  EXPECT_FALSE(gate("metric", "rmse"));
  EXPECT_FALSE(gate("metric", "mae"));
  EXPECT_TRUE(gate("run_metric", "val_auc"));
  EXPECT_FALSE(gate("run_metric", "val_logloss"));
  EXPECT_FALSE(gate("run_metric", "train-rmse"));
  EXPECT_FALSE(gate("run_metric", "val_loss"));
  EXPECT_FALSE(gate("run_metric", "error_rate"));
  EXPECT_TRUE(gate("run_metric", "throughput"));
  EXPECT_FALSE(gate("check", "latency_p99_ms"));
  GateSpec explicit_gate;
  explicit_gate.kind = "metric";
  explicit_gate.name = "logloss";
  explicit_gate.greater_is_better = true;
  EXPECT_TRUE(GreaterIsBetter(explicit_gate));
}

TEST(PolicyYamlTest, GateText) {
  auto parsed = ParsePoliciesYaml(kFull, "p.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  std::vector<std::string> texts;
  for (const GateSpec& gate : (*parsed)[0].gates) texts.push_back(GateText(gate, "champion"));
  EXPECT_EQ(texts, (std::vector<std::string>{
                       "auc >= 0.7", "logloss <= 0.6", "auc vs champion: change >= -0.005",
                       "logloss vs champion: relative change >= -5%", "run val_auc >= 0.7",
                       "loads", "latency_p99_ms <= 5", "size_mb <= 100",
                       "features_online (churn)"}));
  GateSpec both;
  both.kind = "metric";
  both.name = "auc";
  both.min = 0.6;
  both.max = 0.99;
  both.min_absolute_change = 0;
  EXPECT_EQ(GateText(both, "production"), "0.6 <= auc <= 0.99; vs production: change >= 0");
}

TEST(PolicyJsonTest, RoundTripIsCanonical) {
  auto parsed = ParsePoliciesYaml(kFull, "p.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const PolicySpec& spec = (*parsed)[0];
  const Json json = PolicySpecToJson(spec);
  EXPECT_EQ(json.at("gates")[0].at("kind"), "metric");
  EXPECT_EQ(json.at("gates")[0].at("min"), 0.7);
  EXPECT_TRUE(json.at("gates")[0].at("max").is_null());
  EXPECT_EQ(json.at("evaluation").at("data").at("path"), "eval/churn.csv");
  EXPECT_EQ(json.at("rollout").at("guard").at("window_ms"), 600000);
  EXPECT_FALSE(json.contains("file"));
  auto back = PolicySpecFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, spec);
  EXPECT_EQ(DumpJson(PolicySpecToJson(*back)), DumpJson(json));

  auto minimal = ParsePoliciesYaml(
      "kind: Policy\nname: g\nmodel: m\ngates: [{check: loads}]\n", "p.yaml");
  ASSERT_TRUE(minimal.ok());
  const Json minimal_json = PolicySpecToJson((*minimal)[0]);
  EXPECT_TRUE(minimal_json.at("rollout").is_null());
  auto minimal_back = PolicySpecFromJson(minimal_json);
  ASSERT_TRUE(minimal_back.ok());
  EXPECT_EQ(*minimal_back, (*minimal)[0]);
}

TEST(PolicyJsonTest, BadJsonIsInvalidArgument) {
  auto missing = PolicySpecFromJson(Json{{"name", "g"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("policy JSON"));
  auto gate = PolicySpecFromJson(
      Json{{"name", "g"}, {"model", "m"}, {"gates", Json::array({Json{{"kind", "metric"}}})}});
  ASSERT_FALSE(gate.ok());
  EXPECT_THAT(gate.status().message(), HasSubstr("policy JSON: gates[0]: gate JSON"));
}

}  // namespace
}  // namespace cairn::cicd
