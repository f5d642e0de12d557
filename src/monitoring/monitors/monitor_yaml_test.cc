#include "monitoring/monitors/monitor_yaml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/monitors/monitor_registry.h"

namespace cairn::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kFull[] = R"yaml(kind: Entity
name: customer
join_keys: [customer_id]
---
kind: Monitor
name: churn-inputs
description: inputs of the churn model
owner: growth-ml
tags: {team: growth}
target: {feature_view: customer_spend, window: 1d}
reference: {path: /data/train.csv}
columns: [amount, plan]
categorical: [plan]
tests:
  default: ks
  threshold: 0.01
  per_column:
    plan: {test: psi, threshold: 0.2}
    amount: wasserstein
drift_share: 0.3
constraints: true
schedule: {cron: "0 * * * *"}
trigger: {on: source_ingested}
severity: critical
on_alert: {pipeline: churn-train, params: {reason: drift}, max_attempts: 3, await_model: churn,
           await_alias: production}
sinks:
  - {webhook: "http://127.0.0.1:9/hook", secret: "${HOOK_SECRET}"}
  - {log: true}
)yaml";

absl::Status ParseError(const std::string& text) {
  auto parsed = ParseMonitorsYaml(text, "m.yaml");
  return parsed.ok() ? absl::OkStatus() : parsed.status();
}

std::string Minimal(const std::string& extra) {
  return "kind: Monitor\nname: m\ntarget: {feature_view: v, rows: 100}\nreference: {path: "
         "r.csv}\n" +
         extra;
}

