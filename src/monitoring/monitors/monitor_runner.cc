#include "monitoring/monitors/monitor_runner.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/timestamp.h"
#include "monitoring/stats/quality_metrics.h"
#include "storage/database.h"

namespace cairn::monitoring {
namespace {

using storage::SqlRowView;
using storage::SqlSession;
using storage::SqlValue;

constexpr char kRunColumns[] =
    "id, monitor, monitor_version, trigger_kind, trigger_detail, state, message, drift_found, "
    "constraints_violated, window_from_ms, window_to_ms, target_rows, reference_rows, result, "
    "report IS NOT NULL, started_ms, ended_ms";

// The same status with `where` in front of its message ("reference.path 'x.csv': …").
absl::Status Annotate(const absl::Status& status, std::string_view where) {
  return absl::Status(status.code(), absl::StrCat(ToAbsl(where), ": ", status.message()));
}

MonitorRun ReadRun(const SqlRowView& row) {
  MonitorRun run;
  run.id = std::string(row.Text(0));
  run.monitor = std::string(row.Text(1));
  run.monitor_version = row.Int(2);
  run.trigger = std::string(row.Text(3));
  run.trigger_detail = std::string(row.Text(4));
  run.state = std::string(row.Text(5));
  run.message = std::string(row.Text(6));
  run.drift_found = row.Int(7) != 0;
  run.constraints_violated = row.Int(8) != 0;
  run.window_from_ms = row.Int(9);
  run.window_to_ms = row.Int(10);
  run.target_rows = row.Int(11);
  run.reference_rows = row.Int(12);
  absl::StatusOr<Json> result = ParseJson(row.Text(13));
  run.result = result.ok() ? std::move(*result) : Json(nullptr);
  run.quality_failed = run.result.is_object() && run.result.contains("quality") &&
                       run.result["quality"].is_object() &&
                       run.result["quality"].value("status", "") == "failed";
  run.has_report = row.Int(14) != 0;
  run.started_ms = row.Int(15);
  run.ended_ms = row.Int(16);
  return run;
}

DriftOptions ToDriftOptions(const MonitorSpec& spec) {
  DriftOptions options;
  options.columns = spec.columns;
  if (!spec.tests.default_test.empty()) options.test = spec.tests.default_test;
  options.threshold = spec.tests.threshold;
  for (const auto& [column, test] : spec.tests.per_column) {
    ColumnTestOverride override_test;
    if (!test.test.empty()) override_test.test = test.test;
    override_test.threshold = test.threshold;
    options.per_column[column] = std::move(override_test);
  }
  options.drift_share = spec.drift_share;
  return options;
}

std::string FormatShare(double share) {
  // Two decimals are enough for a one-line summary; the JSON keeps the exact value.
  return absl::StrFormat("%.2f", share);
}

std::string DriftSummary(const DriftReport& report) {
  std::vector<std::string> drifted;
  for (const ColumnDrift& column : report.columns) {
    if (!column.result.drifted) continue;
    drifted.push_back(column.reason.empty() ? column.column
                                            : absl::StrCat(column.column, " (", column.reason, ")"));
  }
  // The share counts tested columns only; untested ones (no reference values) are named.
  const size_t tested = report.columns.size() - static_cast<size_t>(report.untested_columns);
  std::string summary =
      absl::StrCat(report.drifted_columns, " of ", tested, " columns drifted (share ",
                   FormatShare(report.drift_share), report.dataset_drift ? " >= " : " < ",
                   FormatShare(report.share_threshold),
                   "): ", report.dataset_drift ? "data set drift" : "no data set drift");
  if (report.untested_columns > 0) {
    absl::StrAppend(&summary, "; ", report.untested_columns,
                    report.untested_columns == 1 ? " column" : " columns",
                    " not tested (no reference values)");
  }
  if (!drifted.empty()) {
    constexpr size_t kShown = 8;
    std::vector<std::string> shown(drifted.begin(),
                                   drifted.begin() + std::min(drifted.size(), kShown));
    absl::StrAppend(&summary, "; drifted: ", absl::StrJoin(shown, ", "),
                    drifted.size() > kShown ? absl::StrCat(" and ", drifted.size() - kShown,
                                                           " more")
                                            : "");
  }
  return summary;
}

Json DriftDetails(const Json& report_json) {
  Json drifted = Json::array();
  for (const Json& column : report_json.value("columns", Json::array())) {
    if (!column.value("drifted", false)) continue;
    drifted.push_back({{"column", column.value("column", "")},
                       {"test", column.value("test", "")},
                       {"statistic", column.value("statistic", Json(nullptr))},
                       {"p_value", column.value("p_value", Json(nullptr))},
                       {"threshold", column.value("threshold", Json(nullptr))}});
    if (column.contains("reason")) drifted.back()["reason"] = column["reason"];
  }
  return {{"dataset_drift", report_json.value("dataset_drift", false)},
          {"drift_share", report_json.value("drift_share", 0.0)},
          {"drifted_columns", drifted}};
}

std::string ConstraintsSummary(const Json& violations) {
  std::vector<std::string> columns;
  for (const Json& v : violations) {
    std::string column = v.value("feature_name", "");
    if (!column.empty() && std::find(columns.begin(), columns.end(), column) == columns.end()) {
      columns.push_back(column);
    }
  }
  if (violations.empty()) return "no constraint violations";
  return absl::StrCat(violations.size(), " constraint violation",
                      violations.size() == 1 ? "" : "s",
                      columns.empty() ? "" : absl::StrCat(" in ", absl::StrJoin(columns, ", ")));
}

std::string Figure(double value) { return absl::StrFormat("%.4g", value); }

// The live quality check of a run (see monitor_runner.h): result.quality, and the outcome
// to hand over (none when there are too few labels or nothing could be checked).
struct QualityCheck {
  Json result;
  std::optional<MonitorOutcome> outcome;
  std::string summary;
  bool failed = false;
};

absl::StatusOr<QualityCheck> CheckQuality(const MonitorSpec& spec, const DataFrame& frame,
                                          const MonitorIo& io) {
  const MonitorQuality& quality = *spec.quality;
  const std::string where = absl::StrCat("target.endpoint '", spec.target.endpoint, "'");
  const FrameColumn* prediction = frame.Find("prediction");
  if (prediction == nullptr || prediction->categorical) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": the logged rows have no numeric 'prediction' column to compute quality on"));
  }
  const FrameColumn* label = frame.Find("label");
  std::vector<double> labels, predictions;
  if (label != nullptr && !label->categorical) {
    for (size_t i = 0; i < label->numbers.size() && i < prediction->numbers.size(); ++i) {
      if (std::isfinite(label->numbers[i]) && std::isfinite(prediction->numbers[i])) {
        labels.push_back(label->numbers[i]);
        predictions.push_back(prediction->numbers[i]);
      }
    }
  }
  const int64_t labelled = static_cast<int64_t>(labels.size());
  QualityCheck out;
  out.result = {{"rows", frame.rows},
                {"labelled_rows", labelled},
                {"min_labels", quality.min_labels},
                {"threshold", quality.threshold},
                {"values", Json::object()},
                {"unavailable", Json::object()},
                {"checks", Json::array()},
                {"violations", Json::array()}};
  if (labelled < quality.min_labels) {
    out.result["status"] = "insufficient_labels";
    out.summary = absl::StrCat("quality not checked: insufficient labels (", labelled,
                               " labelled of ", frame.rows, " rows, min_labels ",
                               quality.min_labels, ")");
    return out;
  }
  CAIRN_ASSIGN_OR_RETURN(stats::MetricSet metrics,
                         stats::ComputeMetrics(labels, predictions, quality.threshold));
  out.result["values"] = metrics.values;
  out.result["unavailable"] = metrics.unavailable;

  Json checks = Json::array();
  Json violations = Json::array();
  std::vector<std::string> broken, passed, unavailable;
  auto unavailable_check = [&](Json check, const std::string& metric, const std::string& why) {
    check["status"] = "unavailable";
    check["reason"] = why;
    checks.push_back(std::move(check));
    unavailable.push_back(absl::StrCat(metric, " (", why, ")"));
  };
  // One comparison: `value` must be >= bound (at_least) or <= bound.
  auto compare = [&](Json check, const std::string& metric, double value, double bound,
                     bool at_least, const std::string& what) {
    const bool ok = at_least ? value >= bound : value <= bound;
    check["value"] = value;
    check["bound"] = bound;
    check["status"] = ok ? "passed" : "failed";
    if (ok) {
      passed.push_back(absl::StrCat(metric, " ", Figure(value)));
    } else {
      const std::string message = absl::StrCat(metric, " ", Figure(value), at_least ? " < " : " > ",
                                               what, " ", Figure(bound));
      check["message"] = message;
      broken.push_back(message);
      Json violation = check;
      violation["labelled_rows"] = labelled;
      violations.push_back(std::move(violation));
    }
    checks.push_back(std::move(check));
  };
  for (const QualityBound& bound : quality.metrics) {
    auto value = metrics.values.find(bound.metric);
    for (const auto& [kind, limit] : {std::pair{"min", bound.min}, std::pair{"max", bound.max}}) {
      if (!limit.has_value()) continue;
      Json check = {{"metric", bound.metric}, {"kind", kind}};
      if (value == metrics.values.end()) {
        auto why = metrics.unavailable.find(bound.metric);
        unavailable_check(std::move(check), bound.metric,
                          why != metrics.unavailable.end() ? why->second : "not computed");
        continue;
      }
      compare(std::move(check), bound.metric, value->second, *limit,
              std::string_view(kind) == "min", kind);
    }
  }
  for (const QualityBaseline& baseline : quality.baselines) {
    Json check = {{"metric", baseline.metric}, {"kind", "baseline"},
                  {"max_drop", baseline.max_drop}};
    auto value = metrics.values.find(baseline.metric);
    if (value == metrics.values.end()) {
      auto why = metrics.unavailable.find(baseline.metric);
      unavailable_check(std::move(check), baseline.metric,
                        why != metrics.unavailable.end() ? why->second : "not computed");
      continue;
    }
    double base = 0;
    if (baseline.value.has_value()) {
      base = *baseline.value;
      check["baseline"] = base;
      check["baseline_source"] = "value";
    } else {
      check["model_metric"] = baseline.model_metric;
      if (!io.model_metric) {
        unavailable_check(std::move(check), baseline.metric,
                          absl::StrCat("baseline model_metric ", baseline.model_metric,
                                       ": this server cannot look up the served model's "
                                       "training run; give value: X instead"));
        continue;
      }
      absl::StatusOr<ModelMetricValue> found =
          io.model_metric(spec.target.endpoint, baseline.model_metric);
      if (!found.ok()) {
        unavailable_check(std::move(check), baseline.metric,
                          absl::StrCat("baseline model_metric ", baseline.model_metric, ": ",
                                       found.status().message()));
        continue;
      }
      if (!std::isfinite(found->value)) {
        unavailable_check(std::move(check), baseline.metric,
                          absl::StrCat("baseline model_metric ", baseline.model_metric, " of ",
                                       found->source, " is not a number"));
        continue;
      }
      base = found->value;
      check["baseline"] = base;
      check["baseline_source"] = found->source;
    }
    const bool higher = stats::HigherIsBetter(baseline.metric);
    const double bound = higher ? base - baseline.max_drop : base + baseline.max_drop;
    compare(std::move(check), baseline.metric, value->second, bound, higher,
            absl::StrCat("baseline ", Figure(base), higher ? " - " : " + ", "max_drop ",
                         Figure(baseline.max_drop), " ="));
  }

  out.failed = !broken.empty();
  const bool checked = !broken.empty() || !passed.empty();
  out.result["status"] = out.failed ? "failed" : checked ? "passed" : "unavailable";
  out.summary = absl::StrCat("quality on ", labelled, " labelled rows: ");
  if (out.failed) {
    absl::StrAppend(&out.summary, absl::StrJoin(broken, "; "));
  } else if (checked) {
    absl::StrAppend(&out.summary, passed.size(), " check", passed.size() == 1 ? "" : "s",
                    " passed (", absl::StrJoin(passed, ", "), ")");
  } else {
    absl::StrAppend(&out.summary, "nothing could be checked");
  }
  if (!unavailable.empty()) {
    absl::StrAppend(&out.summary, "; not checked: ", absl::StrJoin(unavailable, "; "));
  }
  out.result["checks"] = checks;
  out.result["violations"] = violations;
  if (checked) {
    MonitorOutcome outcome;
    outcome.kind = "quality";
    outcome.problem = out.failed;
    outcome.summary = out.summary;
    outcome.details = {{"labelled_rows", labelled},
                       {"values", out.result["values"]},
                       {"violations", violations}};
    out.outcome = std::move(outcome);
  }
  return out;
}

}  // namespace

