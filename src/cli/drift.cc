// `cairn drift --reference ref.csv --current cur.csv …`: data drift between two CSV files,
// computed here (no server): per column Evidently's default test or the one asked, a
// table (or --json, the body of POST /api/v1/monitoring/drift), the data-set verdict and
// optionally a self-contained HTML report.
//
// Exit codes: 0 whatever the verdict (drift is a finding, not a failure) unless
// --fail-on-drift, then 1 when the data set drifted; 2 for bad flags or input (the message
// names the flag, file, line or column).

#include <charconv>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/strings.h"
#include "monitoring/csv_frame.h"
#include "monitoring/data_frame.h"
#include "monitoring/drift.h"
#include "monitoring/html_report.h"
#include "monitoring/stats/stat_tests.h"

namespace cairn::cli {
namespace {

struct DriftCommandOptions {
  std::string reference;
  std::string current;
  std::vector<std::string> columns;
  std::vector<std::string> categorical;
  std::string test;
  std::string threshold;
  std::vector<std::string> column_tests;
  std::string drift_share = "0.5";
  int threads = 0;
  bool json = false;
  std::string html;
  bool fail_on_drift = false;
};

// Comma-separated lists may also be given by repeating the flag.
std::vector<std::string> SplitList(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& value : values) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      out.emplace_back(std::string(absl::StripAsciiWhitespace(part)));
    }
  }
  return out;
}

std::optional<double> ParseDouble(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::string TestNames() {
  std::vector<std::string> names;
  for (const monitoring::stats::StatTestInfo& info : monitoring::stats::StatTests()) {
    names.emplace_back(info.name);
  }
  return absl::StrJoin(names, ", ");
}

absl::Status CheckTestName(std::string_view flag, std::string_view name) {
  if (monitoring::stats::FindStatTest(name) != nullptr) return absl::OkStatus();
  std::vector<std::string> names;
  for (const monitoring::stats::StatTestInfo& info : monitoring::stats::StatTests()) {
    names.emplace_back(info.name);
  }
  const std::string nearest = monitoring::NearestColumnName(name, names);
  return absl::InvalidArgumentError(absl::StrCat(
      ToAbsl(flag), ": unknown test '", ToAbsl(name), "'",
      nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
      "; the tests: ", TestNames()));
}

absl::StatusOr<double> ThresholdValue(std::string_view flag, std::string_view text) {
  std::optional<double> value = ParseDouble(text);
  if (!value.has_value() || *value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(flag), ": '", ToAbsl(text),
        "' is not a threshold; give a number >= 0 (a p-value like 0.05 or a distance like 0.1)"));
  }
  return *value;
}

// The flags as DriftOptions (before any file is read, so mistakes fail fast).
absl::StatusOr<monitoring::DriftOptions> BuildOptions(const DriftCommandOptions& flags) {
  monitoring::DriftOptions options;
  options.columns = SplitList(flags.columns);
  options.threads = flags.threads;
  options.keep_histograms = !flags.html.empty();
  if (!flags.test.empty()) {
    CAIRN_RETURN_IF_ERROR(CheckTestName("--test", flags.test));
    options.test = flags.test;
  }
  if (!flags.threshold.empty()) {
    CAIRN_ASSIGN_OR_RETURN(options.threshold, ThresholdValue("--threshold", flags.threshold));
  }
  std::optional<double> share = ParseDouble(flags.drift_share);
  if (!share.has_value() || *share <= 0 || *share > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--drift-share: '", flags.drift_share,
                     "' is not a share; give a number above 0 and at most 1 (default 0.5: the "
                     "data set drifts when half of its columns drift)"));
  }
  options.drift_share = *share;
  for (const std::string& spec : flags.column_tests) {
    // COLUMN=TEST[:THRESHOLD] or COLUMN=:THRESHOLD (column names may hold '=' or ':'; test
    // names and numbers do not).
    const size_t equals = spec.rfind('=');
    const std::string usage =
        "; write COLUMN=TEST[:THRESHOLD] (price=psi, price=psi:0.2, price=:0.01)";
    if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--column-test: '", spec, "' is not COLUMN=TEST[:THRESHOLD]", usage));
    }
    const std::string column = spec.substr(0, equals);
    const std::string rest = spec.substr(equals + 1);
    const size_t colon = rest.find(':');
    const std::string test = rest.substr(0, colon);
    monitoring::ColumnTestOverride entry;
    if (!test.empty()) {
      CAIRN_RETURN_IF_ERROR(CheckTestName(absl::StrCat("--column-test ", spec), test));
      entry.test = test;
    }
    if (colon != std::string::npos) {
      CAIRN_ASSIGN_OR_RETURN(entry.threshold, ThresholdValue(absl::StrCat("--column-test ", spec),
                                                             rest.substr(colon + 1)));
    } else if (test.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--column-test: '", spec, "' names neither a test nor a threshold", usage));
    }
    if (options.per_column.count(column) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--column-test: column '", column, "' is given twice; keep one"));
    }
    options.per_column[column] = entry;
  }
  return options;
}

