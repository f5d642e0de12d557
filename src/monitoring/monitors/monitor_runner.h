#pragma once
// One run of a monitor: loads the target (a feature view's rows in the window, a CSV file,
// or a serving endpoint's logged predictions in the window) and the
// reference (a CSV file, the rows kept with a stored profile, or a feature view's rows in
// [from, to)) into DataFrames, computes drift (drift.h ComputeDrift with the monitor's tests), with
// `constraints: true` checks the reference's constraints (profiles' CheckConstraints), and
// with `quality:` (endpoint targets) computes live quality metrics on the window's rows
// that have a posted label (stats/quality_metrics.h on (label, prediction)) and checks
// their bounds and baselines. It stores the run in table monitor_runs (migrations
// component "monitoring_monitors"; the full JSON result and the HTML report as text),
// then hands one MonitorOutcome per kind ("drift", "constraints", "quality") to
// `on_outcome` (the alert service's OnMonitorRun). A run that cannot read its data is
// stored as failed with the reason and hands nothing over.
//
// Live quality: fewer than quality.min_labels labelled rows → result.quality.status
// "insufficient_labels", reported in the message, no outcome (an open quality alert stays
// as it is). A metric that cannot be computed on these rows (a classification metric on
// labels that are not all 0/1, auc with one class, a model_metric baseline that cannot be
// looked up) → that check's status "unavailable" with the reason, never an alert. Any
// bound or baseline crossed → status "failed", run.quality_failed, and a "quality" outcome
// with problem = true whose details list each violation (metric, value, bound, labelled
// rows); otherwise an outcome with problem = false (which resolves an open quality alert).
//
// Everything the runner reads but does not own comes through MonitorIo, so tests run
// with fakes and without the feature store, the profile store or the alert service.
// Thread-safe: runs of different monitors may proceed concurrently.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/json.h"
#include "monitoring/alerts/alert_types.h"
#include "monitoring/data_frame.h"
#include "monitoring/drift.h"
#include "monitoring/monitors/monitor_registry.h"
#include "monitoring/monitors/monitor_spec.h"

namespace cairn::storage {
class Database;
}  // namespace cairn::storage

