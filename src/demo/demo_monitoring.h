#pragma once
// The demo's last chapter: the model in production meets traffic that drifts. Each
// simulated day's prediction requests (traffic.h) land in <data>/traffic/current.csv;
// the churn-inputs monitor (examples/churn/monitors, compiled in) compares them with the
// training data of the model in production (<data>/monitoring/churn-reference.csv); a
// drifted day opens an alert, whose retraining pipeline (churn-retrain) trains on the
// newest labeled traffic, promotes the new model and publishes its training data as the
// reference; the next day's monitor run then resolves the alert — or, when the drift
// stays or retraining fails, escalates it. Everything runs in this process on the stores
// of the data directory with the same services a server runs (monitor service, alert
// service, pipeline engine on a local executor, event bus), printed step by step.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "demo/demo_stores.h"

namespace cairn::demo {

struct MonitoringChapterOptions {
  std::string data_dir;         // absolute
  std::string step_binary;      // what the retraining steps run as `<binary> demo step …`
  std::string train_path;       // the production model's training data (dataset CSV)
  std::string validation_path;  // the customers production traffic is drawn from
  int64_t requests_per_day = 1500;
  int days = 3;                 // day 1 as in training, the shift from day 2 on
  uint64_t seed = 20240601;
  std::optional<double> cpus;   // the local executor's capacity; unset: the machine's
};

struct MonitoringDay {
  int day = 0;
  bool shifted = false;
  std::string monitor_run;
  bool drift = false;
  std::string summary;
  std::string alert_state;  // after the day: "" (none), "open", "resolved", …
  std::string alert_severity;
};

struct MonitoringChapterResult {
  std::vector<MonitoringDay> days;
  std::string alert_id;        // the alert the drift opened ("" when none)
  std::string alert_state;     // at the end
  std::string alert_severity;  // at the end
  std::vector<std::string> retrain_runs;
};

// Needs stores opened without the feature store. Errors from the stores, the monitor
// definition and the engine; a retraining run that fails is not an error (the alert
// escalates, and the chapter says so).
absl::StatusOr<MonitoringChapterResult> RunMonitoringChapter(DemoStores& stores,
                                                             const MonitoringChapterOptions& options,
                                                             std::ostream& out);

}  // namespace cairn::demo
