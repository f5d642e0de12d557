#include "api/drift_handlers.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/errors.h"
#include "api/request_fields.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/data_frame.h"
#include "monitoring/drift.h"
#include "monitoring/stats/stat_tests.h"

namespace cairn::api {
namespace {

std::string Shown(const Json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : DumpJson(value);
  if (text.size() > 100) text = text.substr(0, 100) + "...";
  return text;
}

absl::Status CheckTest(const std::string& field, const std::string& name) {
  if (monitoring::stats::FindStatTest(name) != nullptr) return absl::OkStatus();
  std::vector<std::string> names;
  for (const monitoring::stats::StatTestInfo& info : monitoring::stats::StatTests()) {
    names.emplace_back(info.name);
  }
  const std::string nearest = monitoring::NearestColumnName(name, names);
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": unknown test '", name, "'",
      nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
      "; the tests: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<std::optional<double>> Threshold(const Json& fields, const std::string& name,
                                                const std::string& field) {
  auto it = fields.find(name);
  if (it == fields.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": must be a number >= 0 (a p-value like 0.05 or a distance like 0.1), got ",
        Shown(*it)));
  }
  return std::optional<double>(it->get<double>());
}

absl::StatusOr<monitoring::DriftOptions> Options(const Json& body) {
  monitoring::DriftOptions options;
  CAIRN_ASSIGN_OR_RETURN(options.columns, StringList(body, "columns"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> test, OptionalString(body, "test"));
  if (test.has_value() && !test->empty()) {
    CAIRN_RETURN_IF_ERROR(CheckTest("test", *test));
    options.test = *test;
  }
  CAIRN_ASSIGN_OR_RETURN(options.threshold, Threshold(body, "threshold", "threshold"));
  auto share = body.find("drift_share");
  if (share != body.end() && !share->is_null()) {
    if (!share->is_number() || !(share->get<double>() > 0 && share->get<double>() <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "drift_share: must be a number above 0 and at most 1, got ", Shown(*share)));
    }
    options.drift_share = share->get<double>();
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<bool> histograms, OptionalBool(body, "histograms"));
  options.keep_histograms = histograms.value_or(false);
  auto per_column = body.find("per_column");
  if (per_column != body.end() && !per_column->is_null()) {
    if (!per_column->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "per_column: must be an object {\"column\": {\"test\": NAME, \"threshold\": X}}, got ",
          Shown(*per_column)));
    }
    for (auto it = per_column->begin(); it != per_column->end(); ++it) {
      const std::string field = absl::StrCat("per_column.", it.key());
      if (!it->is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": must be an object {\"test\": NAME, \"threshold\": X}, got ", Shown(*it)));
      }
      monitoring::ColumnTestOverride entry;
      auto column_test = it->find("test");
      if (column_test != it->end() && !column_test->is_null()) {
        if (!column_test->is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".test: must be a test name, got ", Shown(*column_test)));
        }
        CAIRN_RETURN_IF_ERROR(CheckTest(field + ".test", column_test->get<std::string>()));
        entry.test = column_test->get<std::string>();
      }
      CAIRN_ASSIGN_OR_RETURN(entry.threshold, Threshold(*it, "threshold", field + ".threshold"));
      options.per_column[it.key()] = entry;
    }
  }
  return options;
}

absl::StatusOr<Json> Drift(const HttpRequest& request) {
  CAIRN_ASSIGN_OR_RETURN(Json body, RequestFields(request));
  for (const char* name : {"reference", "current"}) {
    if (!body.contains(name) || body[name].is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": required; send the data set as {\"column\": [values, ...], ...}"));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(monitoring::DriftOptions options, Options(body));
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> categorical, StringList(body, "categorical"));
  CAIRN_ASSIGN_OR_RETURN(monitoring::DataFrame reference,
                         monitoring::DataFrameFromJson(body["reference"], categorical, "reference"));
  CAIRN_ASSIGN_OR_RETURN(monitoring::DataFrame current,
                         monitoring::DataFrameFromJson(body["current"], categorical, "current"));
  for (const auto& [column, entry] : options.per_column) {
    if (reference.Find(column) == nullptr) {
      const std::string nearest = monitoring::NearestColumnName(column, reference.Names());
      return absl::InvalidArgumentError(absl::StrCat(
          "per_column.", column, ": no such column in reference",
          nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
          "; its columns: ", absl::StrJoin(reference.Names(), ", ")));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(monitoring::DriftReport report,
                         monitoring::ComputeDrift(reference, current, options));
  return monitoring::DriftReportToJson(report);
}

}  // namespace

void RegisterDriftRoutes(Router& router) {
  router.Add("POST", "/api/v1/monitoring/drift", [](const HttpRequest& request) {
    absl::StatusOr<Json> reply = Drift(request);
    if (!reply.ok()) return ErrorResponse(reply.status(), ErrorDialect::kCairn);
    return JsonResponse(DumpJson(*reply));
  });
}

}  // namespace cairn::api
