// `cairn endpoints list | describe NAME | predict NAME --entity k=v… [--feature k=v…]
// [--body JSON] | predict-batch NAME (--input FILE | --training-set ID) --output FILE |
// log NAME [--since 1h] [--variant V] [--max N] | label NAME ID VALUE |
// canary NAME (--version V | --alias A) [--percent P] [--shadow] [--window 10m]
// [--min-requests N] | rollouts NAME | promote NAME ROLLOUT | rollback NAME ROLLOUT |
// events NAME [--limit N]`: serving endpoints (/api/v1/endpoints…, api/endpoint_handlers.h).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/duration.h"
#include "common/strings.h"

namespace cairn::cli {
namespace {

struct NameOptions {
  ClientOptions client;
  std::string name;
};

struct PredictOptions {
  ClientOptions client;
  std::string name;
  std::vector<std::string> entities;  // key=value
  std::vector<std::string> features;  // name=value
  std::string body;
};

struct BatchOptions {
  ClientOptions client;
  std::string name;
  std::string input;         // a CSV file on the server, under its data directory
  std::string training_set;  // or a saved training set's id
  std::string output;
};

struct LogOptions {
  ClientOptions client;
  std::string name;
  std::string since = "1h";
  std::string variant;
  int max_results = 20;
};

struct LabelOptions {
  ClientOptions client;
  std::string name;
  std::string id;
  double label = 0;
};

struct CanaryOptions {
  ClientOptions client;
  std::string name;
  int64_t version = 0;
  std::string alias;
  double percent = 10;
  bool shadow = false;
  std::string window;
  int64_t min_requests = -1;
  std::string reason;
};

struct RolloutOptions {
  ClientOptions client;
  std::string name;
  std::string rollout;
  std::string reason;
};

struct EventsOptions {
  ClientOptions client;
  std::string name;
  int limit = 50;
};

std::string Text(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string OrDash(std::string text) { return text.empty() ? "-" : text; }

int64_t Millis(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string EndpointPath(const std::string& name, std::string_view suffix = {}) {
  return absl::StrCat("/api/v1/endpoints/", UrlEncode(name), ToAbsl(suffix));
}

std::string Actor(CliContext& ctx) {
  std::string user = ctx.Env("USER").value_or("");
  return user.empty() ? "cli" : user;
}

// "42" → 42, "0.5" → 0.5, "true"/"false" → booleans, anything else a string.
Json ParseValue(const std::string& text) {
  int64_t integer = 0;
  if (absl::SimpleAtoi(text, &integer)) return integer;
  double number = 0;
  if (absl::SimpleAtod(text, &number)) return number;
  if (text == "true") return true;
  if (text == "false") return false;
  return text;
}

absl::Status AddPairs(const std::vector<std::string>& pairs, const char* flag, Json* into) {
  for (const std::string& pair : pairs) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": expected NAME=VALUE (e.g. ", flag, " customer_id=1001), got '", pair, "'"));
    }
    (*into)[pair.substr(0, eq)] = Json::array({ParseValue(pair.substr(eq + 1))});
  }
  return absl::OkStatus();
}