Json MonitorRunToJson(const MonitorRun& run, bool with_result) {
  Json out = {{"id", run.id},
              {"monitor", run.monitor},
              {"monitor_version", run.monitor_version},
              {"trigger", run.trigger},
              {"trigger_detail", run.trigger_detail},
              {"state", run.state},
              {"message", run.message},
              {"drift_found", run.drift_found},
              {"constraints_violated", run.constraints_violated},
              {"quality_failed", run.quality_failed},
              {"window_from_ms", run.window_from_ms},
              {"window_to_ms", run.window_to_ms},
              {"target_rows", run.target_rows},
              {"reference_rows", run.reference_rows},
              {"has_report", run.has_report},
              {"started_ms", run.started_ms},
              {"ended_ms", run.ended_ms}};
  if (with_result) out["result"] = run.result;
  return out;
}

MonitorRunner::MonitorRunner(storage::Database& db, Clock& clock, MonitorIo io)
    : db_(db), clock_(clock), io_(std::move(io)) {}
MonitorRunner::~MonitorRunner() = default;

absl::StatusOr<std::unique_ptr<MonitorRunner>> MonitorRunner::Open(storage::Database& db,
                                                                   Clock& clock, MonitorIo io) {
  CAIRN_RETURN_IF_ERROR(ApplyMonitorMigrations(db));
  return std::unique_ptr<MonitorRunner>(new MonitorRunner(db, clock, std::move(io)));
}

