// `cairn profiles create|list|show|check|delete`: data profiles and their constraints.
// `create` and `check` read the CSV file here in pieces (csv_profile.h: memory for one
// 16 MiB piece and the profile, whatever the file's size) — create profiles it locally
// in one streaming pass and sends the profile and the rows' compact encoding
// (reference_rows.h, for monitors' drift) to the server, which stores them with the
// constraints it infers; check fetches the stored constraints and checks the
// file against them here (no upload): row by row (exact counts) for a file of one piece,
// through its streamed profile beyond.
//
// Exit codes: 0 success (check: no violation), 1 check found violations, 2 errors
// (unreadable file, server errors, bad arguments).

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/strings.h"
#include "monitoring/constraints.h"
#include "monitoring/csv_frame.h"
#include "monitoring/csv_profile.h"
#include "monitoring/profile.h"
#include "monitoring/reference_rows.h"

namespace cairn::cli {
namespace {

constexpr char kProfilesPath[] = "/api/v1/monitoring/profiles";
// The server reads request bodies up to 64 MiB; base64 adds a third.
constexpr size_t kMaxRowsBytes = 44u << 20;
// Files up to this size are also read whole, for their rows; larger ones only streamed.
constexpr uintmax_t kRowsFileBytes = uintmax_t{64} << 20;

struct FileOptions {
  ClientOptions client;
  std::string name;
  std::string file;
  std::string categorical;  // comma-separated
  int64_t max_domain = -1;  // -1: the server's default
  int64_t version = 0;
};

std::vector<std::string> SplitNames(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    out.emplace_back(part);
  }
  return out;
}

monitoring::CsvProfileOptions FileReadOptions(const FileOptions& options) {
  monitoring::CsvProfileOptions read;
  read.csv.categorical = SplitNames(options.categorical);
  return read;
}

absl::StatusOr<monitoring::DataFrame> ReadFile(const FileOptions& options) {
  return monitoring::ReadCsvFrame(options.file, FileReadOptions(options).csv);
}

int Error(CliContext& ctx, const absl::Status& status) {
  ctx.Fail(status);
  return kExitUsage;
}

std::string TypeCell(const Json& column) { return JsonCell(column.value("inferred_type", Json())); }

// One row per column: what a profile says about it.
std::string ColumnsTable(const Json& profile) {
  Table table({"COLUMN", "TYPE", "COUNT", "NULLS", "MEAN", "STD", "MIN", "P50", "MAX", "TOP"});
  for (size_t c : {2, 3, 4, 5, 6, 7, 8}) table.SetNumeric(c);
  for (const Json& col : profile.value("columns", Json::array())) {
    std::string p50 = "-";
    for (const Json& q : col.value("quantiles", Json::array())) {
      if (q.value("q", 0.0) == 0.5) p50 = JsonCell(q["value"]);
    }
    std::string top = "-";
    if (col.contains("top") && !col["top"].empty()) {
      std::vector<std::string> parts;
      for (size_t i = 0; i < col["top"].size() && i < 3; ++i) {
        parts.push_back(absl::StrCat(col["top"][i].value("value", ""), " (",
                                     JsonCell(col["top"][i]["count"]), ")"));
      }
      top = absl::StrJoin(parts, ", ");
      if (col.value("distinct", 0) > 3) absl::StrAppend(&top, ", … ", JsonCell(col["distinct"]), " labels");
    }
    table.AddRow({col.value("name", ""), TypeCell(col), JsonCell(col.value("count", Json())),
                  JsonCell(col.value("nulls", Json())), JsonCell(col.value("mean", Json())),
                  JsonCell(col.value("std", Json())), JsonCell(col.value("min", Json())), p50,
                  JsonCell(col.value("max", Json())), top});
  }
  return table.Render();
}

std::string ConstraintsTable(const Json& constraints) {
  Table table({"COLUMN", "TYPE", "COMPLETENESS", "NON-NEGATIVE", "RANGE", "DOMAIN"});
  table.SetNumeric(2);
  for (const Json& f : constraints.value("features", Json::array())) {
    std::string non_negative = "-", range = "-", domain = "-";
    if (f.contains("num_constraints")) {
      const Json& num = f["num_constraints"];
      if (num.contains("is_non_negative")) non_negative = num["is_non_negative"] ? "yes" : "no";
      if (num.contains("min") || num.contains("max")) {
        range = absl::StrCat("[", JsonCell(num.value("min", Json())), ", ",
                             JsonCell(num.value("max", Json())), "]");
      }
    }
    if (f.contains("string_constraints")) {
      const Json& labels = f["string_constraints"]["domains"];
      std::vector<std::string> shown;
      for (size_t i = 0; i < labels.size() && i < 5; ++i) shown.push_back(labels[i].get<std::string>());
      domain = absl::StrJoin(shown, ", ");
      if (labels.size() > 5) absl::StrAppend(&domain, ", … (", labels.size(), " labels)");
    }
    table.AddRow({f.value("name", ""), TypeCell(f), JsonCell(f.value("completeness", Json())),
                  non_negative, range, domain});
  }
  return table.Render();
}

int Create(CliContext& ctx, const FileOptions& options) {
  // Streamed: memory for one piece of the file and the profile, whatever its size.
  absl::StatusOr<monitoring::DataProfile> profile =
      monitoring::ProfileCsvFile(options.file, FileReadOptions(options));
  if (!profile.ok()) return Error(ctx, profile.status());
  Json body = {{"name", options.name},
               {"profile", monitoring::ProfileToJson(*profile)},
               {"source", std::filesystem::path(options.file).filename().string()}};
  if (options.max_domain >= 0) body["max_domain_size"] = options.max_domain;
  // The rows go with the profile (compact, reference_rows.h) so monitors against it test
  // drift; a file too large for one request is profiled without them.
  // Only a file of at most kRowsFileBytes is read whole for that: memory stays bounded.
  std::error_code size_error;
  const auto file_bytes = std::filesystem::file_size(options.file, size_error);
  if (size_error || file_bytes > kRowsFileBytes) {
    ctx.err() << "note: " << options.file << " is larger than " << kRowsFileBytes
              << " bytes, so it was profiled in pieces and the profile is stored without its "
                 "rows: monitors against it check constraints only\n";
  } else {
    absl::StatusOr<monitoring::DataFrame> frame = ReadFile(options);
    if (!frame.ok()) return Error(ctx, frame.status());
    absl::StatusOr<std::string> rows = monitoring::EncodeReferenceRows(*frame);
    if (!rows.ok()) return Error(ctx, rows.status());
    if (rows->size() <= kMaxRowsBytes) {
      body["rows"] = absl::Base64Escape(*rows);
    } else {
      ctx.err() << "note: the compressed rows of " << options.file << " take " << rows->size()
                << " bytes, more than one request carries (" << kMaxRowsBytes
                << "); the profile is stored without them, so monitors against it check "
                   "constraints only\n";
    }
  }
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Send("POST", kProfilesPath, {}, &body, {});
  if (!reply.ok()) return Error(ctx, reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "profile " << reply->value("name", "") << " version "
            << JsonCell(reply->value("version", Json())) << ": " << JsonCell((*reply)["rows"])
            << " rows, " << JsonCell((*reply)["column_count"]) << " columns\n\n"
            << ColumnsTable((*reply)["profile"]) << "\nconstraints (inferred):\n"
            << ConstraintsTable((*reply)["constraints"]);
  return kExitOk;
}

int List(CliContext& ctx, const ClientOptions& options) {
  ApiClient client = ctx.Client(options);
  absl::StatusOr<Json> reply = client.Get(kProfilesPath, {});
  if (!reply.ok()) return Error(ctx, reply.status());
  if (options.json) return ctx.PrintJson(*reply);
  Table table({"NAME", "VERSION", "ROWS", "COLUMNS", "SOURCE", "CREATED (UTC)"});
  for (size_t c : {1, 2, 3}) table.SetNumeric(c);
  for (const Json& p : reply->value("profiles", Json::array())) {
    table.AddRow({p.value("name", ""), JsonCell(p.value("version", Json())),
                  JsonCell(p.value("rows", Json())), JsonCell(p.value("column_count", Json())),
                  p.value("source", ""), FormatTimestamp(JsonMillis(p.value("created_ms", Json())))});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

absl::StatusOr<Json> Fetch(CliContext& ctx, const FileOptions& options) {
  ApiClient client = ctx.Client(options.client);
  QueryList query;
  if (options.version > 0) query.emplace_back("version", std::to_string(options.version));
  return client.Get(absl::StrCat(kProfilesPath, "/", options.name), query);
}

int Show(CliContext& ctx, const FileOptions& options) {
  absl::StatusOr<Json> reply = Fetch(ctx, options);
  if (!reply.ok()) return Error(ctx, reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "profile " << reply->value("name", "") << " version "
            << JsonCell((*reply)["version"]) << " (" << reply->value("source", "") << ", "
            << FormatTimestamp(JsonMillis((*reply)["created_ms"])) << " UTC): "
            << JsonCell((*reply)["rows"]) << " rows\n\n"
            << ColumnsTable((*reply)["profile"]) << "\nconstraints:\n"
            << ConstraintsTable((*reply)["constraints"]);
  return kExitOk;
}

int Check(CliContext& ctx, const FileOptions& options) {
  absl::StatusOr<Json> reply = Fetch(ctx, options);
  if (!reply.ok()) return Error(ctx, reply.status());
  absl::StatusOr<monitoring::Constraints> constraints =
      monitoring::ConstraintsFromJson((*reply)["constraints"]);
  if (!constraints.ok()) return Error(ctx, constraints.status());
  // Row by row for a file of one piece (16 MiB), through its streamed profile beyond.
  absl::StatusOr<monitoring::CsvCheck> check =
      monitoring::CheckCsvFile(options.file, *constraints, FileReadOptions(options));
  if (!check.ok()) return Error(ctx, check.status());
  const int64_t rows = check->rows;
  const std::vector<monitoring::Violation>* violations = &check->violations;
  const int code = violations->empty() ? kExitOk : kExitFailure;
  if (options.client.json) {
    Json out = monitoring::ViolationsToJson(*violations);
    out["name"] = options.name;
    out["version"] = (*reply)["version"];
    out["rows"] = rows;
    out["passed"] = violations->empty();
    ctx.PrintJson(out);
    return code;
  }
  if (violations->empty()) {
    ctx.out() << options.file << ": " << rows << " rows pass the constraints of profile "
              << options.name << " version " << JsonCell((*reply)["version"]) << "\n";
    return code;
  }
  Table table({"COLUMN", "CHECK", "DESCRIPTION"});
  for (const monitoring::Violation& v : *violations)
    table.AddRow({v.feature_name, v.constraint_check_type, v.description});
  ctx.out() << table.Render() << violations->size() << " violation"
            << (violations->size() == 1 ? "" : "s") << " of profile " << options.name
            << " version " << JsonCell((*reply)["version"]) << " in " << options.file << " ("
            << rows << " rows)\n";
  return code;
}

int Delete(CliContext& ctx, const FileOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Send("DELETE", absl::StrCat(kProfilesPath, "/", options.name), {}, nullptr, {});
  if (!reply.ok()) return Error(ctx, reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "deleted profile " << options.name << "\n";
  return kExitOk;
}

}  // namespace

void AddProfilesCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand(
      "profiles", "Data profiles and their constraints (check new data against them)");
  noun->require_subcommand(1);

  auto create_options = std::make_shared<FileOptions>();
  CLI::App* create = noun->add_subcommand(
      "create", "Profile a CSV file here and store it (with inferred constraints) as NAME");
  AddClientOptions(*create, create_options->client);
  create->add_option("NAME", create_options->name, "Profile name")->required();
  create->add_option("-f,--file", create_options->file, "CSV file (header line)")->required();
  create->add_option("--categorical", create_options->categorical,
                     "Columns to read as categories whatever their values (a,b)");
  create->add_option("--max-domain", create_options->max_domain,
                     "Infer a category domain for columns with at most this many labels "
                     "(default 100)")
      ->check(CLI::NonNegativeNumber);
  create->callback([&ctx, create_options] { ctx.exit_code = Create(ctx, *create_options); });

  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list = noun->add_subcommand("list", "List profiles (latest versions)");
  AddClientOptions(*list, *list_options);
  list->callback([&ctx, list_options] { ctx.exit_code = List(ctx, *list_options); });

  auto show_options = std::make_shared<FileOptions>();
  CLI::App* show = noun->add_subcommand("show", "Show a profile's columns and constraints");
  AddClientOptions(*show, show_options->client);
  show->add_option("NAME", show_options->name, "Profile name")->required();
  show->add_option("--version", show_options->version, "A version (default: latest)")
      ->check(CLI::PositiveNumber);
  show->callback([&ctx, show_options] { ctx.exit_code = Show(ctx, *show_options); });

  auto check_options = std::make_shared<FileOptions>();
  CLI::App* check = noun->add_subcommand(
      "check", "Check a CSV file against a profile's constraints (exit 1 on violations)");
  AddClientOptions(*check, check_options->client);
  check->add_option("NAME", check_options->name, "Profile name")->required();
  check->add_option("-f,--file", check_options->file, "CSV file (header line)")->required();
  check->add_option("--categorical", check_options->categorical,
                    "Columns to read as categories whatever their values (a,b)");
  check->add_option("--version", check_options->version, "A version (default: latest)")
      ->check(CLI::PositiveNumber);
  check->callback([&ctx, check_options] { ctx.exit_code = Check(ctx, *check_options); });

  auto delete_options = std::make_shared<FileOptions>();
  CLI::App* remove = noun->add_subcommand("delete", "Delete a profile (every version)");
  AddClientOptions(*remove, delete_options->client);
  remove->add_option("NAME", delete_options->name, "Profile name")->required();
  remove->callback([&ctx, delete_options] { ctx.exit_code = Delete(ctx, *delete_options); });
}

}  // namespace cairn::cli
