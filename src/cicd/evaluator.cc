#include "cicd/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cicd/policy_yaml.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/csv_frame.h"
#include "monitoring/stats/quality_metrics.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::cicd {
namespace {

using monitoring::stats::ComputeMetrics;
using monitoring::stats::MetricSet;
using serving::ModelInput;
using serving::ModelRuntime;

constexpr size_t kBatchRows = 10'000;
constexpr size_t kLatencyRows = 1'000;
constexpr double kBytesPerMiB = 1024.0 * 1024.0;

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

// A value a gate judges, or why there is none.
struct Valued {
  std::optional<double> value;
  std::string error;       // set when value is empty
  bool undefined = false;  // the metric does not exist here (one class on a slice)
  std::string note;        // what the value counts (features_online: the missing names)
  static Valued Of(double v) {
    Valued out;
    out.value = v;
    return out;
  }
  static Valued Error(std::string why) {
    Valued out;
    out.error = std::move(why);
    return out;
  }
};

// The evaluation rows, read once.
struct EvalData {
  std::string path;  // as resolved
  monitoring::DataFrame frame;
  std::vector<double> labels;
  // "plan=basic" → its rows, in slice order (policy's columns, then values).
  std::vector<std::pair<std::string, std::vector<size_t>>> slices;
};

// One model version's outcome on the evaluation data (candidate or baseline).
struct Scored {
  int64_t version = 0;
  absl::Status load_status = absl::UnknownError("not loaded");
  std::shared_ptr<ModelRuntime> runtime;
  double load_ms = 0;
  absl::Status one_row_status = absl::UnknownError("not predicted");  // check loads
  absl::Status score_status = absl::UnknownError("not scored");
  MetricSet overall;
  std::map<std::string, MetricSet> slices;
  std::map<std::string, std::string> slice_errors;
  std::optional<absl::StatusOr<double>> p99_ms;
};

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Who(int64_t version, std::string_view role) {
  return absl::StrCat(ToAbsl(role), " (version ", version, ")");
}

absl::StatusOr<EvalData> ReadEvalData(const PolicySpec& policy, const EvaluatorDeps& deps) {
  const EvaluationDataSpec& spec = policy.evaluation;
  if (spec.path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy ", policy.name,
                     ": evaluation.data.path is empty but its gates need evaluation data; add "
                     "evaluation: {data: {path: FILE.csv}, label: COLUMN}"));
  }
  EvalData data;
  std::filesystem::path path(spec.path);
  if (path.is_relative() && !deps.data_dir.empty())
    path = std::filesystem::path(deps.data_dir) / path;
  data.path = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("policy ", policy.name, ": evaluation data '",
                                            data.path, "' (evaluation.data.path '", spec.path,
                                            "') does not exist on the server; put the CSV "
                                            "there or fix the path"));
  }
  CAIRN_ASSIGN_OR_RETURN(data.frame, monitoring::ReadCsvFrame(data.path, {}));
  const std::vector<std::string> names = data.frame.Names();
  auto missing_column = [&](std::string_view field, const std::string& column) {
    const std::string nearest = monitoring::NearestColumnName(column, names);
    return absl::InvalidArgumentError(absl::StrCat(
        "policy ", policy.name, ": ", ToAbsl(field), " '", column, "' is not a column of ",
        data.path, nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
        "; its columns: ", absl::StrJoin(names, ", ")));
  };
  if (data.frame.rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat("policy ", policy.name, ": evaluation data ",
                                                   data.path, " has no rows (only a header?)"));
  }
  const monitoring::FrameColumn* label = data.frame.Find(spec.label);
  if (label == nullptr) return missing_column("evaluation.label", spec.label);
  data.labels.resize(static_cast<size_t>(data.frame.rows));
  for (size_t row = 0; row < data.labels.size(); ++row) {
    // Rows are 0-based; the file's line is row + 2 (the header is line 1).
    if (label->categorical) {
      const int32_t code = label->codes[row];
      const std::string text =
          code < 0 ? "" : absl::AsciiStrToLower(ToAbsl(label->categories[code]));
      if (text == "true" || text == "false") {
        data.labels[row] = text == "true" ? 1.0 : 0.0;
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "policy ", policy.name, ": label '", spec.label, "' in ", data.path, " line ", row + 2,
          " is ", code < 0 ? "missing" : absl::StrCat("'", label->categories[code], "'"),
          ": labels must be numbers (0/1 for a classifier) or true/false"));
    }
    const double v = label->numbers[row];
    if (std::isnan(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy ", policy.name, ": label '", spec.label, "' in ", data.path,
                       " line ", row + 2, " is missing; every evaluation row needs a label"));
    }
    data.labels[row] = v;
  }
  for (const std::string& column_name : spec.slices) {
    const monitoring::FrameColumn* column = data.frame.Find(column_name);
    if (column == nullptr) return missing_column("evaluation.slices", column_name);
    std::vector<std::pair<std::string, std::vector<size_t>>> groups;
    std::vector<size_t> missing;
    if (column->categorical) {
      groups.resize(column->categories.size());
      for (size_t code = 0; code < column->categories.size(); ++code) {
        groups[code].first = absl::StrCat(column_name, "=", column->categories[code]);
      }
      for (size_t row = 0; row < column->codes.size(); ++row) {
        const int32_t code = column->codes[row];
        (code < 0 ? missing : groups[code].second).push_back(row);
      }
    } else {
      std::map<double, std::vector<size_t>> by_value;
      for (size_t row = 0; row < column->numbers.size(); ++row) {
        const double v = column->numbers[row];
        (std::isnan(v) ? missing : by_value[v]).push_back(row);
      }
      for (auto& [value, rows] : by_value) {
        groups.emplace_back(absl::StrCat(column_name, "=", Num(value)), std::move(rows));
      }
    }
    if (!missing.empty()) {
      groups.emplace_back(absl::StrCat(column_name, "=(missing)"), std::move(missing));
    }
    for (auto& group : groups) {
      if (!group.second.empty()) data.slices.push_back(std::move(group));
    }
  }
  return data;
}