absl::StatusOr<monitoring::DataFrame> ReadFrame(const std::string& flag, const std::string& path,
                                                const DriftCommandOptions& flags,
                                                const monitoring::DriftOptions& options) {
  monitoring::CsvFrameOptions csv;
  csv.categorical = SplitList(flags.categorical);
  csv.columns = options.columns;
  // Columns named only by --column-test are read too (and checked below).
  csv.threads = flags.threads;
  absl::StatusOr<monitoring::DataFrame> frame = monitoring::ReadCsvFrame(path, csv);
  if (!frame.ok()) {
    return absl::Status(frame.status().code(),
                        absl::StrCat(flag, " ", frame.status().message()));
  }
  return frame;
}

std::string Cell(double value) { return FormatNumber(value); }

void PrintTable(std::ostream& out, const monitoring::DriftReport& report) {
  Table table({"COLUMN", "KIND", "TEST", "STATISTIC", "P-VALUE", "THRESHOLD", "DRIFTED"});
  table.SetNumeric(3);
  table.SetNumeric(4);
  table.SetNumeric(5);
  for (const monitoring::ColumnDrift& column : report.columns) {
    const monitoring::stats::TestResult& result = column.result;
    table.AddRow({column.column, column.categorical ? "categorical" : "numeric", result.test,
                  Cell(result.statistic), result.p_value ? Cell(*result.p_value) : "-",
                  Cell(result.threshold), result.drifted ? "yes" : "no"});
  }
  out << table.Render() << "\n";
  for (const monitoring::ColumnDrift& column : report.columns) {
    if (column.reason.empty()) continue;
    out << "column " << column.column << ": " << column.reason
        << (column.result.drifted ? " (counted as drifted)" : "") << "\n";
  }
  out << (report.dataset_drift ? "Data set drift: YES" : "Data set drift: no") << " — "
      << report.drifted_columns << " of " << report.columns.size() << " columns drifted (share "
      << FormatNumber(report.drift_share) << (report.dataset_drift ? " >= " : " < ")
      << FormatNumber(report.share_threshold) << "); reference " << report.reference_rows
      << " rows, current " << report.current_rows << " rows\n";
}

absl::Status WriteHtml(const std::string& path, const std::string& html) {
  const std::string partial = path + ".partial";
  {
    std::ofstream file(partial, std::ios::binary | std::ios::trunc);
    if (!file) {
      return absl::InvalidArgumentError(
          absl::StrCat("--html: cannot write '", path, "'; check that its folder exists and is "
                                                       "writable"));
    }
    file << html;
    file.close();
    if (!file) return absl::InternalError(absl::StrCat("--html: writing '", path, "' failed"));
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    std::remove(partial.c_str());
    return absl::InternalError(absl::StrCat("--html: cannot move the report to '", path, "'"));
  }
  return absl::OkStatus();
}