absl::StatusOr<MonitorRun> MonitorRunner::Run(const MonitorVersion& monitor,
                                              std::string_view trigger,
                                              std::string_view trigger_detail) {
  const MonitorSpec& spec = monitor.spec;
  MonitorRun run;
  run.id = NewUuidHex();
  run.monitor = monitor.name;
  run.monitor_version = monitor.version;
  run.trigger = std::string(trigger);
  run.trigger_detail = std::string(trigger_detail);
  run.started_ms = clock_.NowMillis();
  run.result = {{"drift", nullptr}, {"constraints", nullptr}, {"quality", nullptr}};
  std::string report_html;
  std::vector<MonitorOutcome> outcomes;
  std::vector<std::string> notes;  // summary parts without an outcome (insufficient labels,
                                   // drift not checked)

  // Everything that can fail for reasons of data or configuration: its error becomes the
  // failed run's message (the run is still stored, so `runs` shows why).
  auto execute = [&]() -> absl::Status {
    const int64_t now = run.started_ms;
    DataFrame current;
    if (!spec.target.endpoint.empty()) {
      if (!io_.read_endpoint) {
        return absl::FailedPreconditionError(
            absl::StrCat("target.endpoint '", spec.target.endpoint,
                         "': this server has no inference log to read endpoints from"));
      }
      EndpointReadRequest target_request{.endpoint = spec.target.endpoint,
                                         .categorical = spec.categorical};
      if (spec.target.window_ms > 0) {
        target_request.from_ms = now - spec.target.window_ms;
        target_request.to_ms = now + 1;  // the window ends at the run's time, inclusive
        run.window_from_ms = target_request.from_ms;
      } else {
        target_request.last_rows = spec.target.rows;
      }
      run.window_to_ms = now;
      absl::StatusOr<DataFrame> frame = io_.read_endpoint(target_request);
      if (!frame.ok()) {
        return Annotate(frame.status(),
                        absl::StrCat("target.endpoint '", spec.target.endpoint, "'"));
      }
      current = std::move(*frame);
      run.target_rows = current.rows;
      run.result["target"] = {{"endpoint", spec.target.endpoint},
                              {"window_ms", spec.target.window_ms},
                              {"rows_limit", spec.target.rows},
                              {"rows", current.rows}};
      if (current.rows == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "target.endpoint '", spec.target.endpoint, "' logged no predictions ",
            spec.target.window_ms > 0
                ? absl::StrCat("in [", FormatTimestamp(run.window_from_ms), ", ",
                               FormatTimestamp(now), "]")
                : std::string("at all"),
            ": nothing to check; send predictions to it, raise its inference_log.sample, or "
            "widen target.window"));
      }
    } else if (!spec.target.path.empty()) {
      if (!io_.read_csv) {
        return absl::FailedPreconditionError("target.path: this server cannot read CSV files");
      }
      absl::StatusOr<DataFrame> frame = io_.read_csv(spec.target.path, spec.categorical);
      if (!frame.ok()) {
        return Annotate(frame.status(), absl::StrCat("target.path '", spec.target.path, "'"));
      }
      current = std::move(*frame);
      run.window_to_ms = now;
      run.target_rows = current.rows;
      run.result["target"] = {{"path", spec.target.path}, {"rows", current.rows}};
      if (current.rows == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "target.path '", spec.target.path, "' has no rows: nothing to check"));
      }
    } else {
      if (!io_.read_view) {
        return absl::FailedPreconditionError(absl::StrCat(
            "target.feature_view '", spec.target.feature_view,
            "': this server has no feature store to read views from"));
      }
      ViewReadRequest target_request{.view = spec.target.feature_view,
                                     .categorical = spec.categorical};
      if (spec.target.window_ms > 0) {
        target_request.from_ms = now - spec.target.window_ms;
        target_request.to_ms = now + 1;  // the window ends at the run's time, inclusive
        run.window_from_ms = target_request.from_ms;
        run.window_to_ms = now;
      } else {
        target_request.last_rows = spec.target.rows;
        run.window_to_ms = now;
      }
      CAIRN_ASSIGN_OR_RETURN(current, io_.read_view(target_request));
      run.target_rows = current.rows;
      run.result["target"] = {{"feature_view", spec.target.feature_view},
                              {"window_ms", spec.target.window_ms},
                              {"rows_limit", spec.target.rows},
                              {"rows", current.rows}};
      if (current.rows == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "target.feature_view '", spec.target.feature_view, "' has no rows ",
            spec.target.window_ms > 0
                ? absl::StrCat("with event time in [", FormatTimestamp(run.window_from_ms), ", ",
                               FormatTimestamp(now), "]")
                : std::string("at all"),
            ": nothing to check; ingest data into its source or widen target.window"));
      }
    }

    std::optional<DataFrame> reference;
    const MonitorReference& ref = spec.reference;
    Json reference_source = Json::object();
    std::string drift_skipped;  // why drift was not tested (a profile without rows)
    if (!ref.path.empty()) {
      if (!io_.read_csv) {
        return absl::FailedPreconditionError("reference.path: this server cannot read CSV files");
      }
      absl::StatusOr<DataFrame> frame = io_.read_csv(ref.path, spec.categorical);
      if (!frame.ok()) {
        return Annotate(frame.status(), absl::StrCat("reference.path '", ref.path, "'"));
      }
      reference = std::move(*frame);
    } else if (!ref.feature_view.empty()) {
      ViewReadRequest request{.view = ref.feature_view,
                              .from_ms = ref.from_ms,
                              .to_ms = ref.to_ms,
                              .categorical = spec.categorical};
      absl::StatusOr<DataFrame> frame = io_.read_view(request);
      if (!frame.ok()) {
        return Annotate(frame.status(),
                        absl::StrCat("reference.feature_view '", ref.feature_view, "'"));
      }
      reference = std::move(*frame);
    } else if (!ref.model.empty()) {
      const std::string where = absl::StrCat(
          "reference.model '", ref.model, "' ",
          ref.model_alias.empty() ? absl::StrCat("version ", ref.model_version)
                                  : absl::StrCat("alias '", ref.model_alias, "'"));
      if (!io_.read_model_reference) {
        return absl::FailedPreconditionError(absl::StrCat(
            where, ": this server cannot read models' training sets (no model registry or "
                   "feature store)"));
      }
      absl::StatusOr<StoredReference> stored = io_.read_model_reference(ref, spec.categorical);
      if (!stored.ok()) return Annotate(stored.status(), where);
      if (!stored->frame.has_value()) {
        return absl::FailedPreconditionError(absl::StrCat(where, ": ", stored->missing));
      }
      reference_source = std::move(stored->source);
      reference = std::move(*stored->frame);
    } else if (!ref.profile.empty() && spec.drift) {
      const std::string where = absl::StrCat("reference.profile '", ref.profile, "'");
      if (!io_.read_profile_rows) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, ": this server keeps no profile rows to test drift against; "
                                "set drift: false (constraints only)"));
      }
      absl::StatusOr<StoredReference> stored = io_.read_profile_rows(ref.profile, spec.categorical);
      if (!stored.ok()) return Annotate(stored.status(), where);
      reference_source = std::move(stored->source);
      if (stored->frame.has_value()) {
        reference = std::move(*stored->frame);
      } else {
        drift_skipped = absl::StrCat("drift not checked: ", where, " ", stored->missing,
                                     "; constraints only (recreate the profile from its data "
                                     "with `cairn profiles create` to test drift)");
      }
    }
    if (reference.has_value()) {
      run.reference_rows = reference->rows;
      if (reference->rows == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the reference (",
            !ref.path.empty()      ? ref.path
            : !ref.profile.empty() ? ref.profile
            : !ref.model.empty()   ? absl::StrCat("model ", ref.model, "'s training set")
                                   : ref.feature_view,
            ") has no rows: nothing to compare with"));
      }
    }
    run.result["reference"] = {{"path", ref.path},
                               {"profile", ref.profile},
                               {"feature_view", ref.feature_view},
                               {"rows", run.reference_rows}};
    if (!ref.model.empty()) {
      run.result["reference"]["model"] = ref.model;
      if (!ref.model_alias.empty()) run.result["reference"]["alias"] = ref.model_alias;
    }
    for (auto& [key, value] : reference_source.items()) run.result["reference"][key] = value;
    if (!drift_skipped.empty()) {
      run.result["drift_skipped"] = drift_skipped;
      notes.push_back(drift_skipped);
    }

    if (spec.drift && drift_skipped.empty()) {
      if (!reference.has_value()) {
        return absl::FailedPreconditionError(
            "drift needs reference rows (reference.path, reference.feature_view, "
            "reference.model or a reference.profile stored with its rows)");
      }
      CAIRN_ASSIGN_OR_RETURN(DriftReport report,
                             ComputeDrift(*reference, current, ToDriftOptions(spec)));
      Json report_json = DriftReportToJson(report);
      run.drift_found = report.dataset_drift;
      MonitorOutcome outcome;
      outcome.kind = "drift";
      outcome.problem = report.dataset_drift;
      outcome.summary = DriftSummary(report);
      outcome.details = DriftDetails(report_json);
      outcomes.push_back(std::move(outcome));
      run.result["drift"] = std::move(report_json);
      if (io_.render_html) {
        report_html = io_.render_html(
            report, absl::StrCat("Monitor ", monitor.name, " v", monitor.version, " — run ",
                                 run.id, " (", FormatTimestamp(now), ")"));
      }
    }
    if (spec.constraints) {
      if (!io_.check_constraints) {
        return absl::FailedPreconditionError(
            "constraints: this server has no profile store to check constraints with");
      }
      CAIRN_ASSIGN_OR_RETURN(
          Json checked,
          io_.check_constraints(ref, reference.has_value() ? &*reference : nullptr, current));
      Json violations = checked.value("violations", Json::array());
      run.constraints_violated = !violations.empty();
      MonitorOutcome outcome;
      outcome.kind = "constraints";
      outcome.problem = !violations.empty();
      outcome.summary = ConstraintsSummary(violations);
      outcome.details = {{"violations", violations}};
      outcomes.push_back(std::move(outcome));
      run.result["constraints"] = std::move(checked);
    }
    if (spec.quality.has_value()) {
      if (spec.target.endpoint.empty()) {
        return absl::FailedPreconditionError(
            "quality: needs an endpoint target (its logged predictions and posted labels)");
      }
      CAIRN_ASSIGN_OR_RETURN(QualityCheck quality, CheckQuality(spec, current, io_));
      run.quality_failed = quality.failed;
      run.result["quality"] = std::move(quality.result);
      if (quality.outcome.has_value()) {
        outcomes.push_back(std::move(*quality.outcome));
      } else {
        notes.push_back(std::move(quality.summary));
      }
    }
    return absl::OkStatus();
  };

  absl::Status status = execute();
  run.ended_ms = clock_.NowMillis();
  if (status.ok()) {
    run.state = "succeeded";
    std::vector<std::string> parts;
    for (const MonitorOutcome& outcome : outcomes) parts.push_back(outcome.summary);
    for (std::string& note : notes) parts.push_back(std::move(note));
    run.message = absl::StrJoin(parts, "; ");
  } else {
    run.state = "failed";
    run.message = std::string(status.message());
    outcomes.clear();
  }
  run.has_report = !report_html.empty();

  const std::string result_text = DumpJson(run.result);
  // A run that cannot be stored still hands its outcomes to the alerts (the drift is real
  // whether or not its record could be written); the storage error is logged and returned.
  absl::Status stored = db_.Write([&](SqlSession& session) -> absl::Status {
    std::vector<SqlValue> params = {
        run.id,
        run.monitor,
        run.monitor_version,
        run.trigger,
        run.trigger_detail,
        run.state,
        run.message,
        int64_t{run.drift_found},
        int64_t{run.constraints_violated},
        run.window_from_ms,
        run.window_to_ms,
        run.target_rows,
        run.reference_rows,
        result_text,
        report_html.empty() ? SqlValue() : SqlValue(report_html),
        run.started_ms,
        run.ended_ms};
    return session
        .Execute(
            "INSERT INTO monitor_runs (id, monitor, monitor_version, trigger_kind, "
            "trigger_detail, state, message, drift_found, constraints_violated, window_from_ms, "
            "window_to_ms, target_rows, reference_rows, result, report, started_ms, ended_ms) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            params)
        .status();
  });
  if (!stored.ok()) {
    Log(LogLevel::kError,
        absl::StrCat("monitor ", run.monitor, " run ", run.id,
                     ": cannot store the run (its outcomes still go to the alerts): ",
                     stored.message()));
  }

  if (io_.on_outcome) {
    for (MonitorOutcome& outcome : outcomes) {
      outcome.monitor = monitor.name;
      outcome.monitor_version = monitor.version;
      outcome.run_id = run.id;
      outcome.severity = spec.severity;
      outcome.retrain = spec.on_alert;
      outcome.sinks = spec.sinks;
      outcome.time_ms = run.ended_ms;
      io_.on_outcome(outcome);
    }
  }
  if (run.state == "failed") {
    Log(LogLevel::kWarning,
        absl::StrCat("monitor ", run.monitor, " run ", run.id, " failed: ", run.message));
  }
  if (!stored.ok()) {
    return absl::Status(stored.code(), absl::StrCat("monitor ", run.monitor, " run ", run.id,
                                                    " could not be stored: ", stored.message()));
  }
  return run;
}