// The columns the model reads, from the frame (no copy of the data, just the mapping).
absl::StatusOr<std::vector<const monitoring::FrameColumn*>> InputColumns(
    const ModelRuntime& runtime, const EvalData& data, const PolicySpec& policy, int64_t version,
    std::vector<std::string>* names) {
  std::vector<const monitoring::FrameColumn*> columns;
  const std::vector<std::string>& inputs = runtime.info().input_columns;
  if (inputs.empty()) {
    for (const monitoring::FrameColumn& column : data.frame.columns) {
      if (column.name == policy.evaluation.label) continue;
      columns.push_back(&column);
      names->push_back(column.name);
    }
    return columns;
  }
  const std::vector<std::string> frame_names = data.frame.Names();
  for (const std::string& input : inputs) {
    const monitoring::FrameColumn* column = data.frame.Find(input);
    if (column == nullptr) {
      const std::string nearest = monitoring::NearestColumnName(input, frame_names);
      return absl::InvalidArgumentError(absl::StrCat(
          "evaluation data ", data.path, " has no column '", input, "', an input of version ",
          version, nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
          "; add it to the CSV"));
    }
    columns.push_back(column);
    names->push_back(input);
  }
  return columns;
}

void FillRow(const std::vector<const monitoring::FrameColumn*>& columns, size_t row,
             std::vector<features::Value>& cells) {
  for (const monitoring::FrameColumn* column : columns) {
    if (column->categorical) {
      const int32_t code = column->codes[row];
      if (code < 0) {
        cells.emplace_back(std::monostate{});
      } else {
        cells.emplace_back(column->categories[code]);
      }
    } else {
      const double v = column->numbers[row];
      if (std::isnan(v)) {
        cells.emplace_back(std::monostate{});
      } else {
        cells.emplace_back(v);
      }
    }
  }
}

