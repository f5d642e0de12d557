// `cairn monitors list|describe|run|runs|report`: monitors and their runs through
// /api/v1/monitoring/… (api/monitor_handlers.h). Monitors are defined with `cairn apply`.

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "common/duration.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

struct NameOptions {
  ClientOptions client;
  std::string name;
};

struct RunsOptions {
  ClientOptions client;
  std::string name;
  int limit = 20;
};

struct ReportOptions {
  ClientOptions client;
  std::string run_id;
  std::string output;
};

std::string Str(const Json& object, const char* key) {
  const Json value = object.is_object() ? object.value(key, Json()) : Json();
  if (value.is_null()) return "";
  return value.is_string() ? value.get<std::string>() : JsonCell(value);
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string Cut(std::string text, size_t max) {
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

std::string MonitorPath(const std::string& name) {
  return absl::StrCat("/api/v1/monitoring/monitors/", UrlEncode(name));
}

void PrintField(CliContext& ctx, const std::string& label, const std::string& value) {
  std::string padded = label + ":";
  padded.resize(std::max<size_t>(padded.size() + 1, 16), ' ');
  ctx.out() << "  " << padded << value << "\n";
}

// "spend (last 1d)", "spend (last 10000 rows)", "spend (all rows)".
std::string TargetText(const Json& target) {
  std::string view = Str(target, "feature_view");
  if (view.empty()) view = "endpoint " + Str(target, "endpoint");
  const int64_t window = JsonMillis(target.value("window_ms", Json()));
  const int64_t rows = JsonMillis(target.value("rows", Json()));
  if (window > 0) return absl::StrCat(view, " (last ", cairn::FormatDuration(window), ")");
  if (rows > 0) return absl::StrCat(view, " (last ", rows, " rows)");
  return view + " (all rows)";
}

std::string ReferenceText(const Json& reference) {
  if (reference.contains("path")) return Str(reference, "path");
  if (reference.contains("profile")) return "profile " + Str(reference, "profile");
  if (reference.contains("feature_view")) {
    std::string text = "view " + Str(reference, "feature_view");
    const int64_t from = JsonMillis(reference.value("from_ms", Json()));
    const int64_t to = JsonMillis(reference.value("to_ms", Json()));
    if (from > 0 || to > 0) {
      absl::StrAppend(&text, " [", from > 0 ? FormatTimestamp(from) : "…", ", ",
                      to > 0 ? FormatTimestamp(to) : "…", ")");
    }
    return text;
  }
  return "-";
}

std::string Verdict(const Json& run) {
  if (Str(run, "state") != "succeeded") return Str(run, "state");
  std::vector<std::string> found;
  if (run.value("drift_found", false)) found.push_back("drift");
  if (run.value("constraints_violated", false)) found.push_back("violations");
  if (run.value("quality_failed", false)) found.push_back("quality");
  return found.empty() ? "ok" : absl::StrJoin(found, "+");
}

void PrintDriftTable(CliContext& ctx, const Json& drift) {
  Table table({"COLUMN", "KIND", "TEST", "STATISTIC", "P-VALUE", "THRESHOLD", "DRIFTED"});
  table.SetNumeric(3);
  table.SetNumeric(4);
  table.SetNumeric(5);
  for (const Json& c : drift.value("columns", Json::array())) {
    table.AddRow({Str(c, "column"), Str(c, "kind"), Str(c, "test"),
                  JsonCell(c.value("statistic", Json())), JsonCell(c.value("p_value", Json())),
                  JsonCell(c.value("threshold", Json())),
                  c.value("drifted", false) ? "yes" : "no"});
  }
  ctx.out() << table.Render();
}

void PrintRun(CliContext& ctx, const Json& run) {
  PrintField(ctx, "Run", Str(run, "id"));
  PrintField(ctx, "Monitor", absl::StrCat(Str(run, "monitor"), " v", Str(run, "monitor_version")));
  PrintField(ctx, "Trigger",
             Str(run, "trigger") +
                 (Str(run, "trigger_detail").empty() ? "" : " (" + Str(run, "trigger_detail") + ")"));
  PrintField(ctx, "Started (UTC)", FormatTimestamp(JsonMillis(run.value("started_ms", Json()))));
  PrintField(ctx, "State", Str(run, "state"));
  PrintField(ctx, "Rows", absl::StrCat(Str(run, "target_rows"), " current, ",
                                       Str(run, "reference_rows"), " reference"));
  PrintField(ctx, "Result", OrDash(Str(run, "message")));
  const Json result = run.value("result", Json());
  if (!result.is_object()) return;
  const Json drift = result.value("drift", Json());
  if (drift.is_object()) {
    ctx.out() << "\n";
    PrintDriftTable(ctx, drift);
  }
  const Json constraints = result.value("constraints", Json());
  if (constraints.is_object()) {
    const Json violations = constraints.value("violations", Json::array());
    ctx.out() << "\nConstraint violations: " << violations.size() << "\n";
    if (!violations.empty()) {
      Table table({"COLUMN", "CHECK", "DESCRIPTION"});
      for (const Json& v : violations) {
        table.AddRow({Str(v, "feature_name"), Str(v, "constraint_check_type"),
                      Str(v, "description")});
      }
      ctx.out() << table.Render();
    }
  }
}

// ---------------------------------------------------------------------------------------

int ListMonitors(CliContext& ctx, const ClientOptions& options) {
  ApiClient client = ctx.Client(options);
  absl::StatusOr<Json> reply = client.Get("/api/v1/monitoring/monitors", {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.json) return ctx.PrintJson(*reply);
  Table table({"NAME", "VERSION", "TARGET", "REFERENCE", "SCHEDULE", "TRIGGER", "ON ALERT",
               "SEVERITY"});
  table.SetNumeric(1);
  for (const Json& m : reply->value("monitors", Json::array())) {
    table.AddRow({Str(m, "name"), Str(m, "version"), TargetText(m.value("target", Json())),
                  Cut(ReferenceText(m.value("reference", Json())), 40), OrDash(Str(m, "schedule")),
                  OrDash(Str(m, "trigger")), OrDash(Str(m, "on_alert")), Str(m, "severity")});
  }
  if (table.rows() == 0) {
    ctx.out() << "No monitors. Define one (kind: Monitor) and run cairn apply -f FILE.\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int DescribeMonitor(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(MonitorPath(options.name), {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json m = reply->value("monitor", Json::object());
  const Json spec = m.value("spec", Json::object());
  ctx.out() << "Monitor " << Str(m, "name") << " (version " << Str(m, "version") << ")\n";
  if (!Str(m, "description").empty()) PrintField(ctx, "Description", Str(m, "description"));
  PrintField(ctx, "Target", TargetText(m.value("target", Json())));
  PrintField(ctx, "Reference", ReferenceText(m.value("reference", Json())));
  const Json tests = spec.value("tests", Json::object());
  std::string tests_text = OrDash(Str(tests, "default"));
  if (tests_text == "-") tests_text = "Evidently's default per column";
  if (!tests.value("threshold", Json()).is_null()) {
    absl::StrAppend(&tests_text, ", threshold ", JsonCell(tests["threshold"]));
  }
  for (const auto& [column, test] : tests.value("per_column", Json::object()).items()) {
    absl::StrAppend(&tests_text, "; ", column, ": ", OrDash(Str(test, "test")),
                    test.value("threshold", Json()).is_null()
                        ? ""
                        : absl::StrCat(" (", JsonCell(test["threshold"]), ")"));
  }
  PrintField(ctx, "Tests", tests_text);
  PrintField(ctx, "Drift share", JsonCell(spec.value("drift_share", Json())));
  PrintField(ctx, "Checks", absl::StrCat(spec.value("drift", true) ? "drift" : "",
                                         spec.value("drift", true) &&
                                                 spec.value("constraints", false)
                                             ? " + "
                                             : "",
                                         spec.value("constraints", false) ? "constraints" : ""));
  PrintField(ctx, "Schedule", OrDash(Str(m, "schedule")));
  const Json state = m.value("schedule_state", Json());
  if (state.is_object()) {
    PrintField(ctx, "Catch-up", OrDash(Str(state, "catchup")));
    PrintField(ctx, "Next run (UTC)", FormatTimestamp(JsonMillis(state.value("next_fire_ms", Json()))));
    if (!Str(state, "last_error").empty()) PrintField(ctx, "Schedule error", Str(state, "last_error"));
  }
  PrintField(ctx, "Trigger", OrDash(Str(m, "trigger")));
  PrintField(ctx, "Severity", Str(m, "severity"));
  const Json on_alert = spec.value("on_alert", Json());
  if (on_alert.is_object()) {
    PrintField(ctx, "On alert", absl::StrCat("run pipeline ", Str(on_alert, "pipeline"),
                                             " (at most ", Str(on_alert, "max_attempts"),
                                             " attempts",
                                             Str(on_alert, "await_model").empty()
                                                 ? ""
                                                 : ", then await model " +
                                                       Str(on_alert, "await_model"),
                                             ")"));
  }
  std::vector<std::string> sinks;
  for (const Json& sink : spec.value("sinks", Json::array())) {
    sinks.push_back(Str(sink, "kind") == "webhook" ? "webhook " + Str(sink, "url") : "log");
  }
  PrintField(ctx, "Sinks", sinks.empty() ? "-" : absl::StrJoin(sinks, ", "));
  const Json last = m.value("last_run", Json());
  PrintField(ctx, "Last run",
             last.is_object()
                 ? absl::StrCat(Str(last, "id"), " at ",
                                FormatTimestamp(JsonMillis(last.value("started_ms", Json()))),
                                " UTC: ", Verdict(last))
                 : "-");
  return kExitOk;
}

int RunMonitor(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  Json body = Json::object();
  absl::StatusOr<Json> reply =
      client.Send("POST", MonitorPath(options.name) + "/run", {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  const Json run = reply->value("run", Json::object());
  if (options.client.json) {
    ctx.PrintJson(*reply);
  } else {
    PrintRun(ctx, run);
  }
  return Str(run, "state") == "succeeded" ? kExitOk : kExitFailure;
}

int ListMonitorRuns(CliContext& ctx, const RunsOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Get(MonitorPath(options.name) + "/runs", {{"limit", std::to_string(options.limit)}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"RUN", "STARTED (UTC)", "TRIGGER", "VERDICT", "ROWS", "RESULT"});
  table.SetNumeric(4);
  for (const Json& run : reply->value("runs", Json::array())) {
    table.AddRow({Str(run, "id"), FormatTimestamp(JsonMillis(run.value("started_ms", Json()))),
                  Str(run, "trigger"), Verdict(run), Str(run, "target_rows"),
                  Cut(Str(run, "message"), 80)});
  }
  if (table.rows() == 0) {
    ctx.out() << "No runs of " << options.name << " yet: cairn monitors run " << options.name
              << "\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int Report(CliContext& ctx, const ReportOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Get(absl::StrCat("/api/v1/monitoring/runs/", UrlEncode(options.run_id), "/report"),
                 {{"format", "json"}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  const std::string html = reply->value("html", "");
  if (options.output.empty() || options.output == "-") {
    ctx.out() << html;
    return kExitOk;
  }
  std::ofstream file(options.output, std::ios::binary | std::ios::trunc);
  file << html;
  file.close();
  if (!file) {
    return ctx.Fail(absl::PermissionDeniedError(
        absl::StrCat("cannot write ", options.output, ": check the directory exists and is "
                                                      "writable")));
  }
  ctx.out() << "Wrote " << options.output << " (" << html.size() << " bytes)\n";
  return kExitOk;
}

}  // namespace

void AddMonitorsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun =
      app.add_subcommand("monitors", "Monitors (drift and data-quality checks) and their runs");
  noun->require_subcommand(1);

  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list = noun->add_subcommand("list", "List monitors (latest versions)");
  AddClientOptions(*list, *list_options);
  list->callback([&ctx, list_options] { ctx.exit_code = ListMonitors(ctx, *list_options); });

  auto describe_options = std::make_shared<NameOptions>();
  CLI::App* describe = noun->add_subcommand(
      "describe", "Show a monitor: target, reference, tests, schedule, actions, last run");
  AddClientOptions(*describe, describe_options->client);
  describe->add_option("NAME", describe_options->name, "Monitor name")->required();
  describe->callback(
      [&ctx, describe_options] { ctx.exit_code = DescribeMonitor(ctx, *describe_options); });

  auto run_options = std::make_shared<NameOptions>();
  CLI::App* run = noun->add_subcommand(
      "run", "Run a monitor now and print its result (exit 1 when the run failed; a run that "
             "finds drift succeeded)");
  AddClientOptions(*run, run_options->client);
  run->add_option("NAME", run_options->name, "Monitor name")->required();
  run->callback([&ctx, run_options] { ctx.exit_code = RunMonitor(ctx, *run_options); });

  auto runs_options = std::make_shared<RunsOptions>();
  CLI::App* runs = noun->add_subcommand("runs", "List a monitor's runs, newest first");
  AddClientOptions(*runs, runs_options->client);
  runs->add_option("NAME", runs_options->name, "Monitor name")->required();
  runs->add_option("--limit", runs_options->limit, "At most this many runs")
      ->check(CLI::Range(1, 1000));
  runs->callback([&ctx, runs_options] { ctx.exit_code = ListMonitorRuns(ctx, *runs_options); });

  auto report_options = std::make_shared<ReportOptions>();
  CLI::App* report =
      noun->add_subcommand("report", "Save a run's HTML drift report (one self-contained file)");
  AddClientOptions(*report, report_options->client);
  report->add_option("RUN", report_options->run_id, "Monitor run id")->required();
  report->add_option("-o,--output", report_options->output,
                     "Write the HTML here (default: standard output)");
  report->callback([&ctx, report_options] { ctx.exit_code = Report(ctx, *report_options); });
}

}  // namespace cairn::cli
