#include "monitoring/monitors/monitor_io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/strings.h"
#include "features/feature_store.h"
#include "features/training_sets.h"
#include "features/row_stream.h"
#include "features/view_rows.h"
#include "monitoring/category_label.h"
#include "monitoring/csv_frame.h"
#include "monitoring/html_report.h"
#include "monitoring/profile.h"
#include "monitoring/profile_store.h"
#include "monitoring/reference_rows.h"
#include "tracking/model_registry.h"
#include "tracking/tracking_store.h"

namespace cairn::monitoring {
namespace {

// One frame column being filled from scanned batches.
struct ColumnBuilder {
  FrameColumn column;
  features::FeatureType type = features::FeatureType::kDouble;
  absl::flat_hash_map<std::string, int32_t> codes;  // categorical: label → code

  int32_t Code(const std::string& label) {
    auto [it, inserted] = codes.try_emplace(label, static_cast<int32_t>(codes.size()));
    if (inserted) column.categories.push_back(label);
    return it->second;
  }

  void Append(const features::Column& in, size_t row) {
    const bool null = in.IsNull(row);
    if (!column.categorical) {
      double value = std::nan("");
      if (!null) {
        value = type == features::FeatureType::kDouble ? in.doubles[row]
                                                       : static_cast<double>(in.ints[row]);
        if (!std::isfinite(value)) value = std::nan("");
      }
      column.numbers.push_back(value);
      return;
    }
    if (null) {
      column.codes.push_back(-1);
      return;
    }
    switch (type) {
      case features::FeatureType::kString:
        column.codes.push_back(Code(in.strings[row]));
        break;
      case features::FeatureType::kDouble: {
        // The value's label, as a CSV field of the same number gets (category_label.h).
        const double value = in.doubles[row];
        column.codes.push_back(std::isfinite(value) ? Code(NumberCategoryLabel(value)) : -1);
        break;
      }
      case features::FeatureType::kBool:
        column.codes.push_back(Code(in.ints[row] != 0 ? "true" : "false"));
        break;
      default:
        column.codes.push_back(Code(NumberCategoryLabel(in.ints[row])));
    }
  }
};

// Keeps the rows at `keep` (ascending positions) of every column.
void KeepRows(FrameColumn& column, const std::vector<size_t>& keep) {
  if (column.categorical) {
    std::vector<int32_t> codes;
    codes.reserve(keep.size());
    for (size_t i : keep) codes.push_back(column.codes[i]);
    column.codes = std::move(codes);
  } else {
    std::vector<double> numbers;
    numbers.reserve(keep.size());
    for (size_t i : keep) numbers.push_back(column.numbers[i]);
    column.numbers = std::move(numbers);
  }
}

// The training-set id in a dataset source ("cairn://training-sets/<id>", a URL or JSON
// holding ".../training-sets/<id>"), or empty.
std::string TrainingSetIdIn(std::string_view text) {
  constexpr std::string_view kMarker = "training-sets/";
  const size_t at = text.find(kMarker);
  if (at == std::string_view::npos) return "";
  size_t end = at + kMarker.size();
  while (end < text.size() && std::isxdigit(static_cast<unsigned char>(text[end]))) ++end;
  std::string id(text.substr(at + kMarker.size(), end - at - kMarker.size()));
  return id.size() == 32 ? id : "";
}

// A training set's rows as a frame (see ReadModelTrainingSet).
DataFrame TableToFrame(const features::Table& table, const std::vector<std::string>& categorical) {
  DataFrame frame;
  frame.rows = static_cast<int64_t>(table.num_rows());
  for (size_t c = 0; c < table.num_columns(); ++c) {
    std::string name = table.names[c];
    if (name.rfind("__", 0) == 0) continue;
    if (const size_t sep = name.find("__"); sep != std::string::npos && sep > 0) {
      const std::string feature = name.substr(sep + 2);
      if (!feature.empty() && table.Find(feature) < 0) name = feature;
    }
    ColumnBuilder builder;
    builder.column.name = name;
    builder.type = table.columns[c].type;
    builder.column.categorical =
        builder.type == features::FeatureType::kString ||
        std::find(categorical.begin(), categorical.end(), name) != categorical.end();
    for (size_t r = 0; r < table.num_rows(); ++r) builder.Append(table.columns[c], r);
    // An int64 column with no null is what pandas types int64 (numpy's bin width ≥ 1).
    FrameColumn& column = builder.column;
    column.integer = !column.categorical && builder.type == features::FeatureType::kInt64 &&
                     !column.numbers.empty() &&
                     std::none_of(column.numbers.begin(), column.numbers.end(),
                                  [](double v) { return std::isnan(v); });
    frame.columns.push_back(std::move(builder.column));
  }
  return frame;
}

absl::StatusOr<Json> CheckAgainst(const Constraints& constraints, const DataFrame& current) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<Violation> violations, CheckConstraints(constraints, current));
  Json out = ViolationsToJson(violations);
  out["constraints"] = ConstraintsToJson(constraints);
  return out;
}

}  // namespace