absl::StatusOr<std::vector<double>> PredictRows(
    ModelRuntime& runtime, const std::vector<std::string>& names,
    const std::vector<const monitoring::FrameColumn*>& columns, size_t begin, size_t end) {
  ModelInput input;
  input.columns = names;
  input.rows = end - begin;
  input.cells.reserve(input.rows * columns.size());
  for (size_t row = begin; row < end; ++row) FillRow(columns, row, input.cells);
  CAIRN_ASSIGN_OR_RETURN(std::vector<double> out, runtime.Predict(input));
  if (out.size() != input.rows) {
    return absl::InternalError(absl::StrCat("the runtime returned ", out.size(),
                                            " predictions for ", input.rows, " rows"));
  }
  return out;
}

std::vector<double> Pick(const std::vector<double>& values, const std::vector<size_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (size_t row : rows) out.push_back(values[row]);
  return out;
}

// What the evaluation needs, from its gates.
struct Needs {
  bool runtime = false;  // any metric or check gate
  bool data = false;     // metric gates, loads, latency
  bool scores = false;   // metric gates
  bool baseline_runtime = false;
  bool baseline_latency = false;
  bool latency = false;
};

bool HasBounds(const GateSpec& g) { return g.min.has_value() || g.max.has_value(); }
bool HasChanges(const GateSpec& g) {
  return g.min_absolute_change.has_value() || g.min_relative_change.has_value();
}

Needs NeedsOf(const PolicySpec& policy) {
  Needs n;
  for (const GateSpec& g : policy.gates) {
    if (g.kind == "metric") {
      n.runtime = n.data = n.scores = n.baseline_runtime = true;
    } else if (g.kind == "check") {
      n.runtime = true;
      // Checks predict evaluation rows when the policy names data; without it, loads only
      // loads and latency_p99_ms says "error" (metric gates require data in policy_yaml.h).
      if (g.name == "loads" && !policy.evaluation.path.empty()) n.data = true;
      if (g.name == "latency_p99_ms") {
        n.latency = true;
        if (!policy.evaluation.path.empty()) n.data = true;
        if (HasChanges(g)) n.baseline_runtime = n.baseline_latency = true;
      }
      if (g.name == "size_mb" && HasChanges(g)) n.baseline_runtime = true;
    }
  }
  return n;
}

class Evaluator {
 public:
  Evaluator(const PolicySpec& policy, std::string_view model, const EvaluatorDeps& deps)
      : policy_(policy), model_(model), deps_(deps) {}

  absl::StatusOr<Evaluation> Run(int64_t policy_version, int64_t version, std::string_view actor);

 private:
  int64_t Now() { return deps_.now_ns ? deps_.now_ns() : SteadyNowNs(); }
  void Load(Scored& s);
  void Score(Scored& s, bool full);
  void MeasureLatency(Scored& s);
  Valued MetricValue(const Scored& s, const std::string& name, const std::string& slice,
                     std::string_view role);
  Valued RunMetricValue(int64_t version, const std::string& name);
  Valued CheckValue(Scored& s, const GateSpec& gate, std::string_view role);
  Valued ValueOf(const GateSpec& gate, bool baseline, const std::string& slice);
  GateResult Judge(const GateSpec& part, const std::string& slice, const Valued& candidate,
                   const Valued& baseline, bool comparison, bool in_slice);
  void AddGate(const GateSpec& gate, std::vector<GateResult>& out);
  Json MetricsJson() const;

  const PolicySpec& policy_;
  std::string model_;
  const EvaluatorDeps& deps_;
  std::optional<EvalData> data_;
  Scored candidate_;
  std::optional<Scored> baseline_;  // set when a version holds the target alias
};

