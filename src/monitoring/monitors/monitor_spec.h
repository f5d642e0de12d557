#pragma once
// A monitor as users write it (`kind: Monitor`, DESIGN.md §8): what data to watch (the
// target), what to compare it with (the reference), which tests, when to run, and what to
// do when it finds a problem. Parsed and validated by monitor_yaml.h; versioned by
// monitor_registry.h; run by monitor_runner.h; scheduled by monitor_service.h.
//
//   kind: Monitor
//   name: churn-inputs
//   description: …            owner: …            tags: {team: growth}
//   target: {feature_view: customer_spend, window: 1d}   # or rows: 10000 (the last N rows
//                                                         # by event time)
//   # target: {endpoint: churn, window: 1h}               # or a serving endpoint's logged
//                                                         # predictions (its inference log:
//                                                         # features, prediction, label)
//   # target: {path: traffic/current.csv}                 # or a CSV file on the server (a
//                                                         # file drop; relative paths: under
//                                                         # the server's data directory)
//   reference: {path: /data/train.csv}                    # a CSV file on the server, or
//   # reference: {profile: churn-train}                   # a stored profile: its constraints,
//                                                         # and drift against the rows kept
//                                                         # with its latest version
//   # reference: {feature_view: customer_spend, from: 2024-01-01, to: 2024-02-01}
//   # reference: {model: churn, alias: production}      # the training set of the model
//                                                         # version the alias names (or
//                                                         # version: 3), resolved each run
//   columns: [amount, country]                            # default: every shared column
//   categorical: [plan]                                   # read these as categories
//   tests:
//     default: ks                                         # default: Evidently's choice
//     threshold: 0.05                                     # for the default test
//     per_column: {country: {test: psi, threshold: 0.2}}
//   drift_share: 0.5                                      # data-set drift at this share
//   constraints: true                                     # check the reference profile's
//                                                         # constraints (inferred)
//   schedule: {cron: "0 * * * *", catchup: latest}        # UTC, pipelines/cron.h; after
//                                                         # downtime: none | latest | all
//                                                         # (pipelines/catchup.h)
//   trigger: {on: source_ingested}                        # after new data of the view's source
//   severity: warning                                     # info | warning | critical
//   on_alert: {pipeline: churn-train, params: {reason: drift}, max_attempts: 2,
//              await_model: churn,                        # wait for a new version of it,
//              await_alias: production}                   # or for this alias to move
//   sinks: [{webhook: "https://hooks.example/x", secret: "${HOOK_SECRET}"}, {log: true}]
//   quality:                                              # endpoint targets only: live model
//     min_labels: 100                                     # quality on the rows whose ground
//     threshold: 0.5                                      # truth was posted (labels)
//     metrics: [{metric: auc, min: 0.70}, {metric: logloss, max: 0.6}]
//     baseline: {metric: auc, value: 0.82, max_drop: 0.05}   # or model_metric: val_auc

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "monitoring/alerts/alert_types.h"
#include "pipelines/catchup.h"

namespace cairn::monitoring {

// The data a run checks. Exactly one of feature_view / path / endpoint. For a view (or an
// endpoint), the window: window_ms > 0 — rows whose event time (prediction time) lies in
// (now - window_ms, now]; rows > 0 — the last `rows` rows by that time; both 0 — every
// row. A path is read whole at each run (no window).
struct MonitorTarget {
  std::string feature_view;
  std::string path;
  std::string endpoint;  // a serving endpoint: its inference log (MonitorIo::read_endpoint)
  int64_t window_ms = 0;
  int64_t rows = 0;
  bool operator==(const MonitorTarget&) const = default;
};

// What the target is compared with. Exactly one of path / profile / feature_view / model.
// feature_view: rows with event time in [from_ms, to_ms) (0: unbounded on that side).
// profile: a stored profile — its constraints, and drift against the reference rows kept
// with its latest version (MonitorIo::read_profile_rows); a version stored without rows
// (made from a profile alone, or before rows were kept) checks constraints only and the
// run's message says so.
// model: the registered model whose version `model_alias` names (or `model_version`;
// exactly one of the two) — its source run's training-set input (a Cairn training-set
// snapshot logged with log-inputs) is read at each run (MonitorIo::read_model_reference),
// so a promotion changes the reference.
struct MonitorReference {
  std::string path;
  std::string profile;
  std::string feature_view;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  std::string model;
  std::string model_alias;
  int64_t model_version = 0;
  bool operator==(const MonitorReference&) const = default;
};

struct ColumnTestSpec {
  std::string test;                 // a name from stats::StatTests(); empty: the default
  std::optional<double> threshold;  // empty: the test's default
  bool operator==(const ColumnTestSpec&) const = default;
};

struct MonitorTests {
  std::string default_test;         // empty: Evidently's per-column choice
  std::optional<double> threshold;  // for every column without its own
  std::map<std::string, ColumnTestSpec> per_column;
  bool operator==(const MonitorTests&) const = default;
};

// One absolute bound on a live quality metric (stats/quality_metrics.h names): the metric
// on the window's labelled rows must be >= min and <= max (at least one is set).
struct QualityBound {
  std::string metric;
  std::optional<double> min;
  std::optional<double> max;
  bool operator==(const QualityBound&) const = default;
};

// A comparison with the model's quality when it was trained: the live `metric` may be worse
// than the baseline by at most `max_drop` (absolute; "worse" is lower for auc, accuracy,
// precision, recall, f1, r2 and higher for logloss, brier, rmse, mae). The baseline is a
// fixed `value`, or `model_metric`: a metric logged on the training run of the model
// version the endpoint serves (MonitorIo::model_metric; exactly one of the two).
struct QualityBaseline {
  std::string metric;
  std::optional<double> value;
  std::string model_metric;
  double max_drop = 0;
  bool operator==(const QualityBaseline&) const = default;
};

// Live quality (issue 6 item 3): metrics on (label, prediction) of the target window's
// rows with a posted label. Fewer than min_labels such rows: the check is "insufficient
// labels" (reported, no alert).
struct MonitorQuality {
  int64_t min_labels = 100;
  double threshold = 0.5;  // a prediction >= threshold counts as positive (accuracy, f1, …)
  std::vector<QualityBound> metrics;
  std::vector<QualityBaseline> baselines;
  bool operator==(const MonitorQuality&) const = default;
};

struct MonitorSpec {
  std::string name;
  std::string description;
  std::string owner;
  std::map<std::string, std::string> tags;
  MonitorTarget target;
  MonitorReference reference;
  std::vector<std::string> columns;      // empty: every column both sides have
  std::vector<std::string> categorical;  // columns read as categories
  MonitorTests tests;
  double drift_share = 0.5;
  bool drift = true;         // false for a quality monitor without a reference (or when
                             // the YAML says drift: false)
  bool constraints = false;  // check the reference's (inferred) constraints
  std::string cron;          // schedule.cron; empty: no schedule
  pipelines::Catchup catchup = pipelines::Catchup::kLatest;  // schedule.catchup
  std::string trigger_on;    // trigger.on: "" | "source_ingested"
  Severity severity = Severity::kWarning;
  std::optional<RetrainAction> on_alert;
  std::vector<SinkSpec> sinks;
  std::optional<MonitorQuality> quality;  // endpoint targets only
  // Where it was written (messages); not part of the content hash.
  std::string file;
  int line = 0;
  bool operator==(const MonitorSpec&) const = default;
};

}  // namespace cairn::monitoring
