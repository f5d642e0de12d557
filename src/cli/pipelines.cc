// `cairn pipelines list|describe|versions|diff|run|runs|get|logs|cancel`: pipelines and
// their runs through /api/v1/pipelines… and /api/v1/pipeline-runs… (api/pipeline_handlers.h).

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

// Server-side wait per request while `run --wait` / `logs --follow` wait (the server caps
// it at 30 s); the CLI asks again until the run ends.
constexpr int64_t kWaitSliceMs = 20'000;

struct NameOptions {
  ClientOptions client;
  std::string name;
  int64_t version = 0;
};

struct DiffOptions {
  ClientOptions client;
  std::string name;
  int64_t v1 = 0, v2 = 0;
};

struct RunOptions {
  ClientOptions client;
  std::string name;
  std::vector<std::string> params;  // k=v
  int64_t version = 0;
  bool no_cache = false;
  bool wait = false;
};

struct RunsOptions {
  ClientOptions client;
  std::string pipeline;
  std::string state;
  int limit = 50;
};

struct RunIdOptions {
  ClientOptions client;
  std::string run_id;
};

struct LogsOptions {
  ClientOptions client;
  std::string run_id;
  std::string step;
  int attempt = 0;
  bool follow = false;
};

std::string Str(const Json& object, const char* key) {
  const Json value = object.is_object() ? object.value(key, Json()) : Json();
  if (value.is_null()) return "";
  return value.is_string() ? value.get<std::string>() : JsonCell(value);
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string Cut(std::string text, size_t max) {
  if (const size_t nl = text.find('\n'); nl != std::string::npos) text = text.substr(0, nl);
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

std::string Compact(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "(none)";
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void PrintField(CliContext& ctx, const std::string& label, const std::string& value) {
  std::string padded = label + ":";
  padded.resize(std::max<size_t>(padded.size() + 1, 15), ' ');
  ctx.out() << "  " << padded << value << "\n";
}

std::string PipelinePath(const std::string& name) {
  return absl::StrCat("/api/v1/pipelines/", UrlEncode(name));
}

std::string RunPath(const std::string& id) {
  return absl::StrCat("/api/v1/pipeline-runs/", UrlEncode(id));
}

bool IsTerminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

// "1.2s" between two epoch-ms stamps; "-" when it has not started.
std::string Elapsed(const Json& object) {
  const int64_t started = JsonMillis(object.value("started_ms", Json()));
  const int64_t ended = JsonMillis(object.value("ended_ms", Json()));
  if (started <= 0 || ended <= 0) return "-";
  return FormatDuration(ended - started);
}

// ---------------------------------------------------------------------------------------

int ListPipelines(CliContext& ctx, const ClientOptions& options) {
  ApiClient client = ctx.Client(options);
  absl::StatusOr<Json> reply = client.Get("/api/v1/pipelines", {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.json) return ctx.PrintJson(*reply);
  Table table({"NAME", "VERSION", "STEPS", "SCHEDULE", "CREATED (UTC)", "DESCRIPTION"});
  table.SetNumeric(1);
  table.SetNumeric(2);
  for (const Json& p : reply->value("pipelines", Json::array())) {
    table.AddRow({Str(p, "name"), Str(p, "version"),
                  absl::StrCat(p.value("steps", Json::array()).size()),
                  OrDash(p.value("schedule", Json()).is_string() ? Str(p, "schedule") : ""),
                  FormatTimestamp(JsonMillis(p.value("created_ms", Json()))),
                  OrDash(Cut(Str(p, "description"), 60))});
  }
  if (table.rows() == 0) {
    ctx.out() << "No pipelines. Define one (kind: Pipeline) and `cairn apply -f FILE`.\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

std::string StepCommand(const Json& step) {
  if (step.value("noop", false)) return "(noop: runs nothing)";
  const Json command = step.value("command", Json());
  if (command.is_array() && !command.empty()) {
    std::vector<std::string> argv;
    for (const Json& arg : command) argv.push_back(Compact(arg));
    return absl::StrJoin(argv, " ");
  }
  return Str(step, "script");
}

std::string StepResources(const Json& step) {
  const Json r = step.value("resources", Json::object());
  if (!r.is_object()) return "-";
  std::vector<std::string> parts;
  for (const auto& [key, value] : r.items()) {
    if (value.is_null()) continue;
    parts.push_back(absl::StrCat(key, "=", Compact(value)));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

std::string StepDeps(const Json& step) {
  std::vector<std::string> deps;
  for (const Json& d : step.value("depends_on", Json::array())) deps.push_back(Compact(d));
  for (const Json& input : step.value("inputs", Json::array())) {
    const std::string from = Str(input, "from");
    if (from.empty()) continue;
    const std::string upstream = from.substr(0, from.find('.'));
    if (std::find(deps.begin(), deps.end(), upstream) == deps.end()) deps.push_back(upstream);
  }
  return deps.empty() ? "-" : absl::StrJoin(deps, ", ");
}

int DescribePipeline(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  std::string path = PipelinePath(options.name);
  if (options.version > 0) absl::StrAppend(&path, "/versions/", options.version);
  absl::StatusOr<Json> reply = client.Get(path, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json p = reply->value("pipeline", Json::object());
  const Json spec = p.value("spec", Json::object());
  ctx.out() << "Pipeline " << Str(p, "name") << "\n";
  std::string version = Str(p, "version");
  if (p.value("removed", false)) version += " (removed since)";
  PrintField(ctx, "version", version);
  PrintField(ctx, "content hash", Str(p, "content_hash"));
  PrintField(ctx, "created (UTC)", FormatTimestamp(JsonMillis(p.value("created_ms", Json()))));
  PrintField(ctx, "description", OrDash(Str(p, "description")));
  PrintField(ctx, "owner", OrDash(Str(p, "owner")));
  PrintField(ctx, "executor", OrDash(Str(spec, "executor")));
  const Json schedule = spec.value("schedule", Json());
  if (schedule.is_object() && !Str(schedule, "cron").empty()) {
    PrintField(ctx, "schedule", absl::StrCat(Str(schedule, "cron"), " UTC (catch-up ",
                                             OrDash(Str(schedule, "catchup")), ")"));
  }
  const Json params = spec.value("params", Json::array());
  if (params.is_array() && !params.empty()) {
    ctx.out() << "\n";
    Table table({"PARAM", "TYPE", "DEFAULT", "DESCRIPTION"});
    for (const Json& param : params) {
      const Json def = param.value("default", Json());
      table.AddRow({Str(param, "name"), Str(param, "type"),
                    def.is_null() ? "(required)" : Compact(def),
                    OrDash(Cut(Str(param, "description"), 50))});
    }
    ctx.out() << table.Render();
  }
  ctx.out() << "\n";
  Table steps({"STEP", "DEPENDS ON", "RESOURCES", "EXECUTOR", "CACHE", "COMMAND"});
  for (const Json& step : spec.value("steps", Json::array())) {
    const Json cache = step.value("cache", Json(true));
    steps.AddRow({Str(step, "name"), StepDeps(step), StepResources(step),
                  OrDash(Str(step, "executor")), cache.is_boolean() && !cache.get<bool>()
                                                      ? "off" : "on",
                  Cut(StepCommand(step), 60)});
  }
  ctx.out() << steps.Render();
  const Json triggers = spec.value("triggers", Json::array());
  if (triggers.is_array() && !triggers.empty()) {
    ctx.out() << "\n";
    Table table({"TRIGGER", "MATCH", "PARAMS"});
    for (const Json& t : triggers) {
      table.AddRow({Str(t, "on"), Compact(t.value("match", Json::object())),
                    Compact(t.value("params", Json::object()))});
    }
    ctx.out() << table.Render();
  }
  return kExitOk;
}

int ListVersions(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(PipelinePath(options.name) + "/versions", {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"VERSION", "CONTENT HASH", "STEPS", "CREATED (UTC)"});
  table.SetNumeric(0);
  table.SetNumeric(2);
  for (const Json& v : reply->value("versions", Json::array())) {
    table.AddRow({Str(v, "version"), Str(v, "content_hash").substr(0, 16),
                  absl::StrCat(v.value("steps", Json::array()).size()),
                  FormatTimestamp(JsonMillis(v.value("created_ms", Json())))});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int DiffPipeline(CliContext& ctx, const DiffOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Get(PipelinePath(options.name) + "/diff",
                 {{"v1", absl::StrCat(options.v1)}, {"v2", absl::StrCat(options.v2)}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json diffs = reply->value("diffs", Json::array());
  ctx.out() << options.name << " v" << options.v1 << " \u2192 v" << options.v2 << ": ";
  if (diffs.empty()) {
    ctx.out() << "no differences\n";
    return kExitOk;
  }
  ctx.out() << diffs.size() << (diffs.size() == 1 ? " difference\n" : " differences\n");
  for (const Json& diff : diffs) {
    std::string old_text = Cut(Compact(diff.value("old", Json())), 120);
    std::string new_text = Cut(Compact(diff.value("new", Json())), 120);
    ctx.out() << "  " << Str(diff, "path") << ": " << old_text << " \u2192 " << new_text << "\n";
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------
// Runs.

void PrintSteps(CliContext& ctx, const Json& run) {
  Table table({"STEP", "STATE", "ATTEMPTS", "DURATION", "EXECUTOR", "HOST", "MESSAGE"});
  table.SetNumeric(2);
  for (const Json& step : run.value("steps", Json::array())) {
    const Json attempts = step.value("attempts", Json::array());
    const Json last = attempts.empty() ? Json::object() : attempts.back();
    std::string message = Str(step, "message");
    if (message.empty() && Str(step, "state") == "cached") {
      message = absl::StrCat("outputs reused from run ", Str(step, "cached_from"));
    }
    table.AddRow({Str(step, "name"), Str(step, "state"), absl::StrCat(attempts.size()),
                  Elapsed(step), OrDash(Str(last, "executor")), OrDash(Str(last, "host")),
                  OrDash(Cut(message, 80))});
  }
  ctx.out() << table.Render();
}

void PrintRun(CliContext& ctx, const Json& run) {
  ctx.out() << "Run " << Str(run, "id") << "\n";
  PrintField(ctx, "pipeline", absl::StrCat(Str(run, "pipeline"), " v", Str(run, "version")));
  PrintField(ctx, "state", Str(run, "state"));
  std::string trigger = Str(run, "trigger");
  if (!Str(run, "trigger_detail").empty()) {
    absl::StrAppend(&trigger, " (", Cut(Str(run, "trigger_detail"), 80), ")");
  }
  PrintField(ctx, "trigger", trigger);
  std::vector<std::string> params;
  const Json param_map = run.value("params", Json::object());
  for (const auto& [key, value] : param_map.items()) {
    params.push_back(absl::StrCat(key, "=", Compact(value)));
  }
  PrintField(ctx, "params", params.empty() ? "-" : absl::StrJoin(params, " "));
  if (run.value("no_cache", false)) PrintField(ctx, "cache", "off (--no-cache)");
  PrintField(ctx, "created (UTC)", FormatTimestamp(JsonMillis(run.value("created_ms", Json()))));
  PrintField(ctx, "duration", Elapsed(run));
  PrintField(ctx, "tracking run", OrDash(Str(run, "tracking_run_id")));
  if (run.contains("steps")) {
    ctx.out() << "\n";
    PrintSteps(ctx, run);
  }
  const std::string message = Str(run, "message");
  if (!message.empty()) ctx.out() << "\n" << message << (message.back() == '\n' ? "" : "\n");
}

// Asks until the run has ended; returns its last record.
absl::StatusOr<Json> WaitForRun(ApiClient& client, const std::string& run_id, Json run) {
  while (!IsTerminal(Str(run, "state"))) {
    absl::StatusOr<Json> reply =
        client.Get(RunPath(run_id), {{"wait_ms", absl::StrCat(kWaitSliceMs)}});
    if (!reply.ok()) return reply.status();
    run = reply->value("run", Json::object());
  }
  return run;
}

int StartRun(CliContext& ctx, const RunOptions& options) {
  Json params = Json::object();
  for (const std::string& kv : options.params) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      ctx.err() << "cairn: -p '" << kv << "': give a parameter as NAME=VALUE (-p max_depth=6)\n";
      return kExitUsage;
    }
    params[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  Json body = {{"params", std::move(params)}, {"no_cache", options.no_cache}};
  if (options.version > 0) body["version"] = options.version;
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Send("POST", PipelinePath(options.name) + "/runs", {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  Json run = reply->value("run", Json::object());
  const std::string id = Str(run, "id");
  if (!options.wait) {
    if (options.client.json) return ctx.PrintJson(*reply);
    ctx.out() << "Started run " << id << " of " << Str(run, "pipeline") << " v"
              << Str(run, "version") << " (" << Str(run, "state") << ").\n"
              << "Follow it with `cairn pipelines get " << id << "`.\n";
    return kExitOk;
  }
  if (!options.client.json) {
    ctx.out() << "Started run " << id << " of " << Str(run, "pipeline") << " v"
              << Str(run, "version") << "; waiting for it to finish...\n";
    ctx.out().flush();
  }
  absl::StatusOr<Json> ended = WaitForRun(client, id, run);
  if (!ended.ok()) return ctx.Fail(ended.status());
  const std::string state = Str(*ended, "state");
  if (options.client.json) {
    ctx.PrintJson(Json{{"run", *ended}});
  } else {
    ctx.out() << "\n";
    PrintSteps(ctx, *ended);
    ctx.out() << "\nRun " << id << " " << state << " in " << Elapsed(*ended) << ".\n";
  }
  if (state == "succeeded") return kExitOk;
  std::string message = Str(*ended, "message");
  if (message.empty()) message = absl::StrCat("run ", id, " ", state);
  ctx.err() << "cairn: run " << id << " " << state << ": " << message
            << (message.back() == '\n' ? "" : "\n");
  return kExitFailure;
}

int ListRuns(CliContext& ctx, const RunsOptions& options) {
  ApiClient client = ctx.Client(options.client);
  QueryList query = {{"limit", absl::StrCat(options.limit)}};
  if (!options.pipeline.empty()) query.emplace_back("pipeline", options.pipeline);
  if (!options.state.empty()) query.emplace_back("state", options.state);
  absl::StatusOr<Json> reply = client.Get("/api/v1/pipeline-runs", query);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"RUN", "PIPELINE", "VERSION", "STATE", "TRIGGER", "CREATED (UTC)", "DURATION",
               "MESSAGE"});
  table.SetNumeric(2);
  for (const Json& run : reply->value("runs", Json::array())) {
    table.AddRow({Str(run, "id"), Str(run, "pipeline"), Str(run, "version"), Str(run, "state"),
                  Str(run, "trigger"), FormatTimestamp(JsonMillis(run.value("created_ms", Json()))),
                  Elapsed(run), OrDash(Cut(Str(run, "message"), 60))});
  }
  if (table.rows() == 0) {
    ctx.out() << "No runs.\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  const std::string next = Str(*reply, "next_page_token");
  if (!next.empty() && next != "-") {
    ctx.out() << "(more runs: raise --limit, at most 1000)\n";
  }
  return kExitOk;
}

int GetRun(CliContext& ctx, const RunIdOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(RunPath(options.run_id), {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  PrintRun(ctx, reply->value("run", Json::object()));
  return kExitOk;
}

int CancelRun(CliContext& ctx, const RunIdOptions& options) {
  ApiClient client = ctx.Client(options.client);
  Json body = Json::object();
  absl::StatusOr<Json> reply =
      client.Send("POST", RunPath(options.run_id) + "/cancel", {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json run = reply->value("run", Json::object());
  ctx.out() << "Run " << options.run_id << ": " << Str(run, "state") << ".\n";
  return kExitOk;
}

int Logs(CliContext& ctx, const LogsOptions& options) {
  ApiClient client = ctx.Client(options.client);
  const std::string path =
      absl::StrCat(RunPath(options.run_id), "/steps/", UrlEncode(options.step), "/logs");
  int64_t offset = 0;
  while (true) {
    QueryList query = {{"format", "json"},
                       {"offset", absl::StrCat(offset)},
                       {"attempt", absl::StrCat(options.attempt)}};
    if (options.follow) query.emplace_back("follow", "true");
    absl::StatusOr<Json> reply = client.Get(path, query);
    if (!reply.ok()) return ctx.Fail(reply.status());
    const std::string text = Str(*reply, "text");
    ctx.out() << text;
    ctx.out().flush();
    const int64_t next = JsonMillis(reply->value("next_offset", Json()));
    const bool done = reply->value("done", false);
    // Without --follow: everything written so far (a page at a time).
    if (done || (!options.follow && text.empty())) break;
    offset = std::max(next, offset);
  }
  return kExitOk;
}

}  // namespace

void AddPipelinesCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("pipelines", "Pipelines (DAGs of steps) and their runs");
  noun->require_subcommand(1);

  auto list_options = std::make_shared<ClientOptions>();
  CLI::App* list = noun->add_subcommand("list", "List pipelines (latest versions)");
  AddClientOptions(*list, *list_options);
  list->callback([&ctx, list_options] { ctx.exit_code = ListPipelines(ctx, *list_options); });

  auto describe_options = std::make_shared<NameOptions>();
  CLI::App* describe =
      noun->add_subcommand("describe", "Show a pipeline: parameters, steps, schedule");
  AddClientOptions(*describe, describe_options->client);
  describe->add_option("NAME", describe_options->name, "Pipeline name")->required();
  describe->add_option("--version", describe_options->version, "A version (default: latest)")
      ->check(CLI::PositiveNumber);
  describe->callback(
      [&ctx, describe_options] { ctx.exit_code = DescribePipeline(ctx, *describe_options); });

  auto versions_options = std::make_shared<NameOptions>();
  CLI::App* versions = noun->add_subcommand("versions", "List a pipeline's versions");
  AddClientOptions(*versions, versions_options->client);
  versions->add_option("NAME", versions_options->name, "Pipeline name")->required();
  versions->callback(
      [&ctx, versions_options] { ctx.exit_code = ListVersions(ctx, *versions_options); });

  auto diff_options = std::make_shared<DiffOptions>();
  CLI::App* diff = noun->add_subcommand("diff", "What changed between two versions");
  AddClientOptions(*diff, diff_options->client);
  diff->add_option("NAME", diff_options->name, "Pipeline name")->required();
  diff->add_option("V1", diff_options->v1, "Old version")->required()->check(CLI::PositiveNumber);
  diff->add_option("V2", diff_options->v2, "New version")->required()->check(CLI::PositiveNumber);
  diff->callback([&ctx, diff_options] { ctx.exit_code = DiffPipeline(ctx, *diff_options); });

  auto run_options = std::make_shared<RunOptions>();
  CLI::App* run = noun->add_subcommand("run", "Start a run of a pipeline");
  AddClientOptions(*run, run_options->client);
  run->add_option("NAME", run_options->name, "Pipeline name")->required();
  run->add_option("-p,--param", run_options->params, "A parameter override NAME=VALUE (repeat)");
  run->add_option("--version", run_options->version, "Run this version (default: latest)")
      ->check(CLI::PositiveNumber);
  run->add_flag("--no-cache", run_options->no_cache, "Run every step, reusing no cached outputs");
  run->add_flag("--wait", run_options->wait,
                "Wait for the run to end; exit 1 (with the failure) unless it succeeded");
  run->callback([&ctx, run_options] { ctx.exit_code = StartRun(ctx, *run_options); });

  auto runs_options = std::make_shared<RunsOptions>();
  CLI::App* runs = noun->add_subcommand("runs", "List runs, newest first");
  AddClientOptions(*runs, runs_options->client);
  runs->add_option("--pipeline", runs_options->pipeline, "Only this pipeline's runs");
  runs->add_option("--state", runs_options->state,
                   "Only runs in this state (queued, running, succeeded, failed, cancelled)");
  runs->add_option("--limit", runs_options->limit, "At most this many runs")
      ->check(CLI::Range(1, 1000));
  runs->callback([&ctx, runs_options] { ctx.exit_code = ListRuns(ctx, *runs_options); });

  auto get_options = std::make_shared<RunIdOptions>();
  CLI::App* get = noun->add_subcommand("get", "Show a run: its steps, attempts and outcome");
  AddClientOptions(*get, get_options->client);
  get->add_option("RUN", get_options->run_id, "Run id")->required();
  get->callback([&ctx, get_options] { ctx.exit_code = GetRun(ctx, *get_options); });

  auto logs_options = std::make_shared<LogsOptions>();
  CLI::App* logs = noun->add_subcommand("logs", "Print a step's log");
  logs->add_option("--url", logs_options->client.url,
                   "Cairn server URL (default: $CAIRN_URL, else http://127.0.0.1:5000)");
  logs->add_option("RUN", logs_options->run_id, "Run id")->required();
  logs->add_option("STEP", logs_options->step, "Step name")->required();
  logs->add_option("--attempt", logs_options->attempt, "Attempt number (default: the latest)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("-f,--follow", logs_options->follow,
                 "Keep printing as the step writes, until the attempt ends");
  logs->callback([&ctx, logs_options] { ctx.exit_code = Logs(ctx, *logs_options); });

  auto cancel_options = std::make_shared<RunIdOptions>();
  CLI::App* cancel = noun->add_subcommand("cancel", "Cancel a run (stops its running steps)");
  AddClientOptions(*cancel, cancel_options->client);
  cancel->add_option("RUN", cancel_options->run_id, "Run id")->required();
  cancel->callback([&ctx, cancel_options] { ctx.exit_code = CancelRun(ctx, *cancel_options); });
}

}  // namespace cairn::cli