void Evaluator::Load(Scored& s) {
  if (!deps_.load_runtime) {
    s.load_status = absl::FailedPreconditionError(
        "this server cannot load models (no runtime loader configured)");
    return;
  }
  const int64_t start = Now();
  absl::StatusOr<std::shared_ptr<ModelRuntime>> runtime = deps_.load_runtime(model_, s.version);
  s.load_ms = static_cast<double>(Now() - start) / 1e6;
  if (!runtime.ok()) {
    s.load_status = runtime.status();
    return;
  }
  if (*runtime == nullptr) {
    s.load_status = absl::InternalError("the runtime loader returned no runtime");
    return;
  }
  s.runtime = std::move(*runtime);
  s.load_status = absl::OkStatus();
}

void Evaluator::Score(Scored& s, bool full) {
  if (!s.load_status.ok()) {
    s.score_status = s.load_status;
    s.one_row_status = s.load_status;
    return;
  }
  std::vector<std::string> names;
  absl::StatusOr<std::vector<const monitoring::FrameColumn*>> columns =
      InputColumns(*s.runtime, *data_, policy_, s.version, &names);
  if (!columns.ok()) {
    s.score_status = s.one_row_status = columns.status();
    return;
  }
  absl::StatusOr<std::vector<double>> first = PredictRows(*s.runtime, names, *columns, 0, 1);
  s.one_row_status = first.status();
  if (!first.ok()) {
    s.score_status = first.status();
    return;
  }
  if (!full) return;
  const size_t rows = data_->labels.size();
  std::vector<double> predictions;
  predictions.reserve(rows);
  for (size_t begin = 0; begin < rows; begin += kBatchRows) {
    absl::StatusOr<std::vector<double>> batch =
        PredictRows(*s.runtime, names, *columns, begin, std::min(rows, begin + kBatchRows));
    if (!batch.ok()) {
      s.score_status = batch.status();
      return;
    }
    predictions.insert(predictions.end(), batch->begin(), batch->end());
  }
  absl::StatusOr<MetricSet> overall =
      ComputeMetrics(data_->labels, predictions, policy_.evaluation.threshold);
  if (!overall.ok()) {
    s.score_status = overall.status();
    return;
  }
  s.overall = std::move(*overall);
  for (const auto& [key, slice_rows] : data_->slices) {
    absl::StatusOr<MetricSet> m =
        ComputeMetrics(Pick(data_->labels, slice_rows), Pick(predictions, slice_rows),
                       policy_.evaluation.threshold);
    if (m.ok()) {
      s.slices[key] = std::move(*m);
    } else {
      s.slice_errors[key] = std::string(m.status().message());
    }
  }
  s.score_status = absl::OkStatus();
}

void Evaluator::MeasureLatency(Scored& s) {
  if (s.p99_ms.has_value()) return;
  if (!data_.has_value()) {
    s.p99_ms = absl::FailedPreconditionError(
        "latency_p99_ms predicts evaluation rows one at a time: set evaluation.data.path in "
        "the policy");
    return;
  }
  if (!s.load_status.ok()) {
    s.p99_ms = s.load_status;
    return;
  }
  std::vector<std::string> names;
  absl::StatusOr<std::vector<const monitoring::FrameColumn*>> columns =
      InputColumns(*s.runtime, *data_, policy_, s.version, &names);
  if (!columns.ok()) {
    s.p99_ms = columns.status();
    return;
  }
  const size_t rows = std::min(kLatencyRows, data_->labels.size());
  // Inputs are built before timing, so only Predict is measured.
  std::vector<ModelInput> inputs(rows);
  for (size_t row = 0; row < rows; ++row) {
    inputs[row].columns = names;
    inputs[row].rows = 1;
    FillRow(*columns, row, inputs[row].cells);
  }
  // One untimed call first: lazy initialisation is not a serving latency.
  absl::StatusOr<std::vector<double>> warm = s.runtime->Predict(inputs[0]);
  if (!warm.ok()) {
    s.p99_ms = warm.status();
    return;
  }
  std::vector<int64_t> latencies;
  latencies.reserve(rows);
  for (const ModelInput& input : inputs) {
    const int64_t start = Now();
    absl::StatusOr<std::vector<double>> out = s.runtime->Predict(input);
    latencies.push_back(Now() - start);
    if (!out.ok()) {
      s.p99_ms = out.status();
      return;
    }
  }
  std::sort(latencies.begin(), latencies.end());
  // Nearest rank: the smallest latency with at least 99 % of the calls at or below it.
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(rows)));
  s.p99_ms = static_cast<double>(latencies[std::max<size_t>(rank, 1) - 1]) / 1e6;
}