int List(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get("/api/v1/endpoints", {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"NAME", "STATE", "MODEL", "SERVING", "ROLLOUT", "DEPLOYED (UTC)", "ERROR"});
  for (const Json& e : reply->value("endpoints", Json::array())) {
    const Json spec = e.value("definition", Json::object()).value("spec", Json::object());
    std::string model = Text(spec, "model");
    if (!Text(spec, "alias").empty()) model += "@" + Text(spec, "alias");
    const int64_t version = Millis(e, "model_version");
    table.AddRow({Text(e, "endpoint"), Text(e, "state"), OrDash(model),
                  version > 0 ? absl::StrCat("v", version) : "-", OrDash(Text(e, "rollout_id")),
                  Millis(e, "deployed_ms") > 0 ? FormatTimestamp(Millis(e, "deployed_ms")) : "-",
                  OrDash(Text(e, "error"))});
  }
  if (table.rows() == 0) {
    ctx.out() << "No endpoints. Define one with `kind: Endpoint` and `cairn apply -f FILE`.\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int Describe(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(EndpointPath(options.name), {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json& d = *reply;
  const Json spec = d.value("spec", Json::object());
  const Json status = d.value("status", Json::object());
  std::ostream& out = ctx.out();
  std::string model = Text(spec, "model");
  model += Text(spec, "alias").empty() ? absl::StrCat("/", Text(spec, "version"))
                                       : absl::StrCat("@", Text(spec, "alias"));
  out << "Endpoint:  " << Text(d, "name") << " (definition v" << Text(d, "definition_version")
      << ")\n"
      << "Model:     " << model << "\n"
      << "State:     " << Text(status, "state");
  if (Millis(status, "model_version") > 0) {
    out << ", serving version " << Millis(status, "model_version") << " since "
        << FormatTimestamp(Millis(status, "deployed_ms")) << " UTC";
  }
  out << "\n";
  if (!Text(status, "error").empty()) out << "Error:     " << Text(status, "error") << "\n";
  out << "Features:  " << OrDash(Text(spec, "feature_service")) << "\n"
      << "Runtime:   " << Text(spec, "runtime");
  const Json runtime = d.value("runtime", Json());
  if (runtime.is_object()) {
    out << " (" << Text(runtime, "replicas") << " replica(s), " << Text(runtime, "in_flight")
        << " in flight, " << Text(runtime, "queued") << " queued, " << Text(runtime, "rejected")
        << " rejected)";
  }
  out << "\n";
  const Json traffic = d.value("traffic", Json());
  if (traffic.is_object()) {
    out << "Traffic:   " << Text(traffic, "requests") << " requests, " << Text(traffic, "rows")
        << " rows, " << Text(traffic, "errors") << " errors\n";
  }
  const Json rollout = d.value("rollout", Json());
  if (rollout.is_object()) {
    out << "Rollout:   " << Text(rollout, "id") << ": " << Text(rollout, "mode") << " of version "
        << Text(rollout, "version") << " at " << Text(rollout, "percent") << "%, "
        << Text(rollout, "state") << "\n";
    const Json progress = rollout.value("progress", Json());
    if (progress.is_object()) {
      for (const char* side : {"champion", "challenger"}) {
        const Json p = progress.value(side, Json::object());
        out << "  " << side << ": " << Text(p, "requests") << " requests, " << Text(p, "errors")
            << " errors, p99 " << Text(p, "p99_us") << " us\n";
      }
      out << "  elapsed " << FormatDuration(Millis(progress, "elapsed_ms")) << " of "
          << FormatDuration(Millis(progress, "window_ms")) << ", min requests "
          << Text(progress, "min_requests") << "\n";
    }
  }
  return kExitOk;
}

int Predict(CliContext& ctx, const PredictOptions& options) {
  Json body;
  if (!options.body.empty()) {
    absl::StatusOr<Json> parsed = ParseJson(options.body);
    if (!parsed.ok()) {
      ctx.err() << "cairn: --body: not JSON: " << parsed.status().message() << "\n";
      return kExitUsage;
    }
    body = std::move(*parsed);
  } else {
    Json entities = Json::object(), features = Json::object();
    absl::Status status = AddPairs(options.entities, "--entity", &entities);
    if (status.ok()) status = AddPairs(options.features, "--feature", &features);
    if (!status.ok()) {
      ctx.err() << "cairn: " << status.message() << "\n";
      return kExitUsage;
    }
    if (entities.empty() && features.empty()) {
      ctx.err() << "cairn: give --entity KEY=VALUE (features looked up online), --feature "
                   "NAME=VALUE, or --body JSON\n";
      return kExitUsage;
    }
    body = Json::object();
    if (!entities.empty()) body["entities"] = std::move(entities);
    if (!features.empty()) body["features"] = std::move(features);
  }
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Send("POST", EndpointPath(options.name, "/predict"), {},
                                           &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "Model " << Text(*reply, "model") << " version " << Text(*reply, "model_version")
            << " (" << Text(*reply, "variant") << ")\n";
  Table table({"ID", "PREDICTION"});
  table.SetNumeric(1);
  const Json ids = reply->value("ids", Json::array());
  const Json predictions = reply->value("predictions", Json::array());
  for (size_t i = 0; i < predictions.size(); ++i) {
    table.AddRow({i < ids.size() && ids[i].is_string() ? ids[i].get<std::string>() : "-",
                  predictions[i].is_number()
                      ? absl::StrFormat("%.6g", predictions[i].get<double>())
                      : predictions[i].dump()});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int PredictBatch(CliContext& ctx, const BatchOptions& options) {
  if (options.input.empty() == options.training_set.empty()) {
    ctx.err() << "cairn: give exactly one of --input FILE (a CSV file under the server's data "
                 "directory) and --training-set ID (a saved training set)\n";
    return kExitUsage;
  }
  Json body = {{"output", options.output}};
  if (!options.input.empty()) body["input"] = options.input;
  if (!options.training_set.empty()) body["training_set"] = options.training_set;
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Send("POST", EndpointPath(options.name, "/predict-batch"), {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "Predicted " << Text(*reply, "rows") << " rows of "
            << (options.input.empty() ? absl::StrCat("training set ", options.training_set)
                                      : options.input)
            << " into " << Text(*reply, "output") << " (on the server).\n";
  return kExitOk;
}

int Log(CliContext& ctx, const LogOptions& options) {
  absl::StatusOr<int64_t> since = ParseDuration(options.since);
  if (!since.ok()) {
    ctx.err() << "cairn: --since: " << since.status().message() << "\n";
    return kExitUsage;
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  QueryList query = {{"from_ms", absl::StrCat(now - *since)},
                     {"max_results", absl::StrCat(options.max_results)}};
  if (!options.variant.empty()) query.emplace_back("variant", options.variant);
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(EndpointPath(options.name, "/inference-log"), query);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"TIME (UTC)", "ID", "VERSION", "VARIANT", "PREDICTION", "LABEL", "LATENCY (us)"});
  table.SetNumeric(4);
  table.SetNumeric(6);
  for (const Json& r : reply->value("records", Json::array())) {
    const Json prediction = r.value("prediction", Json());
    table.AddRow({FormatTimestamp(Millis(r, "time_ms")), Text(r, "id"), Text(r, "model_version"),
                  Text(r, "variant"),
                  r.value("error", false) ? "error"
                  : prediction.is_number()
                      ? absl::StrFormat("%.6g", prediction.get<double>())
                      : "-",
                  OrDash(Text(r, "label")), Text(r, "latency_us")});
  }
  if (table.rows() == 0) {
    ctx.out() << "No logged predictions in the last " << options.since << ".\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int Label(CliContext& ctx, const LabelOptions& options) {
  Json body = {{"labels", Json::array({{{"id", options.id}, {"label", options.label}}})}};
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Send("POST", EndpointPath(options.name, "/labels"), {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json results = reply->value("results", Json::array());
  if (results.empty() || !results[0].value("ok", false)) {
    ctx.err() << "cairn: "
              << (results.empty() ? "no result" : Text(results[0], "error")) << "\n";
    return kExitFailure;
  }
  ctx.out() << "Labelled " << options.id << " = " << options.label << ".\n";
  return kExitOk;
}

int Canary(CliContext& ctx, const CanaryOptions& options) {
  if ((options.version > 0) == !options.alias.empty()) {
    ctx.err() << "cairn: give exactly one of --version V and --alias A (the challenger)\n";
    return kExitUsage;
  }
  Json body = {{"mode", options.shadow ? "shadow" : "canary"},
               {"percent", options.percent},
               {"actor", Actor(ctx)},
               {"reason", options.reason}};
  if (options.version > 0) body["version"] = options.version;
  if (!options.alias.empty()) body["alias"] = options.alias;
  Json guard = Json::object();
  if (!options.window.empty()) guard["window"] = options.window;
  if (options.min_requests >= 0) guard["min_requests"] = options.min_requests;
  if (!guard.empty()) body["guard"] = std::move(guard);
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Send("POST", EndpointPath(options.name, "/rollouts"), {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json r = reply->value("rollout", Json::object());
  ctx.out() << "Rollout " << Text(r, "id") << ": " << Text(r, "mode") << " of "
            << Text(r, "model") << " version " << Text(r, "version") << " at "
            << Text(r, "percent") << "% on endpoint " << options.name << ".\n";
  return kExitOk;
}

int Rollouts(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Get(EndpointPath(options.name, "/rollouts"), {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"ID", "MODE", "VERSION", "PERCENT", "STATE", "STARTED (UTC)", "BY", "OUTCOME"});
  for (const Json& r : reply->value("rollouts", Json::array())) {
    const Json verdict = r.value("verdict", Json());
    table.AddRow({Text(r, "id"), Text(r, "mode"), Text(r, "version"), Text(r, "percent"),
                  Text(r, "state"), FormatTimestamp(Millis(r, "started_ms")), Text(r, "actor"),
                  OrDash(verdict.is_object() ? Text(verdict, "reason") : Text(r, "end_reason"))});
  }
  if (table.rows() == 0) {
    ctx.out() << "No rollouts on endpoint " << options.name << ".\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int StopRollout(CliContext& ctx, const RolloutOptions& options, const char* action) {
  Json body = {{"actor", Actor(ctx)}, {"reason", options.reason}};
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.Send(
      "POST",
      EndpointPath(options.name, absl::StrCat("/rollouts/", UrlEncode(options.rollout), "/",
                                              action)),
      {}, &body, {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  const Json r = reply->value("rollout", Json::object());
  ctx.out() << "Rollout " << Text(r, "id") << " (" << Text(r, "model") << " version "
            << Text(r, "version") << "): " << Text(r, "state") << ".\n";
  return kExitOk;
}

int Events(CliContext& ctx, const EventsOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Get(EndpointPath(options.name, "/events"), {{"limit", absl::StrCat(options.limit)}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  Table table({"TIME (UTC)", "EVENT", "DETAIL"});
  for (const Json& e : reply->value("events", Json::array())) {
    std::string detail = e.value("detail", Json::object()).dump();
    if (detail.size() > 100) detail = detail.substr(0, 97) + "...";
    table.AddRow({FormatTimestamp(Millis(e, "time_ms")), Text(e, "kind"), detail});
  }
  if (table.rows() == 0) {
    ctx.out() << "No events on endpoint " << options.name << ".\n";
    return kExitOk;
  }
  ctx.out() << table.Render();
  return kExitOk;
}

template <typename Options>
CLI::App* NameVerb(CLI::App& noun, const char* name, const char* help,
                   std::shared_ptr<Options> options) {
  CLI::App* verb = noun.add_subcommand(name, help);
  AddClientOptions(*verb, options->client);
  verb->add_option("NAME", options->name, "Endpoint name")->required();
  return verb;
}

}  // namespace

void AddEndpointsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("endpoints", "Serving endpoints: predictions, rollouts");
  noun->require_subcommand(1);

  auto list = std::make_shared<NameOptions>();
  CLI::App* list_verb = noun->add_subcommand("list", "List endpoints and what they serve");
  AddClientOptions(*list_verb, list->client);
  list_verb->callback([&ctx, list] { ctx.exit_code = List(ctx, *list); });

  auto describe = std::make_shared<NameOptions>();
  NameVerb(*noun, "describe", "Show an endpoint: model, state, runtime, rollout", describe)
      ->callback([&ctx, describe] { ctx.exit_code = Describe(ctx, *describe); });

  auto predict = std::make_shared<PredictOptions>();
  CLI::App* predict_verb = NameVerb(*noun, "predict", "Predict one row", predict);
  predict_verb->add_option("--entity", predict->entities,
                           "KEY=VALUE: an entity key (its features are looked up online)");
  predict_verb->add_option("--feature", predict->features, "NAME=VALUE: a raw feature value");
  predict_verb->add_option("--body", predict->body,
                           "The whole request as JSON ({\"entities\": …, \"features\": …})");
  predict_verb->callback([&ctx, predict] { ctx.exit_code = Predict(ctx, *predict); });

  auto batch = std::make_shared<BatchOptions>();
  CLI::App* batch_verb = NameVerb(
      *noun, "predict-batch",
      "Predict every row of a CSV file or a saved training set into a CSV file on the server",
      batch);
  batch_verb->add_option("--input", batch->input,
                         "CSV file on the server (relative to its data directory): entity "
                         "keys and/or model inputs");
  batch_verb->add_option("--training-set", batch->training_set,
                         "A saved training set's id (`cairn features historical`)");
  batch_verb->add_option("--output", batch->output,
                         "Output CSV on the server (relative to its data directory)")
      ->required();
  batch_verb->callback([&ctx, batch] { ctx.exit_code = PredictBatch(ctx, *batch); });

  auto log = std::make_shared<LogOptions>();
  CLI::App* log_verb = NameVerb(*noun, "log", "Recent logged predictions, newest first", log);
  log_verb->add_option("--since", log->since, "How far back (e.g. 15m, 1h, 7d)");
  log_verb->add_option("--variant", log->variant, "champion, canary or shadow")
      ->check(CLI::IsMember({"champion", "canary", "shadow"}));
  log_verb->add_option("--max", log->max_results, "At most this many rows")
      ->check(CLI::Range(1, 10000));
  log_verb->callback([&ctx, log] { ctx.exit_code = Log(ctx, *log); });

  auto label = std::make_shared<LabelOptions>();
  CLI::App* label_verb =
      NameVerb(*noun, "label", "Record the ground truth of a logged prediction", label);
  label_verb->add_option("ID", label->id, "The prediction's id")->required();
  label_verb->add_option("VALUE", label->label, "The true label (0/1 for a classifier)")
      ->required();
  label_verb->callback([&ctx, label] { ctx.exit_code = Label(ctx, *label); });

  auto canary = std::make_shared<CanaryOptions>();
  CLI::App* canary_verb = NameVerb(
      *noun, "canary", "Start a canary (or --shadow) of another model version", canary);
  canary_verb->add_option("--version", canary->version, "The challenger version");
  canary_verb->add_option("--alias", canary->alias, "The alias naming the challenger");
  canary_verb->add_option("--percent", canary->percent, "Share of traffic, 0 < P <= 100")
      ->check(CLI::Range(0.0, 100.0));
  canary_verb->add_flag("--shadow", canary->shadow,
                        "Mirror traffic to the challenger without returning its answers");
  canary_verb->add_option("--window", canary->window, "The guard's window (e.g. 10m)");
  canary_verb->add_option("--min-requests", canary->min_requests,
                          "Challenger requests needed before a verdict");
  canary_verb->add_option("--reason", canary->reason, "Why (recorded)");
  canary_verb->callback([&ctx, canary] { ctx.exit_code = Canary(ctx, *canary); });

  auto rollouts = std::make_shared<NameOptions>();
  NameVerb(*noun, "rollouts", "The endpoint's rollouts, newest first", rollouts)
      ->callback([&ctx, rollouts] { ctx.exit_code = Rollouts(ctx, *rollouts); });

  for (const char* action : {"promote", "rollback"}) {
    auto options = std::make_shared<RolloutOptions>();
    CLI::App* verb = NameVerb(*noun, action,
                              std::string_view(action) == "promote"
                                  ? "End a rollout by promoting its challenger"
                                  : "End a rollout by dropping its challenger",
                              options);
    verb->add_option("ROLLOUT", options->rollout, "The rollout id")->required();
    verb->add_option("--reason", options->reason, "Why (recorded)");
    verb->callback([&ctx, options, action] {
      ctx.exit_code = StopRollout(ctx, *options, action);
    });
  }

  auto events = std::make_shared<EventsOptions>();
  CLI::App* events_verb =
      NameVerb(*noun, "events", "Deployments, scaling and rollouts, newest first", events);
  events_verb->add_option("--limit", events->limit, "At most this many")
      ->check(CLI::Range(1, 10000));
  events_verb->callback([&ctx, events] { ctx.exit_code = Events(ctx, *events); });
}

}  // namespace cairn::cli