absl::StatusOr<DataFrame> ReadFeatureViewFrame(features::FeatureStore& store,
                                               const ViewReadRequest& request) {
  // The registry names an unknown view (NotFound with "did you mean" style text).
  CAIRN_ASSIGN_OR_RETURN(auto view, store.registry().GetView(request.view));
  // The store keeps a view's rows in "view.<name>.<shape hash>" and records which one is
  // current privately; take the table of this view whose layout has every row-level
  // feature of the registered version (the last such name when a rebuild left several).
  const std::string prefix = features::ViewTableName(request.view) + ".";
  std::string table;
  features::OfflineTableLayout layout;
  for (const std::string& name : store.offline().ListTables()) {
    if (name.rfind(prefix, 0) != 0 || name.find('.', prefix.size()) != std::string::npos) {
      continue;
    }
    absl::StatusOr<features::OfflineTableLayout> candidate = store.offline().Layout(name);
    if (!candidate.ok()) continue;
    bool has_all = true;
    for (const features::FeatureSpec& feature : view.spec.features) {
      if (feature.agg != features::AggFn::kNone) continue;
      if (features::FindField(candidate->schema, feature.name) < 0) has_all = false;
    }
    if (!has_all) continue;
    table = name;
    layout = std::move(*candidate);
  }
  if (table.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "feature view '", request.view, "' has no offline rows yet: ingest into its source ",
        view.spec.source));
  }

  std::vector<ColumnBuilder> builders;
  features::ScanOptions scan;
  for (const features::Field& field : layout.schema) {
    if (field.name.rfind("__", 0) == 0) continue;  // timestamps, aggregation inputs
    if (std::find(layout.key_columns.begin(), layout.key_columns.end(), field.name) !=
        layout.key_columns.end()) {
      continue;
    }
    ColumnBuilder builder;
    builder.column.name = field.name;
    builder.type = field.type;
    builder.column.categorical =
        field.type == features::FeatureType::kString ||
        std::find(request.categorical.begin(), request.categorical.end(), field.name) !=
            request.categorical.end();
    scan.columns.push_back(field.name);
    builders.push_back(std::move(builder));
  }
  if (request.from_ms != 0) scan.min_event_ts = request.from_ms;
  if (request.to_ms != 0) scan.max_event_ts = request.to_ms;

  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<features::RowStream> stream,
                         store.offline().Scan(table, scan));
  std::vector<int> positions(builders.size(), -1);
  int event_position = -1;
  std::vector<int64_t> event_ts;
  features::Table batch;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(bool more, stream->Next(&batch));
    if (!more) break;
    for (size_t c = 0; c < builders.size(); ++c) {
      positions[c] = batch.Find(builders[c].column.name);
    }
    event_position = batch.Find(features::kEventTsColumn);
    const size_t rows = batch.num_rows();
    for (size_t c = 0; c < builders.size(); ++c) {
      if (positions[c] < 0) {
        return absl::InternalError(absl::StrCat("view table ", table, " scan lacks column ",
                                                builders[c].column.name));
      }
      const features::Column& in = batch.columns[positions[c]];
      for (size_t r = 0; r < rows; ++r) builders[c].Append(in, r);
    }
    if (request.last_rows > 0 && event_position >= 0) {
      const features::Column& ts = batch.columns[event_position];
      event_ts.insert(event_ts.end(), ts.ints.begin(), ts.ints.begin() + rows);
    }
  }

  DataFrame frame;
  std::vector<bool> int64_typed;
  for (ColumnBuilder& builder : builders) {
    int64_typed.push_back(builder.type == features::FeatureType::kInt64);
    frame.columns.push_back(std::move(builder.column));
  }
  frame.rows = frame.columns.empty() ? 0 : static_cast<int64_t>(frame.columns[0].size());
  if (request.last_rows > 0 && frame.rows > request.last_rows &&
      static_cast<int64_t>(event_ts.size()) == frame.rows) {
    // The scan is in (key, time) order: pick the latest rows by time, keep scan order.
    std::vector<size_t> order(event_ts.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t n = static_cast<size_t>(request.last_rows);
    std::nth_element(order.begin(), order.begin() + (order.size() - n), order.end(),
                     [&](size_t a, size_t b) {
                       return event_ts[a] != event_ts[b] ? event_ts[a] < event_ts[b] : a < b;
                     });
    std::vector<size_t> keep(order.end() - n, order.end());
    std::sort(keep.begin(), keep.end());
    for (FrameColumn& column : frame.columns) KeepRows(column, keep);
    frame.rows = static_cast<int64_t>(n);
  }
  // An int64 feature with no null in the rows read is what pandas types int64.
  for (size_t i = 0; i < frame.columns.size(); ++i) {
    FrameColumn& column = frame.columns[i];
    if (column.categorical || !int64_typed[i] || column.numbers.empty()) continue;
    column.integer = std::none_of(column.numbers.begin(), column.numbers.end(),
                                  [](double v) { return std::isnan(v); });
  }
  return frame;
}