Valued Evaluator::MetricValue(const Scored& s, const std::string& name, const std::string& slice,
                              std::string_view role) {
  if (!s.score_status.ok()) {
    return Valued::Error(
        absl::StrCat(Who(s.version, role), " could not be scored: ", s.score_status.message()));
  }
  const MetricSet* set = &s.overall;
  if (!slice.empty()) {
    auto error = s.slice_errors.find(slice);
    if (error != s.slice_errors.end()) {
      return Valued::Error(absl::StrCat(name, " on ", slice, ": ", error->second));
    }
    set = &s.slices.at(slice);
  }
  auto value = set->values.find(name);
  if (value != set->values.end()) return Valued::Of(value->second);
  auto why = set->unavailable.find(name);
  Valued v = Valued::Error(
      absl::StrCat(name, " is undefined", slice.empty() ? "" : absl::StrCat(" on ", slice), ": ",
                   why == set->unavailable.end() ? std::string("unknown metric") : why->second));
  v.undefined = true;
  return v;
}

Valued Evaluator::RunMetricValue(int64_t version, const std::string& name) {
  absl::StatusOr<tracking::ModelVersion> mv = deps_.registry->GetModelVersion(model_, version);
  if (!mv.ok()) return Valued::Error(std::string(mv.status().message()));
  if (!mv->run_id.has_value() || mv->run_id->empty()) {
    return Valued::Error(absl::StrCat("version ", version, " of ", model_,
                                      " has no source run (registered without run_id), so "
                                      "it has no run metric '",
                                      name, "'"));
  }
  if (deps_.tracking == nullptr) {
    return Valued::Error("this server has no tracking store to read run metrics from");
  }
  absl::StatusOr<tracking::Run> run = deps_.tracking->GetRun(*mv->run_id);
  if (!run.ok()) {
    return Valued::Error(absl::StrCat("source run ", *mv->run_id, " of version ", version, ": ",
                                      run.status().message()));
  }
  std::vector<std::string> keys;
  for (const tracking::Metric& metric : run->metrics) {
    if (metric.key == name) {
      if (!std::isfinite(metric.value)) {
        return Valued::Error(absl::StrCat("run ", *mv->run_id, " logged ", name, " = ",
                                          metric.value, ", not a finite number"));
      }
      return Valued::Of(metric.value);
    }
    keys.push_back(metric.key);
  }
  const std::string nearest = monitoring::NearestColumnName(name, keys);
  return Valued::Error(absl::StrCat(
      "run ", *mv->run_id, " of version ", version, " has no metric '", name, "'",
      nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"), "; it logged ",
      keys.empty() ? std::string("no metrics") : absl::StrJoin(keys, ", ")));
}