absl::StatusOr<MonitorRun> MonitorRunner::GetRun(std::string_view run_id) {
  std::optional<MonitorRun> found;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    found.reset();
    std::vector<SqlValue> params = {std::string(run_id)};
    return session.QueryEach(
        absl::StrCat("SELECT ", kRunColumns, " FROM monitor_runs WHERE id = $1"), params,
        [&](const SqlRowView& row) {
          found = ReadRun(row);
          return absl::OkStatus();
        });
  }));
  if (!found) {
    return absl::NotFoundError(absl::StrCat("monitor run '", ToAbsl(run_id),
                                            "' does not exist: list runs with cairn monitors "
                                            "runs MONITOR"));
  }
  return std::move(*found);
}

absl::StatusOr<std::vector<MonitorRun>> MonitorRunner::ListRuns(std::string_view monitor,
                                                                int limit) {
  std::vector<MonitorRun> out;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    out.clear();
    std::vector<SqlValue> params = {std::string(monitor), int64_t{std::max(limit, 1)}};
    return session.QueryEach(
        absl::StrCat("SELECT ", kRunColumns,
                     " FROM monitor_runs WHERE monitor = $1 ORDER BY started_ms DESC, id DESC "
                     "LIMIT $2"),
        params, [&](const SqlRowView& row) {
          out.push_back(ReadRun(row));
          return absl::OkStatus();
        });
  }));
  return out;
}

absl::StatusOr<std::string> MonitorRunner::Report(std::string_view run_id) {
  std::optional<std::string> html;
  bool exists = false;
  CAIRN_RETURN_IF_ERROR(db_.Read([&](SqlSession& session) -> absl::Status {
    html.reset();
    exists = false;
    std::vector<SqlValue> params = {std::string(run_id)};
    return session.QueryEach("SELECT report FROM monitor_runs WHERE id = $1", params,
                             [&](const SqlRowView& row) {
                               exists = true;
                               if (!row.IsNull(0)) html = std::string(row.Text(0));
                               return absl::OkStatus();
                             });
  }));
  if (!exists) {
    return absl::NotFoundError(absl::StrCat("monitor run '", ToAbsl(run_id), "' does not exist"));
  }
  if (!html) {
    return absl::NotFoundError(absl::StrCat(
        "monitor run '", ToAbsl(run_id),
        "' has no HTML report (it failed, or checked constraints only); see its result with "
        "cairn monitors runs"));
  }
  return std::move(*html);
}

}  // namespace cairn::monitoring
