// `cairn alerts list [--state S] [--monitor M] [--severity S] [--limit N] | show ID |
// ack ID [--note TEXT] [--by NAME] | resolve ID [--note TEXT] [--by NAME]`: the alerts of
// monitors (GET/POST /api/v1/monitoring/alerts…, api/alert_handlers.h).

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

struct ListOptions {
  ClientOptions client;
  std::string state;
  std::string monitor;
  std::string severity;
  int limit = 100;
};

struct IdOptions {
  ClientOptions client;
  std::string id;
  std::string note;
  std::string by;
};

std::string Text(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string OrDash(std::string text) { return text.empty() ? "-" : text; }

std::string Cut(std::string text, size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 3) + "...";
}

int64_t Millis(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string AlertPath(const std::string& id) {
  return absl::StrCat("/api/v1/monitoring/alerts/", UrlEncode(id));
}

// "retraining (attempt 1 of 2, run abc)" / "-".
std::string RetrainCell(const Json& alert) {
  auto it = alert.find("retrain");
  if (it == alert.end() || !it->is_object()) return "-";
  const Json& r = *it;
  std::string cell = Text(r, "phase");
  std::string attempts = absl::StrCat(Text(r, "attempts"), "/", Text(r, "max_attempts"));
  return absl::StrCat(cell, " (", attempts, ")");
}

int List(CliContext& ctx, const ListOptions& options) {
  ApiClient client = ctx.Client(options.client);
  QueryList query = {{"limit", absl::StrCat(options.limit)}};
  if (!options.state.empty()) query.emplace_back("state", options.state);
  if (!options.monitor.empty()) query.emplace_back("monitor", options.monitor);
  if (!options.severity.empty()) query.emplace_back("severity", options.severity);
  absl::StatusOr<Json> reply = client.Get("/api/v1/monitoring/alerts", query);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"ID", "MONITOR", "KIND", "SEVERITY", "STATE", "SEEN", "RETRAINING",
               "OPENED (UTC)", "SUMMARY"});
  table.SetNumeric(5);
  for (const Json& alert : reply->value("alerts", Json::array())) {
    table.AddRow({Text(alert, "id"), Text(alert, "monitor"), Text(alert, "kind"),
                  Text(alert, "severity"), Text(alert, "state"), Text(alert, "occurrences"),
                  RetrainCell(alert), FormatTimestamp(Millis(alert, "opened_ms")),
                  OrDash(Cut(Text(alert, "summary"), 60))});
  }
  if (table.rows() == 0) {
    ctx.out() << "No alerts.\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

void PrintAlert(CliContext& ctx, const Json& alert) {
  std::ostream& out = ctx.out();
  out << "Alert:     " << Text(alert, "id") << "\n"
      << "Monitor:   " << Text(alert, "monitor") << " (version " << Text(alert, "monitor_version")
      << ")\n"
      << "Kind:      " << Text(alert, "kind") << "\n"
      << "Severity:  " << Text(alert, "severity") << "\n"
      << "State:     " << Text(alert, "state");
  if (!Text(alert, "acknowledged_by").empty()) {
    out << " (acknowledged by " << Text(alert, "acknowledged_by") << ")";
  }
  if (Text(alert, "state") == "resolved") {
    out << " (resolved by " << Text(alert, "resolved_by") << " at "
        << FormatTimestamp(Millis(alert, "resolved_ms")) << ")";
  }
  out << "\n"
      << "Summary:   " << OrDash(Text(alert, "summary")) << "\n"
      << "Seen:      " << Text(alert, "occurrences") << " monitor run(s), first "
      << OrDash(Text(alert, "first_monitor_run")) << ", last "
      << OrDash(Text(alert, "last_monitor_run")) << "\n"
      << "Opened:    " << FormatTimestamp(Millis(alert, "opened_ms")) << " UTC\n";
  auto retrain = alert.find("retrain");
  if (retrain != alert.end() && retrain->is_object()) {
    const Json& r = *retrain;
    out << "Retrain:   pipeline " << Text(r, "pipeline") << ", " << Text(r, "phase")
        << ", attempt " << Text(r, "attempts") << " of " << Text(r, "max_attempts");
    if (!Text(r, "run").empty()) out << ", run " << Text(r, "run");
    if (!Text(r, "await_model").empty()) out << ", awaits model " << Text(r, "await_model");
    out << "\n";
  }
  Json timeline = alert.value("timeline", Json::array());
  if (timeline.empty()) return;
  out << "\nTimeline:\n";
  Table table({"TIME (UTC)", "EVENT", "MESSAGE"});
  for (const Json& event : timeline) {
    table.AddRow({FormatTimestamp(Millis(event, "time_ms")), Text(event, "kind"),
                  Text(event, "message")});
  }
  out << table.Render();
}

int Show(CliContext& ctx, const IdOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(AlertPath(options.id), {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  PrintAlert(ctx, reply->value("alert", Json::object()));
  return kExitOk;
}

int Act(CliContext& ctx, const IdOptions& options, const char* verb) {
  ApiClient client = ctx.Client(options.client);
  std::string by = options.by;
  if (by.empty()) by = ctx.Env("USER").value_or("");
  Json body = {{"by", by}, {"note", options.note}};
  absl::StatusOr<Json> reply =
      client.Send("POST", absl::StrCat(AlertPath(options.id), "/", verb), {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json alert = reply->value("alert", Json::object());
  ctx.out() << "Alert " << options.id << " (" << Text(alert, "monitor") << ", "
            << Text(alert, "severity") << "): " << Text(alert, "state") << ".\n";
  return kExitOk;
}

void AddIdVerb(CLI::App& noun, CliContext& ctx, const char* name, const char* help,
               bool with_note, int (*action)(CliContext&, const IdOptions&)) {
  auto options = std::make_shared<IdOptions>();
  CLI::App* verb = noun.add_subcommand(name, help);
  AddClientOptions(*verb, options->client);
  verb->add_option("ID", options->id, "Alert id")->required();
  if (with_note) {
    verb->add_option("--note", options->note, "Why (kept in the alert's timeline)");
    verb->add_option("--by", options->by, "Who (default: $USER)");
  }
  verb->callback([&ctx, options, action] { ctx.exit_code = action(ctx, *options); });
}

}  // namespace

void AddAlertsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("alerts", "Alerts raised by monitors");
  noun->require_subcommand(1);

  auto list_options = std::make_shared<ListOptions>();
  CLI::App* list = noun->add_subcommand("list", "List alerts, newest first");
  AddClientOptions(*list, list_options->client);
  list->add_option("--state", list_options->state, "open, acknowledged or resolved")
      ->check(CLI::IsMember({"open", "acknowledged", "resolved"}));
  list->add_option("--monitor", list_options->monitor, "Only this monitor's alerts");
  list->add_option("--severity", list_options->severity, "info, warning or critical")
      ->check(CLI::IsMember({"info", "warning", "critical"}));
  list->add_option("--limit", list_options->limit, "At most this many alerts")
      ->check(CLI::Range(1, 1000));
  list->callback([&ctx, list_options] { ctx.exit_code = List(ctx, *list_options); });

  AddIdVerb(*noun, ctx, "show", "Show an alert and its timeline", false, Show);
  AddIdVerb(*noun, ctx, "ack", "Acknowledge an alert (someone is looking at it)", true,
            [](CliContext& c, const IdOptions& o) { return Act(c, o, "ack"); });
  AddIdVerb(*noun, ctx, "resolve", "Resolve an alert by hand", true,
            [](CliContext& c, const IdOptions& o) { return Act(c, o, "resolve"); });
}

}  // namespace cairn::cli