Valued Evaluator::CheckValue(Scored& s, const GateSpec& gate, std::string_view role) {
  if (gate.name == "loads") {
    if (!s.load_status.ok()) {
      return Valued::Error(
          absl::StrCat(Who(s.version, role), " did not load: ", s.load_status.message()));
    }
    if (data_.has_value() && !s.one_row_status.ok()) {
      return Valued::Error(
          absl::StrCat(Who(s.version, role),
                       " loaded but could not predict one row: ", s.one_row_status.message()));
    }
    return Valued::Of(s.load_ms);
  }
  if (!s.load_status.ok()) {
    return Valued::Error(
        absl::StrCat(Who(s.version, role), " did not load: ", s.load_status.message()));
  }
  if (gate.name == "size_mb") {
    return Valued::Of(static_cast<double>(s.runtime->info().size_bytes) / kBytesPerMiB);
  }
  if (gate.name == "latency_p99_ms") {
    MeasureLatency(s);
    if (!s.p99_ms->ok()) {
      return Valued::Error(absl::StrCat(
          Who(s.version, role), " could not predict single rows: ", s.p99_ms->status().message()));
    }
    return Valued::Of(**s.p99_ms);
  }
  if (gate.name == "features_online") {
    const std::vector<std::string>& inputs = s.runtime->info().input_columns;
    if (inputs.empty()) {
      return Valued::Error(absl::StrCat(
          Who(s.version, role),
          " names no input columns (its MLmodel has no signature): log the model with a "
          "signature so its features can be checked"));
    }
    if (!deps_.online_features) {
      return Valued::Error("this server cannot list online features (no feature store)");
    }
    absl::StatusOr<std::vector<std::string>> served = deps_.online_features(gate.feature_service);
    if (!served.ok()) {
      return Valued::Error(absl::StrCat("feature service '", gate.feature_service,
                                        "': ", served.status().message()));
    }
    std::set<std::string> names;
    for (const std::string& feature : *served) {
      names.insert(feature);
      const size_t colon = feature.rfind(':');
      if (colon != std::string::npos) names.insert(feature.substr(colon + 1));
    }
    std::vector<std::string> missing;
    for (const std::string& input : inputs) {
      if (names.count(input) == 0) missing.push_back(input);
    }
    Valued v = Valued::Of(static_cast<double>(missing.size()));
    v.note =
        missing.empty()
            ? absl::StrCat("all ", inputs.size(), " inputs of ", Who(s.version, role),
                           " are online features of feature service '", gate.feature_service, "'")
            : absl::StrCat("not served online by feature service '", gate.feature_service,
                           "': ", absl::StrJoin(missing, ", "));
    return v;
  }
  return Valued::Error(absl::StrCat("unknown check '", gate.name, "'"));
}

Valued Evaluator::ValueOf(const GateSpec& gate, bool baseline, const std::string& slice) {
  if (baseline && !baseline_.has_value()) return Valued::Error("no baseline");
  Scored& scored = baseline ? *baseline_ : candidate_;
  const std::string_view role = baseline ? "the baseline" : "the candidate";
  if (gate.kind == "metric") return MetricValue(scored, gate.name, slice, role);
  if (gate.kind == "run_metric") return RunMetricValue(scored.version, gate.name);
  if (gate.kind == "check") return CheckValue(scored, gate, role);
  return Valued::Error(absl::StrCat("unknown gate kind '", gate.kind, "'"));
}

std::string BoundText(const GateSpec& g) {
  if (g.min && g.max) return absl::StrCat("between ", Num(*g.min), " and ", Num(*g.max));
  if (g.min) return absl::StrCat("at least ", Num(*g.min));
  if (g.max) return absl::StrCat("at most ", Num(*g.max));
  return "no bound: reported only";
}

