#include "serving/endpoint_yaml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn::serving {
namespace {

using ::testing::HasSubstr;

constexpr char kFull[] = R"yaml(kind: Entity
name: customer
join_keys: [customer_id]
---
kind: Endpoint
name: churn
description: churn scores for the CRM
owner: growth-ml
tags: {team: growth}
model: churn@production
feature_service: churn_features
runtime: python
replicas: {min: 0, max: 4}
max_queue: 16
timeout: 2500ms
inference_log: {sample: 0.1, max_rows: 5000}
rollout:
  mode: canary
  version: 4
  percent: 10
  guard: {window: 10m, min_requests: 200, max_error_rate_increase: 0.02,
          max_p99_latency_ratio: 1.5, max_prediction_drift: 0.2, drift_test: wasserstein}
  on_pass: promote
  on_fail: rollback
---
kind: Endpoint
name: churn.pinned
model: churn/3
)yaml";

// The error of parsing `text` as "e.yaml".
std::string Error(const std::string& text) {
  auto specs = ParseEndpointsYaml(text, "e.yaml");
  EXPECT_FALSE(specs.ok()) << text;
  if (specs.ok()) return "";
  EXPECT_EQ(specs.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(specs.status().message());
}

std::string WithRollout(const std::string& rollout) {
  return "kind: Endpoint\nname: e\nmodel: m@production\nrollout:\n" + rollout;
}

TEST(EndpointYamlTest, ParsesEveryField) {
  auto specs = ParseEndpointsYaml(kFull, "defs.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 2u);
  const EndpointSpec& e = (*specs)[0];
  EXPECT_EQ(e.name, "churn");
  EXPECT_EQ(e.description, "churn scores for the CRM");
  EXPECT_EQ(e.owner, "growth-ml");
  EXPECT_EQ(e.tags.at("team"), "growth");
  EXPECT_EQ(e.model, "churn");
  EXPECT_EQ(e.alias, "production");
  EXPECT_EQ(e.version, 0);
  EXPECT_EQ(e.feature_service, "churn_features");
  EXPECT_EQ(e.runtime, "python");
  EXPECT_EQ(e.min_replicas, 0);
  EXPECT_EQ(e.max_replicas, 4);
  EXPECT_EQ(e.max_queue, 16);
  EXPECT_EQ(e.timeout_ms, 2'500);
  EXPECT_DOUBLE_EQ(e.log_sample, 0.1);
  EXPECT_EQ(e.log_max_rows, 5000);
  EXPECT_EQ(e.file, "defs.yaml");
  EXPECT_EQ(e.line, 5);
  ASSERT_TRUE(e.rollout.has_value());
  const RolloutSpec& r = *e.rollout;
  EXPECT_EQ(r.mode, "canary");
  EXPECT_EQ(r.version, 4);
  EXPECT_EQ(r.alias, "");
  EXPECT_DOUBLE_EQ(r.percent, 10);
  EXPECT_EQ(r.guard.window_ms, 600'000);
  EXPECT_EQ(r.guard.min_requests, 200);
  EXPECT_DOUBLE_EQ(r.guard.max_error_rate_increase, 0.02);
  EXPECT_DOUBLE_EQ(r.guard.max_p99_latency_ratio, 1.5);
  ASSERT_TRUE(r.guard.max_prediction_drift.has_value());
  EXPECT_DOUBLE_EQ(*r.guard.max_prediction_drift, 0.2);
  EXPECT_EQ(r.guard.drift_test, "wasserstein");
  EXPECT_EQ(r.on_pass, "promote");
  EXPECT_EQ(r.on_fail, "rollback");

  const EndpointSpec& pinned = (*specs)[1];
  EXPECT_EQ(pinned.name, "churn.pinned");
  EXPECT_EQ(pinned.model, "churn");
  EXPECT_EQ(pinned.alias, "");
  EXPECT_EQ(pinned.version, 3);
  EXPECT_EQ(pinned.runtime, "auto");
  EXPECT_EQ(pinned.min_replicas, 1);
  EXPECT_EQ(pinned.max_replicas, 1);
  EXPECT_EQ(pinned.max_queue, 32);
  EXPECT_EQ(pinned.timeout_ms, 30'000);
  EXPECT_DOUBLE_EQ(pinned.log_sample, 1.0);
  EXPECT_FALSE(pinned.rollout.has_value());
  EXPECT_EQ(pinned.line, 26);
}

TEST(EndpointYamlTest, RolloutDefaultsAndShortForms) {
  auto specs = ParseEndpointsYaml(
      "kind: Endpoint\nname: e\nmodel: m@production\nreplicas: 2\ninference_log: false\n"
      "rollout: {mode: shadow, alias: challenger, percent: 25%}\n",
      "e.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  const EndpointSpec& e = (*specs)[0];
  EXPECT_EQ(e.min_replicas, 2);
  EXPECT_EQ(e.max_replicas, 2);
  EXPECT_EQ(e.log_sample, 0);
  ASSERT_TRUE(e.rollout.has_value());
  EXPECT_EQ(e.rollout->mode, "shadow");
  EXPECT_EQ(e.rollout->alias, "challenger");
  EXPECT_DOUBLE_EQ(e.rollout->percent, 25);
  EXPECT_EQ(e.rollout->guard, GuardSpec());
  EXPECT_EQ(e.rollout->on_pass, "promote");
}

TEST(EndpointYamlTest, OtherKindsAreSkippedAndEmptyDocumentsIgnored) {
  auto specs = ParseEndpointsYaml("kind: Monitor\nname: m\n---\n---\nkind: Policy\nname: p\n",
                                  "e.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_TRUE(specs->empty());
}

TEST(EndpointYamlTest, UnknownKindSuggestsTheNearest) {
  EXPECT_EQ(Error("kind: Endpont\nname: e\n"),
            "e.yaml:1: definition: field 'kind': value 'Endpont' is not a kind (Endpoint, "
            "Entity, Source, FeatureView, FeatureService, Pipeline, Monitor, Policy); did you "
            "mean 'Endpoint'?");
  EXPECT_THAT(Error("name: e\n"), HasSubstr("e.yaml:1: missing field 'kind'"));
}

TEST(EndpointYamlTest, UnknownFieldsNameTheNearestValidName) {
  EXPECT_EQ(Error("kind: Endpoint\nname: e\nmodel: m@p\nfeature_servic: f\n"),
            "e.yaml:4: endpoint e: unknown field 'feature_servic' (value 'f'); did you mean "
            "'feature_service'?");
  EXPECT_EQ(Error(WithRollout("  mode: canary\n  version: 2\n  guard: {windw: 5m}\n")),
            "e.yaml:7: endpoint e: unknown field 'rollout.guard.windw' (value '5m'); did you "
            "mean 'window'?");
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nreplicas: {min: 1, mx: 2}\n"),
              HasSubstr("e.yaml:4: endpoint e: unknown field 'replicas.mx' (value '2'); did you "
                        "mean 'max'?"));
}

TEST(EndpointYamlTest, ModelReferenceErrors) {
  EXPECT_EQ(Error("kind: Endpoint\nname: e\nmodel: churn\n"),
            "e.yaml:3: endpoint e: field 'model': value 'churn' names no alias or version: "
            "write NAME@ALIAS (e.g. churn@production) or NAME/VERSION (e.g. churn/3)");
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: churn/0\n"),
              HasSubstr("e.yaml:3: endpoint e: field 'model': value 'churn/0' has no version "
                        "number (1 or more) after '/'"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: churn@\n"),
              HasSubstr("has no valid alias after '@'"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: \"@prod\"\n"), HasSubstr("has no model name"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\n"),
              HasSubstr("e.yaml:1: endpoint e: missing field 'model'"));
  EXPECT_THAT(Error("kind: Endpoint\nmodel: m@p\n"),
              HasSubstr("e.yaml:1: endpoint: missing field 'name'"));
}

TEST(EndpointYamlTest, ValueErrorsPointAtTheirLine) {
  EXPECT_EQ(Error("kind: Endpoint\nname: e\nmodel: m@p\nruntime: xgbost\n"),
            "e.yaml:4: endpoint e: field 'runtime': value 'xgbost' is not a runtime (auto, "
            "xgboost, python); did you mean 'xgboost'?");
  EXPECT_THAT(Error("kind: Endpoint\nname: \"bad name\"\nmodel: m@p\n"),
              HasSubstr("e.yaml:2: endpoint bad name: field 'name': value 'bad name' is not a "
                        "valid endpoint name"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nreplicas: {min: 3, max: 2}\n"),
              HasSubstr("e.yaml:4: endpoint e: field 'replicas.min': value '3' must be in "
                        "0..replicas.max (2)"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nmax_queue: 0\n"),
              HasSubstr("e.yaml:4: endpoint e: field 'max_queue': value '0' must be in 1..100000"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\ninference_log: {sample: 1.5}\n"),
              HasSubstr("e.yaml:4: endpoint e: field 'inference_log.sample': value '1.5' must "
                        "be in [0, 1]"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nmax_queue: many\n"),
              HasSubstr("field 'max_queue': value 'many' must be a whole number"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nfeature_service: 9x\n"),
              HasSubstr("field 'feature_service': value '9x' is not a valid feature service "
                        "name"));
  EXPECT_THAT(
      Error("kind: Endpoint\nname: e\nmodel: m@p\nruntime: xgboost\nreplicas: {max: 3}\n"),
      HasSubstr("e.yaml:5: endpoint e: field 'replicas': value a map of 1 keys applies to the "
                "python runtime's worker pool only"));
}

TEST(EndpointYamlTest, TimeoutIsAPositiveDurationUpToAnHour) {
  auto specs = ParseEndpointsYaml("kind: Endpoint\nname: e\nmodel: m@p\ntimeout: 2s\n", "e.yaml");
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_EQ((*specs)[0].timeout_ms, 2'000);
  EXPECT_TRUE(ValidateEndpointSpec((*specs)[0]).ok());
  EXPECT_EQ(Error("kind: Endpoint\nname: e\nmodel: m@p\ntimeout: 0\n"),
            "e.yaml:4: endpoint e: field 'timeout': value '0' is not a duration from 1ms to 1h: "
            "write an integer and a unit (ms, s, m, h), like 30s");
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\n\ntimeout: 2\n"),
              HasSubstr("e.yaml:5: endpoint e: field 'timeout': value '2' is not a duration"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\ntimeout: 2h\n"),
              HasSubstr("e.yaml:4: endpoint e: field 'timeout': value '2h' is not a duration "
                        "from 1ms to 1h"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\ntimeout: {s: 2}\n"),
              HasSubstr("e.yaml:4: endpoint e: field 'timeout'"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\ntimout: 2s\n"),
              HasSubstr("unknown field 'timout' (value '2s'); did you mean 'timeout'?"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nruntime: xgboost\ntimeout: 5s\n"),
              HasSubstr("e.yaml:5: endpoint e: field 'timeout': value '5s' applies to the "
                        "python runtime's worker pool only"));
  EndpointSpec spec = (*specs)[0];
  spec.timeout_ms = 0;
  EXPECT_THAT(ValidateEndpointSpec(spec).message(),
              HasSubstr("endpoint e: field 'timeout' must be a duration from 1ms to 1h"));
}

TEST(EndpointYamlTest, RolloutErrors) {
  EXPECT_EQ(Error(WithRollout("  mode: canery\n  version: 2\n")),
            "e.yaml:5: endpoint e: field 'rollout.mode': value 'canery' is not a rollout mode "
            "(canary, shadow); did you mean 'canary'?");
  EXPECT_THAT(Error(WithRollout("  version: 2\n  alias: challenger\n")),
              HasSubstr("e.yaml:6: endpoint e: field 'rollout.alias': value 'challenger' "
                        "conflicts with 'version'"));
  EXPECT_THAT(Error(WithRollout("  mode: canary\n")),
              HasSubstr("e.yaml:5: endpoint e: field 'rollout.version' is missing: name the "
                        "challenger with version: N or alias: NAME"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  percent: 0\n")),
              HasSubstr("e.yaml:6: endpoint e: field 'rollout.percent': value '0' must be in "
                        "(0, 100]"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  percent: 101\n")),
              HasSubstr("field 'rollout.percent': value '101' must be in (0, 100]"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  guard: {window: 10 minutes}\n")),
              HasSubstr("e.yaml:6: endpoint e: field 'rollout.guard.window': value '10 minutes' "
                        "is not a positive duration"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  guard: {min_requests: 0}\n")),
              HasSubstr("field 'rollout.guard.min_requests': value '0' must be at least 1"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  guard: {max_error_rate_increase: 2}\n")),
              HasSubstr("field 'rollout.guard.max_error_rate_increase': value '2' must be in "
                        "[0, 1]"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  guard: {max_p99_latency_ratio: 0}\n")),
              HasSubstr("field 'rollout.guard.max_p99_latency_ratio': value '0' must be a "
                        "positive number"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  guard: {drift_test: pis}\n")),
              HasSubstr("field 'rollout.guard.drift_test': value 'pis' is not a drift test ("));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  guard: {drift_test: psii}\n")),
              HasSubstr("did you mean 'psi'?"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  on_pass: promte\n")),
              HasSubstr("field 'rollout.on_pass': value 'promte' is not an action on pass "
                        "(promote, none); did you mean 'promote'?"));
  EXPECT_THAT(Error(WithRollout("  version: 2\n  on_fail: promote\n")),
              HasSubstr("field 'rollout.on_fail': value 'promote' is not an action on failure "
                        "(rollback, none)"));
  EXPECT_THAT(Error(WithRollout("  alias: production\n")),
              HasSubstr("field 'rollout.alias': value 'production' is the alias the endpoint "
                        "follows (production)"));
  EXPECT_THAT(Error(WithRollout("  version: 0\n")),
              HasSubstr("field 'rollout.version': value '0' must be a version number"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: m@p\nrollout: canary\n"),
              HasSubstr("e.yaml:4: endpoint e: field 'rollout': value 'canary' must be a map"));
}

TEST(EndpointYamlTest, PinnedEndpointRolloutCannotPromote) {
  EXPECT_THAT(
      Error("kind: Endpoint\nname: e\nmodel: churn/3\nrollout: {version: 4}\n"),
      HasSubstr("e.yaml:4: endpoint e: field 'rollout.on_pass' promote moves the alias the "
                "endpoint follows, but the endpoint is pinned to churn/3: bind it to an alias "
                "(model: churn@production) or set on_pass: none"));
  EXPECT_THAT(Error("kind: Endpoint\nname: e\nmodel: churn/3\nrollout: {version: 3, on_pass: "
                    "none}\n"),
              HasSubstr("field 'rollout.version': value '3' is the version the endpoint serves"));
  auto ok = ParseEndpointsYaml(
      "kind: Endpoint\nname: e\nmodel: churn/3\nrollout: {version: 4, on_pass: none}\n", "e.yaml");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(EndpointYamlTest, DuplicateNamesNameBothPlaces) {
  EXPECT_EQ(Error("kind: Endpoint\nname: e\nmodel: m@p\n---\nkind: Endpoint\nname: e\nmodel: "
                  "m/2\n"),
            "e.yaml:5: endpoint e: defined twice (also at e.yaml:1): keep one");
  auto across = ParseEndpointFiles({{"a.yaml", "kind: Endpoint\nname: e\nmodel: m@p\n"},
                                    {"b.yaml", "\nkind: Endpoint\nname: e\nmodel: m@p\n"}});
  ASSERT_FALSE(across.ok());
  EXPECT_EQ(across.status().message(),
            "b.yaml:2: endpoint e: defined twice (also at a.yaml:1): keep one");
}

TEST(EndpointYamlTest, InvalidYamlIsAnError) {
  EXPECT_THAT(Error("kind: Endpoint\nname: [e\n"), HasSubstr("e.yaml:"));
  EXPECT_THAT(Error("- 1\n- 2\n"), HasSubstr("e.yaml:1: a definition must be a map"));
}

TEST(ModelRefTest, ParsesAndFormats) {
  auto alias = ParseModelRef("churn@production");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(*alias, (ModelRef{"churn", "production", 0}));
  auto version = ParseModelRef("team/churn/12");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, (ModelRef{"team/churn", "", 12}));
  EXPECT_EQ(ParseModelRef("churn").status().message(),
            "model reference 'churn' names no alias or version: write NAME@ALIAS (e.g. "
            "churn@production) or NAME/VERSION (e.g. churn/3)");
  EXPECT_FALSE(ParseModelRef("churn/3x").ok());
  EXPECT_FALSE(ParseModelRef("churn/-3").ok());
  EXPECT_FALSE(ParseModelRef("churn/99999999999999999999").ok());
  EXPECT_EQ(FormatModelRef("churn", "production", 0), "churn@production");
  EXPECT_EQ(FormatModelRef("churn", "", 3), "churn/3");
}

TEST(EndpointNameTest, Syntax) {
  EXPECT_TRUE(IsValidEndpointName("churn"));
  EXPECT_TRUE(IsValidEndpointName("churn-v2.eu_west"));
  EXPECT_FALSE(IsValidEndpointName(""));
  EXPECT_FALSE(IsValidEndpointName(".."));
  EXPECT_FALSE(IsValidEndpointName("a/b"));
  EXPECT_FALSE(IsValidEndpointName("a b"));
  EXPECT_TRUE(IsValidEndpointName(std::string(255, 'a')));
  EXPECT_FALSE(IsValidEndpointName(std::string(256, 'a')));
}

TEST(ValidateTest, RolloutSpecForApiAndPolicies) {
  RolloutSpec rollout;
  rollout.version = 4;
  EXPECT_TRUE(ValidateRolloutSpec(rollout, /*require_target=*/true).ok());
  // A policy's rollout names no target.
  EXPECT_EQ(ValidateRolloutSpec(rollout, /*require_target=*/false, "rollout").message(),
            "field 'rollout.version' is not allowed here: the candidate version is the one "
            "being checked");
  rollout.version = 0;
  EXPECT_TRUE(ValidateRolloutSpec(rollout, /*require_target=*/false).ok());
  rollout.percent = 150;
  absl::Status status = ValidateRolloutSpec(rollout, /*require_target=*/false, "body");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("field 'body.percent' must be in (0, 100]"));
  rollout.percent = 10;
  rollout.guard.drift_test = "nope";
  EXPECT_THAT(ValidateRolloutSpec(rollout, false).message(),
              HasSubstr("field 'rollout.guard.drift_test' is not a drift test"));
}

TEST(ValidateTest, EndpointSpecBuiltInCode) {
  EndpointSpec spec;
  spec.name = "e";
  spec.model = "churn";
  EXPECT_EQ(ValidateEndpointSpec(spec).message(),
            "endpoint e: field 'model' names no alias or version: write NAME@ALIAS "
            "(churn@production) or NAME/VERSION (churn/3)");
  spec.alias = "production";
  EXPECT_TRUE(ValidateEndpointSpec(spec).ok());
  spec.runtime = "java";
  EXPECT_THAT(ValidateEndpointSpec(spec).message(),
              HasSubstr("endpoint e: field 'runtime' is not a runtime (auto, xgboost, python)"));
}

}  // namespace
}  // namespace cairn::serving
