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
//   # reference: {profile: churn-train}                   # a stored profile (constraints),
//   # reference: {feature_view: customer_spend, from: 2024-01-01, to: 2024-02-01}
//   columns: [amount, country]                            # default: every shared column
//   categorical: [plan]                                   # read these as categories
//   tests:
//     default: ks                                         # default: Evidently's choice
//     threshold: 0.05                                     # for the default test
//     per_column: {country: {test: psi, threshold: 0.2}}
//   drift_share: 0.5                                      # data-set drift at this share
//   constraints: true                                     # check the reference profile's
//                                                         # constraints (inferred)
//   schedule: {cron: "0 * * * *"}                         # UTC, pipelines/cron.h
//   trigger: {on: source_ingested}                        # after new data of the view's source
//   severity: warning                                     # info | warning | critical
//   on_alert: {pipeline: churn-train, params: {reason: drift}, max_attempts: 2,
//              await_model: churn}
//   sinks: [{webhook: "https://hooks.example/x", secret: "${HOOK_SECRET}"}, {log: true}]

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "monitoring/alerts/alert_types.h"

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

// What the target is compared with. Exactly one of path / profile / feature_view.
// feature_view: rows with event time in [from_ms, to_ms) (0: unbounded on that side).
// profile: a stored profile; drift needs rows, so such a monitor checks constraints only.
struct MonitorReference {
  std::string path;
  std::string profile;
  std::string feature_view;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
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
  bool drift = true;         // false only for a profile reference (constraints only)
  bool constraints = false;  // check the reference's (inferred) constraints
  std::string cron;          // schedule.cron; empty: no schedule
  std::string trigger_on;    // trigger.on: "" | "source_ingested"
  Severity severity = Severity::kWarning;
  std::optional<RetrainAction> on_alert;
  std::vector<SinkSpec> sinks;
  // Where it was written (messages); not part of the content hash.
  std::string file;
  int line = 0;
  bool operator==(const MonitorSpec&) const = default;
};

}  // namespace cairn::monitoring