GateResult Evaluator::Judge(const GateSpec& part, const std::string& slice, const Valued& candidate,
                            const Valued& baseline, bool comparison, bool in_slice) {
  GateResult r;
  r.gate = GateText(part, policy_.target_alias);
  r.kind = part.kind;
  r.name = part.name;
  r.slice = slice;
  r.value = candidate.value;
  r.baseline = baseline.value;
  const std::string what = absl::StrCat(part.kind == "run_metric" ? "run metric " : "", part.name,
                                        slice.empty() ? "" : " on ", slice);
  auto unavailable = [&](const Valued& v) {
    r.verdict = v.undefined && in_slice ? "skipped" : "error";
    r.detail = v.error;
    return r;
  };
  if (!comparison) {
    if (!candidate.value) {
      if (part.kind == "check" && part.name == "loads") {
        r.verdict = "fail";
        r.detail = candidate.error;
        return r;
      }
      return unavailable(candidate);
    }
    const double v = *candidate.value;
    if (part.kind == "check" && part.name == "loads") {
      r.verdict = "pass";
      r.detail = absl::StrCat("loaded in ", Num(v), " ms",
                              data_.has_value() ? " and predicted one evaluation row" : "");
      return r;
    }
    if (part.kind == "check" && part.name == "features_online") {
      const double allowed = part.max.value_or(0);
      r.verdict = v <= allowed ? "pass" : "fail";
      r.detail = candidate.note;
      return r;
    }
    if (part.min && v < *part.min) {
      r.verdict = "fail";
      r.detail = absl::StrCat(what, " is ", Num(v), ", below the minimum ", Num(*part.min));
    } else if (part.max && v > *part.max) {
      r.verdict = "fail";
      r.detail = absl::StrCat(what, " is ", Num(v), ", above the maximum ", Num(*part.max));
    } else {
      r.verdict = "pass";
      r.detail = absl::StrCat(what, " is ", Num(v), ", ", BoundText(part));
    }
    return r;
  }
  if (!baseline_.has_value()) {
    r.verdict = "skipped";
    r.detail = absl::StrCat("no version holds alias '", policy_.target_alias,
                            "' yet: nothing to compare with");
    return r;
  }
  if (!candidate.value) return unavailable(candidate);
  if (!baseline.value) return unavailable(baseline);
  const double c = *candidate.value;
  const double b = *baseline.value;
  const bool greater_is_better = GreaterIsBetter(part);
  const double change = greater_is_better ? c - b : b - c;
  double relative = 0;
  if (b != 0) {
    relative = change / std::fabs(b);
  } else if (change != 0) {
    relative = change > 0 ? std::numeric_limits<double>::infinity()
                          : -std::numeric_limits<double>::infinity();
  }
  std::vector<std::string> failures;
  if (part.min_absolute_change && change < *part.min_absolute_change) {
    failures.push_back(
        absl::StrCat("change ", Num(change), " < ", Num(*part.min_absolute_change), " allowed"));
  }
  if (part.min_relative_change && relative < *part.min_relative_change) {
    failures.push_back(absl::StrCat("relative change ", Num(relative * 100), "% < ",
                                    Num(*part.min_relative_change * 100), "% allowed"));
  }
  r.verdict = failures.empty() ? "pass" : "fail";
  r.detail =
      absl::StrCat(what, " ", Num(c), " vs ", Num(b), " of version ", baseline_->version, " (",
                   policy_.target_alias, "): ",
                   failures.empty() ? absl::StrCat("change ", Num(change), " (relative ",
                                                   Num(relative * 100), "%), within the allowed")
                                    : absl::StrJoin(failures, "; "),
                   greater_is_better ? " (greater is better)" : " (smaller is better)");
  return r;
}

void Evaluator::AddGate(const GateSpec& gate, std::vector<GateResult>& out) {
  const bool changes = HasChanges(gate);
  const bool bounds = HasBounds(gate) || !changes;
  std::vector<std::string> slices = {""};
  if (gate.per_slice && gate.kind == "metric" && data_.has_value()) {
    for (const auto& [key, rows] : data_->slices) slices.push_back(key);
  }
  if (bounds) {
    GateSpec part = gate;
    part.min_absolute_change.reset();
    part.min_relative_change.reset();
    // A bound gate shows the baseline's value beside the candidate's where it is cheap
    // (metrics are scored anyway; run metrics are one read), not for checks.
    const bool with_baseline = gate.kind != "check";
    for (const std::string& slice : slices) {
      out.push_back(Judge(part, slice, ValueOf(part, false, slice),
                          with_baseline ? ValueOf(part, true, slice) : Valued::Error(""), false,
                          !slice.empty()));
    }
  }
  if (changes) {
    GateSpec part = gate;
    part.min.reset();
    part.max.reset();
    for (const std::string& slice : slices) {
      out.push_back(Judge(part, slice, ValueOf(part, false, slice), ValueOf(part, true, slice),
                          true, !slice.empty()));
    }
  }
}