// The whole command; an error status means exit 2.
absl::StatusOr<int> RunDrift(CliContext& ctx, const DriftCommandOptions& flags) {
  CAIRN_ASSIGN_OR_RETURN(monitoring::DriftOptions options, BuildOptions(flags));
  CAIRN_ASSIGN_OR_RETURN(monitoring::DataFrame reference,
                         ReadFrame("--reference", flags.reference, flags, options));
  CAIRN_ASSIGN_OR_RETURN(monitoring::DataFrame current,
                         ReadFrame("--current", flags.current, flags, options));
  for (const auto& [column, entry] : options.per_column) {
    if (reference.Find(column) == nullptr) {
      const std::string nearest = monitoring::NearestColumnName(column, reference.Names());
      return absl::InvalidArgumentError(absl::StrCat(
          "--column-test: no column '", column, "' in ", flags.reference,
          nearest.empty() ? "" : absl::StrCat(" (did you mean '", nearest, "'?)"),
          options.columns.empty() ? "" : " among the --columns read"));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(monitoring::DriftReport report,
                         monitoring::ComputeDrift(reference, current, options));
  if (!flags.html.empty()) {
    monitoring::HtmlReportOptions html;
    html.reference_label = flags.reference;
    html.current_label = flags.current;
    html.generated_ms = SystemClock().NowMillis();
    CAIRN_RETURN_IF_ERROR(WriteHtml(flags.html, monitoring::DriftReportHtml(report, html)));
  }
  if (flags.json) {
    ctx.out() << monitoring::DriftReportToJson(report).dump(2, ' ', false,
                                                            Json::error_handler_t::replace)
              << "\n";
  } else {
    PrintTable(ctx.out(), report);
  }
  if (!flags.html.empty()) {
    // stderr when stdout carries JSON, so that it stays parseable.
    (flags.json ? ctx.err() : ctx.out()) << "HTML report: " << flags.html << "\n";
  }
  return flags.fail_on_drift && report.dataset_drift ? kExitFailure : kExitOk;
}

}  // namespace

void AddDriftCommand(CLI::App& app, CliContext& ctx) {
  auto flags = std::make_shared<DriftCommandOptions>();
  CLI::App* drift = app.add_subcommand(
      "drift",
      "Data drift between a reference and a current CSV file, computed here (no server). Exit "
      "code 0 whatever the verdict (1 on data-set drift with --fail-on-drift); 2 on bad flags "
      "or input");
  drift->add_option("--reference", flags->reference, "Reference CSV (e.g. the training data)")
      ->required();
  drift->add_option("--current", flags->current, "Current CSV (e.g. recent production inputs)")
      ->required();
  drift->add_option("--columns", flags->columns,
                    "Only these columns (a,b or repeat; default: every column both files have)");
  drift->add_option("--categorical", flags->categorical,
                    "Read these columns as categories even when they hold numbers (a,b)");
  drift->add_option("--test", flags->test,
                    absl::StrCat("One test for every column (default: Evidently's choice per "
                                 "column): ",
                                 TestNames()));
  drift->add_option("--threshold", flags->threshold,
                    "Threshold for every column (default: the test's own)");
  drift->add_option("--column-test", flags->column_tests,
                    "COLUMN=TEST[:THRESHOLD] for one column (repeat): price=psi:0.2, age=:0.01");
  drift->add_option("--drift-share", flags->drift_share,
                    "The data set drifts when at least this share of columns drift")
      ->capture_default_str();
  drift->add_option("--threads", flags->threads, "Threads (0: one per core)")
      ->check(CLI::NonNegativeNumber);
  drift->add_flag("--json", flags->json, "Print the report as JSON instead of a table");
  drift->add_option("--html", flags->html, "Also write a self-contained HTML report here");
  drift->add_flag("--fail-on-drift", flags->fail_on_drift,
                  "Exit 1 when the data set drifted (for CI and scripts)");
  drift->callback([flags, &ctx] {
    absl::StatusOr<int> code = RunDrift(ctx, *flags);
    if (!code.ok()) {
      ctx.err() << "cairn: " << ToStd(code.status().message()) << "\n";
      ctx.exit_code = kExitUsage;
      return;
    }
    ctx.exit_code = *code;
  });
}

}  // namespace cairn::cli
