// `cairn models list|versions|alias set|get|history` (and promote|approve|rollback:
// promotion.cc).

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace cairn::cli {
namespace {

struct ListOptions {
  ClientOptions client;
  int max_results = 100;
};

struct NameOptions {
  ClientOptions client;
  std::string name;
  int max_results = 1000;
};

struct AliasOptions {
  ClientOptions client;
  std::string name;
  std::string alias;
  std::string version;
  std::string reason;
};

int64_t VersionNumber(const Json& value) { return JsonMillis(value); }

// MLflow quotes filter strings with ' or "; pick the one the name does not contain.
std::string QuoteFilterString(const std::string& text) {
  const char quote = text.find('\'') == std::string::npos ? '\'' : '"';
  return absl::StrCat(std::string(1, quote), text, std::string(1, quote));
}

int ListModels(CliContext& ctx, const ListOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.MlflowGet(
      "registered-models/search", {{"max_results", absl::StrCat(options.max_results)}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  Table table({"NAME", "LATEST", "ALIASES", "UPDATED (UTC)", "DESCRIPTION"});
  table.SetNumeric(1);
  for (const Json& model : reply->value("registered_models", Json::array())) {
    int64_t latest = 0;
    for (const Json& version : model.value("latest_versions", Json::array())) {
      latest = std::max(latest, VersionNumber(version.value("version", Json())));
    }
    std::vector<std::string> aliases;
    for (const Json& alias : model.value("aliases", Json::array())) {
      aliases.push_back(absl::StrCat(JsonCell(alias.value("alias", Json())), "=v",
                                     JsonCell(alias.value("version", Json()))));
    }
    std::string description = JsonCell(model.value("description", Json()));
    if (description.size() > 60) description = description.substr(0, 57) + "...";
    table.AddRow({JsonCell(model.value("name", Json())), latest > 0 ? absl::StrCat(latest) : "-",
                  aliases.empty() ? "-" : absl::StrJoin(aliases, ", "),
                  FormatTimestamp(JsonMillis(model.value("last_updated_timestamp", Json()))),
                  description});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int ListVersions(CliContext& ctx, const NameOptions& options) {
  ApiClient client = ctx.Client(options.client);
  // model-versions/search answers an empty list for an unknown model; ask for the model
  // first so that a typo gets RESOURCE_DOES_NOT_EXIST.
  absl::StatusOr<Json> model = client.MlflowGet("registered-models/get", {{"name", options.name}});
  if (!model.ok()) return ctx.Fail(model.status());
  absl::StatusOr<Json> reply = client.MlflowGet(
      "model-versions/search", {{"filter", absl::StrCat("name=", QuoteFilterString(options.name))},
                                {"max_results", absl::StrCat(options.max_results)}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  std::vector<Json> versions;
  for (const Json& version : reply->value("model_versions", Json::array())) {
    versions.push_back(version);
  }
  std::sort(versions.begin(), versions.end(), [](const Json& lhs, const Json& rhs) {
    return VersionNumber(lhs.value("version", Json())) >
           VersionNumber(rhs.value("version", Json()));
  });
  // MLflow's model-versions/search leaves aliases out; the model's own list has them all.
  std::map<int64_t, std::set<std::string>> aliases_by_version;
  for (const Json& alias : model->value("registered_model", Json::object())
                               .value("aliases", Json::array())) {
    aliases_by_version[VersionNumber(alias.value("version", Json()))].insert(
        JsonCell(alias.value("alias", Json())));
  }
  Table table({"VERSION", "ALIASES", "STATUS", "CREATED (UTC)", "RUN ID", "SOURCE"});
  table.SetNumeric(0);
  for (const Json& version : versions) {
    std::set<std::string> aliases =
        aliases_by_version[VersionNumber(version.value("version", Json()))];
    for (const Json& alias : version.value("aliases", Json::array())) {
      aliases.insert(JsonCell(alias));
    }
    table.AddRow({JsonCell(version.value("version", Json())),
                  aliases.empty() ? "-" : absl::StrJoin(aliases, ", "),
                  JsonCell(version.value("status", Json())),
                  FormatTimestamp(JsonMillis(version.value("creation_timestamp", Json()))),
                  JsonCell(version.value("run_id", Json())),
                  JsonCell(version.value("source", Json()))});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

int SetAlias(CliContext& ctx, const AliasOptions& options) {
  int64_t version = 0;
  if (!absl::SimpleAtoi(options.version, &version) || version < 1) {
    ctx.err() << "cairn: VERSION must be a positive integer, got '" << options.version << "'\n";
    return kExitUsage;
  }
  ApiClient client = ctx.Client(options.client);
  Json request = {{"name", options.name}, {"alias", options.alias},
                  {"version", absl::StrCat(version)}};
  if (!options.reason.empty()) request["reason"] = options.reason;
  const std::string actor = ctx.Env("USER").value_or("cli");
  absl::StatusOr<Json> reply = client.MlflowPost(
      "registered-models/alias", request, {{"x-cairn-actor", actor.empty() ? "cli" : actor}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);
  ctx.out() << "Alias '" << options.alias << "' of model '" << options.name
            << "' now points at version " << version << "\n";
  return kExitOk;
}

int GetAlias(CliContext& ctx, const AliasOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply = client.MlflowGet(
      "registered-models/alias", {{"name", options.name}, {"alias", options.alias}});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  const Json version = reply->value("model_version", Json::object());
  Table table({"FIELD", "VALUE"});
  table.AddRow({"model", JsonCell(version.value("name", Json()))});
  table.AddRow({"alias", options.alias});
  table.AddRow({"version", JsonCell(version.value("version", Json()))});
  table.AddRow({"status", JsonCell(version.value("status", Json()))});
  table.AddRow({"run_id", JsonCell(version.value("run_id", Json()))});
  table.AddRow({"source", JsonCell(version.value("source", Json()))});
  table.AddRow(
      {"created (UTC)", FormatTimestamp(JsonMillis(version.value("creation_timestamp", Json())))});
  std::vector<std::string> aliases;
  for (const Json& alias : version.value("aliases", Json::array())) aliases.push_back(JsonCell(alias));
  table.AddRow({"aliases", aliases.empty() ? "-" : absl::StrJoin(aliases, ", ")});
  ctx.out() << table.Render();
  return kExitOk;
}

int AliasHistory(CliContext& ctx, const AliasOptions& options) {
  ApiClient client = ctx.Client(options.client);
  absl::StatusOr<Json> reply =
      client.Get(absl::StrCat("/api/v1/models/", UrlEncode(options.name), "/alias-history"), {});
  if (!reply.ok()) return ctx.Fail(reply.status());
  if (options.client.json) return ctx.PrintJson(*reply);

  Table table({"TIME (UTC)", "ALIAS", "FROM", "TO", "ACTOR", "REASON"});
  table.SetNumeric(2);
  table.SetNumeric(3);
  for (const Json& change : reply->value("alias_changes", Json::array())) {
    const std::string alias = JsonCell(change.value("alias", Json()));
    if (!options.alias.empty() && alias != options.alias) continue;
    table.AddRow({FormatTimestamp(JsonMillis(change.value("time", Json()))), alias,
                  JsonCell(change.value("from_version", Json())),
                  JsonCell(change.value("to_version", Json())),
                  JsonCell(change.value("actor", Json())),
                  JsonCell(change.value("reason", Json()))});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace

void AddModelsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* noun = app.add_subcommand("models", "Registered models, versions and aliases");
  noun->require_subcommand(1);

  auto list_options = std::make_shared<ListOptions>();
  CLI::App* list = noun->add_subcommand("list", "List registered models");
  AddClientOptions(*list, list_options->client);
  list->add_option("--max", list_options->max_results, "At most this many models")
      ->check(CLI::Range(1, 1000));
  list->callback([&ctx, list_options] { ctx.exit_code = ListModels(ctx, *list_options); });

  auto versions_options = std::make_shared<NameOptions>();
  CLI::App* versions = noun->add_subcommand("versions", "List a model's versions, newest first");
  AddClientOptions(*versions, versions_options->client);
  versions->add_option("NAME", versions_options->name, "Registered model name")->required();
  versions->add_option("--max", versions_options->max_results, "At most this many versions")
      ->check(CLI::Range(1, 200000));
  versions->callback(
      [&ctx, versions_options] { ctx.exit_code = ListVersions(ctx, *versions_options); });

  CLI::App* alias = noun->add_subcommand("alias", "Set, show and audit aliases");
  alias->require_subcommand(1);

  auto set_options = std::make_shared<AliasOptions>();
  CLI::App* set = alias->add_subcommand("set", "Point ALIAS of model NAME at VERSION");
  AddClientOptions(*set, set_options->client);
  set->add_option("NAME", set_options->name, "Registered model name")->required();
  set->add_option("ALIAS", set_options->alias, "Alias, e.g. production")->required();
  set->add_option("VERSION", set_options->version, "Model version number")->required();
  set->add_option("--reason", set_options->reason, "Why (kept in the alias history)");
  set->callback([&ctx, set_options] { ctx.exit_code = SetAlias(ctx, *set_options); });

  auto get_options = std::make_shared<AliasOptions>();
  CLI::App* get = alias->add_subcommand("get", "Show the version ALIAS of model NAME names");
  AddClientOptions(*get, get_options->client);
  get->add_option("NAME", get_options->name, "Registered model name")->required();
  get->add_option("ALIAS", get_options->alias, "Alias")->required();
  get->callback([&ctx, get_options] { ctx.exit_code = GetAlias(ctx, *get_options); });

  auto history_options = std::make_shared<AliasOptions>();
  CLI::App* history = alias->add_subcommand("history", "Every alias move of model NAME");
  AddClientOptions(*history, history_options->client);
  history->add_option("NAME", history_options->name, "Registered model name")->required();
  history->add_option("--alias", history_options->alias, "Only this alias");
  history->callback(
      [&ctx, history_options] { ctx.exit_code = AliasHistory(ctx, *history_options); });

  AddModelPromotionCommands(*noun, ctx);
}

}  // namespace cairn::cli