namespace cairn::monitoring {

// Rows of a feature view: event time in [from_ms, to_ms) (0: unbounded on that side),
// then, when last_rows > 0, only the last `last_rows` by event time. The frame holds the
// view's feature columns (entity keys and timestamps left out); `categorical` names
// columns to read as categories.
struct ViewReadRequest {
  std::string view;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  int64_t last_rows = 0;
  std::vector<std::string> categorical;
};

// Logged predictions of a serving endpoint (serving's inference log): rows with
// prediction time in [from_ms, to_ms) (0: unbounded on that side), then, when
// last_rows > 0, only the newest `last_rows`. The frame holds the logged feature values,
// "prediction", and "label" where ground truth was posted; `categorical` names columns to
// read as categories.
struct EndpointReadRequest {
  std::string endpoint;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  int64_t last_rows = 0;
  std::vector<std::string> categorical;
};

// A metric logged on the training run of the model version an endpoint serves now (a
// quality.baseline.model_metric), and where it came from ("model churn v3, run 1f2e…").
struct ModelMetricValue {
  double value = 0;
  std::string source;
};

// Reference rows kept elsewhere (a stored profile's rows, a model's training set): the
// frame, or none when there is nothing stored to test drift against, and a JSON object
// saying what was read (stored in the run's result.reference, e.g. {"profile_version": 3}).
struct StoredReference {
  std::optional<DataFrame> frame;
  std::string missing;  // frame empty: why (the run's message says it)
  Json source = Json::object();
};

// The seams. Unset members make the monitors that need them fail with FailedPrecondition
// naming what is missing (they never crash).
struct MonitorIo {
  std::function<absl::StatusOr<DataFrame>(const ViewReadRequest&)> read_view;
  // An endpoint's logged predictions (the server wires serving::InferenceLog::ReadFrame;
  // monitoring does not depend on serving).
  std::function<absl::StatusOr<DataFrame>(const EndpointReadRequest&)> read_endpoint;
  // The source a view reads (trigger on source_ingested).
  std::function<absl::StatusOr<std::string>(const std::string& view)> source_of_view;
  // A CSV file on the server → a frame (`categorical` forced to categories).
  std::function<absl::StatusOr<DataFrame>(const std::string& path,
                                          const std::vector<std::string>& categorical)>
      read_csv;
  // reference.profile with drift: the rows kept with the profile's latest version, with
  // the columns named in `categorical` read as categories (ProfileStore::GetRows); no
  // frame when that version has none (the run then checks constraints only).
  std::function<absl::StatusOr<StoredReference>(const std::string& profile,
                                                const std::vector<std::string>& categorical)>
      read_profile_rows;
  // reference.model: the rows of the training set the model version (`ref.model_alias` or
  // `ref.model_version`) was trained on — its source run's log-inputs dataset naming a
  // Cairn training-set snapshot — with `categorical` columns read as categories. The
  // source names what was read: {"model", "model_version", "run_id", "training_set"}.
  // Errors name what is missing (no such alias, no training-set input, snapshot gone).
  std::function<absl::StatusOr<StoredReference>(const MonitorReference& ref,
                                                const std::vector<std::string>& categorical)>
      read_model_reference;
  // The constraints check of a run: reference.profile names a stored profile whose
  // constraints apply; otherwise they are inferred from `reference` (not null then).
  // Returns {"violations": [{"feature_name", "constraint_check_type", "description"}], …}
  // (constraints.h ViolationsToJson); no violations: an empty array.
  std::function<absl::StatusOr<Json>(const MonitorReference& ref, const DataFrame* reference,
                                     const DataFrame& current)>
      check_constraints;
  // The self-contained HTML report of a drift result (empty function: no report stored).
  std::function<std::string(const DriftReport& report, const std::string& title)> render_html;
  // quality.baseline.model_metric: `metric` of the training run of the model version that
  // `endpoint` serves (the server wires serving + tracking). Unset or an error: that
  // baseline check is reported "unavailable" with the reason.
  std::function<absl::StatusOr<ModelMetricValue>(const std::string& endpoint,
                                                 const std::string& metric)>
      model_metric;
  // Receives each outcome (AlertService::OnMonitorRun). May be empty.
  std::function<void(const MonitorOutcome&)> on_outcome;
};

struct MonitorRun {
  std::string id;
  std::string monitor;
  int64_t monitor_version = 0;
  std::string trigger;         // "manual" | "schedule" | "source_ingested"
  std::string trigger_detail;  // the fire time (ISO-8601) or the ingested source
  std::string state;           // "succeeded" | "failed"
  std::string message;         // the summary, or why the run failed
  bool drift_found = false;
  bool constraints_violated = false;
  bool quality_failed = false;  // result.quality.status == "failed" (not a DB column)
  int64_t window_from_ms = 0;  // the target window as run: event times in [from, to]
                               // (from 0: the last target.rows rows, or all)
  int64_t window_to_ms = 0;
  int64_t target_rows = 0;
  int64_t reference_rows = 0;
  Json result;                 // {"drift": DriftReportToJson or null, "constraints": … or null,
                               //  "quality": {"status", "labelled_rows", "values", "checks",
                               //  "violations", …} or null}
  bool has_report = false;     // an HTML report is stored
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
};

// {"id", "monitor", "monitor_version", "trigger", "trigger_detail", "state", "message",
// "drift_found", "constraints_violated", "quality_failed", "window_from_ms", "window_to_ms", "target_rows",
// "reference_rows", "has_report", "started_ms", "ended_ms"} plus "result" when
// `with_result`.
Json MonitorRunToJson(const MonitorRun& run, bool with_result);

class MonitorRunner {
 public:
  // Applies the migrations. `db` and `clock` outlive the runner.
  static absl::StatusOr<std::unique_ptr<MonitorRunner>> Open(storage::Database& db,
                                                             Clock& clock, MonitorIo io);
  ~MonitorRunner();

  // Runs `monitor` now and stores the run. Returns the stored run — also when the run
  // failed (state "failed", message saying why); an error only when it could not be
  // stored.
  absl::StatusOr<MonitorRun> Run(const MonitorVersion& monitor, std::string_view trigger,
                                 std::string_view trigger_detail = "");

  // NotFound names the run.
  absl::StatusOr<MonitorRun> GetRun(std::string_view run_id);
  // The runs of one monitor, newest first, at most `limit`.
  absl::StatusOr<std::vector<MonitorRun>> ListRuns(std::string_view monitor, int limit = 100);
  // The run's HTML report; NotFound when the run or its report does not exist.
  absl::StatusOr<std::string> Report(std::string_view run_id);

 private:
  MonitorRunner(storage::Database& db, Clock& clock, MonitorIo io);
  storage::Database& db_;
  Clock& clock_;
  MonitorIo io_;
};

}  // namespace cairn::monitoring