absl::StatusOr<StoredReference> ReadModelTrainingSet(
    tracking::ModelRegistry& registry, tracking::TrackingStore& tracking,
    const std::function<absl::StatusOr<features::Table>(const std::string& id)>&
        load_training_set,
    const MonitorReference& ref, const std::vector<std::string>& categorical) {
  absl::StatusOr<tracking::ModelVersion> version =
      ref.model_alias.empty() ? registry.GetModelVersion(ref.model, ref.model_version)
                              : registry.GetModelVersionByAlias(ref.model, ref.model_alias);
  if (!version.ok()) {
    if (!ref.model_alias.empty() && absl::IsInvalidArgument(version.status())) {
      return absl::NotFoundError(absl::StrCat(
          "model '", ref.model, "' has no alias '", ref.model_alias,
          "': point it at a version (cairn models alias / promotion) or give version: N"));
    }
    return version.status();
  }
  const std::string label = absl::StrCat("model ", ref.model, " version ", version->version);
  if (!version->run_id.has_value() || version->run_id->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, " was not registered from a run, so it names no training set"));
  }
  const std::string& run_id = *version->run_id;
  absl::StatusOr<tracking::Run> run = tracking.GetRun(run_id);
  if (!run.ok()) {
    return absl::Status(run.status().code(),
                        absl::StrCat("the source run ", run_id, " of ", label, ": ",
                                     run.status().message()));
  }
  std::string id;
  for (const tracking::DatasetInput& input : run->inputs) {
    id = TrainingSetIdIn(input.dataset.source);
    if (!id.empty()) break;
  }
  if (id.empty()) {
    for (const tracking::RunTag& tag : run->tags) {
      if (tag.key == "cairn.training_set") id = TrainingSetIdIn(tag.value);
    }
  }
  if (id.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the source run ", run_id, " of ", label,
        " has no training-set input: log the Cairn training set it was trained on with "
        "mlflow.log_input(FeatureStore.training_set_dataset(df)) (a dataset whose source is "
        "cairn://training-sets/<id>)"));
  }
  absl::StatusOr<features::Table> table = load_training_set(id);
  if (!table.ok()) {
    return absl::Status(table.status().code(),
                        absl::StrCat("training set ", id, " (the input of run ", run_id, " of ",
                                     label, ") cannot be read: ", table.status().message()));
  }
  StoredReference out;
  out.frame = TableToFrame(*table, categorical);
  out.source = {{"model", ref.model},
                {"model_version", version->version},
                {"run_id", run_id},
                {"training_set", id}};
  return out;
}

