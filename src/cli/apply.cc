// `cairn apply -f DIR|FILE [--dry-run] [--prune]`: reads definition files locally, sends
// them to each module whose kinds they hold — POST /api/v1/features/apply (Entity, Source,
// FeatureView, FeatureService), POST /api/v1/pipelines/apply (Pipeline), POST
// /api/v1/monitoring/apply (Monitor), POST /api/v1/endpoints/apply (Endpoint) and POST
// /api/v1/cicd/apply (Policy) — and prints
// the combined plan like `terraform plan`. A module gets the files only when they hold
// one of its kinds, so `--prune` on a directory of pipelines never removes features.

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "features/definition_yaml.h"

namespace cairn::cli {
namespace {

struct ApplyOptions {
  ClientOptions client;
  std::vector<std::string> paths;
  bool dry_run = false;
  bool prune = false;
};

std::string Value(const Json& value) {
  std::string text = value.is_null() ? "(none)" : value.dump(-1, ' ', false,
                                                              Json::error_handler_t::replace);
  if (text.size() > 120) text = text.substr(0, 117) + "...";
  return text;
}

std::string Version(const Json& value) {
  return value.is_number_integer() ? absl::StrCat("v", value.get<int64_t>()) : "-";
}

// Which modules' kinds the files hold, from every `kind: X` they contain — block or flow
// style, quoted or not (the servers parse the files properly; this only decides where to
// send them, and sending a module a file without its kinds is harmless).
struct KindsPresent {
  bool features = false;
  bool pipelines = false;
  bool monitors = false;
  bool endpoints = false;
  bool policies = false;
};

KindsPresent ScanKinds(const std::vector<features::DefinitionFile>& files) {
  static const std::regex kKind(R"((^|[\s{,])["']?kind["']?[ \t]*:[ \t]*["']?([A-Za-z]+))");
  KindsPresent present;
  for (const features::DefinitionFile& file : files) {
    for (auto it = std::sregex_iterator(file.content.begin(), file.content.end(), kKind);
         it != std::sregex_iterator(); ++it) {
      if ((*it)[2] == "Pipeline") {
        present.pipelines = true;
      } else if ((*it)[2] == "Monitor") {
        present.monitors = true;
      } else if ((*it)[2] == "Endpoint") {
        present.endpoints = true;
      } else if ((*it)[2] == "Policy") {
        present.policies = true;
      } else {
        present.features = true;  // feature kinds, and unknown kinds for its error message
      }
    }
  }
  if (!present.pipelines && !present.monitors && !present.endpoints && !present.policies) {
    present.features = true;
  }
  return present;
}

int RunApply(CliContext& ctx, const ApplyOptions& options) {
  std::vector<features::DefinitionFile> read_files;
  Json files = Json::array();
  for (const std::string& path : options.paths) {
    absl::StatusOr<std::vector<features::DefinitionFile>> read =
        features::ReadDefinitionFiles(path);
    if (!read.ok()) return ctx.Fail(read.status());
    for (const features::DefinitionFile& file : *read) {
      files.push_back({{"path", file.path}, {"content", file.content}});
      read_files.push_back(file);
    }
  }
  const KindsPresent kinds = ScanKinds(read_files);
  Json body = {{"files", std::move(files)}, {"dry_run", options.dry_run},
               {"prune", options.prune}};
  ApiClient client = ctx.Client(options.client);
  // Pipelines first: their validation does not depend on features, and a dry run of all
  // shows the whole plan before anything is applied.
  Json reply = {{"changes", Json::array()}, {"applied", false}};
  std::vector<std::string> endpoints;
  if (kinds.pipelines) endpoints.push_back("/api/v1/pipelines/apply");
  if (kinds.features) endpoints.push_back("/api/v1/features/apply");
  // Monitors last: a monitor may name a feature view or a pipeline applied with it.
  if (kinds.monitors) endpoints.push_back("/api/v1/monitoring/apply");
  // Then the serving endpoints (they name models and feature services) and the promotion
  // policies (they name feature services and models).
  if (kinds.endpoints) endpoints.push_back("/api/v1/endpoints/apply");
  if (kinds.policies) endpoints.push_back("/api/v1/cicd/apply");
  for (const std::string& endpoint : endpoints) {
    absl::StatusOr<Json> one = client.Send("POST", endpoint, {}, &body, {});
    if (!one.ok()) return ctx.Fail(one.status());
    for (const Json& change : one->value("changes", Json::array())) {
      reply["changes"].push_back(change);
    }
    if (one->value("applied", false)) reply["applied"] = true;
  }
  if (options.client.json) return ctx.PrintJson(reply);

  int added = 0, changed = 0, unchanged = 0, removed = 0;
  for (const Json& change : reply.value("changes", Json::array())) {
    const std::string action = change.value("action", "");
    const std::string what =
        absl::StrCat(change.value("kind", "Pipeline"), " ", change.value("name", "?"));
    const Json old_version = change.value("old_version", Json());
    const Json new_version = change.value("new_version", Json());
    if (action == "added") {
      ++added;
      ctx.out() << "+ " << what << " (" << Version(new_version) << ")\n";
    } else if (action == "changed") {
      ++changed;
      ctx.out() << "~ " << what << " " << Version(old_version) << " \u2192 "
                << Version(new_version) << "\n";
      for (const Json& diff : change.value("diffs", Json::array())) {
        ctx.out() << "    " << diff.value("path", "") << ": " << Value(diff.value("old", Json()))
                  << " \u2192 " << Value(diff.value("new", Json())) << "\n";
      }
    } else if (action == "removed") {
      ++removed;
      ctx.out() << "- " << what << " (" << Version(old_version) << " removed)\n";
    } else {
      ++unchanged;
      ctx.out() << "= " << what << " (" << Version(old_version) << ", unchanged)\n";
    }
  }
  const bool applied = reply.value("applied", false);
  if (options.dry_run) {
    ctx.out() << "\nPlan: " << added << " to add, " << changed << " to change, " << unchanged
              << " unchanged, " << removed << " to remove (dry run: nothing applied).\n";
  } else if (applied) {
    ctx.out() << "\nApplied: " << added << " added, " << changed << " changed, " << unchanged
              << " unchanged, " << removed << " removed.\n";
  } else {
    ctx.out() << "\nNo changes: " << unchanged << " unchanged.\n";
  }
  return kExitOk;
}

}  // namespace

void AddApplyCommand(CLI::App& app, CliContext& ctx) {
  auto options = std::make_shared<ApplyOptions>();
  CLI::App* verb = app.add_subcommand(
      "apply", "Apply definitions (YAML: features, pipelines, monitors, endpoints, policies): show "
      "the plan and create new versions");
  verb->add_option("-f,--file", options->paths,
                   "A definition file, or a directory (every *.yaml / *.yml below it)")
      ->required();
  verb->add_flag("--dry-run", options->dry_run, "Show the plan without applying it");
  verb->add_flag("--prune", options->prune,
                 "Remove registered objects that the files do not define");
  AddClientOptions(*verb, options->client);
  verb->callback([&ctx, options] { ctx.exit_code = RunApply(ctx, *options); });
}

}  // namespace cairn::cli