Json Evaluator::MetricsJson() const {
  Json out = Json::object();
  auto values = [](const MetricSet& set) {
    Json j = Json::object();
    for (const auto& [name, value] : set.values) j[name] = value;
    return j;
  };
  if (candidate_.score_status.ok()) out["candidate"] = values(candidate_.overall);
  const bool baseline_scored = baseline_.has_value() && baseline_->score_status.ok();
  if (baseline_scored) out["baseline"] = values(baseline_->overall);
  if (data_.has_value() && !data_->slices.empty() && candidate_.score_status.ok()) {
    Json slices = Json::object();
    for (const auto& [key, rows] : data_->slices) {
      Json entry = {{"rows", static_cast<int64_t>(rows.size())}};
      auto c = candidate_.slices.find(key);
      if (c != candidate_.slices.end()) entry["candidate"] = values(c->second);
      if (baseline_scored) {
        auto b = baseline_->slices.find(key);
        if (b != baseline_->slices.end()) entry["baseline"] = values(b->second);
      }
      slices[key] = std::move(entry);
    }
    out["slices"] = std::move(slices);
  }
  return out;
}

absl::StatusOr<Evaluation> Evaluator::Run(int64_t policy_version, int64_t version,
                                          std::string_view actor) {
  CAIRN_CHECK(deps_.registry != nullptr);
  if (policy_.model != model_) {
    return absl::InvalidArgumentError(absl::StrCat("policy ", policy_.name, " governs model '",
                                                   policy_.model, "', not '", model_, "'"));
  }
  {
    absl::StatusOr<tracking::ModelVersion> mv = deps_.registry->GetModelVersion(model_, version);
    if (!mv.ok()) return mv.status();
  }
  Evaluation out;
  absl::StatusOr<tracking::ModelVersion> holder =
      deps_.registry->GetModelVersionByAlias(model_, policy_.target_alias);
  if (holder.ok()) {
    out.baseline_version = holder->version;
  } else if (holder.status().code() != absl::StatusCode::kInvalidArgument) {
    return holder.status();  // InvalidArgument: the alias does not exist yet
  }

  const Needs needs = NeedsOf(policy_);
  if (needs.data) {
    CAIRN_ASSIGN_OR_RETURN(EvalData data, ReadEvalData(policy_, deps_));
    data_ = std::move(data);
  }
  candidate_.version = version;
  if (needs.runtime) {
    Load(candidate_);
    if (data_.has_value()) Score(candidate_, needs.scores);
  }
  if (out.baseline_version != 0) {
    if (out.baseline_version == version && needs.runtime) {
      baseline_ = candidate_;  // re-evaluating the current holder: compare with itself
    } else {
      baseline_.emplace();
      baseline_->version = out.baseline_version;
      if (needs.baseline_runtime) {
        Load(*baseline_);
        if (data_.has_value()) Score(*baseline_, needs.scores);
      }
    }
  }

  for (const GateSpec& gate : policy_.gates) AddGate(gate, out.gates);
  out.id = "ev-" + NewUuidHex();
  out.model = model_;
  out.version = version;
  out.policy = policy_.name;
  out.policy_version = policy_version;
  out.passed = std::all_of(out.gates.begin(), out.gates.end(), [](const GateResult& g) {
    return g.verdict == "pass" || g.verdict == "skipped";
  });
  out.metrics = MetricsJson();
  out.rows = data_.has_value() ? static_cast<int64_t>(data_->labels.size()) : 0;
  out.actor = std::string(actor);
  out.created_ms = (deps_.clock != nullptr ? *deps_.clock : RealClock()).NowMillis();
  return out;
}

}  // namespace

absl::StatusOr<Evaluation> Evaluate(const PolicySpec& policy, int64_t policy_version,
                                    std::string_view model, int64_t version, std::string_view actor,
                                    const EvaluatorDeps& deps) {
  Evaluator evaluator(policy, model, deps);
  return evaluator.Run(policy_version, version, actor);
}

}  // namespace cairn::cicd
