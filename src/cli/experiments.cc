// `cairn experiments list|create`.

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

struct ListOptions {
  ClientOptions client;
  int max_results = 1000;
  bool all = false;
};

struct CreateOptions {
  ClientOptions client;
  std::string name;
  std::string artifact_location;
};

int ListExperiments(CliContext& ctx, const ListOptions& options) {
  ApiClient client = ctx.Client(options.client);
  Json request = {{"max_results", options.max_results},
                  {"view_type", options.all ? "ALL" : "ACTIVE_ONLY"}};
  absl::StatusOr<Json> reply = client.MlflowPost("experiments/search", request);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  Table table({"ID", "NAME", "STAGE", "CREATED (UTC)", "ARTIFACT LOCATION"});
  table.SetNumeric(0);
  if (reply->contains("experiments")) {
    for (const Json& experiment : (*reply)["experiments"]) {
      table.AddRow({JsonCell(experiment.value("experiment_id", Json())),
                    JsonCell(experiment.value("name", Json())),
                    JsonCell(experiment.value("lifecycle_stage", Json())),
                    FormatTimestamp(JsonMillis(experiment.value("creation_time", Json()))),
                    JsonCell(experiment.value("artifact_location", Json()))});
    }
  }
  ctx.out() << table.Render();
  if (!reply->value("next_page_token", std::string()).empty()) {
    ctx.out() << "(more experiments exist; raise --max)\n";
  }
  return kExitOk;
}

int CreateExperiment(CliContext& ctx, const CreateOptions& options) {
  ApiClient client = ctx.Client(options.client);
  Json request = {{"name", options.name}};
  if (!options.artifact_location.empty()) {
    request["artifact_location"] = options.artifact_location;
  }
  absl::StatusOr<Json> reply = client.MlflowPost("experiments/create", request);
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "Created experiment '" << options.name << "' with id "
            << JsonCell(reply->value("experiment_id", Json())) << "\n";
  return kExitOk;
}

}  // namespace

absl::StatusOr<std::string> ResolveExperimentId(ApiClient& client, std::string_view id_or_name) {
  const std::string text(id_or_name);
  if (text.empty()) return absl::InvalidArgumentError("--experiment: must not be empty");
  bool all_digits = true;
  for (char ch : text) all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(ch));
  if (all_digits) return text;
  absl::StatusOr<Json> reply =
      client.MlflowGet("experiments/get-by-name", {{"experiment_name", text}});
  if (!reply.ok()) return reply.status();
  const Json& experiment = reply->value("experiment", Json::object());
  if (!experiment.contains("experiment_id")) {
    return absl::InternalError(
        absl::StrCat("experiments/get-by-name for '", text, "' returned no experiment_id"));
  }
  return JsonCell(experiment["experiment_id"]);
}

void AddExperimentsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("experiments", "List and create experiments");
  noun->require_subcommand(1);

  auto list_options = std::make_shared<ListOptions>();
  CLI::App* list = noun->add_subcommand("list", "List experiments");
  AddClientOptions(*list, list_options->client);
  list->add_option("--max", list_options->max_results, "At most this many experiments")
      ->check(CLI::Range(1, 50000));
  list->add_flag("--all", list_options->all, "Include deleted experiments");
  list->callback([&ctx, list_options] { ctx.exit_code = ListExperiments(ctx, *list_options); });

  auto create_options = std::make_shared<CreateOptions>();
  CLI::App* create = noun->add_subcommand("create", "Create an experiment");
  AddClientOptions(*create, create_options->client);
  create->add_option("NAME", create_options->name, "Experiment name")->required();
  create->add_option("--artifact-location", create_options->artifact_location,
                     "Where its runs' artifacts go (default: the server's)");
  create->callback(
      [&ctx, create_options] { ctx.exit_code = CreateExperiment(ctx, *create_options); });
}

}  // namespace cairn::cli