TEST(MonitorYamlTest, ParsesEveryField) {
  auto parsed = ParseMonitorsYaml(kFull, "monitors.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);  // the Entity is skipped
  const MonitorSpec& m = (*parsed)[0];
  EXPECT_EQ(m.name, "churn-inputs");
  EXPECT_EQ(m.file, "monitors.yaml");
  EXPECT_EQ(m.line, 5);
  EXPECT_EQ(m.owner, "growth-ml");
  EXPECT_EQ(m.tags.at("team"), "growth");
  EXPECT_EQ(m.target.feature_view, "customer_spend");
  EXPECT_EQ(m.target.window_ms, 86'400'000);
  EXPECT_EQ(m.target.rows, 0);
  EXPECT_EQ(m.reference.path, "/data/train.csv");
  EXPECT_THAT(m.columns, ElementsAre("amount", "plan"));
  EXPECT_THAT(m.categorical, ElementsAre("plan"));
  EXPECT_EQ(m.tests.default_test, "ks");
  EXPECT_EQ(m.tests.threshold, 0.01);
  EXPECT_EQ(m.tests.per_column.at("plan").test, "psi");
  EXPECT_EQ(m.tests.per_column.at("plan").threshold, 0.2);
  EXPECT_EQ(m.tests.per_column.at("amount").test, "wasserstein");
  EXPECT_FALSE(m.tests.per_column.at("amount").threshold.has_value());
  EXPECT_EQ(m.drift_share, 0.3);
  EXPECT_TRUE(m.drift);
  EXPECT_TRUE(m.constraints);
  EXPECT_EQ(m.cron, "0 * * * *");
  EXPECT_EQ(m.trigger_on, "source_ingested");
  EXPECT_EQ(m.severity, Severity::kCritical);
  ASSERT_TRUE(m.on_alert.has_value());
  EXPECT_EQ(m.on_alert->pipeline, "churn-train");
  EXPECT_EQ(m.on_alert->params.at("reason"), "drift");
  EXPECT_EQ(m.on_alert->max_attempts, 3);
  EXPECT_EQ(m.on_alert->await_model, "churn");
  EXPECT_EQ(m.on_alert->await_alias, "production");
  ASSERT_EQ(m.sinks.size(), 2u);
  EXPECT_EQ(m.sinks[0].kind, "webhook");
  EXPECT_EQ(m.sinks[0].url, "http://127.0.0.1:9/hook");
  EXPECT_EQ(m.sinks[0].secret, "${HOOK_SECRET}");
  EXPECT_EQ(m.sinks[1].kind, "log");
}

TEST(MonitorYamlTest, DefaultsOfAMinimalMonitor) {
  auto parsed = ParseMonitorsYaml(Minimal(""), "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const MonitorSpec& m = (*parsed)[0];
  EXPECT_EQ(m.target.rows, 100);
  EXPECT_EQ(m.drift_share, 0.5);
  EXPECT_TRUE(m.drift);
  EXPECT_FALSE(m.constraints);
  EXPECT_EQ(m.severity, Severity::kWarning);
  EXPECT_FALSE(m.on_alert.has_value());
  EXPECT_TRUE(m.tests.default_test.empty());
  EXPECT_TRUE(m.cron.empty());
}

TEST(MonitorYamlTest, ProfileReferenceChecksConstraintsAndDriftOnItsStoredRows) {
  auto parsed = ParseMonitorsYaml(
      "kind: Monitor\nname: q\ntarget: {feature_view: v}\nreference: {profile: train}\n",
      "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE((*parsed)[0].drift);
  EXPECT_TRUE((*parsed)[0].constraints);
  auto constraints_only = ParseMonitorsYaml(
      "kind: Monitor\nname: q\ntarget: {feature_view: v}\nreference: {profile: train}\n"
      "drift: false\n",
      "m.yaml");
  ASSERT_TRUE(constraints_only.ok()) << constraints_only.status();
  EXPECT_FALSE((*constraints_only)[0].drift);
  EXPECT_TRUE((*constraints_only)[0].constraints);
}

TEST(MonitorYamlTest, ModelReferenceNamesAnAliasOrAVersion) {
  auto parsed = ParseMonitorsYaml(
      "kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
      "reference: {model: churn, alias: production}\n---\n"
      "kind: Monitor\nname: r\ntarget: {feature_view: v}\nreference: {model: churn, version: 3}\n",
      "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].reference.model, "churn");
  EXPECT_EQ((*parsed)[0].reference.model_alias, "production");
  EXPECT_TRUE((*parsed)[0].drift);
  EXPECT_FALSE((*parsed)[0].constraints);
  EXPECT_EQ((*parsed)[1].reference.model_version, 3);
  // The canonical JSON keeps them (and monitors without a model keep their old hash).
  auto back = MonitorSpecFromJson(MonitorSpecToJson((*parsed)[0]));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->reference, (*parsed)[0].reference);
  auto plain = ParseMonitorsYaml(
      "kind: Monitor\nname: q\ntarget: {feature_view: v}\nreference: {path: r.csv}\n", "m.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(MonitorSpecToJson((*plain)[0]).at("reference").contains("model"));

  EXPECT_THAT(ParseError("kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
                         "reference: {model: churn}\n")
                  .message(),
              HasSubstr("field 'reference.model': value 'churn' needs alias: NAME (e.g. alias: "
                        "production) or version: N"));
  EXPECT_THAT(ParseError("kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
                         "reference: {model: churn, alias: production, version: 2}\n")
                  .message(),
              HasSubstr("takes alias or version, not both"));
  EXPECT_THAT(ParseError("kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
                         "reference: {path: r.csv, alias: production}\n")
                  .message(),
              HasSubstr("applies to a model reference only"));
  EXPECT_THAT(ParseError("kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
                         "reference: {model: churn, profile: p, alias: production}\n")
                  .message(),
              HasSubstr("more than one of path, profile, feature_view and model"));
}

TEST(MonitorYamlTest, PathTargetIsAFileReadWhole) {
  auto parsed = ParseMonitorsYaml(
      "kind: Monitor\nname: q\ntarget: {path: traffic/current.csv}\n"
      "reference: {path: ref.csv}\n",
      "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].target.path, "traffic/current.csv");
  EXPECT_TRUE((*parsed)[0].target.feature_view.empty());
  absl::Status both = ParseError(
      "kind: Monitor\nname: q\ntarget: {feature_view: v, path: a.csv}\n"
      "reference: {path: ref.csv}\n");
  EXPECT_THAT(both.message(),
              HasSubstr("field 'target.path': value 'a.csv' conflicts with "
                        "'target.feature_view': a monitor watches one target"));
  absl::Status window = ParseError(
      "kind: Monitor\nname: q\ntarget: {path: a.csv, window: 1d}\nreference: {path: r.csv}\n");
  EXPECT_THAT(window.message(), HasSubstr("field 'target.window'"));
  EXPECT_THAT(window.message(), HasSubstr("read whole at each run"));
  absl::Status none = ParseError(
      "kind: Monitor\nname: q\ntarget: {window: 1d}\nreference: {path: r.csv}\n");
  EXPECT_THAT(none.message(), HasSubstr("needs feature_view: VIEW (or path: FILE.csv"));
}

TEST(MonitorYamlTest, FeatureViewReferenceTakesATimeRange) {
  auto parsed = ParseMonitorsYaml(
      "kind: Monitor\nname: q\ntarget: {feature_view: v, window: 1h}\n"
      "reference: {feature_view: v, from: 2024-01-01, to: \"2024-02-01T00:00:00Z\"}\n",
      "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].reference.from_ms, 1704067200000);
  EXPECT_EQ((*parsed)[0].reference.to_ms, 1706745600000);
  EXPECT_THAT(ParseError("kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
                         "reference: {feature_view: v, from: 2024-02-01, to: 2024-01-01}\n")
                  .message(),
              HasSubstr("field 'reference.to': value '2024-01-01' must be after reference.from"));
  EXPECT_THAT(ParseError("kind: Monitor\nname: q\ntarget: {feature_view: v}\n"
                         "reference: {path: r.csv, from: 2024-02-01}\n")
                  .message(),
              HasSubstr("applies to a feature_view reference only"));
}

struct ErrorCase {
  std::string extra;     // appended to Minimal() unless `whole` is set
  std::string expected;  // a substring of the message
  bool whole = false;
};

TEST(MonitorYamlTest, ErrorsNameFileLineFieldAndValue) {
  const std::vector<ErrorCase> cases = {
      {"sevrity: info\n",
       "m.yaml:5: monitor m: unknown field 'sevrity' (value 'info'); did you "
       "mean 'severity'?"},
      {"severity: urgent\n",
       "m.yaml:5: monitor m: field 'severity': value 'urgent' is not a severity (info, warning, "
       "critical)"},
      {"tests: {default: kss}\n", "field 'tests.default': value 'kss' is not a drift test"},
      {"tests: {default: kss}\n", "did you mean 'ks'?"},
      {"tests: {per_column: {a: {test: psi, treshold: 2}}}\n",
       "unknown field 'tests.per_column.a.treshold' (value '2'); did you mean 'threshold'?"},
      {"tests: {threshold: -1}\n", "field 'tests.threshold': value '-1' must not be negative"},
      {"drift_share: 1.5\n", "field 'drift_share': value '1.5' must be in (0, 1]"},
      {"schedule: {cron: \"0 25 * * *\"}\n",
       "field 'schedule.cron': value '0 25 * * *' is not valid: cron '0 25 * * *': field "
       "'hour': 25 is out of range 0-23"},
      {"schedule: {cron: \"0 * * * *\", catchup: lates}\n",
       "field 'schedule.catchup': value 'lates' is not a catch-up policy: use none, latest or "
       "all; did you mean 'latest'?"},
      {"schedule: {cron: \"0 * * * *\", catchup: [all]}\n",
       "field 'schedule.catchup': value a list of 1 is not a catch-up policy: use none, latest "
       "or all"},
      {"trigger: {on: source_ingestd}\n",
       "field 'trigger.on': value 'source_ingestd' is not an event a monitor can follow "
       "(source_ingested); did you mean 'source_ingested'?"},
      {"on_alert: {params: {a: b}}\n", "missing field 'on_alert.pipeline': it is required"},
      {"on_alert: {pipeline: p, max_attempts: 0}\n",
       "field 'on_alert.max_attempts': value '0' must be at least 1"},
      {"on_alert: {pipeline: p, await_alias: production}\n",
       "field 'on_alert.await_alias': value 'production' needs on_alert.await_model"},
      {"sinks: [{webhook: ftp://x}]\n",
       "field 'sinks[0].webhook': value 'ftp://x' is not an http:// or https:// URL"},
      {"sinks: [{log: false}]\n", "field 'sinks[0]' needs webhook: URL"},
      {"columns: [a, a]\n", "field 'columns[1]': value 'a' is listed twice"},
      {"drift: false\n", "checks nothing: drift and constraints are both false"},
      {"kind: Monitr\nname: m\n",
       "m.yaml:1: definition: field 'kind': value 'Monitr' is not a "
       "kind",
       true},
      {"kind: Monitor\nname: 9m\ntarget: {feature_view: v}\nreference: {path: r}\n",
       "field 'name': value '9m' is not a valid name", true},
      {"kind: Monitor\nname: m\nreference: {path: r}\n", "missing field 'target'", true},
      {"kind: Monitor\nname: m\ntarget: {feature_view: v, window: 1d, rows: 5}\n"
       "reference: {path: r}\n",
       "field 'target.rows': value '5' conflicts with 'target.window'", true},
      {"kind: Monitor\nname: m\ntarget: {feature_view: v, window: 1x}\nreference: {path: r}\n",
       "field 'target.window': value '1x' is not a positive duration", true},
      {"kind: Monitor\nname: m\ntarget: {feature_view: v}\nreference: {path: r, profile: p}\n",
       "m.yaml:4: monitor m: field 'reference' names more than one of path, profile, "
       "feature_view and model",
       true},
      {"kind: Monitor\nname: m\ntarget: {feature_view: v}\n",
       "m.yaml:1: monitor m: missing field 'reference'", true},
  };
  for (const ErrorCase& c : cases) {
    const std::string text = c.whole ? c.extra : Minimal(c.extra);
    absl::Status status = ParseError(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.expected)) << text;
  }
}

TEST(MonitorYamlTest, InvalidYamlIsAnErrorNamingTheFile) {
  absl::Status status = ParseError("kind: Monitor\nname: [unclosed\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("m.yaml:"));
}

TEST(MonitorYamlTest, TwoMonitorsWithOneNameAcrossFilesAreRefused) {
  auto parsed = ParseMonitorFiles({{"a.yaml", Minimal("")}, {"b.yaml", Minimal("")}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(),
              HasSubstr("b.yaml:1: monitor m: defined twice (also at a.yaml:1)"));
}

TEST(MonitorYamlTest, CanonicalJsonRoundTripsEveryField) {
  auto parsed = ParseMonitorsYaml(kFull, "monitors.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const MonitorSpec& spec = (*parsed)[0];
  auto back = MonitorSpecFromJson(MonitorSpecToJson(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  MonitorSpec expected = spec;
  expected.file.clear();
  expected.line = 0;
  EXPECT_EQ(*back, expected);
  EXPECT_EQ(MonitorSpecToJson(*back), MonitorSpecToJson(spec));
}

constexpr char kQuality[] = R"yaml(kind: Monitor
name: churn-quality
target: {endpoint: churn, window: 1h}
quality:
  min_labels: 50
  threshold: 0.4
  metrics: [{metric: auc, min: 0.70}, {metric: logloss, max: 0.6}]
  baseline: {model_metric: auc, max_drop: 0.05}
on_alert: {pipeline: churn-train}
)yaml";

std::string QualityMonitor(const std::string& quality, const std::string& extra = "") {
  return "kind: Monitor\nname: q\ntarget: {endpoint: churn, window: 1h}\nquality: " + quality +
         "\n" + extra;
}

TEST(MonitorYamlTest, QualityOnAnEndpointTargetNeedsNoReferenceAndChecksNoDrift) {
  auto parsed = ParseMonitorsYaml(kQuality, "q.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const MonitorSpec& m = (*parsed)[0];
  ASSERT_TRUE(m.quality.has_value());
  EXPECT_EQ(m.quality->min_labels, 50);
  EXPECT_DOUBLE_EQ(m.quality->threshold, 0.4);
  ASSERT_EQ(m.quality->metrics.size(), 2u);
  EXPECT_EQ(m.quality->metrics[0], (QualityBound{.metric = "auc", .min = 0.7}));
  EXPECT_EQ(m.quality->metrics[1], (QualityBound{.metric = "logloss", .max = 0.6}));
  // {model_metric: auc}: the live auc against the auc logged on the training run.
  ASSERT_EQ(m.quality->baselines.size(), 1u);
  EXPECT_EQ(m.quality->baselines[0],
            (QualityBaseline{.metric = "auc", .model_metric = "auc", .max_drop = 0.05}));
  EXPECT_FALSE(m.drift);  // no reference: quality only
  EXPECT_FALSE(m.constraints);
  EXPECT_EQ(m.reference, MonitorReference());

  // Defaults; a list of baselines; drift stays on when a reference is given.
  parsed = ParseMonitorsYaml(
      QualityMonitor("{metrics: [{metric: rmse, max: 3}], baseline: [{metric: f1, value: 0.8}, "
                     "{metric: r2, model_metric: val_r2, max_drop: 0.1}]}",
                     "reference: {path: train.csv}\n"),
      "q.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].quality->min_labels, 100);
  EXPECT_DOUBLE_EQ((*parsed)[0].quality->threshold, 0.5);
  ASSERT_EQ((*parsed)[0].quality->baselines.size(), 2u);
  EXPECT_EQ((*parsed)[0].quality->baselines[1].model_metric, "val_r2");
  EXPECT_TRUE((*parsed)[0].drift);

  // Canonical JSON round trip.
  auto back = MonitorSpecFromJson(MonitorSpecToJson((*parsed)[0]));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->quality, (*parsed)[0].quality);
}

TEST(MonitorYamlTest, QualityErrorsNameFileLineFieldAndFix) {
  auto error = [](const std::string& text) { return std::string(ParseError(text).message()); };
  EXPECT_THAT(error(QualityMonitor("{min_lables: 10, metrics: [{metric: auc, min: 0.7}]}")),
              HasSubstr("m.yaml:4: monitor q: unknown field 'quality.min_lables' (value '10'); "
                        "did you mean 'min_labels'?"));
  EXPECT_THAT(error(QualityMonitor("{metrics: [{metric: acu, min: 0.7}]}")),
              HasSubstr("m.yaml:4: monitor q: field 'quality.metrics[0].metric': value 'acu' "
                        "is not a quality metric (auc, logloss, accuracy, precision, recall, "
                        "f1, brier, rmse, mae, r2); did you mean 'auc'?"));
  EXPECT_THAT(error(QualityMonitor("{metrics: [{metric: auc, maxx: 0.7}]}")),
              HasSubstr("unknown field 'quality.metrics[0].maxx' (value '0.7'); did you mean "
                        "'max'?"));
  EXPECT_THAT(error(QualityMonitor("{metrics: [{metric: auc}]}")),
              HasSubstr("field 'quality.metrics[0]': value a map of 1 keys sets no bound: give "
                        "min: X and/or max: Y for auc"));
  EXPECT_THAT(error(QualityMonitor("{metrics: [{metric: auc, min: 0.9, max: 0.8}]}")),
              HasSubstr("field 'quality.metrics[0].max': value '0.8' must not be below min "
                        "(0.9)"));
  EXPECT_THAT(error(QualityMonitor("{min_labels: 0, metrics: [{metric: auc, min: 0.7}]}")),
              HasSubstr("field 'quality.min_labels': value '0' must be at least 1"));
  EXPECT_THAT(error(QualityMonitor("{min_labels: 10}")),
              HasSubstr("field 'quality': value a map of 1 keys checks nothing: add metrics:"));
  EXPECT_THAT(error(QualityMonitor("{baseline: {metric: auc, max_drop: 0.1}}")),
              HasSubstr("field 'quality.baseline' needs exactly one of value: X"));
  EXPECT_THAT(error(QualityMonitor("{baseline: {model_metric: val_auc}}")),
              HasSubstr("missing field 'quality.baseline.metric': name the live metric"));
  EXPECT_THAT(error(QualityMonitor("{baseline: {metric: auc, value: 0.8, max_drop: -1}}")),
              HasSubstr("field 'quality.baseline.max_drop': value '-1' must not be negative"));
  EXPECT_THAT(error(QualityMonitor("{metrics: [{metric: auc, min: 0.7}]}", "drift: true\n")),
              HasSubstr("m.yaml:5: monitor q: field 'drift': value 'true' needs reference rows: "
                        "add reference: {path: train.csv}"));
  EXPECT_THAT(error(QualityMonitor("[auc]")),
              HasSubstr("field 'quality': value a list of 1 must be a map, like {min_labels:"));
  // Quality reads the labels posted to an endpoint: other targets are refused.
  EXPECT_THAT(error("kind: Monitor\nname: q\ntarget: {feature_view: v, window: 1h}\n"
                    "quality: {metrics: [{metric: auc, min: 0.7}]}\n"),
              HasSubstr("m.yaml:4: monitor q: field 'quality': value a map of 1 keys needs an "
                        "endpoint target (target: {endpoint: NAME, window: 1h})"));
  // Without quality, a reference is still required.
  EXPECT_THAT(error("kind: Monitor\nname: q\ntarget: {endpoint: churn, window: 1h}\n"),
              HasSubstr("missing field 'reference'"));
}

}  // namespace
}  // namespace cairn::monitoring