MonitorIo StandardMonitorIo(StandardIoOptions options) {
  MonitorIo io;
  features::FeatureStore* store = options.feature_store;
  if (store != nullptr) {
    io.read_view = [store](const ViewReadRequest& request) {
      return ReadFeatureViewFrame(*store, request);
    };
    io.source_of_view = [store](const std::string& view) -> absl::StatusOr<std::string> {
      CAIRN_ASSIGN_OR_RETURN(auto spec, store->registry().GetView(view));
      return spec.spec.source;
    };
  }
  const int threads = options.csv_threads;
  io.read_csv = [threads](const std::string& path, const std::vector<std::string>& categorical) {
    return ReadCsvFrame(path, CsvFrameOptions{.categorical = categorical, .threads = threads});
  };
  io.render_html = [](const DriftReport& report, const std::string& title) {
    return DriftReportHtml(report, HtmlReportOptions{.title = title});
  };
  if (const ProfileStore* profiles = options.profile_store) {
    io.read_profile_rows = [profiles](const std::string& name,
                                      const std::vector<std::string>& categorical)
        -> absl::StatusOr<StoredReference> {
      CAIRN_ASSIGN_OR_RETURN(ProfileRows rows, profiles->GetRows(name));
      StoredReference out;
      out.source = {{"profile_version", rows.summary.version},
                    {"rows_stored", rows.frame.has_value()}};
      if (rows.frame.has_value()) {
        ForceCategorical(*rows.frame, categorical);
        out.frame = std::move(rows.frame);
      } else {
        out.missing = absl::StrCat("version ", rows.summary.version,
                                   " was stored without its rows (made from a profile alone, "
                                   "or before Cairn kept them)");
      }
      return out;
    };
    if (!options.profile_constraints) {
      options.profile_constraints = [profiles](const std::string& name) {
        return profiles->GetConstraints(name);
      };
    }
  }
  if (store != nullptr && options.model_registry != nullptr && options.tracking != nullptr) {
    io.read_model_reference = [store, registry = options.model_registry,
                               tracking = options.tracking](
                                  const MonitorReference& ref,
                                  const std::vector<std::string>& categorical) {
      return ReadModelTrainingSet(
          *registry, *tracking,
          [store](const std::string& id) { return store->training_sets().Load(id); }, ref,
          categorical);
    };
  }
  auto profile_constraints = options.profile_constraints;
  io.check_constraints = [profile_constraints](const MonitorReference& ref,
                                               const DataFrame* reference,
                                               const DataFrame& current) -> absl::StatusOr<Json> {
    if (!ref.profile.empty()) {
      if (!profile_constraints) {
        return absl::FailedPreconditionError(absl::StrCat(
            "reference.profile '", ref.profile, "': this server has no profile store"));
      }
      CAIRN_ASSIGN_OR_RETURN(Constraints constraints, profile_constraints(ref.profile));
      return CheckAgainst(constraints, current);
    }
    if (reference == nullptr) {
      return absl::FailedPreconditionError("constraints need a reference profile or reference rows");
    }
    CAIRN_ASSIGN_OR_RETURN(DataProfile profile, ProfileFrame(*reference));
    return CheckAgainst(InferConstraints(profile), current);
  };
  return io;
}

}  // namespace cairn::monitoring
